// The verification module through the ledger, block by block: a commit is
// sampled after verify.delay_blocks, the sampled validator's VRF names the
// segment, Merkle proofs tie its verdict to the commitment, passes pay
// (the validators' fee to the validators who checked), two fail-like
// verdicts are fraud (half the collateral to the reporter, half burned),
// disagreements draw more validators and slash the outvoted, missed
// verdicts are replaced, the weights at the start of each round are recorded
// from a commitment and a matching result (and a commit must start from
// them), and every bad message changes nothing but the fee. The checkpoints here
// are stand-in hashes: tests/verify/job_test.cc runs real training.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <optional>
#include <set>

#include "common/merkle.h"
#include "common/proto_codec.h"
#include "common/vrf.h"
#include "consensus/ledger/staking.h"
#include "consensus/ledger/verification.h"
#include "market/pricing.h"
#include "proto/tx.pb.h"
#include "tests/consensus/market_harness.h"
#include "verify/sampling.h"

namespace agora::consensus {
namespace {

using marketplace::TaskId;
using marketplace::TaskStatus;
using testing::AddressOf;
using testing::Key;
using testing::kAgr;
using testing::LedgerHarness;
using testing::Market;
using testing::TinySpec;
using verification::SlotState;

constexpr uint32_t kH = 50, kC = 10, kSegments = kH / kC;

Params VerifyParams(uint64_t audit_ppm = 0, uint64_t verdict_blocks = 4) {
  Params p = Market::Defaults();
  p.verify_audit_ppm = audit_ppm;
  p.verify_delay_blocks = 2;
  p.verify_verdict_blocks = verdict_blocks;
  p.verify_dispute_window_blocks = 1;
  p.deadline_min_blocks = 40;
  // The tests of replay profiles narrow them below the tiny job; the
  // floor's own tests set one.
  p.verify_replay_params_floor = 0;
  return p;
}

// What a provider trained: checkpoint hashes at steps 0, C, ..., H; the
// truth an honest replay reaches is the same list, with a witness state
// inside each segment.
struct Work {
  std::vector<Hash256> checkpoints;
  std::vector<uint32_t> losses;
  Hash256 root;
  // Checkpoint 0 is the start state the harness records for task 1/0/0.
  static Work Honest(uint64_t salt) {
    Work w;
    w.checkpoints.push_back(testing::StartHash(1, 0, 0));
    for (uint32_t i = 1; i <= kSegments; ++i) {
      w.checkpoints.push_back(Blake2b256("ckpt " + std::to_string(salt) + " " + std::to_string(i)));
    }
    for (uint32_t i = 0; i < kH; ++i) w.losses.push_back(0x40000000u + i);
    w.root = merkle::Root(w.checkpoints);
    return w;
  }
  static Hash256 Witness(uint64_t salt, uint32_t segment, uint32_t step) {
    return Blake2b256("witness " + std::to_string(salt) + " " + std::to_string(segment) + " " +
                      std::to_string(step));
  }
};

MsgVerdict Unavailable(uint64_t job, std::optional<VrfProof> proof) {
  MsgVerdict u;
  u.job_id = job;
  u.outcome = VerdictOutcome::kUnavailable;
  u.vrf_proof = proof;
  return u;
}

class VerifyTest : public ::testing::Test {
 protected:
  explicit VerifyTest(Params p = VerifyParams(), uint8_t validators = 4) : m_(p, validators) {}

  void SetUp() override {
    m_.Provider(1, /*ask=*/1000);
    job_ = m_.Post(4, TinySpec(/*rounds=*/1, /*workers=*/1), 10 * market::TaskWorkWu(TinySpec()) * 1500,
                   1500);
    ASSERT_EQ(job_, 1u);  // Work::Honest names job 1's start state
    ASSERT_EQ(m_.Task(id_).status, TaskStatus::kAssigned);
  }

  MsgCommitTask Commit(const Work& w) {
    return MsgCommitTask{job_,     0, 0, w.root, Blake2b256("delta"),
                         w.losses, merkle::Prove(w.checkpoints, 0).siblings};
  }

  // Runs blocks until the task is sampled.
  void ToSampling() {
    for (int i = 0; i < 4 && m_.Task(id_).status != TaskStatus::kVerifying; ++i) m_.Block({});
    ASSERT_EQ(m_.Task(id_).status, TaskStatus::kVerifying);
  }

  verification::Slot Slot(uint32_t k = 0) {
    std::vector<verification::Slot> s = verification::GetSlots(m_.h().ledger().committed(), id_, 1);
    EXPECT_GT(s.size(), k);
    return s.at(k);
  }
  // The validator key (100..103) of an address.
  uint8_t KeyOf(const Address& a) { return m_.ValidatorKey(a); }
  uint8_t Assignee(uint32_t slot = 0) { return KeyOf(*Slot(slot).assignee); }

  verify::SegmentChoice ChoiceOf(uint8_t key, const Hash256& root, uint32_t slot = 0) {
    const VrfProof proof = VrfProve(Key(key), verification::SegmentVrfInput(id_, root, slot));
    return verify::SegmentFromVrf(VrfProofToHash(proof).bytes, verification::TaskBytes(id_),
                                  kSegments, kC);
  }

  // A verdict as an honest replay of `truth` gives it, for the provider's
  // commitment `w` (equal to truth unless it cheated).
  MsgVerdict Replay(uint8_t key, const Work& w, const Work& truth, uint64_t salt, bool first,
                    std::optional<verify::SegmentChoice> named = std::nullopt) {
    MsgVerdict v;
    v.job_id = job_;
    v.slot = 0;
    verify::SegmentChoice c = named ? *named : ChoiceOf(key, w.root);
    if (first) v.vrf_proof = VrfProve(Key(key), verification::SegmentVrfInput(id_, w.root, 0));
    auto path = [&](uint64_t i) { return merkle::Prove(w.checkpoints, i).siblings; };
    v.start_hash = w.checkpoints[c.segment];
    v.start_proof = path(c.segment);
    v.committed_end = w.checkpoints[c.segment + 1];
    v.end_proof = path(c.segment + 1);
    v.final_hash = w.checkpoints[kSegments];
    v.final_proof = path(kSegments);
    v.replayed_end = truth.checkpoints[c.segment + 1];
    v.witness_hash = Work::Witness(salt, c.segment, c.witness_step);
    v.losses.assign(truth.losses.begin() + c.segment * kC, truth.losses.begin() + (c.segment + 1) * kC);
    const bool end_ok = v.replayed_end == v.committed_end;
    const bool losses_ok = std::equal(v.losses.begin(), v.losses.end(), w.losses.begin() + c.segment * kC);
    // Sealed, unless it opens an earlier sealed pass (then in the clear).
    const std::vector<verification::Slot> now =
        verification::GetSlots(m_.h().ledger().committed(), id_, 1);
    v.witness_hash =
        first || now.empty()
            ? verification::WitnessCommitment(v.witness_hash, AddressOf(Key(key)))
            : verification::WitnessToSend(now[0], v.replayed_end, v.witness_hash,
                                          AddressOf(Key(key)));
    if (end_ok && losses_ok) {
      v.outcome = VerdictOutcome::kPass;
    } else {
      v.outcome = VerdictOutcome::kFail;
      v.reason = end_ok ? FailReason::kLosses : FailReason::kEndState;
    }
    return v;
  }

  // Everything the module keeps about the task, to compare before/after a
  // refused message.
  std::string Snapshot() {
    StateReader& s = m_.h().ledger().committed();
    std::string out;
    if (auto c = verification::GetCommitment(s, id_)) {
      out += c->checkpoint_root.ToHex() + std::to_string(c->slots_passed);
    }
    for (const verification::Slot& x : verification::GetSlots(s, id_, 1)) {
      out += std::to_string(x.verdicts.size()) + std::to_string(static_cast<int>(x.state)) +
             (x.assignee ? x.assignee->ToString() : "-") + std::to_string(x.segment);
    }
    out += std::to_string(static_cast<int>(m_.Task(id_).status));
    for (const verification::RoundRecord& r : verification::RoundsOf(s, job_, 10)) {
      out += " round " + std::to_string(r.round) + ":" + std::to_string(r.results.size()) +
             (r.recorded ? "R" : "-");
    }
    return out;
  }
  // The slot's first validator answers "unavailable" (its VRF names the
  // segment) and the next one drawn passes an honest replay of `w`.
  // Returns the first one's key and the segment named.
  std::pair<uint8_t, verify::SegmentChoice> UnavailableThenPass(const Work& w) {
    const uint8_t first = Assignee();
    EXPECT_EQ(m_.Send(first, Unavailable(job_, VrfProve(Key(first), verification::SegmentVrfInput(
                                                                        id_, w.root, 0))))
                  .code,
              TxCode::kOk);
    m_.Block({});
    const verify::SegmentChoice named{Slot().segment, Slot().witness_step};
    const uint8_t passer = Assignee();
    EXPECT_EQ(m_.Send(passer, Replay(passer, w, w, 1, false, named)).code, TxCode::kOk);
    return {first, named};
  }
  // Sends a message that must be refused with `code`: only the fee moves.
  void Refused(uint8_t key, const Msg& msg, TxCode code) {
    const std::string before = Snapshot();
    const uint64_t balance = m_.h().Balance(Key(key));
    const TxResult r = m_.Send(key, msg);
    EXPECT_EQ(r.code, code) << r.log;
    EXPECT_FALSE(r.log.empty());
    EXPECT_EQ(Snapshot(), before) << r.log;
    EXPECT_EQ(m_.h().Balance(Key(key)), balance - 10) << r.log;
  }

