// Tasks as pure functions: the spec's integers become the trainer's floats
// exactly; a task run twice gives the same bits; every segment replayed from
// its checkpoint reproduces the commitment, the losses and the witness;
// cheats (one ulp, another worker's data, forged deltas, the wrong corpus)
// are caught; two aggregated rounds lower the validation loss.
#include "verify/task.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <memory>

#include "tests/trainer/trainer_test_util.h"
#include "trainer/checkpoint.h"
#include "trainer/diloco.h"

namespace agora::verify {
namespace {

using trainer::CheckpointHash;
using trainer::Corpus;
using trainer::TrainState;

constexpr kernels::Backend kBackend = kernels::Backend::kCpu;

// The job's model is the tiny preset (JobSpec's defaults: vocab 256, context
// 64, 2 layers, 2 heads, width 64, batch 8).
market::JobSpec Spec(const Corpus& corpus, uint32_t rounds, uint32_t workers, uint32_t inner_steps,
                     uint32_t checkpoint_interval) {
  market::JobSpec spec;
  spec.dataset_hash = corpus.hash();
  spec.dataset_bytes = corpus.size();
  spec.seed = 11;
  spec.rounds = rounds;
  spec.workers = workers;
  spec.inner_steps = inner_steps;
  spec.checkpoint_interval = checkpoint_interval;
  spec.optimizer.warmup_steps = 2;
  return spec;
}

std::vector<float> InitialParams(const market::JobSpec& spec) {
  auto config = TrainConfigOf(spec);
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return TrainState::Fresh(*config, spec.dataset_hash).params;
}

// Bit-for-bit equality, naming the first value that differs.
void ExpectSameBits(std::span<const float> got, std::span<const float> want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
        << "first mismatch at index " << i << ": " << got[i] << " vs " << want[i];
  }
}

// One job, R = 2, K = 2, H = 6, C = 2, run once for the whole suite: round 0
// of both workers (worker 0's checkpoint states kept), the aggregate, and
// round 1 of both workers from it. `step_hashes` are the hashes of worker 0's
// round-0 states after every step, from a plain Trainer loop independent of
// RunTask.
struct Fixture {
  Corpus corpus = trainer::ShakespeareCorpus();
  market::JobSpec spec = Spec(corpus, /*rounds=*/2, /*workers=*/2, /*inner_steps=*/6,
                              /*checkpoint_interval=*/2);
  std::vector<float> params0 = InitialParams(spec);
  std::vector<TaskResult> round0, round1;
  std::vector<TrainState> states0;  // worker 0's checkpoints in round 0
  RoundAggregate aggregate0;
  std::vector<Hash256> step_hashes;  // index i: after i steps
};

class TaskTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fixture_ = std::make_unique<Fixture>();
    Fixture& f = *fixture_;
    for (uint32_t k = 0; k < f.spec.workers; ++k) {
      auto result = RunTask(f.spec, /*round=*/0, k, f.params0, f.corpus, kBackend,
                            [&](const TrainState& state, const Hash256&) {
                              if (k == 0) f.states0.push_back(state);
                            });
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      f.round0.push_back(std::move(result).value());
    }
    std::vector<Bytes> deltas = {f.round0[0].delta, f.round0[1].delta};
    auto aggregate = AggregateRound(f.params0, std::vector<float>(f.params0.size(), 0.0f), deltas);
    ASSERT_TRUE(aggregate.ok()) << aggregate.status().ToString();
    f.aggregate0 = std::move(aggregate).value();
    for (uint32_t k = 0; k < f.spec.workers; ++k) {
      auto result = RunTask(f.spec, /*round=*/1, k, f.aggregate0.params, f.corpus, kBackend);
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      f.round1.push_back(std::move(result).value());
    }
    auto config = TrainConfigOf(f.spec);
    ASSERT_TRUE(config.ok());
    auto plain = trainer::Trainer::Create(
        TaskStartState(*config, f.corpus.hash(), f.spec.inner_steps, 0, 0, f.params0), f.corpus,
        kBackend);
    ASSERT_TRUE(plain.ok());
    f.step_hashes.push_back(CheckpointHash(plain->state()));
    for (uint32_t h = 0; h < f.spec.inner_steps; ++h) {
      plain->Step();
      f.step_hashes.push_back(CheckpointHash(plain->state()));
    }
  }
  static void TearDownTestSuite() { fixture_.reset(); }

  Fixture& f() { return *fixture_; }

  static std::unique_ptr<Fixture> fixture_;
};
std::unique_ptr<Fixture> TaskTest::fixture_;

