// The dispute game through the ledger, block by block, with real training:
// a provider that corrupts one element of one operator's output in one step
// of its segment is pinned by bisection to that step and that operator, and
// the drawn referees' recomputation with the reference kernels makes it lose
// (fraud); a provider that corrupts its state between two steps (no operator
// is wrong) is caught by step referees; a validator that falsely claims a
// mismatch loses part of its stake, half to the provider, and its verdict no
// longer counts; a party that stops answering loses at the deadline; a pass
// cannot be disputed; every bad move is refused and changes nothing but the
// fee. The segment's start is the commitment's checkpoint hash standing for
// a real state (the ledger never sees a state, only hashes).
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <map>
#include <optional>
#include <random>

#include "common/merkle.h"
#include "common/vrf.h"
#include "consensus/ledger/dispute.h"
#include "consensus/ledger/verification.h"
#include "kernels/trace.h"
#include "market/pricing.h"
#include "tests/consensus/market_harness.h"
#include "tests/trainer/trainer_test_util.h"
#include "trainer/checkpoint.h"
#include "trainer/train_state.h"
#include "verify/dispute.h"
#include "verify/operator.h"
#include "verify/sampling.h"
#include "verify/task.h"
#include "tests/test_util.h"

namespace agora::consensus {
namespace {

using dispute::Dispute;
using dispute::Outcome;
using dispute::Phase;
using dispute::RefereeKind;
using kernels::OpKind;
using kernels::OpRecord;
using kernels::OpTrace;
using marketplace::TaskId;
using marketplace::TaskStatus;
using testing::AddressOf;
using testing::Key;
using testing::Market;
using trainer::TrainState;

constexpr uint32_t kC = 8, kH = 16, kSegments = kH / kC;

market::JobSpec SmallSpec() {
  market::JobSpec s = testing::TinySpec(/*rounds=*/1, /*workers=*/1);
  s.context = 16;
  s.width = 16;
  s.heads = 2;
  s.layers = 2;
  s.batch = 2;
  s.inner_steps = kH;
  s.checkpoint_interval = kC;
  s.optimizer.warmup_steps = 4;
  return s;
}

Params DisputeParams(uint64_t move_blocks = 3) {
  Params p = Market::Defaults();
  p.verify_audit_ppm = 0;
  p.verify_delay_blocks = 2;
  p.verify_verdict_blocks = 4;
  p.verify_dispute_window_blocks = 1;
  p.deadline_min_blocks = 40;
  p.dispute_move_blocks = move_blocks;
  p.dispute_referee_count = 3;
  return p;
}

// One segment of C steps trained for real from `start`. Step k's state is
// states[k]; a fault makes it a cheater's: one output element of one
// operator call of one step flipped (the corruption flows on), or one
// parameter bit flipped after a step (between operators).
struct Fault {
  uint32_t step = 0;        // 1..C
  uint64_t record = 0;      // index in that step's trace
  int64_t element = 0;
  bool between_steps = false;  // flip a parameter after the step instead
};

class Segment {
 public:
  Segment(const trainer::TrainConfig& config, const trainer::Corpus& corpus, TrainState start,
          std::optional<Fault> fault = std::nullopt)
      : corpus_(corpus), fault_(fault) {
    (void)config;
    states_.push_back(std::move(start));
    for (uint32_t k = 1; k <= kC; ++k) {
      auto t = trainer::Trainer::Create(states_.back(), corpus_, kernels::Backend::kCpu);
      AGORA_CHECK(t.ok());
      if (fault_ && fault_->step == k && !fault_->between_steps) {
        auto trace = std::make_unique<OpTrace>(OpTrace::Options{.keep_blobs = true});
        trace->InjectFaultForTesting({fault_->record, 0, fault_->element, 0x00400000u});
        {
          kernels::ScopedOpTrace scope(trace.get());
          t->Step();
        }
        traces_[k] = std::move(trace);
      } else {
        t->Step();
      }
      states_.push_back(t->state());
      if (fault_ && fault_->step == k && fault_->between_steps) {
        uint32_t bits;
        std::memcpy(&bits, &states_.back().params[fault_->element], 4);
        bits ^= 0x00400000u;
        std::memcpy(&states_.back().params[fault_->element], &bits, 4);
      }
    }
  }
  // The commitment's hash stands for the start state.
  void set_label(const Hash256& label) { label_ = label; }
  Hash256 Hash(uint64_t k) const {
    return k == 0 ? label_ : trainer::CheckpointHash(states_.at(k));
  }
  // Step k's trace (from state k - 1), with its blobs.
  const OpTrace& Trace(uint32_t k) {
    auto it = traces_.find(k);
    if (it != traces_.end()) return *it->second;
    auto trace = std::make_unique<OpTrace>(OpTrace::Options{.keep_blobs = true});
    auto t = trainer::Trainer::Create(states_.at(k - 1), corpus_, kernels::Backend::kCpu);
    AGORA_CHECK(t.ok());
    {
      kernels::ScopedOpTrace scope(trace.get());
      t->Step();
    }
    return *(traces_[k] = std::move(trace));
  }
  // The chain's leaves for step k, from the ledger's agreed state before it.
  std::vector<Hash256> Leaves(uint32_t k, const Hash256& before) {
    return verify::TraceChainLeaves(before, Trace(k).records(), Hash(k));
  }

 private:
  const trainer::Corpus& corpus_;
  std::optional<Fault> fault_;
  std::vector<TrainState> states_;
  std::map<uint32_t, std::unique_ptr<OpTrace>> traces_;
  Hash256 label_;
};

// A party's answer to the dispute's current question; nullopt: it says
// nothing (and loses at the deadline).
using Strategy = std::function<std::optional<MsgDisputeMove>(const Dispute&)>;

class DisputeTest : public ::testing::Test {
 protected:
  explicit DisputeTest(Params p = DisputeParams()) : m_(p) {}

  virtual market::JobSpec Spec() { return SmallSpec(); }

  void SetUp() override {
    m_.Provider(1, /*ask=*/1000);
    const market::JobSpec spec = Spec();
    job_ = m_.Post(4, spec, 10 * market::TaskWorkWu(spec) * 1500, 1500);
    ASSERT_EQ(job_, 1u);
    ASSERT_EQ(m_.Task(id_).status, TaskStatus::kAssigned);
    config_ = verify::TrainConfigOf(spec).value();
    start_ = TrainState::Fresh(config_, corpus_.hash());
  }

  // Commits `provider_end` as the end of every segment (the sampled one is
  // the one that matters), runs to sampling, and has the first drawn
  // validator send its verdict: a fail for the end state when its replay
  // `replayed` differs, else a pass. Returns the sampled segment.
  uint32_t CommitAndReplay(const Hash256& provider_end, const Hash256& replayed,
                           uint8_t provider = 1,
                           const std::function<void(MsgVerdict&)>& edit = nullptr) {
    checkpoints_ = {testing::StartHash(1, 0, 0)};
    for (uint32_t i = 1; i <= kSegments; ++i) checkpoints_.push_back(provider_end);
    root_ = merkle::Root(checkpoints_);
    losses_.clear();
    for (uint32_t i = 0; i < kH; ++i) losses_.push_back(0x40000000u + i);
    EXPECT_EQ(m_.Send(provider, MsgCommitTask{job_, 0, 0, root_, Blake2b256("delta"), losses_,
                                       merkle::Prove(checkpoints_, 0).siblings})
                  .code,
              TxCode::kOk);
    for (int i = 0; i < 4 && m_.Task(id_).status != TaskStatus::kVerifying; ++i) m_.Block({});
    EXPECT_EQ(m_.Task(id_).status, TaskStatus::kVerifying);
    validator_ = *Slot().assignee;
    const uint8_t key = m_.ValidatorKey(validator_);
    const VrfProof proof = VrfProve(Key(key), verification::SegmentVrfInput(id_, root_, 0));
    const verify::SegmentChoice c = verify::SegmentFromVrf(
        VrfProofToHash(proof).bytes, verification::TaskBytes(id_), kSegments, kC);
    MsgVerdict v = VerdictOn(c.segment, replayed, validator_);
    v.vrf_proof = proof;
    if (edit) edit(v);
    const TxResult r = m_.Send(key, v);
    EXPECT_EQ(r.code, TxCode::kOk) << r.log;
    return c.segment;
  }

  // A verdict on `segment` of the committed checkpoints by `validator`,
  // which replayed to `replayed`: a pass when that is the committed end,
  // else a fail for the end state; its witness committed to.
  MsgVerdict VerdictOn(uint32_t segment, const Hash256& replayed, const Address& validator) {
    MsgVerdict v;
    v.job_id = job_;
    auto path = [&](uint64_t i) { return merkle::Prove(checkpoints_, i).siblings; };
    v.start_hash = checkpoints_[segment];
    v.start_proof = path(segment);
    v.committed_end = checkpoints_[segment + 1];
    v.end_proof = path(segment + 1);
    v.final_hash = checkpoints_[kSegments];
    v.final_proof = path(kSegments);
    v.replayed_end = replayed;
    v.witness_hash = verification::WitnessCommitment(Blake2b256("witness"), validator);
    v.losses.assign(losses_.begin() + segment * kC, losses_.begin() + (segment + 1) * kC);
    const bool pass = replayed == v.committed_end;
    v.outcome = pass ? VerdictOutcome::kPass : VerdictOutcome::kFail;
    v.reason = pass ? FailReason::kNone : FailReason::kEndState;
    return v;
  }

