#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/plugin.h"
#include "kernels/device.h"

namespace agora::kernels {
namespace {

__global__ void IotaKernel(uint32_t* out, uint32_t n, uint32_t multiplier) {
  uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = i * multiplier;
}

// Frees a device buffer when it goes out of scope; the error of cudaFree is
// ignored on purpose because the result has already been copied back.
struct DeviceBuffer {
  uint32_t* ptr = nullptr;
  ~DeviceBuffer() {
    if (ptr != nullptr) (void)cudaFree(ptr);
  }
};

}  // namespace

Result<int> CudaDeviceCountImpl() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) {
    (void)cudaGetLastError();  // clear the sticky error
    return 0;
  }
  AGORA_CUDA_RETURN_IF_ERROR(err);
  return count;
}

Result<CudaDeviceInfo> CudaDevice0InfoImpl() {
  cudaDeviceProp prop{};
  AGORA_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, 0));
  CudaDeviceInfo info;
  info.name = prop.name;
  info.major = prop.major;
  info.minor = prop.minor;
  info.memory_bytes = prop.totalGlobalMem;
  info.multiprocessors = prop.multiProcessorCount;
  return info;
}

Result<std::shared_ptr<float>> CudaManagedFloatsImpl(size_t n) {
  float* p = nullptr;
  AGORA_CUDA_RETURN_IF_ERROR(cudaMallocManaged(&p, (n > 0 ? n : 1) * sizeof(float)));
  return std::shared_ptr<float>(p, [](float* q) { (void)cudaFree(q); });
}

Result<std::vector<uint32_t>> CudaSelfTestImpl(uint32_t n, uint32_t multiplier) {
  AGORA_ASSIGN_OR_RETURN(int count, CudaDeviceCountImpl());
  if (count == 0) return Status::FailedPrecondition("no CUDA device is visible");
  AGORA_CUDA_RETURN_IF_ERROR(cudaSetDevice(0));
  std::vector<uint32_t> host(n);
  if (n == 0) return host;
  DeviceBuffer device;
  AGORA_CUDA_RETURN_IF_ERROR(cudaMalloc(&device.ptr, n * sizeof(uint32_t)));
  constexpr uint32_t kThreads = 256;
  IotaKernel<<<(n + kThreads - 1) / kThreads, kThreads>>>(device.ptr, n, multiplier);
  AGORA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  AGORA_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(host.data(), device.ptr, n * sizeof(uint32_t), cudaMemcpyDeviceToHost));
  return host;
}

}  // namespace agora::kernels

extern "C" const agora::kernels::CudaPlugin* agora_cuda_plugin() {
  using namespace agora::kernels;
  static const CudaPlugin plugin = [] {
    CudaPlugin p;
    p.abi = kCudaPluginAbi;
    p.plugin_size = sizeof(CudaPlugin);
    p.op_table_size = sizeof(OpTable);
    p.device_count = CudaDeviceCountImpl;
    p.device0_info = CudaDevice0InfoImpl;
    p.managed_floats = CudaManagedFloatsImpl;
    p.self_test = CudaSelfTestImpl;
    p.exact = cuda::ExactOpTableImpl();
    p.native = cuda::NativeOpTableImpl();
    return p;
  }();
  return &plugin;
}
