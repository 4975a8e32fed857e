// DiLoCo: int8 block quantization, the Merkle commitment, the outer Nesterov
// step, whole rounds, and the bytes relation to data-parallel training.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <cstring>

#include "kernels/buffer.h"
#include "tests/kernels/host_plan_table.h"
#include "tests/trainer/trainer_test_util.h"
#include "trainer/checkpoint.h"
#include "trainer/diloco.h"

namespace agora::trainer {
namespace {

Hash256 Leaf(const Hash256& h) {
  Blake2b256Hasher hasher;
  const uint8_t tag = 0;
  return hasher.Update(ByteSpan(&tag, 1)).Update(h.span()).Finish();
}
Hash256 Node(const Hash256& a, const Hash256& b) {
  Blake2b256Hasher hasher;
  const uint8_t tag = 1;
  return hasher.Update(ByteSpan(&tag, 1)).Update(a.span()).Update(b.span()).Finish();
}

TEST(QuantTest, RoundsToNearestEvenWithOneScalePerBlock) {
  // Block 1: max 127 -> scale exactly 1; ties go to even.
  std::vector<float> values = {127.0f, 0.5f, 1.5f, -0.5f, 2.5f, -2.5f, 3.4f, -127.0f};
  Bytes encoded = EncodeInt8Blocks(values, 8);
  ASSERT_EQ(encoded.size(), Int8BlocksEncodedBytes(8, 8));
  ASSERT_EQ(encoded.size(), kQuantHeaderBytes + 4 + 8);
  const int8_t* q = reinterpret_cast<const int8_t*>(encoded.data() + kQuantHeaderBytes + 4);
  EXPECT_EQ(q[0], 127);
  EXPECT_EQ(q[1], 0);
  EXPECT_EQ(q[2], 2);
  EXPECT_EQ(q[3], 0);
  EXPECT_EQ(q[4], 2);
  EXPECT_EQ(q[5], -2);
  EXPECT_EQ(q[6], 3);
  EXPECT_EQ(q[7], -127);
  auto decoded = DecodeInt8Blocks(encoded, 100);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ((*decoded)[6], 3.0f);
}

TEST(QuantTest, ErrorIsAtMostHalfAStepPerBlock) {
  std::vector<float> values(1000);
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = std::sin(static_cast<float>(i) * 0.37f) * (i < 256 ? 1e-3f : 5.0f);
  }
  values[300] = 0.0f;
  std::vector<float> zeros(256, 0.0f);
  values.insert(values.end(), zeros.begin(), zeros.end());  // an all-zero block
  Bytes encoded = EncodeInt8Blocks(values, 256);
  EXPECT_EQ(encoded, EncodeInt8Blocks(values, 256));
  auto decoded = DecodeInt8Blocks(encoded, values.size());
  ASSERT_TRUE(decoded.ok());
  for (size_t start = 0; start < values.size(); start += 256) {
    float max_abs = 0;
    size_t end = std::min(values.size(), start + 256);
    for (size_t i = start; i < end; ++i) max_abs = std::max(max_abs, std::fabs(values[i]));
    for (size_t i = start; i < end; ++i) {
      EXPECT_LE(std::fabs((*decoded)[i] - values[i]), max_abs / 127.0f * 0.5f * 1.0001f) << i;
    }
  }
  // About 4 bytes per parameter fall to a little over 1.
  EXPECT_EQ(encoded.size(), kQuantHeaderBytes + 5 * 4 + values.size());
}

TEST(QuantTest, MalformedEncodingsAreRefused) {
  Bytes good = EncodeInt8Blocks(std::vector<float>(10, 1.0f), 4);
  EXPECT_TRUE(DecodeInt8Blocks(good, 10).ok());
  EXPECT_FALSE(DecodeInt8Blocks(good, 9).ok());  // more values than allowed
  Bytes shorter(good.begin(), good.end() - 1);
  EXPECT_EQ(DecodeInt8Blocks(shorter, 10).status().code(), StatusCode::kCorruption);
  Bytes magic = good;
  magic[0] = 'X';
  EXPECT_FALSE(DecodeInt8Blocks(magic, 10).ok());
  Bytes nan_scale = good;
  float nan = std::nanf("");
  std::memcpy(nan_scale.data() + kQuantHeaderBytes, &nan, 4);
  EXPECT_FALSE(DecodeInt8Blocks(nan_scale, 10).ok());
  EXPECT_FALSE(DecodeInt8Blocks(Bytes{}, 10).ok());
}

// Found in review (2026-12-03): an infinity made the block's scale
// infinite (an encoding DecodeInt8Blocks refuses, though it was what
// re-encoding the state gave, so CheckDelta passed it and the round could
// never be aggregated), and a NaN reached an int8 conversion (undefined).
// Non-finite values now encode as finite ones and every encoding decodes.
TEST(QuantTest, NonFiniteValuesEncodeToSomethingThatDecodes) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> values = {0.5f, -inf, 2.0f, nan, inf, -1.0f, 0.0f, 1.0f};
  const Bytes encoded = EncodeInt8Blocks(values, 4);
  Result<std::vector<float>> decoded = DecodeInt8Blocks(encoded, values.size());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  // Block 1: finite max 2.0, so -inf -> -2.0, nan -> 0. Block 2: max 1.0.
  EXPECT_EQ((*decoded)[1], -2.0f);
  EXPECT_EQ((*decoded)[2], 2.0f);
  EXPECT_EQ((*decoded)[3], 0.0f);
  EXPECT_EQ((*decoded)[4], 1.0f);
  EXPECT_EQ((*decoded)[5], -1.0f);
  for (float v : *decoded) EXPECT_TRUE(std::isfinite(v));
  // A block with nothing finite has scale 0.
  const Bytes all_inf = EncodeInt8Blocks(std::vector<float>{inf, -inf, nan}, 4);
  Result<std::vector<float>> zeros = DecodeInt8Blocks(all_inf, 3);
  ASSERT_TRUE(zeros.ok());
  for (float v : *zeros) EXPECT_EQ(v, 0.0f);
}

