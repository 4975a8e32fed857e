// A Merkle proof as verdicts and commits carry it (common/merkle.h).
// Properties: siblings that decode re-encode to the same bytes; a proof
// built from them never verifies past its bounds (Verify reads only what
// it has) and never verifies a leaf the tree does not hold.
#include <cstddef>
#include <cstdint>

#include "common/hash.h"
#include "common/merkle.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t index = data[0], leaves = data[1];
  const agora::ByteSpan rest(data + 2, size - 2);
  agora::Result<std::vector<agora::Hash256>> siblings = agora::merkle::DecodeSiblings(rest);
  if (!siblings.ok()) return 0;
  AGORA_FUZZ_ACCEPTED();
  const agora::Bytes again = agora::merkle::EncodeSiblings(*siblings);
  AGORA_FUZZ_EXPECT(again.size() == rest.size() &&
                    std::equal(again.begin(), again.end(), rest.begin()));
  // A real tree of `leaves` items: only its own proof of its own item verifies.
  std::vector<agora::Hash256> items;
  for (uint8_t i = 0; i < leaves; ++i) items.push_back(agora::Blake2b256(agora::Bytes{i}));
  if (items.empty()) return 0;
  const agora::Hash256 root = agora::merkle::Root(items);
  const uint64_t at = index % items.size();
  const agora::merkle::Proof fuzzed{index, leaves, *siblings};
  if (agora::merkle::Verify(root, items[at], fuzzed)) {
    const agora::merkle::Proof real = agora::merkle::Prove(items, at);
    AGORA_FUZZ_EXPECT(fuzzed.index == real.index && fuzzed.siblings == real.siblings);
  }
  return 0;
}
