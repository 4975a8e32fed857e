// Checking CUDA calls. Inside the node a CUDA failure is a Status, never an
// exit: AGORA_CUDA_RETURN_IF_ERROR returns Unavailable naming the call, file
// and line.
#ifndef AGORA_KERNELS_CUDA_CHECK_CUH_
#define AGORA_KERNELS_CUDA_CHECK_CUH_

#include <cuda_runtime.h>

#include <string>

#include "common/status.h"

namespace agora::kernels {

inline Status CudaStatus(cudaError_t err, const char* call, const char* file, int line) {
  if (err == cudaSuccess) return Status::Ok();
  return Status::Unavailable(std::string(call) + " failed at " + file + ":" +
                             std::to_string(line) + ": " + cudaGetErrorName(err) + " (" +
                             cudaGetErrorString(err) + ")");
}

}  // namespace agora::kernels

#define AGORA_CUDA_RETURN_IF_ERROR(call) \
  AGORA_RETURN_IF_ERROR(::agora::kernels::CudaStatus((call), #call, __FILE__, __LINE__))

#endif  // AGORA_KERNELS_CUDA_CHECK_CUH_
