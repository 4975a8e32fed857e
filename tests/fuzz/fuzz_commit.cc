// A commit as a block's last commit, a sync response or a light client's
// proof carries it: checked against the validator set of height 1 and the
// block it names. Properties: a commit that verifies names each validator at
// most once, its signers hold more than 2/3 of the power, it re-encodes to
// the input, and its hash is stable.
#include <cstddef>
#include <cstdint>
#include <set>

#include "common/proto_codec.h"
#include "tests/fuzz/fixtures.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static agora::fuzz::FuzzChain* fixture = new agora::fuzz::FuzzChain();
  agora::proto::Commit commit;
  if (!agora::DecodeStrict(agora::ByteSpan(data, size), 1 << 20, commit).ok()) return 0;
  const agora::consensus::ValidatorSet& set = fixture->chain().ValidatorsAt(1);
  auto block = agora::Hash256::Parse(agora::AsBytes(commit.block_hash()));
  if (!block.ok()) return 0;
  const agora::Status s =
      agora::consensus::VerifyCommit(commit, set, agora::fuzz::kFuzzChain, 1, *block);
  const agora::Hash256 hash = agora::consensus::CommitHash(commit);
  AGORA_FUZZ_EXPECT(hash == agora::consensus::CommitHash(commit));
  if (!s.ok()) return 0;
  AGORA_FUZZ_ACCEPTED();
  std::set<uint32_t> signers;
  uint64_t power = 0;
  for (const agora::proto::CommitSig& sig : commit.signatures()) {
    AGORA_FUZZ_EXPECT(sig.validator() < set.size());
    AGORA_FUZZ_EXPECT(signers.insert(sig.validator()).second);
    power += set.at(sig.validator()).power;
  }
  AGORA_FUZZ_EXPECT(3 * power > 2 * set.total_power());
  const agora::Bytes bytes = agora::EncodeDeterministic(commit);
  AGORA_FUZZ_EXPECT(bytes.size() == size && std::equal(bytes.begin(), bytes.end(), data));
  return 0;
}
