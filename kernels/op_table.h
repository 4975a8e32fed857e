// Internal: one table of op implementations per backend / instruction set,
// so the public functions in ops.cc check shapes once and then call whichever
// implementation is active: the reference, the CPU instruction sets, CUDA.
//
// Thread safety: the tables are immutable.
#ifndef AGORA_KERNELS_OP_TABLE_H_
#define AGORA_KERNELS_OP_TABLE_H_

#include <cstddef>
#include <cstdint>

#include "kernels/backend.h"

namespace agora::kernels {

struct OpTable {
  void (*matmul_forward)(float* out, const float* inp, const float* weight, const float* bias,
                         int rows, int in_dim, int out_dim);
  void (*matmul_backward)(float* dinp, float* dweight, float* dbias, const float* dout,
                          const float* inp, const float* weight, int rows, int in_dim,
                          int out_dim);
  void (*bias_forward)(float* out, const float* inp, const float* bias, int rows, int channels);
  void (*bias_backward)(float* dbias, const float* dout, int rows, int channels);
  void (*layernorm_forward)(float* out, float* mean, float* rstd, const float* inp,
                            const float* weight, const float* bias, int rows, int channels);
  void (*layernorm_backward)(float* dinp, float* dweight, float* dbias, const float* dout,
                             const float* inp, const float* weight, const float* mean,
                             const float* rstd, int rows, int channels);
  void (*gelu_forward)(float* out, const float* inp, int64_t n);
  void (*gelu_backward)(float* dinp, const float* inp, const float* dout, int64_t n);
  void (*residual_forward)(float* out, const float* a, const float* b, int64_t n);
  void (*residual_backward)(float* da, float* db, const float* dout, int64_t n);
  void (*attention_forward)(float* out, float* att, const float* qkv, int batch, int seq_len,
                            int channels, int heads);
  void (*attention_backward)(float* dqkv, const float* dout, const float* qkv, const float* att,
                             int batch, int seq_len, int channels, int heads);
  void (*softmax_forward)(float* probs, const float* logits, int rows, int vocab);
  void (*crossentropy_forward)(float* losses, float* probs, const float* logits,
                               const int32_t* targets, int rows, int vocab);
  void (*crossentropy_backward)(float* dlogits, const float* dlosses, const float* probs,
                                const int32_t* targets, int rows, int vocab);
  void (*embedding_forward)(float* out, const int32_t* tokens, const float* wte,
                            const float* wpe, int batch, int seq_len, int channels);
  void (*embedding_backward)(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                             int batch, int seq_len, int channels);
  // bias_correction1/2 = 1 - beta^step, computed once by the caller.
  void (*adamw_update)(float* params, const float* grads, float* m, float* v, int64_t n,
                       float learning_rate, float beta1, float beta2, float eps,
                       float weight_decay, float bias_correction1, float bias_correction2);
  float (*sum)(const float* x, int64_t n);
  float (*sum_squares)(const float* x, int64_t n);
  void (*scale)(float* x, int64_t n, float factor);  // x[i] = x[i] * factor
  void (*fill)(float* x, int64_t n, float value);     // x[i] = value

  // Where the backend's own tensors live (kernels/buffer.h). Null for the
  // CPU backends: host memory. CUDA: managed memory, which the GPU's
  // kernels use in place and the host can still read. allocate returns
  // null when it cannot; copy moves bytes between any two pointers the
  // backend's ops accept.
  void* (*allocate)(size_t bytes);
  void (*release)(void* p);
  void (*copy)(void* dst, const void* src, size_t bytes);
};

// Plain loops; the specification.
const OpTable& ReferenceOpTable();

namespace cpu {
// Null when this build has no code for that instruction set.
const OpTable* Avx2OpTable();
const OpTable* Avx512OpTable();
}  // namespace cpu

namespace cuda {
// The exact tier on the GPU (cuda/ops_cuda.cu); defined only in builds with
// CUDA (AGORA_HAVE_CUDA). Its ops take device or host pointers.
const OpTable* CudaOpTable();
// The native tier (kCuda with cuBLAS TF32 matmuls); null in builds without
// cuBLAS.
const OpTable* CudaNativeOpTable();
}  // namespace cuda

namespace internal {
// Test hook: until called again with null, `backend` runs `table`. The
// CUDA plans' test runs them on the CPU this way (tests/kernels/). Must not
// race with running ops.
void SetOpTableOverrideForTesting(Backend backend, const OpTable* table);
// The table the public functions of ops.h use for `backend` now.
const OpTable& ActiveOpTable(Backend backend);
}  // namespace internal

}  // namespace agora::kernels

#endif  // AGORA_KERNELS_OP_TABLE_H_
