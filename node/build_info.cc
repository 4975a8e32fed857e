#include "node/build_info.h"

#include "kernels/device.h"

#ifndef AGORA_VERSION
#error "AGORA_VERSION must be defined by the build"
#endif

namespace agora::node {

std::string_view Version() { return AGORA_VERSION; }

std::string BuildInfo(std::string_view program, bool probe_gpus) {
  std::string out(program);
  out += " ";
  out += Version();
  out += " (" AGORA_BUILD_TYPE ")\nCUDA: " + kernels::CudaBuildNote() + "\n";
  if (probe_gpus && kernels::CudaBuilt()) {
    auto count = kernels::CudaDeviceCount();
    out += count.ok() ? "GPUs visible: " + std::to_string(*count) + "\n"
                      : "GPUs visible: unknown (" + count.status().message() + ")\n";
  }
  return out;
}

}  // namespace agora::node