  Market m_;
  uint64_t job_ = 0;
  const TaskId id_{1, 0, 0};
};

TEST_F(VerifyTest, HonestTaskIsSampledReplayedPaidAndItsRoundRecorded) {
  const Work w = Work::Honest(1);
  const TxResult c = m_.Send(1, Commit(w));
  ASSERT_EQ(c.code, TxCode::kOk) << c.log;
  EXPECT_EQ(m_.Task(id_).status, TaskStatus::kCommitted);
  ToSampling();
  const uint8_t v = Assignee();
  EXPECT_NE(AddressOf(Key(v)), AddressOf(Key(1)));  // never the provider
  const uint64_t provider_before = m_.h().Balance(Key(1));
  const uint64_t validator_before = m_.h().Balance(Key(v));
  const uint64_t price = m_.Task(id_).price_uagr;
  const TxResult r = m_.Send(v, Replay(v, w, w, 1, true));
  ASSERT_EQ(r.code, TxCode::kOk) << r.log;
  // The segment is the one the validator's VRF names, whatever the beacon.
  EXPECT_EQ(Slot().segment, ChoiceOf(v, w.root).segment);
  EXPECT_EQ(Slot().witness_step, ChoiceOf(v, w.root).witness_step);
  EXPECT_EQ(Slot().state, SlotState::kPassed);
  m_.Block({});  // the dispute window
  ASSERT_EQ(m_.Task(id_).status, TaskStatus::kPassed);
  const market::Payout pay = market::SplitPayment(price, m_.params().validator_fee_ppm);
  // The validators' fee less the part set aside for the round's record.
  const uint64_t set_aside =
      market::PartPpm(pay.validators_uagr, m_.params().verify_aggregation_fee_ppm);
  ASSERT_GT(set_aside, 0u);
  EXPECT_EQ(m_.h().Balance(Key(1)), provider_before + pay.provider_uagr);
  EXPECT_EQ(m_.h().Balance(Key(v)), validator_before - 10 + pay.validators_uagr - set_aside);
  // The round is complete: the record of the final weights (round R = 1)
  // opens in the next block with one aggregator, whose result is a
  // commitment; the second is drawn after it.
  m_.Block({});
  std::optional<verification::RoundRecord> round =
      verification::GetRound(m_.h().ledger().committed(), job_, 1);
  ASSERT_TRUE(round.has_value());
  ASSERT_EQ(round->assignees.size(), 1u);
  EXPECT_EQ(round->fee_uagr, set_aside);
  const Hash256 weights = Blake2b256("final weights");
  const uint8_t a = KeyOf(round->assignees[0]);
  const uint64_t a_before = m_.h().Balance(Key(a));
  ASSERT_EQ(m_.Send(a, m_.RoundResultOf(job_, 1, AddressOf(Key(a)), true, {}, weights, 0x40400000u))
                .code,
            TxCode::kOk);
  EXPECT_FALSE(verification::GetRound(m_.h().ledger().committed(), job_, 1)->recorded);
  EXPECT_EQ(m_.Job(job_).status, marketplace::JobStatus::kRunning) << "waits for its record";
  m_.Block({});
  round = verification::GetRound(m_.h().ledger().committed(), job_, 1);
  ASSERT_EQ(round->assignees.size(), 1u);
  const uint8_t b = KeyOf(round->assignees[0]);
  EXPECT_NE(a, b);
  const uint64_t b_before = m_.h().Balance(Key(b));
  const TxResult second =
      m_.Send(b, m_.RoundResultOf(job_, 1, AddressOf(Key(b)), false, {}, weights, 0x40400000u));
  ASSERT_EQ(second.code, TxCode::kOk) << second.log;
  round = verification::GetRound(m_.h().ledger().committed(), job_, 1);
  EXPECT_TRUE(round->recorded);
  EXPECT_EQ(round->params_hash, weights);
  EXPECT_EQ(round->validation_loss, 0x40400000u);
  EXPECT_TRUE(round->start_hashes.empty()) << "no round follows the last";
  // Both aggregators are paid the fee the task set aside.
  EXPECT_EQ(m_.h().Balance(Key(a)), a_before - 10 + set_aside / 2 + set_aside % 2);
  EXPECT_EQ(m_.h().Balance(Key(b)), b_before - 10 + set_aside / 2);
  // The final weights are recorded: the job is finished.
  EXPECT_EQ(m_.Job(job_).status, marketplace::JobStatus::kFinished);
  EXPECT_EQ(verification::RoundsOf(m_.h().ledger().committed(), job_, 10).size(), 2u);
}

// Validators with time to spare: every refused message takes a block.
class PatientVerifyTest : public VerifyTest {
 protected:
  PatientVerifyTest() : VerifyTest(Patient()) {}
  static Params Patient() {
    Params p = VerifyParams(0, /*verdict_blocks=*/100);
    p.verify_dispute_window_blocks = 5;
    return p;
  }
};

TEST_F(PatientVerifyTest, BadMessagesAreRefusedAndChangeNothingButTheFee) {
  const Work w = Work::Honest(1);
  Work short_losses = w;
  short_losses.losses.pop_back();
  Refused(2, Commit(w), TxCode::kNotAssigned);              // someone else's task
  Refused(1, Commit(short_losses), TxCode::kInvalidMessage);  // H - 1 losses
  MsgCommitTask zero = Commit(w);
  zero.checkpoint_root = Hash256{};
  Refused(1, zero, TxCode::kInvalidMessage);
  MsgCommitTask other = Commit(w);
  other.job_id = 99;
  Refused(1, other, TxCode::kNotFound);
  // Trained from another start than the recorded one, or without the proof
  // that checkpoint 0 is the recorded start.
  Work elsewhere = w;
  elsewhere.checkpoints[0] = Blake2b256("other weights");
  elsewhere.root = merkle::Root(elsewhere.checkpoints);
  Refused(1, Commit(elsewhere), TxCode::kBadProof);
  MsgCommitTask no_proof = Commit(w);
  no_proof.start_proof.clear();
  Refused(1, no_proof, TxCode::kBadProof);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  // A verdict before sampling (the next block; sampling is two after).
  Refused(100, Replay(100, w, w, 1, true), TxCode::kWrongPhase);
  ToSampling();
  Refused(1, Commit(w), TxCode::kWrongPhase);  // a second commit
  const uint8_t v = Assignee();
  const uint8_t stranger = v == 100 ? 101 : 100;
  Refused(stranger, Replay(stranger, w, w, 1, true), TxCode::kNotAssigned);  // not sampled
  MsgVerdict bad = Replay(v, w, w, 1, true);
  bad.slot = 1;  // s = 1: no such slot
  Refused(v, bad, TxCode::kInvalidMessage);
  bad = Replay(v, w, w, 1, /*first=*/false);  // no VRF proof on the first verdict
  Refused(v, bad, TxCode::kInvalidMessage);
  bad = Replay(v, w, w, 1, true);
  bad.vrf_proof = VrfProve(Key(stranger), verification::SegmentVrfInput(id_, w.root, 0));
  Refused(v, bad, TxCode::kBadProof);  // another key's VRF
  bad = Replay(v, w, w, 1, true);
  bad.start_proof.at(0).bytes[0] ^= 1;
  Refused(v, bad, TxCode::kBadProof);
  bad = Replay(v, w, w, 1, true);
  bad.committed_end = Blake2b256("not committed");
  Refused(v, bad, TxCode::kBadProof);
  bad = Replay(v, w, w, 1, true);
  bad.replayed_end = Blake2b256("elsewhere");  // a pass that did not replay to the end
  Refused(v, bad, TxCode::kInvalidMessage);
  bad = Replay(v, w, w, 1, true);
  bad.losses.pop_back();
  Refused(v, bad, TxCode::kInvalidMessage);
  bad = Replay(v, w, w, 1, true);
  bad.witness_hash = Hash256{};  // no witness: an echo of the provider's hashes
  Refused(v, bad, TxCode::kInvalidMessage);
  bad = Replay(v, w, w, 1, true);
  bad.outcome = VerdictOutcome::kFail;
  bad.reason = FailReason::kEndState;  // a fail whose end matches
  Refused(v, bad, TxCode::kInvalidMessage);
  // A result for the round after, whose start cannot be recorded yet, and
  // one for round 0, which is recorded already.
  Refused(v, m_.RoundResultOf(job_, 1, AddressOf(Key(v)), true, {}, Blake2b256("w")),
          TxCode::kWrongPhase);
  Refused(v, m_.RoundResultOf(job_, 0, AddressOf(Key(v)), true, {}, Blake2b256("w")),
          TxCode::kWrongPhase);
  // The good verdict, then the same again.
  ASSERT_EQ(m_.Send(v, Replay(v, w, w, 1, true)).code, TxCode::kOk);
  Refused(v, Replay(v, w, w, 1, false, Slot().chosen ? std::optional(verify::SegmentChoice{
                                                                 Slot().segment, Slot().witness_step})
                                                          : std::nullopt),
          TxCode::kWrongPhase);
  for (int i = 0; i < 7 && !verification::GetRound(m_.h().ledger().committed(), job_, 1); ++i) {
    m_.Block({});
  }
  ASSERT_EQ(m_.Task(id_).status, TaskStatus::kPassed);
  std::optional<verification::RoundRecord> round =
      verification::GetRound(m_.h().ledger().committed(), job_, 1);
  ASSERT_TRUE(round.has_value());
  ASSERT_EQ(round->assignees.size(), 1u);
  const uint8_t a = KeyOf(round->assignees[0]);
  const Address from = AddressOf(Key(a));
  const Hash256 weights = Blake2b256("w");
  // A result from a validator that was not drawn.
  const uint8_t undrawn = a == 100 ? 101 : 100;
  Refused(undrawn, m_.RoundResultOf(job_, 1, AddressOf(Key(undrawn)), true, {}, weights),
          TxCode::kNotAssigned);
  // The first result of a round must be a commitment.
  Refused(a, m_.RoundResultOf(job_, 1, from, false, {}, weights), TxCode::kInvalidMessage);
  ASSERT_EQ(m_.Send(a, m_.RoundResultOf(job_, 1, from, true, {}, weights)).code, TxCode::kOk);
  Refused(a, m_.RoundResultOf(job_, 1, from, false, {}, weights), TxCode::kWrongPhase);  // twice
  m_.Block({});
  round = verification::GetRound(m_.h().ledger().committed(), job_, 1);
  ASSERT_EQ(round->assignees.size(), 1u);
  const uint8_t b = KeyOf(round->assignees[0]);
  // Values in the clear must open an earlier commitment (other values go
  // as a commitment of their own), and for round R carry no start hashes.
  const MsgRoundResult unopened =
      m_.RoundResultOf(job_, 1, AddressOf(Key(b)), false, {}, Blake2b256("other values"));
  Refused(b, unopened, TxCode::kInvalidMessage);
  const TxResult why = m_.Send(b, unopened);
  EXPECT_NE(why.log.find("open no earlier result's commitment"), std::string::npos) << why.log;
  Refused(b, m_.RoundResultOf(job_, 1, AddressOf(Key(b)), false, {Blake2b256("x")}, weights),
          TxCode::kInvalidMessage);
  EXPECT_EQ(verification::GetRound(m_.h().ledger().committed(), job_, 1)->results.size(), 1u);
}

// A ledger given the node's SignatureCache checks a verdict's VRF proof
// through it: the proof the verdict carried is then a cache hit, so every
// other node sharing the cache (the simulator's nodes; a node that already
// checked it) does not verify it again.
TEST_F(VerifyTest, VerdictVrfProofIsCheckedThroughTheSignatureCache) {
  SignatureCache cache;
  m_.h().ledger().SetSignatureCache(&cache);
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  const uint8_t v = Assignee();
  const MsgVerdict verdict = Replay(v, w, w, 1, true);
  ASSERT_TRUE(verdict.vrf_proof.has_value());
  const TxResult r = m_.Send(v, verdict);
  ASSERT_EQ(r.code, TxCode::kOk) << r.log;
  EXPECT_EQ(Slot().state, SlotState::kPassed);
  EXPECT_EQ(cache.hits(), 0u);
  const Bytes alpha = verification::SegmentVrfInput(id_, w.root, 0);
  Result<VrfOutput> again = cache.VerifyVrf(Key(v).public_key(), *verdict.vrf_proof, alpha);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->bytes, VrfProofToHash(*verdict.vrf_proof).bytes);
  EXPECT_EQ(cache.hits(), 1u) << "the ledger verified the proof without the cache";
  m_.h().ledger().SetSignatureCache(nullptr);
}

TEST_F(VerifyTest, FakedEndStateIsFraudConfirmedBySecondValidator) {
  const Work truth = Work::Honest(1);
  // The provider fakes every segment: any sample catches it.
  const Work fake = Work::Honest(2);
  ASSERT_EQ(m_.Send(1, Commit(fake)).code, TxCode::kOk);
  ToSampling();
  const uint64_t stake_before = m_.h().Stake(Key(1));
  const uint64_t collateral = m_.Task(id_).collateral_uagr;
  const uint64_t burned_before = m_.h().ledger().ReadTotals().burned;
  const uint8_t first = Assignee();
  const uint64_t first_before = m_.h().Balance(Key(first));
  // The replay of the true start state ends elsewhere: fail.
  MsgVerdict v = Replay(first, fake, truth, 1, true);
  ASSERT_EQ(v.outcome, VerdictOutcome::kFail);
  ASSERT_EQ(m_.Send(first, v).code, TxCode::kOk);
  EXPECT_EQ(m_.Task(id_).status, TaskStatus::kVerifying);  // one claim is not proof
  // The provider may dispute a fail for the end state for
  // dispute.move_blocks (docs/dispute.md); it does not, so the confirming
  // validator is drawn then, from a beacon the first could not know when
  // its verdict was included.
  for (uint64_t i = 1; i < m_.params().dispute_move_blocks; ++i) {
    m_.Block({});
    EXPECT_FALSE(Slot().assignee.has_value()) << "drawn within the provider's window, block " << i;
  }
  m_.Block({});
  const uint8_t second = Assignee();
  EXPECT_NE(second, first);
  const verification::Slot s = Slot();
  ASSERT_EQ(m_.Send(second, Replay(second, fake, truth, 1, false,
                                   verify::SegmentChoice{s.segment, s.witness_step}))
                .code,
            TxCode::kOk);
  // The confirming fail gets its own dispute window before it settles
  // anything (since 2026-12-05: a colluder's second fail could otherwise
  // not be disputed), then the fraud stands without another draw.
  for (uint64_t i = 1; i < m_.params().dispute_move_blocks; ++i) {
    m_.Block({});
    ASSERT_EQ(Slot().state, SlotState::kPending) << "block " << i << " of the window";
    ASSERT_FALSE(Slot().assignee.has_value()) << "block " << i << " of the window";
    ASSERT_EQ(m_.h().Stake(Key(1)), stake_before) << "block " << i << " of the window";
  }
  m_.Block({});
  EXPECT_EQ(Slot().state, SlotState::kFailed);
  // Fraud: the collateral leaves the provider's stake, half to the first
  // reporter, half burned; reputation at the floor; the task is open again.
  EXPECT_EQ(m_.h().Stake(Key(1)), stake_before - collateral);
  EXPECT_EQ(m_.h().Balance(Key(first)), first_before - 10 + collateral / 2);
  EXPECT_EQ(m_.h().ledger().ReadTotals().burned, burned_before + collateral - collateral / 2);
  EXPECT_EQ(m_.Prov(1).reputation_ppm, m_.params().reputation_min_ppm);
  EXPECT_EQ(m_.Prov(1).tasks_failed, 1u);
  EXPECT_NE(m_.Task(id_).status, TaskStatus::kVerifying);
  EXPECT_NE(m_.Task(id_).status, TaskStatus::kPassed);
}

// Found in review (2026-12-03): after an honest fail, a colluder's pass
// carried its made-up witness in the clear (only a slot's first verdict was
// a commitment), and a lazy validator drawn next could copy the colluder's
// verdict from the chain: two agreeing passes, so the fraud passed and the
// honest fail was outvoted and slashed. Now the slot's first pass is a
// commitment bound to its sender too: a copy of it agrees with nothing.
TEST_F(VerifyTest, TheFirstPassAfterAFailCannotBeCopiedFromTheChain) {
  const Work truth = Work::Honest(1);
  const Work fake = Work::Honest(2);
  ASSERT_EQ(m_.Send(1, Commit(fake)).code, TxCode::kOk);
  ToSampling();
  const uint8_t honest = Assignee();
  const uint64_t honest_stake = m_.h().Stake(Key(honest));
  MsgVerdict fail = Replay(honest, fake, truth, 1, true);
  ASSERT_EQ(fail.outcome, VerdictOutcome::kFail);
  ASSERT_EQ(m_.Send(honest, fail).code, TxCode::kOk);
  for (uint64_t i = 0; i < m_.params().dispute_move_blocks; ++i) m_.Block({});
  const uint8_t colluder = Assignee();
  const verification::Slot s = Slot();
  const verify::SegmentChoice named{s.segment, s.witness_step};
  // The colluder echoes the provider's end with a made-up witness.
  const MsgVerdict pass = Replay(colluder, fake, fake, 7, false, named);
  ASSERT_EQ(pass.outcome, VerdictOutcome::kPass);
  ASSERT_EQ(m_.Send(colluder, pass).code, TxCode::kOk);
  EXPECT_EQ(Slot().state, SlotState::kPending);
  m_.Block({});
  const uint8_t lazy = Assignee();
  ASSERT_NE(lazy, colluder);
  ASSERT_NE(lazy, honest);
  // The lazy validator sends the colluder's verdict as the chain shows it.
  MsgVerdict copy = pass;
  copy.witness_hash = Slot().verdicts.at(1).witness_hash;
  ASSERT_EQ(m_.Send(lazy, copy).code, TxCode::kOk);
  EXPECT_EQ(Slot().state, SlotState::kPending) << "the copy agrees with nothing";
  EXPECT_TRUE(Slot().assignee.has_value() || Slot().verdicts.size() == 3u);
  EXPECT_EQ(m_.Task(id_).status, TaskStatus::kVerifying);
  EXPECT_EQ(m_.h().Stake(Key(honest)), honest_stake) << "the honest fail is not outvoted";
  // An honest replay agrees with the fail, not with the passes.
  m_.Block({});
  const uint8_t fourth = Assignee();
  ASSERT_EQ(m_.Send(fourth, Replay(fourth, fake, truth, 1, false, named)).code, TxCode::kOk);
  EXPECT_EQ(m_.h().Stake(Key(honest)), honest_stake);
}

// A claim of unavailability cannot be disputed, so it takes claims from
// validators holding more than a third of the power (and no pass) to fail
// a slot: of four equal validators, two (TenValidatorsTest has the case
// where more claims are not enough).
TEST_F(VerifyTest, ClaimsOfMoreThanAThirdOfThePowerAreFraudThatRewardsNobody) {
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  const uint64_t stake_before = m_.h().Stake(Key(1));
  const uint64_t collateral = m_.Task(id_).collateral_uagr;
  const uint64_t burned_before = m_.h().ledger().ReadTotals().burned;
  const uint8_t first = Assignee();
  ASSERT_EQ(m_.Send(first, Unavailable(job_, VrfProve(Key(first), verification::SegmentVrfInput(
                                                                   id_, w.root, 0))))
                .code,
            TxCode::kOk);
  for (size_t claims = 2; claims <= verification::kUnavailableClaimsMin; ++claims) {
    EXPECT_EQ(Slot().state, SlotState::kPending) << claims - 1 << " claims";
    EXPECT_EQ(m_.h().Stake(Key(1)), stake_before) << claims - 1 << " claims";
    m_.Block({});
    ASSERT_EQ(m_.Send(Assignee(), Unavailable(job_, std::nullopt)).code, TxCode::kOk);
  }
  EXPECT_EQ(Slot().state, SlotState::kFailed);
  EXPECT_EQ(m_.h().Stake(Key(1)), stake_before - collateral);
  EXPECT_EQ(m_.Prov(1).tasks_failed, 1u);
  // Claiming unavailability never pays: the whole collateral is burned.
  EXPECT_EQ(m_.h().ledger().ReadTotals().burned, burned_before + collateral);
}

// A claim and a fail are fraud, but only once the provider has had the
// fail's dispute window (dispute.move_blocks) and let it pass: then the
// slot fails without another draw. DisputeTest has the provider that
// disputes.
TEST_F(VerifyTest, AClaimThenAnUndisputedFailIsFraudAfterTheFailsWindow) {
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  const uint64_t stake_before = m_.h().Stake(Key(1));
  const uint64_t collateral = m_.Task(id_).collateral_uagr;
  const uint8_t first = Assignee();
  ASSERT_EQ(m_.Send(first, Unavailable(job_, VrfProve(Key(first), verification::SegmentVrfInput(
                                                                   id_, w.root, 0))))
                .code,
            TxCode::kOk);
  m_.Block({});
  const uint8_t second = Assignee();
  const verify::SegmentChoice named{Slot().segment, Slot().witness_step};
  const MsgVerdict fail = Replay(second, w, Work::Honest(2), 2, false, named);
  ASSERT_EQ(fail.outcome, VerdictOutcome::kFail);
  ASSERT_EQ(m_.Send(second, fail).code, TxCode::kOk);
  for (uint64_t i = 1; i < m_.params().dispute_move_blocks; ++i) {
    EXPECT_EQ(Slot().state, SlotState::kPending) << "block " << i << " of the window";
    EXPECT_FALSE(Slot().assignee.has_value()) << "block " << i << " of the window";
    EXPECT_EQ(m_.h().Stake(Key(1)), stake_before) << "block " << i << " of the window";
    m_.Block({});
  }
  m_.Block({});
  EXPECT_EQ(Slot().state, SlotState::kFailed);
  EXPECT_EQ(Slot().verdicts.size(), 2u) << "nobody else was drawn";
  EXPECT_EQ(m_.h().Stake(Key(1)), stake_before - collateral);
  EXPECT_EQ(m_.Prov(1).tasks_failed, 1u);
}

// A claim below a third of the power against an honest pass: no fraud;
// another replay is drawn and agrees with the pass, and the claim costs
// its sender nothing.
// A lone false fail is not fraud, so an honest provider may let its window
// pass; a claim that later completes fraud with it gives the provider a new
// window to dispute the fail before anything is settled (found in review,
// 2026-12-05: it was fraud at once).
TEST_F(VerifyTest, AClaimCompletingFraudWithAnOldFailGivesTheProviderAWindow) {
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  const uint64_t stake_before = m_.h().Stake(Key(1));
  const uint8_t liar = Assignee();
  const MsgVerdict fail = Replay(liar, w, Work::Honest(2), 2, true);
  ASSERT_EQ(fail.outcome, VerdictOutcome::kFail);
  ASSERT_EQ(m_.Send(liar, fail).code, TxCode::kOk);
  for (int i = 0; i < 100 && !Slot().assignee; ++i) m_.Block({});  // the fail's window
  const uint8_t claimer = Assignee();
  ASSERT_EQ(m_.Send(claimer, Unavailable(job_, std::nullopt)).code, TxCode::kOk);
  for (uint64_t i = 1; i < m_.params().dispute_move_blocks; ++i) {
    EXPECT_EQ(Slot().state, SlotState::kPending) << "block " << i << " of the window";
    EXPECT_EQ(m_.h().Stake(Key(1)), stake_before) << "block " << i << " of the window";
    m_.Block({});
  }
  m_.Block({});
  EXPECT_EQ(Slot().state, SlotState::kFailed) << "not disputed: the fraud stands";
  EXPECT_FALSE(Slot().assignee.has_value());
}

TEST_F(VerifyTest, AClaimBelowAThirdCannotOutvoteAPass) {
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  const uint64_t stake_before = m_.h().Stake(Key(1));
  const uint64_t first_stake = m_.h().Stake(Key(Assignee()));
  const auto [first, named] = UnavailableThenPass(w);
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(Slot().state, SlotState::kPending);
  EXPECT_EQ(m_.Prov(1).tasks_failed, 0u);
  m_.Block({});
  const uint8_t third = Assignee();
  ASSERT_EQ(m_.Send(third, Replay(third, w, w, 1, false, named)).code, TxCode::kOk);
  EXPECT_EQ(Slot().state, SlotState::kPassed);
  for (int i = 0; i < 3 && m_.Task(id_).status != TaskStatus::kPassed; ++i) m_.Block({});
  EXPECT_EQ(m_.Task(id_).status, TaskStatus::kPassed);
  EXPECT_EQ(m_.h().Stake(Key(1)), stake_before);
  // Two passes agree, so the claim is refuted: it costs what missing would
  // have, never the outvoted verdicts' slash_false_claim_ppm.
  EXPECT_EQ(m_.h().Stake(Key(first)),
            first_stake - market::PartPpm(first_stake, m_.params().verify_slash_missed_ppm));
}

// The event `type` of the last block, with attribute key = value, if any.
bool LastBlockHas(const Market& m, const std::string& type, const std::string& key,
                  const std::string& value) {
  for (const Event& e : m.last().end.events) {
    if (e.type != type) continue;
    for (const auto& [k, v] : e.attributes) {
      if (k == key && v == value) return true;
    }
  }
  return false;
}

// Ten validators of equal power: three hold 30%, four 40%.
class TenValidatorsTest : public VerifyTest {
 protected:
  TenValidatorsTest() : VerifyTest(Capped(), /*validators=*/10) {}
  // A cap of three verdicts a slot, below the claims a withholder's slot
  // needs here: claims alone draw on past it.
  static Params Capped() {
    Params p = VerifyParams();
    p.verify_draws_per_slot_max = 3;
    return p;
  }
  // The share of the power in force that `keys` hold, in percent.
  uint64_t PercentOf(const std::set<uint8_t>& keys) {
    StateReader& state = m_.h().ledger().committed();
    uint64_t total = 0, held = 0;
    for (const Validator& v : staking::SetInForce(state, m_.h().ledger().Height())) {
      total += v.power;
      for (uint8_t k : keys) held += v.key == Key(k).public_key() ? v.power : 0;
    }
    return 100 * held / total;
  }
  // The slot's drawn validators claim "unavailable" one per block while
  // the slot is pending, at most `claims` of them; returns who claimed.
  std::set<uint8_t> Claim(const Work& w, size_t claims) {
    std::set<uint8_t> claimed;
    for (size_t i = 0; i < claims && Slot().state == SlotState::kPending; ++i) {
      if (i > 0) m_.Block({});
      const uint8_t v = Assignee();
      EXPECT_TRUE(claimed.insert(v).second) << int{v} << " drawn twice";
      std::optional<VrfProof> proof;
      if (!Slot().chosen) proof = VrfProve(Key(v), verification::SegmentVrfInput(id_, w.root, 0));
      const TxResult r = m_.Send(v, Unavailable(job_, proof));
      EXPECT_EQ(r.code, TxCode::kOk) << r.log;
    }
    return claimed;
  }
};

// Found in review (2026-12-05): three "unavailable" claims failed a slot
// whatever power the claimers held, so in a set of ten equal validators
// three colluders (30%, below the third the chain tolerates) drawn in a
// row burned an honest provider's collateral. Now claims need more than a
// third of the power: the honest provider's task waits for a replay and
// is paid, and the provider loses nothing (what the claims cost their
// senders: ClaimsThatTwoAgreeingPassesRefuteCostWhatMissingWould).
TEST_F(TenValidatorsTest, ClaimersHoldingAThirdOrLessCannotFailAnHonestProvider) {
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  const uint64_t provider_stake = m_.h().Stake(Key(1));
  const std::set<uint8_t> colluders = Claim(w, 3);
  ASSERT_EQ(colluders.size(), 3u);
  EXPECT_EQ(PercentOf(colluders), 30u);
  EXPECT_EQ(Slot().state, SlotState::kPending) << "3 claims of 30% are not fraud";
  EXPECT_EQ(Slot().verdicts.size(), 3u);
  EXPECT_EQ(m_.Prov(1).tasks_failed, 0u);
  // Past the cap of three, honest replays are drawn: a pass settles
  // nothing while claims stand (it could be a colluder's), so a second
  // replay is drawn and agrees with it.
  const verify::SegmentChoice named{Slot().segment, Slot().witness_step};
  for (int replays = 0; replays < 2; ++replays) {
    m_.Block({});
    ASSERT_TRUE(Slot().assignee.has_value()) << "replay " << replays;
    const uint8_t honest = Assignee();
    EXPECT_EQ(colluders.count(honest), 0u);
    ASSERT_EQ(m_.Send(honest, Replay(honest, w, w, 1, false, named)).code, TxCode::kOk);
    EXPECT_EQ(Slot().state, replays == 0 ? SlotState::kPending : SlotState::kPassed);
  }
  for (int i = 0; i < 3 && m_.Task(id_).status != TaskStatus::kPassed; ++i) m_.Block({});
  EXPECT_EQ(m_.Task(id_).status, TaskStatus::kPassed);
  EXPECT_EQ(m_.h().Stake(Key(1)), provider_stake);
  EXPECT_EQ(m_.Prov(1).tasks_failed, 0u);
}

// Claims cost nothing until 2026-12-05, so colluders could delay an honest
// task by a draw each for free, and a lazy validator could claim instead
// of replaying. Once two passes agree the blobs were served: each claim on
// the slot costs its sender verify.slash_missed_ppm of its stake, exactly
// what missing would have, and the passers lose nothing.
TEST_F(TenValidatorsTest, ClaimsThatTwoAgreeingPassesRefuteCostWhatMissingWould) {
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  const std::set<uint8_t> colluders = Claim(w, 2);
  ASSERT_EQ(colluders.size(), 2u);
  const verify::SegmentChoice named{Slot().segment, Slot().witness_step};
  std::set<uint8_t> passers;
  for (int replays = 0; replays < 2; ++replays) {
    m_.Block({});
    ASSERT_TRUE(Slot().assignee.has_value()) << "replay " << replays;
    const uint8_t honest = Assignee();
    ASSERT_EQ(colluders.count(honest), 0u);
    passers.insert(honest);
    std::set<uint8_t> watched = colluders;
    watched.insert(passers.begin(), passers.end());
    std::map<uint8_t, uint64_t> before;
    for (uint8_t v : watched) before[v] = m_.h().Stake(Key(v));
    const uint64_t burned_before = m_.h().ledger().ReadTotals().burned;
    const TxResult r = m_.Send(honest, Replay(honest, w, w, 1, false, named));
    ASSERT_EQ(r.code, TxCode::kOk) << r.log;
    if (replays == 0) {
      // One pass proves nothing yet: no claim is refuted.
      EXPECT_EQ(Slot().state, SlotState::kPending);
      for (uint8_t v : colluders) EXPECT_EQ(m_.h().Stake(Key(v)), before[v]) << int{v};
      continue;
    }
    ASSERT_EQ(Slot().state, SlotState::kPassed);
    uint64_t burned = 0;
    for (uint8_t v : watched) {
      const uint64_t fine =
          colluders.count(v) ? market::PartPpm(before[v], m_.params().verify_slash_missed_ppm) : 0;
      EXPECT_EQ(m_.h().Stake(Key(v)), before[v] - fine) << "validator " << int{v};
      burned += fine;
    }
    EXPECT_GT(burned, 0u);
    // Nobody else lost stake: the burn is exactly the two fines.
    EXPECT_EQ(m_.h().ledger().ReadTotals().burned, burned_before + burned);
    std::set<std::string> refuted;
    for (const Event& e : r.events) {
      if (e.type != "verdict_claim_refuted") continue;
      for (const auto& [name, value] : e.attributes) {
        if (name == "validator") refuted.insert(value);
      }
    }
    std::set<std::string> expected;
    for (uint8_t v : colluders) expected.insert(AddressOf(Key(v)).ToString());
    EXPECT_EQ(refuted, expected);
  }
  EXPECT_EQ(passers.size(), 2u);
}

// The other side: a provider that serves nobody is still failed, once the
// claimers hold more than a third (here the fourth claim, 40%), with the
// slot drawing past its cap of three to get there; all of the collateral
// is burned, as claiming must never pay.
TEST_F(TenValidatorsTest, AWithholderFailsOnceTheClaimersHoldMoreThanAThird) {
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  const uint64_t stake_before = m_.h().Stake(Key(1));
  const uint64_t collateral = m_.Task(id_).collateral_uagr;
  const uint64_t burned_before = m_.h().ledger().ReadTotals().burned;
  std::set<uint8_t> claimed = Claim(w, 3);
  EXPECT_EQ(Slot().state, SlotState::kPending);
  EXPECT_EQ(m_.h().Stake(Key(1)), stake_before);
  m_.Block({});
  ASSERT_TRUE(Slot().assignee.has_value()) << "claims alone draw past the cap";
  const std::set<uint8_t> fourth = Claim(w, 1);
  claimed.insert(fourth.begin(), fourth.end());
  ASSERT_EQ(claimed.size(), 4u);
  EXPECT_EQ(PercentOf(claimed), 40u);
  EXPECT_EQ(Slot().state, SlotState::kFailed);
  EXPECT_EQ(m_.h().Stake(Key(1)), stake_before - collateral);
  EXPECT_EQ(m_.Prov(1).tasks_failed, 1u);
  EXPECT_EQ(m_.h().ledger().ReadTotals().burned, burned_before + collateral);
}

// Found in review (2026-12-05): a pass voided every claim, so a colluder's
// lazy pass (no replay: its witness agrees with nothing) rescued a
// provider that served nobody, and the slot passed at its cap. Claims
// from more than a third of the power now stand against any pass that no
// second pass agrees with.
TEST_F(TenValidatorsTest, ALazyPassDoesNotRescueAWithholder) {
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  const uint64_t stake_before = m_.h().Stake(Key(1));
  const uint64_t collateral = m_.Task(id_).collateral_uagr;
  std::set<uint8_t> claimed = Claim(w, 3);
  m_.Block({});
  const uint8_t colluder = Assignee();
  const verify::SegmentChoice named{Slot().segment, Slot().witness_step};
  // It echoes the provider; its witness is a guess.
  ASSERT_EQ(m_.Send(colluder, Replay(colluder, w, w, /*salt=*/99, false, named)).code,
            TxCode::kOk);
  const uint64_t colluder_stake = m_.h().Stake(Key(colluder));
  const uint64_t burned_before = m_.h().ledger().ReadTotals().burned;
  EXPECT_EQ(Slot().state, SlotState::kPending);
  m_.Block({});
  ASSERT_TRUE(Slot().assignee.has_value()) << "past the cap of three, with claims standing";
  const std::set<uint8_t> fourth = Claim(w, 1);
  claimed.insert(fourth.begin(), fourth.end());
  EXPECT_EQ(PercentOf(claimed), 40u);
  EXPECT_EQ(Slot().state, SlotState::kFailed);
  EXPECT_EQ(m_.h().Stake(Key(1)), stake_before - collateral);
  EXPECT_EQ(m_.Prov(1).tasks_failed, 1u);
  // Fraud that rests on claims outvotes nobody (a pass may be honest: the
  // provider may have served that validator alone) and rewards nobody.
  EXPECT_EQ(m_.h().Stake(Key(colluder)), colluder_stake);
  EXPECT_EQ(m_.h().ledger().ReadTotals().burned, burned_before + collateral);
}

// Found in review (2026-12-05): a validator that missed was drawn again
// whenever nobody else was left, so one that never answers held a slot
// with claims (and its job) open until its stake ran out. Once a verdict
// stands it is not drawn again: here only three of ten validators may
// replay the job, two claim (20%, below the cap of three verdicts), the
// third never answers, and the slot is closed as everyone answered,
// failed, since nobody passed (the few who may replay a job decide it:
// Known holes).
TEST_F(TenValidatorsTest, AValidatorThatMissedIsNotDrawnAgainOnceAVerdictStands) {
  const uint64_t params = market::ParamCount(TinySpec(1, 1));
  for (uint8_t k = 103; k < 110; ++k) {
    MsgSetReplayProfile m{{market::HardwareClass::kCpu}, params - 1};
    ASSERT_EQ(m_.Send(k, m).code, TxCode::kOk);
  }
  for (uint64_t i = 0; i < m_.params().verify_delay_blocks; ++i) m_.Block({});  // in force
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  const std::set<uint8_t> claimed = Claim(w, 2);
  ASSERT_EQ(claimed.size(), 2u);
  for (uint8_t k : claimed) ASSERT_LT(k, 103) << "only 100..102 fit the job";
  ASSERT_LT(Slot().verdicts.size(), m_.params().verify_draws_per_slot_max);
  m_.Block({});
  const uint8_t silent = Assignee();
  EXPECT_EQ(claimed.count(silent), 0u);
  const uint64_t due = Slot().due_height;
  while (m_.h().ledger().Height() < due) m_.Block({});
  EXPECT_TRUE(LastBlockHas(m_, "slot_unresolved", "why", "everyone answered"));
  EXPECT_EQ(Slot().state, SlotState::kFailed);
  EXPECT_EQ(Slot().missed, std::vector<Address>{AddressOf(Key(silent))});
  EXPECT_FALSE(Slot().assignee.has_value());
}

TEST(ClaimsHoldMoreThanAThirdTest, CountsDistinctMembersOfTheSetInForceByPower) {
  LedgerHarness h(3, 1, Market::Defaults());
  h.Run({});
  StateReader& state = h.ledger().committed();
  const uint64_t height = h.ledger().Height();
  const Address a = AddressOf(Key(100)), b = AddressOf(Key(101));
  // Three validators of equal power: one holds exactly a third, not more.
  EXPECT_FALSE(verification::ClaimsHoldMoreThanAThird(state, height, {}));
  EXPECT_FALSE(verification::ClaimsHoldMoreThanAThird(state, height, {a}));
  EXPECT_FALSE(verification::ClaimsHoldMoreThanAThird(state, height, {a, a, a}))
      << "a validator counts once";
  EXPECT_FALSE(verification::ClaimsHoldMoreThanAThird(state, height, {a, AddressOf(Key(1))}))
      << "an account outside the set holds no power";
  EXPECT_TRUE(verification::ClaimsHoldMoreThanAThird(state, height, {a, b}));
  EXPECT_TRUE(verification::ClaimsHoldMoreThanAThird(state, height, {b, a, b}));
}


// Found by a 5,000-seed agora-sim sweep (seeds 3560, 4610, 4730): a withheld
// task whose one pass came from a lazy validator, every other validator
// answering "unavailable". Nobody was left to draw and the slot waited for
// one forever, under its cap of verdicts: the job stalled. Now a slot that
// every eligible validator has answered is closed as at its cap: it passes
// if anyone passed it, and nobody is slashed. (That case itself is fraud
// since 2026-12-05: claims from three of four validators outweigh a pass
// that no other agrees with. Here one claim, 25%, and three passes that
// do not agree.)
TEST_F(VerifyTest, SlotEveryValidatorAnsweredIsClosedWithoutAgreement) {
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  ASSERT_GT(m_.params().verify_draws_per_slot_max, 4u) << "the cap would close it first";
  std::map<uint8_t, uint64_t> stakes;
  for (uint8_t k = 100; k < 104; ++k) stakes[k] = m_.h().Stake(Key(k));
  const uint64_t provider_stake = m_.h().Stake(Key(1));
  const auto [first, named] = UnavailableThenPass(w);
  ASSERT_FALSE(HasFailure());
  for (int answered = 2; answered < 4; ++answered) {
    m_.Block({});
    const uint8_t next = Assignee();
    // Each witness differs from the others: nobody agrees.
    ASSERT_EQ(m_.Send(next, Replay(next, w, w, 10 + answered, false, named)).code, TxCode::kOk);
    ASSERT_EQ(Slot().state, SlotState::kPending);
  }
  // All four validators answered: one "unavailable", three passes.
  m_.Block({});
  EXPECT_TRUE(LastBlockHas(m_, "slot_unresolved", "why", "everyone answered"));
  EXPECT_EQ(Slot().state, SlotState::kPassed);
  EXPECT_FALSE(Slot().assignee.has_value());
  EXPECT_EQ(Slot().verdicts.size(), 4u);
  for (int i = 0; i < 3 && m_.Task(id_).status != TaskStatus::kPassed; ++i) m_.Block({});
  EXPECT_EQ(m_.Task(id_).status, TaskStatus::kPassed);
  EXPECT_EQ(m_.Prov(1).tasks_failed, 0u);
  EXPECT_EQ(m_.h().Stake(Key(1)), provider_stake);
  for (const auto& [k, stake] : stakes) EXPECT_EQ(m_.h().Stake(Key(k)), stake) << int{k};
}

// A replay profile keeps a validator out of the draws for jobs it cannot
// run: with only one validator able to replay the job, the slot is given to
// it every time, even after it misses (the others would each have taken a
// turn and been fined for a replay they could not run).
TEST_F(VerifyTest, ReplayProfilesKeepValidatorsOutOfDrawsForJobsTheyCannotRun) {
  const uint64_t params = market::ParamCount(TinySpec(1, 1));
  const uint8_t able = 102;
  for (uint8_t k = 100; k < 104; ++k) {
    MsgSetReplayProfile m{{market::HardwareClass::kCpu}, k == able ? params : params - 1};
    ASSERT_EQ(m_.Send(k, m).code, TxCode::kOk);
  }
  for (uint64_t i = 0; i < m_.params().verify_delay_blocks; ++i) m_.Block({});  // in force
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  for (int miss = 0; miss < 3; ++miss) {
    ASSERT_EQ(Assignee(), able) << "draw " << miss;
    const uint64_t due = Slot().due_height;
    while (m_.h().ledger().Height() < due) m_.Block({});
  }
  // Listed once however often it missed (each miss was fined).
  ASSERT_EQ(Slot().missed, std::vector<Address>{AddressOf(Key(able))});
  ASSERT_EQ(Assignee(), able);
  ASSERT_EQ(m_.Send(able, Replay(able, w, w, 1, true)).code, TxCode::kOk);
  for (int i = 0; i < 3 && m_.Task(id_).status != TaskStatus::kPassed; ++i) m_.Block({});
  EXPECT_EQ(m_.Task(id_).status, TaskStatus::kPassed);
}

// When the only validator that fitted a posted job shrinks its profile, the
// job's slots are not left waiting: the draw falls back to every validator.
TEST_F(VerifyTest, WhenNoValidatorFitsAnyMoreTheDrawFallsBackToAll) {
  const uint64_t params = market::ParamCount(TinySpec(1, 1));
  for (uint8_t k = 100; k < 104; ++k) {
    ASSERT_EQ(m_.Send(k, MsgSetReplayProfile{{market::HardwareClass::kCpu}, params - 1}).code,
              TxCode::kOk);
  }
  for (uint64_t i = 0; i < m_.params().verify_delay_blocks; ++i) m_.Block({});  // in force
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  ASSERT_TRUE(Slot().assignee.has_value());
  const uint8_t v = Assignee();
  ASSERT_EQ(m_.Send(v, Replay(v, w, w, 1, true)).code, TxCode::kOk);
  for (int i = 0; i < 3 && m_.Task(id_).status != TaskStatus::kPassed; ++i) m_.Block({});
  EXPECT_EQ(m_.Task(id_).status, TaskStatus::kPassed);
}

// A job fewer than two validators' profiles can replay is refused when it is
// posted (its round records need two); a native job needs validators of its
// class. A profile counts verify.delay_blocks after its block.
TEST_F(VerifyTest, AJobTooFewValidatorsCanReplayIsRefusedWhenPosted) {
  const market::JobSpec spec = TinySpec(1, 1);
  const uint64_t params = market::ParamCount(spec);
  const uint64_t budget = 10 * market::TaskWorkWu(spec) * 1500;
  auto settle = [&] {
    for (uint64_t i = 0; i < m_.params().verify_delay_blocks; ++i) m_.Block({});
  };
  auto profile = [&](uint8_t key, std::vector<market::HardwareClass> classes, uint64_t max) {
    ASSERT_EQ(m_.Send(key, MsgSetReplayProfile{std::move(classes), max}).code, TxCode::kOk);
  };
  std::vector<std::pair<uint8_t, Msg>> all;
  for (uint8_t k = 100; k < 104; ++k) {
    all.push_back({k, MsgSetReplayProfile{{market::HardwareClass::kCpu}, params - 1}});
  }
  for (const TxResult& x : m_.Block(all)) ASSERT_EQ(x.code, TxCode::kOk) << x.log;
  // Not in force yet in the next block: the post goes through.
  EXPECT_EQ(m_.Send(5, MsgPostJob{spec, budget, 1500, ""}).code, TxCode::kOk);
  settle();
  const uint64_t balance = m_.h().Balance(Key(6));
  TxResult r = m_.Send(6, MsgPostJob{spec, budget, 1500, ""});
  EXPECT_EQ(r.code, TxCode::kInvalidMessage);
  EXPECT_NE(r.log.find("0 validator(s) can replay this job, 2 needed: its model has " +
                       std::to_string(params) + " parameters and the largest other replay "
                       "profile for it takes " + std::to_string(params - 1)),
            std::string::npos)
      << r.log;
  EXPECT_EQ(m_.h().Balance(Key(6)), balance - 10);  // the fee only
  profile(101, {market::HardwareClass::kCpu}, 0);
  settle();
  r = m_.Send(6, MsgPostJob{spec, budget, 1500, ""});
  EXPECT_EQ(r.code, TxCode::kInvalidMessage);
  EXPECT_NE(r.log.find("1 validator(s) can replay this job, 2 needed"), std::string::npos) << r.log;
  profile(102, {market::HardwareClass::kCpu}, params);
  settle();
  EXPECT_EQ(m_.Send(6, MsgPostJob{spec, budget, 1500, ""}).code, TxCode::kOk);
  // A native job on gpu-sm90: nobody replays that class.
  market::JobSpec native = spec;
  native.tier = market::Tier::kNative;
  native.hardware = market::HardwareClass::kGpuSm90;
  r = m_.Send(3, MsgPostJob{native, budget, 1500, ""});
  EXPECT_EQ(r.code, TxCode::kInvalidMessage);
  EXPECT_NE(r.log.find("0 validator(s) can replay this job, 2 needed: its model has " +
                       std::to_string(params) + " parameters on gpu-sm90 (agora query"),
            std::string::npos)
      << r.log;
  profile(100, {market::HardwareClass::kCpu, market::HardwareClass::kGpuSm90}, 0);
  profile(103, {market::HardwareClass::kGpuSm90}, 0);
  settle();
  EXPECT_EQ(m_.Send(3, MsgPostJob{native, budget, 1500, ""}).code, TxCode::kOk);
}

// A validator without a profile replays on a CPU: exact jobs and native
// jobs of the cpu class, never a native job of a GPU class, whose bits only
// that class repeats (a CPU replay would fail every honest provider). So
// with no profile sent, such a job is refused when posted, with what to do.
TEST_F(VerifyTest, ANativeGpuJobIsNotForValidatorsWithoutAProfile) {
  market::JobSpec spec = TinySpec(1, 1);
  const uint64_t budget = 10 * market::TaskWorkWu(spec) * 1500;
  for (market::HardwareClass c : {market::HardwareClass::kCpu, market::HardwareClass::kGpuSm90}) {
    spec.hardware = c;
    spec.tier = market::Tier::kExact;
    EXPECT_TRUE(staking::CanReplay(std::nullopt, spec, 0)) << market::HardwareClassName(c);
    spec.tier = market::Tier::kNative;
    EXPECT_EQ(staking::CanReplay(std::nullopt, spec, 0), c == market::HardwareClass::kCpu)
        << market::HardwareClassName(c);
  }
  spec.hardware = market::HardwareClass::kCpu;
  EXPECT_EQ(m_.Send(6, MsgPostJob{spec, budget, 1500, ""}).code, TxCode::kOk);
  spec.hardware = market::HardwareClass::kGpuSm90;
  const uint64_t balance = m_.h().Balance(Key(3));
  const TxResult r = m_.Send(3, MsgPostJob{spec, budget, 1500, ""});
  EXPECT_EQ(r.code, TxCode::kInvalidMessage);
  EXPECT_NE(r.log.find("0 validator(s) can replay this job, 2 needed"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("on gpu-sm90 (agora query validators: a validator replays a GPU class "
                       "once its replay profile names it); post it in the exact tier"),
            std::string::npos)
      << r.log;
  EXPECT_EQ(m_.h().Balance(Key(3)), balance - 10);  // the fee only
  for (uint8_t k : {uint8_t{100}, uint8_t{101}}) {
    ASSERT_EQ(m_.Send(k, MsgSetReplayProfile{{market::HardwareClass::kGpuSm90}, 0}).code,
              TxCode::kOk);
  }
  for (uint64_t i = 0; i < m_.params().verify_delay_blocks; ++i) m_.Block({});  // in force
  EXPECT_EQ(m_.Send(3, MsgPostJob{spec, budget, 1500, ""}).code, TxCode::kOk);
}

// Governance's floor on profiles (verify.replay_params_floor): a profile
// below it is refused with what to send instead, and one sent under a lower
// floor counts as the floor once governance raises it, so the jobs below
// the floor are every validator's again.
TEST(ReplayFloorTest, AProfileCountsAsAtLeastTheFloor) {
  market::JobSpec spec;
  const uint64_t params = market::ParamCount(spec);
  const staking::ReplayProfile narrow{uint8_t{1} << 1, params - 1};  // cpu, one short
  EXPECT_FALSE(staking::CanReplay(narrow, spec, 0));
  EXPECT_FALSE(staking::CanReplay(narrow, spec, params - 1));
  EXPECT_TRUE(staking::CanReplay(narrow, spec, params));
  EXPECT_TRUE(staking::CanReplay(narrow, spec, params + 1));
  // The floor is about size only: a native job of a class the profile does
  // not name stays out, however small.
  spec.tier = market::Tier::kNative;
  spec.hardware = market::HardwareClass::kGpuSm90;
  EXPECT_FALSE(staking::CanReplay(narrow, spec, params + 1));
}

// Passes a governance proposal setting verify.replay_params_floor (the
// market's gov parameters made short by the fixture); in force when it
// returns.
void PassFloor(Market& m, uint64_t floor) {
  const uint64_t effective = m.h().ledger().Height() + m.params().gov_voting_blocks + 2;
  const TxResult submit = m.Send(
      6, MsgSubmitProposal{{{"verify.replay_params_floor", floor}}, "floor", "", 1000, effective});
  ASSERT_EQ(submit.code, TxCode::kOk) << submit.log;
  uint64_t id = 0;
  for (const Event& e : submit.events) {
    for (const auto& [k, v] : e.attributes) {
      if (k == "proposal_id") id = std::stoull(v);
    }
  }
  ASSERT_NE(id, 0u);
  std::vector<std::pair<uint8_t, Msg>> votes;
  for (uint8_t k = 100; k < 104; ++k) votes.push_back({k, MsgVote{id, VoteOption::kYes}});
  for (const TxResult& v : m.Block(votes)) ASSERT_EQ(v.code, TxCode::kOk) << v.log;
  while (m.h().ledger().Height() < effective) m.Block({});
  ASSERT_EQ(m.h().ledger().CurrentParams().verify_replay_params_floor, floor);
}

class ReplayFloorLedgerTest : public VerifyTest {
 protected:
  static Params WithFloor() {
    Params p = VerifyParams();
    p.verify_replay_params_floor = market::ParamCount(TinySpec(1, 1));
    p.gov_deposit_min_uagr = 1000;
    p.gov_voting_blocks = 3;
    return p;
  }
  ReplayFloorLedgerTest() : VerifyTest(WithFloor()) {}
};

TEST_F(ReplayFloorLedgerTest, AProfileBelowTheFloorIsRefusedAndGovernanceCanRaiseIt) {
  const market::JobSpec spec = TinySpec(1, 1);
  const uint64_t params = market::ParamCount(spec);
  const TxResult below = m_.Send(100, MsgSetReplayProfile{{market::HardwareClass::kCpu}, params - 1});
  EXPECT_EQ(below.code, TxCode::kInvalidMessage);
  EXPECT_NE(below.log.find("params_max " + std::to_string(params - 1) +
                           " is below verify.replay_params_floor = " + std::to_string(params) +
                           ": every validator replays models that small"),
            std::string::npos)
      << below.log;
  EXPECT_FALSE(staking::PendingReplayProfile(m_.h().ledger().committed(), AddressOf(Key(100)),
                                             m_.h().ledger().Height()));
  // At the floor, or any size: accepted.
  for (uint8_t k = 100; k < 104; ++k) {
    ASSERT_EQ(m_.Send(k, MsgSetReplayProfile{{market::HardwareClass::kCpu}, k == 100 ? 0 : params})
                  .code,
              TxCode::kOk);
  }
  for (uint64_t i = 0; i < m_.params().verify_delay_blocks; ++i) m_.Block({});  // in force
  // A bigger model (one more layer) than the three narrow profiles take:
  // only validator 100 fits it, and a job needs two.
  market::JobSpec bigger = spec;
  bigger.layers += 1;
  const uint64_t bigger_params = market::ParamCount(bigger);
  TxResult r = m_.Send(6, MsgPostJob{bigger, 10 * market::TaskWorkWu(bigger) * 1500, 1500, ""});
  EXPECT_EQ(r.code, TxCode::kInvalidMessage);
  EXPECT_NE(r.log.find("1 validator(s) can replay this job, 2 needed"), std::string::npos) << r.log;
  // Governance raises the floor to the bigger model: the narrow profiles
  // now count as taking it, with no message from their validators.
  ASSERT_NO_FATAL_FAILURE(PassFloor(m_, bigger_params));
  EXPECT_EQ(m_.Send(6, MsgPostJob{bigger, 10 * market::TaskWorkWu(bigger) * 1500, 1500, ""}).code,
            TxCode::kOk);
  // And a profile at the old floor is now below the new one.
  EXPECT_EQ(m_.Send(101, MsgSetReplayProfile{{market::HardwareClass::kCpu}, params}).code,
            TxCode::kInvalidMessage);
}

class ReplayFloorDrawTest : public VerifyTest {
 protected:
  static Params WithGovernance() {
    Params p = VerifyParams();  // the floor at 0
    p.gov_deposit_min_uagr = 1000;
    p.gov_voting_blocks = 3;
    return p;
  }
  ReplayFloorDrawTest() : VerifyTest(WithGovernance()) {}
};

// The floor reaches the draws EndBlock makes. Three validators' profiles
// stop one parameter short of job 1: with no floor only validator 100 fits,
// and it is drawn again after each miss
// (ReplayProfilesKeepValidatorsOutOfDrawsForJobsTheyCannotRun). With the
// floor raised to job 1's size the three fit again, so three misses in a
// row go to three different validators.
TEST_F(ReplayFloorDrawTest, RaisingTheFloorPutsNarrowProfilesBackIntoSlotDraws) {
  const uint64_t params = market::ParamCount(TinySpec(1, 1));
  for (uint8_t k = 100; k < 104; ++k) {
    MsgSetReplayProfile m{{market::HardwareClass::kCpu}, k == 100 ? params : params - 1};
    ASSERT_EQ(m_.Send(k, m).code, TxCode::kOk);
  }
  for (uint64_t i = 0; i < m_.params().verify_delay_blocks; ++i) m_.Block({});  // in force
  ASSERT_NO_FATAL_FAILURE(PassFloor(m_, params));
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  std::set<uint8_t> drawn;
  for (int miss = 0; miss < 3; ++miss) {
    drawn.insert(Assignee());
    const uint64_t due = Slot().due_height;
    while (m_.h().ledger().Height() < due) m_.Block({});
  }
  EXPECT_EQ(drawn.size(), 3u) << "a narrow profile under the floor was left out of the draws";
}

// Only a validator's operator sends a profile; a refused one stores nothing.
TEST_F(VerifyTest, AReplayProfileFromANonValidatorIsRefused) {
  const MsgSetReplayProfile m{{market::HardwareClass::kCpu}, 1000};
  for (uint8_t key : {uint8_t{1}, uint8_t{4}}) {  // the provider, the client
    Refused(key, m, TxCode::kNotValidator);
    EXPECT_FALSE(staking::PendingReplayProfile(m_.h().ledger().committed(), AddressOf(Key(key)), 0));
    EXPECT_FALSE(staking::GetReplayProfile(m_.h().ledger().committed(), AddressOf(Key(key)),
                                           uint64_t{1} << 40));
  }
  ASSERT_EQ(m_.Send(100, m).code, TxCode::kOk);
  const uint64_t sent_at = m_.h().ledger().Height();
  StateReader& state = m_.h().ledger().committed();
  const Address a = AddressOf(Key(100));
  const uint64_t effective = sent_at + m_.params().verify_delay_blocks;
  EXPECT_FALSE(staking::GetReplayProfile(state, a, effective - 1).has_value());
  const std::optional<staking::ReplayProfile> p = staking::GetReplayProfile(state, a, effective);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->classes_mask, 1u << static_cast<unsigned>(market::HardwareClass::kCpu));
  EXPECT_EQ(p->params_max, 1000u);
  const auto pending = staking::PendingReplayProfile(state, a, sent_at);
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->second, effective);
  // A second one keeps the first in force until it takes effect itself.
  for (uint64_t i = 0; i < m_.params().verify_delay_blocks; ++i) m_.Block({});
  ASSERT_EQ(m_.Send(100, MsgSetReplayProfile{{market::HardwareClass::kCpu}, 0}).code, TxCode::kOk);
  const uint64_t second = m_.h().ledger().Height() + m_.params().verify_delay_blocks;
  EXPECT_EQ(staking::GetReplayProfile(m_.h().ledger().committed(), a, second - 1)->params_max, 1000u);
  EXPECT_EQ(staking::GetReplayProfile(m_.h().ledger().committed(), a, second)->params_max, 0u);
}

