#include "consensus/ledger/dispute.h"

#include <algorithm>
#include <map>
#include <span>
#include <utility>

#include "common/check.h"
#include "common/encoding.h"
#include "common/merkle.h"
#include "common/proto_codec.h"
#include "consensus/ledger/bank.h"
#include "consensus/ledger/records.h"
#include "consensus/ledger/staking.h"
#include "consensus/ledger/verification.h"
#include "kernels/trace.h"
#include "market/pricing.h"
#include "proto/state.pb.h"
#include "verify/dispute.h"
#include "verify/operator.h"
#include "verify/task.h"

namespace agora::consensus::dispute {
namespace {

using marketplace::TaskId;

constexpr std::string_view kNextKey = "dispute/next";
constexpr std::string_view kRecordPrefix = "dispute/rec/";
constexpr std::string_view kVerdictPrefix = "dispute/verdict/";
constexpr std::string_view kDuePrefix = "dispute/due/";
constexpr std::string_view kOpenPrefix = "dispute/open/";
// Due entries: one per dispute per height at most.
constexpr size_t kDuePerHeightMax = 1'000'000;

std::string RecordKey(uint64_t id) { return WithU64(std::string(kRecordPrefix), id); }
// A verdict of one attempt of the task, named by the height of the attempt's
// commit: a reassigned task commits anew, at a later height, and its
// verdicts are others. (Not by the checkpoint root: in the exact tier an
// honest re-run of the task commits the same root, and its provider must
// be able to dispute a false fail again.)
std::string VerdictKey(const TaskId& t, uint64_t commit_height, uint32_t slot, uint32_t verdict) {
  std::string k = WithU32(WithU32(WithU64(std::string(kVerdictPrefix), t.job), t.round), t.worker);
  k = WithU64(std::move(k), commit_height);
  return WithU32(WithU32(std::move(k), slot), verdict);
}
std::string OpenKey(uint64_t id) { return WithU64(std::string(kOpenPrefix), id); }
std::string DueKey(uint64_t height, uint64_t id) {
  return WithU64(WithU64(std::string(kDuePrefix), height), id);
}

std::string TaskName(const TaskId& t) {
  return std::to_string(t.job) + "/" + std::to_string(t.round) + "/" + std::to_string(t.worker);
}
std::string AsString(ByteSpan b) { return std::string(b.begin(), b.end()); }
std::string AsString(const Hash256& h) { return AsString(h.span()); }
Address AddressAt(const std::string& b) { return Address::FromBytes(AsBytes(b)).value(); }
Hash256 HashAt(const std::string& b) { return Hash256::FromBytes(AsBytes(b)); }

void Put(StateBuffer& state, const Dispute& d) {
  proto::DisputeRecord r;
  r.set_job_id(d.task.job);
  r.set_round(d.task.round);
  r.set_worker(d.task.worker);
  r.set_slot(d.slot);
  r.set_verdict(d.verdict);
  r.set_provider(AsString(d.provider.bytes()));
  r.set_validator(AsString(d.validator.bytes()));
  r.set_opener(AsString(d.opener.bytes()));
  r.set_segment(d.segment);
  r.set_segment_start(AsString(d.segment_start));
  r.set_phase(static_cast<uint32_t>(d.phase));
  r.set_step_lo(d.step_lo);
  r.set_step_hi(d.step_hi);
  r.set_lo_hash(AsString(d.lo_hash));
  r.set_hi_hash(AsString(d.hi_hash));
  if (d.pending) r.set_pending(AsString(*d.pending));
  r.set_records(d.records);
  r.set_op_lo(d.op_lo);
  r.set_op_hi(d.op_hi);
  r.set_op_lo_leaf(AsString(d.op_lo_leaf));
  if (d.op_hi_leaf) r.set_op_hi_leaf(AsString(*d.op_hi_leaf));
  r.set_record_provider(AsString(d.record_provider));
  r.set_record_validator(AsString(d.record_validator));
  r.set_referee_kind(static_cast<uint32_t>(d.referee_kind));
  r.set_digest_provider(AsString(d.digest_provider));
  r.set_digest_validator(AsString(d.digest_validator));
  for (const Address& a : d.referees) r.add_referees(AsString(a.bytes()));
  for (const RefereeVoteRecord& v : d.votes) {
    proto::RefereeVoteEntry* e = r.add_votes();
    e->set_referee(AsString(v.referee.bytes()));
    e->set_digest(AsString(v.digest));
    e->set_height(v.height);
    e->set_seal(AsString(v.seal));
    if (v.witness) e->set_witness(AsString(*v.witness));
  }
  r.set_referee_draws(d.referee_draws);
  r.set_due_height(d.due_height);
  r.set_opened_height(d.opened_height);
  r.set_closed_height(d.closed_height);
  r.set_checkpoint_root(AsString(d.checkpoint_root));
  r.set_moves(d.moves);
  r.set_bytes_moved(d.bytes_moved);
  r.set_outcome(static_cast<uint32_t>(d.outcome));
  r.set_reason(d.reason);
  state.Set(RecordKey(d.id), EncodeDeterministic(r));
}

Dispute Decode(uint64_t id, ByteSpan bytes) {
  auto r = DecodeStateRecord<proto::DisputeRecord>(bytes, "dispute");
  Dispute d;
  d.id = id;
  d.task = TaskId{r.job_id(), r.round(), r.worker()};
  d.slot = r.slot();
  d.verdict = r.verdict();
  d.provider = AddressAt(r.provider());
  d.validator = AddressAt(r.validator());
  d.opener = AddressAt(r.opener());
  d.segment = r.segment();
  d.segment_start = HashAt(r.segment_start());
  d.phase = static_cast<Phase>(r.phase());
  d.step_lo = r.step_lo();
  d.step_hi = r.step_hi();
  d.lo_hash = HashAt(r.lo_hash());
  d.hi_hash = HashAt(r.hi_hash());
  if (!r.pending().empty()) d.pending = HashAt(r.pending());
  d.records = r.records();
  d.op_lo = r.op_lo();
  d.op_hi = r.op_hi();
  d.op_lo_leaf = HashAt(r.op_lo_leaf());
  if (!r.op_hi_leaf().empty()) d.op_hi_leaf = HashAt(r.op_hi_leaf());
  d.record_provider.assign(r.record_provider().begin(), r.record_provider().end());
  d.record_validator.assign(r.record_validator().begin(), r.record_validator().end());
  d.referee_kind = static_cast<RefereeKind>(r.referee_kind());
  d.digest_provider = HashAt(r.digest_provider());
  d.digest_validator = HashAt(r.digest_validator());
  for (const std::string& a : r.referees()) d.referees.push_back(AddressAt(a));
  for (const proto::RefereeVoteEntry& e : r.votes()) {
    RefereeVoteRecord v{AddressAt(e.referee()), HashAt(e.digest()), e.height(),
                        HashAt(e.seal()), std::nullopt};
    if (!e.witness().empty()) v.witness = HashAt(e.witness());
    d.votes.push_back(std::move(v));
  }
  d.referee_draws = r.referee_draws();
  d.due_height = r.due_height();
  d.opened_height = r.opened_height();
  d.closed_height = r.closed_height();
  d.checkpoint_root = HashAt(r.checkpoint_root());
  d.moves = r.moves();
  d.bytes_moved = r.bytes_moved();
  d.outcome = static_cast<Outcome>(r.outcome());
  d.reason = r.reason();
  return d;
}

void Due(StateBuffer& state, Dispute& d, uint64_t height) {
  d.due_height = height;
  state.Set(DueKey(height, d.id), Bytes{});
}

Event DisputeEvent(std::string type, const Dispute& d) {
  return Event{std::move(type),
               {{"dispute", std::to_string(d.id)},
                {"task", TaskName(d.task)},
                {"slot", std::to_string(d.slot)}}};
}

// Enters the operator phase over step step_hi: leaf 0 follows from the
// agreed state, leaf N + 1 from the provider's claim (computed when needed).
void EnterOperators(Dispute& d) {
  d.phase = Phase::kOperators;
  d.op_lo = 0;
  d.op_hi = d.records + 1;
  d.op_lo_leaf = verify::TraceChainStart(d.lo_hash);
  d.op_hi_leaf.reset();
}

// The referees' phase: the draw happens in the EndBlock of the next block,
// from a beacon nobody knew when the last move was included.
void EnterReferees(Dispute& d, RefereeKind kind, const Hash256& provider_digest,
                   const Hash256& validator_digest) {
  d.phase = Phase::kReferees;
  d.referee_kind = kind;
  d.digest_provider = provider_digest;
  d.digest_validator = validator_digest;
  d.referees.clear();
  d.votes.clear();
}

// After the operator bisection has narrowed to one leaf: reveal a record,
// or (leaf N + 1: every record agreed, the end state did not) referees.
void AfterOperators(Dispute& d) {
  if (d.op_hi != d.op_lo + 1) return;
  if (d.op_hi == d.records + 1) {
    EnterReferees(d, RefereeKind::kStep, verify::StepDigest(d.lo_hash, d.hi_hash), Hash256{});
  } else {
    d.phase = Phase::kRecordProvider;
  }
}

// Applies the result: stakes and the slot. The record is written by the caller.
// `forfeit`: the loser lost by missing a move, not by what was shown.
void Close(StateBuffer& state, const Params& params, uint64_t height, Dispute& d, Outcome outcome,
           std::string reason, std::vector<Event>* events, bool forfeit = false) {
  state.Delete(OpenKey(d.id));
  d.outcome = outcome;
  d.reason = std::move(reason);
  d.phase = Phase::kClosed;
  d.closed_height = height;
  d.pending.reset();
  Event e = DisputeEvent("dispute_decided", d);
  e.attributes.push_back({"outcome", std::string(OutcomeName(outcome))});
  e.attributes.push_back({"reason", d.reason});
  e.attributes.push_back({"moves", std::to_string(d.moves)});
  e.attributes.push_back({"bytes", std::to_string(d.bytes_moved)});
  verification::DisputeResult result = verification::DisputeResult::kUndecided;
  if (outcome == Outcome::kValidatorLost) {
    // A false claim: part of the validator's stake (unbonding included: it
    // cannot run from the slash), half to the provider.
    const uint64_t cut = staking::Slash(state, d.validator, params.slash_false_claim_ppm);
    const uint64_t reward = cut / 2;
    if (reward > 0) bank::RewardFromBurned(state, d.provider, reward);
    e.attributes.push_back({"slashed_uagr", std::to_string(cut)});
    e.attributes.push_back({"to_provider_uagr", std::to_string(reward)});
    result = verification::DisputeResult::kValidatorLost;
  } else if (outcome == Outcome::kProviderLost) {
    result = forfeit ? verification::DisputeResult::kProviderForfeited
                     : verification::DisputeResult::kProviderLost;
  }
  events->push_back(std::move(e));
  verification::DisputeEnded(state, params, height, d.task, d.slot, d.id, d.opened_height,
                             d.checkpoint_root, d.validator, result, events);
}

// The digest voted by a strict majority of the drawn referees, if any.
std::optional<Hash256> DigestMajority(const Dispute& d) {
  std::map<Hash256, size_t> count;
  for (const RefereeVoteRecord& v : d.votes) ++count[v.digest];
  for (const auto& [digest, n] : count) {
    if (2 * n > d.referees.size()) return digest;
  }
  return std::nullopt;
}

// The (digest, witness) pair revealed by a strict majority of the drawn
// referees, if any: only referees that recomputed agree on the witness.
std::optional<std::pair<Hash256, Hash256>> PairMajority(const Dispute& d) {
  std::map<std::pair<Hash256, Hash256>, size_t> count;
  for (const RefereeVoteRecord& v : d.votes) {
    if (v.witness) ++count[{v.digest, *v.witness}];
  }
  for (const auto& [pair, n] : count) {
    if (2 * n > d.referees.size()) return pair;
  }
  return std::nullopt;
}

void Decide(StateBuffer& state, const Params& params, uint64_t height, Dispute& d,
            const std::pair<Hash256, Hash256>& pair, std::vector<Event>* events) {
  const Hash256& majority = pair.first;
  // Referees not in the majority's pair made a false claim: another digest,
  // another witness (a digest copied without the recompute), or none shown.
  for (const RefereeVoteRecord& v : d.votes) {
    if (v.digest == majority && v.witness == pair.second) continue;
    const uint64_t burned = staking::Slash(state, v.referee, params.slash_false_claim_ppm);
    Event e = DisputeEvent("referee_outvoted", d);
    e.attributes.push_back({"referee", v.referee.ToString()});
    e.attributes.push_back({"burned_uagr", std::to_string(burned)});
    events->push_back(std::move(e));
  }
  const bool provider_right = majority == d.digest_provider;
  std::string what, whose = "claim";
  switch (d.referee_kind) {
    case RefereeKind::kOperator:
      what = "the operator's recomputed outputs";
      whose = "record";
      break;
    case RefereeKind::kLosses: what = "the segment's replayed losses"; break;
    case RefereeKind::kDelta: what = "the delta recomputed from checkpoints 0 and final"; break;
    case RefereeKind::kStep:
    case RefereeKind::kNone:
      what = d.step_hi - d.step_lo == 1 ? "the step's replayed states"
                                        : "the segment's replayed states (native tier)";
      break;
  }
  Close(state, params, height, d, provider_right ? Outcome::kValidatorLost : Outcome::kProviderLost,
        "the referees' majority " + std::string(provider_right ? "matches" : "does not match") +
            " the provider's " + whose + " (" + what + ")",
        events);
}

// Every drawn referee voted, or the votes' deadline passed with a digest
// that a strict majority voted: each voter now opens its seal.
void EnterReveal(StateBuffer& state, const Params& params, uint64_t height, Dispute& d,
                 std::vector<Event>* events) {
  d.phase = Phase::kReveal;
  Due(state, d, height + params.dispute_move_blocks);
  Event e = DisputeEvent("referees_voted", d);
  e.attributes.push_back({"due_height", std::to_string(d.due_height)});
  events->push_back(std::move(e));
}

bool IsParty(const Dispute& d, const Address& a) { return a == d.provider || a == d.validator; }

// Why the dispute no longer decides anything, or empty: its task was
// settled otherwise meanwhile (another slot's fraud, a reassignment and a
// new commitment) and the slot is no longer waiting for it.
std::string Moot(StateReader& state, const Dispute& d) {
  std::optional<marketplace::Task> t = marketplace::GetTask(state, d.task);
  std::optional<verification::Commitment> c = verification::GetCommitment(state, d.task);
  if (!t || t->status != marketplace::TaskStatus::kVerifying || !c ||
      c->checkpoint_root != d.checkpoint_root) {
    return "task " + TaskName(d.task) + " was settled otherwise";
  }
  const std::vector<verification::Slot> slots = verification::GetSlots(state, d.task, c->slots);
  if (d.slot >= slots.size() || slots[d.slot].dispute != d.id ||
      slots[d.slot].state != verification::SlotState::kPending) {
    return "slot " + std::to_string(d.slot) + " of task " + TaskName(d.task) +
           " was settled otherwise";
  }
  return "";
}

}  // namespace

Hash256 RefereeSeal(uint64_t dispute_id, const Hash256& witness, const Address& referee) {
  Bytes id;
  PutU64BigEndian(id, dispute_id);
  Blake2b256Hasher h;
  h.Update(AsBytes(std::string_view("agora-referee-seal-v1")));
  h.Update(id);
  h.Update(witness.bytes);
  h.Update(referee.bytes());
  return h.Finish();
}

std::string_view PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kSteps: return "steps";
    case Phase::kOperators: return "operators";
    case Phase::kRecordProvider: return "provider_record";
    case Phase::kRecordValidator: return "validator_record";
    case Phase::kReferees: return "referees";
    case Phase::kClosed: return "closed";
    case Phase::kReveal: return "reveal";
  }
  return "unknown";
}

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOpen: return "open";
    case Outcome::kProviderLost: return "provider_lost";
    case Outcome::kValidatorLost: return "validator_lost";
    case Outcome::kUndecided: return "undecided";
  }
  return "unknown";
}

