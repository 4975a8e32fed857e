// The model, its initialization and gradients, the data selection and the
// learning-rate schedule.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <set>

#include "kernels/buffer.h"
#include "kernels/device.h"
#include "kernels/parallel.h"
#include "tests/kernels/host_plan_table.h"
#include "tests/kernels/kernel_test_util.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/data.h"
#include "trainer/model.h"
#include "trainer/train_state.h"
#include "tests/trainer/trainer_test_util.h"

namespace agora::trainer {
namespace {

TEST(ConfigTest, PresetsAreValidAndCountParameters) {
  for (const std::string& name : PresetNames()) {
    auto config = PresetConfig(name);
    ASSERT_TRUE(config.ok()) << name;
    EXPECT_TRUE(config->Validate().ok()) << name;
    ParameterLayout layout(config->model);
    EXPECT_EQ(layout.total, config->model.ParameterCount());
  }
  auto small = PresetConfig("small");
  EXPECT_EQ(small->model.layers, 4);
  EXPECT_EQ(small->model.width, 128);
  EXPECT_EQ(small->batch, 16);
  // GPT-2 small's shape over bytes: 12 L C^2 + 13 L C weights and biases in
  // the blocks, the two embeddings and the final norm.
  auto gpt2 = PresetConfig("gpt2");
  ASSERT_TRUE(gpt2.ok());
  const ModelConfig& g = gpt2->model;
  EXPECT_EQ(g.layers, 12);
  EXPECT_EQ(g.width, 768);
  EXPECT_EQ(g.context, 1024);
  const int64_t l = g.layers, c = g.width;
  EXPECT_EQ(g.ParameterCount(), 12 * l * c * c + 13 * l * c + int64_t{g.vocab} * c +
                                    int64_t{g.context} * c + 2 * c);
  EXPECT_FALSE(PresetConfig("huge").ok());
  ModelConfig bad{.vocab = 256, .context = 16, .layers = 1, .heads = 3, .width = 16};
  EXPECT_NE(bad.Validate().message().find("multiple of heads"), std::string::npos);
}

TEST(ConfigTest, DeterministicCosMatchesLibm) {
  for (int i = 0; i <= 1000; ++i) {
    double x = 3.14159265358979323846 * i / 1000.0;
    EXPECT_NEAR(DeterministicCos(x), std::cos(x), 1e-15) << x;
  }
}

TEST(ConfigTest, ScheduleWarmsUpThenDecays) {
  OptimizerConfig opt;
  opt.lr_max = 1e-3f;
  opt.lr_min = 1e-4f;
  opt.warmup_steps = 10;
  opt.total_steps = 110;
  EXPECT_FLOAT_EQ(LearningRate(opt, 0), 1e-4f);
  EXPECT_FLOAT_EQ(LearningRate(opt, 9), 1e-3f);
  EXPECT_FLOAT_EQ(LearningRate(opt, 10), 1e-3f);
  EXPECT_NEAR(LearningRate(opt, 60), 5.5e-4f, 1e-9);
  EXPECT_FLOAT_EQ(LearningRate(opt, 110), 1e-4f);
  EXPECT_FLOAT_EQ(LearningRate(opt, 5000), 1e-4f);
  for (int64_t s = 11; s < 110; ++s) EXPECT_LE(LearningRate(opt, s), LearningRate(opt, s - 1));
}

TEST(ModelTest, InitializationIsSeededAndScaled) {
  TrainConfig config = MicroConfig();
  const int64_t n = config.model.ParameterCount();
  std::vector<float> a(n), b(n), c(n);
  InitParameters(config.model, 1, a);
  InitParameters(config.model, 1, b);
  InitParameters(config.model, 2, c);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), n * 4), 0);
  EXPECT_NE(std::memcmp(a.data(), c.data(), n * 4), 0);
  ParameterLayout layout(config.model);
  EXPECT_EQ(a[layout.ln1w], 1.0f);
  EXPECT_EQ(a[layout.qkvb], 0.0f);
  double sum_sq = 0;
  for (int64_t i = 0; i < config.model.vocab * config.model.width; ++i) {
    sum_sq += double{a[layout.wte + i]} * a[layout.wte + i];
  }
  EXPECT_NEAR(std::sqrt(sum_sq / (config.model.vocab * config.model.width)), 0.02, 0.002);
}

