// The dispute module of the ledger (PROTOCOL.md §8, docs/dispute.md): a
// fail verdict (end state, losses or delta), contested by the task's provider
// (or upheld by the verdict's validator), is settled by bisection down to a
// single step and then a single operator of that step, which a few drawn
// validators recompute.
//
// The game, between the provider P and the validator V of the verdict:
//   open         OpenDispute by P or V while the slot is pending: the
//                segment's start (agreed) and P's committed end (disputed),
//                proved against the task's checkpoint root. The slot waits.
//   steps        while more than one step is in dispute, P posts the state
//                hash at the midpoint (action state) and V agrees (the lower
//                half is agreed) or disagrees (the upper half is dropped).
//   operators    one step j is left, from an agreed state to P's claim. Its
//                trace chain has N + 2 leaves (verify/dispute.h; N from the
//                job's model shape); leaf 0 follows from the agreed state
//                and leaf N + 1 from P's claim. P posts the leaf at the
//                midpoint (action leaf), V agrees or disagrees, until leaf m
//                is disputed and leaf m - 1 agreed.
//   reveal       m <= N: P reveals record m, which must link leaf m - 1 to
//                its leaf m; V reveals its own record m. The same call (op,
//                arguments, inputs) with other outputs goes to operator
//                referees; anything else (a different call, or m = N + 1:
//                the records agree but the end state does not) to step
//                referees.
//   referees     dispute.referee_count validators (never P or V) drawn in
//                EndBlock from the next block's beacon vote a digest:
//                verify::OutputsDigest of the operator's outputs recomputed
//                with the reference kernels, or verify::StepDigest of the
//                states at both ends of step j replayed from the segment's
//                start. A majority for P's digest: V loses; a majority for
//                any other: P loses. No majority by dispute.move_blocks:
//                those that did not vote lose verify.slash_missed_ppm and a
//                new set is drawn, at most dispute.referee_draws_max times
//                (never one of the set before, unless nobody else is
//                eligible); then the dispute ends undecided and the slot
//                goes on as if there had been none.
//   deadlines    every move is due dispute.move_blocks after the last; the
//                party whose turn it is when it passes loses.
//   the loser    P: the slot fails as fraud (its collateral, half to the
//                first fail's validator). V: it loses
//                verify.slash_false_claim_ppm of its stake, half to P, and
//                its verdict is overturned; the slot goes on.
// A fail for the losses or for the delta skips the bisection: the ledger
// holds the provider's claim (its committed losses, its delta hash), so the
// dispute opens with its referees, who replay the segment's C steps
// (verify::LossesDigest of their losses) or recompute the delta from the
// task's checkpoint 0 and final checkpoint (verify::DeltaDigest); for the
// delta, OpenDispute proves those two checkpoints instead of the segment's.
// A verdict is disputed at most once. Moves are at most
// 2 ceil(log2 C) + 2 ceil(log2 (N + 1)) + 2, each a hash or one record.
// A dispute whose task was settled otherwise meanwhile (another slot's
// fraud, a new commitment after a reassignment) is moot: moves and votes
// are refused and it closes undecided at its deadline, touching nothing.
// A native-tier job's fails are not bisected (its operators cannot be
// recomputed with the exact kernels): referees of its class replay the
// segment (RefereeKind::kStep over it) or its losses, or recompute the
// delta; opening is refused where fewer than dispute.referee_count
// validators besides both sides fit the job.
//
// State:
//   dispute/next                          u64, the next id (from 1)
//   dispute/rec/<id u64>                  DisputeRecord
//   dispute/verdict/<task><root><slot u32><verdict u32>   id (disputed once)
//   dispute/open/<id u64>                 "" while not closed
//   dispute/due/<height u64><id u64>      ""
//
// Thread safety: free functions over the caller's buffer.
#ifndef AGORA_CONSENSUS_LEDGER_DISPUTE_H_
#define AGORA_CONSENSUS_LEDGER_DISPUTE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/hash.h"
#include "consensus/ledger/application.h"
#include "consensus/ledger/marketplace.h"
#include "consensus/ledger/params.h"
#include "consensus/ledger/state_buffer.h"
#include "consensus/ledger/tx.h"

