#include "consensus/ledger/verification.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include "common/check.h"
#include "common/merkle.h"
#include "common/proto_codec.h"
#include "common/vrf.h"
#include "consensus/ledger/bank.h"
#include "consensus/ledger/records.h"
#include "consensus/ledger/staking.h"
#include "market/pricing.h"
#include "proto/state.pb.h"
#include "verify/sampling.h"

namespace agora::consensus::verification {
namespace {

constexpr std::string_view kCommitPrefix = "verify/commit/";
constexpr std::string_view kSlotPrefix = "verify/slot/";
constexpr std::string_view kAggPrefix = "verify/agg/";
constexpr std::string_view kDuePrefix = "verify/due/";
// Due entries are made one per transaction or per entry handled before, so
// a height holds at most a few per transaction of a block.
constexpr size_t kDuePerHeightMax = 1'000'000;
// The worker field of a due entry that names a round rather than a task.
constexpr uint32_t kRoundWorker = 0xffffffffu;

enum class DueKind : uint8_t {
  kSample = 1,
  kSlot = 2,
  kSettle = 3,
  kRound = 4,  // a round record's awaited result is due (or a draw is)
  kAudit = 5,
  kOpenRound = 6,  // a round record opens: its first aggregator is drawn
};

// Sampling streams (verify::Draw's purpose field).
enum Purpose : uint32_t {
  kSlotDraw = 100,  // + slot: the validators of one slot, in draw order
  kAuditDraw = 90,  // whether a passed slot gets an audit
  kRoundDraw = 91,  // the aggregators of a round
  kRefereeDraw = 92,  // a dispute's referees
};

std::string TaskSuffix(const TaskId& t) {
  return WithU32(WithU32(WithU64("", t.job), t.round), t.worker);
}
std::string CommitKey(const TaskId& t) { return std::string(kCommitPrefix) + TaskSuffix(t); }
std::string SlotKey(const TaskId& t, uint32_t slot) {
  return WithU32(std::string(kSlotPrefix) + TaskSuffix(t), slot);
}
std::string AggKey(uint64_t job, uint32_t round) {
  return WithU32(WithU64(std::string(kAggPrefix), job), round);
}
std::string DueKey(uint64_t height, DueKind kind, const TaskId& t, uint32_t slot) {
  std::string k = WithU64(std::string(kDuePrefix), height);
  k.push_back(static_cast<char>(kind));
  return WithU32(k + TaskSuffix(t), slot);
}

uint32_t ReadU32(ByteSpan b, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = v << 8 | b[at + i];
  return v;
}

std::string TaskName(const TaskId& t) {
  return std::to_string(t.job) + "/" + std::to_string(t.round) + "/" + std::to_string(t.worker);
}

std::string AsString(ByteSpan b) { return std::string(b.begin(), b.end()); }
std::string AsString(const Hash256& h) { return AsString(h.span()); }
Address AddressAt(const std::string& b) { return Address::FromBytes(AsBytes(b)).value(); }
Hash256 HashAt(const std::string& b) { return Hash256::FromBytes(AsBytes(b)); }
Hash256 HashOrZero(const std::string& b) { return b.empty() ? Hash256{} : HashAt(b); }

// ------------------------------------------------------------- records

void PutCommitment(StateBuffer& state, const TaskId& id, const Commitment& c) {
  proto::CommitRecord r;
  r.set_provider(AsString(c.provider.bytes()));
  r.set_checkpoint_root(AsString(c.checkpoint_root));
  r.set_delta_hash(AsString(c.delta_hash));
  r.set_height(c.height);
  for (uint32_t l : c.losses) r.add_losses(l);
  r.set_slots(c.slots);
  r.set_slots_passed(c.slots_passed);
  r.set_settle_height(c.settle_height);
  state.Set(CommitKey(id), EncodeDeterministic(r));
}

Commitment DecodeCommitment(ByteSpan bytes) {
  auto r = DecodeStateRecord<proto::CommitRecord>(bytes, "commit");
  Commitment c;
  c.provider = AddressAt(r.provider());
  c.checkpoint_root = HashAt(r.checkpoint_root());
  c.delta_hash = HashAt(r.delta_hash());
  c.height = r.height();
  c.losses.assign(r.losses().begin(), r.losses().end());
  c.slots = r.slots();
  c.slots_passed = r.slots_passed();
  c.settle_height = r.settle_height();
  return c;
}

void PutSlot(StateBuffer& state, const TaskId& id, uint32_t index, const Slot& s) {
  proto::SlotRecord r;
  r.set_chosen(s.chosen);
  r.set_segment(s.segment);
  r.set_witness_step(s.witness_step);
  if (s.assignee) r.set_assignee(AsString(s.assignee->bytes()));
  r.set_due_height(s.due_height);
  r.set_draws(s.draws);
  r.set_resolved(static_cast<uint32_t>(s.state));
  for (const VerdictRecord& v : s.verdicts) {
    proto::VerdictEntry* e = r.add_verdicts();
    e->set_validator(AsString(v.validator.bytes()));
    e->set_outcome(static_cast<uint32_t>(v.outcome));
    e->set_reason(static_cast<uint32_t>(v.reason));
    e->set_replayed_end(AsString(v.replayed_end));
    e->set_witness_hash(AsString(v.witness_hash));
    e->set_height(v.height);
    e->set_overturned(v.overturned);
  }
  for (const Address& a : s.missed) r.add_missed(AsString(a.bytes()));
  r.set_dispute(s.dispute);
  state.Set(SlotKey(id, index), EncodeDeterministic(r));
}

Slot DecodeSlot(ByteSpan bytes) {
  auto r = DecodeStateRecord<proto::SlotRecord>(bytes, "slot");
  Slot s;
  s.chosen = r.chosen();
  s.segment = r.segment();
  s.witness_step = r.witness_step();
  if (!r.assignee().empty()) s.assignee = AddressAt(r.assignee());
  s.due_height = r.due_height();
  s.draws = r.draws();
  s.state = static_cast<SlotState>(r.resolved());
  for (const proto::VerdictEntry& e : r.verdicts()) {
    s.verdicts.push_back({AddressAt(e.validator()), static_cast<VerdictOutcome>(e.outcome()),
                          static_cast<FailReason>(e.reason()), HashAt(e.replayed_end()),
                          HashAt(e.witness_hash()), e.height(), e.overturned()});
  }
  for (const std::string& a : r.missed()) s.missed.push_back(AddressAt(a));
  s.dispute = r.dispute();
  return s;
}

std::optional<Slot> LoadSlot(StateReader& state, const TaskId& id, uint32_t index) {
  std::optional<Bytes> v = state.Get(SlotKey(id, index));
  if (!v) return std::nullopt;
  return DecodeSlot(*v);
}

void PutRound(StateBuffer& state, const RoundRecord& a) {
  proto::AggregationRecord r;
  for (const Address& x : a.assignees) r.add_assignees(AsString(x.bytes()));
  r.set_due_height(a.due_height);
  r.set_draws(a.draws);
  for (const RoundResultRecord& e : a.results) {
    proto::RoundResultEntry* p = r.add_results();
    p->set_validator(AsString(e.validator.bytes()));
    p->set_height(e.height);
    if (e.unavailable) {
      p->set_unavailable(AsString(*e.unavailable));
    } else if (e.commitment) {
      p->set_commitment(AsString(*e.commitment));
    } else {
      p->set_params_hash(AsString(e.params_hash));
      p->set_validation_loss(e.validation_loss);
      p->set_digest(AsString(e.digest));
    }
  }
  r.set_recorded(a.recorded);
  if (a.recorded) r.set_params_hash(AsString(a.params_hash));
  r.set_validation_loss(a.validation_loss);
  r.set_recorded_height(a.recorded_height);
  for (const Hash256& h : a.start_hashes) r.add_start_hashes(AsString(h));
  r.set_fee_uagr(a.fee_uagr);
  r.set_abandoned(a.abandoned);
  for (const Address& x : a.missed) r.add_missed(AsString(x.bytes()));
  state.Set(AggKey(a.job, a.round), EncodeDeterministic(r));
}

RoundRecord DecodeRound(uint64_t job, uint32_t round, ByteSpan bytes) {
  auto r = DecodeStateRecord<proto::AggregationRecord>(bytes, "aggregation");
  RoundRecord a;
  a.job = job;
  a.round = round;
  for (const std::string& x : r.assignees()) a.assignees.push_back(AddressAt(x));
  a.due_height = r.due_height();
  a.draws = r.draws();
  for (const proto::RoundResultEntry& e : r.results()) {
    RoundResultRecord x;
    x.validator = AddressAt(e.validator());
    x.params_hash = HashOrZero(e.params_hash());
    x.validation_loss = e.validation_loss();
    x.height = e.height();
    x.digest = HashOrZero(e.digest());
    if (!e.commitment().empty()) x.commitment = HashAt(e.commitment());
    if (!e.unavailable().empty()) x.unavailable = HashAt(e.unavailable());
    a.results.push_back(std::move(x));
  }
  a.recorded = r.recorded();
  if (a.recorded) a.params_hash = HashAt(r.params_hash());
  a.validation_loss = r.validation_loss();
  a.recorded_height = r.recorded_height();
  for (const std::string& h : r.start_hashes()) a.start_hashes.push_back(HashAt(h));
  a.fee_uagr = r.fee_uagr();
  a.abandoned = r.abandoned();
  for (const std::string& x : r.missed()) a.missed.push_back(AddressAt(x));
  return a;
}

// ------------------------------------------------------------- sampling

// The validators a draw may pick: drawable at the EndBlock's height (in the
// set in force, neither jailed nor tombstoned, with stake), in operator-
// address order, weighted by stake, with their replay profiles in force.
// All of it is read once per EndBlock (every draw happens there): stakes
// slashed later in the same EndBlock count from the next.
struct Pool {
  uint64_t height = 0;  // the EndBlock's
  uint64_t params_floor = 0;  // verify.replay_params_floor
  bool loaded = false;
  std::vector<Address> addresses;
  std::vector<uint64_t> stakes;
  std::vector<std::optional<staking::ReplayProfile>> profiles;
  std::map<uint64_t, std::vector<bool>> fits;  // per job: which of them fit it
};

const std::vector<bool>& Fits(StateReader& state, Pool& pool, uint64_t job) {
  if (!pool.loaded) {
    for (const staking::ValidatorRecord& v : staking::DrawableValidators(state, pool.height)) {
      pool.addresses.push_back(v.operator_address);
      pool.stakes.push_back(staking::GetStake(state, v.operator_address));
      pool.profiles.push_back(staking::GetReplayProfile(state, v.operator_address, pool.height));
    }
    pool.loaded = true;
  }
  auto it = pool.fits.find(job);
  if (it != pool.fits.end()) return it->second;
  std::vector<bool> fits(pool.addresses.size(), true);
  if (std::optional<marketplace::Job> j = marketplace::GetJob(state, job)) {
    for (size_t i = 0; i < fits.size(); ++i) fits[i] = staking::CanReplay(pool.profiles[i], j->spec, pool.params_floor);
  }
  return pool.fits.emplace(job, std::move(fits)).first->second;
}

// How many of the pool fit (`fits`) and are not `parties`.
size_t Fitting(const Pool& pool, const std::vector<bool>& fits,
               const std::vector<Address>& parties) {
  size_t fitting = 0;
  for (size_t i = 0; i < fits.size(); ++i) {
    fitting += fits[i] && std::find(parties.begin(), parties.end(), pool.addresses[i]) ==
                              parties.end();
  }
  return fitting;
}

// Draws one validator for `job` (a slot, a round record, a referee), never
// one in `avoid`. Only validators whose replay profile fits the job are
// drawn while at least `fit_min` of them are not `parties` (the provider,
// a dispute's sides), which a draw for this purpose never picks; with
// fewer, every drawable validator may be, so that a job whose fitting
// validators shrank their profiles or left is not stalled (docs/verify.md,
// "Replay profiles"). The stream is the block's beacon with the draw's
// purpose and ordinal, so each draw is fresh.
std::optional<Address> DrawValidator(StateReader& state, Pool& pool, uint64_t job, size_t fit_min,
                                     const std::vector<Address>& parties, const Hash256& beacon,
                                     const Bytes& task, uint32_t purpose, uint64_t ordinal,
                                     const std::vector<Address>& avoid) {
  const std::vector<bool>& fits = Fits(state, pool, job);
  auto in = [](const std::vector<Address>& list, const Address& a) {
    return std::find(list.begin(), list.end(), a) != list.end();
  };
  const bool only_fitting = Fitting(pool, fits, parties) >= fit_min;
  std::vector<verify::Candidate> candidates;
  std::vector<Address> addresses;
  std::vector<size_t> excluded;
  for (size_t i = 0; i < fits.size(); ++i) {
    if (only_fitting && !fits[i]) continue;
    const Address& a = pool.addresses[i];
    if (in(avoid, a)) excluded.push_back(candidates.size());
    candidates.push_back({Bytes(a.bytes().begin(), a.bytes().end()), pool.stakes[i]});
    addresses.push_back(a);
  }
  Bytes named = task;
  PutU64BigEndian(named, ordinal);
  uint64_t counter = 0;
  std::optional<size_t> pick =
      verify::PickValidator(beacon, named, purpose, &counter, candidates, excluded);
  if (!pick) return std::nullopt;
  return addresses[*pick];
}

// ------------------------------------------------------------- settlement

// Two passes of a slot agree when they replayed to the same end and the
// same witness (an inner state, or a one-step segment's gradient; zeros
// before 2026-12-04, when one-step passes agreed on the end alone, which
// the commitment shows): the earlier sealed its witness
// (WitnessCommitment(witness, its validator)) and the later opens it
// (SealedWitnesses), so nobody can copy an agreeing witness from the chain:
// it must replay to match. (Until 2026-12-03 only the first verdict
// committed; until 2026-12-04 every pass after the first standing one was
// in the clear and two of them could agree.) `sealed` is
// SealedWitnesses(s), computed once by the caller.
bool Agree(const Slot& s, const std::vector<bool>& sealed, size_t i, size_t j) {
  if (i > j) std::swap(i, j);
  const VerdictRecord& a = s.verdicts[i];
  const VerdictRecord& b = s.verdicts[j];
  if (a.outcome != VerdictOutcome::kPass || b.outcome != VerdictOutcome::kPass ||
      a.overturned || b.overturned || a.replayed_end != b.replayed_end) {
    return false;
  }
  return sealed[i] && !sealed[j] && WitnessCommitment(b.witness_hash, a.validator) == a.witness_hash;
}

bool FailLike(const VerdictRecord& v) {
  return v.outcome != VerdictOutcome::kPass && !v.overturned;
}
bool Passed(const VerdictRecord& v) { return v.outcome == VerdictOutcome::kPass && !v.overturned; }
size_t Live(const Slot& s) {
  return static_cast<size_t>(std::count_if(s.verdicts.begin(), s.verdicts.end(),
                                           [](const VerdictRecord& v) { return !v.overturned; }));
}

// The verdicts that settled a slot: for a pass, those agreeing with the
// first agreeing pair (or the single unaudited pass); for a fail, the
// fail-like ones.
std::vector<size_t> Winners(const Slot& s) {
  std::vector<size_t> out;
  if (s.state == SlotState::kFailed) {
    for (size_t i = 0; i < s.verdicts.size(); ++i) {
      if (FailLike(s.verdicts[i])) out.push_back(i);
    }
    return out;
  }
  const std::vector<bool> sealed = SealedWitnesses(s);
  for (size_t i = 0; i < s.verdicts.size(); ++i) {
    if (!Passed(s.verdicts[i])) continue;
    for (size_t j = 0; j < s.verdicts.size(); ++j) {
      if (j != i && Agree(s, sealed, i, j)) out.push_back(i);
    }
  }
  if (out.empty()) {
    // A single pass (no audit, or nobody left to confirm a disagreement).
    for (size_t i = 0; i < s.verdicts.size(); ++i) {
      if (Passed(s.verdicts[i])) {
        out.push_back(i);
        break;
      }
    }
  }
  return out;
}

// Outvoted verdicts (never "unavailable": a blob may be out of reach for
// one validator and not another) lose slash_false_claim_ppm of their stake.
void SlashOutvoted(StateBuffer& state, const Params& params, const TaskId& id, uint32_t index,
                   const Slot& s, std::vector<Event>* events) {
  const std::vector<size_t> won = Winners(s);
  for (size_t i = 0; i < s.verdicts.size(); ++i) {
    const VerdictRecord& v = s.verdicts[i];
    if (std::find(won.begin(), won.end(), i) != won.end()) continue;
    if (v.outcome == VerdictOutcome::kUnavailable || v.overturned) continue;
    const uint64_t burned = staking::Slash(state, v.validator, params.slash_false_claim_ppm);
    events->push_back({"verdict_outvoted",
                       {{"task", TaskName(id)},
                        {"slot", std::to_string(index)},
                        {"validator", v.validator.ToString()},
                        {"burned_uagr", std::to_string(burned)}}});
  }
}

// Two agreeing passes fetched the blobs the slot needs, so each
// "unavailable" claim standing on it is refuted and costs its sender
// verify.slash_missed_ppm, what missing would have cost, as for round
// records (round_result_claim_refuted). Until 2026-12-05 a claim cost
// nothing: a lazy validator could claim instead of replaying, and
// colluders could delay an honest task by a draw each for free. A true
// claim (the provider served nobody: the slot fails, or closes with no
// agreement) costs nothing. A validator the provider chose not to serve
// pays no more than it would have by missing.
void RefuteClaims(StateBuffer& state, const Params& params, const TaskId& id, uint32_t index,
                  const Slot& s, std::vector<Event>* events) {
  for (const VerdictRecord& v : s.verdicts) {
    if (v.outcome != VerdictOutcome::kUnavailable || v.overturned) continue;
    const uint64_t burned = staking::Slash(state, v.validator, params.verify_slash_missed_ppm);
    events->push_back({"verdict_claim_refuted",
                       {{"task", TaskName(id)},
                        {"slot", std::to_string(index)},
                        {"validator", v.validator.ToString()},
                        {"burned_uagr", std::to_string(burned)}}});
  }
}

void Schedule(StateBuffer& state, uint64_t height, DueKind kind, const TaskId& id, uint32_t slot) {
  state.Set(DueKey(height, kind, id, slot), Bytes{});
}

// Pays a task whose slots all passed: the market pays the provider and
// keeps the validators' fee, which goes at once to the validators whose
// verdicts settled the slots (equal shares, the remainder to the first).
void Settle(StateBuffer& state, const Params& params, uint64_t height, const TaskId& id,
            const Commitment& c, std::vector<Event>* events) {
  std::optional<marketplace::Task> task = marketplace::GetTask(state, id);
  AGORA_CHECK(task.has_value());
  const uint64_t validators_fee =
      market::SplitPayment(task->price_uagr, params.validator_fee_ppm).validators_uagr;
  // TaskPassed sets part of it aside on the job for those who record the
  // next round's start (marketplace::TakeAggregationFee).
  const uint64_t fee =
      validators_fee - market::PartPpm(validators_fee, params.verify_aggregation_fee_ppm);
  AGORA_CHECK(marketplace::TaskPassed(state, params, height, id, events).ok());
  std::vector<Address> paid;
  for (const Slot& s : GetSlots(state, id, c.slots)) {
    for (size_t i : Winners(s)) paid.push_back(s.verdicts[i].validator);
  }
  if (!paid.empty() && fee > 0) {
    marketplace::PayValidatorFees(state, fee, paid);
    events->push_back({"validator_fees_paid",
                       {{"task", TaskName(id)},
                        {"validators", std::to_string(paid.size())},
                        {"fee_uagr", std::to_string(fee)}}});
  } else if (fee > 0) {
    // No verdict stands on any slot (the provider won a dispute against
    // each): nobody earned the fee, and it goes back to the client rather
    // than stay in the pool for ever.
    std::optional<marketplace::Job> j = marketplace::GetJob(state, id.job);
    AGORA_CHECK(j.has_value());
    marketplace::PayValidatorFees(state, fee, {&j->client, 1});
    events->push_back({"validator_fees_refunded",
                       {{"task", TaskName(id)},
                        {"client", j->client.ToString()},
                        {"fee_uagr", std::to_string(fee)}}});
  }
  TaskPaid(state, height, id);
}

// A slot that has just been resolved: pass counts toward payment, fail
// settles the task as fraud at once.
// `rests_on_claims`: fraud decided by "unavailable" claims of more than a
// third of the power (Count): nobody is outvoted (a pass may be honest: the
// provider served that validator and not others) and nobody is rewarded
// (no fail was put to the provider's dispute window).
void SlotResolved(StateBuffer& state, const Params& params, uint64_t height, const TaskId& id,
                  uint32_t index, Slot& s, Commitment& c, std::vector<Event>* events,
                  bool settled_by_agreement = true, bool rests_on_claims = false) {
  // Nobody is outvoted where no two verdicts agreed.
  if (settled_by_agreement && !rests_on_claims) SlashOutvoted(state, params, id, index, s, events);
  if (settled_by_agreement && s.state == SlotState::kPassed) RefuteClaims(state, params, id, index, s, events);
  events->push_back({"slot_resolved",
                     {{"task", TaskName(id)},
                      {"slot", std::to_string(index)},
                      {"segment", std::to_string(s.segment)},
                      {"result", s.state == SlotState::kPassed ? "pass" : "fail"},
                      {"verdicts", std::to_string(s.verdicts.size())}}});
  if (s.state == SlotState::kFailed) {
    // Fraud: half the collateral to the first validator that reported it.
    std::optional<Address> reporter;
    for (const VerdictRecord& v : s.verdicts) {
      if (rests_on_claims) break;
      if (v.outcome == VerdictOutcome::kFail && !v.overturned) {
        reporter = v.validator;
        break;
      }
    }
    // Fraud resting on unavailable blobs rewards nobody (it is all burned):
    // claiming unavailability must not pay.
    AGORA_CHECK(marketplace::TaskFailed(state, params, height, id, events, reporter).ok());
    // The other slots stop: their awaited validators are released.
    for (uint32_t k = 0; k < c.slots; ++k) {
      if (k == index) continue;
      std::optional<Slot> other = LoadSlot(state, id, k);
      if (!other || other->state != SlotState::kPending) continue;
      other->assignee.reset();
      other->state = SlotState::kFailed;
      PutSlot(state, id, k, *other);
    }
    return;
  }
  if (++c.slots_passed == c.slots) {
    c.settle_height = height + params.verify_dispute_window_blocks;
    Schedule(state, c.settle_height, DueKind::kSettle, id, 0);
  }
}

// A slot that can take no more verdicts and where no two agree: it has as
// many as a slot may have (`why` = "cap"), or every eligible validator but
// the provider has given one ("everyone answered": waiting would only help
// if the set grew, and a job must not stall on it). The task keeps its pay
// if anyone passed it, or if no verdict stands (the provider won a dispute
// against each): one side's word against the other's proves nothing, and
// nobody is slashed. Otherwise (no pass and a fail-like verdict standing:
// "unavailable" claims from the few validators eligible for the job, or the
// one fail of a set of one eligible validator) it fails.
void CloseUnresolved(StateBuffer& state, const Params& params, uint64_t height, const TaskId& id,
                     uint32_t index, Slot& s, Commitment& c, std::string_view why,
                     std::vector<Event>* events) {
  const bool passed = std::any_of(s.verdicts.begin(), s.verdicts.end(),
                                  [](const VerdictRecord& v) { return Passed(v); });
  s.state = passed || Live(s) == 0 ? SlotState::kPassed : SlotState::kFailed;
  s.assignee.reset();
  events->push_back({"slot_unresolved",
                     {{"task", TaskName(id)},
                      {"slot", std::to_string(index)},
                      {"verdicts", std::to_string(s.verdicts.size())},
                      {"why", std::string(why)}}});
  SlotResolved(state, params, height, id, index, s, c, events, /*settled_by_agreement=*/false);
}

// Asks one more validator for the slot. Validators that missed are drawn
// again only when nobody else is left; with nobody at all, the slot waits
// verify.verdict_blocks and tries again (liveness rests on validators
// answering, and missing costs them: SlotDue). Draws happen in EndBlock,
// from a beacon that did not exist when the last verdict was included.
// Returns false, drawing nobody, when every eligible validator but the
// provider has already given a verdict on the slot: the caller closes it
// (CloseUnresolved).
[[nodiscard]] bool DrawNext(StateBuffer& state, Pool& pool, const Params& params, uint64_t height,
                            const Hash256& beacon, const TaskId& id, uint32_t index, Slot& s,
                            const Address& provider, std::vector<Event>* events) {
  std::vector<Address> avoid{provider};
  for (const VerdictRecord& v : s.verdicts) avoid.push_back(v.validator);
  std::vector<Address> strict = avoid;
  strict.insert(strict.end(), s.missed.begin(), s.missed.end());
  std::optional<Address> next =
      DrawValidator(state, pool, id.job, 1, {provider}, beacon, TaskBytes(id), kSlotDraw + index, s.draws, strict);
  // Once a verdict stands a validator that missed is not drawn again: one
  // that never answers must not hold the slot open (found in review,
  // 2026-12-05: it was redrawn every verify.verdict_blocks until its stake
  // ran out); the slot is closed as everyone answered.
  if (!next && Live(s) == 0)
    next = DrawValidator(state, pool, id.job, 1, {provider}, beacon, TaskBytes(id), kSlotDraw + index, s.draws, avoid);
  if (!next && !s.verdicts.empty() &&
      DrawValidator(state, pool, id.job, 1, {provider}, beacon, TaskBytes(id), kSlotDraw + index, s.draws, {provider})) {
    return false;  // someone is eligible, and all of them have answered (or missed, past the cap)
  }
  ++s.draws;
  if (!next) {
    s.assignee.reset();
    s.due_height = height + params.verify_verdict_blocks;
    Schedule(state, s.due_height, DueKind::kAudit, id, index);
    events->push_back(
        {"validator_wait", {{"task", TaskName(id)}, {"slot", std::to_string(index)}}});
    return true;
  }
  s.assignee = *next;
  s.due_height = height + params.verify_verdict_blocks;
  Schedule(state, s.due_height, DueKind::kSlot, id, index);
  events->push_back({"validator_drawn",
                     {{"task", TaskName(id)},
                      {"slot", std::to_string(index)},
                      {"validator", next->ToString()},
                      {"due_height", std::to_string(s.due_height)}}});
  return true;
}

}  // namespace

bool ClaimsHoldMoreThanAThird(StateReader& state, uint64_t height,
                              const std::vector<Address>& claimers) {
  const std::vector<Validator> set = staking::SetInForce(state, height);
  uint64_t total = 0;
  for (const Validator& v : set) total += v.power;
  std::vector<PublicKey> counted;
  uint64_t claimed = 0;
  for (const Address& a : claimers) {
    const std::optional<staking::ValidatorRecord> r = staking::GetValidator(state, a);
    if (!r || std::find(counted.begin(), counted.end(), r->consensus_key) != counted.end()) {
      continue;
    }
    for (const Validator& v : set) {
      if (v.key != r->consensus_key || v.power == 0) continue;
      counted.push_back(r->consensus_key);
      claimed += v.power;
    }
  }
  // Total power is at most kTotalPowerMax (2^60), so 3 * total cannot overflow.
  return counted.size() >= kUnavailableClaimsMin && 3 * claimed > total;
}

namespace {

// What a slot's standing verdicts say (overturned ones count for nothing).
// Fraud, unless two passes agree, is either of:
// * fail-like verdicts at least two and outnumbering the passes, where
//   "unavailable" counts only while nobody passed;
// * "unavailable" claims from validators holding more than a third of the
//   power (ClaimsHoldMoreThanAThird), whatever else stands. A claim cannot
//   be disputed (nobody can prove a blob was served), but the chain already
//   assumes less than a third of the power is Byzantine: such a group has
//   an honest member the provider did not serve. So colluders inside that
//   bound cannot fail an honest provider by claims, however many of them
//   are drawn in a row, and a lazy or colluding pass that agrees with
//   nothing does not rescue a provider that serves nobody.
struct Tally {
  size_t passes = 0, fails = 0;
  std::vector<Address> claimers;  // the senders of "unavailable"
  bool agreed = false;            // two verdicts agree (Agree)
  bool fraud = false;
  bool by_claims = false;  // claims of more than a third decide it
  // Fraud by fails that a verdict which came in at or after `fresh_since`
  // completed: the provider has not had a window to dispute its fails
  // since it became fraud.
  bool awaits_dispute_window = false;
};

Tally Count(StateReader& state, uint64_t height, const Slot& s, uint64_t fresh_since) {
  Tally t;
  bool fresh = false;
  const std::vector<bool> sealed = SealedWitnesses(s);
  for (size_t i = 0; i < s.verdicts.size(); ++i) {
    const VerdictRecord& v = s.verdicts[i];
    if (v.overturned) continue;
    fresh |= v.height >= fresh_since;
    t.passes += v.outcome == VerdictOutcome::kPass;
    t.fails += v.outcome == VerdictOutcome::kFail;
    if (v.outcome == VerdictOutcome::kUnavailable) t.claimers.push_back(v.validator);
    if (v.outcome != VerdictOutcome::kPass) continue;  // only passes agree
    for (size_t j = i + 1; j < s.verdicts.size(); ++j) t.agreed |= Agree(s, sealed, i, j);
  }
  const size_t against = t.fails + (t.passes == 0 ? t.claimers.size() : 0);
  const bool by_fails = t.fails > 0 && against >= 2 && against > t.passes;
  t.by_claims = ClaimsHoldMoreThanAThird(state, height, t.claimers);
  t.fraud = !t.agreed && (by_fails || t.by_claims);
  t.awaits_dispute_window = t.fraud && !t.by_claims && fresh;
  return t;
}

// After a verdict (or a dispute's end): settle the slot, or ask for another
// replay from the next block (kAudit due: the audit draw, or the next
// validator). Fraud (Count) fails the slot, but not on a fail the provider
// has had no window to dispute: found in review (2026-12-05), a colluder's
// "unavailable" followed by another's false fail failed an honest
// provider's task in the block of the fail, before it could open a
// dispute. Fraud by fails that a new verdict completed (one at or after
// `fresh_since`: this height, or after a dispute the height it opened at,
// since a verdict that came in during it could not be answered then) waits
// dispute.move_blocks like any fresh fail, and NextDue settles it if no
// dispute came. Fraud by claims does not wait: there is nothing to
// dispute. A slot with a claim standing and
// no agreement draws past its cap (a claim costs nobody a replay), to the
// last eligible validator (CloseUnresolved).
void Resolve(StateBuffer& state, const Params& params, uint64_t height, const TaskId& id,
             uint32_t index, Slot& s, Commitment& c, std::vector<Event>* events,
             uint64_t fresh_since) {
  // A slot under dispute waits for it (DisputeEnded resolves it again).
  if (s.dispute != 0) return;
  const Tally t = Count(state, height, s, fresh_since);
  if (t.agreed) {
    s.state = SlotState::kPassed;
  } else if (t.fraud) {
    if (!t.awaits_dispute_window) s.state = SlotState::kFailed;
  } else if (Live(s) == 1 && t.passes == 1 && params.verify_audit_ppm == 0) {
    s.state = SlotState::kPassed;
  } else if (Live(s) >= params.verify_draws_per_slot_max && t.claimers.empty()) {
    CloseUnresolved(state, params, height, id, index, s, c, "cap", events);
    return;
  }
  if (s.state != SlotState::kPending) {
    SlotResolved(state, params, height, id, index, s, c, events, /*settled_by_agreement=*/true,
                 /*rests_on_claims=*/s.state == SlotState::kFailed && t.by_claims);
    return;
  }
  // One pass waits for the audit draw; anything else for the next replay.
  // A fresh fail (end state, losses or delta) first gives the provider
  // dispute.move_blocks to dispute it (docs/dispute.md): an online honest
  // provider settles it by the game, not by a vote of replays.
  AGORA_CHECK(!s.verdicts.empty());
  const VerdictRecord& last = s.verdicts.back();
  const bool disputable = (last.outcome == VerdictOutcome::kFail && !last.overturned &&
                           last.height == height) ||
                          t.awaits_dispute_window;
  // The slot remembers which due entry it waits for: an older one (the
  // window of an earlier fail whose dispute ended sooner) must not draw the
  // next validator inside this fail's window.
  s.due_height = height + (disputable ? params.dispute_move_blocks : 1);
  Schedule(state, s.due_height, DueKind::kAudit, id, index);
}

// Draws the record's next aggregator (never one that answered or missed
// before, unless nobody else is left); with nobody at all, waits
// verify.verdict_blocks and tries again. Returns false, drawing nobody, when
// every eligible validator has already sent a result: the caller abandons
// the record, as at its cap.
[[nodiscard]] bool DrawAggregator(StateBuffer& state, Pool& pool, const Params& params,
                                  uint64_t height, const Hash256& beacon, RoundRecord& a,
                                  std::vector<Event>* events) {
  const TaskId named{a.job, a.round, kRoundWorker};
  std::vector<Address> avoid;
  for (const RoundResultRecord& r : a.results) avoid.push_back(r.validator);
  std::vector<Address> strict = avoid;
  strict.insert(strict.end(), a.missed.begin(), a.missed.end());
  std::optional<Address> v =
      DrawValidator(state, pool, a.job, 2, {}, beacon, TaskBytes(named), kRoundDraw, a.draws, strict);
  // As for slots: once a result stands, a validator that missed is not
  // drawn again (with nobody else left the record is abandoned).
  if (!v && a.results.empty()) {
    v = DrawValidator(state, pool, a.job, 2, {}, beacon, TaskBytes(named), kRoundDraw, a.draws, avoid);
  }
  if (!v && !a.results.empty() &&
      DrawValidator(state, pool, a.job, 2, {}, beacon, TaskBytes(named), kRoundDraw, a.draws, {})) {
    return false;  // someone is eligible, and all of them have answered
  }
  a.assignees.clear();
  a.due_height = height + params.verify_verdict_blocks;
  Schedule(state, a.due_height, DueKind::kRound, named, 0);
  if (!v) {
    events->push_back({"validator_wait",
                       {{"job_id", std::to_string(a.job)}, {"round", std::to_string(a.round)}}});
    return true;
  }
  ++a.draws;
  a.assignees.push_back(*v);
  events->push_back({"aggregator_drawn",
                     {{"job_id", std::to_string(a.job)},
                      {"round", std::to_string(a.round)},
                      {"validator", v->ToString()},
                      {"due_height", std::to_string(a.due_height)}}});
  return true;
}

// Opens the record of the weights `job` holds at the start of `round`.
void OpenRoundAggregation(StateBuffer& state, Pool& pool, const Params& params, uint64_t height,
                          const Hash256& beacon, uint64_t job, uint32_t round,
                          std::vector<Event>* events) {
  RoundRecord a;
  a.job = job;
  a.round = round;
  a.fee_uagr = marketplace::TakeAggregationFee(state, job);
  events->push_back({"round_record_opened",
                     {{"job_id", std::to_string(job)},
                      {"round", std::to_string(round)},
                      {"fee_uagr", std::to_string(a.fee_uagr)}}});
  // With no results yet it draws someone or waits for the set to have one.
  const bool drawing = DrawAggregator(state, pool, params, height, beacon, a, events);
  AGORA_CHECK(drawing);
  PutRound(state, a);
}

// The record will never be made: no two of its results agreed, and it has
// verify.draws_per_slot_max of them or every eligible validator has sent one
// (the job cannot go on from weights nobody confirmed: it fails), or the job
// ended meanwhile. The client gets back the record's fee
// (and, through the market, the rest of its escrow).
void Abandon(StateBuffer& state, uint64_t height, RoundRecord& a, const std::string& why,
             std::vector<Event>* events) {
  a.abandoned = true;
  a.assignees.clear();
  std::optional<marketplace::Job> j = marketplace::GetJob(state, a.job);
  AGORA_CHECK(j.has_value());
  marketplace::PayValidatorFees(state, a.fee_uagr, {&j->client, 1});
  events->push_back({"round_record_abandoned",
                     {{"job_id", std::to_string(a.job)},
                      {"round", std::to_string(a.round)},
                      {"results", std::to_string(a.results.size())},
                      {"job", std::string(marketplace::JobStatusName(j->status))},
                      {"refunded_uagr", std::to_string(a.fee_uagr)}}});
  a.fee_uagr = 0;
  if (!marketplace::IsActive(j->status)) return;
  AGORA_CHECK(marketplace::AbandonJob(state, height, a.job, why, events).ok());
}

// ------------------------------------------------------------- EndBlock

void Sample(StateBuffer& state, Pool& pool, const Params& params, uint64_t height,
            const Hash256& beacon, const TaskId& id, std::vector<Event>* events) {
  std::optional<Commitment> c = GetCommitment(state, id);
  std::optional<marketplace::Task> t = marketplace::GetTask(state, id);
  if (!c || !t || t->status != marketplace::TaskStatus::kCommitted) return;
  std::vector<Address> taken{c->provider};
  std::vector<Slot> slots(c->slots);
  for (uint32_t k = 0; k < c->slots; ++k) {
    // Distinct validators while there are enough; then any but the provider.
    std::optional<Address> v =
        DrawValidator(state, pool, id.job, 1, {c->provider}, beacon, TaskBytes(id), kSlotDraw + k, 0, taken);
    if (!v) v = DrawValidator(state, pool, id.job, 1, {c->provider}, beacon, TaskBytes(id), kSlotDraw + k, 0, {c->provider});
    if (!v) {
      // No validator can replay now (all jailed): try again later.
      Schedule(state, height + params.verify_verdict_blocks, DueKind::kSample, id, 0);
      return;
    }
    taken.push_back(*v);
    slots[k].assignee = *v;
    slots[k].draws = 1;
    slots[k].due_height = height + params.verify_verdict_blocks;
  }
  AGORA_CHECK(marketplace::TaskVerifying(state, id).ok());
  Event e{"task_sampled", {{"task", TaskName(id)}}};
  for (uint32_t k = 0; k < c->slots; ++k) {
    PutSlot(state, id, k, slots[k]);
    Schedule(state, slots[k].due_height, DueKind::kSlot, id, k);
    e.attributes.push_back({"slot_" + std::to_string(k), slots[k].assignee->ToString()});
  }
  events->push_back(std::move(e));
}

void SlotDue(StateBuffer& state, Pool& pool, const Params& params, uint64_t height,
             const Hash256& beacon, const TaskId& id, uint32_t index, std::vector<Event>* events) {
  std::optional<Commitment> c = GetCommitment(state, id);
  std::optional<Slot> s = LoadSlot(state, id, index);
  std::optional<marketplace::Task> t = marketplace::GetTask(state, id);
  if (!c || !s || !t || t->status != marketplace::TaskStatus::kVerifying) return;
  if (s->state != SlotState::kPending || !s->assignee || s->due_height != height) return;
  events->push_back({"verdict_missed",
                     {{"task", TaskName(id)},
                      {"slot", std::to_string(index)},
                      {"validator", s->assignee->ToString()}}});
  // Not answering costs a little, so silence is no free re-roll.
  const uint64_t burned = staking::Slash(state, *s->assignee, params.verify_slash_missed_ppm);
  events->back().attributes.push_back({"burned_uagr", std::to_string(burned)});
  if (std::find(s->missed.begin(), s->missed.end(), *s->assignee) == s->missed.end()) {
    s->missed.push_back(*s->assignee);
  }
  s->assignee.reset();
  // Under dispute nobody more is drawn; DisputeEnded goes on from here.
  if (s->dispute == 0 &&
      !DrawNext(state, pool, params, height, beacon, id, index, *s, c->provider, events)) {
    CloseUnresolved(state, params, height, id, index, *s, *c, "everyone answered", events);
  }
  PutSlot(state, id, index, *s);
  PutCommitment(state, id, *c);
}

void NextDue(StateBuffer& state, Pool& pool, const Params& params, uint64_t height,
             const Hash256& beacon, const TaskId& id, uint32_t index, std::vector<Event>* events) {
  std::optional<Commitment> c = GetCommitment(state, id);
  std::optional<Slot> s = LoadSlot(state, id, index);
  std::optional<marketplace::Task> t = marketplace::GetTask(state, id);
  if (!c || !s || !t || t->status != marketplace::TaskStatus::kVerifying) return;
  if (s->state != SlotState::kPending || s->assignee || s->dispute != 0) return;
  if (s->due_height != height) return;  // superseded by a later Resolve
  // Fraud that waited out the dispute window of its fail (Resolve): the
  // provider did not dispute, so it stands.
  if (Count(state, height, *s, height).fraud) {
    Resolve(state, params, height, id, index, *s, *c, events, height);
    PutSlot(state, id, index, *s);
    PutCommitment(state, id, *c);
    return;
  }
  // One standing verdict, a pass: the audit draw (overturned ones count for nothing).
  const bool single_pass =
      Live(*s) == 1 && std::any_of(s->verdicts.begin(), s->verdicts.end(),
                                   [](const VerdictRecord& v) { return Passed(v); });
  uint64_t counter = 0;
  Bytes named = TaskBytes(id);
  PutU64BigEndian(named, index);
  if (single_pass &&
      verify::Draw(beacon, named, kAuditDraw, &counter, 1'000'000) >= params.verify_audit_ppm) {
    s->state = SlotState::kPassed;
    SlotResolved(state, params, height, id, index, *s, *c, events);
  } else {
    if (single_pass) {
      events->push_back({"audit_drawn", {{"task", TaskName(id)}, {"slot", std::to_string(index)}}});
    }
    if (!DrawNext(state, pool, params, height, beacon, id, index, *s, c->provider, events)) {
      CloseUnresolved(state, params, height, id, index, *s, *c, "everyone answered", events);
    }
  }
  PutSlot(state, id, index, *s);
  PutCommitment(state, id, *c);
}

void SettleDue(StateBuffer& state, const Params& params, uint64_t height, const TaskId& id,
               std::vector<Event>* events) {
  std::optional<Commitment> c = GetCommitment(state, id);
  std::optional<marketplace::Task> t = marketplace::GetTask(state, id);
  if (!c || !t || t->status != marketplace::TaskStatus::kVerifying) return;
  if (c->settle_height != height || c->slots_passed != c->slots) return;
  Settle(state, params, height, id, *c, events);
}

void RoundDue(StateBuffer& state, Pool& pool, const Params& params, uint64_t height,
              const Hash256& beacon, uint64_t job, uint32_t round, std::vector<Event>* events) {
  std::optional<RoundRecord> a = GetRound(state, job, round);
  if (!a || a->recorded || a->abandoned || a->due_height != height) return;
  std::optional<marketplace::Job> j = marketplace::GetJob(state, job);
  AGORA_CHECK(j.has_value());
  if (!marketplace::IsActive(j->status)) {
    // The job ended meanwhile (cancelled, failed): nobody needs its weights.
    Abandon(state, height, *a, "", events);
    PutRound(state, *a);
    return;
  }
  // The awaited aggregator did not answer: it pays, and another is drawn
  // (it is drawn again only when nobody else is left).
  for (const Address& v : a->assignees) {
    const uint64_t burned = staking::Slash(state, v, params.verify_slash_missed_ppm);
    events->push_back({"round_result_missed",
                       {{"job_id", std::to_string(job)},
                        {"round", std::to_string(round)},
                        {"validator", v.ToString()},
                        {"burned_uagr", std::to_string(burned)}}});
    if (std::find(a->missed.begin(), a->missed.end(), v) == a->missed.end()) a->missed.push_back(v);
  }
  // Like a slot, a record takes at most verify.draws_per_slot_max results
  // with values; claims, misses and empty draws do not count (with nobody
  // to draw it waits; once every validator answered it is abandoned).
  const size_t with_values = static_cast<size_t>(
      std::count_if(a->results.begin(), a->results.end(),
                    [](const RoundResultRecord& x) { return !x.unavailable; }));
  if (with_values >= params.verify_draws_per_slot_max ||
      !DrawAggregator(state, pool, params, height, beacon, *a, events)) {
    Abandon(state, height, *a,
            "no two validators agreed on the weights at the start of round " +
                std::to_string(round) + " in " + std::to_string(a->results.size()) + " results",
            events);
  }
  PutRound(state, *a);
}

}  // namespace

void SetSlotDispute(StateBuffer& state, const TaskId& id, uint32_t slot, uint64_t dispute) {
  std::optional<Slot> s = LoadSlot(state, id, slot);
  AGORA_CHECK(s.has_value());
  s->dispute = dispute;
  PutSlot(state, id, slot, *s);
}

void DisputeEnded(StateBuffer& state, const Params& params, uint64_t height, const TaskId& id,
                  uint32_t slot, uint64_t dispute, uint64_t opened_height,
                  const Hash256& checkpoint_root, const Address& validator, DisputeResult result,
                  std::vector<Event>* events) {
  std::optional<Commitment> c = GetCommitment(state, id);
  if (!c || c->checkpoint_root != checkpoint_root) return;  // another attempt's commitment
  std::optional<Slot> s = LoadSlot(state, id, slot);
  if (!s || s->dispute != dispute) return;
  s->dispute = 0;
  std::optional<marketplace::Task> t = marketplace::GetTask(state, id);
  if (!t || t->status != marketplace::TaskStatus::kVerifying || s->state != SlotState::kPending) {
    PutSlot(state, id, slot, *s);  // settled meanwhile (another slot's fraud)
    return;
  }
  switch (result) {
    case DisputeResult::kProviderLost:
      // Fraud, as when two fails outvote the passes: the passes of this
      // segment are outvoted, the first fail is rewarded.
      s->state = SlotState::kFailed;
      SlotResolved(state, params, height, id, slot, *s, *c, events);
      break;
    case DisputeResult::kProviderForfeited:
      // The provider gave up its defence: the task fails as fraud, but
      // nothing proved the slot's passes wrong, so nobody is outvoted (a
      // colluding provider could otherwise get honest passes slashed by
      // opening a dispute over a partner's false fail and staying silent).
      s->state = SlotState::kFailed;
      SlotResolved(state, params, height, id, slot, *s, *c, events,
                   /*settled_by_agreement=*/false);
      break;
    case DisputeResult::kValidatorLost:
      for (VerdictRecord& v : s->verdicts) {
        if (v.validator == validator) v.overturned = true;
      }
      Resolve(state, params, height, id, slot, *s, *c, events, opened_height);
      break;
    case DisputeResult::kUndecided:
      // Nothing was shown either way: the fail counts for nothing from now
      // on, and nobody is slashed (found in review, 2026-12-05: a fail left
      // standing by referees who could not decide, plus a colluder's claim,
      // was fraud at once, its reward to the liar). A true fail is
      // confirmed by the replays drawn next, which the provider must
      // dispute and lose in turn.
      for (VerdictRecord& v : s->verdicts) {
        if (v.validator == validator && v.outcome == VerdictOutcome::kFail) v.overturned = true;
      }
      Resolve(state, params, height, id, slot, *s, *c, events, opened_height);
      break;
  }
  PutSlot(state, id, slot, *s);
  PutCommitment(state, id, *c);
}

std::vector<Address> DrawValidators(StateReader& state, uint64_t height, uint64_t job,
                                    const std::vector<Address>& parties, const Hash256& beacon,
                                    const Bytes& name, uint64_t count,
                                    const std::vector<Address>& avoid, uint64_t params_floor,
                                    bool fitting_only) {
  Pool pool;
  pool.height = height;
  pool.params_floor = params_floor;
  std::vector<Address> drawn, skip = avoid;
  const size_t fit_min = fitting_only ? 0 : count;
  for (uint64_t i = 0; i < count; ++i) {
    std::optional<Address> a = DrawValidator(state, pool, job, fit_min, parties, beacon, name, kRefereeDraw, i, skip);
    if (!a) break;
    drawn.push_back(*a);
    skip.push_back(*a);
  }
  return drawn;
}

size_t CountFitting(StateReader& state, uint64_t height, uint64_t job,
                    const std::vector<Address>& parties, uint64_t params_floor) {
  Pool pool;
  pool.height = height;
  pool.params_floor = params_floor;
  return Fitting(pool, Fits(state, pool, job), parties);
}

Bytes TaskBytes(const TaskId& id) {
  Bytes b;
  PutU64BigEndian(b, id.job);
  for (int i = 3; i >= 0; --i) b.push_back(static_cast<uint8_t>(id.round >> (8 * i)));
  for (int i = 3; i >= 0; --i) b.push_back(static_cast<uint8_t>(id.worker >> (8 * i)));
  return b;
}

Hash256 RoundResultDigest(const Hash256& params_hash, uint32_t validation_loss,
                          const std::vector<Hash256>& start_hashes) {
  Blake2b256Hasher h;
  h.Update(AsBytes("agora-round-result-v1"));
  h.Update(params_hash.bytes);
  const uint8_t loss[4] = {
      static_cast<uint8_t>(validation_loss >> 24), static_cast<uint8_t>(validation_loss >> 16),
      static_cast<uint8_t>(validation_loss >> 8), static_cast<uint8_t>(validation_loss)};
  h.Update(ByteSpan(loss, 4));
  for (const Hash256& s : start_hashes) h.Update(s.bytes);
  return h.Finish();
}

// BLAKE2b-256(domain || hash || validator): a value only `validator` can
// claim, and only by knowing `hash`.
Hash256 BoundToValidator(std::string_view domain, const Hash256& hash, const Address& validator) {
  Blake2b256Hasher h;
  h.Update(AsBytes(domain));
  h.Update(hash.bytes);
  h.Update(validator.bytes());
  return h.Finish();
}

Hash256 RoundResultCommitment(const Hash256& digest, const Address& validator) {
  return BoundToValidator("agora-round-commit-v1", digest, validator);
}

bool OpensARoundCommitment(const std::vector<RoundResultRecord>& results, const Hash256& digest) {
  return std::any_of(results.begin(), results.end(), [&](const RoundResultRecord& x) {
    return x.commitment && *x.commitment == RoundResultCommitment(digest, x.validator);
  });
}

void ScheduleRoundRecord(StateBuffer& state, uint64_t height, uint64_t job, uint32_t round) {
  Schedule(state, height + 1, DueKind::kOpenRound, TaskId{job, round, kRoundWorker}, 0);
}

void TaskPaid(StateBuffer& state, uint64_t height, const TaskId& id) {
  for (const auto& [tid, t] : marketplace::RoundTasks(state, id.job, id.round)) {
    if (t.status != marketplace::TaskStatus::kPassed) return;
  }
  ScheduleRoundRecord(state, height, id.job, id.round + 1);
}

Hash256 WitnessCommitment(const Hash256& witness, const Address& validator) {
  return BoundToValidator("agora-verify-witness-v1", witness, validator);
}

namespace {
// Whether `witness` (with `end`) opens the seal of one of the first `count`
// verdicts of `s` that is a sealed standing pass.
bool OpensASeal(const Slot& s, const std::vector<bool>& sealed, size_t count, const Hash256& end,
                const Hash256& witness) {
  for (size_t i = 0; i < count; ++i) {
    const VerdictRecord& v = s.verdicts[i];
    if (sealed[i] && v.outcome == VerdictOutcome::kPass && !v.overturned &&
        v.replayed_end == end && WitnessCommitment(witness, v.validator) == v.witness_hash) {
      return true;
    }
  }
  return false;
}
}  // namespace

std::vector<bool> SealedWitnesses(const Slot& s) {
  std::vector<bool> sealed(s.verdicts.size(), true);
  for (size_t k = 0; k < s.verdicts.size(); ++k) {
    const VerdictRecord& v = s.verdicts[k];
    sealed[k] = !OpensASeal(s, sealed, k, v.replayed_end, v.witness_hash);
  }
  return sealed;
}

Hash256 WitnessToSend(const Slot& s, const Hash256& replayed_end, const Hash256& witness,
                      const Address& sender) {
  if (witness.IsZero()) return witness;
  const std::vector<bool> sealed = SealedWitnesses(s);
  if (OpensASeal(s, sealed, s.verdicts.size(), replayed_end, witness)) return witness;
  return WitnessCommitment(witness, sender);
}

Bytes SegmentVrfInput(const TaskId& id, const Hash256& checkpoint_root, uint32_t slot) {
  constexpr std::string_view kDomain = "agora-verify-segment-v1";
  Bytes b(kDomain.begin(), kDomain.end());
  const Bytes task = TaskBytes(id);
  b.insert(b.end(), task.begin(), task.end());
  b.insert(b.end(), checkpoint_root.bytes.begin(), checkpoint_root.bytes.end());
  for (int i = 3; i >= 0; --i) b.push_back(static_cast<uint8_t>(slot >> (8 * i)));
  return b;
}

std::optional<Commitment> GetCommitment(StateReader& state, const TaskId& id) {
  std::optional<Bytes> v = state.Get(CommitKey(id));
  if (!v) return std::nullopt;
  return DecodeCommitment(*v);
}

std::vector<Slot> GetSlots(StateReader& state, const TaskId& id, uint32_t slots) {
  std::vector<Slot> out;
  for (uint32_t k = 0; k < slots; ++k) {
    std::optional<Slot> s = LoadSlot(state, id, k);
    if (!s) break;
    out.push_back(std::move(*s));
  }
  return out;
}

std::optional<RoundRecord> GetRound(StateReader& state, uint64_t job, uint32_t round) {
  std::optional<Bytes> v = state.Get(AggKey(job, round));
  if (!v) return std::nullopt;
  return DecodeRound(job, round, *v);
}

std::vector<RoundRecord> RoundsOf(StateReader& state, uint64_t job, size_t limit) {
  const std::string prefix = WithU64(std::string(kAggPrefix), job);
  std::vector<RoundRecord> out;
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(prefix), limit)) {
    out.push_back(DecodeRound(job, ReadU32(key, prefix.size()), value));
  }
  return out;
}

