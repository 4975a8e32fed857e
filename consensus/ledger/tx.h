// Transactions of the ledger: decoding untrusted bytes into a checked Tx
// with one typed message, signature verification with a cache, and building
// signed transactions.
//
// Thread safety: free functions are thread-safe; SignatureCache is
// internally synchronized.
#ifndef AGORA_CONSENSUS_LEDGER_TX_H_
#define AGORA_CONSENSUS_LEDGER_TX_H_

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "common/address.h"
#include "common/bytes.h"
#include "common/hash.h"
#include "common/keys.h"
#include "common/status.h"
#include "common/vrf.h"
#include "market/job_spec.h"

namespace agora::proto {
class JobSpec;
}  // namespace agora::proto

namespace agora::consensus {

// 64 KiB: a CommitTask carries H losses (docs/verify.md); the smallest
// block allowed (consensus.block_bytes_max) still holds one.
inline constexpr size_t kTxBytesMax = 64 * 1024;
// Amounts are micro-AGR; no balance or amount may exceed this (2^62), so a
// sum of two never overflows a uint64.
inline constexpr uint64_t kAmountUagrMax = uint64_t{1} << 62;

inline constexpr size_t kMonikerBytesMax = 64;

// The typed messages, one per module (docs/ledger.md). Decoding checks
// their form; the module's handler checks them against state.
struct MsgTransfer {  // bank
  Address to;
  uint64_t amount_uagr = 0;
};
struct MsgStake {  // staking
  uint64_t amount_uagr = 0;
};
struct MsgUnstake {  // staking
  uint64_t amount_uagr = 0;
};
struct MsgCreateValidator {  // staking
  PublicKey consensus_key;
  std::string moniker;
  Signature possession;  // ProvePossession(consensus key, chain, operator)
};
struct MsgUnjail {};  // slashing

// Governance (docs/governance.md). Decoding checks that every change names
// a known parameter with a value inside its bounds, each parameter once.
inline constexpr size_t kProposalChangesMax = 16;
inline constexpr size_t kProposalTitleBytesMax = 140;
inline constexpr size_t kJobTitleBytesMax = 80;
// The largest deadline bound a job may set (market.job_open_blocks_max's
// upper bound): a bound that large bounds nothing.
inline constexpr uint64_t kDeadlineBlocksMax = 10'000'000;
// Ok for a job title DecodeTx accepts (UTF-8 validity aside, which the
// protobuf parser checks): at most kJobTitleBytesMax bytes, no control or
// bidi-override characters. The CLI checks before uploading anything.
Status CheckJobTitle(std::string_view title);
inline constexpr size_t kProposalTextBytesMax = 2000;
struct ParamChange {
  std::string name;  // "<module>.<name>", as `agora query params` lists them
  uint64_t value = 0;
  friend bool operator==(const ParamChange&, const ParamChange&) = default;
};
struct MsgSubmitProposal {  // gov
  std::vector<ParamChange> changes;
  std::string title;
  std::string text;
  uint64_t deposit_uagr = 0;
  uint64_t effective_height = 0;
};
struct MsgDeposit {  // gov
  uint64_t proposal_id = 0;
  uint64_t amount_uagr = 0;
};
enum class VoteOption : uint8_t { kYes = 1, kNo = 2, kAbstain = 3, kVeto = 4 };
std::string_view VoteOptionName(VoteOption option);
struct MsgVote {  // gov
  uint64_t proposal_id = 0;
  VoteOption option = VoteOption::kYes;
  // A voter of this proposal whose bonded stake has fallen below the voter
  // minimum (1/kVotersMax of the bonded stake): its vote is removed and its
  // slot given to this one, so that voters who unstaked after voting cannot
  // keep the kVotersMax slots of a proposal (docs/governance.md).
  std::optional<Address> evict = std::nullopt;
};

// Market (docs/market.md). Decoding checks the offer's and the spec's form.
inline constexpr uint32_t kProviderCapacityMax = 1024;
inline constexpr size_t kBlobEndpointBytesMax = 256;
struct ProviderOffer {
  market::HardwareClass hardware = market::HardwareClass::kCpu;
  uint64_t speed_wu_per_s = 0;
  uint32_t capacity_tasks = 0;
  uint64_t ask_uagr_per_wu = 0;
  std::string blob_endpoint;
  friend bool operator==(const ProviderOffer&, const ProviderOffer&) = default;
};
struct MsgRegisterProvider {  // market
  ProviderOffer offer;
};
struct MsgUpdateProvider {  // market
  ProviderOffer offer;
};
struct MsgDeregisterProvider {};  // market
struct MsgPostJob {               // market
  market::JobSpec spec;
  uint64_t budget_uagr = 0;
  uint64_t price_max_uagr_per_wu = 0;
  std::string title;  // 0..kJobTitleBytesMax bytes of printable text
  // The most blocks a task may be given; 0: no bound. At most
  // kDeadlineBlocksMax.
  uint64_t deadline_blocks_max = 0;
};
struct MsgCancelJob {  // market
  uint64_t job_id = 0;
};

// Verification (docs/verify.md). A commit carries at most
// market::kInnerStepsMax losses. Decoding checks sizes: 32-byte hashes,
// an 80-byte VRF proof or none, proofs of whole hashes, a known outcome.
enum class VerdictOutcome : uint32_t { kPass = 1, kFail = 2, kUnavailable = 3 };
enum class FailReason : uint32_t { kNone = 0, kEndState = 1, kLosses = 2, kDelta = 3 };
struct MsgCommitTask {  // verify
  uint64_t job_id = 0;
  uint32_t round = 0;
  uint32_t worker = 0;
  Hash256 checkpoint_root;
  Hash256 delta_hash;
  std::vector<uint32_t> losses;       // float32 bits
  std::vector<Hash256> start_proof;   // Merkle siblings of checkpoint 0
};
struct MsgVerdict {  // verify
  uint64_t job_id = 0;
  uint32_t round = 0;
  uint32_t worker = 0;
  uint32_t slot = 0;
  std::optional<VrfProof> vrf_proof;
  VerdictOutcome outcome = VerdictOutcome::kPass;
  FailReason reason = FailReason::kNone;
  Hash256 start_hash, committed_end, final_hash, replayed_end, witness_hash;
  std::vector<Hash256> start_proof, end_proof, final_proof;
  std::vector<uint32_t> losses;
};
struct MsgRoundResult {  // verify
  uint64_t job_id = 0;
  uint32_t round = 0;
  // Set on a round's first result, which carries nothing else.
  std::optional<Hash256> commitment;
  Hash256 params_hash;
  uint32_t validation_loss = 0;         // float32 bits
  std::vector<Hash256> start_hashes;    // K for a round < R, none for round R
  // Instead of values: a blob the record needs that the sender could not
  // fetch, the job's dataset or the delta of task (unavailable_round,
  // unavailable_worker), a passed task of an earlier round. Two such results
  // and no values abandon the record (the job fails and is refunded); the
  // sender is not fined for missing.
  std::optional<Hash256> unavailable = std::nullopt;
  uint32_t unavailable_round = 0;
  uint32_t unavailable_worker = 0;
};

// Disputes (docs/dispute.md). Decoding checks sizes and the action's
// fields; the game's rules are the dispute module's.
struct MsgOpenDispute {  // dispute
  uint64_t job_id = 0;
  uint32_t round = 0;
  uint32_t worker = 0;
  uint32_t slot = 0;
  uint32_t verdict = 0;
  Hash256 start_hash, committed_end;
  std::vector<Hash256> start_proof, end_proof;
};
enum class DisputeAction : uint32_t {
  kState = 1,
  kAgree = 2,
  kDisagree = 3,
  kLeaf = 4,
  kRecord = 5,
};
// The largest encoded operator record a move may carry (a record has at
// most a few dozen hashes and integers).
inline constexpr size_t kDisputeRecordBytesMax = 4096;
struct MsgDisputeMove {  // dispute
  uint64_t dispute_id = 0;
  DisputeAction action = DisputeAction::kState;
  Hash256 hash;  // kState, kLeaf
  Bytes record;  // kRecord
};
struct MsgRefereeVote {  // dispute
  uint64_t dispute_id = 0;
  Hash256 digest;
  Hash256 seal;  // dispute::RefereeSeal(dispute_id, witness, sender)
};

struct MsgRefereeReveal {  // dispute
  uint64_t dispute_id = 0;
  Hash256 witness;
};

// What a validator can replay (verify). Decoding checks the classes (1..4
// distinct known names, kept in ascending order) and the bound.
inline constexpr uint64_t kReplayParamsMax = uint64_t{1} << 40;
struct MsgSetReplayProfile {
  std::vector<market::HardwareClass> classes;
  uint64_t params_max = 0;  // 0: no bound
};

using Msg = std::variant<MsgTransfer, MsgStake, MsgUnstake, MsgCreateValidator, MsgUnjail,
                         MsgSubmitProposal, MsgDeposit, MsgVote, MsgRegisterProvider,
                         MsgUpdateProvider, MsgDeregisterProvider, MsgPostJob, MsgCancelJob,
                         MsgCommitTask, MsgVerdict, MsgRoundResult, MsgOpenDispute,
                         MsgDisputeMove, MsgRefereeVote, MsgSetReplayProfile,
                         MsgRefereeReveal>;

// What CreateValidator carries to show the operator holds its consensus
// key: the key's signature, under this chain's domain (kind validator_key),
// over the operator's address. DecodeTx refuses a CreateValidator whose
// possession does not verify for its sender.
Signature ProvePossession(const SecretKey& consensus_key, std::string_view chain_id,
                          const Address& operator_address);
bool VerifyPossession(const PublicKey& consensus_key, std::string_view chain_id,
                      const Address& operator_address, const Signature& possession);

// A job spec from its wire form, checked in full (market::ValidateSpec), and
// back.
Result<market::JobSpec> DecodeJobSpec(const proto::JobSpec& p);
void EncodeJobSpec(const market::JobSpec& s, proto::JobSpec* p);

// "transfer", "stake", ...: the name RPC shows and events carry.
std::string_view MsgName(const Msg& msg);
// The most the message itself can take from the sender's balance (the fee
// comes on top): what the mempool reserves for it.
uint64_t MsgDebitMax(const Msg& msg);

// A decoded, well-formed transaction. Its signature is not yet verified.
struct Tx {
  Bytes raw;     // SignedTx bytes exactly as received
  Hash256 hash;  // the transaction id: BLAKE2b-256 of SignedTx.body
  Bytes body;
  PublicKey sender_key;
  Signature signature;
  Address sender;
  uint64_t nonce = 0;
  uint64_t fee_uagr = 0;
  Msg msg;
  // Set by mempool admission from Application::CheckTx: the most this
  // transaction can take from the sender, fee included.
  uint64_t debit_uagr_max = 0;
};

// Decodes `raw` strictly (canonical encoding, no unknown fields, at most
// kTxBytesMax) and checks its form: key and signature sizes, chain id,
// exactly one message whose fields are well-formed (20-byte addresses,
// 32-byte keys, amounts in 1..2^62, monikers of printable ASCII).
// Errors: InvalidArgument or Corruption with a message that says which part
// is wrong.
Result<Tx> DecodeTx(ByteSpan raw, std::string_view chain_id);

// Returns true iff the signature covers the body under `chain_id`.
bool VerifyTxSignature(const Tx& tx, std::string_view chain_id);

// Remembers what a node has already verified, so it verifies each
// signature once: transactions (mempool admission, then block execution),
// consensus signatures (a precommit checked as a vote, then again in the
// next block's commit) and VRF proofs (a block's beacon, checked again when
// the block is re-proposed or synced). Bounded: the oldest entries of each
// kind are forgotten first. Only what verified is remembered; a failure is
// always verified afresh. Thread-safe. The simulator shares one cache among
// its nodes, as its network verifies each distinct signature once.
class SignatureCache {
 public:
  static constexpr size_t kEntriesMax = 100'000;
  // Verifies through the cache: a hit needs the same body (hence the same
  // key) and the same signature; any other signature is verified afresh.
  bool Verify(const Tx& tx, std::string_view chain_id);
  // agora::Verify(key, domain, payload, signature), through the cache: a
  // hit needs the same key, domain, payload and signature.
  bool VerifySignature(const PublicKey& key, const SignDomain& domain, ByteSpan payload,
                       const Signature& signature);
  // agora::VrfVerify(key, proof, alpha), through the cache: a hit needs the
  // same key, proof and alpha, and returns the output the first check gave.
  Result<VrfOutput> VerifyVrf(const PublicKey& key, const VrfProof& proof, ByteSpan alpha);
  // Checks answered from the cache, of all three kinds.
  uint64_t hits() const;

