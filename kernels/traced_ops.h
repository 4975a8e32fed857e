// Internal: the hooks that kernels/ops.cc calls when an OpTrace is installed
// on the calling thread (kernels/trace.h). Each public op starts with
//   if (OpTrace* trace = internal::ActiveOpTrace()) [[unlikely]] return Traced...(*trace, ...);
// so that without a recorder the op costs one thread-local null check. A
// Traced* function hashes the inputs, runs the public op again with recording
// suspended (so nested public calls are not recorded), hashes the outputs and
// appends the record.
//
// Thread safety: as kernels/ops.h; the recorder is per thread.
#ifndef AGORA_KERNELS_TRACED_OPS_H_
#define AGORA_KERNELS_TRACED_OPS_H_

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/ops.h"
#include "kernels/trace.h"

namespace agora::kernels::internal {

// The calling thread's recorder; null when none is installed. constinit so
// that reading it needs no thread-local initialisation wrapper.
extern constinit thread_local OpTrace* active_op_trace;

inline OpTrace* ActiveOpTrace() { return active_op_trace; }

void TracedMatmulForward(OpTrace& trace, Backend backend, float* out, const float* inp,
                         const float* weight, const float* bias, int rows, int in_dim, int out_dim);
void TracedMatmulBackward(OpTrace& trace, Backend backend, float* dinp, float* dweight,
                          float* dbias, const float* dout, const float* inp, const float* weight,
                          int rows, int in_dim, int out_dim);
void TracedBiasForward(OpTrace& trace, Backend backend, float* out, const float* inp,
                       const float* bias, int rows, int channels);
void TracedBiasBackward(OpTrace& trace, Backend backend, float* dbias, const float* dout, int rows,
                        int channels);
void TracedLayerNormForward(OpTrace& trace, Backend backend, float* out, float* mean, float* rstd,
                            const float* inp, const float* weight, const float* bias, int rows,
                            int channels);
void TracedLayerNormBackward(OpTrace& trace, Backend backend, float* dinp, float* dweight,
                             float* dbias, const float* dout, const float* inp, const float* weight,
                             const float* mean, const float* rstd, int rows, int channels);
void TracedGeluForward(OpTrace& trace, Backend backend, float* out, const float* inp, int64_t n);
void TracedGeluBackward(OpTrace& trace, Backend backend, float* dinp, const float* inp,
                        const float* dout, int64_t n);
void TracedResidualForward(OpTrace& trace, Backend backend, float* out, const float* a,
                           const float* b, int64_t n);
void TracedResidualBackward(OpTrace& trace, Backend backend, float* da, float* db,
                            const float* dout, int64_t n);
void TracedAttentionForward(OpTrace& trace, Backend backend, float* out, float* att,
                            const float* qkv, int batch, int seq_len, int channels, int heads);
void TracedAttentionBackward(OpTrace& trace, Backend backend, float* dqkv, const float* dout,
                             const float* qkv, const float* att, int batch, int seq_len,
                             int channels, int heads);
void TracedSoftmaxForward(OpTrace& trace, Backend backend, float* probs, const float* logits,
                          int rows, int vocab);
void TracedCrossEntropyForward(OpTrace& trace, Backend backend, float* losses, float* probs,
                               const float* logits, const int32_t* targets, int rows, int vocab);
void TracedCrossEntropyBackward(OpTrace& trace, Backend backend, float* dlogits,
                                const float* dlosses, const float* probs, const int32_t* targets,
                                int rows, int vocab);
void TracedEmbeddingForward(OpTrace& trace, Backend backend, float* out, const int32_t* tokens,
                            const float* wte, const float* wpe, int batch, int seq_len,
                            int channels, int vocab);
void TracedEmbeddingBackward(OpTrace& trace, Backend backend, float* dwte, float* dwpe,
                             const float* dout, const int32_t* tokens, int batch, int seq_len,
                             int channels, int vocab);
void TracedAdamWUpdate(OpTrace& trace, Backend backend, float* params, const float* grads, float* m,
                       float* v, int64_t n, const AdamWConfig& config, int64_t step);
float TracedSum(OpTrace& trace, Backend backend, const float* x, int64_t n);
float TracedGlobalNorm(OpTrace& trace, Backend backend, const float* grads, int64_t n);
float TracedClipGradNorm(OpTrace& trace, Backend backend, float* grads, int64_t n, float max_norm);

}  // namespace agora::kernels::internal

#endif  // AGORA_KERNELS_TRACED_OPS_H_