// Found in review (2026-12-03): a corpus whose held-out split was no longer
// than the context made ValidationLoss abort the validator. It is an error.
TEST(TaskConfigTest, ValidationLossOnACorpusTooSmallIsAnError) {
  Result<Corpus> corpus = Corpus::FromBytes(std::string(1024, 'a'));
  ASSERT_TRUE(corpus.ok());
  market::JobSpec spec;
  spec.dataset_hash = corpus->hash();
  spec.dataset_bytes = corpus->size();
  spec.context = 128;  // the last 10%: 103 bytes
  spec.width = 64;
  spec.heads = 2;
  spec.layers = 1;
  const std::vector<float> params(1, 0.0f);
  Result<float> loss = ValidationLoss(spec, params, *corpus, kBackend, 1);
  EXPECT_FALSE(loss.ok());
}

TEST(TaskConfigTest, MapsTheDefaultOptimizerExactly) {
  market::JobSpec spec;
  spec.dataset_hash = Blake2b256("corpus");
  spec.dataset_bytes = 1 << 20;
  spec.rounds = 3;
  spec.inner_steps = 40;
  spec.checkpoint_interval = 10;
  spec.seed = 99;
  auto config = TrainConfigOf(spec);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const trainer::OptimizerConfig& o = config->optimizer;
  EXPECT_EQ(std::bit_cast<uint32_t>(o.lr_max), std::bit_cast<uint32_t>(3e-3f));
  EXPECT_EQ(std::bit_cast<uint32_t>(o.lr_min), std::bit_cast<uint32_t>(3e-4f));
  EXPECT_EQ(std::bit_cast<uint32_t>(o.beta1), std::bit_cast<uint32_t>(0.9f));
  EXPECT_EQ(std::bit_cast<uint32_t>(o.beta2), std::bit_cast<uint32_t>(0.99f));
  EXPECT_EQ(std::bit_cast<uint32_t>(o.eps), std::bit_cast<uint32_t>(1e-8f));
  EXPECT_EQ(std::bit_cast<uint32_t>(o.weight_decay), std::bit_cast<uint32_t>(0.1f));
  EXPECT_EQ(std::bit_cast<uint32_t>(o.clip_norm), std::bit_cast<uint32_t>(1.0f));
  EXPECT_EQ(o.warmup_steps, 50);
  EXPECT_EQ(o.total_steps, 120);  // R × H
  EXPECT_EQ(config->model, (trainer::ModelConfig{256, 64, 2, 2, 64}));
  EXPECT_EQ(config->batch, 8);
  EXPECT_EQ(config->seed, 99u);

  spec.optimizer.clip_norm_ppm = 0;  // clipping off
  spec.optimizer.eps_pico = 1;
  config = TrainConfigOf(spec);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->optimizer.clip_norm, 0.0f);
  EXPECT_EQ(config->optimizer.eps, 1e-12f);
  // An exact job's state runs anywhere, whatever class the spec names.
  EXPECT_EQ(config->tier, trainer::KernelTier::kExact);
  EXPECT_EQ(config->hardware_class, trainer::kHardwareAny);
  spec.hardware = market::HardwareClass::kGpuSm90;
  EXPECT_EQ(TrainConfigOf(spec)->hardware_class, trainer::kHardwareAny);
}

// A native job's states carry its tier and class, so its checkpoints name
// the class a replay must run on, and the trainer refuses other kernels.
TEST(TaskConfigTest, ANativeJobsStatesNameTheirTierAndClass) {
  market::JobSpec spec;
  spec.dataset_hash = Blake2b256("corpus");
  spec.dataset_bytes = 1 << 20;
  spec.tier = market::Tier::kNative;
  for (market::HardwareClass c : {market::HardwareClass::kCpu, market::HardwareClass::kGpuSm80,
                                  market::HardwareClass::kGpuSm90,
                                  market::HardwareClass::kGpuSm100}) {
    spec.hardware = c;
    auto config = TrainConfigOf(spec);
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    EXPECT_EQ(config->tier, trainer::KernelTier::kNative);
    EXPECT_EQ(config->hardware_class, static_cast<uint8_t>(c));
  }
  spec.hardware = market::HardwareClass::kGpuSm90;
  const trainer::TrainConfig config = *TrainConfigOf(spec);
  const trainer::TrainState start =
      TaskStartState(config, spec.dataset_hash, spec.inner_steps, 0, 0,
                     trainer::TrainState::Fresh(config, spec.dataset_hash).params);
  Result<trainer::LoadedCheckpoint> file = trainer::ParseCheckpoint(trainer::SerializeCheckpoint(start));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->state.config.hardware_class, 3);
  EXPECT_EQ(trainer::CheckBackendFitsTier(config, kernels::Backend::kCpu).code(),
            StatusCode::kFailedPrecondition);
}