std::optional<Address> Dispute::turn() const {
  switch (phase) {
    case Phase::kSteps:
    case Phase::kOperators:
      return pending ? validator : provider;
    case Phase::kRecordProvider:
      return provider;
    case Phase::kRecordValidator:
      return validator;
    case Phase::kReferees:
    case Phase::kReveal:
    case Phase::kClosed:
      break;
  }
  return std::nullopt;
}

std::optional<Dispute> GetDispute(StateReader& state, uint64_t id) {
  std::optional<Bytes> v = state.Get(RecordKey(id));
  if (!v) return std::nullopt;
  return Decode(id, *v);
}

std::vector<Dispute> Disputes(StateReader& state, uint64_t from_id, size_t limit) {
  std::vector<Dispute> out;
  const std::string prefix(kRecordPrefix);
  const std::string start = RecordKey(from_id);
  for (const auto& [key, value] : state.ScanFrom(AsBytes(prefix), AsBytes(start), limit)) {
    out.push_back(Decode(ReadU64(key, prefix.size()), value));
  }
  return out;
}

std::vector<Dispute> OpenDisputes(StateReader& state, size_t limit) {
  std::vector<Dispute> out;
  const std::string prefix(kOpenPrefix);
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(prefix), limit)) {
    std::optional<Dispute> d = GetDispute(state, ReadU64(key, prefix.size()));
    AGORA_CHECK(d.has_value());
    out.push_back(std::move(*d));
  }
  return out;
}