TxResult HandleCommitTask(StateBuffer& state, const Params& params, uint64_t height,
                          const Address& sender, const MsgCommitTask& msg) {
  const TaskId id{msg.job_id, msg.round, msg.worker};
  std::optional<marketplace::Task> t = marketplace::GetTask(state, id);
  if (!t) return Refuse(TxCode::kNotFound, "no task " + TaskName(id));
  if (t->provider != sender) {
    return Refuse(TxCode::kNotAssigned,
                  "task " + TaskName(id) + " is not assigned to " + sender.ToString());
  }
  if (t->status != marketplace::TaskStatus::kAssigned) {
    return Refuse(TxCode::kWrongPhase,
                  "task " + TaskName(id) + " is " +
                      std::string(marketplace::TaskStatusName(t->status)) +
                      "; only an assigned task takes a commit (one per assignment)");
  }
  std::optional<marketplace::Job> j = marketplace::GetJob(state, id.job);
  AGORA_CHECK(j.has_value());
  if (msg.losses.size() != j->spec.inner_steps) {
    return Refuse(TxCode::kInvalidMessage,
                  "commit_task: " + std::to_string(msg.losses.size()) + " losses for " +
                      std::to_string(j->spec.inner_steps) + " inner steps; send one per step");
  }
  if (msg.checkpoint_root.IsZero()) {
    return Refuse(TxCode::kInvalidMessage, "commit_task: the checkpoint root is all zeros");
  }
  // Checkpoint 0 must be the start state the round's record names for this
  // worker: the task trained from the job's recorded weights.
  std::optional<RoundRecord> start = GetRound(state, id.job, id.round);
  AGORA_CHECK(start && start->recorded && start->start_hashes.size() == j->spec.workers);
  const uint64_t leaves = j->spec.inner_steps / j->spec.checkpoint_interval + 1;
  if (!merkle::Verify(msg.checkpoint_root, start->start_hashes[id.worker],
                      merkle::Proof{0, leaves, msg.start_proof})) {
    return Refuse(TxCode::kBadProof,
                  "commit_task: checkpoint 0 under this root is not the recorded start state " +
                      start->start_hashes[id.worker].ToHex() + " of worker " +
                      std::to_string(id.worker) + " (train from the weights recorded for round " +
                      std::to_string(id.round) + " and send the Merkle siblings of checkpoint 0)");
  }
  AGORA_CHECK(marketplace::TaskCommitted(state, id).ok());
  // Slots of an earlier assignment of this task are gone with it.
  for (uint32_t k = 0; k < j->spec.spot_checks; ++k) state.Delete(SlotKey(id, k));
  Commitment c;
  c.provider = sender;
  c.checkpoint_root = msg.checkpoint_root;
  c.delta_hash = msg.delta_hash;
  c.height = height;
  c.losses = msg.losses;
  c.slots = j->spec.spot_checks;
  PutCommitment(state, id, c);
  Schedule(state, height + params.verify_delay_blocks, DueKind::kSample, id, 0);
  TxResult r;
  r.events.push_back({"task_committed",
                      {{"task", TaskName(id)},
                       {"provider", sender.ToString()},
                       {"checkpoint_root", msg.checkpoint_root.ToHex()},
                       {"sample_height", std::to_string(height + params.verify_delay_blocks)}}});
  return r;
}