TEST(ModelTest, InitialLossIsUniform) {
  TrainConfig config = MicroConfig();
  Corpus corpus = ShakespeareCorpus(20000);
  auto trainer = Trainer::Create(TrainState::Fresh(config, corpus.hash()), corpus,
                                 kernels::Backend::kCpu);
  ASSERT_TRUE(trainer.ok());
  EXPECT_NEAR(trainer->EvaluateValidation(2), std::log(256.0), 0.05);
}

// Central differences in double of the float model against Backward, on a
// few parameters of every tensor: catches any miswired gradient.
TEST(ModelTest, GradientMatchesFiniteDifferences) {
  TrainConfig config = MicroConfig();
  config.model.context = 8;
  std::vector<float> params(config.model.ParameterCount());
  InitParameters(config.model, 3, params);
  // Larger weights than the initialization, so every path carries signal.
  for (float& p : params) p = p * 5.0f;
  Gpt model(config.model, kernels::Backend::kReference);
  const int batch = 2, seq_len = 8;
  std::vector<int32_t> tokens(batch * seq_len), targets(batch * seq_len);
  for (int i = 0; i < batch * seq_len; ++i) {
    tokens[i] = (i * 37 + 11) % 256;
    targets[i] = (i * 53 + 5) % 256;
  }
  model.Forward(params.data(), tokens.data(), targets.data(), batch, seq_len);
  model.ZeroGrad();
  model.Backward(params.data(), 1.0f);
  std::vector<float> grads(model.grads().begin(), model.grads().end());
  for (const TensorInfo& tensor : model.layout().tensors) {
    for (int64_t probe = 0; probe < 3; ++probe) {
      int64_t i = tensor.offset + (probe * 7919) % tensor.size;
      if (tensor.name == "wte") i = tensor.offset + tokens[probe] * config.model.width + probe;
      const float saved = params[i];
      const float h = 1e-2f;
      params[i] = saved + h;
      double up = model.Forward(params.data(), tokens.data(), targets.data(), batch, seq_len);
      params[i] = saved - h;
      double down = model.Forward(params.data(), tokens.data(), targets.data(), batch, seq_len);
      params[i] = saved;
      double numeric = (up - down) / (2.0 * h);
      EXPECT_NEAR(grads[i], numeric, 2e-3 + 0.05 * std::fabs(numeric))
          << tensor.name << " index " << i - tensor.offset;
    }
  }
}

TEST(DataTest, CorpusIsHashedAndSplit) {
  Corpus corpus = ShakespeareCorpus();
  EXPECT_EQ(corpus.size(), 1115394u);
  EXPECT_EQ(corpus.train().size() + corpus.validation().size(), corpus.size());
  EXPECT_EQ(corpus.train().size(), corpus.size() * 9 / 10);
  // The identity of tinyshakespeare.txt: a changed corpus changes every hash.
  EXPECT_EQ(corpus.hash().ToHex(), std::string(kTinyShakespeareHashHex));
  EXPECT_FALSE(Corpus::FromBytes("too short").ok());
  auto missing = Corpus::Load("/nonexistent/corpus.txt");
  EXPECT_NE(missing.status().message().find("--data"), std::string::npos);
}

