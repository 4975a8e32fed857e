// The CUDA exact tier's plans (kernels/cuda/exact_plan.h) run on the CPU:
// an OpTable wired exactly as kernels/cuda/ops_cuda.cu wires the GPU's, with
// a loop in place of each kernel launch. Installed as Backend::kCuda through
// internal::SetOpTableOverrideForTesting, it lets every test that compares a
// backend with the reference check the GPU's order of operations on any
// machine; on a machine with a GPU the same tests run the real kCuda too.
//
// The loop visits a phase's indices in descending order, and scratch starts
// as NaN, so a plan that let one index read what another writes in the same
// phase, or read scratch it never wrote, would change bits here.
//
// Include from sources built with agora_fp_strict.
#ifndef AGORA_TESTS_KERNELS_HOST_PLAN_TABLE_H_
#define AGORA_TESTS_KERNELS_HOST_PLAN_TABLE_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/exact_plan.h"
#include "kernels/op_table.h"

namespace agora::kernels::testing {

class HostLauncher {
 public:
  template <class F>
  void For(int64_t n, F f) {
    for (int64_t i = n; i-- > 0;) f(i);
  }
  // Each block's threads run one phase after another, as the GPU's barriers
  // order them; inside a phase, threads in descending order.
  void Gemm(const exact::Gemm& g) {
    if (g.m <= 0 || g.n <= 0) return;
    std::vector<float> as(exact::kGemmBK * exact::kGemmBM), bs(exact::kGemmBK * exact::kGemmBN);
    std::vector<exact::GemmThreadState> states(exact::kGemmThreads);
    for (int64_t block_m = 0; block_m * exact::kGemmBM < g.m; ++block_m) {
      for (int64_t block_n = 0; block_n * exact::kGemmBN < g.n; ++block_n) {
        for (auto& state : states) state = exact::GemmThreadState{};
        for (int64_t k0 = 0; k0 < g.k; k0 += exact::kGemmBK) {
          const int k_count = static_cast<int>(std::min<int64_t>(exact::kGemmBK, g.k - k0));
          std::fill(as.begin(), as.end(), std::numeric_limits<float>::quiet_NaN());
          std::fill(bs.begin(), bs.end(), std::numeric_limits<float>::quiet_NaN());
          for (int tid = exact::kGemmThreads; tid-- > 0;) {
            exact::GemmLoad(g, block_m, block_n, k0, tid, as.data(), bs.data());
          }
          for (int tid = exact::kGemmThreads; tid-- > 0;) {
            exact::GemmAccumulate(tid, as.data(), bs.data(), k_count, states[tid]);
          }
        }
        for (int tid = exact::kGemmThreads; tid-- > 0;) {
          exact::GemmStore(g, block_m, block_n, tid, states[tid]);
        }
      }
    }
  }

  float* Scratch(size_t count) {
    scratch_.emplace_back(count, std::numeric_limits<float>::quiet_NaN());
    return scratch_.back().data();
  }
  float Read(const float* p) { return *p; }

