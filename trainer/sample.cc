#include "trainer/sample.h"

#include <vector>

#include "kernels/ops.h"
#include "trainer/data.h"
#include "trainer/model.h"
#include "trainer/rng.h"

namespace agora::trainer {

Result<std::string> Generate(const ModelConfig& config, std::span<const float> params,
                             std::string_view prompt, const SampleOptions& options,
                             kernels::Backend backend, const std::function<void(char)>& on_byte) {
  if (options.tokens < 0 || options.tokens > kGenerateTokensMax) {
    return Status::InvalidArgument("--tokens must be in [0, " +
                                   std::to_string(kGenerateTokensMax) + "]");
  }
  if (!(options.temperature >= 0.0f) || options.temperature > 100.0f) {
    return Status::InvalidArgument("--temperature must be in [0, 100]");
  }
  if (config.vocab != kByteVocab) {
    return Status::InvalidArgument("model vocabulary is not byte-level (256)");
  }
  Gpt model(config, backend);
  Xoshiro256 rng(options.seed);
  // An empty prompt starts from a newline, as the corpus's passages do.
  std::vector<int32_t> context;
  for (char c : prompt.empty() ? std::string_view("\n") : prompt) context.push_back(TokenOfByte(c));
  std::vector<float> scaled(config.vocab), probs(config.vocab);
  std::string out;
  for (int n = 0; n < options.tokens; ++n) {
    const int window = std::min<int>(static_cast<int>(context.size()), config.context);
    const int32_t* tokens = context.data() + context.size() - window;
    model.Forward(params.data(), tokens, nullptr, 1, window);
    const float* logits = model.logits() + static_cast<size_t>(window - 1) * config.vocab;
    int32_t next = 0;
    if (options.temperature == 0.0f) {
      for (int i = 1; i < config.vocab; ++i) {
        if (logits[i] > logits[next]) next = i;
      }
    } else {
      for (int i = 0; i < config.vocab; ++i) scaled[i] = logits[i] / options.temperature;
      kernels::SoftmaxForward(backend, probs.data(), scaled.data(), 1, config.vocab);
      float u = rng.NextFloat();
      float cumulative = 0.0f;
      next = config.vocab - 1;
      for (int i = 0; i < config.vocab; ++i) {
        cumulative = cumulative + probs[i];
        if (u < cumulative) {
          next = i;
          break;
        }
      }
    }
    context.push_back(next);
    out.push_back(ByteOfToken(next));
    if (on_byte) on_byte(ByteOfToken(next));
  }
  return out;
}

}  // namespace agora::trainer