TxResult HandleVerdict(StateBuffer& state, const Params& params, uint64_t height,
                       const Address& sender, const MsgVerdict& msg, SignatureCache* vrfs) {
  const TaskId id{msg.job_id, msg.round, msg.worker};
  std::optional<marketplace::Task> t = marketplace::GetTask(state, id);
  std::optional<Commitment> c = GetCommitment(state, id);
  if (!t || !c) return Refuse(TxCode::kNotFound, "no committed task " + TaskName(id));
  if (t->status != marketplace::TaskStatus::kVerifying) {
    return Refuse(TxCode::kWrongPhase,
                  "task " + TaskName(id) + " is " +
                      std::string(marketplace::TaskStatusName(t->status)) +
                      (t->status == marketplace::TaskStatus::kCommitted
                           ? "; its validators are drawn at height " +
                                 std::to_string(c->height + params.verify_delay_blocks)
                           : "; it takes no verdicts"));
  }
  if (msg.slot >= c->slots) {
    return Refuse(TxCode::kInvalidMessage, "task " + TaskName(id) + " has " +
                                               std::to_string(c->slots) + " sampled slots; slot " +
                                               std::to_string(msg.slot) + " does not exist");
  }
  std::optional<Slot> s = LoadSlot(state, id, msg.slot);
  AGORA_CHECK(s.has_value());
  if (s->state != SlotState::kPending) {
    return Refuse(TxCode::kWrongPhase, "slot " + std::to_string(msg.slot) + " of task " +
                                           TaskName(id) + " is already settled");
  }
  if (s->assignee != sender) {
    for (const VerdictRecord& v : s->verdicts) {
      if (v.validator == sender) {
        return Refuse(TxCode::kWrongPhase,
                      "a verdict from " + sender.ToString() + " on this slot is already recorded");
      }
    }
    return Refuse(TxCode::kNotAssigned, sender.ToString() +
                                            " is not the validator sampled for slot " +
                                            std::to_string(msg.slot) + " of task " + TaskName(id));
  }
  std::optional<marketplace::Job> j = marketplace::GetJob(state, id.job);
  AGORA_CHECK(j.has_value());
  const uint32_t steps = j->spec.checkpoint_interval;
  const uint32_t segments = j->spec.inner_steps / steps;
  if (!s->chosen) {
    if (!msg.vrf_proof) {
      return Refuse(TxCode::kInvalidMessage,
                    "the first verdict of a slot carries the validator's VRF proof");
    }
    std::optional<staking::ValidatorRecord> v = staking::GetValidator(state, sender);
    if (!v) return Refuse(TxCode::kNotValidator, sender.ToString() + " operates no validator");
    const Bytes alpha = SegmentVrfInput(id, c->checkpoint_root, msg.slot);
    Result<VrfOutput> out = vrfs != nullptr
                                ? vrfs->VerifyVrf(v->consensus_key, *msg.vrf_proof, alpha)
                                : VrfVerify(v->consensus_key, *msg.vrf_proof, alpha);
    if (!out.ok()) {
      return Refuse(TxCode::kBadProof,
                    "the VRF proof does not verify under the validator's consensus key for this "
                    "task, commitment and slot");
    }
    const verify::SegmentChoice choice =
        verify::SegmentFromVrf(out->bytes, TaskBytes(id), segments, steps);
    s->chosen = true;
    s->segment = choice.segment;
    s->witness_step = choice.witness_step;
  } else if (msg.vrf_proof) {
    return Refuse(TxCode::kInvalidMessage,
                  "this slot's segment is already named; a later verdict carries no VRF proof");
  }
  if (msg.outcome != VerdictOutcome::kUnavailable) {
    const uint64_t size = segments + 1;
    auto proves = [&](const Hash256& leaf, uint64_t index, const std::vector<Hash256>& path) {
      return merkle::Verify(c->checkpoint_root, leaf, merkle::Proof{index, size, path});
    };
    if (!proves(msg.start_hash, s->segment, msg.start_proof)) {
      return Refuse(TxCode::kBadProof, "the start checkpoint's proof does not match the root at " +
                                           std::to_string(s->segment));
    }
    if (!proves(msg.committed_end, s->segment + 1, msg.end_proof)) {
      return Refuse(TxCode::kBadProof, "the end checkpoint's proof does not match the root at " +
                                           std::to_string(s->segment + 1));
    }
    if (!proves(msg.final_hash, segments, msg.final_proof)) {
      return Refuse(TxCode::kBadProof, "the final checkpoint's proof does not match the root at " +
                                           std::to_string(segments));
    }
    if (msg.losses.size() != steps) {
      return Refuse(TxCode::kInvalidMessage, "a verdict carries the segment's " +
                                                 std::to_string(steps) + " replayed losses");
    }
    if (msg.witness_hash.IsZero()) {
      return Refuse(TxCode::kInvalidMessage,
                    steps > 1 ? "the witness hash (the state at step " +
                                    std::to_string(s->witness_step) + " of the segment) is missing"
                              : "the witness hash (of the one step's gradient) is missing");
    }
    const auto committed = c->losses.begin() + static_cast<ptrdiff_t>(s->segment) * steps;
    const bool losses_match = std::equal(msg.losses.begin(), msg.losses.end(), committed);
    const bool end_match = msg.replayed_end == msg.committed_end;
    if (msg.outcome == VerdictOutcome::kPass && !(losses_match && end_match)) {
      return Refuse(TxCode::kInvalidMessage, std::string("a pass must replay to the committed ") +
                                                 (end_match ? "losses" : "end state") +
                                                 "; send a fail");
    }
    if (msg.reason == FailReason::kEndState && end_match) {
      return Refuse(TxCode::kInvalidMessage,
                    "a fail for the end state replays to the committed end");
    }
    if (msg.reason == FailReason::kLosses && losses_match) {
      return Refuse(TxCode::kInvalidMessage, "a fail for the losses replays the committed losses");
    }
  }
  s->assignee.reset();
  s->verdicts.push_back(
      {sender, msg.outcome, msg.reason, msg.replayed_end, msg.witness_hash, height});
  TxResult r;
  r.events.push_back(
      {"verdict",
       {{"task", TaskName(id)},
        {"slot", std::to_string(msg.slot)},
        {"segment", std::to_string(s->segment)},
        {"validator", sender.ToString()},
        {"outcome", msg.outcome == VerdictOutcome::kPass
                        ? "pass"
                        : (msg.outcome == VerdictOutcome::kFail ? "fail" : "unavailable")}}});
  Resolve(state, params, height, id, msg.slot, *s, *c, &r.events, height);
  // A fraud settles the task, which deletes nothing of this module but
  // reopens the task; records are still written for the record.
  PutSlot(state, id, msg.slot, *s);
  PutCommitment(state, id, *c);
  return r;
}