TEST_F(VerifyTest, FalseFailClaimIsOutvotedAndSlashed) {
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  const uint8_t liar = Assignee();
  const uint64_t liar_stake = m_.h().Stake(Key(liar));
  const Work other = Work::Honest(3);
  MsgVerdict lie = Replay(liar, w, other, 1, true);  // claims the end differs
  ASSERT_EQ(lie.outcome, VerdictOutcome::kFail);
  ASSERT_EQ(m_.Send(liar, lie).code, TxCode::kOk);
  const verification::Slot s = Slot();
  const verify::SegmentChoice named{s.segment, s.witness_step};
  // Two honest replays agree: pass; the liar loses slash_false_claim_ppm.
  // (The provider does not dispute: the next replay is drawn after its
  // dispute.move_blocks.)
  for (uint64_t i = 0; i < m_.params().dispute_move_blocks; ++i) m_.Block({});
  const uint8_t b = Assignee();
  ASSERT_EQ(m_.Send(b, Replay(b, w, w, 1, false, named)).code, TxCode::kOk);
  m_.Block({});
  const uint8_t c = Assignee();
  ASSERT_EQ(m_.Send(c, Replay(c, w, w, 1, false, named)).code, TxCode::kOk);
  EXPECT_EQ(Slot().state, SlotState::kPassed);
  EXPECT_EQ(m_.h().Stake(Key(liar)),
            liar_stake - market::PartPpm(liar_stake, m_.params().slash_false_claim_ppm));
  m_.Block({});
  EXPECT_EQ(m_.Task(id_).status, TaskStatus::kPassed);
  EXPECT_EQ(m_.Prov(1).tasks_failed, 0u);  // the honest provider is never slashed
}

