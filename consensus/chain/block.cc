#include "consensus/chain/block.h"

#include <algorithm>

#include "common/merkle.h"
#include "common/proto_codec.h"
#include "consensus/ledger/tx.h"

namespace agora::consensus {

Hash256 HeaderHash(const proto::BlockHeader& header) {
  return Blake2b256(EncodeDeterministic(header));
}

Hash256 TxRoot(const std::vector<Hash256>& leaves) { return merkle::Root(leaves); }

Hash256 CommitHash(const proto::Commit& commit) { return Blake2b256(EncodeDeterministic(commit)); }

Hash256 ValidatorsHash(const ValidatorSet& set) {
  Blake2b256Hasher h;
  h.Update("agora-validators-v1");
  for (const Validator& v : set.validators()) {
    h.Update(v.key.bytes);
    Bytes power;
    PutU64BigEndian(power, v.power);
    h.Update(power);
  }
  return h.Finish();
}

proto::Commit MakeCommit(uint64_t height, uint32_t round, const Hash256& block,
                         const std::vector<Vote>& precommits) {
  std::vector<const Vote*> sorted;
  for (const Vote& v : precommits) sorted.push_back(&v);
  std::sort(sorted.begin(), sorted.end(),
            [](const Vote* a, const Vote* b) { return a->validator < b->validator; });
  proto::Commit commit;
  commit.set_height(height);
  commit.set_round(round);
  commit.set_block_hash(std::string(block.bytes.begin(), block.bytes.end()));
  ValidatorIndex last = 0;
  bool first = true;
  for (const Vote* v : sorted) {
    if (!first && v->validator == last) continue;
    if (v->type != VoteType::kPrecommit || v->round != round || v->block != block) continue;
    first = false;
    last = v->validator;
    proto::CommitSig* sig = commit.add_signatures();
    sig->set_validator(v->validator);
    sig->set_signature(std::string(v->signature.bytes.begin(), v->signature.bytes.end()));
  }
  return commit;
}

Status VerifyCommit(const proto::Commit& commit, const ValidatorSet& set, std::string_view chain_id,
                    uint64_t height, const Hash256& block_hash, SignatureCache* cache) {
  if (commit.height() != height) {
    return Status::InvalidArgument("commit is for height " + std::to_string(commit.height()) +
                                   ", expected " + std::to_string(height));
  }
  if (commit.block_hash() != std::string(block_hash.bytes.begin(), block_hash.bytes.end())) {
    return Status::InvalidArgument("commit is for another block");
  }
  const SignDomain domain{std::string(chain_id), SignKind::kPrecommit};
  const Bytes sign_bytes =
      Vote{VoteType::kPrecommit, height, commit.round(), block_hash, 0, {}}.SignBytes();
  uint64_t power = 0;
  int64_t previous = -1;
  for (const proto::CommitSig& sig : commit.signatures()) {
    if (static_cast<int64_t>(sig.validator()) <= previous) {
      return Status::InvalidArgument("commit signatures out of order or repeated");
    }
    previous = sig.validator();
    if (sig.validator() >= set.size()) {
      return Status::InvalidArgument("commit names validator " + std::to_string(sig.validator()) +
                                     " of a set of " + std::to_string(set.size()));
    }
    if (sig.signature().size() != Signature::kSize) {
      return Status::InvalidArgument("commit signature is not 64 bytes");
    }
    Signature s;
    std::copy(sig.signature().begin(), sig.signature().end(), s.bytes.begin());
    const PublicKey& key = set.at(sig.validator()).key;
    if (cache != nullptr ? !cache->VerifySignature(key, domain, sign_bytes, s)
                         : !Verify(key, domain, sign_bytes, s)) {
      return Status::Unauthenticated("commit signature of validator " +
                                     std::to_string(sig.validator()) + " does not verify");
    }
    power += set.at(sig.validator()).power;
  }
  if (!set.IsQuorum(power)) {
    return Status::InvalidArgument("commit signers hold " + std::to_string(power) + " of " +
                                   std::to_string(set.total_power()) + " power, not more than 2/3");
  }
  return Status::Ok();
}

}  // namespace agora::consensus