TEST(MerkleTest, RootBindsEveryCheckpointInOrder) {
  Hash256 a = Blake2b256("a"), b = Blake2b256("b"), c = Blake2b256("c");
  EXPECT_TRUE(MerkleRoot({}).IsZero());
  std::vector<Hash256> one = {a}, two = {a, b}, three = {a, b, c}, swapped = {b, a};
  EXPECT_EQ(MerkleRoot(one), Leaf(a));
  EXPECT_EQ(MerkleRoot(two), Node(Leaf(a), Leaf(b)));
  EXPECT_EQ(MerkleRoot(three), Node(Node(Leaf(a), Leaf(b)), Leaf(c)));
  EXPECT_NE(MerkleRoot(swapped), MerkleRoot(two));
}

TEST(OuterStepTest, NesterovMatchesTheFormula) {
  std::vector<float> params = {1.0f, -2.0f}, momentum = {0.0f, 0.5f}, g = {0.1f, 0.2f};
  OuterNesterovStep(params, momentum, g, 0.7f, 0.9f);
  float buf0 = 0.9f * 0.0f + 0.1f, buf1 = 0.9f * 0.5f + 0.2f;
  EXPECT_EQ(momentum[0], buf0);
  EXPECT_EQ(momentum[1], buf1);
  EXPECT_EQ(params[0], 1.0f - 0.7f * (0.1f + 0.9f * buf0));
  EXPECT_EQ(params[1], -2.0f - 0.7f * (0.2f + 0.9f * buf1));
  std::vector<std::vector<float>> deltas = {{1.0f, 2.0f}, {3.0f, 5.0f}};
  EXPECT_EQ(AggregateMean(deltas), (std::vector<float>{2.0f, 3.5f}));
}

