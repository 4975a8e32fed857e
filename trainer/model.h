// Gpt: a decoder-only transformer on the deterministic kernels (llm.c's
// GPT-2 layout): token + position embedding; per layer a pre-norm block with
// causal multi-head attention and a GELU MLP; a final layer norm; an output
// head tied to the token embedding.
//
// Parameters live in one flat float32 array owned by the caller (TrainState),
// in the fixed tensor order of ParameterLayout; Gpt owns the gradients (same
// layout) and the activations of the last Forward. Every float operation goes
// through kernels/ops.h, so the same parameters and tokens give the same
// bits on any machine, thread count and Backend (except kCudaNative, whose
// bits repeat on one GPU model only).
//
// Thread safety: a Gpt is not thread-safe; use one per thread.
#ifndef AGORA_TRAINER_MODEL_H_
#define AGORA_TRAINER_MODEL_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/buffer.h"
#include "trainer/config.h"

namespace agora::trainer {

// One named tensor of the flat parameter array.
struct TensorInfo {
  std::string name;
  int64_t offset = 0;
  int64_t size = 0;
  bool decayed = false;  // weight decay applies (matrices and embeddings)
};

// Offsets of every tensor in the flat parameter (and gradient) array, in
// llm.c's order: wte, wpe, ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w,
// ln2b, fcw, fcb, fcprojw, fcprojb (each stacked over layers), lnfw, lnfb.
struct ParameterLayout {
  explicit ParameterLayout(const ModelConfig& config);
  int64_t wte, wpe, ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw, fcb, fcprojw,
      fcprojb, lnfw, lnfb;
  int64_t total;
  std::vector<TensorInfo> tensors;
};

// Fills `params` with the deterministic initialization for `seed`: GPT-2
// scales (std 0.02, residual projections 0.02 / sqrt(2 * layers)) drawn from
// a uniform distribution of the same standard deviation, each tensor from its
// own splitmix64 stream; biases 0, norm weights 1.
// REQUIRES: params.size() == config.ParameterCount()
void InitParameters(const ModelConfig& config, uint64_t seed, std::span<float> params);

class Gpt {
 public:
  Gpt(const ModelConfig& config, kernels::Backend backend);

  const ModelConfig& config() const { return config_; }
  const ParameterLayout& layout() const { return layout_; }
  kernels::Backend backend() const { return backend_; }

  // Runs the model on tokens (batch, seq_len). With targets, returns the mean
  // cross-entropy loss in nats per token; without (null), returns 0 and only
  // the logits are valid. Keeps the activations for Backward.
  // REQUIRES: 1 <= seq_len <= context; tokens and targets in [0, vocab)
  float Forward(const float* params, const int32_t* tokens, const int32_t* targets, int batch,
                int seq_len);

  // Sets every gradient to zero.
  void ZeroGrad();

  // Adds the gradient of (loss * loss_scale) for the last Forward (which had
  // targets) into grads().
  void Backward(const float* params, float loss_scale);

  // In the backend's memory (kernels/buffer.h): on a GPU, reading them on
  // the host moves their pages.
  std::span<float> grads() { return grads_.span(); }
  // Logits (batch, seq_len, vocab) of the last Forward.
  const float* logits() const { return logits_.data(); }

 private:
  void Resize(int batch, int seq_len);
  // Every float tensor the model owns.
  std::vector<kernels::FloatBuffer*> Buffers();
  void BackwardLayer(const float* params, int layer, float* dres_out, float* dres_in);

  ModelConfig config_;
  ParameterLayout layout_;
  kernels::Backend backend_;
  int batch_ = 0;
  int seq_len_ = 0;
  bool have_targets_ = false;
  kernels::FloatBuffer grads_;

  // Activations of the last Forward; per-layer ones are stacked over layers.
  // Float tensors live in the backend's memory (on a GPU, the GPU's).
  std::vector<int32_t> tokens_, targets_;
  kernels::FloatBuffer encoded_, ln1_, ln1_mean_, ln1_rstd_, qkv_, atty_, att_, attproj_,
      residual2_, ln2_, ln2_mean_, ln2_rstd_, fch_, fch_gelu_, fcproj_, residual3_, lnf_,
      lnf_mean_, lnf_rstd_, logits_, probs_, losses_;
  // Gradient scratch of one layer, reused layer by layer in Backward.
  kernels::FloatBuffer dres_a_, dres_b_, dres2_, dsmall_, dln_, dqkv_, datty_, dfch_, dfch_gelu_,
      dlogits_, dlosses_;
};

}  // namespace agora::trainer

#endif  // AGORA_TRAINER_MODEL_H_