TxResult HandleOpenDispute(StateBuffer& state, const Params& params, uint64_t height,
                           const Address& sender, const MsgOpenDispute& msg) {
  const TaskId id{msg.job_id, msg.round, msg.worker};
  std::optional<marketplace::Task> t = marketplace::GetTask(state, id);
  std::optional<verification::Commitment> c = verification::GetCommitment(state, id);
  if (!t || !c) return Refuse(TxCode::kNotFound, "no committed task " + TaskName(id));
  if (t->status != marketplace::TaskStatus::kVerifying) {
    return Refuse(TxCode::kWrongPhase, "task " + TaskName(id) + " is " +
                                           std::string(marketplace::TaskStatusName(t->status)) +
                                           "; only a task being verified can be disputed");
  }
  if (msg.slot >= c->slots) {
    return Refuse(TxCode::kInvalidMessage, "task " + TaskName(id) + " has " +
                                               std::to_string(c->slots) + " slots; slot " +
                                               std::to_string(msg.slot) + " does not exist");
  }
  const verification::Slot s = verification::GetSlots(state, id, c->slots).at(msg.slot);
  if (s.state != verification::SlotState::kPending) {
    return Refuse(TxCode::kWrongPhase, "slot " + std::to_string(msg.slot) + " of task " +
                                           TaskName(id) + " is already settled");
  }
  if (s.dispute != 0) {
    return Refuse(TxCode::kWrongPhase, "dispute " + std::to_string(s.dispute) +
                                           " is open on this slot; one at a time");
  }
  if (msg.verdict >= s.verdicts.size()) {
    return Refuse(TxCode::kInvalidMessage, "slot " + std::to_string(msg.slot) + " has " +
                                               std::to_string(s.verdicts.size()) +
                                               " verdicts; verdict " +
                                               std::to_string(msg.verdict) + " does not exist");
  }
  const verification::VerdictRecord& v = s.verdicts[msg.verdict];
  if (v.outcome != VerdictOutcome::kFail || v.overturned) {
    return Refuse(TxCode::kInvalidMessage,
                  std::string("only a standing fail verdict can be disputed; verdict ") +
                      std::to_string(msg.verdict) + " is " +
                      (v.overturned ? "overturned"
                                    : (v.outcome == VerdictOutcome::kPass
                                           ? "a pass"
                                           : "\"unavailable\" (no replay to check it against)")));
  }
  if (sender != c->provider && sender != v.validator) {
    return Refuse(TxCode::kNotAssigned, sender.ToString() +
                                            " is neither the task's provider nor the verdict's "
                                            "validator; only they can dispute it");
  }
  const std::string verdict_key = VerdictKey(id, c->height, msg.slot, msg.verdict);
  if (state.Get(verdict_key)) {
    return Refuse(TxCode::kAlreadyExists, "this verdict was disputed already (dispute " +
                                              std::to_string(state.GetU64(verdict_key)) +
                                              "); a verdict is disputed once");
  }
  std::optional<marketplace::Job> j = marketplace::GetJob(state, id.job);
  AGORA_CHECK(j.has_value());
  // A native-tier job's operators cannot be recomputed bit for bit by the
  // exact kernels, so its disputes are not bisected: referees of its class
  // replay the whole segment with its kernels (the replay its verdicts
  // already rest on) and vote on the end state (RefereeKind::kStep over the
  // segment), on the losses, or on the delta (which needs no kernels). They
  // are drawn only among the validators whose replay profile fits the job,
  // so enough of them must exist besides both sides; with fewer, the
  // verdicts are settled by replays only, as before 2026-12-05.
  const bool native = j->spec.tier != market::Tier::kExact;
  // The delta is recomputed from two checkpoints without kernels: any
  // validator referees it, as for the exact tier.
  if (native && v.reason != FailReason::kDelta) {
    const size_t fitting = verification::CountFitting(state, height, id.job, {c->provider, v.validator},
                                                      params.verify_replay_params_floor);
    if (fitting < params.dispute_referee_count) {
      return Refuse(TxCode::kInvalidMessage,
                    "job " + std::to_string(id.job) + " runs the native tier on " +
                        std::string(market::HardwareClassName(j->spec.hardware)) + " and only " +
                        std::to_string(fitting) +
                        " validator(s) besides both sides can replay it, fewer than "
                        "dispute.referee_count = " +
                        std::to_string(params.dispute_referee_count) +
                        ": its verdicts are settled by replays only");
    }
  }
  const uint32_t interval = j->spec.checkpoint_interval;
  const uint64_t size = j->spec.inner_steps / interval + 1;
  // A fail for the delta is about the whole task: its checkpoint 0 (the
  // round's weights) and its final checkpoint; any other, the segment's.
  const bool delta = v.reason == FailReason::kDelta;
  const uint64_t lo_leaf = delta ? 0 : s.segment;
  const uint64_t hi_leaf = delta ? size - 1 : uint64_t{s.segment} + 1;
  const char* lo_name = delta ? "checkpoint 0" : "the start checkpoint";
  const char* hi_name = delta ? "the final checkpoint" : "the end checkpoint";
  if (!merkle::Verify(c->checkpoint_root, msg.start_hash,
                      merkle::Proof{lo_leaf, size, msg.start_proof})) {
    return Refuse(TxCode::kBadProof, std::string(lo_name) + "'s proof does not match the root at " +
                                         std::to_string(lo_leaf));
  }
  if (!merkle::Verify(c->checkpoint_root, msg.committed_end,
                      merkle::Proof{hi_leaf, size, msg.end_proof})) {
    return Refuse(TxCode::kBadProof, std::string(hi_name) + "'s proof does not match the root at " +
                                         std::to_string(hi_leaf));
  }
  Result<trainer::TrainConfig> config = verify::TrainConfigOf(j->spec);
  AGORA_CHECK(config.ok());  // the spec was validated when posted

  Dispute d;
  d.id = std::max<uint64_t>(state.GetU64(kNextKey), 1);
  state.SetU64(kNextKey, d.id + 1);
  d.task = id;
  d.slot = msg.slot;
  d.verdict = msg.verdict;
  d.provider = c->provider;
  d.validator = v.validator;
  d.opener = sender;
  // A delta dispute is over the whole task: "segment" 0, steps 0..H.
  d.segment = delta ? 0 : s.segment;
  d.segment_start = msg.start_hash;
  d.step_lo = uint64_t{d.segment} * interval;
  d.step_hi = delta ? j->spec.inner_steps : d.step_lo + interval;
  d.lo_hash = msg.start_hash;
  d.hi_hash = msg.committed_end;
  d.records = verify::RecordsPerStep(config->model);
  d.opened_height = height;
  d.checkpoint_root = c->checkpoint_root;
  if (v.reason == FailReason::kLosses) {
    // The provider's claim is on the ledger: its committed losses.
    const std::span<const uint32_t> committed(c->losses.data() + d.step_lo, interval);
    EnterReferees(d, RefereeKind::kLosses, verify::LossesDigest(d.lo_hash, committed), Hash256{});
  } else if (delta) {
    EnterReferees(d, RefereeKind::kDelta, verify::DeltaDigest(c->delta_hash), Hash256{});
  } else if (native) {
    // The provider's claim: the segment's committed start and end.
    EnterReferees(d, RefereeKind::kStep, verify::StepDigest(d.lo_hash, d.hi_hash), Hash256{});
  } else if (d.step_hi == d.step_lo + 1) {
    EnterOperators(d);
  } else {
    d.phase = Phase::kSteps;
  }
  // Referees are drawn in the next block's EndBlock (as after a last move).
  Due(state, d,
      height + (d.phase == Phase::kReferees ? uint64_t{1} : params.dispute_move_blocks));
  Put(state, d);
  state.SetU64(verdict_key, d.id);
  state.Set(OpenKey(d.id), Bytes{});
  verification::SetSlotDispute(state, id, msg.slot, d.id);
  TxResult r;
  Event e = DisputeEvent("dispute_opened", d);
  e.attributes.push_back({"provider", d.provider.ToString()});
  e.attributes.push_back({"validator", d.validator.ToString()});
  e.attributes.push_back({"steps", std::to_string(d.step_lo) + ".." + std::to_string(d.step_hi)});
  e.attributes.push_back({"due_height", std::to_string(d.due_height)});
  r.events.push_back(std::move(e));
  r.log = "dispute " + std::to_string(d.id);
  return r;
}

