// Shared fixtures of the trainer tests: small configs and the corpus.
#ifndef AGORA_TESTS_TRAINER_TRAINER_TEST_UTIL_H_
#define AGORA_TESTS_TRAINER_TRAINER_TEST_UTIL_H_

#include <gtest/gtest.h>

#include "trainer/config.h"
#include "trainer/data.h"

namespace agora::trainer {

// A model small enough for exhaustive checks under AddressSanitizer.
inline TrainConfig MicroConfig() {
  TrainConfig config;
  config.model = {.vocab = 256, .context = 16, .layers = 2, .heads = 2, .width = 16};
  config.batch = 2;
  config.optimizer.warmup_steps = 2;
  config.optimizer.total_steps = 20;
  config.seed = 7;
  return config;
}

// The first `bytes` of tinyshakespeare (the whole file with 0).
inline Corpus ShakespeareCorpus(size_t bytes = 0) {
  auto whole = Corpus::Load(DefaultCorpusPath());
  EXPECT_TRUE(whole.ok()) << whole.status().ToString();
  if (bytes == 0) return std::move(whole).value();
  std::string text(whole->train().substr(0, bytes));
  return std::move(Corpus::FromBytes(std::move(text))).value();
}

}  // namespace agora::trainer

#endif  // AGORA_TESTS_TRAINER_TRAINER_TEST_UTIL_H_
