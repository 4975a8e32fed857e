#include "kernels/device.h"

#ifndef AGORA_CUDA_NOTE
#error "AGORA_CUDA_NOTE must be defined by the build"
#endif

namespace agora::kernels {

#if AGORA_HAVE_CUDA
// Defined in cuda/device.cu.
Result<int> CudaDeviceCountImpl();
Result<std::vector<uint32_t>> CudaSelfTestImpl(uint32_t n, uint32_t multiplier);
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

}  // namespace agora::kernels