TxResult HandleDisputeMove(StateBuffer& state, const Params& params, uint64_t height,
                           const Address& sender, const MsgDisputeMove& msg) {
  std::optional<Dispute> found = GetDispute(state, msg.dispute_id);
  if (!found) return Refuse(TxCode::kNotFound, "no dispute " + std::to_string(msg.dispute_id));
  Dispute& d = *found;
  const std::string name = "dispute " + std::to_string(d.id);
  if (d.phase == Phase::kClosed) {
    return Refuse(TxCode::kWrongPhase,
                  name + " is closed (" + std::string(OutcomeName(d.outcome)) + ")");
  }
  if (d.phase == Phase::kReferees || d.phase == Phase::kReveal) {
    return Refuse(TxCode::kWrongPhase, name + " is with its referees; the parties' moves are over");
  }
  if (!IsParty(d, sender)) {
    return Refuse(TxCode::kNotAssigned, sender.ToString() + " is not a party to " + name);
  }
  if (const std::string moot = Moot(state, d); !moot.empty()) {
    return Refuse(TxCode::kWrongPhase, name + " is moot (" + moot + "); it closes at its deadline");
  }
  const Address turn = *d.turn();
  const bool provider_turn = turn == d.provider;
  if (sender != turn) {
    return Refuse(TxCode::kWrongPhase, std::string("it is the ") +
                                           (provider_turn ? "provider's" : "validator's") +
                                           " turn in " + name);
  }
  if (height > d.due_height) {
    // EndBlock of the due height closes it; a move cannot be included later.
    return Refuse(TxCode::kWrongPhase, name + "'s move was due at height " +
                                           std::to_string(d.due_height));
  }
  auto expected = [&](std::string_view what) {
    return Refuse(TxCode::kInvalidMessage, name + " (" + std::string(PhaseName(d.phase)) +
                                               ") awaits " + std::string(what));
  };
  uint64_t payload = 0;
  TxResult r;
  switch (d.phase) {
    case Phase::kSteps:
    case Phase::kOperators: {
      const bool steps = d.phase == Phase::kSteps;
      if (provider_turn) {
        const DisputeAction want = steps ? DisputeAction::kState : DisputeAction::kLeaf;
        if (msg.action != want) {
          return expected(steps ? "the provider's state hash at step " + std::to_string(d.step_mid())
                                : "the provider's trace leaf " + std::to_string(d.op_mid()));
        }
        d.pending = msg.hash;
        payload = Hash256::kSize;
        break;
      }
      if (msg.action != DisputeAction::kAgree && msg.action != DisputeAction::kDisagree) {
        return expected("the validator's agree or disagree");
      }
      const bool agree = msg.action == DisputeAction::kAgree;
      if (steps) {
        const uint64_t mid = d.step_mid();
        if (agree) {
          d.step_lo = mid;
          d.lo_hash = *d.pending;
        } else {
          d.step_hi = mid;
          d.hi_hash = *d.pending;
        }
        d.pending.reset();
        if (d.step_hi == d.step_lo + 1) EnterOperators(d);
      } else {
        const uint64_t mid = d.op_mid();
        if (agree) {
          d.op_lo = mid;
          d.op_lo_leaf = *d.pending;
        } else {
          d.op_hi = mid;
          d.op_hi_leaf = *d.pending;
        }
        d.pending.reset();
        AfterOperators(d);
      }
      break;
    }
    case Phase::kRecordProvider:
    case Phase::kRecordValidator: {
      if (msg.action != DisputeAction::kRecord) {
        return expected("record " + std::to_string(d.op_hi) + " of the step's trace");
      }
      Result<kernels::OpRecord> record = kernels::DecodeOpRecord(msg.record);
      if (!record.ok()) {
        return Refuse(TxCode::kInvalidMessage, "the record does not decode: " +
                                                   record.status().message());
      }
      if (Status valid = verify::ValidateOpRecord(*record); !valid.ok()) {
        return Refuse(TxCode::kInvalidMessage, "the record is malformed: " + valid.message());
      }
      const Hash256 link = verify::TraceChainLink(d.op_lo_leaf, kernels::OpRecordHash(*record));
      payload = msg.record.size();
      if (d.phase == Phase::kRecordProvider) {
        if (link != *d.op_hi_leaf) {
          return Refuse(TxCode::kBadProof,
                        "the record does not link the agreed leaf " + std::to_string(d.op_lo) +
                            " to the provider's leaf " + std::to_string(d.op_hi));
        }
        d.record_provider = msg.record;
        d.phase = Phase::kRecordValidator;
        break;
      }
      const kernels::OpRecord provider = kernels::DecodeOpRecord(d.record_provider).value();
      if (*record == provider) {
        return Refuse(TxCode::kInvalidMessage,
                      "the same record as the provider's: there is nothing left to dispute");
      }
      d.record_validator = msg.record;
      if (verify::SameCall(provider, *record)) {
        EnterReferees(d, RefereeKind::kOperator, verify::OutputsDigest(provider.outputs),
                      verify::OutputsDigest(record->outputs));
      } else {
        // Another call altogether: the code between calls differs, or one
        // side made up an input. Replaying the step settles it.
        EnterReferees(d, RefereeKind::kStep, verify::StepDigest(d.lo_hash, d.hi_hash),
                      Hash256{});
      }
      break;
    }
    case Phase::kReferees:
    case Phase::kReveal:
    case Phase::kClosed:
      AGORA_CHECK(false);
  }
  ++d.moves;
  d.bytes_moved += payload;
  Due(state, d, d.phase == Phase::kReferees ? height + 1 : height + params.dispute_move_blocks);
  Put(state, d);
  Event e = DisputeEvent("dispute_move", d);
  e.attributes.push_back({"by", provider_turn ? "provider" : "validator"});
  e.attributes.push_back({"phase", std::string(PhaseName(d.phase))});
  e.attributes.push_back({"due_height", std::to_string(d.due_height)});
  r.events.push_back(std::move(e));
  return r;
}

