#include "consensus/signer.h"

#include <algorithm>
#include <tuple>

#include "common/check.h"
#include "consensus/validator_set.h"

namespace agora::consensus {
namespace {

constexpr std::string_view kRecordKey = "last_signed";
constexpr std::string_view kLockKey = "lock";
constexpr std::string_view kStepKeys[3] = {"signed_propose", "signed_prevote", "signed_precommit"};

Bytes EncodeRecord(const SigningRecord& r) {
  Bytes out;
  PutU64BigEndian(out, r.height);
  PutU64BigEndian(out, r.round);
  out.push_back(static_cast<uint8_t>(r.step));
  Append(out, r.signature.bytes);
  Append(out, r.sign_bytes);
  return out;
}

Result<SigningRecord> DecodeRecord(ByteSpan b) {
  if (b.size() < 8 + 8 + 1 + Signature::kSize || b[16] > 2) {
    return Status::Corruption("the consensus signing record is damaged; refusing to sign");
  }
  SigningRecord r;
  r.height = GetU64BigEndian(b);
  r.round = static_cast<uint32_t>(GetU64BigEndian(b.subspan(8)));
  r.step = static_cast<Step>(b[16]);
  std::copy_n(b.begin() + 17, Signature::kSize, r.signature.bytes.begin());
  r.sign_bytes.assign(b.begin() + 17 + Signature::kSize, b.end());
  return r;
}

// height(8) round(8) block(32), then (validator(8) signature) per polka
// prevote: the rest of each prevote is the lock's own height, round and block.
// A lock written before polkas were kept is just the first 48 bytes.
constexpr size_t kLockHeaderBytes = 16 + Hash256::kSize;
constexpr size_t kLockPolkaVoteBytes = 8 + Signature::kSize;

Bytes EncodeLock(const Lock& lock) {
  Bytes out;
  PutU64BigEndian(out, lock.height);
  PutU64BigEndian(out, lock.round);
  Append(out, lock.block.bytes);
  for (const Vote& vote : lock.polka) {
    PutU64BigEndian(out, vote.validator);
    Append(out, vote.signature.bytes);
  }
  return out;
}

Result<Lock> DecodeLock(ByteSpan b) {
  if (b.size() < kLockHeaderBytes || (b.size() - kLockHeaderBytes) % kLockPolkaVoteBytes != 0 ||
      (b.size() - kLockHeaderBytes) / kLockPolkaVoteBytes > kValidatorsMax) {
    return Status::Corruption("the consensus lock record is damaged");
  }
  Lock lock{GetU64BigEndian(b), static_cast<uint32_t>(GetU64BigEndian(b.subspan(8))),
            Hash256::FromBytes(b.subspan(16, Hash256::kSize)), {}};
  for (size_t at = kLockHeaderBytes; at < b.size(); at += kLockPolkaVoteBytes) {
    const uint64_t validator = GetU64BigEndian(b.subspan(at));
    if (validator >= kValidatorsMax) {
      return Status::Corruption("the consensus lock record is damaged");
    }
    Vote vote{VoteType::kPrevote, lock.height, lock.round, lock.block,
              static_cast<ValidatorIndex>(validator), {}};
    std::copy_n(b.begin() + at + 8, Signature::kSize, vote.signature.bytes.begin());
    lock.polka.push_back(vote);
  }
  return lock;
}

}  // namespace

Result<std::unique_ptr<SafeSigner>> SafeSigner::Open(std::string chain_id,
                                                     std::unique_ptr<SigningKey> key,
                                                     KvStore* store) {
  AGORA_RETURN_IF_ERROR(ValidateChainId(chain_id));
  std::unique_ptr<SafeSigner> signer(new SafeSigner());
  signer->chain_id_ = std::move(chain_id);
  signer->key_ = std::move(key);
  signer->store_ = store;
  AGORA_ASSIGN_OR_RETURN(auto record, store->Get(KeyPrefix::kConsensusWal, AsBytes(kRecordKey)));
  if (record) {
    AGORA_ASSIGN_OR_RETURN(SigningRecord r, DecodeRecord(*record));
    signer->last_ = std::move(r);
  }
  for (size_t step = 0; step < 3; ++step) {
    AGORA_ASSIGN_OR_RETURN(auto bytes,
                           store->Get(KeyPrefix::kConsensusWal, AsBytes(kStepKeys[step])));
    if (bytes) {
      AGORA_ASSIGN_OR_RETURN(SigningRecord r, DecodeRecord(*bytes));
      signer->by_step_[step] = std::move(r);
    }
  }
  AGORA_ASSIGN_OR_RETURN(auto lock, store->Get(KeyPrefix::kConsensusWal, AsBytes(kLockKey)));
  if (lock) {
    AGORA_ASSIGN_OR_RETURN(Lock l, DecodeLock(*lock));
    signer->lock_ = std::move(l);
  }
  return signer;
}

Result<Signature> SafeSigner::SignStep(uint64_t height, uint32_t round, Step step, SignKind kind,
                                       Bytes sign_bytes, const std::optional<Lock>& new_lock) {
  if (last_) {
    auto previous = std::make_tuple(last_->height, last_->round, last_->step);
    auto requested = std::make_tuple(height, round, step);
    if (requested < previous) {
      return Status::FailedPrecondition(
          "refusing to sign " + std::string(StepName(step)) + " at height " +
          std::to_string(height) + " round " + std::to_string(round) +
          ": already signed a later step (height " + std::to_string(last_->height) + " round " +
          std::to_string(last_->round) + ")");
    }
    if (requested == previous) {
      if (sign_bytes == last_->sign_bytes) return last_->signature;
      return Status::FailedPrecondition("refusing to sign a conflicting " +
                                        std::string(StepName(step)) + " at height " +
                                        std::to_string(height) + " round " +
                                        std::to_string(round));
    }
  }
  SigningRecord record{height, round, step, std::move(sign_bytes), {}};
  record.signature = key_->Sign({chain_id_, kind}, record.sign_bytes);
  // Write ahead: the record is durable before the signature exists outside.
  WriteBatch batch;
  Bytes encoded = EncodeRecord(record);
  batch.Put(KeyPrefix::kConsensusWal, AsBytes(kRecordKey), encoded);
  batch.Put(KeyPrefix::kConsensusWal, AsBytes(kStepKeys[static_cast<size_t>(step)]), encoded);
  if (new_lock) batch.Put(KeyPrefix::kConsensusWal, AsBytes(kLockKey), EncodeLock(*new_lock));
  AGORA_RETURN_IF_ERROR(store_->Write(
      batch, testonly_buffered_writes_ ? Durability::kBuffered : Durability::kSynced));
  by_step_[static_cast<size_t>(step)] = record;
  last_ = std::move(record);
  if (new_lock) lock_ = new_lock;
  return last_->signature;
}

Result<Signature> SafeSigner::SignVote(const Vote& vote, const std::vector<Vote>& polka) {
  AGORA_CHECK(polka.size() <= kValidatorsMax);
  std::optional<Lock> new_lock;
  if (vote.type == VoteType::kPrecommit && vote.block) {
    new_lock = Lock{vote.height, vote.round, *vote.block, polka};
  }
  for (const Vote& prevote : polka) {
    // The encoding keeps only validator and signature per prevote.
    AGORA_CHECK(new_lock && prevote.type == VoteType::kPrevote && prevote.height == vote.height &&
                prevote.round == vote.round && prevote.block == vote.block);
  }
  return SignStep(vote.height, vote.round, StepOf(vote.type), vote.Kind(), vote.SignBytes(),
                  new_lock);
}

Result<Signature> SafeSigner::SignProposal(const Proposal& proposal) {
  return SignStep(proposal.height, proposal.round, Step::kPropose, SignKind::kProposal,
                  proposal.SignBytes(), std::nullopt);
}

Status VerifyEvidence(const Evidence& e, const std::string& chain_id,
                      const SignatureVerifier& verifier) {
  const Vote& a = e.first;
  const Vote& b = e.second;
  if (a.type != b.type || a.height != b.height || a.round != b.round) {
    return Status::InvalidArgument("evidence votes are for different steps");
  }
  if (a.block == b.block) return Status::InvalidArgument("evidence votes agree");
  for (const Vote* v : {&a, &b}) {
    if (!verifier.Verify(e.validator, {chain_id, v->Kind()}, v->SignBytes(), v->signature)) {
      return Status::InvalidArgument("evidence vote " + v->ToString() + " has a bad signature");
    }
  }
  return Status::Ok();
}

}  // namespace agora::consensus