TEST(TaskConfigTest, RefusesAnInvalidSpec) {
  market::JobSpec spec;
  spec.dataset_bytes = 1 << 20;  // but no dataset hash
  EXPECT_EQ(TrainConfigOf(spec).status().code(), StatusCode::kInvalidArgument);
  spec.dataset_hash = Blake2b256("corpus");
  EXPECT_TRUE(TrainConfigOf(spec).ok());
  spec.checkpoint_interval = 7;  // does not divide H = 50
  EXPECT_EQ(TrainConfigOf(spec).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(TaskTest, StartStateFollowsFromTheRoundsPublicRecord) {
  auto config = TrainConfigOf(f().spec);
  ASSERT_TRUE(config.ok());
  TrainState start = TaskStartState(*config, f().corpus.hash(), f().spec.inner_steps,
                                    /*round=*/1, /*worker=*/1, f().aggregate0.params);
  EXPECT_EQ(start.step, 6);  // the schedule continues: round × H
  EXPECT_EQ(start.round_step, 0);
  EXPECT_EQ(start.round, 1u);
  EXPECT_EQ(start.worker, 1u);
  ExpectSameBits(start.params, f().aggregate0.params);
  // No optimizer state from the worker's previous round.
  ExpectSameBits(start.m, std::vector<float>(start.params.size(), 0.0f));
  ExpectSameBits(start.v, std::vector<float>(start.params.size(), 0.0f));
  // Checkpoint 0 of the task is exactly this state, so a validator can
  // check it without asking the provider.
  EXPECT_EQ(f().round1[1].checkpoint_hashes[0], CheckpointHash(start));
  EXPECT_EQ(f().round0[0].checkpoint_hashes[0], f().step_hashes[0]);
}

TEST_F(TaskTest, RunTaskIsDeterministicAndCommitsToItsCheckpoints) {
  auto again = RunTask(f().spec, 0, 0, f().params0, f().corpus, kBackend);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  const TaskResult& first = f().round0[0];
  EXPECT_EQ(again->checkpoint_hashes, first.checkpoint_hashes);
  EXPECT_EQ(again->checkpoint_root, first.checkpoint_root);
  ExpectSameBits(again->losses, first.losses);
  EXPECT_EQ(CheckpointHash(again->final_state), CheckpointHash(first.final_state));
  EXPECT_EQ(again->delta, first.delta);
  EXPECT_EQ(again->delta_hash, first.delta_hash);

  // The commitment's shape: states at steps 0, 2, 4, 6, and what they hash to.
  ASSERT_EQ(first.checkpoint_hashes.size(), 4u);
  ASSERT_EQ(first.losses.size(), 6u);
  for (size_t j = 0; j < first.checkpoint_hashes.size(); ++j) {
    EXPECT_EQ(first.checkpoint_hashes[j], f().step_hashes[2 * j]) << "checkpoint " << j;
  }
  EXPECT_EQ(first.checkpoint_root, trainer::MerkleRoot(first.checkpoint_hashes));
  EXPECT_EQ(first.delta_hash, Blake2b256(first.delta));
  // The delta is start − end, within half a quantization step of its block.
  auto decoded = trainer::DecodeInt8Blocks(first.delta, f().params0.size());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->size(), f().params0.size());
  float delta_max = 0.0f, error_max = 0.0f;
  for (size_t i = 0; i < decoded->size(); ++i) {
    const float exact = f().params0[i] - first.final_state.params[i];
    delta_max = std::max(delta_max, std::fabs(exact));
    error_max = std::max(error_max, std::fabs((*decoded)[i] - exact));
  }
  EXPECT_GT(delta_max, 0.0f);
  EXPECT_LE(error_max, delta_max / 127.0f * 0.5f * 1.0001f);
  EXPECT_EQ(first.final_state.step, 6);
  EXPECT_EQ(first.final_state.round_step, 6);
  ASSERT_EQ(f().states0.size(), 4u);
  EXPECT_EQ(CheckpointHash(f().states0[3]), first.checkpoint_hashes[3]);
  for (float loss : first.losses) EXPECT_TRUE(std::isfinite(loss) && loss > 0.0f);
  // Other workers train on other data.
  EXPECT_NE(f().round0[1].checkpoint_hashes[1], first.checkpoint_hashes[1]);
  EXPECT_NE(f().round0[1].losses[0], first.losses[0]);
}

// A provider that crashed resumes from any of its checkpoints and commits
// exactly what an uninterrupted run commits; the hooks see only the new
// checkpoints and steps.
TEST_F(TaskTest, ResumingFromACheckpointGivesTheUninterruptedResult) {
  const TaskResult& whole = f().round0[0];
  for (size_t j = 0; j < f().states0.size(); ++j) {
    TaskResume resume;
    resume.checkpoint_hashes.assign(whole.checkpoint_hashes.begin(),
                                    whole.checkpoint_hashes.begin() + static_cast<long>(j) + 1);
    resume.losses.assign(whole.losses.begin(), whole.losses.begin() + static_cast<long>(2 * j));
    resume.state = f().states0[j];
    std::vector<Hash256> seen, files;
    std::vector<uint32_t> steps;
    RunTaskOptions options;
    options.resume = &resume;
    options.on_checkpoint = [&](const TrainState& state, const Hash256& hash) {
      seen.push_back(hash);
      EXPECT_EQ(CheckpointHash(state), hash);
    };
    // The files a provider stores are the checkpoints' own, under their hashes.
    options.on_checkpoint_file = [&](Bytes file, const Hash256& hash) {
      EXPECT_EQ(Blake2b256(file), hash);
      files.push_back(hash);
    };
    options.on_step = [&](uint32_t step, float loss) {
      steps.push_back(step);
      EXPECT_EQ(std::bit_cast<uint32_t>(loss), std::bit_cast<uint32_t>(whole.losses[step - 1]));
    };
    auto resumed = RunTask(f().spec, 0, 0, f().params0, f().corpus, kBackend, options);
    ASSERT_TRUE(resumed.ok()) << "from checkpoint " << j << ": " << resumed.status().ToString();
    EXPECT_EQ(resumed->checkpoint_hashes, whole.checkpoint_hashes) << j;
    EXPECT_EQ(resumed->checkpoint_root, whole.checkpoint_root) << j;
    ExpectSameBits(resumed->losses, whole.losses);
    EXPECT_EQ(resumed->delta_hash, whole.delta_hash) << j;
    EXPECT_EQ(seen, std::vector<Hash256>(whole.checkpoint_hashes.begin() + static_cast<long>(j) + 1,
                                         whole.checkpoint_hashes.end()))
        << j;
    EXPECT_EQ(files, seen) << j;
    ASSERT_EQ(steps.size(), 6 - 2 * j);
    if (!steps.empty()) {
      EXPECT_EQ(steps.front(), 2 * j + 1);
    }
  }
}

TEST_F(TaskTest, AResumePointOfAnotherTaskOrScheduleIsRefused) {
  const TaskResult& whole = f().round0[0];
  auto refused = [&](TaskResume resume, uint32_t worker, const std::string& why) {
    RunTaskOptions options;
    options.resume = &resume;
    auto r = RunTask(f().spec, 0, worker, f().params0, f().corpus, kBackend, options);
    ASSERT_FALSE(r.ok()) << why;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << why;
    EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status().message();
  };
  TaskResume good;
  good.checkpoint_hashes = {whole.checkpoint_hashes[0], whole.checkpoint_hashes[1]};
  good.losses = {whole.losses[0], whole.losses[1]};
  good.state = f().states0[1];
  refused(good, /*worker=*/1, "not this task's start");  // worker 0's checkpoints
  TaskResume odd = good;
  odd.losses.pop_back();  // not a whole segment
  refused(odd, 0, "is not a checkpoint");
  TaskResume none = good;
  none.checkpoint_hashes.clear();
  refused(none, 0, "is not a checkpoint");
  TaskResume elsewhere = good;
  elsewhere.state = f().states0[2];  // a later state under checkpoint 1's hash
  refused(elsewhere, 0, "at step 4 of the round, not 2");
  TaskResume forged = good;
  forged.state.params[0] += 1.0f;
  refused(forged, 0, "does not hash to its last checkpoint");
}

TEST_F(TaskTest, ReplayOfEverySegmentReproducesTheCommitment) {
  const TaskResult& task = f().round0[0];
  const uint32_t c = f().spec.checkpoint_interval;
  for (uint32_t j = 0; j + 1 < task.checkpoint_hashes.size(); ++j) {
    SCOPED_TRACE(j);
    auto replay = ReplaySegment(f().states0[j], c, /*witness_step=*/1, f().corpus, kBackend);
    ASSERT_TRUE(replay.ok()) << replay.status().ToString();
    EXPECT_EQ(replay->start_hash, task.checkpoint_hashes[j]);
    EXPECT_EQ(replay->end_hash, task.checkpoint_hashes[j + 1]);
    EXPECT_EQ(replay->witness_hash, f().step_hashes[j * c + 1]);
    ExpectSameBits(replay->losses, std::span<const float>(task.losses).subspan(size_t{j} * c, c));
  }
  // Longer segments: every witness step inside is the original run's state.
  for (uint32_t witness = 1; witness < 3; ++witness) {
    auto replay = ReplaySegment(f().states0[0], 3, witness, f().corpus, kBackend);
    ASSERT_TRUE(replay.ok()) << replay.status().ToString();
    EXPECT_EQ(replay->witness_hash, f().step_hashes[witness]);
    EXPECT_EQ(replay->end_hash, f().step_hashes[3]);
  }
  // C = 1: no step inside, and both ends are checkpoints anyone can fetch;
  // the witness is the hash of the step's gradient, which only its backward
  // pass gives.
  auto one = ReplaySegment(f().states0[1], 1, 0, f().corpus, kBackend);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->end_hash, f().step_hashes[3]);
  auto trainer = trainer::Trainer::Create(f().states0[1], f().corpus, kBackend);
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  trainer->Step();
  const std::vector<float> gradient = trainer->LastGradient();
  ASSERT_EQ(gradient.size(), f().states0[1].params.size());
  EXPECT_EQ(one->witness_hash, trainer::GradientHash(gradient));
  // Not the zero hash, nor a state's hash, and another step's gradient
  // gives another witness.
  EXPECT_FALSE(one->witness_hash.IsZero());
  for (const Hash256& h : f().step_hashes) EXPECT_NE(one->witness_hash, h);
  auto next = ReplaySegment(f().states0[2], 1, 0, f().corpus, kBackend);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_NE(next->witness_hash, one->witness_hash);
  std::vector<float> nudged = gradient;
  nudged.back() = std::nextafter(nudged.back(), 1.0f);  // one bit of one value
  EXPECT_NE(trainer::GradientHash(nudged), one->witness_hash);
}

