// `agora dispute list|show`: the disputes on the ledger and where each game
// stands (docs/dispute.md). Opening, moves and referee votes are sent by the
// provider and validator roles.
#ifndef AGORA_NODE_CLI_DISPUTE_COMMANDS_H_
#define AGORA_NODE_CLI_DISPUTE_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <functional>

#include "common/status.h"
#include "node/cli/global_options.h"

namespace agora::node {

void AddDisputeCommands(CLI::App& app, GlobalOptions& global, std::function<Status()>& action);

}  // namespace agora::node

#endif  // AGORA_NODE_CLI_DISPUTE_COMMANDS_H_
