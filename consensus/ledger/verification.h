// The verification module of the ledger (PROTOCOL.md §7, docs/verify.md):
// commitments, the validators sampled for each task, their verdicts,
// settlement into the market, and the record of each finished round.
//
// Life of a task once its provider is done:
//   CommitTask       the root over its checkpoints, its delta's hash, its H
//                    losses. The market's deadline stops (task: committed).
//   +delay blocks    EndBlock draws s validators by stake from that block's
//                    beacon, one per slot (task: verifying).
//   Verdict          a slot's first verdict carries the validator's VRF proof
//                    over the commitment (its output names the segment and
//                    the witness step), so neither the provider nor a
//                    proposer who withholds blocks can choose them. Until
//                    the slot has a standing pass, a verdict carries only a
//                    commitment to its witness hash (WitnessCommitment), so
//                    nobody can copy the first pass. Merkle proofs tie
//                    the start, end and final checkpoints to the root; a pass
//                    must replay to the committed end and losses.
//   resolution       one pass settles a slot unless the audit draw
//                    (verify.audit_ppm, from the next block's beacon, so the
//                    verdict's own proposer cannot know it) asks a second
//                    validator; a fail or an unavailable blob is confirmed
//                    by a second validator; on disagreement more are drawn
//                    (at most verify.draws_per_slot_max verdicts, unless a
//                    claim of unavailability stands), every draw from the
//                    next block's beacon. Outvoted verdicts (not
//                    "unavailable") lose verify.slash_false_claim_ppm of
//                    their stake; a drawn validator that misses its
//                    deadline loses verify.slash_missed_ppm and is replaced,
//                    and so does each "unavailable" claim on a slot that
//                    two agreeing passes settle (refuted).
//   fraud            unless two passes agree: at least two fail-like
//                    verdicts outnumbering the passes ("unavailable"
//                    counts only while nobody passed), or "unavailable"
//                    claims from more than a third of the power
//                    (ClaimsHoldMoreThanAThird); never before the
//                    provider's window to dispute a fail it rests on:
//                    marketplace::TaskFailed with half the collateral to the
//                    first validator that proved a fail (all burned when it
//                    rests on unavailable blobs); the task is reassigned.
//   payment          every slot passed, then verify.dispute_window_blocks:
//                    marketplace::TaskPassed, and the validators' fee goes to
//                    the validators whose verdicts settled its slots.
//   round            the record of round r is the weights the job holds at
//                    its start: round 0's (the seed's initialization) is
//                    drawn when the job is posted, round r + 1's when all K
//                    tasks of round r passed. Validators are drawn one at a
//                    time; the first sends only a commitment, a later one
//                    the values (weights' hash, validation loss, checkpoint
//                    0 of each of the round's tasks); one that matches an
//                    earlier result records them, which starts the round in
//                    the market (round R: the job finishes) and pays the
//                    matching aggregators the fee the round's tasks set
//                    aside on the job (verify.aggregation_fee_ppm of their
//                    validators' fee; refunded if the job ends first). A
//                    commit must prove that its checkpoint 0 is the
//                    recorded start hash of its worker. No agreement in
//                    verify.draws_per_slot_max results: the job fails and
//                    is refunded (the record's fee too, as when the job
//                    ends before its record).
// A sampled validator that misses verify.verdict_blocks is replaced and
// loses verify.slash_missed_ppm of its stake.
//
// State (docs/verify.md):
//   verify/commit/<job u64><round u32><worker u32>          CommitRecord
//   verify/slot/<job><round><worker><slot u32>              SlotRecord
//   verify/agg/<job u64><round u32>                         AggregationRecord
//   verify/due/<height u64><kind u8><job><round><worker><slot>   ""
//
// Thread safety: free functions over the caller's buffer.
#ifndef AGORA_CONSENSUS_LEDGER_VERIFICATION_H_
#define AGORA_CONSENSUS_LEDGER_VERIFICATION_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/address.h"
#include "common/hash.h"
#include "consensus/ledger/application.h"
#include "consensus/ledger/marketplace.h"
#include "consensus/ledger/params.h"
#include "consensus/ledger/state_buffer.h"
#include "consensus/ledger/tx.h"

