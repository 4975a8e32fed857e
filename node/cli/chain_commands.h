// `agora` subcommands that make networks and talk to nodes: init, testnet,
// devnet up|status|down, status, query account|block|tx, tx transfer.
#ifndef AGORA_NODE_CLI_CHAIN_COMMANDS_H_
#define AGORA_NODE_CLI_CHAIN_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <functional>

#include "common/status.h"
#include "node/cli/global_options.h"

namespace agora::node {

// Adds the subcommands to `app`; the one the user picked sets `action`.
void AddChainCommands(CLI::App& app, GlobalOptions& global, std::function<Status()>& action);

}  // namespace agora::node

#endif  // AGORA_NODE_CLI_CHAIN_COMMANDS_H_
