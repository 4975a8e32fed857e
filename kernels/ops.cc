// Public entry points: check shapes once, then run the chosen backend's
// implementation (the "launcher" of STYLE.md's kernel layout).
#include "kernels/ops.h"

#include <cmath>

#include "common/check.h"
#include "kernels/op_table.h"
#include "kernels/traced_ops.h"

namespace agora::kernels {
namespace {

const OpTable* g_override[4] = {};

const OpTable& Table(Backend backend) {
  if (const OpTable* table = g_override[static_cast<int>(backend)]) [[unlikely]] return *table;
  switch (backend) {
    case Backend::kReference:
      return ReferenceOpTable();
    case Backend::kCpu: {
      const OpTable* table = nullptr;
      switch (ActiveCpuIsa()) {
        case CpuIsa::kAvx512:
          table = cpu::Avx512OpTable();
          break;
        case CpuIsa::kAvx2:
          table = cpu::Avx2OpTable();
          break;
        case CpuIsa::kScalar:
          break;
      }
      // Without AVX2+FMA the fast path is the reference itself, which is
      // correct by definition, only slower.
      return table != nullptr ? *table : ReferenceOpTable();
    }
    case Backend::kCuda:
#if AGORA_HAVE_CUDA
      return *cuda::CudaOpTable();
#else
      break;
#endif
    case Backend::kCudaNative:
#if AGORA_HAVE_CUDA
      if (const OpTable* table = cuda::CudaNativeOpTable()) return *table;
#endif
      AGORA_CHECK_MSG(false, "Backend::kCudaNative in a build without cuBLAS; callers check "
                             "kernels::CudaNativeReady() first");
      break;
  }
  AGORA_CHECK_MSG(false, "Backend::kCuda in a build without CUDA (" AGORA_CUDA_NOTE
                         "); callers check kernels::CudaOpsReady() first");
  return ReferenceOpTable();
}

void CheckDims(int a, int b) { AGORA_CHECK(a >= 0 && b >= 0); }

}  // namespace

namespace internal {
void SetOpTableOverrideForTesting(Backend backend, const OpTable* table) {
  g_override[static_cast<int>(backend)] = table;
}
const OpTable& ActiveOpTable(Backend backend) { return Table(backend); }
}  // namespace internal

void MatmulForward(Backend backend, float* out, const float* inp, const float* weight,
                   const float* bias, int rows, int in_dim, int out_dim) {
  CheckDims(rows, in_dim);
  AGORA_CHECK(out_dim >= 0);
  AGORA_CHECK(out != nullptr && inp != nullptr && weight != nullptr);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedMatmulForward(*trace, backend, out, inp, weight, bias, rows, in_dim,
                                         out_dim);
  }
  Table(backend).matmul_forward(out, inp, weight, bias, rows, in_dim, out_dim);
}

void MatmulBackward(Backend backend, float* dinp, float* dweight, float* dbias,
                    const float* dout, const float* inp, const float* weight, int rows, int in_dim,
                    int out_dim) {
  CheckDims(rows, in_dim);
  AGORA_CHECK(out_dim >= 0);
  AGORA_CHECK(dout != nullptr);
  AGORA_CHECK(dinp == nullptr || weight != nullptr);
  AGORA_CHECK(dweight == nullptr || inp != nullptr);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedMatmulBackward(*trace, backend, dinp, dweight, dbias, dout, inp, weight,
                                          rows, in_dim, out_dim);
  }
  Table(backend).matmul_backward(dinp, dweight, dbias, dout, inp, weight, rows, in_dim, out_dim);
}

void BiasForward(Backend backend, float* out, const float* inp, const float* bias, int rows,
                 int channels) {
  CheckDims(rows, channels);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedBiasForward(*trace, backend, out, inp, bias, rows, channels);
  }
  Table(backend).bias_forward(out, inp, bias, rows, channels);
}