namespace {

// Whether the blob a result names as unavailable is one its round's record
// needs: the job's dataset (round and worker 0), or the delta of a passed
// task of an earlier round of the job.
bool NeedsBlob(StateBuffer& state, const marketplace::Job& j, const MsgRoundResult& msg) {
  if (*msg.unavailable == j.spec.dataset_hash) {
    return msg.unavailable_round == 0 && msg.unavailable_worker == 0;
  }
  if (msg.unavailable_round >= msg.round || msg.unavailable_worker >= j.spec.workers) return false;
  const TaskId id{msg.job_id, msg.unavailable_round, msg.unavailable_worker};
  std::optional<marketplace::Task> t = marketplace::GetTask(state, id);
  std::optional<Commitment> c = GetCommitment(state, id);
  return t && t->status == marketplace::TaskStatus::kPassed && c &&
         c->delta_hash == *msg.unavailable;
}

}  // namespace

TxResult HandleRoundResult(StateBuffer& state, const Params& params, uint64_t height,
                           const Address& sender, const MsgRoundResult& msg) {
  const std::string name =
      "round " + std::to_string(msg.round) + " of job " + std::to_string(msg.job_id);
  std::optional<RoundRecord> a = GetRound(state, msg.job_id, msg.round);
  if (!a) {
    return Refuse(TxCode::kWrongPhase,
                  "nothing to record for " + name +
                      " yet: a round's start is recorded once the job is posted (round 0) or "
                      "every task of the round before it passed");
  }
  if (a->recorded || a->abandoned) {
    return Refuse(TxCode::kWrongPhase,
                  name + (a->recorded ? " is already recorded" : " was abandoned"));
  }
  auto it = std::find(a->assignees.begin(), a->assignees.end(), sender);
  if (it == a->assignees.end()) {
    for (const RoundResultRecord& x : a->results) {
      if (x.validator == sender) {
        return Refuse(TxCode::kWrongPhase, "a result from " + sender.ToString() + " for " + name +
                                               " is already recorded");
      }
    }
    return Refuse(TxCode::kNotAssigned, sender.ToString() + " is not drawn to record " + name);
  }
  std::optional<marketplace::Job> j = marketplace::GetJob(state, msg.job_id);
  AGORA_CHECK(j.has_value());
  if (!marketplace::IsActive(j->status)) {
    // Nobody needs the weights of an ended job: its record is abandoned at
    // its due height and the fee goes back to the client, unpaid.
    return Refuse(TxCode::kWrongPhase,
                  "job " + std::to_string(msg.job_id) + " has ended (" +
                      std::string(marketplace::JobStatusName(j->status)) + "); " + name +
                      " will not be recorded and its fee goes back to the client");
  }
  // The first result with values carries only their commitment; results
  // naming an unavailable blob carry none and do not count here. A later
  // one is in the clear only if it opens an earlier commitment.
  const bool first = std::none_of(a->results.begin(), a->results.end(),
                                  [](const RoundResultRecord& x) { return !x.unavailable; });
  if (msg.unavailable && !NeedsBlob(state, *j, msg)) {
    return Refuse(TxCode::kInvalidMessage,
                  name + " does not need blob " + msg.unavailable->ToHex() +
                      ": name the job's dataset (unavailable_round and unavailable_worker 0) or "
                      "the delta of a passed task of an earlier round, with its round and worker");
  }
  if (!msg.unavailable && first && !msg.commitment) {
    return Refuse(TxCode::kInvalidMessage,
                  "the first result of a round carries only its commitment "
                  "(RoundResultCommitment of the values and the sender)");
  }
  const bool clear = !msg.unavailable && !msg.commitment;
  if (clear &&
      !OpensARoundCommitment(a->results, RoundResultDigest(msg.params_hash, msg.validation_loss,
                                                           msg.start_hashes))) {
    return Refuse(TxCode::kInvalidMessage,
                  "these values open no earlier result's commitment on " + name +
                      ": send their commitment (RoundResultCommitment of the values and the "
                      "sender) instead; values go in the clear only to agree with a commitment");
  }
  const size_t starts = msg.round < j->spec.rounds ? j->spec.workers : 0;
  if (clear && msg.start_hashes.size() != starts) {
    return Refuse(TxCode::kInvalidMessage, name + " takes " + std::to_string(starts) +
                                               " start hashes (one per task of the "
                                               "round), not " +
                                               std::to_string(msg.start_hashes.size()));
  }
  a->assignees.erase(it);
  RoundResultRecord mine;
  mine.validator = sender;
  mine.height = height;
  TxResult r;
  Event e{"round_result",
          {{"job_id", std::to_string(msg.job_id)},
           {"round", std::to_string(msg.round)},
           {"validator", sender.ToString()}}};
  if (msg.unavailable) {
    mine.unavailable = *msg.unavailable;
    e.attributes.push_back({"unavailable", msg.unavailable->ToHex()});
  } else if (msg.commitment) {
    mine.commitment = *msg.commitment;
    e.attributes.push_back({"commitment", msg.commitment->ToHex()});
  } else {
    mine.params_hash = msg.params_hash;
    mine.validation_loss = msg.validation_loss;
    mine.digest = RoundResultDigest(msg.params_hash, msg.validation_loss, msg.start_hashes);
    e.attributes.push_back({"params_hash", msg.params_hash.ToHex()});
  }
  r.events.push_back(std::move(e));
  a->results.push_back(mine);
  auto matches = [&](const RoundResultRecord& x) {
    if (x.unavailable) return false;
    return x.commitment ? *x.commitment == RoundResultCommitment(mine.digest, x.validator)
                        : x.digest == mine.digest;
  };
  bool agreed = false;
  for (size_t i = 0; clear && i + 1 < a->results.size(); ++i) {
    agreed |= matches(a->results[i]);
  }
  std::vector<Address> claimers;
  for (const RoundResultRecord& x : a->results) {
    if (x.unavailable) claimers.push_back(x.validator);
  }
  const size_t unavailable = claimers.size();
  if (msg.unavailable && first && ClaimsHoldMoreThanAThird(state, height, claimers)) {
    // Validators holding more than a third of the power could not fetch a
    // blob the record needs, and nobody has computed the values: the
    // weights cannot be recorded, and the validators drawn after them would
    // only miss and be fined in turn (a client withholding its dataset
    // could bleed every validator's stake). As a slot's "unavailable"
    // counts only while nobody passed, a result with values (or its
    // commitment) keeps the record going. More than a third of the power,
    // not a count (two until 2026-12-04, three until 2026-12-05): colluders
    // below the chain's fault bound cannot fail a job whose blobs are
    // served, however many of them are drawn in a row, as with slots.
    Abandon(state, height, *a,
            "blob " + msg.unavailable->ToHex() + " that round " + std::to_string(msg.round) +
                "'s record needs could not be fetched by " + std::to_string(unavailable) +
                " validators",
            &r.events);
  } else if (agreed) {
    a->recorded = true;
    a->params_hash = msg.params_hash;
    a->validation_loss = msg.validation_loss;
    a->start_hashes = msg.start_hashes;
    a->recorded_height = height;
    a->assignees.clear();
    std::vector<Address> paid;
    for (const RoundResultRecord& y : a->results) {
      if (y.unavailable) {
        // The record was made, so the blob could be fetched: the claim
        // costs what missing would have (a claim that is true, the record
        // abandoned, costs nothing), so a lazy validator gains nothing by
        // claiming instead of computing.
        const uint64_t burned = staking::Slash(state, y.validator, params.verify_slash_missed_ppm);
        r.events.push_back({"round_result_claim_refuted",
                            {{"job_id", std::to_string(msg.job_id)},
                             {"round", std::to_string(msg.round)},
                             {"validator", y.validator.ToString()},
                             {"burned_uagr", std::to_string(burned)}}});
        continue;
      }
      if (matches(y)) {
        paid.push_back(y.validator);
        continue;
      }
      const uint64_t burned = staking::Slash(state, y.validator, params.slash_false_claim_ppm);
      r.events.push_back({"round_result_outvoted",
                          {{"job_id", std::to_string(msg.job_id)},
                           {"round", std::to_string(msg.round)},
                           {"validator", y.validator.ToString()},
                           {"burned_uagr", std::to_string(burned)}}});
    }
    marketplace::PayValidatorFees(state, a->fee_uagr, paid);
    r.events.push_back({"round_recorded",
                        {{"job_id", std::to_string(msg.job_id)},
                         {"round", std::to_string(msg.round)},
                         {"params_hash", msg.params_hash.ToHex()},
                         {"validation_loss_bits", std::to_string(msg.validation_loss)},
                         {"fee_uagr", std::to_string(a->fee_uagr)}}});
    AGORA_CHECK(marketplace::StartRound(state, height, msg.job_id, msg.round, &r.events).ok());
  } else if (a->assignees.empty()) {
    // The next aggregator is drawn in the next block's EndBlock (RoundDue),
    // from a beacon nobody knew here; past the results allowed, the record
    // is abandoned.
    a->due_height = height + 1;
    Schedule(state, a->due_height, DueKind::kRound, TaskId{msg.job_id, msg.round, kRoundWorker}, 0);
  }
  PutRound(state, *a);
  return r;
}

