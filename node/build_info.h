// What this binary is: version, build type, and its CUDA state.
#ifndef AGORA_NODE_BUILD_INFO_H_
#define AGORA_NODE_BUILD_INFO_H_

#include <string>
#include <string_view>

namespace agora::node {

// "0.1.0"
std::string_view Version();

// Several lines: "<program> <version> (<build type>)", "CUDA: <state>" and,
// when `probe_gpus` is true, "GPUs visible: N" (which starts the CUDA runtime).
std::string BuildInfo(std::string_view program, bool probe_gpus);

}  // namespace agora::node

#endif  // AGORA_NODE_BUILD_INFO_H_
