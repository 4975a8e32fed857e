// It learns: the default small config (4 layers, 4 heads, width 128, context
// 128, batch 16) trained on tinyshakespeare on one thread reaches a
// validation loss below 2.0 nats per byte. Stops at the first evaluation
// below the target. Labelled `long`.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "kernels/parallel.h"
#include "trainer/train_state.h"
#include "tests/trainer/trainer_test_util.h"

namespace agora::trainer {
namespace {

constexpr int kStepsMax = 1000;
constexpr int kEvalEvery = 50;
constexpr int kEvalBatches = 8;
constexpr float kTargetLoss = 2.0f;

TEST(LearnsTest, SmallConfigFallsBelowTwoNatsPerByte) {
  kernels::SetThreadCount(1);
  TrainConfig config = PresetConfig("small").value();
  config.optimizer.total_steps = kStepsMax;
  Corpus corpus = ShakespeareCorpus();
  auto trainer = Trainer::Create(TrainState::Fresh(config, corpus.hash()), corpus,
                                 kernels::Backend::kCpu);
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  float first_val = trainer->EvaluateValidation(kEvalBatches);
  EXPECT_NEAR(first_val, std::log(256.0f), 0.05f);
  float val = first_val;
  for (int step = 1; step <= kStepsMax; ++step) {
    StepStats stats = trainer->Step();
    ASSERT_TRUE(std::isfinite(stats.loss)) << "step " << step;
    if (step % kEvalEvery == 0) {
      val = trainer->EvaluateValidation(kEvalBatches);
      std::printf("step %d train %.4f val %.4f\n", step, stats.loss, val);
      std::fflush(stdout);
      if (val < kTargetLoss) break;
    }
  }
  EXPECT_LT(val, kTargetLoss) << "reproduce: ctest --test-dir build/default -R LearnsTest";
}

}  // namespace
}  // namespace agora::trainer