 private:
  // Forgets the oldest entries of `order` past kEntriesMax from `map`.
  template <typename Container>
  static void Trim(Container& map, std::deque<Hash256>& order);

  mutable std::mutex mu_;
  // Transaction id (the body's hash; the body names the key) -> the
  // signature that verified for it. Guarded by mu_.
  std::unordered_map<Hash256, Signature, KeyedHash256Hasher> verified_;
  std::deque<Hash256> order_;  // guarded by mu_
  // BLAKE2b of (key, signing bytes, signature) of each signature that
  // verified. Guarded by mu_.
  std::unordered_set<Hash256, KeyedHash256Hasher> signatures_;
  std::deque<Hash256> signature_order_;  // guarded by mu_
  // BLAKE2b of (key, proof, alpha) -> the output, for each proof that
  // verified. Guarded by mu_.
  std::unordered_map<Hash256, VrfOutput, KeyedHash256Hasher> vrfs_;
  std::deque<Hash256> vrf_order_;  // guarded by mu_
  uint64_t hits_ = 0;              // guarded by mu_
};

// A signed transaction carrying `msg`, ready to submit.
Bytes MakeTx(const SecretKey& key, std::string_view chain_id, uint64_t nonce, uint64_t fee_uagr,
             const Msg& msg);
// A signed transfer ready to submit.
Bytes MakeTransfer(const SecretKey& key, std::string_view chain_id, uint64_t nonce,
                   uint64_t fee_uagr, const Address& to, uint64_t amount_uagr);

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_LEDGER_TX_H_
