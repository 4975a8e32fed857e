// The float32 ops a GPT training step and a validator's replay run on.
//
// Every op has a written order of floating-point operations
// (docs/determinism.md) and implementations that agree bit for bit:
// Backend::kReference (plain loops, the specification), Backend::kCpu
// (AVX-512/AVX2 + FMA chosen at run time, threads over independent outputs),
// and Backend::kCuda (cuda/exact_plan.h: one GPU thread per output, the
// reference's order; host or device pointers). Backend::kCudaNative is the
// exception: its matmuls are cuBLAS TF32, the same bits on one GPU model
// only. Shapes are explicit, tensors are
// dense row-major float arrays, llm.c style:
//   activations (batch, seq_len, channels) = rows x channels with
//   rows = batch * seq_len; linear weights (out_dim, in_dim); attention
//   input qkv (batch, seq_len, 3 * channels) laid out [q | k | v], head h
//   using channels [h * head_dim, (h + 1) * head_dim) of each part.
//
// Conventions:
//   - Forward ops overwrite their outputs.
//   - Backward ops ADD into their gradient outputs (the caller zeroes them
//     once per step), and a null gradient pointer skips that gradient.
//   - Outputs must not alias inputs unless an op says so.
//   - Shape errors and out-of-range tokens are programming errors and fail
//     an AGORA_CHECK; so is Backend::kCuda without a usable GPU (check
//     kernels::CudaOpsReady() first).
//
// Tracing: with a kernels::ScopedOpTrace installed on the calling thread
// (kernels/trace.h), every call here is also recorded with the hashes of its
// inputs and outputs; without one, an op pays one null-pointer check.
//
// Thread safety: ops may run concurrently from several threads on disjoint
// outputs; the kCpu backend's worker pool serialises their parallel parts.
#ifndef AGORA_KERNELS_OPS_H_
#define AGORA_KERNELS_OPS_H_

#include <cstdint>

#include "kernels/backend.h"

