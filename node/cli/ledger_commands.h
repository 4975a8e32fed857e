// `agora` subcommands for the ledger's modules: query account [--prove],
// validators, params, beacon; tx stake, unstake, create-validator, unjail.
#ifndef AGORA_NODE_CLI_LEDGER_COMMANDS_H_
#define AGORA_NODE_CLI_LEDGER_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <functional>

#include "common/status.h"
#include "node/cli/global_options.h"

namespace agora::node {

// REQUIRES: AddChainCommands has added the "query" and "tx" subcommands.
void AddLedgerCommands(CLI::App& app, GlobalOptions& global, std::function<Status()>& action);

}  // namespace agora::node

#endif  // AGORA_NODE_CLI_LEDGER_COMMANDS_H_