TxResult HandleRefereeVote(StateBuffer& state, const Params& params, uint64_t height,
                           const Address& sender, const MsgRefereeVote& msg) {
  std::optional<Dispute> found = GetDispute(state, msg.dispute_id);
  if (!found) return Refuse(TxCode::kNotFound, "no dispute " + std::to_string(msg.dispute_id));
  Dispute& d = *found;
  const std::string name = "dispute " + std::to_string(d.id);
  if (d.phase != Phase::kReferees || d.referees.empty()) {
    return Refuse(TxCode::kWrongPhase,
                  name + (d.phase == Phase::kClosed   ? " is closed"
                          : d.phase == Phase::kReveal ? "'s votes are in; its voters reveal now"
                                                      : " has no referees drawn (yet)"));
  }
  if (std::find(d.referees.begin(), d.referees.end(), sender) == d.referees.end()) {
    return Refuse(TxCode::kNotAssigned, sender.ToString() + " is not a referee drawn for " + name);
  }
  for (const RefereeVoteRecord& v : d.votes) {
    if (v.referee == sender) {
      return Refuse(TxCode::kWrongPhase, sender.ToString() + " has voted on " + name);
    }
  }
  if (const std::string moot = Moot(state, d); !moot.empty()) {
    return Refuse(TxCode::kWrongPhase, name + " is moot (" + moot + "); it closes at its deadline");
  }
  d.votes.push_back({sender, msg.digest, height, msg.seal, std::nullopt});
  d.bytes_moved += 2 * Hash256::kSize;
  TxResult r;
  Event e = DisputeEvent("referee_vote", d);
  e.attributes.push_back({"referee", sender.ToString()});
  e.attributes.push_back({"for", msg.digest == d.digest_provider
                                     ? "provider"
                                     : (msg.digest == d.digest_validator ? "validator" : "neither")});
  r.events.push_back(std::move(e));
  if (d.votes.size() == d.referees.size()) {
    if (DigestMajority(d)) {
      EnterReveal(state, params, height, d, &r.events);
    } else {
      Due(state, d, height + 1);  // no majority: redrawn in the next EndBlock
    }
  }
  Put(state, d);
  return r;
}

