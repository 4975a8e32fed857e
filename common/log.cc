#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <array>
#include <utility>

namespace agora {

Result<spdlog::level::level_enum> ParseLogLevel(std::string_view name) {
  using spdlog::level::level_enum;
  static constexpr std::array<std::pair<std::string_view, level_enum>, 7> kLevels = {{
      {"trace", level_enum::trace},
      {"debug", level_enum::debug},
      {"info", level_enum::info},
      {"warn", level_enum::warn},
      {"error", level_enum::err},
      {"critical", level_enum::critical},
      {"off", level_enum::off},
  }};
  for (const auto& [level_name, level] : kLevels) {
    if (level_name == name) return level;
  }
  return Status::InvalidArgument("unknown log level '" + std::string(name) +
                                 "'; use trace, debug, info, warn, error, critical or off");
}

Status InitLogging(std::string_view level) {
  AGORA_ASSIGN_OR_RETURN(auto parsed, ParseLogLevel(level));
  spdlog::drop("agora");  // so a second call replaces the logger instead of throwing
  auto logger = spdlog::stderr_color_mt("agora");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  logger->set_level(parsed);
  spdlog::set_default_logger(std::move(logger));
  return Status::Ok();
}

}  // namespace agora
