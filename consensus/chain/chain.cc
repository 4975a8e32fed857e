#include "consensus/chain/chain.h"

#include <algorithm>
#include <set>

#include "common/check.h"
#include "common/proto_codec.h"

namespace agora::consensus {
namespace {

constexpr std::string_view kResultsHashKey = "last_results_hash";

std::string ToString(ByteSpan b) { return std::string(b.begin(), b.end()); }
std::string ToString(const Hash256& h) { return ToString(h.bytes); }

proto::SignedVote SignedVoteProto(const Vote& v) {
  proto::SignedVote out;
  out.set_sign_bytes(ToString(v.SignBytes()));
  out.set_signature(ToString(v.signature.bytes));
  return out;
}

Result<Vote> VoteFromProto(const proto::SignedVote& m, const PublicKey& key,
                           std::string_view chain_id) {
  std::optional<Vote> vote = Vote::FromSignBytes(AsBytes(m.sign_bytes()));
  if (!vote) return Status::InvalidArgument("evidence: malformed vote");
  auto sig = Signature::Parse(AsBytes(m.signature()));
  if (!sig.ok()) return Status::InvalidArgument("evidence: signature must be 64 bytes");
  vote->signature = *sig;
  if (!Verify(key, SignDomain{std::string(chain_id), vote->Kind()}, AsBytes(m.sign_bytes()),
              *sig)) {
    return Status::Unauthenticated("evidence: a vote's signature does not verify");
  }
  return *vote;
}

Status SizeIs(const std::string& field, std::initializer_list<size_t> sizes,
              std::string_view name) {
  for (size_t s : sizes) {
    if (field.size() == s) return Status::Ok();
  }
  return Status::InvalidArgument("block header: " + std::string(name) + " has " +
                                 std::to_string(field.size()) + " bytes");
}

}  // namespace

Bytes BeaconAlpha(const Hash256& previous_beacon, uint64_t height) {
  Bytes alpha(previous_beacon.bytes.begin(), previous_beacon.bytes.end());
  PutU64BigEndian(alpha, height);
  return alpha;
}

Hash256 NextBeacon(const Hash256& previous_beacon, const VrfOutput& output) {
  Blake2b256Hasher h;
  h.Update(previous_beacon.bytes);
  h.Update(output.bytes);
  return h.Finish();
}

Hash256 EvidenceHash(const proto::Block& block) {
  Blake2b256Hasher h;
  h.Update(AsBytes("agora-evidence-v1"));
  for (const proto::DuplicateVoteEvidence& e : block.evidence()) {
    const Hash256 one = Blake2b256(EncodeDeterministic(e));
    h.Update(one.bytes);
  }
  return h.Finish();
}

Status CheckProposer(const proto::BlockHeader& header, const PublicKey& signer,
                     int32_t valid_round) {
  if (valid_round != -1) return Status::Ok();
  const Address a = Address::FromPublicKey(signer);
  if (header.proposer() != std::string(a.bytes().begin(), a.bytes().end())) {
    return Status::InvalidArgument("new block whose header names another proposer");
  }
  return Status::Ok();
}

proto::DuplicateVoteEvidence EvidenceToProto(const Evidence& evidence) {
  proto::DuplicateVoteEvidence out;
  out.set_validator_key(ToString(evidence.validator.bytes));
  // Canonical order (by sign bytes) so two nodes that saw the votes in
  // different orders include the same bytes.
  Bytes a = evidence.first.SignBytes(), b = evidence.second.SignBytes();
  const bool swap = b < a;
  *out.mutable_first() = SignedVoteProto(swap ? evidence.second : evidence.first);
  *out.mutable_second() = SignedVoteProto(swap ? evidence.first : evidence.second);
  return out;
}

Result<Evidence> EvidenceFromProto(const proto::DuplicateVoteEvidence& e,
                                   std::string_view chain_id) {
  auto key = PublicKey::Parse(AsBytes(e.validator_key()));
  if (!key.ok()) return Status::InvalidArgument("evidence: validator key must be 32 bytes");
  AGORA_ASSIGN_OR_RETURN(Vote first, VoteFromProto(e.first(), *key, chain_id));
  AGORA_ASSIGN_OR_RETURN(Vote second, VoteFromProto(e.second(), *key, chain_id));
  if (first.height == 0) {
    // Heights start at 1; there is no set to check a vote of height 0 against.
    return Status::InvalidArgument("evidence: a vote of height 0");
  }
  if (first.type != second.type || first.height != second.height ||
      first.round != second.round) {
    return Status::InvalidArgument("evidence: the votes are not for one height, round and type");
  }
  if (first.block == second.block) {
    return Status::InvalidArgument("evidence: the votes agree; that is no double sign");
  }
  if (e.first().sign_bytes() >= e.second().sign_bytes()) {
    return Status::InvalidArgument("evidence: votes not in canonical order");
  }
  return Evidence{*key, first, second};
}

Chain::Chain(std::string chain_id, uint64_t genesis_time_unix_ms, KvStore* store,
             BlockStore* blocks, Application* app, SignatureCache* signatures)
    : chain_id_(std::move(chain_id)),
      genesis_time_unix_ms_(genesis_time_unix_ms),
      store_(store),
      blocks_(blocks),
      app_(app),
      signatures_(signatures) {}

Status Chain::Load() {
  schedule_ = app_->ValidatorSchedule();
  if (schedule_.empty() || schedule_.front().height != 1) {
    return Status::Corruption("the ledger has no validator set for height 1; the store is damaged");
  }
  sets_.clear();
  base_ = 1;
  AGORA_ASSIGN_OR_RETURN(ValidatorSet first, ValidatorSet::Make(schedule_.front().validators));
  first.IncrementProposerPriority(1);
  sets_.push_back(std::move(first));
  AGORA_ASSIGN_OR_RETURN(std::optional<Bytes> results,
                         store_->Get(KeyPrefix::kMeta, AsBytes(kResultsHashKey)));
  if (results && results->size() == Hash256::kSize) {
    last_results_hash_ = Hash256::FromBytes(*results);
  } else if (!results && blocks_->height() == 0) {
    last_results_hash_ = ResultsHash({}, {});
  } else {
    return Status::Corruption("the store has blocks but no valid results hash; it is damaged");
  }
  return Status::Ok();
}

const std::vector<Validator>& Chain::ListAt(uint64_t height) const {
  auto it = std::upper_bound(schedule_.begin(), schedule_.end(), height,
                             [](uint64_t h, const SetChange& c) { return h < c.height; });
  AGORA_CHECK(it != schedule_.begin());
  return std::prev(it)->validators;
}

const ValidatorSet& Chain::ValidatorsAt(uint64_t height) {
  AGORA_CHECK(height >= 1 && !schedule_.empty());
  if (height < base_) {
    scratch_ = ValidatorSet::Make(ListAt(1)).value();
    scratch_.IncrementProposerPriority(1);
    for (uint64_t h = 2; h <= height; ++h) scratch_ = scratch_.Next(ListAt(h));
    return scratch_;
  }
  while (base_ + sets_.size() <= height) {
    sets_.push_back(sets_.back().Next(ListAt(base_ + sets_.size())));
    // Bounded while catching up too (a restart walks from height 1).
    while (sets_.size() > kValidatorSetsKept && base_ + kValidatorSetsKept / 2 < height) {
      sets_.pop_front();  // deque: references to the others stay valid
      ++base_;
    }
  }
  return sets_[height - base_];
}

Result<proto::Block> Chain::Propose(const SecretKey& proposer, uint64_t now_ms,
                                    std::vector<Tx> txs, std::vector<Tx>* included,
                                    const std::vector<Vote>& late_precommits) {
  const uint64_t height = blocks_->height() + 1;
  const Params params = app_->CurrentParams();
  proto::Block block;
  proto::BlockHeader& h = *block.mutable_header();
  h.set_version(1);
  h.set_chain_id(chain_id_);
  h.set_height(height);
  const uint64_t previous_ms =
      height == 1 ? genesis_time_unix_ms_ : blocks_->last_header().time_unix_ms();
  h.set_time_unix_ms(std::max(now_ms, previous_ms + 1));
  h.set_proposer(ToString(Address::FromPublicKey(proposer.public_key()).span()));
  if (height > 1) {
    h.set_prev_block_hash(ToString(blocks_->last_block_hash()));
    AGORA_ASSIGN_OR_RETURN(std::optional<proto::Commit> commit, blocks_->CommitAt(height - 1));
    if (!commit) return Status::NotFound("the commit of height " + std::to_string(height - 1) +
                                         " is missing");
    if (!late_precommits.empty()) {
      const Hash256 decided = blocks_->last_block_hash();
      std::vector<Vote> votes;
      for (const proto::CommitSig& sig : commit->signatures()) {
        Vote v{VoteType::kPrecommit, height - 1, commit->round(), decided, sig.validator(), {}};
        std::copy(sig.signature().begin(), sig.signature().end(), v.signature.bytes.begin());
        votes.push_back(v);
      }
      for (const Vote& v : late_precommits) {
        if (v.height == height - 1 && v.round == commit->round()) votes.push_back(v);
      }
      *commit = MakeCommit(height - 1, commit->round(), decided, votes);
    }
    *block.mutable_last_commit() = *commit;
    h.set_last_commit_hash(ToString(CommitHash(*commit)));
  }
  // One piece per validator: a block naming a validator twice is invalid
  // (one tombstone is the whole punishment).
  std::set<PublicKey> named;
  for (auto it = pending_evidence_.begin();
       it != pending_evidence_.end() && block.evidence_size() < int{kEvidencePerBlockMax};) {
    if (it->first.second >= height || named.count(it->first.first) != 0) {
      ++it;  // a later block may carry it
      continue;
    }
    if (!app_->CheckEvidence(it->second.validator, it->first.second, height).ok()) {
      it = pending_evidence_.erase(it);  // too old, or its validator is gone
      continue;
    }
    *block.add_evidence() = EvidenceToProto(it->second);
    named.insert(it->first.first);
    ++it;
  }
  h.set_evidence_hash(ToString(EvidenceHash(block)));
  // Leave room for the header: the byte limit is on the whole block.
  constexpr size_t kHeaderRoom = 4096;
  size_t bytes = EncodeDeterministic(block).size() + kHeaderRoom;
  std::vector<Hash256> leaves;
  included->clear();
  for (Tx& tx : txs) {
    const size_t tx_bytes = tx.raw.size() + 8;  // field tag and length
    if (bytes + tx_bytes > params.block_bytes_max || included->size() >= kBlockTxsMax) break;
    bytes += tx_bytes;
    block.add_txs(ToString(tx.raw));
    leaves.push_back(Blake2b256(tx.raw));
    included->push_back(std::move(tx));
  }
  h.set_tx_root(ToString(TxRoot(leaves)));
  h.set_app_hash(ToString(app_->AppHash()));
  h.set_results_hash(ToString(last_results_hash_));
  h.set_validators_hash(ToString(ValidatorsHash(ValidatorsAt(height))));
  const VrfProof proof = VrfProve(proposer, BeaconAlpha(app_->Beacon(), height));
  h.set_vrf_proof(ToString(proof.bytes));
  h.set_vrf_output(ToString(VrfProofToHash(proof).bytes));
  return block;
}

Status Chain::ValidateHeaderFields(const proto::BlockHeader& h) {
  AGORA_RETURN_IF_ERROR(SizeIs(h.proposer(), {Address::kSize}, "proposer"));
  AGORA_RETURN_IF_ERROR(SizeIs(h.prev_block_hash(), {0, Hash256::kSize}, "prev_block_hash"));
  AGORA_RETURN_IF_ERROR(SizeIs(h.last_commit_hash(), {0, Hash256::kSize}, "last_commit_hash"));
  AGORA_RETURN_IF_ERROR(SizeIs(h.tx_root(), {Hash256::kSize}, "tx_root"));
  AGORA_RETURN_IF_ERROR(SizeIs(h.app_hash(), {Hash256::kSize}, "app_hash"));
  AGORA_RETURN_IF_ERROR(SizeIs(h.validators_hash(), {Hash256::kSize}, "validators_hash"));
  AGORA_RETURN_IF_ERROR(SizeIs(h.vrf_output(), {VrfOutput::kSize}, "vrf_output"));
  AGORA_RETURN_IF_ERROR(SizeIs(h.vrf_proof(), {VrfProof::kSize}, "vrf_proof"));
  AGORA_RETURN_IF_ERROR(SizeIs(h.results_hash(), {Hash256::kSize}, "results_hash"));
  AGORA_RETURN_IF_ERROR(SizeIs(h.evidence_hash(), {Hash256::kSize}, "evidence_hash"));
  return Status::Ok();
}

Result<std::vector<Tx>> Chain::BlockTxs(const proto::Block& block) {
  std::vector<Tx> txs;
  std::set<Hash256> seen;
  for (const std::string& raw : block.txs()) {
    AGORA_ASSIGN_OR_RETURN(Tx tx, DecodeTx(AsBytes(raw), chain_id_));
    if (!signatures_->Verify(tx, chain_id_)) {
      return Status::Unauthenticated("transaction " + tx.hash.ToHex() + " has a bad signature");
    }
    if (!seen.insert(tx.hash).second) {
      return Status::InvalidArgument("transaction " + tx.hash.ToHex() + " twice in one block");
    }
    txs.push_back(std::move(tx));
  }
  return txs;
}

Status Chain::ValidateEvidence(const proto::Block& block, uint64_t height,
                               std::vector<VerifiedEvidence>* verified) {
  if (block.evidence_size() > int{kEvidencePerBlockMax}) {
    return Status::InvalidArgument("block carries more than " +
                                   std::to_string(kEvidencePerBlockMax) + " pieces of evidence");
  }
  std::set<PublicKey> named;
  for (const proto::DuplicateVoteEvidence& e : block.evidence()) {
    AGORA_ASSIGN_OR_RETURN(Evidence evidence, EvidenceFromProto(e, chain_id_));
    if (!named.insert(evidence.validator).second) {
      return Status::InvalidArgument("block names one validator in two pieces of evidence");
    }
    AGORA_RETURN_IF_ERROR(app_->CheckEvidence(evidence.validator, evidence.first.height, height));
    const ValidatorSet& set = ValidatorsAt(evidence.first.height);
    std::optional<ValidatorIndex> index = set.IndexOf(evidence.validator);
    if (!index) {
      return Status::InvalidArgument("evidence names a key that was not a validator at height " +
                                     std::to_string(evidence.first.height));
    }
    verified->push_back({evidence, set.at(*index).power});
  }
  return Status::Ok();
}

Status Chain::ValidateBlock(const proto::Block& block, uint64_t now_ms,
                            std::vector<Tx>* decoded) {
  const uint64_t height = blocks_->height() + 1;
  const proto::BlockHeader& h = block.header();
  if (h.version() != 1 || h.chain_id() != chain_id_ || h.height() != height) {
    return Status::InvalidArgument("block header: wrong version, chain or height");
  }
  AGORA_RETURN_IF_ERROR(ValidateHeaderFields(h));
  const Params params = app_->CurrentParams();
  const size_t bytes = block.ByteSizeLong();
  if (bytes > params.block_bytes_max) {
    return Status::InvalidArgument("block of " + std::to_string(bytes) +
                                   " bytes is above consensus.block_bytes_max of " +
                                   std::to_string(params.block_bytes_max));
  }
  if (block.txs_size() > static_cast<int>(kBlockTxsMax)) {
    return Status::InvalidArgument("block has too many transactions");
  }
  const uint64_t previous_ms =
      height == 1 ? genesis_time_unix_ms_ : blocks_->last_header().time_unix_ms();
  if (h.time_unix_ms() <= previous_ms && height > 1) {
    return Status::InvalidArgument("block time does not advance");
  }
  if (h.time_unix_ms() > now_ms + kBlockTimeFutureMaxMs) {
    return Status::InvalidArgument("block time is more than a minute in the future");
  }
  if (height == 1) {
    if (!h.prev_block_hash().empty() || block.has_last_commit() || !h.last_commit_hash().empty()) {
      return Status::InvalidArgument("the first block has no previous block");
    }
  } else {
    if (h.prev_block_hash() != ToString(blocks_->last_block_hash())) {
      return Status::InvalidArgument("block does not extend this node's last block");
    }
    AGORA_RETURN_IF_ERROR(VerifyCommit(block.last_commit(), ValidatorsAt(height - 1), chain_id_,
                                       height - 1, blocks_->last_block_hash(), signatures_));
  }
  const ValidatorSet& set = ValidatorsAt(height);
  const PublicKey* proposer = nullptr;
  for (const auto& v : set.validators()) {
    if (h.proposer() == ToString(Address::FromPublicKey(v.key).span())) proposer = &v.key;
  }
  if (proposer == nullptr) return Status::InvalidArgument("block proposer is not a validator");
  if (h.validators_hash() != ToString(ValidatorsHash(set))) {
    return Status::InvalidArgument("validators_hash does not match the validator set");
  }
  if (h.app_hash() != ToString(app_->AppHash())) {
    return Status::InvalidArgument("app_hash differs from this node's state");
  }
  if (h.results_hash() != ToString(last_results_hash_)) {
    return Status::InvalidArgument("results_hash differs from this node's results");
  }
  const VrfProof proof = VrfProof::Parse(AsBytes(h.vrf_proof())).value();
  Result<VrfOutput> output =
      signatures_->VerifyVrf(*proposer, proof, BeaconAlpha(app_->Beacon(), height));
  if (!output.ok()) {
    return Status::Unauthenticated("block's VRF proof: " + output.status().message());
  }
  if (h.vrf_output() != ToString(output->bytes)) {
    return Status::InvalidArgument("block's vrf_output is not its proof's output");
  }
  AGORA_RETURN_IF_ERROR(BodyMatchesHeader(block));
  std::vector<VerifiedEvidence> evidence;
  AGORA_RETURN_IF_ERROR(ValidateEvidence(block, height, &evidence));
  AGORA_ASSIGN_OR_RETURN(std::vector<Tx> txs, BlockTxs(block));
  for (const Tx& tx : txs) {
    // A committed transaction can never run again (its nonce is used); a
    // block that carries one again is the proposer's mistake or malice.
    auto committed = blocks_->FindTx(tx.hash);
    if (!committed.ok() || *committed) {
      return Status::InvalidArgument("block repeats committed transaction " + tx.hash.ToHex());
    }
  }
  if (decoded != nullptr) *decoded = std::move(txs);
  return Status::Ok();
}

Status Chain::BodyMatchesHeader(const proto::Block& block) {
  const proto::BlockHeader& h = block.header();
  if (block.txs_size() > static_cast<int>(kBlockTxsMax)) {
    return Status::InvalidArgument("block has too many transactions");
  }
  std::vector<Hash256> leaves;
  for (const std::string& raw : block.txs()) leaves.push_back(Blake2b256(AsBytes(raw)));
  if (h.tx_root() != ToString(TxRoot(leaves))) {
    return Status::InvalidArgument("tx_root does not match the transactions");
  }
  const std::string last_commit =
      block.has_last_commit() ? ToString(CommitHash(block.last_commit())) : "";
  if (h.last_commit_hash() != last_commit) {
    return Status::InvalidArgument("last_commit_hash does not match the last commit");
  }
  if (h.evidence_hash() != ToString(EvidenceHash(block))) {
    return Status::InvalidArgument("evidence_hash does not match the evidence");
  }
  return Status::Ok();
}

Result<Chain::Executed> Chain::Execute(const proto::Block& block, const proto::Commit& commit,
                                       std::vector<Tx> txs, WriteBatch* batch) {
  const proto::BlockHeader& h = block.header();
  const uint64_t height = h.height();
  AGORA_CHECK(height == blocks_->height() + 1);
  BlockContext ctx;
  ctx.height = height;
  ctx.time_unix_ms = h.time_unix_ms();
  auto proposer = Address::FromBytes(AsBytes(h.proposer()));
  if (!proposer.ok()) return Status::InvalidArgument("block proposer is not an address");
  ctx.proposer = *proposer;
  for (const Validator& v : ValidatorsAt(height).validators()) {
    if (Address::FromPublicKey(v.key) == ctx.proposer) ctx.proposer_key = v.key;
  }
  // ValidateBlock checked that vrf_output is its proof's output (a synced
  // block's header is covered by its commit, as its app hash is), so the
  // header's copy serves: no point decode and scalar multiplication again.
  if (h.vrf_output().size() != VrfOutput::kSize) {
    return Status::InvalidArgument("block has no VRF output");
  }
  VrfOutput output;
  std::memcpy(output.bytes.data(), h.vrf_output().data(), VrfOutput::kSize);
  ctx.beacon = NextBeacon(app_->Beacon(), output);
  // Evidence was verified when the block was validated (or, for a synced
  // block, is covered by its commit); it is decoded again here, cheaply.
  for (const proto::DuplicateVoteEvidence& e : block.evidence()) {
    AGORA_ASSIGN_OR_RETURN(Evidence evidence, EvidenceFromProto(e, chain_id_));
    const ValidatorSet& set = ValidatorsAt(evidence.first.height);
    std::optional<ValidatorIndex> index = set.IndexOf(evidence.validator);
    ctx.evidence.push_back({evidence, index ? set.at(*index).power : 0});
  }
  if (height > 1) {
    const ValidatorSet& previous = ValidatorsAt(height - 1);
    std::vector<bool> signed_by(previous.size(), false);
    for (const proto::CommitSig& sig : block.last_commit().signatures()) {
      if (sig.validator() < previous.size()) signed_by[sig.validator()] = true;
    }
    for (size_t i = 0; i < previous.size(); ++i) {
      ctx.last_commit_signers.push_back({previous.at(i).key, signed_by[i]});
    }
  }
  Executed out;
  out.hash = HeaderHash(h);
  app_->BeginBlock(ctx);
  out.results.reserve(txs.size());
  for (const Tx& tx : txs) out.results.push_back(app_->DeliverTx(tx));
  out.end = app_->EndBlock();
  Result<Hash256> app_hash = app_->Commit(batch);
  if (!app_hash.ok()) {
    app_->Abandon();
    return app_hash.status();
  }
  out.app_hash = *app_hash;
  blocks_->Add(block, out.hash, commit, out.results, out.end.events, batch);
  batch->Put(KeyPrefix::kMeta, AsBytes(kResultsHashKey),
             ResultsHash(out.results, out.end.events).bytes);
  return out;
}

void Chain::Committed(const proto::Block& block, const Executed& executed) {
  app_->Committed();
  blocks_->Committed(block, executed.hash);
  last_results_hash_ = ResultsHash(executed.results, executed.end.events);
  if (!executed.end.set_changes.empty()) {
    // Entries may be new or rewritten; none is below height + 3, and no set
    // above height + 2 has been built yet, but drop any that was.
    uint64_t lowest = UINT64_MAX;
    for (const SetChange& c : executed.end.set_changes) lowest = std::min(lowest, c.height);
    AGORA_CHECK(lowest >= block.header().height() + kSetChangeDelayMin);
    // Only entries at `lowest` or above changed: those are read again, not
    // the whole history.
    while (!schedule_.empty() && schedule_.back().height >= lowest) schedule_.pop_back();
    for (SetChange& c : app_->ValidatorScheduleFrom(lowest)) {
      if (c.height >= lowest) schedule_.push_back(std::move(c));
    }
    while (base_ + sets_.size() > lowest) sets_.pop_back();
    AGORA_CHECK(!sets_.empty());
  }
  for (const proto::DuplicateVoteEvidence& e : block.evidence()) {
    auto key = PublicKey::Parse(AsBytes(e.validator_key()));
    if (!key.ok()) continue;
    // The validator is tombstoned now: any other evidence of it is moot.
    for (auto it = pending_evidence_.begin(); it != pending_evidence_.end();) {
      it = it->first.first == *key ? pending_evidence_.erase(it) : std::next(it);
    }
  }
}

void Chain::Abandon() { app_->Abandon(); }

Status Chain::PrecheckEvidence(const PublicKey& validator, uint64_t height) const {
  // A node decides height h + 1 and hears votes for h + 2 at most; the
  // sets of later heights are not fixed yet, and building one walks every
  // height up to it (a far-future height from a peer would hold the node's
  // thread for ever, or push the sets it needs out of ValidatorsAt's window).
  const uint64_t reach = blocks_->height() + 2;
  if (height > reach) {
    return Status::OutOfRange("evidence about height " + std::to_string(height) +
                              ", past the heights this node can check (up to " +
                              std::to_string(reach) + ")");
  }
  if (pending_evidence_.count({validator, height}) != 0) {
    return Status::AlreadyExists("this evidence is kept already");
  }
  return Status::Ok();
}

Status Chain::AddEvidence(const Evidence& evidence) {
  // The cheap checks first: evidence sent again costs no verification.
  AGORA_RETURN_IF_ERROR(PrecheckEvidence(evidence.validator, evidence.first.height));
  AGORA_RETURN_IF_ERROR(
      EvidenceFromProto(EvidenceToProto(evidence), chain_id_).status());
  // Evidence of the height being decided can go into the next block at the
  // earliest.
  const uint64_t first_block = std::max(blocks_->height() + 1, evidence.first.height + 1);
  AGORA_RETURN_IF_ERROR(app_->CheckEvidence(evidence.validator, evidence.first.height, first_block));
  if (!ValidatorsAt(evidence.first.height).IndexOf(evidence.validator)) {
    return Status::InvalidArgument("evidence names a key outside the set of its height");
  }
  if (pending_evidence_.count({evidence.validator, evidence.first.height}) != 0) {
    return Status::AlreadyExists("this evidence is kept already");
  }
  if (pending_evidence_.size() >= kPendingEvidenceMax) {
    return Status::ResourceExhausted("too much evidence pending");
  }
  if (!pending_evidence_.emplace(std::make_pair(evidence.validator, evidence.first.height), evidence)
           .second) {
    return Status::AlreadyExists("this evidence is kept already");
  }
  return Status::Ok();
}

}  // namespace agora::consensus
