// What compute this build and this machine offer: whether the CUDA sources
// were built, and how many GPUs the CUDA runtime can see.
//
// Thread safety: functions are thread-safe.
#ifndef AGORA_KERNELS_DEVICE_H_
#define AGORA_KERNELS_DEVICE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace agora::kernels {

// Returns true iff the CUDA sources are compiled into this binary.
bool CudaBuilt();

// One line for --version: "built (CUDA 13.0..., sm_90)" or "off (why)".
std::string CudaBuildNote();

// Number of CUDA devices visible at run time. Returns 0 when CUDA is not
// built; Unavailable when CUDA is built but the driver reports a problem
// other than "no device".
Result<int> CudaDeviceCount();

// What device 0 is: the name the driver gives ("NVIDIA H200"), its compute
// capability, memory and multiprocessor count. FailedPrecondition as
// CudaOpsReady.
struct CudaDeviceInfo {
  std::string name;
  int major = 0;  // compute capability major.minor, e.g. 9.0 for Hopper
  int minor = 0;
  uint64_t memory_bytes = 0;
  int multiprocessors = 0;
};
Result<CudaDeviceInfo> CudaDevice0Info();

// Runs a tiny kernel on device 0 that writes out[i] = i * multiplier for
// i < n, and copies the result back: proof that the build, driver and GPU
// work together. FailedPrecondition when CUDA is not built or no GPU is present.
Result<std::vector<uint32_t>> CudaSelfTest(uint32_t n, uint32_t multiplier);

// `n` floats of CUDA managed memory (reachable from the host and the GPU),
// freed with the pointer: for tests and benchmarks of device-resident
// tensors. FailedPrecondition as CudaOpsReady.
Result<std::shared_ptr<float>> CudaManagedFloats(size_t n);

// OK when Backend::kCuda can run: CUDA is built and a GPU is visible.
// FailedPrecondition otherwise, saying which is missing and what to do.
Status CudaOpsReady();

// OK when Backend::kCudaNative can run: CudaOpsReady() and the build has
// cuBLAS. FailedPrecondition otherwise, saying which is missing.
Status CudaNativeReady();

}  // namespace agora::kernels

#endif  // AGORA_KERNELS_DEVICE_H_