class AuditedVerifyTest : public VerifyTest {
 protected:
  AuditedVerifyTest() : VerifyTest(VerifyParams(/*audit_ppm=*/1'000'000)) {}
};

TEST_F(AuditedVerifyTest, LazyValidatorIsCaughtByTheAuditsWitness) {
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  const uint8_t lazy = Assignee();
  const uint64_t lazy_stake = m_.h().Stake(Key(lazy));
  // Echoes the provider's hashes without replaying: the witness state is
  // not in the commitment, so it guesses.
  MsgVerdict echo = Replay(lazy, w, w, /*salt=*/999, true);
  ASSERT_EQ(m_.Send(lazy, echo).code, TxCode::kOk);
  // The audit is drawn from the next block's beacon (the validator cannot
  // know it when its verdict is included); at 100% it always comes.
  EXPECT_EQ(Slot().state, SlotState::kPending);
  EXPECT_FALSE(Slot().assignee.has_value());
  m_.Block({});
  EXPECT_EQ(Slot().state, SlotState::kPending);  // audited
  const verification::Slot s = Slot();
  const verify::SegmentChoice named{s.segment, s.witness_step};
  const uint8_t auditor = Assignee();
  ASSERT_EQ(m_.Send(auditor, Replay(auditor, w, w, 1, false, named)).code, TxCode::kOk);
  EXPECT_EQ(Slot().state, SlotState::kPending);  // the witnesses disagree: a third
  m_.Block({});
  const uint8_t third = Assignee();
  ASSERT_EQ(m_.Send(third, Replay(third, w, w, 1, false, named)).code, TxCode::kOk);
  EXPECT_EQ(Slot().state, SlotState::kPassed);
  EXPECT_EQ(m_.h().Stake(Key(lazy)),
            lazy_stake - market::PartPpm(lazy_stake, m_.params().slash_false_claim_ppm));
  m_.Block({});
  EXPECT_EQ(m_.Task(id_).status, TaskStatus::kPassed);
}