TEST(DataTest, BatchSelectionIsAPureFunction) {
  const size_t train_size = 1000;
  std::set<uint64_t> seen;
  for (uint64_t step = 0; step < 50; ++step) {
    for (uint64_t row = 0; row < 4; ++row) {
      uint64_t offset = BatchOffset(1, 2, 3, step, row, train_size, 64);
      EXPECT_EQ(offset, BatchOffset(1, 2, 3, step, row, train_size, 64));
      EXPECT_LT(offset + 64, train_size);
      seen.insert(offset);
    }
  }
  EXPECT_GT(seen.size(), 150u);
  // Every coordinate matters.
  uint64_t base = BatchOffset(1, 2, 3, 4, 5, 1 << 20, 64);
  EXPECT_NE(base, BatchOffset(9, 2, 3, 4, 5, 1 << 20, 64));
  EXPECT_NE(base, BatchOffset(1, 9, 3, 4, 5, 1 << 20, 64));
  EXPECT_NE(base, BatchOffset(1, 2, 9, 4, 5, 1 << 20, 64));
  EXPECT_NE(base, BatchOffset(1, 2, 3, 9, 5, 1 << 20, 64));
  EXPECT_NE(base, BatchOffset(1, 2, 3, 4, 9, 1 << 20, 64));
  // A window's targets are its inputs shifted by one byte.
  Corpus corpus = ShakespeareCorpus(20000);
  std::vector<int32_t> tokens(2 * 16), targets(2 * 16);
  FillTrainBatch(corpus, 1, 0, 0, 3, 2, 16, tokens.data(), targets.data());
  uint64_t offset = BatchOffset(1, 0, 0, 3, 1, corpus.train().size(), 16);
  for (int t = 0; t < 16; ++t) {
    EXPECT_EQ(tokens[16 + t], TokenOfByte(corpus.train()[offset + t]));
    EXPECT_EQ(targets[16 + t], TokenOfByte(corpus.train()[offset + t + 1]));
  }
}

// Steps of the reference and the fast backend, and of 1 and 2 threads, end in
// the same checkpoint bits.
TEST(DeterminismTest, BackendsAndThreadCountsAgree) {
  TrainConfig config = MicroConfig();
  Corpus corpus = ShakespeareCorpus(20000);
  auto run = [&](kernels::Backend backend, int threads) {
    kernels::SetThreadCount(threads);
    auto trainer = Trainer::Create(TrainState::Fresh(config, corpus.hash()), corpus, backend);
    AGORA_CHECK(trainer.ok());
    for (int i = 0; i < 3; ++i) trainer->Step();
    return CheckpointHash(trainer->state());
  };
  Hash256 reference = run(kernels::Backend::kReference, 1);
  EXPECT_EQ(run(kernels::Backend::kCpu, 1), reference);
  EXPECT_EQ(run(kernels::Backend::kCpu, 2), reference);
  EXPECT_EQ(run(kernels::Backend::kCpu, 3), reference);
  kernels::SetThreadCount(2);
}

// kGpuSm90's number (market/job_spec.h): the class the native-tier tests
// run as, GPU or host plans.
constexpr uint8_t kSm90 = 3;

// MicroConfig in the tier `backend` trains: the native tier (on the sm90
// class) for kCudaNative, the exact tier otherwise.
TrainConfig MicroConfigFor(kernels::Backend backend) {
  TrainConfig config = MicroConfig();
  if (backend == kernels::Backend::kCudaNative) {
    config.tier = KernelTier::kNative;
    config.hardware_class = kSm90;
  }
  return config;
}

// The hash the state would have in the exact tier: the tensors and
// position, whatever tier it was trained in.
Hash256 ExactHash(TrainState state) {
  state.config.tier = KernelTier::kExact;
  state.config.hardware_class = kHardwareAny;
  return CheckpointHash(state);
}

Hash256 CheckpointAfterSteps(kernels::Backend backend, int steps) {
  TrainConfig config = MicroConfigFor(backend);
  Corpus corpus = ShakespeareCorpus(20000);
  auto trainer = Trainer::Create(TrainState::Fresh(config, corpus.hash()), corpus, backend);
  AGORA_CHECK(trainer.ok());
  for (int i = 0; i < steps; ++i) trainer->Step();
  return CheckpointHash(trainer->state());
}

// The CUDA tier's plans (one GPU thread per output), run on the CPU, train
// to the same checkpoint as the reference: every op of a step, composed.
TEST(DeterminismTest, CudaPlansOnTheCpuTrainTheSameBits) {
  const Hash256 reference = CheckpointAfterSteps(kernels::Backend::kReference, 3);
  kernels::testing::ScopedHostPlans host_plans;
  EXPECT_EQ(CheckpointAfterSteps(kernels::Backend::kCuda, 3), reference);
}

