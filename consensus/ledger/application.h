// What the chain asks of a ledger application, and what it hands it.
//
// A decided block runs as BeginBlock(ctx) -> DeliverTx(tx)... -> EndBlock()
// -> Commit(batch) -> Committed() (PROTOCOL.md §2, docs/ledger.md). Nothing a
// reader of the application sees changes before Committed(): the block's
// state changes only go into the batch, which the chain writes together with
// the block, atomically and synced. A crash anywhere before that leaves the
// last committed state; Abandon() drops a block that was not written.
//
// Thread safety: not thread-safe; the chain calls it from one thread.
#ifndef AGORA_CONSENSUS_LEDGER_APPLICATION_H_
#define AGORA_CONSENSUS_LEDGER_APPLICATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/address.h"
#include "common/hash.h"
#include "common/keys.h"
#include "common/kv.h"
#include "common/state_tree.h"
#include "common/status.h"
#include "consensus/ledger/params.h"
#include "consensus/ledger/state_buffer.h"
#include "consensus/ledger/tx.h"
#include "consensus/types.h"
#include "consensus/validator_set.h"

namespace agora::consensus {

// Why a transaction in a block did nothing (beyond paying its fee). Codes
// are part of the ledger's rules: they are committed in results_hash and
// served over RPC, never renumbered.
enum class TxCode : uint32_t {
  kOk = 0,
  kBadNonce = 1,
  kInsufficientFunds = 2,
  kFeeTooLow = 3,
  kBadSignature = 4,
  kInvalidMessage = 5,   // the message does not apply to this sender or state
  kNotValidator = 6,     // the sender operates no validator
  kJailed = 7,           // jailed or tombstoned
  kStakeTooLow = 8,      // below validator_stake_min
  kAlreadyExists = 9,    // a validator or key that exists already
  kOverflow = 10,        // a balance or total would pass 2^62
  kNotFound = 11,        // no such proposal (or other record the message names)
  kWrongPhase = 12,      // the record is not in a state that takes this message
  kNoStake = 13,         // the sender has no bonded stake (voting needs it)
  kLimitReached = 14,    // a bound on entries (voters, depositors) is reached
  kNotAssigned = 15,     // the task or slot is assigned to another account
  kBadProof = 16,        // a Merkle or VRF proof does not match the commitment
};
std::string_view TxCodeName(TxCode code);

// Attributes in the order the handler adds them; both are committed.
struct Event {
  std::string type;
  std::vector<std::pair<std::string, std::string>> attributes;
};

struct TxResult {
  Hash256 hash;
  TxCode code = TxCode::kOk;
  std::string log;  // what went wrong, for people; not committed
  std::vector<Event> events;
  // The fee was paid and the nonce used (the ante step passed), whatever
  // the message then did.
  bool charged = false;
};

// The result of a refused message: its code and, for people, what went
// wrong and what to do next.
inline TxResult Refuse(TxCode code, std::string log) {
  TxResult r;
  r.code = code;
  r.log = std::move(log);
  return r;
}

// results_hash: BLAKE2b-256 over, for each transaction in order, its id,
// its code and its events, then the events of BeginBlock and EndBlock
// (slashes, jailings, unbondings, set changes); docs/ledger.md has the
// exact bytes.
Hash256 ResultsHash(const std::vector<TxResult>& results, const std::vector<Event>& block_events);

// A double sign that the chain has verified: two signed votes of one
// validator for the same height, round and type, different blocks, by a
// validator of the set at that height, no older than evidence_age_blocks_max.
struct VerifiedEvidence {
  Evidence evidence;
  uint64_t power = 0;  // the validator's power at evidence.first.height
};

struct BlockContext {
  uint64_t height = 0;
  uint64_t time_unix_ms = 0;
  Address proposer;       // the header's: the address of the proposer's consensus key
  PublicKey proposer_key;  // that key
  Hash256 beacon;  // beacon_h = H(beacon_{h-1} || vrf_output_h), PROTOCOL.md §4
  std::vector<VerifiedEvidence> evidence;
  // The validators of height - 1 (empty at height 1) and, per validator,
  // whether its signature is in this block's last commit.
  std::vector<std::pair<PublicKey, bool>> last_commit_signers;
};

// The validator set that applies from `height` on, until the next change.
struct SetChange {
  uint64_t height = 0;
  std::vector<Validator> validators;  // ordered by consensus key; priorities 0
};

// Changes to the validator schedule made by a block at height h: new or
// rewritten entries, each effective at h + 3 or later, so no node has used
// the set of any height they touch (a node looks at most one height past
// the one it is deciding).
struct EndBlockResult {
  std::vector<SetChange> set_changes;
  std::vector<Event> events;
};
inline constexpr uint64_t kSetChangeDelayMin = 3;

// An account as the mempool needs it.
struct AccountState {
  uint64_t balance_uagr = 0;
  uint64_t nonce = 0;  // transactions executed; the next one must carry this nonce
};

// What admission needs to know of a transaction: who pays, in what order,
// and the most it can take from the sender (fee included).
struct TxCheck {
  Address sender;
  uint64_t nonce = 0;
  uint64_t fee_uagr = 0;
  uint64_t debit_uagr_max = 0;
};

// The sums conservation is about, read from committed state.
struct Totals {
  uint64_t supply = 0;
  uint64_t burned = 0;
  uint64_t balances = 0;
  uint64_t bonded = 0;
  uint64_t unbonding = 0;
  uint64_t deposits = 0;  // governance deposits held
  uint64_t escrow = 0;    // jobs' escrow and the validators' fees held
};

class Application {
 public:
  virtual ~Application() = default;
  // Loads committed state after a restart.
  virtual Status Load() = 0;
  // Stateless and committed-state checks for the mempool: form, fee, a
  // nonce not yet used, a balance that covers fee plus debit.
  virtual Result<TxCheck> CheckTx(const Tx& tx) = 0;
  virtual AccountState Account(const Address& address) = 0;

