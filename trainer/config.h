// Configuration of a training job: the model's shape, the optimizer and its
// schedule, and the named presets the CLI and the benchmark use.
//
// Every field that changes a single bit of the training is here, and all of
// it goes into the checkpoint, so a checkpoint alone says how to continue.
//
// Thread safety: plain values.
#ifndef AGORA_TRAINER_CONFIG_H_
#define AGORA_TRAINER_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace agora::trainer {

// Bounds on a model's shape, so that a checkpoint from an untrusted peer
// cannot make us allocate without limit.
inline constexpr int kVocabMax = 1 << 16;
inline constexpr int kContextMax = 4096;
inline constexpr int kLayersMax = 128;
inline constexpr int kHeadsMax = 128;
inline constexpr int kWidthMax = 8192;
inline constexpr int kBatchMax = 4096;
inline constexpr int64_t kParametersMax = int64_t{1} << 31;

// A decoder-only transformer (GPT-2 layout, llm.c order of tensors).
struct ModelConfig {
  int vocab = 256;    // byte-level tokenizer: one token per byte
  int context = 128;  // longest sequence (rows of the position embedding)
  int layers = 4;
  int heads = 4;
  int width = 128;  // channels; width % heads == 0

  // Returns InvalidArgument naming the bad field.
  Status Validate() const;
  // Number of float32 parameters (the output head is tied to the token embedding).
  int64_t ParameterCount() const;
  std::string ToString() const;
  friend bool operator==(const ModelConfig&, const ModelConfig&) = default;
};

// AdamW with linear warmup and cosine decay, and global-norm clipping.
struct OptimizerConfig {
  float lr_max = 3e-3f;
  float lr_min = 3e-4f;
  int64_t warmup_steps = 50;
  int64_t total_steps = 1000;  // the cosine reaches lr_min here and stays there
  float beta1 = 0.9f;
  float beta2 = 0.99f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;  // on matrices only, never on biases or norms
  float clip_norm = 1.0f;     // 0 disables clipping
  friend bool operator==(const OptimizerConfig&, const OptimizerConfig&) = default;
};

// Which kernels a state is trained with (docs/cuda.md). The exact tier gives
// the same bits on every backend that implements it (the reference, the fast
// CPU kernels, CUDA). The native tier runs the matmuls on cuBLAS's TF32
// tensor cores: its bits repeat on one hardware class only, so the class is
// part of the state, and of its checkpoint (trainer/checkpoint.h).
enum class KernelTier : uint8_t { kExact = 1, kNative = 2 };
std::string_view KernelTierName(KernelTier tier);

// Hardware class numbers as market::HardwareClass defines them (the trainer
// sits below the market and keeps the number only). 0 means "any": the
// exact tier's value.
inline constexpr uint8_t kHardwareAny = 0;
inline constexpr uint8_t kHardwareCpu = 1;
inline constexpr uint8_t kHardwareClassNumberMax = 4;

struct TrainConfig {
  ModelConfig model;
  OptimizerConfig optimizer;
  int batch = 16;     // sequences per step; each has model.context tokens
  uint64_t seed = 1;  // job seed: initialization and batch selection
  KernelTier tier = KernelTier::kExact;
  // kHardwareAny in the exact tier; the class a native state is trained on
  // (1..kHardwareClassNumberMax; on kHardwareCpu the native tier is the CPU's
  // exact kernels, as no faster CPU kernels exist).
  uint8_t hardware_class = kHardwareAny;
  Status Validate() const;
  friend bool operator==(const TrainConfig&, const TrainConfig&) = default;
};

// Named presets:
//   tiny         2 layers, 2 heads, width 64, context 64, batch 8 (tests)
//   small        4 layers, 4 heads, width 128, context 128, batch 16 (default)
//   shakespeare  6 layers, 6 heads, width 384, context 256, batch 64 (nanoGPT
//                shakespeare-char baseline)
//   gpt2         12 layers, 12 heads, width 768, context 1024, batch 8
//                (GPT-2 small's shape over bytes: 86.0 M parameters)
Result<TrainConfig> PresetConfig(std::string_view name);
std::vector<std::string> PresetNames();

// The learning rate of the step with 0-based index `step`: linear warmup from
// lr_max / warmup_steps to lr_max, then cosine decay to lr_min at
// total_steps. Computed in double with a cosine built from + - * / only
// (libm's cos may differ between machines) and rounded once to float.
float LearningRate(const OptimizerConfig& config, int64_t step);

// cos(x) for x in [0, pi], from + - * / only: the same bits everywhere.
double DeterministicCos(double x);

}  // namespace agora::trainer

#endif  // AGORA_TRAINER_CONFIG_H_