 private:
  std::vector<std::vector<float>> scratch_;
};

namespace host_plan {

inline void MatmulForward(float* out, const float* inp, const float* weight, const float* bias,
                          int rows, int in_dim, int out_dim) {
  HostLauncher l;
  exact::MatmulForwardPlan(l, out, inp, weight, bias, rows, in_dim, out_dim);
}
inline void MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                           const float* inp, const float* weight, int rows, int in_dim,
                           int out_dim) {
  HostLauncher l;
  exact::MatmulBackwardPlan(l, dinp, dweight, dbias, dout, inp, weight, rows, in_dim, out_dim);
}
inline void BiasForward(float* out, const float* inp, const float* bias, int rows, int channels) {
  HostLauncher l;
  exact::BiasForwardPlan(l, out, inp, bias, rows, channels);
}
inline void BiasBackward(float* dbias, const float* dout, int rows, int channels) {
  HostLauncher l;
  exact::BiasBackwardPlan(l, dbias, dout, rows, channels);
}
inline void LayerNormForward(float* out, float* mean, float* rstd, const float* inp,
                             const float* weight, const float* bias, int rows, int channels) {
  HostLauncher l;
  exact::LayerNormForwardPlan(l, out, mean, rstd, inp, weight, bias, rows, channels);
}
inline void LayerNormBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                              const float* inp, const float* weight, const float* mean,
                              const float* rstd, int rows, int channels) {
  HostLauncher l;
  exact::LayerNormBackwardPlan(l, dinp, dweight, dbias, dout, inp, weight, mean, rstd, rows,
                               channels);
}
inline void GeluForward(float* out, const float* inp, int64_t n) {
  HostLauncher l;
  exact::GeluForwardPlan(l, out, inp, n);
}
inline void GeluBackward(float* dinp, const float* inp, const float* dout, int64_t n) {
  HostLauncher l;
  exact::GeluBackwardPlan(l, dinp, inp, dout, n);
}
inline void ResidualForward(float* out, const float* a, const float* b, int64_t n) {
  HostLauncher l;
  exact::ResidualForwardPlan(l, out, a, b, n);
}
inline void ResidualBackward(float* da, float* db, const float* dout, int64_t n) {
  HostLauncher l;
  exact::ResidualBackwardPlan(l, da, db, dout, n);
}
inline void AttentionForward(float* out, float* att, const float* qkv, int batch, int seq_len,
                             int channels, int heads) {
  HostLauncher l;
  exact::AttentionForwardPlan(l, out, att, qkv, batch, seq_len, channels, heads);
}
inline void AttentionBackward(float* dqkv, const float* dout, const float* qkv, const float* att,
                              int batch, int seq_len, int channels, int heads) {
  HostLauncher l;
  exact::AttentionBackwardPlan(l, dqkv, dout, qkv, att, batch, seq_len, channels, heads);
}
inline void SoftmaxForward(float* probs, const float* logits, int rows, int vocab) {
  HostLauncher l;
  exact::SoftmaxForwardPlan(l, probs, logits, rows, vocab);
}
inline void CrossEntropyForward(float* losses, float* probs, const float* logits,
                                const int32_t* targets, int rows, int vocab) {
  HostLauncher l;
  exact::CrossEntropyForwardPlan(l, losses, probs, logits, targets, rows, vocab);
}
inline void CrossEntropyBackward(float* dlogits, const float* dlosses, const float* probs,
                                 const int32_t* targets, int rows, int vocab) {
  HostLauncher l;
  exact::CrossEntropyBackwardPlan(l, dlogits, dlosses, probs, targets, rows, vocab);
}
inline void EmbeddingForward(float* out, const int32_t* tokens, const float* wte,
                             const float* wpe, int batch, int seq_len, int channels) {
  HostLauncher l;
  exact::EmbeddingForwardPlan(l, out, tokens, wte, wpe, batch, seq_len, channels);
}
inline void EmbeddingBackward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                              int batch, int seq_len, int channels) {
  HostLauncher l;
  exact::EmbeddingBackwardPlan(l, dwte, dwpe, dout, tokens, batch, seq_len, channels);
}
inline void AdamWUpdate(float* params, const float* grads, float* m, float* v, int64_t n,
                        float learning_rate, float beta1, float beta2, float eps,
                        float weight_decay, float bias_correction1, float bias_correction2) {
  HostLauncher l;
  exact::AdamWUpdatePlan(l, params, grads, m, v, n, learning_rate, beta1, beta2, eps, weight_decay,
                         bias_correction1, bias_correction2);
}
inline float Sum(const float* x, int64_t n) {
  HostLauncher l;
  return exact::ChunkedTotalPlan(l, x, n, false);
}
inline float SumSquares(const float* x, int64_t n) {
  HostLauncher l;
  return exact::ChunkedTotalPlan(l, x, n, true);
}
inline void Scale(float* x, int64_t n, float factor) {
  HostLauncher l;
  exact::ScalePlan(l, x, n, factor);
}
inline void Fill(float* x, int64_t n, float value) {
  HostLauncher l;
  exact::FillPlan(l, x, n, value);
}
// The backend's own memory, as the GPU's managed memory is: here host
// memory that starts as NaN bytes, so a caller that reads a buffer it never
// filled changes bits.
inline void* Allocate(size_t bytes) {
  const size_t floats = bytes / sizeof(float) + 1;
  float* p = new float[floats];
  std::fill(p, p + floats, std::numeric_limits<float>::quiet_NaN());
  return p;
}
inline void Release(void* p) { delete[] static_cast<float*>(p); }
inline void Copy(void* dst, const void* src, size_t bytes) {
  if (bytes != 0) std::memcpy(dst, src, bytes);
}

}  // namespace host_plan

inline const OpTable& HostPlanOpTable() {
  static constexpr OpTable kTable = {
      host_plan::MatmulForward,       host_plan::MatmulBackward,
      host_plan::BiasForward,         host_plan::BiasBackward,
      host_plan::LayerNormForward,    host_plan::LayerNormBackward,
      host_plan::GeluForward,         host_plan::GeluBackward,
      host_plan::ResidualForward,     host_plan::ResidualBackward,
      host_plan::AttentionForward,    host_plan::AttentionBackward,
      host_plan::SoftmaxForward,      host_plan::CrossEntropyForward,
      host_plan::CrossEntropyBackward, host_plan::EmbeddingForward,
      host_plan::EmbeddingBackward,   host_plan::AdamWUpdate,
      host_plan::Sum,                 host_plan::SumSquares,
      host_plan::Scale,               host_plan::Fill,
      host_plan::Allocate,            host_plan::Release,
      host_plan::Copy,
  };
  return kTable;
}

// Makes Backend::kCuda (and kCudaNative) run the plans on the CPU while it
// lives.
class ScopedHostPlans {
 public:
  // kCudaNative too: its dispatch and memory then run on any machine (its
  // matmuls become the exact plans', so it gives the exact bits here).
  ScopedHostPlans() {
    internal::SetOpTableOverrideForTesting(Backend::kCuda, &HostPlanOpTable());
    internal::SetOpTableOverrideForTesting(Backend::kCudaNative, &HostPlanOpTable());
  }
  ~ScopedHostPlans() {
    internal::SetOpTableOverrideForTesting(Backend::kCuda, nullptr);
    internal::SetOpTableOverrideForTesting(Backend::kCudaNative, nullptr);
  }
  ScopedHostPlans(const ScopedHostPlans&) = delete;
  ScopedHostPlans& operator=(const ScopedHostPlans&) = delete;
};

}  // namespace agora::kernels::testing

#endif  // AGORA_TESTS_KERNELS_HOST_PLAN_TABLE_H_