// On a backend with memory of its own the trainer steps a copy of the
// weights and moments kept there (kernels/buffer.h): what state() returns
// after a step, an edit through mutable_state(), a Reset and a validation
// pass must all see the same values as the host-only reference run.
TEST(DeterminismTest, TheDeviceCopyOfTheStateFollowsEveryReadAndEdit) {
  Corpus corpus = ShakespeareCorpus(20000);
  struct Trail {
    std::vector<Hash256> hashes;
    float validation = 0;
  };
  auto run = [&](kernels::Backend backend) {
    const TrainConfig config = MicroConfigFor(backend);
    Trail trail;
    auto trainer = Trainer::Create(TrainState::Fresh(config, corpus.hash()), corpus, backend);
    AGORA_CHECK(trainer.ok());
    trainer->Step();
    trainer->Step();
    trail.hashes.push_back(ExactHash(trainer->state()));
    trainer->mutable_state().params[3] += 0.25f;  // an edit the next step must train from
    trainer->mutable_state().m[5] = 0.5f;
    trainer->Step();
    trail.hashes.push_back(ExactHash(trainer->state()));
    TrainState earlier = TrainState::Fresh(config, corpus.hash());
    AGORA_CHECK(trainer->Reset(std::move(earlier)).ok());
    trainer->Step();
    trail.validation = trainer->EvaluateValidation(2);
    trail.hashes.push_back(ExactHash(trainer->state()));
    return trail;
  };
  const Trail reference = run(kernels::Backend::kReference);
  kernels::testing::ScopedHostPlans host_plans;
  ASSERT_TRUE(kernels::BackendHasOwnMemory(kernels::Backend::kCuda));
  for (kernels::Backend backend : {kernels::Backend::kCuda, kernels::Backend::kCudaNative}) {
    const Trail device = run(backend);
    EXPECT_EQ(device.hashes, reference.hashes) << kernels::BackendName(backend);
    EXPECT_EQ(std::bit_cast<uint32_t>(device.validation),
              std::bit_cast<uint32_t>(reference.validation))
        << kernels::BackendName(backend);
  }
}

// The same on a GPU, with the trainer's tensors in the GPU's memory.
TEST(DeterminismTest, GpuTrainsTheSameBitsAsTheCpu) {
  const Status ready = kernels::CudaOpsReady();
  if (!ready.ok()) {
    if (kernels::testing::GpuRequired()) FAIL() << "AGORA_REQUIRE_GPU=1 but " << ready.ToString();
    GTEST_SKIP() << ready.ToString();
  }
  EXPECT_EQ(CheckpointAfterSteps(kernels::Backend::kCuda, 3),
            CheckpointAfterSteps(kernels::Backend::kCpu, 3));
}

// The native tier (cuBLAS TF32 matmuls) is not the exact contract: it
// repeats its own bits on one GPU, and trains to about the exact tier's
// loss.
TEST(DeterminismTest, TheNativeTierRepeatsItsBitsOnOneGpu) {
  const Status ready = kernels::CudaNativeReady();
  if (!ready.ok()) {
    if (kernels::testing::GpuRequired()) FAIL() << "AGORA_REQUIRE_GPU=1 but " << ready.ToString();
    GTEST_SKIP() << ready.ToString();
  }
  EXPECT_EQ(CheckpointAfterSteps(kernels::Backend::kCudaNative, 3),
            CheckpointAfterSteps(kernels::Backend::kCudaNative, 3));
  Corpus corpus = ShakespeareCorpus(20000);
  auto loss_after = [&](kernels::Backend backend) {
    auto trainer = Trainer::Create(TrainState::Fresh(MicroConfigFor(backend), corpus.hash()),
                                   corpus, backend);
    AGORA_CHECK(trainer.ok());
    float loss = 0;
    for (int i = 0; i < 5; ++i) loss = trainer->Step().loss;
    return loss;
  };
  const float exact = loss_after(kernels::Backend::kCpu);
  const float native = loss_after(kernels::Backend::kCudaNative);
  EXPECT_NEAR(native, exact, 0.01f * exact) << "TF32 matmuls moved the loss by more than 1%";
}