// A validator keeps one SegmentReplayer: segments replayed one after another
// (in reverse, with another model shape between two passes, which needs a
// new trainer) give the commitment's bits, as a fresh ReplaySegment does.
TEST_F(TaskTest, AReplayerKeptBetweenSegmentsGivesTheSameBits) {
  const TaskResult& task = f().round0[0];
  const uint32_t c = f().spec.checkpoint_interval;
  auto config = TrainConfigOf(f().spec);
  ASSERT_TRUE(config.ok());
  trainer::TrainConfig deeper = *config;
  deeper.model.layers += 1;
  const TrainState other = TrainState::Fresh(deeper, f().corpus.hash());
  auto other_fresh = ReplaySegment(other, 2, 1, f().corpus, kBackend);
  ASSERT_TRUE(other_fresh.ok()) << other_fresh.status().ToString();
  SegmentReplayer replayer;
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t j = task.checkpoint_hashes.size() - 1; j-- > 0;) {
      SCOPED_TRACE("pass " + std::to_string(pass) + " segment " + std::to_string(j));
      auto replay = replayer.Replay(f().states0[j], c, /*witness_step=*/1, f().corpus, kBackend);
      ASSERT_TRUE(replay.ok()) << replay.status().ToString();
      EXPECT_EQ(replay->start_hash, task.checkpoint_hashes[j]);
      EXPECT_EQ(replay->end_hash, task.checkpoint_hashes[j + 1]);
      EXPECT_EQ(replay->witness_hash, f().step_hashes[j * c + 1]);
      ExpectSameBits(replay->losses, std::span<const float>(task.losses).subspan(j * c, c));
    }
    auto kept = replayer.Replay(other, 2, 1, f().corpus, kBackend);
    ASSERT_TRUE(kept.ok()) << kept.status().ToString();
    EXPECT_EQ(kept->end_hash, other_fresh->end_hash);
    EXPECT_EQ(kept->witness_hash, other_fresh->witness_hash);
    ExpectSameBits(kept->losses, other_fresh->losses);
  }
  // One trainer per change of shape (base, other, base, other), each kept
  // across the segments of its shape.
  EXPECT_EQ(replayer.trainers_built(), 4);
  // Tensors of another size than the model's are refused before any step
  // reads or writes them (a provider's checkpoint of a smaller model).
  TrainState shrunk = f().states0[0];
  shrunk.m.pop_back();
  EXPECT_EQ(trainer::Trainer::Create(shrunk, f().corpus, kBackend).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(replayer.Replay(shrunk, c, 1, f().corpus, kBackend).status().code(),
            StatusCode::kInvalidArgument);
  // Reset itself refuses what would need new buffers or another corpus.
  auto trainer = trainer::Trainer::Create(f().states0[0], f().corpus, kBackend);
  ASSERT_TRUE(trainer.ok());
  EXPECT_EQ(trainer->Reset(other).code(), StatusCode::kFailedPrecondition);
  TrainState foreign = f().states0[1];
  foreign.data_hash = Blake2b256("another corpus");
  const Status refused = trainer->Reset(foreign);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("trained on corpus"), std::string::npos) << refused.ToString();
  EXPECT_EQ(trainer->Reset(shrunk).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(trainer->state().round_step, f().states0[0].round_step);  // unchanged
}