TEST_F(AuditedVerifyTest, AuditorCopyingTheFirstVerdictFromTheChainIsOutvoted) {
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  const uint8_t first = Assignee();
  const MsgVerdict honest = Replay(first, w, w, 1, true);
  ASSERT_EQ(m_.Send(first, honest).code, TxCode::kOk);
  m_.Block({});
  const verify::SegmentChoice named{Slot().segment, Slot().witness_step};
  // The auditor copies what the chain shows of the first verdict: only a
  // commitment to its witness, which is not the witness.
  const uint8_t copier = Assignee();
  const uint64_t copier_stake = m_.h().Stake(Key(copier));
  MsgVerdict copy = Replay(copier, w, w, /*salt=*/999, false, named);
  copy.witness_hash = honest.witness_hash;
  ASSERT_EQ(m_.Send(copier, copy).code, TxCode::kOk);
  EXPECT_EQ(Slot().state, SlotState::kPending);
  m_.Block({});
  const uint8_t third = Assignee();
  ASSERT_EQ(m_.Send(third, Replay(third, w, w, 1, false, named)).code, TxCode::kOk);
  // The third replay matches the first's commitment: pass; the copier loses.
  EXPECT_EQ(Slot().state, SlotState::kPassed);
  EXPECT_EQ(m_.h().Stake(Key(copier)),
            copier_stake - market::PartPpm(copier_stake, m_.params().slash_false_claim_ppm));
}

