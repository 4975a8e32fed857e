// A checkpoint blob as a validator fetches it from a provider: magic,
// version, config, hash and sizes are checked before anything is used.
// Property: a checkpoint that parses hashes to what it claims.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_util.h"
#include "trainer/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  agora::Result<agora::trainer::LoadedCheckpoint> c =
      agora::trainer::ParseCheckpoint(agora::ByteSpan(data, size));
  if (!c.ok()) return 0;
  AGORA_FUZZ_ACCEPTED();
  AGORA_FUZZ_EXPECT(agora::trainer::CheckpointHash(c->state) == c->hash);
  return 0;
}
