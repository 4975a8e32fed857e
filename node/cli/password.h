// Where the CLI gets a keystore password: a file (for scripts) or the
// terminal with echo off (for people). Never the command line, where other
// users could read it in the process list.
#ifndef AGORA_NODE_CLI_PASSWORD_H_
#define AGORA_NODE_CLI_PASSWORD_H_

#include <string>

#include "common/status.h"

namespace agora::node {

inline constexpr size_t kPasswordBytesMax = 1024;

// Reads the password from `password_file` when it is non-empty (one trailing
// newline is dropped), else prompts on the terminal; with `confirm` it asks
// twice and requires both to match. FailedPrecondition when there is neither
// a file nor a terminal.
Result<std::string> ReadPassword(const std::string& password_file, bool confirm);

}  // namespace agora::node

#endif  // AGORA_NODE_CLI_PASSWORD_H_