// Found in review (2026-12-04): after a disagreement, the passes after the
// first standing one were in the clear and two of them that matched
// agreed, so a colluder's pass with a made-up witness could be copied by
// a lazy validator drawn next into an agreeing pair, passing a cheat and
// outvoting the honest fail. Now a witness counts as in the clear only
// when it opens an earlier seal; anything else is taken as a seal, and a
// copy of it opens nothing.
TEST_F(AuditedVerifyTest, APassInTheClearCannotBeCopiedIntoAnAgreeingPair) {
  const Work truth = Work::Honest(1);
  const Work fake = Work::Honest(2);
  ASSERT_EQ(m_.Send(1, Commit(fake)).code, TxCode::kOk);
  ToSampling();
  // A colluder passes the cheat first (sealed, with a made-up witness).
  const uint8_t first = Assignee();
  ASSERT_EQ(m_.Send(first, Replay(first, fake, fake, 7, true)).code, TxCode::kOk);
  m_.Block({});
  const verify::SegmentChoice named{Slot().segment, Slot().witness_step};
  // The audit replays the truth: a fail.
  const uint8_t honest = Assignee();
  const uint64_t honest_stake = m_.h().Stake(Key(honest));
  const MsgVerdict fail = Replay(honest, fake, truth, 1, false, named);
  ASSERT_EQ(fail.outcome, VerdictOutcome::kFail);
  ASSERT_EQ(m_.Send(honest, fail).code, TxCode::kOk);
  for (uint64_t i = 0; i < m_.params().dispute_move_blocks; ++i) m_.Block({});
  // A second colluder passes with its made-up witness as is, as passes
  // after the first used to.
  const uint8_t colluder = Assignee();
  MsgVerdict pass = Replay(colluder, fake, fake, 8, false, named);
  pass.witness_hash = Work::Witness(8, named.segment, named.witness_step);
  ASSERT_EQ(m_.Send(colluder, pass).code, TxCode::kOk);
  m_.Block({});
  // A lazy validator copies it from the chain.
  const uint8_t lazy = Assignee();
  ASSERT_NE(lazy, colluder);
  MsgVerdict copy = pass;
  copy.witness_hash = Slot().verdicts.back().witness_hash;
  ASSERT_EQ(m_.Send(lazy, copy).code, TxCode::kOk);
  const verification::Slot s = Slot();
  EXPECT_NE(s.state, SlotState::kPassed) << "the copy agrees with nothing";
  EXPECT_EQ(verification::SealedWitnesses(s), std::vector<bool>(s.verdicts.size(), true))
      << "no verdict opened another's seal";
  EXPECT_EQ(m_.h().Stake(Key(honest)), honest_stake) << "the honest fail is not outvoted";
  EXPECT_EQ(m_.Prov(1).tasks_passed, 0u);
}

TEST_F(VerifyTest, MissedVerdictIsReplacedByAnotherValidator) {
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  const uint8_t idle = Assignee();
  const uint64_t idle_stake = m_.h().Stake(Key(idle));
  const uint64_t due = Slot().due_height;
  while (m_.h().ledger().Height() < due) m_.Block({});
  // Missing the deadline costs verify.slash_missed_ppm: silence is no free re-roll.
  EXPECT_EQ(m_.h().Stake(Key(idle)),
            idle_stake - market::PartPpm(idle_stake, m_.params().verify_slash_missed_ppm));
  const verification::Slot s = Slot();
  ASSERT_TRUE(s.assignee.has_value());
  EXPECT_NE(KeyOf(*s.assignee), idle);
  ASSERT_EQ(s.missed.size(), 1u);
  EXPECT_EQ(s.missed[0], AddressOf(Key(idle)));
  // The late validator can no longer answer; the new one can.
  Refused(idle, Replay(idle, w, w, 1, true), TxCode::kNotAssigned);
  const uint8_t v = Assignee();
  ASSERT_EQ(m_.Send(v, Replay(v, w, w, 1, true)).code, TxCode::kOk);
  m_.Block({});
  EXPECT_EQ(m_.Task(id_).status, TaskStatus::kPassed);
}

TEST_F(VerifyTest, CommittedTaskNoLongerMissesTheMarketDeadline) {
  const Work w = Work::Honest(1);
  const uint64_t deadline = m_.Task(id_).deadline_height;
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  // Nobody answers; validators keep being replaced until the draws run out
  // and the slot passes unresolved; the deadline never reassigns the task.
  while (m_.h().ledger().Height() < deadline + 2) m_.Block({});
  EXPECT_EQ(m_.Prov(1).tasks_late, 0u);
  EXPECT_TRUE(m_.Task(id_).status == TaskStatus::kVerifying ||
              m_.Task(id_).status == TaskStatus::kPassed);
}


// Job 2 of client 5 (one worker), beside the fixture's job.
uint64_t PostSecond(Market& m, uint32_t rounds) {
  const uint64_t job =
      m.Post(5, TinySpec(rounds, /*workers=*/1), 10 * market::TaskWorkWu(TinySpec()) * 1500, 1500);
  EXPECT_EQ(job, 2u);
  return job;
}

// Commits task (job, round, 0) trained from `start`.
TxResult CommitFrom(Market& m, uint64_t job, uint32_t round, const Hash256& start) {
  std::vector<Hash256> checkpoints{start};
  for (uint32_t i = 1; i <= kSegments; ++i) {
    checkpoints.push_back(Blake2b256("c" + std::to_string(i)));
  }
  return m.Send(1, MsgCommitTask{job, round, 0, merkle::Root(checkpoints), Blake2b256("delta"),
                                 std::vector<uint32_t>(kH, 0x40000000u),
                                 merkle::Prove(checkpoints, 0).siblings});
}

TEST_F(VerifyTest, EachRoundStartsFromTheWeightsRecordedForIt) {
  const uint64_t job = PostSecond(m_, /*rounds=*/2);
  // Round 0's record, made when the job was posted, names its start.
  const std::optional<verification::RoundRecord> r0 =
      verification::GetRound(m_.h().ledger().committed(), job, 0);
  ASSERT_TRUE(r0 && r0->recorded);
  EXPECT_EQ(r0->start_hashes, std::vector<Hash256>{testing::StartHash(job, 0, 0)});
  // Round 0 passes (the market's entry point); round 1 opens only once its
  // start is recorded (the harness answers as the drawn validators).
  m_.Block({}, [&](Ledger& l) { ASSERT_TRUE(l.MarketVerdict({job, 0, 0}, true).ok()); });
  EXPECT_EQ(m_.Job(job).round, 0u) << "waits for round 1's record";
  EXPECT_FALSE(marketplace::GetTask(m_.h().ledger().committed(), {job, 1, 0}).has_value());
  m_.RecordRound(job, 1);
  EXPECT_EQ(m_.Job(job).round, 1u);
  ASSERT_EQ(m_.Task({job, 1, 0}).status, TaskStatus::kAssigned);
  // Training round 1 from round 0's start (stale weights) is refused; from
  // the recorded start it is taken.
  const TxResult stale = CommitFrom(m_, job, 1, testing::StartHash(job, 0, 0));
  EXPECT_EQ(stale.code, TxCode::kBadProof) << stale.log;
  EXPECT_NE(stale.log.find("recorded start state"), std::string::npos) << stale.log;
  const TxResult good = CommitFrom(m_, job, 1, testing::StartHash(job, 1, 0));
  EXPECT_EQ(good.code, TxCode::kOk) << good.log;
  EXPECT_EQ(m_.Task({job, 1, 0}).status, TaskStatus::kCommitted);
}

// The second aggregator disagrees: its values open no commitment, so it
// sends a commitment of its own, and no result shows values while the
// record is open (until 2026-12-04 the second sent its values in the clear,
// and a lazy third could copy them into an agreeing pair); the third
// computes the truth, opens the first's commitment, and the second is
// outvoted.
TEST_F(VerifyTest, AggregatorDisagreeingWithTheCommitmentIsOutvotedByAThird) {
  const uint64_t job = PostSecond(m_, /*rounds=*/1);
  m_.Block({}, [&](Ledger& l) { ASSERT_TRUE(l.MarketVerdict({job, 0, 0}, true).ok()); });
  m_.Block({});  // the record of the final weights opens
  auto record = [&] { return *verification::GetRound(m_.h().ledger().committed(), job, 1); };
  const Hash256 truth = Blake2b256("aggregated"), junk = Blake2b256("copied or made up");
  const uint64_t fee = record().fee_uagr;
  EXPECT_EQ(fee, market::PartPpm(market::SplitPayment(m_.Task({job, 0, 0}).price_uagr,
                                                      m_.params().validator_fee_ppm)
                                     .validators_uagr,
                                 m_.params().verify_aggregation_fee_ppm));
  ASSERT_GT(fee, 1u);
  const uint8_t a = KeyOf(record().assignees.at(0));
  const uint64_t a_balance = m_.h().Balance(Key(a));
  ASSERT_EQ(m_.Send(a, m_.RoundResultOf(job, 1, AddressOf(Key(a)), true, {}, truth)).code,
            TxCode::kOk);
  m_.Block({});
  const uint8_t b = KeyOf(record().assignees.at(0));
  const uint64_t b_stake = m_.h().Stake(Key(b));
  EXPECT_EQ(m_.Send(b, m_.RoundResultOf(job, 1, AddressOf(Key(b)), false, {}, junk)).code,
            TxCode::kInvalidMessage)
      << "values that open no commitment are not shown";
  ASSERT_EQ(m_.Send(b, m_.RoundResultOf(job, 1, AddressOf(Key(b)), true, {}, junk)).code,
            TxCode::kOk);
  EXPECT_FALSE(record().recorded) << "a result must match the commitment";
  for (const verification::RoundResultRecord& x : record().results) {
    EXPECT_TRUE(x.commitment.has_value()) << "nothing to copy: " << x.validator.ToString();
    EXPECT_EQ(x.params_hash, Hash256{});
  }
  m_.Block({});
  const uint8_t c = KeyOf(record().assignees.at(0));
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
  const uint64_t b_balance = m_.h().Balance(Key(b)), c_balance = m_.h().Balance(Key(c));
  ASSERT_EQ(m_.Send(c, m_.RoundResultOf(job, 1, AddressOf(Key(c)), false, {}, truth)).code,
            TxCode::kOk);
  EXPECT_TRUE(record().recorded);
  EXPECT_EQ(record().params_hash, truth);
  EXPECT_EQ(m_.h().Stake(Key(b)),
            b_stake - market::PartPpm(b_stake, m_.params().slash_false_claim_ppm));
  // The fee goes to the two that agree, none to the outvoted.
  EXPECT_EQ(m_.h().Balance(Key(a)), a_balance - 10 + fee / 2 + fee % 2);
  EXPECT_EQ(m_.h().Balance(Key(b)), b_balance);
  EXPECT_EQ(m_.h().Balance(Key(c)), c_balance - 10 + fee / 2);
  EXPECT_EQ(m_.Job(job).status, marketplace::JobStatus::kFinished);
}