namespace agora::kernels {

inline constexpr float kLayerNormEps = 1e-5f;

// Elements per chunk of the whole-array reductions (Sum, GlobalNorm): each
// chunk is reduced on its own, then chunk results are added in ascending
// order. Part of the replay contract; a multiple of 16.
inline constexpr int64_t kReduceChunk = 16384;

// ---- matmul (linear layer) ----

// out[r, o] = sum_k inp[r, k] * weight[o, k] (+ bias[o]).
// inp (rows, in_dim), weight (out_dim, in_dim), bias (out_dim) or null,
// out (rows, out_dim).
void MatmulForward(Backend backend, float* out, const float* inp, const float* weight,
                   const float* bias, int rows, int in_dim, int out_dim);

// dinp += dout . weight; dweight += dout^T . inp; dbias += column sums of dout.
// Any of dinp, dweight, dbias may be null.
void MatmulBackward(Backend backend, float* dinp, float* dweight, float* dbias,
                    const float* dout, const float* inp, const float* weight, int rows, int in_dim,
                    int out_dim);

// ---- bias ----

// out[r, c] = inp[r, c] + bias[c]. out may alias inp.
void BiasForward(Backend backend, float* out, const float* inp, const float* bias, int rows,
                 int channels);

// dbias[c] += sum_r dout[r, c].
void BiasBackward(Backend backend, float* dbias, const float* dout, int rows, int channels);

// ---- layer norm ----

// Per row: mean, rstd = 1 / sqrt(var + kLayerNormEps), out = norm * weight + bias.
// mean and rstd (rows) are saved for the backward pass.
void LayerNormForward(Backend backend, float* out, float* mean, float* rstd, const float* inp,
                      const float* weight, const float* bias, int rows, int channels);

void LayerNormBackward(Backend backend, float* dinp, float* dweight, float* dbias,
                       const float* dout, const float* inp, const float* weight, const float* mean,
                       const float* rstd, int rows, int channels);

// ---- GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) ----

void GeluForward(Backend backend, float* out, const float* inp, int64_t n);
void GeluBackward(Backend backend, float* dinp, const float* inp, const float* dout, int64_t n);

// ---- residual ----

// out = a + b. out may alias a or b.
void ResidualForward(Backend backend, float* out, const float* a, const float* b, int64_t n);
// da += dout; db += dout.
void ResidualBackward(Backend backend, float* da, float* db, const float* dout, int64_t n);

// ---- causal multi-head self-attention (composed, llm.c layout) ----

// qkv (batch, seq_len, 3 * channels); out (batch, seq_len, channels);
// att (batch, heads, seq_len, seq_len) receives the softmax probabilities
// (zero above the diagonal) for the backward pass. channels % heads == 0.
void AttentionForward(Backend backend, float* out, float* att, const float* qkv, int batch,
                      int seq_len, int channels, int heads);

// dqkv += gradient of out with respect to qkv, given dout, qkv and att.
void AttentionBackward(Backend backend, float* dqkv, const float* dout, const float* qkv,
                       const float* att, int batch, int seq_len, int channels, int heads);

// ---- softmax and cross-entropy over a vocabulary ----

// probs[r, :] = softmax(logits[r, :]).
void SoftmaxForward(Backend backend, float* probs, const float* logits, int rows, int vocab);

// probs = softmax(logits); losses[r] = log(sum exp(logits - max)) - (logits[r, t] - max)
// with t = targets[r] in [0, vocab).
void CrossEntropyForward(Backend backend, float* losses, float* probs, const float* logits,
                         const int32_t* targets, int rows, int vocab);

// dlogits[r, i] += (probs[r, i] - [i == targets[r]]) * dlosses[r].
void CrossEntropyBackward(Backend backend, float* dlogits, const float* dlosses,
                          const float* probs, const int32_t* targets, int rows, int vocab);

// ---- token + position embedding ----

// out[b, t, :] = wte[tokens[b, t], :] + wpe[t, :]; wte (vocab, channels),
// wpe (>= seq_len, channels); tokens in [0, vocab).
void EmbeddingForward(Backend backend, float* out, const int32_t* tokens, const float* wte,
                      const float* wpe, int batch, int seq_len, int channels, int vocab);

// dwte[tokens[b, t], :] += dout[b, t, :] in ascending (b, t) order, dwpe[t, :] +=
// dout[b, t, :] in ascending b: a fixed order per row, no scatter races.
void EmbeddingBackward(Backend backend, float* dwte, float* dwpe, const float* dout,
                       const int32_t* tokens, int batch, int seq_len, int channels, int vocab);

// ---- optimizer and whole-array reductions ----

struct AdamWConfig {
  float learning_rate = 3e-4f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // decoupled: lr * weight_decay * param
};

// One AdamW step (step >= 1, counted from 1) over n parameters; m and v are
// the moment buffers, updated in place.
void AdamWUpdate(Backend backend, float* params, const float* grads, float* m, float* v,
                 int64_t n, const AdamWConfig& config, int64_t step);

// Sum of x[0..n) in the chunked order (kReduceChunk).
float Sum(Backend backend, const float* x, int64_t n);

// x[i] = value for i < n. Moves no float through arithmetic, so it is not
// traced: it stands for std::fill on memory that may be the GPU's
// (kernels/buffer.h).
void Fill(Backend backend, float* x, int64_t n, float value);

// sqrt(sum of g^2) over g[0..n) in the chunked order.
float GlobalNorm(Backend backend, const float* grads, int64_t n);

// Global gradient-norm clipping: returns the norm before clipping; when it
// exceeds max_norm, every gradient is multiplied by max_norm / norm.
float ClipGradNorm(Backend backend, float* grads, int64_t n, float max_norm);

}  // namespace agora::kernels

#endif  // AGORA_KERNELS_OPS_H_