TxResult HandleRefereeReveal(StateBuffer& state, const Params& params, uint64_t height,
                             const Address& sender, const MsgRefereeReveal& msg) {
  std::optional<Dispute> found = GetDispute(state, msg.dispute_id);
  if (!found) return Refuse(TxCode::kNotFound, "no dispute " + std::to_string(msg.dispute_id));
  Dispute& d = *found;
  const std::string name = "dispute " + std::to_string(d.id);
  if (d.phase != Phase::kReveal) {
    return Refuse(TxCode::kWrongPhase,
                  name + (d.phase == Phase::kClosed ? " is closed"
                          : d.phase == Phase::kReferees
                              ? " is still taking its referees' votes; reveal after every "
                                "referee has voted or the votes' deadline"
                              : " has no referees drawn (yet)"));
  }
  auto vote = std::find_if(d.votes.begin(), d.votes.end(),
                           [&](const RefereeVoteRecord& v) { return v.referee == sender; });
  if (vote == d.votes.end()) {
    return Refuse(TxCode::kNotAssigned, sender.ToString() + " has no vote on " + name);
  }
  if (vote->witness) {
    return Refuse(TxCode::kWrongPhase, sender.ToString() + " has revealed its witness on " + name);
  }
  if (RefereeSeal(d.id, msg.witness, sender) != vote->seal) {
    return Refuse(TxCode::kBadProof, "this witness does not open " + sender.ToString() +
                                         "'s seal on " + name +
                                         " (RefereeSeal(dispute, witness, referee))");
  }
  if (const std::string moot = Moot(state, d); !moot.empty()) {
    return Refuse(TxCode::kWrongPhase, name + " is moot (" + moot + "); it closes at its deadline");
  }
  vote->witness = msg.witness;
  d.bytes_moved += Hash256::kSize;
  TxResult r;
  Event e = DisputeEvent("referee_reveal", d);
  e.attributes.push_back({"referee", sender.ToString()});
  r.events.push_back(std::move(e));
  const bool all = std::all_of(d.votes.begin(), d.votes.end(),
                               [](const RefereeVoteRecord& v) { return v.witness.has_value(); });
  if (all) {
    if (std::optional<std::pair<Hash256, Hash256>> pair = PairMajority(d)) {
      Decide(state, params, height, d, *pair, &r.events);
    } else {
      Due(state, d, height + 1);  // no majority: redrawn in the next EndBlock
    }
  }
  Put(state, d);
  return r;
}