// A state keeps its tier: the exact tier trains on the backends that give
// its bits everywhere, the native tier on its class's kernels only, and the
// trainer refuses any other pairing with what to use.
TEST(TierTest, TheTrainerRunsAStateOnlyOnABackendOfItsTier) {
  using kernels::Backend;
  TrainConfig exact = MicroConfig();
  TrainConfig native_gpu = MicroConfig();
  native_gpu.tier = KernelTier::kNative;
  native_gpu.hardware_class = kSm90;
  TrainConfig native_cpu = native_gpu;
  native_cpu.hardware_class = kHardwareCpu;
  struct Case {
    const TrainConfig* config;
    Backend backend;
    bool fits;
  };
  const Case cases[] = {
      {&exact, Backend::kReference, true},       {&exact, Backend::kCpu, true},
      {&exact, Backend::kCuda, true},            {&exact, Backend::kCudaNative, false},
      {&native_gpu, Backend::kCudaNative, true}, {&native_gpu, Backend::kCpu, false},
      {&native_gpu, Backend::kCuda, false},      {&native_gpu, Backend::kReference, false},
      {&native_cpu, Backend::kCpu, true},        {&native_cpu, Backend::kReference, true},
      {&native_cpu, Backend::kCuda, false},      {&native_cpu, Backend::kCudaNative, false},
  };
  for (const Case& c : cases) {
    const Status fits = CheckBackendFitsTier(*c.config, c.backend);
    EXPECT_EQ(fits.ok(), c.fits) << KernelTierName(c.config->tier) << " class "
                                 << int{c.config->hardware_class} << " on "
                                 << kernels::BackendName(c.backend) << ": " << fits.ToString();
    if (!c.fits) {
      EXPECT_EQ(fits.code(), StatusCode::kFailedPrecondition);
    }
  }
  // Through Create and Reset, with the reason.
  Corpus corpus = ShakespeareCorpus(20000);
  Result<Trainer> refused =
      Trainer::Create(TrainState::Fresh(native_gpu, corpus.hash()), corpus, Backend::kCpu);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("only the native CUDA backend repeats its bits"),
            std::string::npos)
      << refused.status().ToString();
  Result<Trainer> cpu = Trainer::Create(TrainState::Fresh(exact, corpus.hash()), corpus, Backend::kCpu);
  ASSERT_TRUE(cpu.ok());
  const Status reset = cpu->Reset(TrainState::Fresh(native_gpu, corpus.hash()));
  EXPECT_EQ(reset.code(), StatusCode::kFailedPrecondition) << reset.ToString();
  EXPECT_EQ(cpu->state().config.tier, KernelTier::kExact);  // the refused state is not taken
}

// The native tier on the cpu class is the CPU's exact kernels: the same
// tensors as the exact tier, step for step; only the state's name differs.
TEST(TierTest, TheNativeTierOnTheCpuClassTrainsTheExactBits) {
  Corpus corpus = ShakespeareCorpus(20000);
  TrainConfig native_cpu = MicroConfig();
  native_cpu.tier = KernelTier::kNative;
  native_cpu.hardware_class = kHardwareCpu;
  auto native = Trainer::Create(TrainState::Fresh(native_cpu, corpus.hash()), corpus,
                                kernels::Backend::kCpu);
  ASSERT_TRUE(native.ok()) << native.status().ToString();
  for (int i = 0; i < 2; ++i) native->Step();
  EXPECT_EQ(ExactHash(native->state()), CheckpointAfterSteps(kernels::Backend::kCpu, 2));
  EXPECT_NE(CheckpointHash(native->state()), ExactHash(native->state()));
}

TEST(ConfigTest, TheTierAndClassAreValidatedTogether) {
  TrainConfig c = MicroConfig();
  EXPECT_TRUE(c.Validate().ok());
  c.hardware_class = kSm90;  // an exact state names no class
  EXPECT_NE(c.Validate().message().find("hardware class must be 0"), std::string::npos)
      << c.Validate().ToString();
  c.tier = KernelTier::kNative;
  EXPECT_TRUE(c.Validate().ok()) << c.Validate().ToString();
  for (uint8_t bad : {uint8_t{0}, uint8_t{kHardwareClassNumberMax + 1}, uint8_t{255}}) {
    c.hardware_class = bad;
    EXPECT_NE(c.Validate().message().find("hardware_class"), std::string::npos) << int{bad};
  }
  c.hardware_class = kHardwareCpu;
  c.tier = static_cast<KernelTier>(3);
  EXPECT_NE(c.Validate().message().find("unknown kernel tier 3"), std::string::npos)
      << c.Validate().ToString();
}

}  // namespace
}  // namespace agora::trainer
