// Job specs: ValidateSpec accepts a good spec and refuses each bad field
// with a message that names it; TaskWorkWu against the work formula of
// PROTOCOL.md §1 computed by hand; hardware class and tier names.
#include "market/job_spec.h"

#include "trainer/data.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "trainer/config.h"

namespace agora::market {
namespace {

__extension__ typedef unsigned __int128 Wide;

// The default spec made valid: a dataset named by a non-zero hash and large
// enough for one context window plus its next-token target.
JobSpec GoodSpec() {
  JobSpec s;
  s.dataset_hash = Blake2b256("agora test dataset");
  s.dataset_bytes = 1 << 20;
  return s;
}

TEST(JobSpecTest, DefaultSpecWithDatasetIsValid) {
  EXPECT_TRUE(ValidateSpec(GoodSpec()).ok()) << ValidateSpec(GoodSpec()).ToString();
  // The default has no dataset: it must be named before the spec is valid.
  EXPECT_FALSE(ValidateSpec(JobSpec{}).ok());
}

struct BadCase {
  const char* name;
  std::function<void(JobSpec&)> mutate;
  const char* field;  // must appear in the message
};

TEST(JobSpecTest, RefusesEachBadFieldNamingIt) {
  const std::vector<BadCase> cases = {
      {"heads not dividing width", [](JobSpec& s) { s.heads = 3; }, "heads"},
      {"context 0", [](JobSpec& s) { s.context = 0; }, "context"},
      {"context above the trainer's bound",
       [](JobSpec& s) { s.context = trainer::kContextMax + 1; }, "context"},
      {"vocab 0", [](JobSpec& s) { s.vocab = 0; }, "vocab"},
      {"vocab 1", [](JobSpec& s) { s.vocab = 1; }, "vocab"},
      {"layers 0", [](JobSpec& s) { s.layers = 0; }, "layers"},
      {"width above bound", [](JobSpec& s) { s.width = trainer::kWidthMax + 2; }, "width"},
      {"batch 0", [](JobSpec& s) { s.batch = 0; }, "batch"},
      {"batch above bound", [](JobSpec& s) { s.batch = trainer::kBatchMax + 1; }, "batch"},
      {"zero dataset hash", [](JobSpec& s) { s.dataset_hash = Hash256{}; }, "dataset hash"},
      {"dataset of context bytes", [](JobSpec& s) { s.dataset_bytes = s.context; }, "dataset size"},
      // Found in review (2026-12-03): validators aborted evaluating such a job.
      {"validation split not longer than the context",
       [](JobSpec& s) {
         s.context = 128;
         s.dataset_bytes = 1024;  // its last 10%: 103 bytes
       },
       "too small for context 128"},
      {"dataset above 2^40", [](JobSpec& s) { s.dataset_bytes = kDatasetBytesMax + 1; },
       "dataset size"},
      {"rounds 0", [](JobSpec& s) { s.rounds = 0; }, "rounds"},
      {"rounds above bound", [](JobSpec& s) { s.rounds = kRoundsMax + 1; }, "rounds"},
      {"workers 0", [](JobSpec& s) { s.workers = 0; }, "workers"},
      {"workers above bound", [](JobSpec& s) { s.workers = kWorkersMax + 1; }, "workers"},
      {"inner_steps 0", [](JobSpec& s) { s.inner_steps = 0; }, "inner_steps"},
      {"inner_steps above bound", [](JobSpec& s) { s.inner_steps = kInnerStepsMax + 10; },
       "inner_steps"},
      {"C not dividing H", [](JobSpec& s) { s.checkpoint_interval = 7; }, "checkpoint_interval"},
      {"C 0", [](JobSpec& s) { s.checkpoint_interval = 0; }, "checkpoint_interval"},
      {"spot_checks 0", [](JobSpec& s) { s.spot_checks = 0; }, "spot_checks"},
      {"spot_checks above H/C", [](JobSpec& s) { s.spot_checks = 50 / 10 + 1; }, "spot_checks"},
      {"spot_checks above the bound",
       [](JobSpec& s) {
         s.checkpoint_interval = 1;
         s.spot_checks = kSpotChecksMax + 1;
       },
       "spot_checks"},
      {"unknown tier", [](JobSpec& s) { s.tier = static_cast<Tier>(3); }, "tier"},
      {"hardware class 0", [](JobSpec& s) { s.hardware = static_cast<HardwareClass>(0); },
       "hardware class"},
      {"hardware class 5",
       [](JobSpec& s) { s.hardware = static_cast<HardwareClass>(kHardwareClassMax + 1); },
       "hardware class"},
      {"lr_min > lr_max", [](JobSpec& s) { s.optimizer.lr_min_nano = s.optimizer.lr_max_nano + 1; },
       "lr_min"},
      {"lr_max 0",
       [](JobSpec& s) {
         s.optimizer.lr_max_nano = 0;
         s.optimizer.lr_min_nano = 0;
       },
       "lr_max"},
      {"lr_max above 1", [](JobSpec& s) { s.optimizer.lr_max_nano = 1'000'000'001; }, "lr_max"},
      {"warmup beyond the job", [](JobSpec& s) { s.optimizer.warmup_steps = 51; }, "warmup_steps"},
      {"beta1 = 1", [](JobSpec& s) { s.optimizer.beta1_ppm = 1'000'000; }, "betas"},
      {"beta2 = 1", [](JobSpec& s) { s.optimizer.beta2_ppm = 1'000'000; }, "betas"},
      {"eps 0", [](JobSpec& s) { s.optimizer.eps_pico = 0; }, "eps"},
      {"weight decay above 1", [](JobSpec& s) { s.optimizer.weight_decay_ppm = 1'000'001; },
       "weight_decay"},
      {"clip norm above 10^6", [](JobSpec& s) { s.optimizer.clip_norm_ppm = 1'000'000'000'001; },
       "clip_norm"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    JobSpec s = GoodSpec();
    c.mutate(s);
    const Status st = ValidateSpec(s);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find(c.field), std::string::npos)
        << "message '" << st.message() << "' does not name '" << c.field << "'";
  }
}

TEST(JobSpecTest, EdgesThatAreValid) {
  JobSpec s = GoodSpec();
  s.dataset_bytes = trainer::kCorpusBytesMin;  // its last 10% still longer than context + 1
  s.spot_checks = 5;  // H / C = 50 / 10
  s.rounds = kRoundsMax;
  s.workers = kWorkersMax;
  s.optimizer.lr_min_nano = s.optimizer.lr_max_nano;
  s.optimizer.beta1_ppm = 999'999;
  s.optimizer.clip_norm_ppm = 0;
  EXPECT_TRUE(ValidateSpec(s).ok()) << ValidateSpec(s).ToString();
  s.tier = Tier::kNative;
  s.hardware = HardwareClass::kGpuSm100;
  EXPECT_TRUE(ValidateSpec(s).ok()) << ValidateSpec(s).ToString();
}

// 6 × params × tokens + 12 × layers × context × width × tokens flops with
// tokens = H × batch × context, in work units of 10^9 rounded up.
uint64_t HandWorkWu(const JobSpec& s) {
  trainer::ModelConfig m;
  m.vocab = static_cast<int>(s.vocab);
  m.context = static_cast<int>(s.context);
  m.layers = static_cast<int>(s.layers);
  m.heads = static_cast<int>(s.heads);
  m.width = static_cast<int>(s.width);
  const Wide params = static_cast<Wide>(m.ParameterCount());
  const Wide tokens = Wide{s.inner_steps} * s.batch * s.context;
  const Wide flops = 6 * params * tokens + Wide{12} * s.layers * s.context * s.width * tokens;
  const Wide whole = flops / 1'000'000'000;
  return static_cast<uint64_t>(flops % 1'000'000'000 == 0 ? whole : whole + 1);
}

TEST(JobSpecTest, TaskWorkTinyShapeByHand) {
  const JobSpec s = GoodSpec();  // vocab 256, context 64, 2 layers, width 64, batch 8, H 50
  ASSERT_TRUE(ValidateSpec(s).ok());
  trainer::ModelConfig m{.vocab = 256, .context = 64, .layers = 2, .heads = 2, .width = 64};
  // 256·64 + 64·64 + 2·(12·64² + 13·64) + 2·64
  ASSERT_EQ(m.ParameterCount(), 120'576);
  // tokens 50·8·64 = 25,600; 6·120,576·25,600 + 12·2·64·64·25,600
  // = 18,520,473,600 + 2,516,582,400 = 21,037,056,000 flops: 22 wu rounded up.
  EXPECT_EQ(TaskWorkWu(s), 22u);
  EXPECT_EQ(HandWorkWu(s), 22u);
  EXPECT_EQ(TaskCount(s), 1u);
}

TEST(JobSpecTest, TaskWorkLargerShapeByHand) {
  JobSpec s = GoodSpec();
  s.context = 256;
  s.layers = 6;
  s.heads = 6;
  s.width = 384;
  s.batch = 64;
  s.inner_steps = 1000;
  s.checkpoint_interval = 100;
  s.rounds = 7;
  s.workers = 9;
  ASSERT_TRUE(ValidateSpec(s).ok()) << ValidateSpec(s).ToString();
  trainer::ModelConfig m{.vocab = 256, .context = 256, .layers = 6, .heads = 6, .width = 384};
  const uint64_t params = static_cast<uint64_t>(m.ParameterCount());
  const uint64_t tokens = uint64_t{1000} * 64 * 256;
  const uint64_t flops = 6 * params * tokens + uint64_t{12} * 6 * 256 * 384 * tokens;
  EXPECT_EQ(TaskWorkWu(s), (flops + 999'999'999) / 1'000'000'000);
  EXPECT_EQ(TaskWorkWu(s), HandWorkWu(s));
  EXPECT_EQ(TaskCount(s), 63u);
}

TEST(JobSpecTest, TaskWorkLargestShapeDoesNotWrap) {
  JobSpec s = GoodSpec();
  s.vocab = 1 << 16;
  s.context = trainer::kContextMax;
  s.layers = 1;  // more layers at this width pass kParametersMax
  s.heads = 128;
  s.width = trainer::kWidthMax;
  s.batch = trainer::kBatchMax;
  s.inner_steps = kInnerStepsMax;
  s.checkpoint_interval = 8;
  ASSERT_TRUE(ValidateSpec(s).ok()) << ValidateSpec(s).ToString();
  EXPECT_EQ(TaskWorkWu(s), HandWorkWu(s));
  EXPECT_GT(TaskWorkWu(s), uint64_t{1} << 40);
}

TEST(JobSpecTest, HardwareClassAndTierNamesRoundTrip) {
  for (uint8_t i = 1; i <= kHardwareClassMax; ++i) {
    const auto c = static_cast<HardwareClass>(i);
    Result<HardwareClass> parsed = ParseHardwareClass(HardwareClassName(c));
    ASSERT_TRUE(parsed.ok()) << HardwareClassName(c);
    EXPECT_EQ(*parsed, c);
  }
  EXPECT_EQ(HardwareClassName(HardwareClass::kGpuSm90), "gpu-sm90");
  for (const char* bad : {"", "gpu", "GPU-SM90", "sm90", "unknown", "cpu "}) {
    Result<HardwareClass> parsed = ParseHardwareClass(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("gpu-sm100"), std::string::npos);
  }
  for (Tier t : {Tier::kExact, Tier::kNative}) {
    Result<Tier> parsed = ParseTier(TierName(t));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, t);
  }
  for (const char* bad : {"", "Exact", "fast", "native2"}) {
    EXPECT_FALSE(ParseTier(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace agora::market
