#include "kernels/device.h"

#ifndef AGORA_CUDA_NOTE
#error "AGORA_CUDA_NOTE must be defined by the build"
#endif

namespace agora::kernels {

#if AGORA_HAVE_CUDA
// Defined in cuda/device.cu.
Result<int> CudaDeviceCountImpl();
Result<std::shared_ptr<float>> CudaManagedFloatsImpl(size_t n);
Result<std::vector<uint32_t>> CudaSelfTestImpl(uint32_t n, uint32_t multiplier);
Result<CudaDeviceInfo> CudaDevice0InfoImpl();
#endif

bool CudaBuilt() { return AGORA_HAVE_CUDA != 0; }

std::string CudaBuildNote() { return AGORA_CUDA_NOTE; }

Result<int> CudaDeviceCount() {
#if AGORA_HAVE_CUDA
  return CudaDeviceCountImpl();
#else
  return 0;
#endif
}

Result<std::vector<uint32_t>> CudaSelfTest(uint32_t n, uint32_t multiplier) {
#if AGORA_HAVE_CUDA
  return CudaSelfTestImpl(n, multiplier);
#else
  (void)n;
  (void)multiplier;
  return Status::FailedPrecondition("this build has no CUDA (" + CudaBuildNote() + ")");
#endif
}

Result<CudaDeviceInfo> CudaDevice0Info() {
  AGORA_RETURN_IF_ERROR(CudaOpsReady());
#if AGORA_HAVE_CUDA
  return CudaDevice0InfoImpl();
#else
  return Status::FailedPrecondition("this build has no CUDA");
#endif
}

Result<std::shared_ptr<float>> CudaManagedFloats(size_t n) {
  AGORA_RETURN_IF_ERROR(CudaOpsReady());
#if AGORA_HAVE_CUDA
  return CudaManagedFloatsImpl(n);
#else
  (void)n;
  return Status::FailedPrecondition("this build has no CUDA");
#endif
}

Status CudaNativeReady() {
  AGORA_RETURN_IF_ERROR(CudaOpsReady());
  if (!AGORA_HAVE_CUBLAS) {
    return Status::FailedPrecondition(
        "this binary has CUDA but no cuBLAS, which the native tier's matmuls need; rebuild "
        "with the CUDA toolkit's cuBLAS installed or use the exact tier");
  }
  return Status::Ok();
}

Status CudaOpsReady() {
  if (!CudaBuilt()) {
    return Status::FailedPrecondition("this binary has no CUDA kernels (" + CudaBuildNote() +
                                      "); rebuild with nvcc installed (AGORA_CUDA=ON) or use the "
                                      "CPU backend");
  }
  AGORA_ASSIGN_OR_RETURN(int count, CudaDeviceCount());
  if (count == 0) {
    return Status::FailedPrecondition(
        "no CUDA GPU is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES), or use the CPU "
        "backend");
  }
  return Status::Ok();
}

}  // namespace agora::kernels