void EndBlock(StateBuffer& state, const Params& params, uint64_t height, const Hash256& beacon,
              std::vector<Event>* events) {
  const std::string due = WithU64(std::string(kDuePrefix), height);
  Pool pool;
  pool.height = height;
  pool.params_floor = params.verify_replay_params_floor;
  // Handling an entry may add one for this very height (a payment with no
  // dispute window): go on until none is left.
  for (;;) {
    const std::map<Bytes, Bytes> batch = state.ScanPrefix(AsBytes(due), kDuePerHeightMax);
    if (batch.empty()) break;
    for (const auto& [key, value] : batch) {
      state.Delete(std::string(key.begin(), key.end()));
      const size_t at = due.size();
      const auto kind = static_cast<DueKind>(key[at]);
      const TaskId id{ReadU64(key, at + 1), ReadU32(key, at + 9), ReadU32(key, at + 13)};
      const uint32_t slot = ReadU32(key, at + 17);
      switch (kind) {
        case DueKind::kSample:
          Sample(state, pool, params, height, beacon, id, events);
          break;
        case DueKind::kSlot:
          SlotDue(state, pool, params, height, beacon, id, slot, events);
          break;
        case DueKind::kSettle:
          SettleDue(state, params, height, id, events);
          break;
        case DueKind::kAudit:
          NextDue(state, pool, params, height, beacon, id, slot, events);
          break;
        case DueKind::kRound:
          RoundDue(state, pool, params, height, beacon, id.job, id.round, events);
          break;
        case DueKind::kOpenRound:
          if (!state.Get(AggKey(id.job, id.round)) &&
              marketplace::IsActive(marketplace::GetJob(state, id.job).value().status)) {
            OpenRoundAggregation(state, pool, params, height, beacon, id.job, id.round, events);
          }
          break;
      }
    }
  }
}

}  // namespace agora::consensus::verification
