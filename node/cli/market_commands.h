// `agora` subcommands for the market: provider register|update|deregister|
// status; job submit|status|list|cancel (docs/market.md).
#ifndef AGORA_NODE_CLI_MARKET_COMMANDS_H_
#define AGORA_NODE_CLI_MARKET_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <functional>

#include "common/status.h"
#include "node/cli/global_options.h"

namespace agora::node {

void AddMarketCommands(CLI::App& app, GlobalOptions& global, std::function<Status()>& action);

}  // namespace agora::node

#endif  // AGORA_NODE_CLI_MARKET_COMMANDS_H_
