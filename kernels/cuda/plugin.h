// The CUDA kernels live in a shared library of their own, libagora_cuda.so,
// which kernels/device.cc loads (dlopen) the first time a binary asks for a
// GPU. Linking the CUDA runtime and cuBLAS into every binary cost each
// process about 0.4 s of CPU at start (the static initializers of
// libcublasLt and its 540 MB of pages), also where no GPU was ever used:
// every `agora` command, every test process (docs/cuda.md, "Loading the CUDA
// kernels"). This header is the one thing the two sides share; it includes
// no CUDA header.
//
// The binary and the library come from one build: the binary refuses a
// library whose ABI number or table sizes differ from its own.
//
// Thread safety: the table is immutable; its functions are as thread-safe as
// kernels/device.h says.
#ifndef AGORA_KERNELS_CUDA_PLUGIN_H_
#define AGORA_KERNELS_CUDA_PLUGIN_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "kernels/device.h"
#include "kernels/op_table.h"

namespace agora::kernels {

// Raise whenever CudaPlugin, OpTable or a type they name changes shape.
inline constexpr uint32_t kCudaPluginAbi = 1;

struct CudaPlugin {
  uint32_t abi = 0;            // kCudaPluginAbi of the library's build
  uint32_t plugin_size = 0;    // sizeof(CudaPlugin) there
  uint32_t op_table_size = 0;  // sizeof(OpTable) there
  Result<int> (*device_count)() = nullptr;
  Result<CudaDeviceInfo> (*device0_info)() = nullptr;
  Result<std::shared_ptr<float>> (*managed_floats)(size_t n) = nullptr;
  Result<std::vector<uint32_t>> (*self_test)(uint32_t n, uint32_t multiplier) = nullptr;
  const OpTable* exact = nullptr;   // Backend::kCuda
  const OpTable* native = nullptr;  // Backend::kCudaNative; null without cuBLAS
};

// The library's one exported symbol.
inline constexpr const char* kCudaPluginSymbol = "agora_cuda_plugin";

namespace cuda {
// Inside the library (cuda/ops_cuda.cu): the tables the plugin hands out.
const OpTable* ExactOpTableImpl();
const OpTable* NativeOpTableImpl();  // null without cuBLAS
}  // namespace cuda

}  // namespace agora::kernels

extern "C" __attribute__((visibility("default"))) const agora::kernels::CudaPlugin*
agora_cuda_plugin();

#endif  // AGORA_KERNELS_CUDA_PLUGIN_H_