  virtual void BeginBlock(const BlockContext& ctx) = 0;
  // REQUIRES: the signature has been verified.
  virtual TxResult DeliverTx(const Tx& tx) = 0;
  virtual EndBlockResult EndBlock() = 0;
  // Adds the block's state changes to `batch`; returns the new app hash.
  virtual Result<Hash256> Commit(WriteBatch* batch) = 0;
  // The batch was written: the block's state becomes the committed state.
  virtual void Committed() = 0;
  // The block was not written; forget it.
  virtual void Abandon() = 0;

  // The hash of the committed state.
  virtual Hash256 AppHash() const = 0;
  // The beacon after the last committed block (the genesis beacon before
  // any block).
  virtual Hash256 Beacon() = 0;
  // Every validator-set change from genesis on, in height order.
  virtual std::vector<SetChange> ValidatorSchedule() = 0;
  // The change in force at `height` and every later one, in height order,
  // read without the whole history.
  virtual std::vector<SetChange> ValidatorScheduleFrom(uint64_t height) = 0;
  // The parameters in force (committed state).
  virtual Params CurrentParams() = 0;
  // OK iff a block at `block_height` may carry evidence of a double sign
  // by `validator` at `vote_height`: not older than evidence_age_blocks_max,
  // by a validator this ledger knows and has not tombstoned. The chain
  // checks the signatures and the set.
  virtual Status CheckEvidence(const PublicKey& validator, uint64_t vote_height,
                               uint64_t block_height) = 0;

  // Read-only views for queries (RPC): committed state, the tree that
  // proves it, and the conservation totals.
  virtual StateReader& committed() = 0;
  virtual StateTree& tree() = 0;
  virtual Totals ReadTotals() = 0;
};

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_LEDGER_APPLICATION_H_
