#include "common/check.h"

#include <cstdio>
#include <cstdlib>

namespace agora {

void CheckFailed(const char* file, int line, const char* condition, std::string_view message) {
  std::fprintf(stderr, "%s:%d: AGORA_CHECK(%s) failed", file, line, condition);
  if (!message.empty()) {
    std::fprintf(stderr, ": %.*s", static_cast<int>(message.size()), message.data());
  }
  std::fprintf(stderr, "\nThis is a bug in Agora; please report it with the lines above.\n");
  std::fflush(stderr);
  std::abort();
}

}  // namespace agora
