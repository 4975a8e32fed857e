// The node's home directory: config, keys and data live under one folder.
#ifndef AGORA_NODE_HOME_H_
#define AGORA_NODE_HOME_H_

#include <filesystem>

#include "common/status.h"

namespace agora::node {

// $AGORA_HOME if set, else $HOME/.agora.
Result<std::filesystem::path> DefaultHome();

// Creates `dir` (and parents) if needed and restricts it to its owner (0700).
Status EnsurePrivateDirectory(const std::filesystem::path& dir);

}  // namespace agora::node

#endif  // AGORA_NODE_HOME_H_
