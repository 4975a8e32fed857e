#include "common/sodium.h"

#include <sodium.h>

#include "common/check.h"

namespace agora {

void EnsureSodium() {
  // A function-local static is initialized exactly once, thread-safely.
  static const int result = sodium_init();
  AGORA_CHECK_MSG(result >= 0, "libsodium failed to initialize");
}

}  // namespace agora
