// `agora` subcommands for governance: gov propose, deposit, vote; query
// proposals, proposal, tally (docs/governance.md).
#ifndef AGORA_NODE_CLI_GOV_COMMANDS_H_
#define AGORA_NODE_CLI_GOV_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <functional>

#include "common/status.h"
#include "node/cli/global_options.h"

namespace agora::node {

// REQUIRES: AddChainCommands has added the "query" subcommand.
void AddGovCommands(CLI::App& app, GlobalOptions& global, std::function<Status()>& action);

}  // namespace agora::node

#endif  // AGORA_NODE_CLI_GOV_COMMANDS_H_