void EndBlock(StateBuffer& state, const Params& params, uint64_t height, const Hash256& beacon,
              std::vector<Event>* events) {
  const std::string due = WithU64(std::string(kDuePrefix), height);
  const std::map<Bytes, Bytes> batch = state.ScanPrefix(AsBytes(due), kDuePerHeightMax);
  for (const auto& [key, value] : batch) {
    state.Delete(std::string(key.begin(), key.end()));
    const uint64_t id = ReadU64(key, due.size());
    std::optional<Dispute> found = GetDispute(state, id);
    if (!found) continue;
    Dispute& d = *found;
    if (d.phase == Phase::kClosed || d.due_height != height) continue;
    if (const std::string moot = Moot(state, d); !moot.empty()) {
      // Nobody is judged over a question the ledger no longer asks.
      Close(state, params, height, d, Outcome::kUndecided, "moot: " + moot, events);
      Put(state, d);
      continue;
    }
    if (d.phase == Phase::kReveal) {
      if (std::optional<std::pair<Hash256, Hash256>> pair = PairMajority(d)) {
        Decide(state, params, height, d, *pair, events);
        Put(state, d);
        continue;
      }
    } else if (d.phase == Phase::kReferees) {
      if (!d.referees.empty() && DigestMajority(d)) {
        EnterReveal(state, params, height, d, events);
        Put(state, d);
        continue;
      }
    } else {
      // The party whose turn it is did not move in time.
      const bool provider_missed = *d.turn() == d.provider;
      Close(state, params, height, d,
            provider_missed ? Outcome::kProviderLost : Outcome::kValidatorLost,
            std::string(provider_missed ? "the provider" : "the validator") +
                " missed its move in phase " + std::string(PhaseName(d.phase)),
            events, /*forfeit=*/true);
      Put(state, d);
      continue;
    }
    if (!d.referees.empty()) {
      // No majority in time: those that did not vote pay for their silence,
      // and those that voted but did not open their seal for a false claim
      // (a referee that guessed would rather hide its witness than show it).
      for (const Address& a : d.referees) {
        const bool voted = std::any_of(d.votes.begin(), d.votes.end(),
                                       [&](const RefereeVoteRecord& v) { return v.referee == a; });
        if (voted) continue;
        const uint64_t burned = staking::Slash(state, a, params.verify_slash_missed_ppm);
        Event e = DisputeEvent("referee_missed", d);
        e.attributes.push_back({"referee", a.ToString()});
        e.attributes.push_back({"burned_uagr", std::to_string(burned)});
        events->push_back(std::move(e));
      }
      for (const RefereeVoteRecord& v : d.votes) {
        if (d.phase != Phase::kReveal || v.witness) continue;
        const uint64_t burned = staking::Slash(state, v.referee, params.slash_false_claim_ppm);
        Event e = DisputeEvent("referee_unrevealed", d);
        e.attributes.push_back({"referee", v.referee.ToString()});
        e.attributes.push_back({"burned_uagr", std::to_string(burned)});
        events->push_back(std::move(e));
      }
    }
    d.phase = Phase::kReferees;
    if (d.referee_draws >= params.dispute_referee_draws_max) {
      Close(state, params, height, d, Outcome::kUndecided,
            "no majority of referees in " + std::to_string(d.referee_draws) + " draws", events);
      Put(state, d);
      continue;
    }
    // Draw a set of referees (never a party, nor one of the set before).
    std::vector<Address> avoid = {d.provider, d.validator};
    avoid.insert(avoid.end(), d.referees.begin(), d.referees.end());
    Bytes name;
    PutU64BigEndian(name, d.id);
    PutU64BigEndian(name, d.referee_draws);
    const std::vector<Address> parties = {d.provider, d.validator};
    // A native-tier job's referees must replay on its class: never one of
    // another class (the delta excepted, which needs no kernels).
    const std::optional<marketplace::Job> job = marketplace::GetJob(state, d.task.job);
    const bool fitting_only = job && job->spec.tier != market::Tier::kExact &&
                              d.referee_kind != RefereeKind::kDelta;
    std::vector<Address> drawn = verification::DrawValidators(
        state, height, d.task.job, parties, beacon, name, params.dispute_referee_count, avoid,
        params.verify_replay_params_floor, fitting_only);
    if (drawn.empty() || (fitting_only && drawn.size() < params.dispute_referee_count)) {
      // Nobody new (or, of a class, too few): the earlier referees may be
      // drawn again.
      drawn = verification::DrawValidators(state, height, d.task.job, parties, beacon, name,
                                           params.dispute_referee_count,
                                           {d.provider, d.validator},
                                           params.verify_replay_params_floor, fitting_only);
    }
    if (fitting_only && drawn.size() < params.dispute_referee_count) {
      // Found in review (2026-12-05): the majority is counted among those
      // drawn, so one referee of a class that had shrunk to one decided
      // alone. Too few of the class is an empty draw, which counts toward
      // dispute.referee_draws_max: the dispute ends undecided.
      drawn.clear();
    }
    d.votes.clear();
    d.referees = drawn;
    // An empty draw (nobody eligible) counts too, so a dispute always ends.
    ++d.referee_draws;
    Event e = DisputeEvent(drawn.empty() ? "referee_wait" : "referees_drawn", d);
    for (const Address& a : drawn) e.attributes.push_back({"referee", a.ToString()});
    Due(state, d, height + params.dispute_move_blocks);
    e.attributes.push_back({"due_height", std::to_string(d.due_height)});
    events->push_back(std::move(e));
    Put(state, d);
  }
}

}  // namespace agora::consensus::dispute
