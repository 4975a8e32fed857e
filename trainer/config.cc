#include "trainer/config.h"

#include <cstdio>

namespace agora::trainer {
namespace {

constexpr double kPi = 3.14159265358979323846;

Status CheckRange(std::string_view name, int64_t value, int64_t low, int64_t high) {
  if (value < low || value > high) {
    return Status::InvalidArgument(std::string(name) + " = " + std::to_string(value) +
                                   " is outside [" + std::to_string(low) + ", " +
                                   std::to_string(high) + "]");
  }
  return Status::Ok();
}

}  // namespace

Status ModelConfig::Validate() const {
  AGORA_RETURN_IF_ERROR(CheckRange("vocab", vocab, 2, kVocabMax));
  AGORA_RETURN_IF_ERROR(CheckRange("context", context, 1, kContextMax));
  AGORA_RETURN_IF_ERROR(CheckRange("layers", layers, 1, kLayersMax));
  AGORA_RETURN_IF_ERROR(CheckRange("heads", heads, 1, kHeadsMax));
  AGORA_RETURN_IF_ERROR(CheckRange("width", width, 1, kWidthMax));
  if (width % heads != 0) {
    return Status::InvalidArgument("width " + std::to_string(width) +
                                   " is not a multiple of heads " + std::to_string(heads));
  }
  if (ParameterCount() > kParametersMax) {
    return Status::InvalidArgument("model has more than kParametersMax parameters");
  }
  return Status::Ok();
}

int64_t ModelConfig::ParameterCount() const {
  const int64_t c = width, l = layers;
  int64_t per_layer = 2 * c + 3 * c * c + 3 * c + c * c + c + 2 * c + 4 * c * c + 4 * c +
                      4 * c * c + c;
  return int64_t{vocab} * c + int64_t{context} * c + l * per_layer + 2 * c;
}

std::string ModelConfig::ToString() const {
  char buf[160];
  std::snprintf(buf, sizeof(buf),
                "vocab %d, context %d, layers %d, heads %d, width %d (%lld parameters)", vocab,
                context, layers, heads, width, static_cast<long long>(ParameterCount()));
  return buf;
}

Status TrainConfig::Validate() const {
  AGORA_RETURN_IF_ERROR(model.Validate());
  AGORA_RETURN_IF_ERROR(CheckRange("batch", batch, 1, kBatchMax));
  AGORA_RETURN_IF_ERROR(CheckRange("warmup_steps", optimizer.warmup_steps, 0, INT64_MAX / 2));
  AGORA_RETURN_IF_ERROR(CheckRange("total_steps", optimizer.total_steps, 1, INT64_MAX / 2));
  if (!(optimizer.lr_max >= 0.0f) || !(optimizer.lr_min >= 0.0f) ||
      !(optimizer.clip_norm >= 0.0f)) {
    return Status::InvalidArgument("learning rates and clip norm must be >= 0");
  }
  if (tier == KernelTier::kExact) {
    if (hardware_class != kHardwareAny) {
      return Status::InvalidArgument("an exact-tier state runs on any hardware: its hardware "
                                     "class must be 0, not " +
                                     std::to_string(hardware_class));
    }
  } else if (tier == KernelTier::kNative) {
    AGORA_RETURN_IF_ERROR(
        CheckRange("hardware_class", hardware_class, kHardwareCpu, kHardwareClassNumberMax));
  } else {
    return Status::InvalidArgument("unknown kernel tier " +
                                   std::to_string(static_cast<unsigned>(tier)));
  }
  return Status::Ok();
}

std::string_view KernelTierName(KernelTier tier) {
  switch (tier) {
    case KernelTier::kExact:
      return "exact";
    case KernelTier::kNative:
      return "native";
  }
  return "unknown";
}

Result<TrainConfig> PresetConfig(std::string_view name) {
  TrainConfig config;
  if (name == "tiny") {
    config.model = {.vocab = 256, .context = 64, .layers = 2, .heads = 2, .width = 64};
    config.batch = 8;
  } else if (name == "small") {
    config.model = {.vocab = 256, .context = 128, .layers = 4, .heads = 4, .width = 128};
    config.batch = 16;
  } else if (name == "shakespeare") {
    config.model = {.vocab = 256, .context = 256, .layers = 6, .heads = 6, .width = 384};
    config.batch = 64;
    config.optimizer.lr_max = 1e-3f;
    config.optimizer.lr_min = 1e-4f;
    config.optimizer.warmup_steps = 100;
  } else if (name == "gpt2") {
    // GPT-2 small's shape (12 layers, 12 heads, width 768, context 1024)
    // over bytes: 86.0 M parameters instead of 124 M, as the embedding has
    // 256 rows instead of 50,257.
    config.model = {.vocab = 256, .context = 1024, .layers = 12, .heads = 12, .width = 768};
    config.batch = 8;
    config.optimizer.lr_max = 6e-4f;
    config.optimizer.lr_min = 6e-5f;
    config.optimizer.warmup_steps = 700;
  } else {
    return Status::InvalidArgument("unknown config '" + std::string(name) +
                                   "'; choose one of tiny, small, shakespeare, gpt2");
  }
  return config;
}

std::vector<std::string> PresetNames() { return {"tiny", "small", "shakespeare", "gpt2"}; }

double DeterministicCos(double x) {
  // Reduce to [0, pi/2] with cos(x) = -cos(pi - x), then the Taylor series to
  // x^26 by Horner: the truncation error there is below 1e-19.
  double sign = 1.0;
  if (x > kPi / 2) {
    x = kPi - x;
    sign = -1.0;
  }
  const double x2 = x * x;
  double term = 1.0;
  constexpr int kTermsMax = 13;
  for (int k = kTermsMax; k >= 1; --k) {
    term = 1.0 - x2 / static_cast<double>((2 * k - 1) * (2 * k)) * term;
  }
  return sign * term;
}

float LearningRate(const OptimizerConfig& config, int64_t step) {
  if (step < config.warmup_steps) {
    return static_cast<float>(static_cast<double>(config.lr_max) *
                              static_cast<double>(step + 1) /
                              static_cast<double>(config.warmup_steps));
  }
  int64_t decay_steps = config.total_steps - config.warmup_steps;
  if (decay_steps < 1) decay_steps = 1;
  double progress =
      static_cast<double>(step - config.warmup_steps) / static_cast<double>(decay_steps);
  if (progress > 1.0) progress = 1.0;
  double coeff = 0.5 * (1.0 + DeterministicCos(kPi * progress));
  double lr = static_cast<double>(config.lr_min) +
              coeff * (static_cast<double>(config.lr_max) - static_cast<double>(config.lr_min));
  return static_cast<float>(lr);
}

}  // namespace agora::trainer
