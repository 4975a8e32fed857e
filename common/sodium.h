// One place that initializes libsodium before first use.
#ifndef AGORA_COMMON_SODIUM_H_
#define AGORA_COMMON_SODIUM_H_

namespace agora {

// Initializes libsodium once per process; safe to call from any thread and as
// often as you like. Aborts if libsodium cannot start (no entropy source),
// since no key can then be made safely.
void EnsureSodium();

}  // namespace agora

#endif  // AGORA_COMMON_SODIUM_H_
