// `agora blob` subcommands: put FILE, get HASH, status, gc (docs/blobs.md).
#ifndef AGORA_NODE_CLI_BLOB_COMMANDS_H_
#define AGORA_NODE_CLI_BLOB_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <functional>

#include "common/status.h"
#include "node/cli/global_options.h"

namespace agora::node {

void AddBlobCommands(CLI::App& app, GlobalOptions& global, std::function<Status()>& action);

}  // namespace agora::node

#endif  // AGORA_NODE_CLI_BLOB_COMMANDS_H_
