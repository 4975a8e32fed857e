// A state proof as the state_proof RPC returns it to a light client
// (`agora query account --prove`), checked against the root of a real state
// tree of 64 keys. Input: one byte picks the key (one of the 64, or one that
// is absent), one byte says whether a value is claimed, the claimed value's
// length and bytes, then the proof. Properties: a proof decodes only from
// its canonical bytes; a proof verifies only for the value the key really
// holds (or its absence) — no input makes a light client believe a lie.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/state_tree.h"
#include "tests/fuzz/fixtures.h"
#include "tests/fuzz/fuzz_util.h"

using namespace agora;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::FuzzStateTree* t = new fuzz::FuzzStateTree();
  if (size < 3) return 0;
  const Bytes key = fuzz::FuzzStateTree::Key(data[0] % 80);  // 64..79 are absent
  std::optional<Bytes> value;
  size_t at = 3;
  if (data[1] & 1) {
    const size_t n = std::min<size_t>(data[2], size - at);
    value = Bytes(data + at, data + at + n);
    at += n;
  }
  const ByteSpan proof_bytes(data + at, size - at);
  Result<StateProof> proof = StateProof::Decode(proof_bytes);
  if (!proof.ok()) return 0;
  const Bytes again = proof->Encode();
  AGORA_FUZZ_EXPECT(again.size() == proof_bytes.size() &&
                    std::equal(again.begin(), again.end(), proof_bytes.begin()));
  if (!VerifyStateProof(t->root, key, value, *proof).ok()) return 0;
  AGORA_FUZZ_ACCEPTED();
  auto it = t->truth.find(key);
  if (it == t->truth.end()) {
    AGORA_FUZZ_EXPECT(!value.has_value());
  } else {
    AGORA_FUZZ_EXPECT(value.has_value() && *value == it->second);
  }
  return 0;
}