  // Commits (every segment ending at one made-up hash) and has the first
  // drawn validator fail the sampled segment for `reason`, its replay
  // reaching the committed end: for the losses, its last loss one bit off;
  // for the delta, a claim the ledger cannot check. Returns the segment.
  uint32_t CommitAndFail(FailReason reason) {
    const Hash256 end = Blake2b256("the committed end");
    return CommitAndReplay(end, end, 1, [reason](MsgVerdict& v) {
      v.outcome = VerdictOutcome::kFail;
      v.reason = reason;
      if (reason == FailReason::kLosses) v.losses.back() ^= 1;
    });
  }
  // The committed losses of `segment`, as the ledger holds them.
  std::vector<uint32_t> CommittedLosses(uint32_t segment) const {
    return {losses_.begin() + segment * kC, losses_.begin() + (segment + 1) * kC};
  }
  // A referee's witness on dispute `id`'s current draw, from the secret its
  // recompute yields.
  Hash256 WitnessOf(uint64_t id, const Hash256& secret) {
    return verify::RefereeWitness(id, Get(id).referee_draws, secret);
  }
  TxResult VoteAs(const Address& referee, uint64_t id, const Hash256& digest,
                  const Hash256& witness) {
    return m_.Send(m_.ValidatorKey(referee),
                   MsgRefereeVote{id, digest, dispute::RefereeSeal(id, witness, referee)});
  }
  TxResult RevealAs(const Address& referee, uint64_t id, const Hash256& witness) {
    return m_.Send(m_.ValidatorKey(referee), MsgRefereeReveal{id, witness});
  }
  // Waits for the draw; then drawn referee i votes votes[i] (digest,
  // witness) and, once all have voted, reveals its witness.
  Dispute Referees(uint64_t id, const std::vector<std::pair<Hash256, Hash256>>& votes) {
    for (int i = 0; i < 3 && Get(id).referees.empty(); ++i) m_.Block({});
    const Dispute drawn = Get(id);
    EXPECT_EQ(drawn.referees.size(), votes.size());
    for (size_t i = 0; i < votes.size() && i < drawn.referees.size(); ++i) {
      const TxResult r = VoteAs(drawn.referees[i], id, votes[i].first, votes[i].second);
      EXPECT_EQ(r.code, TxCode::kOk) << r.log;
    }
    EXPECT_EQ(Get(id).phase, Phase::kReveal);
    for (size_t i = 0; i < votes.size() && i < drawn.referees.size(); ++i) {
      if (Get(id).phase == Phase::kClosed) break;
      const TxResult r = RevealAs(drawn.referees[i], id, votes[i].second);
      EXPECT_EQ(r.code, TxCode::kOk) << r.log;
    }
    return Get(id);
  }
  // Each drawn referee votes `digest`, all with the witness of one honest
  // recompute.
  Dispute VoteAll(uint64_t id, const Hash256& digest) {
    for (int i = 0; i < 3 && Get(id).referees.empty(); ++i) m_.Block({});
    const Hash256 witness = WitnessOf(id, Blake2b256("the recompute"));
    return Referees(id, std::vector<std::pair<Hash256, Hash256>>(3, {digest, witness}));
  }

  // The same with real segments: the provider commits `provider`'s end,
  // the validator replays `truth`'s; both start from the sampled
  // segment's checkpoint hash.
  uint32_t CommitAndReplay(Segment& provider, Segment& truth, uint8_t provider_key = 1) {
    const uint32_t segment = CommitAndReplay(provider.Hash(kC), truth.Hash(kC), provider_key);
    provider.set_label(checkpoints_[segment]);
    truth.set_label(checkpoints_[segment]);
    return segment;
  }

  // Sends the parties' moves, each in its turn, until the dispute reaches
  // `phase`.
  void PlayUntil(uint64_t id, Phase phase, const Strategy& provider, const Strategy& validator) {
    for (int i = 0; i < 100 && Get(id).phase != phase; ++i) {
      const Dispute d = Get(id);
      const bool pt = *d.turn() == d.provider;
      ASSERT_EQ(m_.Send(pt ? uint8_t{1} : m_.ValidatorKey(d.validator), *(pt ? provider : validator)(d))
                    .code,
                TxCode::kOk);
    }
    ASSERT_EQ(Get(id).phase, phase);
  }

  MsgOpenDispute Open(uint32_t segment) {
    MsgOpenDispute o;
    o.job_id = job_;
    o.start_hash = checkpoints_[segment];
    o.start_proof = merkle::Prove(checkpoints_, segment).siblings;
    o.committed_end = checkpoints_[segment + 1];
    o.end_proof = merkle::Prove(checkpoints_, segment + 1).siblings;
    return o;
  }

  // A dispute of a fail for the delta: checkpoint 0 and the final one.
  MsgOpenDispute OpenDelta() {
    MsgOpenDispute o;
    o.job_id = job_;
    o.start_hash = checkpoints_[0];
    o.start_proof = merkle::Prove(checkpoints_, 0).siblings;
    o.committed_end = checkpoints_[kSegments];
    o.end_proof = merkle::Prove(checkpoints_, kSegments).siblings;
    return o;
  }

  verification::Slot Slot(uint32_t k = 0) {
    const uint32_t slots = m_.Job(job_).spec.spot_checks;
    return verification::GetSlots(m_.h().ledger().committed(), id_, slots).at(k);
  }
  Dispute Get(uint64_t id) { return *dispute::GetDispute(m_.h().ledger().committed(), id); }

  // An honest party plays from its own segment; the provider posts, the
  // validator compares.
  Strategy Honest(Segment& mine, uint32_t segment) {
    return [&mine, segment](const Dispute& d) -> std::optional<MsgDisputeMove> {
      const uint64_t base = uint64_t{segment} * kC;
      MsgDisputeMove m;
      m.dispute_id = d.id;
      const uint32_t step = static_cast<uint32_t>(d.step_hi - base);
      switch (d.phase) {
        case Phase::kSteps:
          if (!d.pending) {
            m.action = DisputeAction::kState;
            m.hash = mine.Hash(d.step_mid() - base);
          } else {
            m.action = *d.pending == mine.Hash(d.step_mid() - base) ? DisputeAction::kAgree
                                                                    : DisputeAction::kDisagree;
          }
          return m;
        case Phase::kOperators: {
          const Hash256 leaf = mine.Leaves(step, d.lo_hash).at(d.op_mid());
          if (!d.pending) {
            m.action = DisputeAction::kLeaf;
            m.hash = leaf;
          } else {
            m.action = *d.pending == leaf ? DisputeAction::kAgree : DisputeAction::kDisagree;
          }
          return m;
        }
        case Phase::kRecordProvider:
        case Phase::kRecordValidator:
          m.action = DisputeAction::kRecord;
          m.record = kernels::EncodeOpRecord(mine.Trace(step).records().at(d.op_hi - 1));
          return m;
        default:
          return std::nullopt;
      }
    };
  }

  // A validator claiming a mismatch it cannot show: it disagrees with every
  // hash, then reveals the provider's record with made-up outputs.
  static Strategy Liar() {
    return [](const Dispute& d) -> std::optional<MsgDisputeMove> {
      MsgDisputeMove m;
      m.dispute_id = d.id;
      if (d.phase == Phase::kRecordValidator) {
        OpRecord r = kernels::DecodeOpRecord(d.record_provider).value();
        r.outputs[0].bytes[0] ^= 1;
        m.action = DisputeAction::kRecord;
        m.record = kernels::EncodeOpRecord(r);
      } else {
        m.action = DisputeAction::kDisagree;
      }
      return m;
    };
  }

  // Plays dispute `id` to its end: each party's strategy in turn, each
  // drawn referee recomputing honestly from the blobs of both traces (the
  // operator's inputs are the same in both) or replaying `truth`.
  Dispute Play(uint64_t id, const Strategy& provider, const Strategy& validator, Segment& truth,
               Segment& cheat, uint32_t segment) {
    for (int turn = 0; turn < 200; ++turn) {
      const Dispute d = Get(id);
      if (d.phase == Phase::kClosed) return d;
      if (d.phase == Phase::kReferees) {
        if (d.referees.empty()) {
          m_.Block({});
          continue;
        }
        const uint64_t base = uint64_t{segment} * kC;
        Hash256 digest, secret;
        if (d.referee_kind == RefereeKind::kOperator) {
          const OpRecord record = kernels::DecodeOpRecord(d.record_provider).value();
          const uint32_t step = static_cast<uint32_t>(d.step_hi - base);
          std::map<Hash256, Bytes> blobs = truth.Trace(step).blobs();
          for (const auto& [h, b] : cheat.Trace(step).blobs()) blobs.emplace(h, b);
          const std::vector<Hash256> outputs =
              verify::RecomputeOperator(record, verify::LookupIn(blobs), &secret).value();
          digest = verify::OutputsDigest(outputs);
        } else {
          digest = verify::StepDigest(truth.Hash(d.step_lo - base), truth.Hash(d.step_hi - base));
          std::vector<Hash256> states;
          for (uint32_t i = 0; i <= kC; ++i) states.push_back(truth.Hash(i));
          std::vector<ByteSpan> parts;
          for (const Hash256& h : states) parts.push_back(h.span());
          secret = verify::RefereeSecret(parts);
        }
        const Hash256 witness = WitnessOf(id, secret);
        for (const Address& a : d.referees) {
          const TxResult r = VoteAs(a, id, digest, witness);
          EXPECT_EQ(r.code, TxCode::kOk) << r.log;
          ++votes_;
        }
        EXPECT_EQ(Get(id).phase, Phase::kReveal);
        for (const Address& a : d.referees) {
          if (Get(id).phase == Phase::kClosed) break;
          const TxResult r = RevealAs(a, id, witness);
          EXPECT_EQ(r.code, TxCode::kOk) << r.log;
        }
        continue;
      }
      const bool provider_turn = *d.turn() == d.provider;
      std::optional<MsgDisputeMove> move = provider_turn ? provider(d) : validator(d);
      if (!move) {
        m_.Block({});  // silence
        continue;
      }
      const TxResult r =
          m_.Send(provider_turn ? uint8_t{1} : m_.ValidatorKey(d.validator), Msg(*move));
      EXPECT_EQ(r.code, TxCode::kOk) << r.log << " in phase " << dispute::PhaseName(d.phase);
      if (r.code != TxCode::kOk) return Get(id);
    }
    ADD_FAILURE() << "dispute " << id << " did not end";
    return Get(id);
  }

  uint64_t OpenedId(const TxResult& r) {
    EXPECT_EQ(r.code, TxCode::kOk) << r.log;
    for (const Event& e : r.events) {
      if (e.type != "dispute_opened") continue;
      for (const auto& [k, v] : e.attributes) {
        if (k == "dispute") return std::stoull(v);
      }
    }
    ADD_FAILURE() << "no dispute_opened event: " << r.log;
    return 0;
  }