namespace agora::consensus::verification {

using marketplace::TaskId;

struct Commitment {
  Address provider;
  Hash256 checkpoint_root;
  Hash256 delta_hash;
  uint64_t height = 0;
  std::vector<uint32_t> losses;  // float32 bits, H of them
  uint32_t slots = 0;
  uint32_t slots_passed = 0;
  uint64_t settle_height = 0;  // 0 until every slot passed
};

struct VerdictRecord {
  Address validator;
  VerdictOutcome outcome = VerdictOutcome::kPass;
  FailReason reason = FailReason::kNone;
  Hash256 replayed_end, witness_hash;
  uint64_t height = 0;
  // Its validator lost a dispute over it, or the dispute ended undecided: it
  // counts for nothing.
  bool overturned = false;
};

enum class SlotState : uint32_t { kPending = 0, kPassed = 1, kFailed = 2 };

// "Unavailable" verdicts fail a slot as fraud (unless two passes agree),
// or abandon a round record (unless values were committed), by themselves
// only when ClaimsHoldMoreThanAThird. A fail can be disputed, a claim of
// unavailability cannot: a count alone let colluders drawn in a row frame
// an honest provider (two claims until 2026-12-04, three until
// 2026-12-05); the chain already assumes less than a third of the power is
// Byzantine, so a group holding more has an honest member who could not
// fetch. Until then a slot with a claim standing draws past its cap; when
// every eligible validator has answered with no pass it fails
// (CloseUnresolved: withholding must never pay), which is where a job only
// a few validators may replay (replay profiles) rests on those few.
inline constexpr size_t kUnavailableClaimsMin = 2;

// Whether at least kUnavailableClaimsMin distinct validators among
// `claimers` with power in the consensus set in force at `height` together
// hold more than a third of its total power (others count for nothing).
bool ClaimsHoldMoreThanAThird(StateReader& state, uint64_t height,
                              const std::vector<Address>& claimers);

struct Slot {
  bool chosen = false;  // segment and witness named by the first verdict's VRF
  uint32_t segment = 0;
  uint32_t witness_step = 0;
  std::optional<Address> assignee;  // whose verdict is awaited
  uint64_t due_height = 0;
  uint32_t draws = 0;
  SlotState state = SlotState::kPending;
  std::vector<VerdictRecord> verdicts;
  std::vector<Address> missed;  // drawn, did not answer in time
  uint64_t dispute = 0;         // an open dispute (docs/dispute.md): the slot waits for it
};

struct RoundResultRecord {
  Address validator;
  Hash256 params_hash;           // zero for a commitment
  uint32_t validation_loss = 0;  // float32 bits
  uint64_t height = 0;
  Hash256 digest;                // RoundResultDigest; zero for a commitment
  std::optional<Hash256> commitment;  // sealed: it agreed with no commitment before it
  // A blob the record needs that this validator could not fetch: no values,
  // neither paid nor slashed (MsgRoundResult::unavailable).
  std::optional<Hash256> unavailable;
};

// The weights a job holds at the start of `round` (round R: the final
// weights), once two results agree.
struct RoundRecord {
  uint64_t job = 0;
  uint32_t round = 0;
  std::vector<Address> assignees;
  uint64_t due_height = 0;
  uint32_t draws = 0;
  std::vector<RoundResultRecord> results;
  bool recorded = false;
  Hash256 params_hash;
  uint32_t validation_loss = 0;
  uint64_t recorded_height = 0;
  std::vector<Hash256> start_hashes;  // checkpoint 0 of each task; none for round R
  uint64_t fee_uagr = 0;              // paid to the results that record it
  bool abandoned = false;             // no two results agreed, or the job ended first
  std::vector<Address> missed;        // drawn, did not answer in time
};

// The canonical bytes naming a task (job u64, round u32, worker u32, big
// endian): the sampling streams' and the VRF input's task field.
Bytes TaskBytes(const TaskId& id);
// What a slot's first validator proves its VRF over:
// "agora-verify-segment-v1" || task || checkpoint root || slot (u32).
Bytes SegmentVrfInput(const TaskId& id, const Hash256& checkpoint_root, uint32_t slot);

// What a verdict carries in place of its witness hash (when C > 1) unless
// the witness opens an earlier sealed pass (WitnessToSend):
// BLAKE2b-256("agora-verify-witness-v1" || witness || validator). A pass
// agrees with a sealed one only by replaying to the state it sealed;
// nobody can copy a seal from the chain.
Hash256 WitnessCommitment(const Hash256& witness, const Address& validator);
// Whether each verdict's witness hash is a seal rather than a witness in the
// clear. A verdict is in the clear when its witness opens the seal of an
// earlier sealed standing pass with the same replayed end; whatever else it
// sent is taken as a seal. So a witness is public only in a pass that
// agrees with a seal, and two passes agree only as (seal, opening): a
// witness in the clear is worth nothing to copy (until 2026-12-04 every
// pass after the first standing one was in the clear and two of them could
// agree, so after a colluder's pass a lazy validator could copy it).
std::vector<bool> SealedWitnesses(const Slot& s);
// What a verdict replaying to `replayed_end` with `witness` sends as its
// witness hash: the witness when it opens an earlier sealed pass of the slot,
// else WitnessCommitment(witness, sender); zeros stay zeros (C = 1).
Hash256 WitnessToSend(const Slot& s, const Hash256& replayed_end, const Hash256& witness,
                      const Address& sender);

// What two round results must agree on: BLAKE2b-256("agora-round-result-v1"
// || params hash || validation loss bits (u32) || start hashes).
Hash256 RoundResultDigest(const Hash256& params_hash, uint32_t validation_loss,
                          const std::vector<Hash256>& start_hashes);
// What a round result carries instead of its values unless they open an
// earlier result's commitment: BLAKE2b-256("agora-round-commit-v1" ||
// digest || validator). A later result agrees with it only by computing the
// same values. Values are in the clear only in the result that records the
// round (the one that opens a commitment), so no result can be copied from
// the chain while the record is open (until 2026-12-04 every result after
// the first was in the clear, and one drawn after a mismatch could copy a
// wrong one into an agreeing pair).
Hash256 RoundResultCommitment(const Hash256& digest, const Address& validator);
// Whether values with `digest` open the commitment of one of `results`
// (then they go in the clear, and record the round).
bool OpensARoundCommitment(const std::vector<RoundResultRecord>& results, const Hash256& digest);

// The record of the weights `job` holds at the start of `round` opens in
// the EndBlock of height + 1, which draws its first aggregator: round 0's
// when the job is posted, round r + 1's when every task of round r passed.
void ScheduleRoundRecord(StateBuffer& state, uint64_t height, uint64_t job, uint32_t round);
// A task was paid at `height`: when every task of its round has passed, the
// record of the next round's start is scheduled (ScheduleRoundRecord).
void TaskPaid(StateBuffer& state, uint64_t height, const TaskId& id);

std::optional<Commitment> GetCommitment(StateReader& state, const TaskId& id);
// The task's slots in order (none before sampling).
std::vector<Slot> GetSlots(StateReader& state, const TaskId& id, uint32_t slots);
std::optional<RoundRecord> GetRound(StateReader& state, uint64_t job, uint32_t round);
// Every round of the job with an aggregation record, in round order.
std::vector<RoundRecord> RoundsOf(StateReader& state, uint64_t job, size_t limit);

TxResult HandleCommitTask(StateBuffer& state, const Params& params, uint64_t height,
                          const Address& sender, const MsgCommitTask& msg);
// Neither draws anything: every draw happens in EndBlock, from a beacon
// that did not exist when the message was included. HandleVerdict checks
// the first verdict's VRF proof through `vrfs` when it is not null.
TxResult HandleVerdict(StateBuffer& state, const Params& params, uint64_t height,
                       const Address& sender, const MsgVerdict& msg, SignatureCache* vrfs);
TxResult HandleRoundResult(StateBuffer& state, const Params& params, uint64_t height,
                           const Address& sender, const MsgRoundResult& msg);

// For the dispute module (docs/dispute.md).
// Marks slot `slot` of `id` as waiting for dispute `dispute` (0: none).
void SetSlotDispute(StateBuffer& state, const TaskId& id, uint32_t slot, uint64_t dispute);
enum class DisputeResult { kProviderLost, kProviderForfeited, kValidatorLost, kUndecided };
// Dispute `dispute` over commitment `checkpoint_root` of the slot ended.
// kProviderLost: the slot fails (fraud, half the collateral to the first
// fail's validator) and its passes are outvoted; kProviderForfeited (the
// provider missed a move): the same, but no pass is outvoted, since a
// missed move proves nothing about the segment; kValidatorLost: `validator`'s verdict is overturned (it
// counts for nothing) and the slot goes on; kUndecided: the disputed fail
// counts for nothing, nobody is slashed, and the slot goes on (a fail left
// standing by referees who could not decide let a colluder's claim make
// fraud at once until 2026-12-05). Nothing at all unless the slot is still the
// one disputed (same commitment, marked with this dispute); only the mark is
// cleared when the task is no longer being verified.
// `opened_height`: when the dispute was opened; a fail that came in since
// could not be disputed meanwhile and gets its window now.
void DisputeEnded(StateBuffer& state, const Params& params, uint64_t height, const TaskId& id,
                  uint32_t slot, uint64_t dispute, uint64_t opened_height,
                  const Hash256& checkpoint_root, const Address& validator, DisputeResult result,
                  std::vector<Event>* events);
// Draws `count` distinct validators by stake from `beacon` (stream `name`),
// never one in `avoid`; fewer when fewer are eligible. Only validators
// whose replay profile fits `job` are drawn while at least `count` of them
// are not `parties` (the dispute's sides); else any drawable validator,
// unless `fitting_only` (a native-tier job: a validator of another class
// cannot give its bits), which draws among the fitting ones however few.
// `params_floor`: verify.replay_params_floor (staking::CanReplay).
std::vector<Address> DrawValidators(StateReader& state, uint64_t height, uint64_t job,
                                    const std::vector<Address>& parties, const Hash256& beacon,
                                    const Bytes& name, uint64_t count,
                                    const std::vector<Address>& avoid, uint64_t params_floor,
                                    bool fitting_only = false);
// How many drawable validators at `height`, not `parties`, have a replay
// profile that fits `job` (what DrawValidators draws among).
size_t CountFitting(StateReader& state, uint64_t height, uint64_t job,
                    const std::vector<Address>& parties, uint64_t params_floor);

// End of block, after staking and before the market (so a task failed here
// is reassigned in this block): sampling, missed verdicts, payments and
// missed round results due at `height`.
void EndBlock(StateBuffer& state, const Params& params, uint64_t height, const Hash256& beacon,
              std::vector<Event>* events);

}  // namespace agora::consensus::verification

#endif  // AGORA_CONSENSUS_LEDGER_VERIFICATION_H_