TEST_F(TaskTest, ReplayOfARoundOneSegmentReproducesTheCommitment) {
  // Round 1 starts at step H with zero moments; the provider serves its last
  // segment's start checkpoint, which the replay must continue exactly.
  const TaskResult& task = f().round1[1];
  auto config = TrainConfigOf(f().spec);
  ASSERT_TRUE(config.ok());
  auto trainer = trainer::Trainer::Create(
      TaskStartState(*config, f().corpus.hash(), 6, 1, 1, f().aggregate0.params), f().corpus,
      kBackend);
  ASSERT_TRUE(trainer.ok());
  for (int i = 0; i < 4; ++i) trainer->Step();
  auto replay = ReplaySegment(trainer->state(), 2, 1, f().corpus, kBackend);
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  EXPECT_EQ(replay->start_hash, task.checkpoint_hashes[2]);
  EXPECT_EQ(replay->end_hash, task.checkpoint_hashes[3]);
  ExpectSameBits(replay->losses, std::span<const float>(task.losses).subspan(4, 2));
}

TEST_F(TaskTest, ReplayRefusesAWitnessOutsideTheSegment) {
  const TrainState& start = f().states0[0];
  const std::pair<uint32_t, uint32_t> bad[] = {{2, 0}, {2, 2}, {1, 1}, {0, 0}};
  for (const auto& [steps, witness] : bad) {
    EXPECT_EQ(ReplaySegment(start, steps, witness, f().corpus, kBackend).status().code(),
              StatusCode::kInvalidArgument)
        << steps << " steps, witness " << witness;
  }
  Corpus other = trainer::ShakespeareCorpus(20000);
  EXPECT_EQ(ReplaySegment(start, 2, 1, other, kBackend).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(TaskTest, OneUlpInTheStartStateChangesTheEndHash) {
  TrainState start = f().states0[1];
  float& value = start.params[start.params.size() / 3];
  value = std::nextafter(value, INFINITY);
  auto replay = ReplaySegment(start, 2, 1, f().corpus, kBackend);
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  EXPECT_NE(replay->start_hash, f().round0[0].checkpoint_hashes[1]);
  EXPECT_NE(replay->end_hash, f().round0[0].checkpoint_hashes[2]);
}

TEST_F(TaskTest, TrainingOnAnotherWorkersShardIsCaught) {
  // The cheat: worker 0's provider trains segment 0 on worker 1's batches
  // and reports the result as worker 0's state.
  TrainState start = f().states0[0];
  start.worker = 1;
  auto cheat = trainer::Trainer::Create(start, f().corpus, kBackend);
  ASSERT_TRUE(cheat.ok());
  for (uint32_t i = 0; i < f().spec.checkpoint_interval; ++i) cheat->Step();
  TrainState forged = cheat->state();
  forged.worker = 0;
  // The honest replay reproduces the honest hash, which the forgery is not.
  auto replay = ReplaySegment(f().states0[0], 2, 1, f().corpus, kBackend);
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  EXPECT_EQ(replay->end_hash, f().round0[0].checkpoint_hashes[1]);
  EXPECT_NE(CheckpointHash(forged), replay->end_hash);
}

// What a delta referee computes (docs/dispute.md): the committed delta's
// hash from checkpoint 0's and the final checkpoint's parameters alone.
TEST_F(TaskTest, DeltaHashOfGivesTheCommittedDeltaHash) {
  const TaskResult& w0 = f().round0[0];
  EXPECT_EQ(DeltaHashOf(f().params0, w0.final_state.params).value(), w0.delta_hash);
  EXPECT_EQ(DeltaHashOf(f().aggregate0.params, f().round1[0].final_state.params).value(),
            f().round1[0].delta_hash);
  EXPECT_NE(DeltaHashOf(f().params0, f().round0[1].final_state.params).value(), w0.delta_hash);
  std::vector<float> short_params(f().params0.begin(), f().params0.end() - 1);
  EXPECT_EQ(DeltaHashOf(short_params, w0.final_state.params).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(TaskTest, CheckDeltaAcceptsTheHonestDeltaOnly) {
  const TaskResult& w0 = f().round0[0];
  const TaskResult& w1 = f().round0[1];
  EXPECT_TRUE(CheckDelta(f().params0, w0.final_state, w0.delta, w0.delta_hash).ok());
  EXPECT_TRUE(CheckDelta(f().aggregate0.params, f().round1[0].final_state, f().round1[0].delta,
                         f().round1[0].delta_hash)
                  .ok());

  // Noise: one quantized value of the first block moved by one level, hashed
  // anew so that only the content check can catch it.
  Bytes noisy = w0.delta;
  noisy[trainer::kQuantHeaderBytes + 4 + 10] ^= 1;
  Status status = CheckDelta(f().params0, w0.final_state, noisy, Blake2b256(noisy));
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
  EXPECT_NE(status.message().find("differs at byte " +
                                  std::to_string(trainer::kQuantHeaderBytes + 4 + 10)),
            std::string::npos)
      << status.message();

  // Stale: the previous round's delta against this round's task.
  status = CheckDelta(f().aggregate0.params, f().round1[0].final_state, w0.delta, w0.delta_hash);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();

  // Another worker's delta.
  status = CheckDelta(f().params0, w0.final_state, w1.delta, w1.delta_hash);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();

  // Bytes that are not the committed blob.
  status = CheckDelta(f().params0, w0.final_state, w0.delta, w1.delta_hash);
  EXPECT_EQ(status.code(), StatusCode::kCorruption) << status.ToString();
  Bytes truncated(w0.delta.begin(), w0.delta.end() - 1);
  status = CheckDelta(f().params0, w0.final_state, truncated, w0.delta_hash);
  EXPECT_EQ(status.code(), StatusCode::kCorruption) << status.ToString();
  status = CheckDelta(f().params0, w0.final_state, truncated, Blake2b256(truncated));
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();

  std::vector<float> short_params(f().params0.begin(), f().params0.end() - 1);
  EXPECT_EQ(CheckDelta(short_params, w0.final_state, w0.delta, w0.delta_hash).code(),
            StatusCode::kInvalidArgument);
}

TEST_F(TaskTest, RunTaskRefusesTheWrongCorpusAndBadArguments) {
  Corpus other = trainer::ShakespeareCorpus(20000);
  auto wrong = RunTask(f().spec, 0, 0, f().params0, other, kBackend);
  EXPECT_EQ(wrong.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong.status().message().find(f().spec.dataset_hash.ToHex()), std::string::npos)
      << wrong.status().message();

  EXPECT_EQ(RunTask(f().spec, /*round=*/2, 0, f().params0, f().corpus, kBackend).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RunTask(f().spec, 0, /*worker=*/2, f().params0, f().corpus, kBackend).status().code(),
            StatusCode::kInvalidArgument);
  std::vector<float> short_params(f().params0.begin(), f().params0.end() - 1);
  EXPECT_EQ(RunTask(f().spec, 0, 0, short_params, f().corpus, kBackend).status().code(),
            StatusCode::kInvalidArgument);
  market::JobSpec bad = f().spec;
  bad.checkpoint_interval = 4;
  EXPECT_EQ(RunTask(bad, 0, 0, f().params0, f().corpus, kBackend).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(TaskTest, AggregateRoundIsTheMeanThenTheOuterNesterovStep) {
  // The formula by hand for round 0 (zero momentum), from the trainer's
  // decoder and mean: buf = g; params = params − 0.7 · (g + 0.9 · buf).
  const size_t n = f().params0.size();
  std::vector<std::vector<float>> decoded;
  for (const TaskResult& task : f().round0) {
    auto values = trainer::DecodeInt8Blocks(task.delta, n);
    ASSERT_TRUE(values.ok());
    decoded.push_back(std::move(values).value());
  }
  std::vector<float> mean = trainer::AggregateMean(decoded);
  std::vector<float> params = f().params0, momentum(n, 0.0f);
  trainer::OuterNesterovStep(params, momentum, mean, 0.7f, 0.9f);
  ExpectSameBits(f().aggregate0.params, params);
  ExpectSameBits(f().aggregate0.momentum, mean);  // 0.9 · 0 + g
  EXPECT_EQ(f().aggregate0.params_hash, trainer::HashFloats(params));
  EXPECT_NE(f().aggregate0.params_hash, trainer::HashFloats(f().params0));

  // Worker order matters to the bits only through the sum; the deltas of
  // round 1 carry round 0's momentum.
  std::vector<Bytes> deltas1 = {f().round1[0].delta, f().round1[1].delta};
  auto aggregate1 = AggregateRound(f().aggregate0.params, f().aggregate0.momentum, deltas1);
  ASSERT_TRUE(aggregate1.ok()) << aggregate1.status().ToString();
  EXPECT_NE(aggregate1->params_hash, f().aggregate0.params_hash);

  // Refusals.
  const std::vector<float> zeros(n, 0.0f);
  EXPECT_EQ(AggregateRound(f().params0, zeros, {}).status().code(), StatusCode::kInvalidArgument);
  std::vector<Bytes> deltas0 = {f().round0[0].delta, f().round0[1].delta};
  EXPECT_EQ(AggregateRound(f().params0, std::span<const float>(zeros).first(n - 1), deltas0)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  std::vector<Bytes> short_delta = {trainer::EncodeInt8Blocks(
      std::span<const float>(f().params0).first(n - 1), trainer::kQuantBlockDefault)};
  auto refused = AggregateRound(f().params0, zeros, short_delta);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("worker 0"), std::string::npos);
  std::vector<Bytes> malformed = deltas0;
  malformed[1].pop_back();
  refused = AggregateRound(f().params0, zeros, malformed);
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption);
  EXPECT_NE(refused.status().message().find("worker 1"), std::string::npos);
}

// The whole loop on a job long enough to learn: round 0's tasks, the
// aggregate, round 1's tasks from it, the aggregate, and the validation loss
// of the result against the initial parameters'.
TEST(TaskLearningTest, TwoRoundsLowerTheValidationLoss) {
  const Corpus corpus = trainer::ShakespeareCorpus();
  const market::JobSpec spec = Spec(corpus, /*rounds=*/2, /*workers=*/2, /*inner_steps=*/16,
                                    /*checkpoint_interval=*/4);
  constexpr int kValidationBatches = 4;
  std::vector<float> params = InitialParams(spec);
  std::vector<float> momentum(params.size(), 0.0f);
  const float initial_loss =
      ValidationLoss(spec, params, corpus, kBackend, kValidationBatches).value();
  for (uint32_t round = 0; round < spec.rounds; ++round) {
    std::vector<Bytes> deltas;
    for (uint32_t k = 0; k < spec.workers; ++k) {
      auto task = RunTask(spec, round, k, params, corpus, kBackend);
      ASSERT_TRUE(task.ok()) << task.status().ToString();
      ASSERT_TRUE(CheckDelta(params, task->final_state, task->delta, task->delta_hash).ok());
      deltas.push_back(std::move(task->delta));
    }
    auto aggregate = AggregateRound(params, momentum, deltas);
    ASSERT_TRUE(aggregate.ok()) << aggregate.status().ToString();
    params = std::move(aggregate->params);
    momentum = std::move(aggregate->momentum);
  }
  const float final_loss =
      ValidationLoss(spec, params, corpus, kBackend, kValidationBatches).value();
  std::printf("validation loss: %.4f initially, %.4f after 2 rounds\n", initial_loss, final_loss);
  EXPECT_NEAR(initial_loss, std::log(256.0f), 0.5f);  // about uniform over bytes
  EXPECT_LT(final_loss, initial_loss - 1.0f);
}

}  // namespace
}  // namespace agora::verify
