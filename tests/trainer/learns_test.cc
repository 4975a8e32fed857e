// It learns: the default small config trained on tinyshakespeare on one
// thread reaches a validation loss below 2.0 nats per byte. Labelled `long`.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "kernels/parallel.h"
#include "trainer/train_state.h"
#include "tests/trainer/trainer_test_util.h"

namespace agora::trainer {
namespace {

constexpr int kSteps = 300;
constexpr int kEvalEvery = 50;
constexpr int kEvalBatches = 8;
constexpr float kTargetLoss = 2.0f;

TEST(LearnsTest, SmallConfigFallsBelowTwoNatsPerByte) {
  kernels::SetThreadCount(1);
  TrainConfig config = PresetConfig("small").value();
  config.optimizer.total_steps = kSteps;
  if (const char* e = std::getenv("TUNE_LR")) config.optimizer.lr_max = std::atof(e);
  if (const char* e = std::getenv("TUNE_BATCH")) config.batch = std::atoi(e);
  int steps = kSteps;
  if (const char* e = std::getenv("TUNE_STEPS")) steps = std::atoi(e);
  config.optimizer.total_steps = steps;
  config.optimizer.lr_min = config.optimizer.lr_max / 10;
  Corpus corpus = ShakespeareCorpus();
  auto trainer = Trainer::Create(TrainState::Fresh(config, corpus.hash()), corpus,
                                 kernels::Backend::kCpu);
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  float first_val = trainer->EvaluateValidation(kEvalBatches);
  float val = first_val;
  for (int step = 1; step <= steps; ++step) {
    StepStats stats = trainer->Step();
    ASSERT_TRUE(std::isfinite(stats.loss)) << "step " << step;
    if (step % kEvalEvery == 0) {
      val = trainer->EvaluateValidation(kEvalBatches);
      std::printf("step %d train %.4f val %.4f\n", step, stats.loss, val);
      if (val < kTargetLoss) break;
    }
  }
  EXPECT_NEAR(first_val, 5.545f, 0.05f);
  EXPECT_LT(val, kTargetLoss) << "reproduce: ctest -R LearnsTest";
}

}  // namespace
}  // namespace agora::trainer