TEST(DilocoTest, RoundsAreDeterministicAndCommitToCheckpoints) {
  TrainConfig config = MicroConfig();
  Corpus corpus = ShakespeareCorpus(20000);
  DilocoConfig diloco{.workers = 2, .rounds = 2, .inner_steps = 4, .checkpoint_every = 2};
  config.optimizer.total_steps = diloco.rounds * diloco.inner_steps;
  auto run = [&] {
    auto r = DilocoRun::Create(config, diloco, corpus, kernels::Backend::kCpu);
    AGORA_CHECK(r.ok());
    std::vector<DilocoRun::RoundSummary> rounds;
    for (int i = 0; i < diloco.rounds; ++i) rounds.push_back(r->RunRound());
    return std::make_pair(std::move(r).value(), rounds);
  };
  auto [first, first_rounds] = run();
  auto [second, second_rounds] = run();
  const int64_t n = config.model.ParameterCount();
  for (int i = 0; i < diloco.rounds; ++i) {
    EXPECT_EQ(first_rounds[i].global_params_hash, second_rounds[i].global_params_hash);
    EXPECT_EQ(first_rounds[i].merkle_roots, second_rounds[i].merkle_roots);
    ASSERT_EQ(first_rounds[i].merkle_roots.size(), 2u);
    EXPECT_NE(first_rounds[i].merkle_roots[0], first_rounds[i].merkle_roots[1]);
    EXPECT_EQ(first_rounds[i].bytes_sent, 2 * Int8BlocksEncodedBytes(n, kQuantBlockDefault));
  }
  EXPECT_NE(first_rounds[0].global_params_hash, first_rounds[1].global_params_hash);
  EXPECT_EQ(first.bytes_sent(), 4 * Int8BlocksEncodedBytes(n, kQuantBlockDefault));

  // A worker's round, replayed from its inputs, gives the same commitment:
  // what a validator checks.
  TrainState state = TrainState::Fresh(config, corpus.hash());
  state.worker = 1;
  auto worker = Trainer::Create(state, corpus, kernels::Backend::kCpu);
  ASSERT_TRUE(worker.ok());
  std::vector<Hash256> stored;
  WorkerRound round0 =
      RunWorkerRound(*worker, TrainState::Fresh(config, corpus.hash()).params, 0, diloco,
                     [&](const TrainState& s, const Hash256& h) {
                       EXPECT_EQ(CheckpointHash(s), h);
                       stored.push_back(h);
                     });
  EXPECT_EQ(stored.size(), 2u);
  EXPECT_EQ(round0.merkle_root, first_rounds[0].merkle_roots[1]);
  EXPECT_EQ(round0.merkle_root, MerkleRoot(stored));
}

// DiLoCo on a backend that keeps the weights in memory of its own (a GPU;
// here the CUDA plans on the CPU, which keep a NaN-filled copy): the
// checkpoints, commitments and outer steps must be the CPU run's, bit for
// bit. A worker round that read the state through a reference taken before
// its steps hashed the round's start and sent a zero update.
TEST(DilocoTest, ABackendWithItsOwnMemoryRunsTheSameRounds) {
  TrainConfig config = MicroConfig();
  Corpus corpus = ShakespeareCorpus(20000);
  DilocoConfig diloco{.workers = 2, .rounds = 2, .inner_steps = 4, .checkpoint_every = 2};
  config.optimizer.total_steps = diloco.rounds * diloco.inner_steps;
  auto run = [&](kernels::Backend backend) {
    auto r = DilocoRun::Create(config, diloco, corpus, backend);
    AGORA_CHECK(r.ok());
    std::vector<std::pair<std::vector<Hash256>, Hash256>> rounds;
    for (int i = 0; i < diloco.rounds; ++i) {
      DilocoRun::RoundSummary summary = r->RunRound();
      rounds.emplace_back(summary.merkle_roots, summary.global_params_hash);
    }
    return rounds;
  };
  const auto cpu = run(kernels::Backend::kCpu);
  kernels::testing::ScopedHostPlans host_plans;
  ASSERT_TRUE(kernels::BackendHasOwnMemory(kernels::Backend::kCuda));
  EXPECT_EQ(run(kernels::Backend::kCuda), cpu);
}