// The first aggregator seals made-up values: the second's values open
// nothing, so it seals its own; the third opens the second's commitment,
// the round is recorded with the truth, and the first is outvoted. Any
// result can be opened, not only the first.
TEST_F(VerifyTest, AFirstAggregatorWithMadeUpValuesStallsNothing) {
  const uint64_t job = PostSecond(m_, /*rounds=*/1);
  m_.Block({}, [&](Ledger& l) { ASSERT_TRUE(l.MarketVerdict({job, 0, 0}, true).ok()); });
  m_.Block({});
  auto record = [&] { return *verification::GetRound(m_.h().ledger().committed(), job, 1); };
  const Hash256 truth = Blake2b256("aggregated"), junk = Blake2b256("made up");
  const uint8_t a = KeyOf(record().assignees.at(0));
  const uint64_t a_stake = m_.h().Stake(Key(a));
  ASSERT_EQ(m_.Send(a, m_.RoundResultOf(job, 1, AddressOf(Key(a)), true, {}, junk)).code,
            TxCode::kOk);
  m_.Block({});
  const uint8_t b = KeyOf(record().assignees.at(0));
  EXPECT_EQ(m_.Send(b, m_.RoundResultOf(job, 1, AddressOf(Key(b)), false, {}, truth)).code,
            TxCode::kInvalidMessage);
  ASSERT_EQ(m_.Send(b, m_.RoundResultOf(job, 1, AddressOf(Key(b)), true, {}, truth)).code,
            TxCode::kOk);
  m_.Block({});
  const uint8_t c = KeyOf(record().assignees.at(0));
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
  const uint64_t b_stake = m_.h().Stake(Key(b)), c_stake = m_.h().Stake(Key(c));
  ASSERT_EQ(m_.Send(c, m_.RoundResultOf(job, 1, AddressOf(Key(c)), false, {}, truth)).code,
            TxCode::kOk);
  EXPECT_TRUE(record().recorded);
  EXPECT_EQ(record().params_hash, truth);
  EXPECT_EQ(m_.h().Stake(Key(a)),
            a_stake - market::PartPpm(a_stake, m_.params().slash_false_claim_ppm));
  EXPECT_EQ(m_.h().Stake(Key(b)), b_stake);
  EXPECT_EQ(m_.h().Stake(Key(c)), c_stake);
  EXPECT_EQ(m_.Job(job).status, marketplace::JobStatus::kFinished);
}

TEST_F(VerifyTest, JobEndingBeforeItsRecordGetsTheRecordFeeBack) {
  // Cancelled while its next record is being drawn: at the record's due
  // height it is abandoned and its fee goes back to the client.
  const uint64_t job = PostSecond(m_, /*rounds=*/2);
  m_.Block({}, [&](Ledger& l) { ASSERT_TRUE(l.MarketVerdict({job, 0, 0}, true).ok()); });
  m_.Block({});
  auto record = [&] { return *verification::GetRound(m_.h().ledger().committed(), job, 1); };
  const uint64_t fee = record().fee_uagr;
  ASSERT_GT(fee, 0u);
  EXPECT_EQ(m_.Job(job).aggregation_fee_uagr, 0u) << "moved to the record";
  const uint64_t client = m_.h().Balance(Key(5));
  const uint64_t escrow = m_.Job(job).escrow_uagr;
  const uint64_t fees = m_.h().ledger().committed().GetU64(marketplace::kValidatorFeesKey);
  ASSERT_EQ(m_.Send(5, MsgCancelJob{job}).code, TxCode::kOk);
  EXPECT_EQ(m_.h().Balance(Key(5)), client - 10 + escrow);
  for (uint64_t i = 0; i < m_.params().verify_verdict_blocks && !record().abandoned; ++i) {
    m_.Block({});
  }
  EXPECT_TRUE(record().abandoned);
  EXPECT_EQ(record().fee_uagr, 0u);
  EXPECT_EQ(m_.h().Balance(Key(5)), client - 10 + escrow + fee);
  EXPECT_EQ(m_.h().ledger().committed().GetU64(marketplace::kValidatorFeesKey), fees - fee);
  // Cancelled once its round passed but before the record opened: the fee
  // set aside on the job comes back with the escrow.
  const uint64_t third = m_.Post(6, TinySpec(2, 1), 10 * market::TaskWorkWu(TinySpec()) * 1500,
                                 1500);
  ASSERT_EQ(m_.Task({third, 0, 0}).status, TaskStatus::kAssigned);
  const uint64_t client6 = m_.h().Balance(Key(6));
  m_.Block({{6, MsgCancelJob{third}}},
           [&](Ledger& l) { ASSERT_TRUE(l.MarketVerdict({third, 0, 0}, true).ok()); });
  const marketplace::Job j = m_.Job(third);
  EXPECT_EQ(j.status, marketplace::JobStatus::kCancelled);
  EXPECT_EQ(j.aggregation_fee_uagr, 0u);
  const uint64_t set_aside = market::PartPpm(
      market::SplitPayment(m_.Task({third, 0, 0}).price_uagr, m_.params().validator_fee_ppm)
          .validators_uagr,
      m_.params().verify_aggregation_fee_ppm);
  EXPECT_EQ(m_.h().Balance(Key(6)), client6 - 10 + j.refunded_uagr + set_aside);
  m_.Block({});
  EXPECT_FALSE(verification::GetRound(m_.h().ledger().committed(), third, 1).has_value())
      << "no record opens for an ended job";
}

TEST_F(VerifyTest, RoundResultForAnEndedJobIsRefusedAndItsFeeGoesBack) {
  // The drawn aggregator answers after the client cancelled: nobody needs
  // the weights, so nothing is recorded and nobody is paid for them; at the
  // record's due height it is abandoned and the client gets the fee back
  // (before, the answer was recorded and the fee paid to the aggregators).
  const uint64_t job = PostSecond(m_, /*rounds=*/2);
  m_.Block({}, [&](Ledger& l) { ASSERT_TRUE(l.MarketVerdict({job, 0, 0}, true).ok()); });
  m_.Block({});
  auto record = [&] { return *verification::GetRound(m_.h().ledger().committed(), job, 1); };
  const uint64_t fee = record().fee_uagr;
  ASSERT_GT(fee, 0u);
  ASSERT_EQ(record().assignees.size(), 1u);
  const uint8_t a = KeyOf(record().assignees.at(0));
  const uint64_t client = m_.h().Balance(Key(5));
  const uint64_t escrow = m_.Job(job).escrow_uagr;
  ASSERT_EQ(m_.Send(5, MsgCancelJob{job}).code, TxCode::kOk);
  const uint64_t stake = m_.h().Stake(Key(a));
  const TxResult r =
      m_.Send(a, m_.RoundResultOf(job, 1, AddressOf(Key(a)), true, {}, Blake2b256("weights")));
  EXPECT_EQ(r.code, TxCode::kWrongPhase) << r.log;
  EXPECT_NE(r.log.find("job " + std::to_string(job) + " has ended (cancelled)"),
            std::string::npos)
      << r.log;
  EXPECT_TRUE(record().results.empty()) << "a refused result is not kept";
  EXPECT_EQ(record().assignees.size(), 1u);
  EXPECT_FALSE(record().recorded);
  for (uint64_t i = 0; i < m_.params().verify_verdict_blocks && !record().abandoned; ++i) {
    m_.Block({});
  }
  EXPECT_TRUE(record().abandoned);
  EXPECT_FALSE(record().recorded);
  EXPECT_EQ(m_.h().Balance(Key(5)), client - 10 + escrow + fee);
  EXPECT_EQ(m_.h().Stake(Key(a)), stake) << "an aggregator whose answer was refused is not slashed";
}

TEST_F(VerifyTest, MissedRoundResultIsSlashedAndAnotherDrawn) {
  const uint64_t job = PostSecond(m_, /*rounds=*/1);
  m_.Block({}, [&](Ledger& l) { ASSERT_TRUE(l.MarketVerdict({job, 0, 0}, true).ok()); });
  m_.Block({});
  auto record = [&] { return *verification::GetRound(m_.h().ledger().committed(), job, 1); };
  const uint8_t idle = KeyOf(record().assignees.at(0));
  const uint64_t stake = m_.h().Stake(Key(idle));
  for (uint64_t i = 0; i < m_.params().verify_verdict_blocks; ++i) m_.Block({});
  ASSERT_EQ(record().assignees.size(), 1u);
  EXPECT_NE(KeyOf(record().assignees[0]), idle);
  EXPECT_EQ(m_.h().Stake(Key(idle)),
            stake - market::PartPpm(stake, m_.params().verify_slash_missed_ppm));
  m_.RecordRound(job, 1);
  EXPECT_EQ(m_.Job(job).status, marketplace::JobStatus::kFinished);
}

// A result naming an unavailable blob the record needs (the job's dataset,
// a passed task's delta).
MsgRoundResult UnavailableResult(uint64_t job, uint32_t round, const Hash256& blob,
                                 uint32_t of_round = 0, uint32_t of_worker = 0) {
  MsgRoundResult m;
  m.job_id = job;
  m.round = round;
  m.unavailable = blob;
  m.unavailable_round = of_round;
  m.unavailable_worker = of_worker;
  return m;
}

// A client that withholds its dataset: nobody can compute the weights at
// the start of round 0. Before, each validator drawn for the record missed
// its deadline, was fined verify.slash_missed_ppm and replaced, for as long
// as the job stayed open (1,000 blocks by default, a fine every 20). Now
// the drawn validators name the dataset as unavailable, are not fined, and
// once such results come from validators holding more than a third of the
// power (here two of four; colluders below the chain's fault bound cannot
// fail a job) the record is abandoned: the job fails and its client gets
// its escrow and the record's fee back.
TEST_F(VerifyTest, AWithheldDatasetAbandonsTheRecordInsteadOfFiningEveryValidator) {
  const market::JobSpec spec = TinySpec(/*rounds=*/2, /*workers=*/1);
  const uint64_t job =
      m_.Post(5, spec, 10 * market::TaskWorkWu(TinySpec()) * 1500, 1500, /*start=*/false);
  ASSERT_EQ(job, 2u);
  auto record = [&] { return verification::GetRound(m_.h().ledger().committed(), job, 0); };
  for (int i = 0; i < 4 && (!record() || record()->assignees.empty()); ++i) m_.Block({});
  ASSERT_TRUE(record().has_value());
  std::map<uint8_t, uint64_t> stakes;
  for (uint8_t k = 100; k < 104; ++k) stakes[k] = m_.h().Stake(Key(k));
  const uint64_t client = m_.h().Balance(Key(5));
  const uint64_t escrow = m_.Job(job).escrow_uagr;
  ASSERT_GT(escrow, 0u);

  const uint8_t a = KeyOf(record()->assignees.at(0));
  TxResult r = m_.Send(a, UnavailableResult(job, 0, spec.dataset_hash));
  ASSERT_EQ(r.code, TxCode::kOk) << r.log;
  ASSERT_EQ(record()->results.size(), 1u);
  EXPECT_EQ(record()->results[0].unavailable, spec.dataset_hash);
  EXPECT_FALSE(record()->abandoned) << "one claim alone proves nothing";
  std::set<uint8_t> claimed = {a};
  for (size_t claims = 2; claims <= verification::kUnavailableClaimsMin; ++claims) {
    EXPECT_FALSE(record()->abandoned) << claims - 1 << " claims";
    m_.Block({});
    ASSERT_EQ(record()->assignees.size(), 1u);
    const uint8_t next = KeyOf(record()->assignees.at(0));
    EXPECT_TRUE(claimed.insert(next).second) << "a validator drawn twice";
    r = m_.Send(next, UnavailableResult(job, 0, spec.dataset_hash));
    ASSERT_EQ(r.code, TxCode::kOk) << r.log;
  }
  EXPECT_TRUE(record()->abandoned);
  EXPECT_FALSE(record()->recorded);
  const marketplace::Job j = m_.Job(job);
  EXPECT_EQ(j.status, marketplace::JobStatus::kFailed) << j.outcome;
  EXPECT_NE(j.outcome.find(spec.dataset_hash.ToHex()), std::string::npos) << j.outcome;
  EXPECT_EQ(m_.h().Balance(Key(5)), client + escrow) << "the escrow comes back whole";
  // Nobody is fined, then or later.
  for (uint64_t i = 0; i < 2 * m_.params().verify_verdict_blocks; ++i) m_.Block({});
  for (uint8_t k = 100; k < 104; ++k) {
    EXPECT_EQ(m_.h().Stake(Key(k)), stakes[k]) << "validator " << int{k};
  }
}