void BiasBackward(Backend backend, float* dbias, const float* dout, int rows, int channels) {
  CheckDims(rows, channels);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedBiasBackward(*trace, backend, dbias, dout, rows, channels);
  }
  Table(backend).bias_backward(dbias, dout, rows, channels);
}

void LayerNormForward(Backend backend, float* out, float* mean, float* rstd, const float* inp,
                      const float* weight, const float* bias, int rows, int channels) {
  CheckDims(rows, channels);
  AGORA_CHECK(channels > 0);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedLayerNormForward(*trace, backend, out, mean, rstd, inp, weight, bias,
                                            rows, channels);
  }
  Table(backend).layernorm_forward(out, mean, rstd, inp, weight, bias, rows, channels);
}

void LayerNormBackward(Backend backend, float* dinp, float* dweight, float* dbias,
                       const float* dout, const float* inp, const float* weight, const float* mean,
                       const float* rstd, int rows, int channels) {
  CheckDims(rows, channels);
  AGORA_CHECK(channels > 0);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedLayerNormBackward(*trace, backend, dinp, dweight, dbias, dout, inp,
                                             weight, mean, rstd, rows, channels);
  }
  Table(backend).layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, rows,
                                    channels);
}

void GeluForward(Backend backend, float* out, const float* inp, int64_t n) {
  AGORA_CHECK(n >= 0);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedGeluForward(*trace, backend, out, inp, n);
  }
  Table(backend).gelu_forward(out, inp, n);
}

void GeluBackward(Backend backend, float* dinp, const float* inp, const float* dout, int64_t n) {
  AGORA_CHECK(n >= 0);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedGeluBackward(*trace, backend, dinp, inp, dout, n);
  }
  Table(backend).gelu_backward(dinp, inp, dout, n);
}

void ResidualForward(Backend backend, float* out, const float* a, const float* b, int64_t n) {
  AGORA_CHECK(n >= 0);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedResidualForward(*trace, backend, out, a, b, n);
  }
  Table(backend).residual_forward(out, a, b, n);
}

void ResidualBackward(Backend backend, float* da, float* db, const float* dout, int64_t n) {
  AGORA_CHECK(n >= 0);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedResidualBackward(*trace, backend, da, db, dout, n);
  }
  Table(backend).residual_backward(da, db, dout, n);
}

void AttentionForward(Backend backend, float* out, float* att, const float* qkv, int batch,
                      int seq_len, int channels, int heads) {
  CheckDims(batch, seq_len);
  AGORA_CHECK(heads > 0 && channels > 0 && channels % heads == 0);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedAttentionForward(*trace, backend, out, att, qkv, batch, seq_len,
                                            channels, heads);
  }
  Table(backend).attention_forward(out, att, qkv, batch, seq_len, channels, heads);
}

void AttentionBackward(Backend backend, float* dqkv, const float* dout, const float* qkv,
                       const float* att, int batch, int seq_len, int channels, int heads) {
  CheckDims(batch, seq_len);
  AGORA_CHECK(heads > 0 && channels > 0 && channels % heads == 0);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedAttentionBackward(*trace, backend, dqkv, dout, qkv, att, batch, seq_len,
                                             channels, heads);
  }
  Table(backend).attention_backward(dqkv, dout, qkv, att, batch, seq_len, channels, heads);
}

void SoftmaxForward(Backend backend, float* probs, const float* logits, int rows, int vocab) {
  CheckDims(rows, vocab);
  AGORA_CHECK(vocab > 0);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedSoftmaxForward(*trace, backend, probs, logits, rows, vocab);
  }
  Table(backend).softmax_forward(probs, logits, rows, vocab);
}

void CrossEntropyForward(Backend backend, float* losses, float* probs, const float* logits,
                         const int32_t* targets, int rows, int vocab) {
  CheckDims(rows, vocab);
  AGORA_CHECK(vocab > 0);
  for (int r = 0; r < rows; ++r) AGORA_CHECK(targets[r] >= 0 && targets[r] < vocab);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedCrossEntropyForward(*trace, backend, losses, probs, logits, targets,
                                               rows, vocab);
  }
  Table(backend).crossentropy_forward(losses, probs, logits, targets, rows, vocab);
}