namespace agora::consensus::dispute {

enum class Phase : uint32_t {
  kSteps = 1,
  kOperators = 2,
  kRecordProvider = 3,
  kRecordValidator = 4,
  kReferees = 5,
  kClosed = 6,
  kReveal = 7,  // the referees voted; each now shows the witness it sealed
};
std::string_view PhaseName(Phase phase);

enum class Outcome : uint32_t { kOpen = 0, kProviderLost = 1, kValidatorLost = 2, kUndecided = 3 };
std::string_view OutcomeName(Outcome outcome);

// kLosses and kDelta: a fail for the losses or for the delta, disputed,
// goes to its referees at once (no bisection: docs/dispute.md).
enum class RefereeKind : uint32_t { kNone = 0, kOperator = 1, kStep = 2, kLosses = 3, kDelta = 4 };

struct RefereeVoteRecord {
  Address referee;
  Hash256 digest;
  uint64_t height = 0;
  Hash256 seal;                    // RefereeSeal(dispute, witness, referee)
  std::optional<Hash256> witness;  // once revealed
};

// What a referee's vote carries in place of its witness until the reveal:
// BLAKE2b-256("agora-referee-seal-v1" || dispute id (u64) || witness ||
// referee). Bound to its sender, so nobody can copy another's vote; the
// witness (verify::RefereeWitness) is something only the recompute yields,
// so a referee that copies a party's public digest cannot match the
// honest referees' pair (docs/dispute.md, "Sealed witnesses").
Hash256 RefereeSeal(uint64_t dispute_id, const Hash256& witness, const Address& referee);

struct Dispute {
  uint64_t id = 0;
  marketplace::TaskId task;
  uint32_t slot = 0;
  uint32_t verdict = 0;
  Address provider, validator, opener;
  uint32_t segment = 0;
  Hash256 segment_start;
  Phase phase = Phase::kSteps;
  uint64_t step_lo = 0, step_hi = 0;  // steps of the task
  Hash256 lo_hash, hi_hash;           // agreed at step_lo; P's claim at step_hi
  std::optional<Hash256> pending;     // P's posted hash awaiting V's answer
  uint64_t records = 0;               // N
  uint64_t op_lo = 0, op_hi = 0;      // leaves of the chain of step step_hi
  Hash256 op_lo_leaf;
  std::optional<Hash256> op_hi_leaf;  // none while op_hi = N + 1
  Bytes record_provider, record_validator;
  RefereeKind referee_kind = RefereeKind::kNone;
  Hash256 digest_provider, digest_validator;
  std::vector<Address> referees;
  std::vector<RefereeVoteRecord> votes;
  uint32_t referee_draws = 0;
  uint64_t due_height = 0;
  uint64_t opened_height = 0;
  uint64_t closed_height = 0;
  uint32_t moves = 0;
  uint64_t bytes_moved = 0;  // hashes and records the moves put on the ledger
  Outcome outcome = Outcome::kOpen;
  std::string reason;
  Hash256 checkpoint_root;  // the commitment disputed

  // Whose move it is (P or V) in the bisection and reveal phases; none in
  // the referees' phase or once closed.
  std::optional<Address> turn() const;
  // The step or leaf whose value the provider posts next.
  uint64_t step_mid() const { return step_lo + (step_hi - step_lo) / 2; }
  uint64_t op_mid() const { return op_lo + (op_hi - op_lo) / 2; }
};

std::optional<Dispute> GetDispute(StateReader& state, uint64_t id);
// Disputes in id order from `from_id`, at most `limit`.
std::vector<Dispute> Disputes(StateReader& state, uint64_t from_id, size_t limit);
// The disputes not closed, in id order, at most `limit` (an index).
std::vector<Dispute> OpenDisputes(StateReader& state, size_t limit);

TxResult HandleOpenDispute(StateBuffer& state, const Params& params, uint64_t height,
                           const Address& sender, const MsgOpenDispute& msg);
TxResult HandleDisputeMove(StateBuffer& state, const Params& params, uint64_t height,
                           const Address& sender, const MsgDisputeMove& msg);
TxResult HandleRefereeVote(StateBuffer& state, const Params& params, uint64_t height,
                           const Address& sender, const MsgRefereeVote& msg);
TxResult HandleRefereeReveal(StateBuffer& state, const Params& params, uint64_t height,
                             const Address& sender, const MsgRefereeReveal& msg);

// End of block, before verification's (a dispute decided here settles its
// slot in this block): referee draws and missed deadlines due at `height`.
void EndBlock(StateBuffer& state, const Params& params, uint64_t height, const Hash256& beacon,
              std::vector<Event>* events);

}  // namespace agora::consensus::dispute

#endif  // AGORA_CONSENSUS_LEDGER_DISPUTE_H_
