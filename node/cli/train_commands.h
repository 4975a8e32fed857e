// The trainer's subcommands of `agora`:
//   agora train --steps N [--config small|tiny|shakespeare] [--out DIR] ...
//   agora train --diloco --workers K --rounds R --inner-steps H [--compare-ddp]
//   agora generate --model CKPT --prompt "ROMEO:" [--tokens N] [--temperature T] [--seed S]
//   agora model info CKPT
//
// They run locally (no daemon): they read the corpus and checkpoints, print
// progress to stderr and results to stdout (JSON with --json).
//
// Thread safety: called once from main before parsing.
#ifndef AGORA_NODE_CLI_TRAIN_COMMANDS_H_
#define AGORA_NODE_CLI_TRAIN_COMMANDS_H_

#include <CLI/CLI.hpp>

#include <functional>

#include "common/status.h"

namespace agora::node {

// Adds train, generate and model to `app`. A parsed subcommand stores its
// work in `action`; `json` is the global --json flag, read when the action runs.
void AddTrainCommands(CLI::App& app, std::function<Status()>& action, const bool& json);

}  // namespace agora::node

#endif  // AGORA_NODE_CLI_TRAIN_COMMANDS_H_