// A warm start: every worker's first round starts from the given parameters
// (so the global weights before round 0 are exactly them), and the first
// round's commitments equal those of workers built from a state holding them.
TEST(DilocoTest, WarmStartBeginsFromTheGivenParameters) {
  TrainConfig config = MicroConfig();
  Corpus corpus = ShakespeareCorpus(20000);
  DilocoConfig diloco{.workers = 2, .rounds = 1, .inner_steps = 2};
  config.optimizer.total_steps = diloco.rounds * diloco.inner_steps;
  std::vector<float> init = TrainState::Fresh(config, corpus.hash()).params;
  for (size_t i = 0; i < init.size(); ++i) init[i] = init[i] * 0.5f + 0.001f * (i % 7);

  auto warm = DilocoRun::Create(config, diloco, corpus, kernels::Backend::kCpu, init);
  ASSERT_TRUE(warm.ok()) << warm.status().ToString();
  EXPECT_EQ(warm->global_params(), init);
  auto cold = DilocoRun::Create(config, diloco, corpus, kernels::Backend::kCpu);
  ASSERT_TRUE(cold.ok());
  EXPECT_NE(cold->global_params(), init);
  const auto warm_round = warm->RunRound();
  const auto cold_round = cold->RunRound();
  EXPECT_NE(warm_round.merkle_roots, cold_round.merkle_roots);

  TrainState state = TrainState::Fresh(config, corpus.hash());
  state.worker = 1;
  auto worker = Trainer::Create(state, corpus, kernels::Backend::kCpu);
  ASSERT_TRUE(worker.ok());
  EXPECT_EQ(RunWorkerRound(*worker, init, 0, diloco).merkle_root, warm_round.merkle_roots[1]);

  std::vector<float> short_init(init.begin(), init.end() - 1);
  EXPECT_EQ(DilocoRun::Create(config, diloco, corpus, kernels::Backend::kCpu, short_init)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  DilocoConfig bad = diloco;
  bad.outer_momentum = 1.0f;
  EXPECT_EQ(bad.Validate().code(), StatusCode::kInvalidArgument);
  bad = diloco;
  bad.outer_lr = 0.0f;
  EXPECT_EQ(bad.Validate().code(), StatusCode::kInvalidArgument);
}

TEST(DilocoTest, SendsOverHundredTimesFewerBytesThanDataParallelFromH30) {
  const int64_t n = PresetConfig("small")->model.ParameterCount();
  for (int h : {30, 50, 100, 500}) {
    uint64_t ddp = DataParallelBytes(n, 4, h);  // one round's worth of steps
    uint64_t diloco = 4 * Int8BlocksEncodedBytes(n, kQuantBlockDefault);
    EXPECT_GE(ddp / diloco, 100u) << "H = " << h;
  }
  EXPECT_LT(DataParallelBytes(n, 4, 20) / (4 * Int8BlocksEncodedBytes(n, kQuantBlockDefault)),
            100u);
}

// A short, cheap version of the DiLoCo-vs-data-parallel claim on the micro
// model: both learn, and DiLoCo ends within 5% of data-parallel.
TEST(DilocoTest, TracksDataParallelOnAShortRun) {
  TrainConfig config = MicroConfig();
  config.optimizer.lr_max = 1e-2f;
  config.optimizer.lr_min = 1e-3f;
  config.optimizer.warmup_steps = 5;
  Corpus corpus = ShakespeareCorpus(200000);
  DilocoConfig diloco{.workers = 4, .rounds = 4, .inner_steps = 30};
  config.optimizer.total_steps = diloco.rounds * diloco.inner_steps;
  auto comparison = CompareWithDataParallel(config, diloco, corpus, kernels::Backend::kCpu, 4);
  ASSERT_TRUE(comparison.ok()) << comparison.status().ToString();
  std::printf("diloco val %.4f (%llu bytes)  ddp val %.4f (%llu bytes)\n",
              comparison->diloco_val_loss,
              static_cast<unsigned long long>(comparison->diloco_bytes), comparison->ddp_val_loss,
              static_cast<unsigned long long>(comparison->ddp_bytes));
  EXPECT_LT(comparison->ddp_val_loss, 4.0f);
  EXPECT_LT(comparison->diloco_val_loss, 4.0f);
  EXPECT_LE(comparison->diloco_val_loss, comparison->ddp_val_loss * 1.05f);
  EXPECT_GE(comparison->ddp_bytes / comparison->diloco_bytes, 100u);
}

}  // namespace
}  // namespace agora::trainer
