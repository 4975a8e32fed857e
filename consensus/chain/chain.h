// The chain: building, validating, executing and committing blocks over an
// Application, a BlockStore and a KvStore. It owns no socket, clock or
// thread: the caller hands it the time, and the node and the simulator
// drive it alike.
//
// A block at height h carries, besides its transactions: the commit of
// h - 1, the app hash and results hash after h - 1, the validators hash of
// h, the proposer's VRF output and proof over (beacon_{h-1} || h), and
// evidence of double signs (docs/ledger.md). Every field is size-checked and
// the whole block must fit consensus.block_bytes_max.
//
// Commit is two-phase so nothing in memory moves before the disk does:
// Execute() runs the block through the application and puts the block, its
// commit, its results and the new state into one batch; the caller writes
// the batch (synced) and then calls Committed().
//
// Thread safety: not thread-safe; one thread drives it.
#ifndef AGORA_CONSENSUS_CHAIN_CHAIN_H_
#define AGORA_CONSENSUS_CHAIN_CHAIN_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/keys.h"
#include "common/kv.h"
#include "common/vrf.h"
#include "consensus/chain/block.h"
#include "consensus/chain/block_store.h"
#include "consensus/core.h"
#include "consensus/ledger/application.h"
#include "consensus/ledger/tx.h"

namespace agora::consensus {

inline constexpr uint64_t kBlockTimeFutureMaxMs = 60'000;
inline constexpr size_t kEvidencePerBlockMax = 16;
inline constexpr size_t kPendingEvidenceMax = 256;
inline constexpr size_t kEvidenceBytesMax = 1024;  // one DuplicateVoteEvidence
// Validator sets of old heights are recomputed from the schedule, walking
// from height 1 (slow); this many are kept, at least half of them below the
// highest height asked for: more than evidence_age_blocks_max (at most
// 1,000) can reach back.
inline constexpr uint64_t kValidatorSetsKept = 2048;

// The VRF input of height h: beacon_{h-1} || h (8 bytes, big-endian).
Bytes BeaconAlpha(const Hash256& previous_beacon, uint64_t height);
// beacon_h = BLAKE2b-256(beacon_{h-1} || vrf_output_h).
Hash256 NextBeacon(const Hash256& previous_beacon, const VrfOutput& output);
Hash256 EvidenceHash(const proto::Block& block);
// A new block (valid_round -1) must name the proposer that signed the
// proposal: otherwise a later round's proposer could reuse an earlier
// round's header and VRF output at the same height, and choose among every
// beacon seen there. A re-proposal (valid_round >= 0) carries the header of
// the round that first proposed it, backed by that round's polka.
Status CheckProposer(const proto::BlockHeader& header, const PublicKey& signer,
                     int32_t valid_round);
proto::DuplicateVoteEvidence EvidenceToProto(const Evidence& evidence);
// Checks form and signatures only (same height, round and type, different
// blocks, both signed by the named key under `chain_id`).
Result<Evidence> EvidenceFromProto(const proto::DuplicateVoteEvidence& e,
                                   std::string_view chain_id);

class Chain final : public ValidatorSetSource {
 public:
  Chain(std::string chain_id, uint64_t genesis_time_unix_ms, KvStore* store, BlockStore* blocks,
        Application* app, SignatureCache* signatures);

  // Reads the validator schedule and the last results hash.
  Status Load();

  const ValidatorSet& ValidatorsAt(uint64_t height) override;
  uint64_t height() const { return blocks_->height(); }
  const std::string& chain_id() const { return chain_id_; }

  // A block for height() + 1 proposed by `proposer` at `now_ms`, carrying
  // `txs` (as many as fit the byte limit, in order) and pending evidence.
  // Its last commit is the stored commit of height() plus `late_precommits`
  // (precommits for that block and round that arrived after the decision,
  // signatures already checked): validators that were merely slower are
  // then not counted as absent by the downtime rule.
  // Returns the block and sets *included to the transactions it holds.
  Result<proto::Block> Propose(const SecretKey& proposer, uint64_t now_ms, std::vector<Tx> txs,
                               std::vector<Tx>* included,
                               const std::vector<Vote>& late_precommits = {});

  // Everything about a proposed block for height() + 1 that can be checked
  // before it is decided. On success *decoded (when given) holds its
  // transactions, signatures verified.
  Status ValidateBlock(const proto::Block& block, uint64_t now_ms, std::vector<Tx>* decoded);
  // The body (transactions, last commit, evidence) matches the header.
  Status BodyMatchesHeader(const proto::Block& block);
  Result<std::vector<Tx>> BlockTxs(const proto::Block& block);

  struct Executed {
    Hash256 hash;
    std::vector<TxResult> results;
    EndBlockResult end;
    Hash256 app_hash;
  };
  // Runs a decided block through the application and adds the block, its
  // commit, its results and the state changes to *batch. `txs` are
  // BlockTxs(block). Memory is unchanged until Committed().
  Result<Executed> Execute(const proto::Block& block, const proto::Commit& commit,
                           std::vector<Tx> txs, WriteBatch* batch);
  // The batch of the last Execute was written durably.
  void Committed(const proto::Block& block, const Executed& executed);
  // It was not; forget it.
  void Abandon();

  // Evidence seen by this node's consensus core or a peer: verified, kept
  // (bounded) until a block carries it or it is too old. AlreadyExists if
  // it is kept already.
  Status AddEvidence(const Evidence& evidence);
  // The checks of AddEvidence that need no signature: OutOfRange for a
  // height past those this node can check, AlreadyExists if evidence about
  // `validator` at `height` is kept already. A node runs them before it
  // verifies a peer's evidence, so resent evidence costs no verification.
  Status PrecheckEvidence(const PublicKey& validator, uint64_t height) const;
  size_t pending_evidence() const { return pending_evidence_.size(); }
  const Hash256& last_results_hash() const { return last_results_hash_; }

 private:
  Status ValidateHeaderFields(const proto::BlockHeader& h);
  Status ValidateEvidence(const proto::Block& block, uint64_t height,
                          std::vector<VerifiedEvidence>* verified);
  const std::vector<Validator>& ListAt(uint64_t height) const;

  std::string chain_id_;
  uint64_t genesis_time_unix_ms_;
  KvStore* store_;
  BlockStore* blocks_;
  Application* app_;
  SignatureCache* signatures_;

  std::vector<SetChange> schedule_;  // from the application, in height order
  std::deque<ValidatorSet> sets_;    // sets_[i] is the set of height base_ + i
  uint64_t base_ = 1;
  ValidatorSet scratch_;
  Hash256 last_results_hash_;
  // Pending evidence by (validator key, vote height): one piece each.
  std::map<std::pair<PublicKey, uint64_t>, Evidence> pending_evidence_;
};

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_CHAIN_CHAIN_H_
