// Logging: spdlog with one process-wide logger writing to stderr.
//
// Call InitLogging once at start-up; afterwards use spdlog::info(...) etc.
// Thread safety: spdlog's default logger is thread-safe.
#ifndef AGORA_COMMON_LOG_H_
#define AGORA_COMMON_LOG_H_

#include <spdlog/spdlog.h>

#include <string_view>

#include "common/status.h"

namespace agora {

// Accepts trace, debug, info, warn, error, critical and off.
Result<spdlog::level::level_enum> ParseLogLevel(std::string_view name);

// Sets up the stderr logger at `level` (a name accepted by ParseLogLevel).
Status InitLogging(std::string_view level);

}  // namespace agora

#endif  // AGORA_COMMON_LOG_H_
