// An int8 pseudo-gradient as an aggregator fetches it (trainer/diloco.h).
// Property: the decoder never yields more values than it was allowed.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_util.h"
#include "trainer/diloco.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kValuesMax = 1 << 20;
  agora::Result<std::vector<float>> v =
      agora::trainer::DecodeInt8Blocks(agora::ByteSpan(data, size), kValuesMax);
  if (!v.ok()) return 0;
  AGORA_FUZZ_ACCEPTED();
  AGORA_FUZZ_EXPECT(v->size() <= kValuesMax);
  return 0;
}