// As with slots, a record is abandoned over a withheld blob only when the
// claimers hold more than a third of the power: of ten equal validators,
// three claims (30%) leave the record open, the fourth (40%) abandons it.
TEST_F(TenValidatorsTest, ARecordIsAbandonedOnlyWhenTheClaimersHoldMoreThanAThird) {
  const market::JobSpec spec = TinySpec(/*rounds=*/2, /*workers=*/1);
  const uint64_t job =
      m_.Post(5, spec, 10 * market::TaskWorkWu(TinySpec()) * 1500, 1500, /*start=*/false);
  ASSERT_EQ(job, 2u);
  auto record = [&] { return verification::GetRound(m_.h().ledger().committed(), job, 0); };
  for (int i = 0; i < 4 && (!record() || record()->assignees.empty()); ++i) m_.Block({});
  ASSERT_TRUE(record().has_value());
  const uint64_t client = m_.h().Balance(Key(5));
  const uint64_t escrow = m_.Job(job).escrow_uagr;
  std::set<uint8_t> claimed;
  for (int claims = 1; claims <= 4; ++claims) {
    if (claims > 1) m_.Block({});
    ASSERT_EQ(record()->assignees.size(), 1u) << claims;
    const uint8_t next = KeyOf(record()->assignees.at(0));
    EXPECT_TRUE(claimed.insert(next).second) << int{next} << " drawn twice";
    const TxResult r = m_.Send(next, UnavailableResult(job, 0, spec.dataset_hash));
    ASSERT_EQ(r.code, TxCode::kOk) << r.log;
    EXPECT_EQ(PercentOf(claimed), 10u * claims);
    EXPECT_EQ(record()->abandoned, claims == 4) << claims << " claims";
  }
  EXPECT_EQ(m_.Job(job).status, marketplace::JobStatus::kFailed);
  EXPECT_EQ(m_.h().Balance(Key(5)), client + escrow);
}

// An unavailable claim does not outvote values: a claim made first leaves
// the commitment to the first result with values; a claim made after a
// commitment never abandons the record and takes none of the draws for
// results with values (a validator that really cannot fetch the blob then
// is not fined for missing); and when the record is made, every claim
// proved false and costs what missing would have, so claiming is no
// cheaper than computing.
TEST_F(VerifyTest, AnUnavailableClaimCannotOutvoteAComputedRecord) {
  const market::JobSpec spec = TinySpec(/*rounds=*/2, /*workers=*/1);
  const uint64_t job = PostSecond(m_, /*rounds=*/2);
  m_.Block({}, [&](Ledger& l) { ASSERT_TRUE(l.MarketVerdict({job, 0, 0}, true).ok()); });
  m_.Block({});
  auto record = [&] { return *verification::GetRound(m_.h().ledger().committed(), job, 1); };
  const uint64_t fee = record().fee_uagr;
  ASSERT_GT(fee, 0u);
  const Hash256 weights = Blake2b256("aggregated");
  const std::vector<Hash256> starts{testing::StartHash(job, 1, 0)};
  const uint8_t a = KeyOf(record().assignees.at(0));
  const uint64_t a_stake = m_.h().Stake(Key(a)), a_balance = m_.h().Balance(Key(a));
  ASSERT_EQ(m_.Send(a, UnavailableResult(job, 1, spec.dataset_hash)).code, TxCode::kOk);
  m_.Block({});
  const uint8_t b = KeyOf(record().assignees.at(0));
  // The values in the clear are refused: the first values go as a commitment.
  const TxResult clear =
      m_.Send(b, m_.RoundResultOf(job, 1, AddressOf(Key(b)), false, starts, weights));
  EXPECT_EQ(clear.code, TxCode::kInvalidMessage) << clear.log;
  ASSERT_EQ(m_.Send(b, m_.RoundResultOf(job, 1, AddressOf(Key(b)), true, starts, weights)).code,
            TxCode::kOk);
  m_.Block({});
  const uint8_t c = KeyOf(record().assignees.at(0));
  const uint64_t c_stake = m_.h().Stake(Key(c)), c_balance = m_.h().Balance(Key(c));
  ASSERT_EQ(m_.Send(c, UnavailableResult(job, 1, spec.dataset_hash)).code, TxCode::kOk);
  EXPECT_FALSE(record().abandoned) << "a commitment shows the blob could be fetched";
  EXPECT_EQ(m_.h().Stake(Key(c)), c_stake) << "a claim is not a miss";
  m_.Block({});
  const uint8_t d = KeyOf(record().assignees.at(0));
  EXPECT_NE(d, a);
  EXPECT_NE(d, b);
  EXPECT_NE(d, c);
  const uint64_t b_balance = m_.h().Balance(Key(b)), d_balance = m_.h().Balance(Key(d));
  ASSERT_EQ(m_.Send(d, m_.RoundResultOf(job, 1, AddressOf(Key(d)), false, starts, weights)).code,
            TxCode::kOk);
  EXPECT_TRUE(record().recorded);
  EXPECT_EQ(record().params_hash, weights);
  for (const auto& [key, stake] : {std::pair{a, a_stake}, std::pair{c, c_stake}}) {
    EXPECT_EQ(m_.h().Stake(Key(key)),
              stake - market::PartPpm(stake, m_.params().verify_slash_missed_ppm))
        << "the claim of " << int{key} << " proved false: it costs what a miss costs";
  }
  EXPECT_EQ(m_.h().Balance(Key(a)), a_balance - 10) << "a claim is not paid";
  EXPECT_EQ(m_.h().Balance(Key(c)), c_balance - 10);
  EXPECT_EQ(m_.h().Balance(Key(b)), b_balance + fee / 2 + fee % 2);
  EXPECT_EQ(m_.h().Balance(Key(d)), d_balance - 10 + fee / 2);
  EXPECT_EQ(m_.Job(job).status, marketplace::JobStatus::kRunning);
}

// A claim must name a blob the record needs, of the right task.
TEST_F(PatientVerifyTest, AnUnavailableClaimMustNameABlobTheRecordNeeds) {
  const Work w = Work::Honest(1);
  ASSERT_EQ(m_.Send(1, Commit(w)).code, TxCode::kOk);
  ToSampling();
  const uint8_t v = Assignee();
  ASSERT_EQ(m_.Send(v, Replay(v, w, w, 1, true)).code, TxCode::kOk);
  for (int i = 0; i < 7 && !verification::GetRound(m_.h().ledger().committed(), job_, 1); ++i) {
    m_.Block({});
  }
  ASSERT_EQ(m_.Task(id_).status, TaskStatus::kPassed);
  auto record = [&] { return *verification::GetRound(m_.h().ledger().committed(), job_, 1); };
  ASSERT_EQ(record().assignees.size(), 1u);
  const uint8_t a = KeyOf(record().assignees[0]);
  const Hash256 delta = Blake2b256("delta");  // Commit's delta hash
  const Hash256 dataset = TinySpec(1, 1).dataset_hash;
  Refused(a, UnavailableResult(job_, 1, Blake2b256("not needed")), TxCode::kInvalidMessage);
  Refused(a, UnavailableResult(job_, 1, dataset, 0, 1), TxCode::kInvalidMessage);
  Refused(a, UnavailableResult(job_, 1, delta, 0, 1), TxCode::kInvalidMessage);  // no worker 1
  Refused(a, UnavailableResult(job_, 1, delta, 1, 0), TxCode::kInvalidMessage);  // not earlier
  Refused(a, UnavailableResult(job_, 1, Blake2b256("other"), 0, 0), TxCode::kInvalidMessage);
  const uint8_t stranger = a == 100 ? 101 : 100;
  Refused(stranger, UnavailableResult(job_, 1, delta), TxCode::kNotAssigned);
  // The passed task's delta, named with its task: taken.
  const TxResult ok = m_.Send(a, UnavailableResult(job_, 1, delta, 0, 0));
  ASSERT_EQ(ok.code, TxCode::kOk) << ok.log;
  ASSERT_EQ(record().results.size(), 1u);
  EXPECT_EQ(record().results[0].unavailable, delta);
  Refused(a, UnavailableResult(job_, 1, delta, 0, 0), TxCode::kWrongPhase);  // twice
}

// A claim carries nothing else, and names a 32-byte hash (built by hand:
// the typed message cannot express these).
TEST(RoundResultDecodeTest, AnUnavailableClaimCarriesNothingElse) {
  const SecretKey k = Key(1);
  auto decode = [&](const std::function<void(proto::RoundResult*)>& fill) {
    const Bytes raw = testing::HandBuiltTx(k, [&](proto::TxBody* body) {
      body->mutable_round_result()->set_job_id(1);
      fill(body->mutable_round_result());
    });
    return DecodeTx(raw, testing::kChain).status();
  };
  const std::string hash(32, 'h');
  EXPECT_TRUE(decode([&](proto::RoundResult* r) {
                r->set_unavailable(hash);
                r->set_unavailable_round(0);
              }).ok());
  struct Bad {
    const char* name;
    std::function<void(proto::RoundResult*)> fill;
  };
  const Bad bad[] = {
      {"short hash", [&](proto::RoundResult* r) { r->set_unavailable(std::string(31, 'h')); }},
      {"with a commitment",
       [&](proto::RoundResult* r) {
         r->set_unavailable(hash);
         r->set_commitment(hash);
       }},
      {"with weights",
       [&](proto::RoundResult* r) {
         r->set_unavailable(hash);
         r->set_params_hash(hash);
       }},
      {"with a loss",
       [&](proto::RoundResult* r) {
         r->set_unavailable(hash);
         r->set_validation_loss(1);
       }},
      {"with start hashes",
       [&](proto::RoundResult* r) {
         r->set_unavailable(hash);
         r->set_start_hashes(hash);
       }},
      {"a task without a claim",
       [&](proto::RoundResult* r) {
         r->set_commitment(hash);
         r->set_unavailable_round(1);
       }},
  };
  for (const Bad& b : bad) {
    const Status st = decode(b.fill);
    EXPECT_FALSE(st.ok()) << b.name;
    EXPECT_NE(st.message().find("round_result"), std::string::npos) << b.name << ": " << st.message();
  }
}

// With two draws at most, a commitment and a result that disagree end it.
class StrictRoundTest : public VerifyTest {
 protected:
  StrictRoundTest() : VerifyTest(Strict()) {}
  static Params Strict() {
    Params p = VerifyParams();
    p.verify_draws_per_slot_max = 2;
    return p;
  }
};

// Under the default cap (six results), a record every validator has sent
// a result to, no two agreeing, is abandoned at once instead of waiting for
// a validator that does not exist: the job fails and its client is refunded.
TEST_F(VerifyTest, RoundEveryValidatorAnsweredWithoutAgreementIsAbandoned) {
  const uint64_t job = PostSecond(m_, /*rounds=*/2);
  m_.Block({}, [&](Ledger& l) { ASSERT_TRUE(l.MarketVerdict({job, 0, 0}, true).ok()); });
  m_.Block({});
  auto record = [&] { return *verification::GetRound(m_.h().ledger().committed(), job, 1); };
  ASSERT_GT(m_.params().verify_draws_per_slot_max, 4u) << "the cap would abandon it first";
  const uint64_t client = m_.h().Balance(Key(5));
  const uint64_t escrow = m_.Job(job).escrow_uagr;
  const uint64_t fee = record().fee_uagr;
  ASSERT_GT(fee, 0u);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(record().assignees.size(), 1u) << "result " << i;
    const uint8_t v = KeyOf(record().assignees.at(0));
    // Each its own weights: no two match, so each is a commitment.
    const TxResult r = m_.Send(v, m_.RoundResultOf(job, 1, AddressOf(Key(v)), true,
                                                   {testing::StartHash(job, 1, 0)},
                                                   Blake2b256("weights " + std::to_string(i))));
    ASSERT_EQ(r.code, TxCode::kOk) << r.log;
    if (i < 3) m_.Block({});
  }
  EXPECT_FALSE(record().abandoned);
  m_.Block({});  // every validator answered: nobody left to draw
  EXPECT_TRUE(record().abandoned);
  EXPECT_FALSE(record().recorded);
  const marketplace::Job j = m_.Job(job);
  EXPECT_EQ(j.status, marketplace::JobStatus::kFailed) << j.outcome;
  EXPECT_NE(j.outcome.find("in 4 results"), std::string::npos) << j.outcome;
  EXPECT_EQ(m_.h().Balance(Key(5)), client + escrow + fee);
}

TEST_F(StrictRoundTest, RoundNobodyAgreesOnFailsTheJobAndRefundsItsClient) {
  const uint64_t job = PostSecond(m_, /*rounds=*/2);
  m_.Block({}, [&](Ledger& l) { ASSERT_TRUE(l.MarketVerdict({job, 0, 0}, true).ok()); });
  m_.Block({});
  auto record = [&] { return *verification::GetRound(m_.h().ledger().committed(), job, 1); };
  const uint8_t a = KeyOf(record().assignees.at(0));
  ASSERT_EQ(m_.Send(a, m_.RoundResultOf(job, 1, AddressOf(Key(a)), true,
                                        {testing::StartHash(job, 1, 0)}, Blake2b256("x")))
                .code,
            TxCode::kOk);
  m_.Block({});
  const uint8_t b = KeyOf(record().assignees.at(0));
  const uint64_t client = m_.h().Balance(Key(5));
  const uint64_t escrow = m_.Job(job).escrow_uagr;
  const uint64_t fee = record().fee_uagr;
  ASSERT_GT(fee, 0u);
  ASSERT_EQ(m_.Send(b, m_.RoundResultOf(job, 1, AddressOf(Key(b)), true,
                                        {testing::StartHash(job, 1, 0)}, Blake2b256("y")))
                .code,
            TxCode::kOk);
  m_.Block({});  // the next draw would be the third: the record is abandoned
  EXPECT_TRUE(record().abandoned);
  EXPECT_FALSE(record().recorded);
  const marketplace::Job j = m_.Job(job);
  EXPECT_EQ(j.status, marketplace::JobStatus::kFailed) << j.outcome;
  EXPECT_NE(j.outcome.find("agreed"), std::string::npos) << j.outcome;
  EXPECT_EQ(m_.h().Balance(Key(5)), client + escrow + fee)
      << "the rest of the escrow and the record's fee are refunded";
  // Nothing more is taken for it.
  const TxResult late = m_.Send(a, m_.RoundResultOf(job, 1, AddressOf(Key(a)), false,
                                                    {testing::StartHash(job, 1, 0)},
                                                    Blake2b256("x")));
  EXPECT_EQ(late.code, TxCode::kWrongPhase) << late.log;
}

}  // namespace
}  // namespace agora::consensus