  // Index of the `n`-th record of `kind` in a step's trace.
  static uint64_t IndexOf(const OpTrace& t, OpKind kind, int n) {
    for (uint64_t i = 0; i < t.records().size(); ++i) {
      if (t.records()[i].kind == kind && n-- == 0) return i;
    }
    ADD_FAILURE() << "no such record";
    return 0;
  }

  Market m_;
  uint64_t job_ = 0;
  const TaskId id_{1, 0, 0};
  trainer::Corpus corpus_ = trainer::ShakespeareCorpus(1 << 16);
  trainer::TrainConfig config_;
  TrainState start_;
  std::vector<Hash256> checkpoints_;
  std::vector<uint32_t> losses_;
  Hash256 root_;
  Address validator_;
  int votes_ = 0;
};

// The test: a provider corrupting exactly one element of the
// attention output of step j, layer l is pinned to that step and that
// operator, whatever j and l, and loses its collateral. Each seed draws j,
// l and the element; the game runs through the ledger.
class DisputeSeedTest : public DisputeTest, public ::testing::WithParamInterface<uint32_t> {};

TEST_P(DisputeSeedTest, OneCorruptedOperatorIsPinnedAndItsProviderLoses) {
  // Each instance has its own seed; AGORA_TEST_SEED replaces it.
  const uint64_t seed = agora::testing::TestSeed(GetParam());
  std::mt19937 rng(static_cast<uint32_t>(seed));
  const uint32_t j = 1 + rng() % kC;
  const int layer = static_cast<int>(rng() % config_.model.layers);
  SCOPED_TRACE(agora::testing::ReproduceLine(seed) + " (step " + std::to_string(j) + ", layer " +
               std::to_string(layer) + ")");
  Segment truth(config_, corpus_, start_);
  const uint64_t record = IndexOf(truth.Trace(j), OpKind::kAttentionForward, layer);
  const int64_t elements = config_.model.context * config_.model.width;
  Segment cheat(config_, corpus_, start_, Fault{j, record, static_cast<int64_t>(rng() % elements)});
  ASSERT_NE(cheat.Hash(kC), truth.Hash(kC));
  ASSERT_EQ(cheat.Hash(j - 1), truth.Hash(j - 1));
  ASSERT_NE(cheat.Hash(j), truth.Hash(j));
  ASSERT_EQ(truth.Trace(j).records().size(), verify::RecordsPerStep(config_.model));

  const uint32_t segment = CommitAndReplay(cheat, truth);
  const uint64_t stake_before = m_.h().Stake(Key(1));
  const uint64_t collateral = m_.Task(id_).collateral_uagr;
  const uint64_t validator_before = m_.h().Balance(Key(m_.ValidatorKey(validator_)));

  // The provider contests the fail; the slot waits (nobody else is drawn).
  const uint64_t id = OpenedId(m_.Send(1, Open(segment)));
  m_.Block({});
  EXPECT_EQ(Slot().dispute, id);
  EXPECT_FALSE(Slot().assignee.has_value());

  const Dispute d = Play(id, Honest(cheat, segment), Honest(truth, segment), truth, cheat, segment);
  EXPECT_EQ(d.outcome, Outcome::kProviderLost) << d.reason;
  // Pinned: step j of the segment, then exactly the corrupted call.
  EXPECT_EQ(d.step_hi, uint64_t{segment} * kC + j);
  EXPECT_EQ(d.step_lo + 1, d.step_hi);
  EXPECT_EQ(d.referee_kind, RefereeKind::kOperator);
  EXPECT_EQ(d.op_hi, record + 1) << "leaf m is record m - 1";
  EXPECT_EQ(kernels::DecodeOpRecord(d.record_provider)->kind, OpKind::kAttentionForward);
  // Moves: ceil(log2 C) + ceil(log2 (N + 2)) exchanges of two moves, and
  // the two records.
  const uint64_t n = verify::RecordsPerStep(config_.model);
  EXPECT_LE(d.moves, 2 * (std::bit_width(kC - 1) + std::bit_width(n + 1)) + 2);
  std::fprintf(stderr,
               "dispute pinned step %u, record %llu of %llu: %u moves, %llu bytes on the ledger, "
               "%d referee votes\n",
               j, static_cast<unsigned long long>(record), static_cast<unsigned long long>(n),
               d.moves, static_cast<unsigned long long>(d.bytes_moved), votes_);
  // Fraud: the collateral, half to the validator; the task is open again.
  EXPECT_EQ(m_.h().Stake(Key(1)), stake_before - collateral);
  // The validator paid a fee per move (half the moves are its own).
  EXPECT_EQ(m_.h().Balance(Key(m_.ValidatorKey(validator_))),
            validator_before - 10 * (d.moves / 2) + collateral / 2);
  EXPECT_NE(m_.Task(id_).status, TaskStatus::kVerifying);
  EXPECT_EQ(Slot().state, verification::SlotState::kFailed);
  EXPECT_EQ(Slot().dispute, 0u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, DisputeSeedTest, ::testing::Range(1u, 13u));

// The same across steps and layers, every position of the corruption.
TEST_F(DisputeTest, PinningHoldsForEveryStepAndLayer) {
  Segment truth(config_, corpus_, start_);
  for (uint32_t j = 1; j <= kC; j += 3) {
    for (int layer = 0; layer < config_.model.layers; ++layer) {
      SCOPED_TRACE("step " + std::to_string(j) + ", layer " + std::to_string(layer));
      const uint64_t record = IndexOf(truth.Trace(j), OpKind::kAttentionForward, layer);
      Segment cheat(config_, corpus_, start_, Fault{j, record, 5 + j * 7 + layer});
      // The bisection by itself (the ledger's rules on a copy of the game):
      // the first step whose state differs, then the first leaf.
      uint64_t lo = 0, hi = kC;
      while (hi > lo + 1) {
        const uint64_t mid = lo + (hi - lo) / 2;
        (cheat.Hash(mid) == truth.Hash(mid) ? lo : hi) = mid;
      }
      EXPECT_EQ(hi, j);
      const std::vector<Hash256> a = cheat.Leaves(j, truth.Hash(j - 1));
      const std::vector<Hash256> b = truth.Leaves(j, truth.Hash(j - 1));
      uint64_t olo = 0, ohi = a.size() - 1;
      while (ohi > olo + 1) {
        const uint64_t mid = olo + (ohi - olo) / 2;
        (a[mid] == b[mid] ? olo : ohi) = mid;
      }
      EXPECT_EQ(ohi, record + 1);
      const OpRecord& bad = cheat.Trace(j).records()[record];
      EXPECT_TRUE(verify::SameCall(bad, truth.Trace(j).records()[record]));
      EXPECT_FALSE(verify::RecomputeMatches(bad, verify::LookupIn(cheat.Trace(j).blobs())).value());
    }
  }
}

// A provider that flips a weight between two steps: every operator record
// of that step agrees, the end state does not; step referees replay it.
TEST_F(DisputeTest, CorruptionBetweenOperatorsGoesToStepReferees) {
  const uint32_t j = 3;
  Segment truth(config_, corpus_, start_);
  Segment cheat(config_, corpus_, start_, Fault{j, 0, 11, /*between_steps=*/true});
  const uint32_t segment = CommitAndReplay(cheat, truth);
  // This time the validator opens it.
  const uint64_t id = OpenedId(m_.Send(m_.ValidatorKey(validator_), Open(segment)));
  const Dispute d = Play(id, Honest(cheat, segment), Honest(truth, segment), truth, cheat, segment);
  EXPECT_EQ(d.outcome, Outcome::kProviderLost) << d.reason;
  EXPECT_EQ(d.step_hi, uint64_t{segment} * kC + j);
  EXPECT_EQ(d.referee_kind, RefereeKind::kStep);
  EXPECT_EQ(d.op_hi, verify::RecordsPerStep(config_.model) + 1);
  EXPECT_EQ(d.opener, validator_);
}

// An honest provider and a validator that claims a mismatch it cannot show:
// it disagrees with everything and then reveals a record whose outputs it
// made up. The referees recompute: the validator loses part of its stake,
// half to the provider, and its fail no longer counts: another validator
// is drawn for the slot.
TEST_F(DisputeTest, FalseClaimLosesAndTheSlotGoesOn) {
  Segment truth(config_, corpus_, start_);
  const Hash256 lie = Blake2b256("a replay that never happened");
  const uint32_t segment = CommitAndReplay(truth.Hash(kC), lie);
  truth.set_label(checkpoints_[segment]);
  const uint8_t vkey = m_.ValidatorKey(validator_);
  const uint64_t vstake = m_.h().Stake(Key(vkey));
  const uint64_t pbalance = m_.h().Balance(Key(1));
  const uint64_t id = OpenedId(m_.Send(1, Open(segment)));
  const Strategy liar = Liar();
  const Dispute d = Play(id, Honest(truth, segment), liar, truth, truth, segment);
  EXPECT_EQ(d.outcome, Outcome::kValidatorLost) << d.reason;
  EXPECT_EQ(d.referee_kind, RefereeKind::kOperator);
  EXPECT_EQ(d.op_hi, 1u) << "disagreeing with everything ends at the first record";
  const uint64_t cut = market::PartPpm(vstake, m_.params().slash_false_claim_ppm);
  EXPECT_EQ(m_.h().Stake(Key(vkey)), vstake - cut);
  // The provider paid a fee to open and one per move (half the moves are
  // its own), and got half the cut.
  EXPECT_EQ(m_.h().Balance(Key(1)), pbalance - 10 - 10 * (d.moves / 2) + cut / 2);
  const verification::Slot s = Slot();
  EXPECT_TRUE(s.verdicts.at(0).overturned);
  EXPECT_EQ(s.state, verification::SlotState::kPending);
  EXPECT_EQ(s.dispute, 0u);
  m_.Block({});
  ASSERT_TRUE(Slot().assignee.has_value()) << "another validator replays the segment";
  EXPECT_NE(*Slot().assignee, validator_);
}

// Found in review (2026-12-05): a colluder's "unavailable" and another's
// false fail right after it made two fail-like verdicts, and the slot
// failed in the block of the fail, before the provider could dispute it.
// Now fraud on a fail waits for the fail's dispute window: the honest
// provider disputes, the referees overturn the fail, the claim alone is
// not fraud, and the slot goes on to another replay.
TEST_F(DisputeTest, AClaimThenAFalseFailWaitsForTheProvidersDispute) {
  Segment truth(config_, corpus_, start_);
  const uint32_t segment =
      CommitAndReplay(truth.Hash(kC), Blake2b256("unused"), 1, [](MsgVerdict& v) {
        MsgVerdict claim;
        claim.job_id = v.job_id;
        claim.outcome = VerdictOutcome::kUnavailable;
        claim.vrf_proof = v.vrf_proof;
        v = claim;
      });
  truth.set_label(checkpoints_[segment]);
  const uint64_t stake = m_.h().Stake(Key(1));
  m_.Block({});
  ASSERT_TRUE(Slot().assignee.has_value());
  const Address liar = *Slot().assignee;
  ASSERT_NE(liar, validator_);
  const TxResult r =
      m_.Send(m_.ValidatorKey(liar), VerdictOn(segment, Blake2b256("no replay"), liar));
  ASSERT_EQ(r.code, TxCode::kOk) << r.log;
  EXPECT_EQ(Slot().state, verification::SlotState::kPending)
      << "a fail the provider has not had a block to dispute settles nothing";
  EXPECT_EQ(m_.Task(id_).status, TaskStatus::kVerifying);
  EXPECT_EQ(m_.h().Stake(Key(1)), stake);
  MsgOpenDispute o = Open(segment);
  o.verdict = 1;
  const uint64_t id = OpenedId(m_.Send(1, o));
  const Dispute d = Play(id, Honest(truth, segment), Liar(), truth, truth, segment);
  EXPECT_EQ(d.outcome, Outcome::kValidatorLost) << d.reason;
  EXPECT_TRUE(Slot().verdicts.at(1).overturned);
  EXPECT_EQ(Slot().state, verification::SlotState::kPending);
  EXPECT_EQ(m_.Prov(1).tasks_failed, 0u);
  EXPECT_GE(m_.h().Stake(Key(1)), stake);
  m_.Block({});
  ASSERT_TRUE(Slot().assignee.has_value()) << "another validator replays the segment";
}

// Found in review (2026-12-03): when no verdict stands on any slot (every
// validator sent a false fail and lost the dispute over it, and nobody is
// left to draw), the task passes and is paid, but nobody earned the
// validators' fee: it stayed in the fee pool for ever. It goes back to the
// job's client.
TEST_F(DisputeTest, AValidatorsFeeNobodyEarnedGoesBackToTheClient) {
  Segment truth(config_, corpus_, start_);
  const uint32_t segment = CommitAndReplay(truth.Hash(kC), Blake2b256("no replay"));
  truth.set_label(checkpoints_[segment]);
  const uint64_t client = m_.h().Balance(Key(4));
  auto false_fail = [&](uint8_t key) {
    return VerdictOn(Slot().segment, Blake2b256("no replay " + std::to_string(key)),
                     AddressOf(Key(key)));
  };
  int disputes = 0;
  for (int i = 0; i < 60 && Slot().state == verification::SlotState::kPending; ++i) {
    const verification::Slot s = Slot();
    const verification::VerdictRecord* last = s.verdicts.empty() ? nullptr : &s.verdicts.back();
    if (s.dispute == 0 && last != nullptr && !last->overturned) {
      MsgOpenDispute o = Open(segment);
      o.verdict = static_cast<uint32_t>(s.verdicts.size() - 1);
      const uint64_t id = OpenedId(m_.Send(1, o));
      ASSERT_EQ(Play(id, Honest(truth, segment), Liar(), truth, truth, segment).outcome,
                Outcome::kValidatorLost);
      ++disputes;
    } else if (s.assignee) {
      const uint8_t key = m_.ValidatorKey(*s.assignee);
      const TxResult r = m_.Send(key, false_fail(key));
      ASSERT_EQ(r.code, TxCode::kOk) << r.log;
    } else {
      m_.Block({});
    }
  }
  ASSERT_EQ(Slot().state, verification::SlotState::kPassed);
  for (const verification::VerdictRecord& v : Slot().verdicts) EXPECT_TRUE(v.overturned);
  EXPECT_EQ(disputes, static_cast<int>(Slot().verdicts.size()));
  for (int i = 0; i < 6 && m_.Task(id_).status != TaskStatus::kPassed; ++i) m_.Block({});
  ASSERT_EQ(m_.Task(id_).status, TaskStatus::kPassed);
  const uint64_t validators_fee =
      market::SplitPayment(m_.Task(id_).price_uagr, m_.params().validator_fee_ppm).validators_uagr;
  const uint64_t fee =
      validators_fee - market::PartPpm(validators_fee, m_.params().verify_aggregation_fee_ppm);
  ASSERT_GT(fee, 0u);
  EXPECT_EQ(m_.h().Balance(Key(4)), client + fee);
}

// A party that stops answering loses when its move is due.
TEST_F(DisputeTest, SilenceLosesAtTheDeadline) {
  Segment truth(config_, corpus_, start_);
  Segment cheat(config_, corpus_, start_, Fault{2, 10, 3});
  const uint32_t segment = CommitAndReplay(cheat, truth);
  const uint64_t id = OpenedId(m_.Send(1, Open(segment)));
  int moves = 0;
  const Strategy honest_cheat = Honest(cheat, segment);
  const Strategy gives_up = [&](const Dispute& d) -> std::optional<MsgDisputeMove> {
    if (++moves > 2) return std::nullopt;
    return honest_cheat(d);
  };
  const Dispute d = Play(id, gives_up, Honest(truth, segment), truth, cheat, segment);
  EXPECT_EQ(d.outcome, Outcome::kProviderLost);
  EXPECT_NE(d.reason.find("the provider missed its move"), std::string::npos) << d.reason;
  EXPECT_EQ(d.closed_height, d.due_height);
  EXPECT_EQ(d.moves, 4u) << "two posts, two answers";
  EXPECT_EQ(votes_, 0);
  EXPECT_NE(m_.Task(id_).status, TaskStatus::kVerifying);
}

// In the exact tier an honest re-run of a task commits the same root as the
// attempt before it. A fail of the new attempt must be disputable even
// though the same slot and verdict of the old attempt was disputed (the
// "disputed once" record was keyed by the root, and refused it).
TEST_F(DisputeTest, AReassignedTaskCommittingTheSameRootCanDisputeAgain) {
  m_.Provider(2, /*ask=*/1000);
  Segment truth(config_, corpus_, start_);
  Segment cheat(config_, corpus_, start_, Fault{2, 10, 3});
  const uint32_t segment = CommitAndReplay(cheat, truth);
  const uint64_t first = OpenedId(m_.Send(1, Open(segment)));
  const Strategy silent = [](const Dispute&) { return std::optional<MsgDisputeMove>(); };
  ASSERT_EQ(Play(first, silent, Honest(truth, segment), truth, cheat, segment).outcome,
            Outcome::kProviderLost);
  for (int i = 0; i < 8 && m_.Task(id_).status != TaskStatus::kAssigned; ++i) m_.Block({});
  ASSERT_EQ(m_.Task(id_).status, TaskStatus::kAssigned);
  ASSERT_EQ(m_.Task(id_).provider, AddressOf(Key(2))) << "the task goes to the other provider";
  const Hash256 old_root = root_;
  Segment cheat2(config_, corpus_, start_, Fault{2, 10, 3});
  const uint32_t again = CommitAndReplay(cheat2, truth, /*provider_key=*/2);
  ASSERT_EQ(root_, old_root) << "the same checkpoints make the same root";
  ASSERT_EQ(Slot().verdicts.size(), 1u);
  const TxResult r = m_.Send(2, Open(again));
  ASSERT_EQ(r.code, TxCode::kOk) << r.log;
  EXPECT_NE(OpenedId(r), first);
  EXPECT_EQ(Slot().dispute, OpenedId(r));
}

TEST_F(DisputeTest, SilentValidatorLoses) {
  Segment truth(config_, corpus_, start_);
  const uint32_t segment = CommitAndReplay(truth.Hash(kC), Blake2b256("no replay"));
  truth.set_label(checkpoints_[segment]);
  const uint64_t id = OpenedId(m_.Send(1, Open(segment)));
  const Dispute d = Play(id, Honest(truth, segment),
                         [](const Dispute&) { return std::optional<MsgDisputeMove>(); }, truth,
                         truth, segment);
  EXPECT_EQ(d.outcome, Outcome::kValidatorLost);
  EXPECT_NE(d.reason.find("the validator missed its move"), std::string::npos) << d.reason;
  EXPECT_EQ(d.moves, 1u);
}

// Deadlines long enough for every refused message to take its block.
class PatientDisputeTest : public DisputeTest {
 protected:
  PatientDisputeTest() : DisputeTest(DisputeParams(/*move_blocks=*/100)) {}
};

class AuditedDisputeTest : public DisputeTest {
 protected:
  static Params WithAudits() {
    Params p = DisputeParams();
    p.verify_audit_ppm = 1'000'000;  // every pass is audited
    return p;
  }
  AuditedDisputeTest() : DisputeTest(WithAudits()) {}
};

// Found in review (2026-12-03): a provider that lost its dispute by missing
// a move had the slot's passes outvoted and slashed, though a missed move
// proves nothing about the segment: a colluding provider could open a
// dispute over a partner's false fail, stay silent, and get an honest
// validator's pass slashed (and half its own collateral to the partner).
TEST_F(AuditedDisputeTest, AProviderThatForfeitsDoesNotGetTheHonestPassesSlashed) {
  const Hash256 end = Blake2b256("the provider's end");
  const uint32_t segment = CommitAndReplay(end, end);  // the first verdict passes
  const Address honest = validator_;
  for (int i = 0; i < 4 && (!Slot().assignee || *Slot().assignee == honest); ++i) m_.Block({});
  ASSERT_TRUE(Slot().assignee.has_value()) << "the audit draws a second validator";
  const Address partner = *Slot().assignee;
  ASSERT_NE(partner, honest);
  const TxResult fail =
      m_.Send(m_.ValidatorKey(partner), VerdictOn(segment, Blake2b256("made up"), partner));
  ASSERT_EQ(fail.code, TxCode::kOk) << fail.log;
  const uint64_t honest_stake = m_.h().Stake(Key(m_.ValidatorKey(honest)));
  MsgOpenDispute o = Open(segment);
  o.verdict = 1;
  const uint64_t id = OpenedId(m_.Send(1, o));
  const Strategy silent = [](const Dispute&) -> std::optional<MsgDisputeMove> {
    return std::nullopt;
  };
  Segment unused(config_, corpus_, start_);
  const Dispute d = Play(id, silent, Liar(), unused, unused, segment);
  EXPECT_EQ(d.outcome, Outcome::kProviderLost);
  EXPECT_NE(d.reason.find("the provider missed its move"), std::string::npos) << d.reason;
  EXPECT_EQ(Slot().state, verification::SlotState::kFailed) << "the task still fails";
  EXPECT_NE(m_.Task(id_).status, TaskStatus::kVerifying);
  EXPECT_EQ(m_.h().Stake(Key(m_.ValidatorKey(honest))), honest_stake)
      << "the honest pass was not outvoted by a forfeit";
}

// Found in review (2026-12-03): each fresh fail for the end state schedules
// the next draw dispute.move_blocks later, and the slot did not remember
// which entry it waited for. When a dispute over a first fail ended early
// and a second validator failed the slot too, the first fail's entry still
// fired and drew a third validator inside the second fail's window.
TEST_F(PatientDisputeTest, AnEarlierFailsWaitDoesNotCutALaterFailsWindowShort) {
  Segment truth(config_, corpus_, start_);
  const uint32_t segment = CommitAndReplay(truth.Hash(kC), Blake2b256("no replay"));
  truth.set_label(checkpoints_[segment]);
  const uint64_t move_blocks = m_.params().dispute_move_blocks;
  const uint64_t first_fail = Slot().verdicts.at(0).height;
  const uint64_t id = OpenedId(m_.Send(1, Open(segment)));
  const Dispute d = Play(id, Honest(truth, segment), Liar(), truth, truth, segment);
  ASSERT_EQ(d.outcome, Outcome::kValidatorLost) << d.reason;
  ASSERT_LT(d.closed_height + 10, first_fail + move_blocks) << "the game must end early here";
  for (int i = 0; i < 4 && !Slot().assignee; ++i) m_.Block({});
  ASSERT_TRUE(Slot().assignee.has_value()) << "the next validator is drawn";
  const Address second = *Slot().assignee;
  const TxResult r =
      m_.Send(m_.ValidatorKey(second), VerdictOn(segment, Blake2b256("no replay 2"), second));
  ASSERT_EQ(r.code, TxCode::kOk) << r.log;
  const uint64_t second_fail = Slot().verdicts.back().height;
  ASSERT_LT(second_fail, first_fail + move_blocks);
  // The provider has move_blocks from the second fail to dispute it.
  while (m_.h().ledger().Height() + 1 < second_fail + move_blocks) {
    m_.Block({});
    ASSERT_FALSE(Slot().assignee.has_value())
        << "a third validator drawn at height " << m_.h().ledger().Height()
        << ", inside the window of the fail at " << second_fail << " (the first fail, at "
        << first_fail << ", had its own)";
  }
  for (int i = 0; i < 3 && !Slot().assignee; ++i) m_.Block({});
  EXPECT_TRUE(Slot().assignee.has_value()) << "drawn once the window closed";
}

// Everything a party, a bystander or a referee can get wrong is refused,
// and only the fee moves.
TEST_F(PatientDisputeTest, BadMovesAreRefusedAndChangeNothingButTheFee) {
  Segment truth(config_, corpus_, start_);
  Segment cheat(config_, corpus_, start_, Fault{5, 20, 9});
  const uint32_t segment = CommitAndReplay(cheat, truth);
  const uint8_t vkey = m_.ValidatorKey(validator_);
  uint8_t bystander = 100;
  while (AddressOf(Key(bystander)) == validator_) ++bystander;

  auto snapshot = [&] {
    std::string out;
    for (const Dispute& d : dispute::Disputes(m_.h().ledger().committed(), 1, 10)) {
      out += std::to_string(d.id) + std::string(dispute::PhaseName(d.phase)) +
             std::to_string(d.step_lo) + "-" + std::to_string(d.step_hi) +
             (d.pending ? d.pending->ToHex() : "-") + std::to_string(d.op_lo) + "-" +
             std::to_string(d.op_hi) + std::to_string(d.moves) + std::to_string(d.votes.size()) +
             std::string(dispute::OutcomeName(d.outcome)) + ";";
    }
    const verification::Slot s = Slot();
    out += std::to_string(s.dispute) + std::to_string(s.verdicts.size()) +
           std::to_string(static_cast<int>(s.state));
    return out;
  };
  auto refused = [&](uint8_t key, const Msg& msg, TxCode code) {
    const std::string before = snapshot();
    const uint64_t balance = m_.h().Balance(Key(key));
    const TxResult r = m_.Send(key, msg);
    EXPECT_EQ(r.code, code) << r.log;
    EXPECT_FALSE(r.log.empty());
    EXPECT_EQ(snapshot(), before) << r.log;
    EXPECT_EQ(m_.h().Balance(Key(key)), balance - 10) << r.log;
  };

  // Opening: not a party, a missing verdict, bad proofs.
  refused(2, Open(segment), TxCode::kNotAssigned);
  refused(bystander, Open(segment), TxCode::kNotAssigned);
  MsgOpenDispute o = Open(segment);
  o.verdict = 1;
  refused(1, o, TxCode::kInvalidMessage);
  o = Open(segment);
  o.start_hash = Blake2b256("another start");
  refused(1, o, TxCode::kBadProof);
  o = Open(segment);
  o.end_proof.pop_back();
  refused(1, o, TxCode::kBadProof);
  o = Open(segment);
  o.slot = 1;
  refused(1, o, TxCode::kInvalidMessage);
  o = Open(segment);
  o.worker = 1;
  refused(1, o, TxCode::kNotFound);

  const uint64_t id = OpenedId(m_.Send(1, Open(segment)));
  refused(vkey, Open(segment), TxCode::kWrongPhase);  // one at a time
  MsgDisputeMove state{id, DisputeAction::kState, cheat.Hash(kC / 2), {}};
  // Out of turn, from a bystander, the wrong action, a missing dispute.
  refused(vkey, MsgDisputeMove{id, DisputeAction::kAgree, {}, {}}, TxCode::kWrongPhase);
  refused(bystander, state, TxCode::kNotAssigned);
  refused(1, MsgDisputeMove{id, DisputeAction::kLeaf, Blake2b256("x"), {}},
          TxCode::kInvalidMessage);
  refused(1, MsgDisputeMove{id + 1, DisputeAction::kState, Blake2b256("x"), {}},
          TxCode::kNotFound);
  // Referee votes before any referee is drawn.
  refused(bystander, MsgRefereeVote{id, Blake2b256("x"), Blake2b256("s")}, TxCode::kWrongPhase);
  refused(bystander, MsgRefereeReveal{id, Blake2b256("w")}, TxCode::kWrongPhase);

  // Play honestly to the provider's record, then try bad records.
  Strategy p = Honest(cheat, segment), v = Honest(truth, segment);
  ASSERT_NO_FATAL_FAILURE(PlayUntil(id, Phase::kRecordProvider, p, v));
  const uint32_t step = static_cast<uint32_t>(Get(id).step_hi - uint64_t{segment} * kC);
  const uint64_t index = Get(id).op_hi - 1;
  // A record that does not link the agreed leaf to the provider's: the
  // honest one (the provider's leaf is the corrupted record's).
  refused(1, MsgDisputeMove{id, DisputeAction::kRecord, {},
                            kernels::EncodeOpRecord(truth.Trace(step).records()[index])},
          TxCode::kBadProof);
  refused(1, MsgDisputeMove{id, DisputeAction::kRecord, {}, Bytes{1, 2, 3}},
          TxCode::kInvalidMessage);
  OpRecord malformed = cheat.Trace(step).records()[index];
  malformed.ints[0] = -1;
  refused(1, MsgDisputeMove{id, DisputeAction::kRecord, {}, kernels::EncodeOpRecord(malformed)},
          TxCode::kInvalidMessage);
  ASSERT_EQ(m_.Send(1, *p(Get(id))).code, TxCode::kOk);
  // The validator may not echo the provider's record.
  refused(vkey, MsgDisputeMove{id, DisputeAction::kRecord, {}, Get(id).record_provider},
          TxCode::kInvalidMessage);
  ASSERT_EQ(m_.Send(vkey, *v(Get(id))).code, TxCode::kOk);
  ASSERT_EQ(Get(id).phase, Phase::kReferees);
  // Parties may not move while the referees decide.
  refused(1, state, TxCode::kWrongPhase);
  m_.Block({});
  const Dispute drawn = Get(id);
  ASSERT_EQ(drawn.referees.size(), 3u) << "every validator but the challenger";
  EXPECT_EQ(std::count(drawn.referees.begin(), drawn.referees.end(), validator_), 0);
  refused(vkey, MsgRefereeVote{id, Blake2b256("x"), Blake2b256("s")}, TxCode::kNotAssigned);
  const Hash256 witness = WitnessOf(id, Blake2b256("the recompute"));
  const uint8_t r0 = m_.ValidatorKey(drawn.referees[0]);
  ASSERT_EQ(VoteAs(drawn.referees[0], id, drawn.digest_validator, witness).code, TxCode::kOk);
  refused(r0, MsgRefereeVote{id, drawn.digest_validator, Blake2b256("s")},
          TxCode::kWrongPhase);  // twice
  // Reveals wait until every referee has voted.
  refused(r0, MsgRefereeReveal{id, witness}, TxCode::kWrongPhase);
  ASSERT_EQ(VoteAs(drawn.referees[1], id, drawn.digest_validator, witness).code, TxCode::kOk);
  EXPECT_EQ(Get(id).phase, Phase::kReferees) << "a majority of digests alone decides nothing";
  ASSERT_EQ(VoteAs(drawn.referees[2], id, drawn.digest_validator, witness).code, TxCode::kOk);
  ASSERT_EQ(Get(id).phase, Phase::kReveal);
  // No votes once revealing; a reveal from a non-voter, or one that does
  // not open the sender's seal (here: the witness of another's seal).
  refused(r0, MsgRefereeVote{id, drawn.digest_validator, Blake2b256("s")}, TxCode::kWrongPhase);
  const TxResult late = m_.Send(vkey, MsgRefereeVote{id, drawn.digest_validator, Blake2b256("s")});
  EXPECT_EQ(late.code, TxCode::kWrongPhase);
  EXPECT_NE(late.log.find("votes are in"), std::string::npos) << late.log;
  refused(vkey, MsgRefereeReveal{id, witness}, TxCode::kNotAssigned);
  refused(r0, MsgRefereeReveal{id, Blake2b256("not the witness")}, TxCode::kBadProof);
  ASSERT_EQ(RevealAs(drawn.referees[0], id, witness).code, TxCode::kOk);
  refused(r0, MsgRefereeReveal{id, witness}, TxCode::kWrongPhase);  // twice
  ASSERT_EQ(RevealAs(drawn.referees[1], id, witness).code, TxCode::kOk);
  EXPECT_EQ(Get(id).phase, Phase::kReveal) << "decided once all have revealed or at the deadline";
  // The last reveal makes the majority of (digest, witness): the provider
  // loses.
  ASSERT_EQ(RevealAs(drawn.referees[2], id, witness).code, TxCode::kOk);
  EXPECT_EQ(Get(id).outcome, Outcome::kProviderLost);
  // Closed: no more moves, votes, or a second dispute of the same verdict.
  refused(1, state, TxCode::kWrongPhase);
  refused(r0, MsgRefereeVote{id, drawn.digest_provider, Blake2b256("s")}, TxCode::kWrongPhase);
  refused(r0, MsgRefereeReveal{id, witness}, TxCode::kWrongPhase);
}

// A pass cannot be disputed: two honest parties never get to referees.
TEST_F(DisputeTest, APassCannotBeDisputed) {
  Segment truth(config_, corpus_, start_);
  const uint32_t segment = CommitAndReplay(truth.Hash(kC), truth.Hash(kC));
  const TxResult r = m_.Send(1, Open(segment));
  EXPECT_NE(r.code, TxCode::kOk);
  EXPECT_TRUE(dispute::Disputes(m_.h().ledger().committed(), 1, 10).empty());
}

// A fail for the losses is disputed too (until 2026-12-04 only a fail for
// the end state was, and two colluders failing an honest provider's losses
// got it slashed): the ledger holds the provider's claim, its committed
// losses, so the dispute goes straight to referees who replay the segment.
// A false claim loses like a false end state.
TEST_F(DisputeTest, AFalseFailForTheLossesGoesToRefereesAndLoses) {
  const uint32_t segment = CommitAndFail(FailReason::kLosses);
  const verification::Slot failed = Slot();
  ASSERT_EQ(failed.verdicts.size(), 1u);
  EXPECT_EQ(failed.verdicts[0].reason, FailReason::kLosses);
  // The provider gets the dispute window before the next replay is drawn.
  EXPECT_EQ(failed.due_height, failed.verdicts[0].height + m_.params().dispute_move_blocks);
  const uint8_t vkey = m_.ValidatorKey(validator_);
  const uint64_t vstake = m_.h().Stake(Key(vkey));
  const uint64_t pbalance = m_.h().Balance(Key(1));
  const uint64_t id = OpenedId(m_.Send(1, Open(segment)));
  Dispute d = Get(id);
  EXPECT_EQ(d.phase, Phase::kReferees);
  EXPECT_EQ(d.referee_kind, RefereeKind::kLosses);
  EXPECT_EQ(d.step_lo, uint64_t{segment} * kC);
  EXPECT_EQ(d.step_hi, uint64_t{segment + 1} * kC);
  const Hash256 honest = verify::LossesDigest(checkpoints_[segment], CommittedLosses(segment));
  EXPECT_EQ(d.digest_provider, honest);
  EXPECT_EQ(Slot().dispute, id) << "the slot waits for the dispute";
  // No party moves: a move is refused.
  MsgDisputeMove move;
  move.dispute_id = id;
  move.action = DisputeAction::kAgree;
  EXPECT_EQ(m_.Send(1, Msg(move)).code, TxCode::kWrongPhase);
  d = VoteAll(id, honest);
  EXPECT_EQ(d.outcome, Outcome::kValidatorLost) << d.reason;
  EXPECT_NE(d.reason.find("replayed losses"), std::string::npos) << d.reason;
  EXPECT_EQ(d.moves, 0u);
  const uint64_t cut = market::PartPpm(vstake, m_.params().slash_false_claim_ppm);
  EXPECT_EQ(m_.h().Stake(Key(vkey)), vstake - cut);
  // One fee to open, one for the refused move, half the cut.
  EXPECT_EQ(m_.h().Balance(Key(1)), pbalance - 2 * 10 + cut / 2);
  const verification::Slot s = Slot();
  EXPECT_TRUE(s.verdicts.at(0).overturned);
  EXPECT_EQ(s.state, verification::SlotState::kPending);
  EXPECT_EQ(s.dispute, 0u);
}

// The other way: a provider that committed losses its training did not
// give loses its dispute over a true fail, and the task fails as fraud.
TEST_F(DisputeTest, ATrueFailForTheLossesStandsAndTheProviderLoses) {
  const uint32_t segment = CommitAndFail(FailReason::kLosses);
  const uint64_t id = OpenedId(m_.Send(1, Open(segment)));
  std::vector<uint32_t> replayed = CommittedLosses(segment);
  replayed.back() ^= 1;
  const Dispute d = VoteAll(id, verify::LossesDigest(checkpoints_[segment], replayed));
  EXPECT_EQ(d.outcome, Outcome::kProviderLost) << d.reason;
  EXPECT_FALSE(Slot().verdicts.at(0).overturned);
  EXPECT_NE(m_.Task(id_).status, TaskStatus::kVerifying) << "the task failed and reopened";
  EXPECT_EQ(m_.Prov(1).tasks_failed, 1u);
}

// A native-tier job (here of the cpu class, whose native kernels every
// validator without a profile runs). Until 2026-12-05 none of its fails
// could be disputed (the operator bisection recomputes with the exact
// kernels), so two colluders' false fails failed an honest provider's
// task. Now an end-state fail goes straight to referees of the job's
// class, who replay the whole segment with its kernels: the replay its
// verdicts already rest on.
class NativeDisputeTest : public DisputeTest {
 protected:
  explicit NativeDisputeTest(Params p = DisputeParams()) : DisputeTest(p) {}
  market::JobSpec Spec() override {
    market::JobSpec spec = SmallSpec();
    spec.tier = market::Tier::kNative;
    spec.hardware = market::HardwareClass::kCpu;
    return spec;
  }
};

TEST_F(NativeDisputeTest, AFalseFailGoesStraightToRefereesWhoReplayTheSegment) {
  const Hash256 end = Blake2b256("the committed end");
  const uint32_t segment = CommitAndReplay(end, Blake2b256("a replay that never happened"));
  const uint8_t vkey = m_.ValidatorKey(validator_);
  const uint64_t vstake = m_.h().Stake(Key(vkey));
  const uint64_t id = OpenedId(m_.Send(1, Open(segment)));
  Dispute d = Get(id);
  EXPECT_EQ(d.phase, Phase::kReferees) << "no bisection";
  EXPECT_EQ(d.referee_kind, RefereeKind::kStep);
  EXPECT_EQ(d.step_lo, uint64_t{segment} * kC);
  EXPECT_EQ(d.step_hi, uint64_t{segment + 1} * kC);
  const Hash256 claim = verify::StepDigest(checkpoints_[segment], end);
  EXPECT_EQ(d.digest_provider, claim);
  EXPECT_EQ(Slot().dispute, id) << "the slot waits for the dispute";
  d = VoteAll(id, claim);
  EXPECT_EQ(d.outcome, Outcome::kValidatorLost) << d.reason;
  EXPECT_NE(d.reason.find("segment's replayed states"), std::string::npos) << d.reason;
  EXPECT_EQ(d.moves, 0u);
  EXPECT_EQ(m_.h().Stake(Key(vkey)),
            vstake - market::PartPpm(vstake, m_.params().slash_false_claim_ppm));
  const verification::Slot s = Slot();
  EXPECT_TRUE(s.verdicts.at(0).overturned);
  EXPECT_EQ(s.state, verification::SlotState::kPending);
  EXPECT_EQ(s.dispute, 0u);
}

// The other way: referees whose replay reaches another end than the
// committed one decide against the provider, and the task fails as fraud.
TEST_F(NativeDisputeTest, ATrueFailStandsWhenTheRefereesReplayAnotherEnd) {
  const Hash256 end = Blake2b256("the committed end");
  const Hash256 truth = Blake2b256("where the segment really ends");
  const uint32_t segment = CommitAndReplay(end, truth);
  const uint64_t id = OpenedId(m_.Send(1, Open(segment)));
  const Dispute d = VoteAll(id, verify::StepDigest(checkpoints_[segment], truth));
  EXPECT_EQ(d.outcome, Outcome::kProviderLost) << d.reason;
  EXPECT_FALSE(Slot().verdicts.at(0).overturned);
  EXPECT_NE(m_.Task(id_).status, TaskStatus::kVerifying) << "the task failed and reopened";
  EXPECT_EQ(m_.Prov(1).tasks_failed, 1u);
}

// Found in review (2026-12-05): the majority is counted among the referees
// drawn, so when the class shrank after the opening a smaller panel
// decided (one referee alone, had one fitted). A validator of the three
// fitting ones leaves the class (its profile takes effect between the
// opening and the draw): two fit, fewer than dispute.referee_count, so no
// panel is drawn and the dispute ends undecided, even though two referees
// would have voted the provider's claim.
TEST_F(NativeDisputeTest, AClassThatShrankBelowThePanelDrawsNobodyAndEndsUndecided) {
  const Hash256 end = Blake2b256("the committed end");
  const uint32_t segment = CommitAndReplay(end, Blake2b256("a replay that never happened"));
  uint8_t leaving = 0;
  for (uint8_t k = 100; k < 104 && leaving == 0; ++k) {
    if (AddressOf(Key(k)) != validator_) leaving = k;
  }
  ASSERT_NE(leaving, 0);
  const uint64_t vstake = m_.h().Stake(Key(m_.ValidatorKey(validator_)));
  ASSERT_EQ(m_.Send(leaving, MsgSetReplayProfile{{market::HardwareClass::kGpuSm90}, 0}).code,
            TxCode::kOk);
  ASSERT_EQ(m_.params().verify_delay_blocks, 2u);
  // One block later the profile is not yet in force: three fit, it opens.
  const uint64_t id = OpenedId(m_.Send(1, Open(segment)));
  const Hash256 claim = verify::StepDigest(checkpoints_[segment], end);
  size_t drawn = 0;
  for (int i = 0; i < 40 && Get(id).phase != Phase::kClosed; ++i) {
    const Dispute d = Get(id);
    if (d.phase == Phase::kReferees && !d.referees.empty() && d.votes.empty()) {
      // Whoever is drawn votes the provider's claim (and would decide).
      drawn += d.referees.size();
      const Hash256 witness = WitnessOf(id, Blake2b256("the recompute"));
      for (const Address& r : d.referees) {
        EXPECT_NE(r, AddressOf(Key(leaving))) << "a validator of another class is never drawn";
        ASSERT_EQ(VoteAs(r, id, claim, witness).code, TxCode::kOk);
      }
      for (const Address& r : d.referees) {
        if (Get(id).phase == Phase::kReveal) {
          ASSERT_EQ(RevealAs(r, id, witness).code, TxCode::kOk);
        }
      }
      continue;
    }
    m_.Block({});
  }
  const Dispute d = Get(id);
  EXPECT_EQ(drawn, 0u) << "a panel of two was drawn";
  ASSERT_EQ(d.phase, Phase::kClosed);
  EXPECT_EQ(d.outcome, Outcome::kUndecided) << d.reason;
  EXPECT_EQ(d.referee_draws, m_.params().dispute_referee_draws_max);
  EXPECT_EQ(m_.h().Stake(Key(m_.ValidatorKey(validator_))), vstake) << "nobody is slashed";
  EXPECT_TRUE(Slot().verdicts.at(0).overturned) << "an undecided dispute overturns its fail";
}

// Referees must replay on the job's class, so a native job's dispute needs
// dispute.referee_count fitting validators besides both sides. With four
// validators, one of them the fail's, three are left: a count of four is
// refused with the reason, and nothing changes but the fee.
class NativeDisputeTooFewTest : public NativeDisputeTest {
 protected:
  NativeDisputeTooFewTest() : NativeDisputeTest(FourReferees()) {}
  static Params FourReferees() {
    Params p = DisputeParams();
    p.dispute_referee_count = 4;
    return p;
  }
};

TEST_F(NativeDisputeTooFewTest, IsRefusedWithTheReasonAndChangesNothingButTheFee) {
  const uint32_t segment =
      CommitAndReplay(Blake2b256("the committed end"), Blake2b256("a replay that never happened"));
  const verification::Slot before = Slot();
  const uint64_t pbalance = m_.h().Balance(Key(1));
  const TxResult r = m_.Send(1, Open(segment));
  EXPECT_EQ(r.code, TxCode::kInvalidMessage);
  EXPECT_NE(r.log.find("runs the native tier on cpu and only 3 validator(s) besides both sides "
                       "can replay it, fewer than dispute.referee_count = 4"),
            std::string::npos)
      << r.log;
  EXPECT_EQ(Slot().dispute, 0u);
  EXPECT_EQ(Slot().verdicts.size(), before.verdicts.size());
  EXPECT_FALSE(Slot().verdicts.at(0).overturned);
  EXPECT_EQ(m_.h().Balance(Key(1)), pbalance - 10) << "the fee only";
  EXPECT_FALSE(dispute::GetDispute(m_.h().ledger().committed(), 1).has_value());
}

// The delta needs no kernels: its fail is disputed whatever the class,
// and its referees are drawn as for the exact tier (here all three left
// besides the sides, short of the count of four, as before).
TEST_F(NativeDisputeTooFewTest, AFailForTheDeltaIsStillDisputed) {
  CommitAndFail(FailReason::kDelta);
  const uint64_t id = OpenedId(m_.Send(1, OpenDelta()));
  EXPECT_EQ(Get(id).referee_kind, RefereeKind::kDelta);
  for (int i = 0; i < 3 && Get(id).referees.empty(); ++i) m_.Block({});
  EXPECT_EQ(Get(id).referees.size(), 3u);
}

// Lazy referees (docs/dispute.md, "Sealed witnesses"). Each vote seals a
// witness only the recompute yields; the dispute is decided by a majority
// of (digest, witness) pairs once every referee has shown its own.
class LazyRefereeTest : public DisputeTest {
 protected:
  // A false fail for the losses, disputed, with its referees drawn.
  void SetUp() override {
    DisputeTest::SetUp();
    const uint32_t segment = CommitAndFail(FailReason::kLosses);
    id_ = OpenedId(m_.Send(1, Open(segment)));
    honest_ = verify::LossesDigest(checkpoints_[segment], CommittedLosses(segment));
    for (int i = 0; i < 3 && Get(id_).referees.empty(); ++i) m_.Block({});
    referees_ = Get(id_).referees;
    ASSERT_EQ(referees_.size(), 3u);
    witness_ = WitnessOf(id_, Blake2b256("the replay's states"));
    for (const Address& a : referees_) stakes_.push_back(RefereeStake(a));
  }
  uint64_t RefereeStake(const Address& a) { return m_.h().Stake(Key(m_.ValidatorKey(a))); }
  uint64_t Slashed(size_t i) {
    return stakes_[i] - market::PartPpm(stakes_[i], m_.params().slash_false_claim_ppm);
  }
  uint64_t id_ = 0;
  Hash256 honest_, witness_;
  std::vector<Address> referees_;
  std::vector<uint64_t> stakes_;
};

// One referee votes the right digest (the provider's, public on the
// ledger) without replaying: its made-up witness matches nobody's, so it
// pays as if it had voted wrong; the two that replayed decide.
TEST_F(LazyRefereeTest, ARefereeThatCopiesTheRightDigestWithoutTheWitnessIsSlashed) {
  const Dispute d = Referees(id_, {{honest_, witness_},
                                   {honest_, WitnessOf(id_, Blake2b256("a guess"))},
                                   {honest_, witness_}});
  EXPECT_EQ(d.outcome, Outcome::kValidatorLost) << d.reason;
  EXPECT_EQ(RefereeStake(referees_[0]), stakes_[0]);
  EXPECT_EQ(RefereeStake(referees_[1]), Slashed(1));
  EXPECT_EQ(RefereeStake(referees_[2]), stakes_[2]);
}

// A seal names its referee: one copied from another's vote on the ledger
// cannot be opened by the copier, not even with the witness the others
// revealed; unopened at the deadline, it is slashed, and the two that
// replayed decide then.
TEST_F(LazyRefereeTest, ACopiedSealCannotBeOpenedAndItsCopierIsSlashed) {
  ASSERT_EQ(VoteAs(referees_[0], id_, honest_, witness_).code, TxCode::kOk);
  ASSERT_EQ(VoteAs(referees_[1], id_, honest_, witness_).code, TxCode::kOk);
  const Hash256 copied = Get(id_).votes.at(0).seal;
  ASSERT_EQ(m_.Send(m_.ValidatorKey(referees_[2]), MsgRefereeVote{id_, honest_, copied}).code,
            TxCode::kOk);
  ASSERT_EQ(Get(id_).phase, Phase::kReveal);
  ASSERT_EQ(RevealAs(referees_[0], id_, witness_).code, TxCode::kOk);
  ASSERT_EQ(RevealAs(referees_[1], id_, witness_).code, TxCode::kOk);
  const TxResult copy = RevealAs(referees_[2], id_, witness_);
  EXPECT_EQ(copy.code, TxCode::kBadProof) << copy.log;
  EXPECT_NE(copy.log.find("does not open"), std::string::npos) << copy.log;
  EXPECT_FALSE(Get(id_).votes.at(2).witness.has_value()) << "a refused reveal changes nothing";
  const uint64_t due = Get(id_).due_height;
  while (m_.h().ledger().Height() < due) m_.Block({});
  const Dispute d = Get(id_);
  EXPECT_EQ(d.outcome, Outcome::kValidatorLost) << d.reason;
  EXPECT_EQ(d.closed_height, due);
  EXPECT_EQ(RefereeStake(referees_[0]), stakes_[0]);
  EXPECT_EQ(RefereeStake(referees_[1]), stakes_[1]);
  EXPECT_EQ(RefereeStake(referees_[2]), Slashed(2));
}

// Two lazy referees that echo the validator's fail (each with a witness it
// made up) against one that replayed: a majority of digests, but no
// majority of (digest, witness), so nothing is decided for the liar; a new
// set of referees is drawn.
TEST_F(LazyRefereeTest, LazyRefereesEchoingAPartyCannotDecide) {
  const Hash256 echoed = Get(id_).digest_validator;
  const Dispute d = Referees(id_, {{echoed, WitnessOf(id_, Blake2b256("guess 1"))},
                                   {echoed, WitnessOf(id_, Blake2b256("guess 2"))},
                                   {honest_, witness_}});
  EXPECT_EQ(d.phase, Phase::kReveal);
  EXPECT_EQ(d.outcome, Outcome::kOpen);
  m_.Block({});  // the next EndBlock draws again
  const Dispute redrawn = Get(id_);
  EXPECT_EQ(redrawn.phase, Phase::kReferees);
  EXPECT_EQ(redrawn.outcome, Outcome::kOpen);
  EXPECT_EQ(redrawn.referee_draws, 2u);
  EXPECT_TRUE(redrawn.votes.empty());
  for (size_t i = 0; i < referees_.size(); ++i) {
    EXPECT_EQ(RefereeStake(referees_[i]), stakes_[i]) << "every one showed its witness";
  }
}

// A fail for the delta is about the whole task: the dispute proves its
// checkpoint 0 and its final checkpoint (not the segment's), and its
// referees recompute the delta from them.
TEST_F(DisputeTest, AFalseFailForTheDeltaIsSettledOnTheTasksFirstAndLastCheckpoints) {
  const uint32_t segment = CommitAndFail(FailReason::kDelta);
  const uint8_t vkey = m_.ValidatorKey(validator_);
  const uint64_t vstake = m_.h().Stake(Key(vkey));
  // The segment's checkpoints are the wrong ones for the delta.
  const uint64_t disputes_before = dispute::Disputes(m_.h().ledger().committed(), 1, 10).size();
  const TxResult wrong = m_.Send(1, Open(segment));
  EXPECT_EQ(wrong.code, TxCode::kBadProof) << wrong.log;
  EXPECT_NE(wrong.log.find(segment == 0 ? "final checkpoint" : "checkpoint 0"), std::string::npos)
      << wrong.log;
  EXPECT_EQ(dispute::Disputes(m_.h().ledger().committed(), 1, 10).size(), disputes_before);
  EXPECT_EQ(Slot().dispute, 0u);
  const uint64_t id = OpenedId(m_.Send(1, OpenDelta()));
  Dispute d = Get(id);
  EXPECT_EQ(d.phase, Phase::kReferees);
  EXPECT_EQ(d.referee_kind, RefereeKind::kDelta);
  EXPECT_EQ(d.step_lo, 0u);
  EXPECT_EQ(d.step_hi, kH);
  EXPECT_EQ(d.lo_hash, checkpoints_[0]);
  EXPECT_EQ(d.hi_hash, checkpoints_[kSegments]);
  const Hash256 honest = verify::DeltaDigest(Blake2b256("delta"));  // the committed delta hash
  EXPECT_EQ(d.digest_provider, honest);
  // One referee out of three voting otherwise is outvoted and slashed.
  for (int i = 0; i < 3 && Get(id).referees.empty(); ++i) m_.Block({});
  const std::vector<Address> referees = Get(id).referees;
  ASSERT_EQ(referees.size(), 3u);
  const uint64_t odd_stake = m_.h().Stake(Key(m_.ValidatorKey(referees[0])));
  const Hash256 witness = WitnessOf(id, Blake2b256("both checkpoints"));
  d = Referees(id, {{verify::DeltaDigest(Hash256{}), WitnessOf(id, Blake2b256("other bytes"))},
                    {honest, witness},
                    {honest, witness}});
  EXPECT_EQ(d.outcome, Outcome::kValidatorLost) << d.reason;
  EXPECT_NE(d.reason.find("delta"), std::string::npos) << d.reason;
  EXPECT_EQ(m_.h().Stake(Key(vkey)),
            vstake - market::PartPpm(vstake, m_.params().slash_false_claim_ppm));
  EXPECT_EQ(m_.h().Stake(Key(m_.ValidatorKey(referees[0]))),
            odd_stake - market::PartPpm(odd_stake, m_.params().slash_false_claim_ppm));
  EXPECT_TRUE(Slot().verdicts.at(0).overturned);
}

// "Unavailable" names no replay to compare with: it cannot be disputed.
TEST_F(DisputeTest, AnUnavailableVerdictCannotBeDisputed) {
  const uint32_t segment = CommitAndReplay(Blake2b256("end"), Blake2b256("end"), 1,
                                           [](MsgVerdict& v) {
                                             v.outcome = VerdictOutcome::kUnavailable;
                                             v.reason = FailReason::kNone;
                                           });
  const TxResult r = m_.Send(1, Open(segment));
  EXPECT_EQ(r.code, TxCode::kInvalidMessage) << r.log;
  EXPECT_NE(r.log.find("unavailable"), std::string::npos) << r.log;
  EXPECT_TRUE(dispute::Disputes(m_.h().ledger().committed(), 1, 10).empty());
}

// Referees that do not vote: a new set is drawn, then the dispute ends
// undecided and the slot goes on by votes of replays. The fail counts for
// nothing from then on, and its validator is not slashed (since
// 2026-12-05; before, it stood, and a colluder's claim made it fraud at
// once): the next replay decides.
TEST_F(DisputeTest, RefereesThatNeverVoteLeaveItUndecided) {
  Segment truth(config_, corpus_, start_);
  Segment cheat(config_, corpus_, start_, Fault{1, 4, 2});
  const uint32_t segment = CommitAndReplay(cheat, truth);
  const uint64_t vstake = m_.h().Stake(Key(m_.ValidatorKey(validator_)));
  const uint64_t id = OpenedId(m_.Send(1, Open(segment)));
  ASSERT_NO_FATAL_FAILURE(
      PlayUntil(id, Phase::kReferees, Honest(cheat, segment), Honest(truth, segment)));
  for (int i = 0; i < 20 && Get(id).phase != Phase::kClosed; ++i) m_.Block({});
  const Dispute d = Get(id);
  EXPECT_EQ(d.outcome, Outcome::kUndecided);
  EXPECT_EQ(d.referee_draws, m_.params().dispute_referee_draws_max);
  EXPECT_EQ(Slot().dispute, 0u);
  EXPECT_TRUE(Slot().verdicts.at(0).overturned);
  EXPECT_EQ(m_.h().Stake(Key(m_.ValidatorKey(validator_))), vstake) << "not slashed";
  EXPECT_EQ(Slot().state, verification::SlotState::kPending);
  m_.Block({});
  EXPECT_TRUE(Slot().assignee.has_value()) << "the slot goes on: a second replay is drawn";
}


// A dispute whose task is settled otherwise meanwhile (here: another slot's
// two "unavailable" verdicts are fraud) decides nothing: moves are refused
// as moot, and at its deadline it closes undecided without slashing anyone
// or touching the slots.
class MootDisputeTest : public DisputeTest {
 protected:
  MootDisputeTest() : DisputeTest(DisputeParams(/*move_blocks=*/30)) {}
  market::JobSpec Spec() override {
    market::JobSpec s = SmallSpec();
    s.spot_checks = 2;
    return s;
  }
};

TEST_F(MootDisputeTest, ADisputeOverASettledTaskIsMootAndClosesUndecided) {
  Segment truth(config_, corpus_, start_);
  const uint32_t segment = CommitAndReplay(truth.Hash(kC), Blake2b256("a lie"));
  const uint8_t vkey = m_.ValidatorKey(validator_);
  const uint64_t vstake = m_.h().Stake(Key(vkey));
  const uint64_t id = OpenedId(m_.Send(1, Open(segment)));
  // Slot 1: two validators cannot fetch the blobs: fraud, the task reopens.
  for (int i = 0; i < 10 && m_.Task(id_).status == TaskStatus::kVerifying; ++i) {
    const verification::Slot s1 = Slot(1);
    if (!s1.assignee) {
      m_.Block({});
      continue;
    }
    const uint8_t key = m_.ValidatorKey(*s1.assignee);
    MsgVerdict u;
    u.job_id = job_;
    u.slot = 1;
    u.outcome = VerdictOutcome::kUnavailable;
    if (!s1.chosen) u.vrf_proof = VrfProve(Key(key), verification::SegmentVrfInput(id_, root_, 1));
    ASSERT_EQ(m_.Send(key, u).code, TxCode::kOk);
  }
  ASSERT_NE(m_.Task(id_).status, TaskStatus::kVerifying);
  ASSERT_EQ(Get(id).phase, Phase::kSteps);
  const TxResult refused =
      m_.Send(1, MsgDisputeMove{id, DisputeAction::kState, truth.Hash(kC / 2), {}});
  EXPECT_EQ(refused.code, TxCode::kWrongPhase);
  EXPECT_NE(refused.log.find("moot"), std::string::npos) << refused.log;
  for (int i = 0; i < 40 && Get(id).phase != Phase::kClosed; ++i) m_.Block({});
  const Dispute d = Get(id);
  EXPECT_EQ(d.outcome, Outcome::kUndecided);
  EXPECT_NE(d.reason.find("moot"), std::string::npos) << d.reason;
  EXPECT_EQ(m_.h().Stake(Key(vkey)), vstake) << "nobody is judged over a moot question";
  EXPECT_EQ(Slot().dispute, 0u);
  EXPECT_FALSE(Slot().verdicts.at(0).overturned);
}

// After a false claim is overturned it counts for nothing, also toward the
// cap of verdicts a slot may take: an "unavailable" and a pass after it
// pass the slot (before, the overturned fail filled the cap and the slot
// failed with nobody left claiming fraud).
class CappedDisputeTest : public DisputeTest {
 protected:
  static Params Capped() {
    Params p = DisputeParams();
    p.verify_draws_per_slot_max = 2;
    return p;
  }
  CappedDisputeTest() : DisputeTest(Capped()) {}
};

TEST_F(CappedDisputeTest, AnOverturnedVerdictDoesNotCountTowardTheCap) {
  Segment truth(config_, corpus_, start_);
  const uint32_t segment = CommitAndReplay(truth.Hash(kC), Blake2b256("a lie"));
  truth.set_label(checkpoints_[segment]);
  const uint64_t id = OpenedId(m_.Send(1, Open(segment)));
  const Strategy liar = Liar();
  ASSERT_EQ(Play(id, Honest(truth, segment), liar, truth, truth, segment).outcome,
            Outcome::kValidatorLost);
  // The next replay fails too (the provider lets it stand), the one after
  // passes: with the overturned fail, three verdicts, two of them standing,
  // the cap, and a pass among them. Had the overturned fail counted, the
  // cap would have closed the slot on the second fail alone: failed.
  // (A fail-like verdict other than "unavailable" is needed: a claim
  // standing draws on past the cap.)
  for (int answered = 0; answered < 2;) {
    const verification::Slot s = Slot();
    ASSERT_EQ(s.state, verification::SlotState::kPending);
    if (!s.assignee) {
      m_.Block({});
      continue;
    }
    const uint8_t key = m_.ValidatorKey(*s.assignee);
    const Hash256 replayed =
        answered == 0 ? Blake2b256("another lie") : checkpoints_[segment + 1];
    const TxResult r = m_.Send(key, VerdictOn(segment, replayed, *s.assignee));
    ASSERT_EQ(r.code, TxCode::kOk) << r.log;
    ++answered;
  }
  EXPECT_EQ(Slot().state, verification::SlotState::kPassed);
  for (int i = 0; i < 4 && m_.Task(id_).status == TaskStatus::kVerifying; ++i) m_.Block({});
  EXPECT_EQ(m_.Task(id_).status, TaskStatus::kPassed);
  EXPECT_EQ(m_.Prov(1).tasks_failed, 0u);
}

}  // namespace
}  // namespace agora::consensus