void CrossEntropyBackward(Backend backend, float* dlogits, const float* dlosses,
                          const float* probs, const int32_t* targets, int rows, int vocab) {
  CheckDims(rows, vocab);
  for (int r = 0; r < rows; ++r) AGORA_CHECK(targets[r] >= 0 && targets[r] < vocab);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedCrossEntropyBackward(*trace, backend, dlogits, dlosses, probs, targets,
                                                rows, vocab);
  }
  Table(backend).crossentropy_backward(dlogits, dlosses, probs, targets, rows, vocab);
}

void EmbeddingForward(Backend backend, float* out, const int32_t* tokens, const float* wte,
                      const float* wpe, int batch, int seq_len, int channels, int vocab) {
  CheckDims(batch, seq_len);
  CheckDims(channels, vocab);
  const int64_t count = static_cast<int64_t>(batch) * seq_len;
  for (int64_t n = 0; n < count; ++n) AGORA_CHECK(tokens[n] >= 0 && tokens[n] < vocab);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedEmbeddingForward(*trace, backend, out, tokens, wte, wpe, batch, seq_len,
                                            channels, vocab);
  }
  Table(backend).embedding_forward(out, tokens, wte, wpe, batch, seq_len, channels);
}

void EmbeddingBackward(Backend backend, float* dwte, float* dwpe, const float* dout,
                       const int32_t* tokens, int batch, int seq_len, int channels, int vocab) {
  CheckDims(batch, seq_len);
  CheckDims(channels, vocab);
  const int64_t count = static_cast<int64_t>(batch) * seq_len;
  for (int64_t n = 0; n < count; ++n) AGORA_CHECK(tokens[n] >= 0 && tokens[n] < vocab);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedEmbeddingBackward(*trace, backend, dwte, dwpe, dout, tokens, batch,
                                             seq_len, channels, vocab);
  }
  Table(backend).embedding_backward(dwte, dwpe, dout, tokens, batch, seq_len, channels);
}

void AdamWUpdate(Backend backend, float* params, const float* grads, float* m, float* v,
                 int64_t n, const AdamWConfig& config, int64_t step) {
  AGORA_CHECK(n >= 0 && step >= 1);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedAdamWUpdate(*trace, backend, params, grads, m, v, n, config, step);
  }
  // beta^step by repeated multiplication, ascending: no powf.
  float beta1_power = 1.0f, beta2_power = 1.0f;
  for (int64_t s = 0; s < step; ++s) {
    beta1_power = beta1_power * config.beta1;
    beta2_power = beta2_power * config.beta2;
  }
  Table(backend).adamw_update(params, grads, m, v, n, config.learning_rate, config.beta1,
                              config.beta2, config.eps, config.weight_decay, 1.0f - beta1_power,
                              1.0f - beta2_power);
}

float Sum(Backend backend, const float* x, int64_t n) {
  AGORA_CHECK(n >= 0);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedSum(*trace, backend, x, n);
  }
  return Table(backend).sum(x, n);
}

void Fill(Backend backend, float* x, int64_t n, float value) {
  AGORA_CHECK(n >= 0);
  Table(backend).fill(x, n, value);
}

float GlobalNorm(Backend backend, const float* grads, int64_t n) {
  AGORA_CHECK(n >= 0);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedGlobalNorm(*trace, backend, grads, n);
  }
  return std::sqrt(Table(backend).sum_squares(grads, n));
}

float ClipGradNorm(Backend backend, float* grads, int64_t n, float max_norm) {
  AGORA_CHECK(n >= 0);
  if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] {
    return internal::TracedClipGradNorm(*trace, backend, grads, n, max_norm);
  }
  const float norm = GlobalNorm(backend, grads, n);
  if (norm > max_norm) Table(backend).scale(grads, n, max_norm / norm);
  return norm;
}

}  // namespace agora::kernels
