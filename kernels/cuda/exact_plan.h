// How the CUDA exact tier computes each op: which outputs one GPU thread
// owns, the order of its floating-point operations (docs/determinism.md,
// the same as kernels/reference/ops_reference.cc), and the phases an op runs
// in. Plain C++ with AGORA_HD: cuda/ops_cuda.cu runs each phase as one
// kernel launch over a grid, and tests/kernels/cuda_plan_test.cc runs the
// very same plans on the CPU with a loop in place of the grid, bit for bit
// against the reference. So everything but the CUDA runtime itself (launch,
// copies, the device's arithmetic units) is tested on every machine.
//
// A plan is a template over a launcher L that offers:
//   l.For(n, f)       calls f(i) for every i in [0, n), in any order and in
//                     parallel; the next call starts after all of them end;
//   l.Gemm(g)         runs the tiled GEMM below (blocks of threads sharing
//                     tiles, phases separated by barriers);
//   l.Scratch(count)  a float buffer of `count` elements on the device that
//                     lives until the op returns;
//   l.Read(p)         the float at device address p, on the host.
// Each f owns its outputs: no two i write the same element, and none reads
// what another i of the same For writes. That is what makes the grid's
// thread order irrelevant to the bits.
//
// The matmuls are tiled GEMMs (shared-memory tiles, 8 x 8 outputs per
// thread); the other ops use one thread per output, or per row for the row
// reductions, the simplest decomposition that keeps the reference's order.
// 16 threads per Lane16 row and a faster GEMM are the speed work to do on a
// GPU (docs/cuda.md); each must keep every output's sequence of operations.
//
// Thread safety: plans are pure functions of their arguments.
#ifndef AGORA_KERNELS_CUDA_EXACT_PLAN_H_
#define AGORA_KERNELS_CUDA_EXACT_PLAN_H_

#include <cstddef>
#include <cstdint>

#include "kernels/exact.h"
#include "kernels/ops.h"

namespace agora::kernels::exact {

inline constexpr int kLanes = 16;

// b when b > a, else a: a NaN never replaces a value; -inf stays neutral.
AGORA_HD inline float MaxKeep(float a, float b) { return b > a ? b : a; }

AGORA_HD inline float TreeSum(float* lanes) {
  for (int width = kLanes / 2; width >= 1; width /= 2) {
    for (int l = 0; l < width; ++l) lanes[l] = lanes[l] + lanes[l + width];
  }
  return lanes[0];
}

AGORA_HD inline float TreeMax(float* lanes) {
  for (int width = kLanes / 2; width >= 1; width /= 2) {
    for (int l = 0; l < width; ++l) lanes[l] = MaxKeep(lanes[l], lanes[l + width]);
  }
  return lanes[0];
}

AGORA_HD inline float Lane16Sum(const float* x, int64_t n) {
  float lanes[kLanes] = {};
  for (int64_t i = 0; i < n; ++i) lanes[i % kLanes] = lanes[i % kLanes] + x[i];
  return TreeSum(lanes);
}

AGORA_HD inline float Lane16Dot(const float* a, const float* b, int64_t n) {
  float lanes[kLanes] = {};
  for (int64_t i = 0; i < n; ++i) lanes[i % kLanes] = Fma(a[i], b[i], lanes[i % kLanes]);
  return TreeSum(lanes);
}

AGORA_HD inline float Lane16Max(const float* x, int64_t n) {
  float lanes[kLanes];
  for (float& lane : lanes) lane = -FromBits(math_constants::kInfBits);
  for (int64_t i = 0; i < n; ++i) lanes[i % kLanes] = MaxKeep(lanes[i % kLanes], x[i]);
  return TreeMax(lanes);
}

// In place is allowed (probs == x): element i reads only x[i] after the max.
// Returns the sum and stores the max.
AGORA_HD inline float SoftmaxRow(float* probs, const float* x, int n, float* max_out) {
  const float m = Lane16Max(x, n);
  for (int i = 0; i < n; ++i) probs[i] = ExpF(x[i] - m);
  const float sum = Lane16Sum(probs, n);
  for (int i = 0; i < n; ++i) probs[i] = Div(probs[i], sum);
  *max_out = m;
  return sum;
}

inline constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
inline constexpr float kGeluCubic = 0.044715f;
inline constexpr float kGeluCubic3 = 3.0f * 0.044715f;

// ---- matmul and bias ----

// One of the three products of a linear layer as a tiled GEMM:
//   out(m, n) = epilogue(acc), acc = 0; for k ascending: acc = fma(A(m, k), B(n, k), acc)
// with A(m, k) = a[m * a_m + k * a_k] and B(n, k) = b[n * b_n + k * b_k], and
// the epilogue out = acc (+ bias[n]) or, accumulating, out = out + acc.
// Each output keeps the reference's sequence of fmas: the k tiles run in
// ascending order, each thread carries its outputs' partial sums in float32
// from tile to tile, and a short last tile runs only its real k (a padded
// fma(0, 0, acc) would turn an acc of -0 into +0).
struct Gemm {
  const float* a;
  int64_t a_m, a_k;
  const float* b;
  int64_t b_n, b_k;
  float* out;
  int64_t out_m;  // out(m, n) = out[m * out_m + n]
  const float* bias;  // forward only; may be null
  bool accumulate;
  int64_t m, n, k;
};

// A block of kGemmThreads threads computes a kGemmBM x kGemmBN tile of out;
// each thread a kGemmTM x kGemmTN sub-tile, from tiles of A and B staged in
// shared memory kGemmBK values of k at a time.
inline constexpr int kGemmBM = 128;
inline constexpr int kGemmBN = 128;
inline constexpr int kGemmBK = 8;
inline constexpr int kGemmTM = 8;
inline constexpr int kGemmTN = 8;
inline constexpr int kGemmThreads = (kGemmBM / kGemmTM) * (kGemmBN / kGemmTN);

struct GemmThreadState {
  float acc[kGemmTM][kGemmTN];
};

// Copies thread `tid`'s share of one operand's tile into shared memory,
// tile[k][i] for tile rows i (rows first_row.. of the operand, `rows` in
// all) and k0 .. k0 + kGemmBK; what lies past the matrix is zero and never
// reaches a stored output. Consecutive threads read consecutive addresses
// of whichever index is contiguous (stride_k == 1: along k).
template <int kTileRows>
AGORA_HD inline void GemmLoadOperand(const float* p, int64_t stride_row, int64_t stride_k,
                                     int64_t rows, int64_t k_total, int64_t first_row, int64_t k0,
                                     int tid, float* tile) {
  for (int e = tid; e < kTileRows * kGemmBK; e += kGemmThreads) {
    const int i = stride_k == 1 ? e / kGemmBK : e % kTileRows;
    const int ki = stride_k == 1 ? e % kGemmBK : e / kTileRows;
    const int64_t row = first_row + i, k = k0 + ki;
    tile[ki * kTileRows + i] = row < rows && k < k_total ? p[row * stride_row + k * stride_k] : 0.0f;
  }
}

// Phase 1 of a k tile: thread `tid` copies its share of A's and B's tiles
// into shared memory, as[k][m] and bs[k][n].
AGORA_HD inline void GemmLoad(const Gemm& g, int64_t block_m, int64_t block_n, int64_t k0, int tid,
                              float* as, float* bs) {
  GemmLoadOperand<kGemmBM>(g.a, g.a_m, g.a_k, g.m, g.k, block_m * kGemmBM, k0, tid, as);
  GemmLoadOperand<kGemmBN>(g.b, g.b_n, g.b_k, g.n, g.k, block_n * kGemmBN, k0, tid, bs);
}

// Phase 2: the first `k_count` values of k of the staged tiles, ascending,
// into thread `tid`'s partial sums.
AGORA_HD inline void GemmAccumulate(int tid, const float* as, const float* bs, int k_count,
                                    GemmThreadState& s) {
  const int row0 = tid / (kGemmBN / kGemmTN) * kGemmTM;
  const int col0 = tid % (kGemmBN / kGemmTN) * kGemmTN;
  for (int k = 0; k < k_count; ++k) {
    float a[kGemmTM], b[kGemmTN];
    for (int i = 0; i < kGemmTM; ++i) a[i] = as[k * kGemmBM + row0 + i];
    for (int j = 0; j < kGemmTN; ++j) b[j] = bs[k * kGemmBN + col0 + j];
    for (int i = 0; i < kGemmTM; ++i) {
      for (int j = 0; j < kGemmTN; ++j) s.acc[i][j] = Fma(a[i], b[j], s.acc[i][j]);
    }
  }
}

// After the last k tile: the epilogue of thread `tid`'s outputs.
AGORA_HD inline void GemmStore(const Gemm& g, int64_t block_m, int64_t block_n, int tid,
                               const GemmThreadState& s) {
  const int row0 = tid / (kGemmBN / kGemmTN) * kGemmTM;
  const int col0 = tid % (kGemmBN / kGemmTN) * kGemmTN;
  for (int i = 0; i < kGemmTM; ++i) {
    const int64_t m = block_m * kGemmBM + row0 + i;
    if (m >= g.m) break;
    for (int j = 0; j < kGemmTN; ++j) {
      const int64_t n = block_n * kGemmBN + col0 + j;
      if (n >= g.n) break;
      float& o = g.out[m * g.out_m + n];
      if (g.accumulate) {
        o = o + s.acc[i][j];
      } else {
        o = g.bias != nullptr ? s.acc[i][j] + g.bias[n] : s.acc[i][j];
      }
    }
  }
}

// l.Gemm(g) runs, for every block (block_m, block_n) of the output, with
// shared tiles as and bs and zeroed states per thread:
//   for k0 = 0, kGemmBK, ... < g.k:
//     every thread: GemmLoad;       (barrier)
//     every thread: GemmAccumulate over min(kGemmBK, g.k - k0) values; (barrier)
//   every thread: GemmStore.
template <class L>
void MatmulForwardPlan(L& l, float* out, const float* inp, const float* weight, const float* bias,
                       int rows, int in_dim, int out_dim) {
  l.Gemm(Gemm{inp, in_dim, 1, weight, in_dim, 1, out, out_dim, bias, false, rows, out_dim, in_dim});
}

// dbias[c] += column sum of dout.
template <class L>
void BiasBackwardPlan(L& l, float* dbias, const float* dout, int rows, int channels) {
  l.For(channels, [=] AGORA_HD(int64_t c) {
    float acc = 0.0f;
    for (int64_t r = 0; r < rows; ++r) acc = acc + dout[r * channels + c];
    dbias[c] = dbias[c] + acc;
  });
}

// dinp(r, c) += sum over o ascending of dout(r, o) * weight(o, c);
// dweight(o, c) += sum over r ascending of dout(r, o) * inp(r, c).
template <class L>
void MatmulBackwardPlan(L& l, float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, int rows, int in_dim,
                        int out_dim) {
  if (dinp != nullptr) {
    l.Gemm(Gemm{dout, out_dim, 1, weight, 1, in_dim, dinp, in_dim, nullptr, true, rows, in_dim,
                out_dim});
  }
  if (dweight != nullptr) {
    l.Gemm(Gemm{dout, 1, out_dim, inp, 1, in_dim, dweight, in_dim, nullptr, true, out_dim, in_dim,
                rows});
  }
  if (dbias != nullptr) BiasBackwardPlan(l, dbias, dout, rows, out_dim);
}

template <class L>
void BiasForwardPlan(L& l, float* out, const float* inp, const float* bias, int rows,
                     int channels) {
  l.For(int64_t{rows} * channels, [=] AGORA_HD(int64_t i) { out[i] = inp[i] + bias[i % channels]; });
}

// ---- layer norm ----

template <class L>
void LayerNormForwardPlan(L& l, float* out, float* mean, float* rstd, const float* inp,
                          const float* weight, const float* bias, int rows, int channels) {
  l.For(rows, [=] AGORA_HD(int64_t r) {
    const float count = static_cast<float>(channels);
    const float* x = inp + r * channels;
    float* y = out + r * channels;
    const float m = Div(Lane16Sum(x, channels), count);
    float lanes[kLanes] = {};
    for (int c = 0; c < channels; ++c) {
      const float d = x[c] - m;
      lanes[c % kLanes] = Fma(d, d, lanes[c % kLanes]);
    }
    const float var = Div(TreeSum(lanes), count);
    const float s = Div(1.0f, Sqrt(var + kLayerNormEps));
    for (int c = 0; c < channels; ++c) y[c] = Fma((x[c] - m) * s, weight[c], bias[c]);
    mean[r] = m;
    rstd[r] = s;
  });
}

template <class L>
void LayerNormBackwardPlan(L& l, float* dinp, float* dweight, float* dbias, const float* dout,
                           const float* inp, const float* weight, const float* mean,
                           const float* rstd, int rows, int channels) {
  if (dinp != nullptr) {
    l.For(rows, [=] AGORA_HD(int64_t r) {
      const float count = static_cast<float>(channels);
      const int64_t row = r * channels;
      float sum_lanes[kLanes] = {};
      float dot_lanes[kLanes] = {};
      for (int c = 0; c < channels; ++c) {
        const float norm = (inp[row + c] - mean[r]) * rstd[r];
        const float dnorm = weight[c] * dout[row + c];
        sum_lanes[c % kLanes] = sum_lanes[c % kLanes] + dnorm;
        dot_lanes[c % kLanes] = Fma(dnorm, norm, dot_lanes[c % kLanes]);
      }
      const float dnorm_mean = Div(TreeSum(sum_lanes), count);
      const float dnorm_norm_mean = Div(TreeSum(dot_lanes), count);
      for (int c = 0; c < channels; ++c) {
        const float norm = (inp[row + c] - mean[r]) * rstd[r];
        const float dnorm = weight[c] * dout[row + c];
        float v = dnorm - dnorm_mean;
        v = v - norm * dnorm_norm_mean;
        v = v * rstd[r];
        dinp[row + c] = dinp[row + c] + v;
      }
    });
  }
  if (dweight == nullptr && dbias == nullptr) return;
  l.For(channels, [=] AGORA_HD(int64_t c) {
    float acc_w = 0.0f, acc_b = 0.0f;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r * channels + c;
      const float n = (inp[i] - mean[r]) * rstd[r];
      acc_w = Fma(n, dout[i], acc_w);
      acc_b = acc_b + dout[i];
    }
    if (dweight != nullptr) dweight[c] = dweight[c] + acc_w;
    if (dbias != nullptr) dbias[c] = dbias[c] + acc_b;
  });
}

// ---- elementwise ----

template <class L>
void GeluForwardPlan(L& l, float* out, const float* inp, int64_t n) {
  l.For(n, [=] AGORA_HD(int64_t i) {
    const float x = inp[i];
    const float cube = kGeluCubic * x * x * x;
    const float t = TanhF(kGeluScale * (x + cube));
    out[i] = (0.5f * x) * (1.0f + t);
  });
}

template <class L>
void GeluBackwardPlan(L& l, float* dinp, const float* inp, const float* dout, int64_t n) {
  l.For(n, [=] AGORA_HD(int64_t i) {
    const float x = inp[i];
    const float cube = kGeluCubic * x * x * x;
    const float t = TanhF(kGeluScale * (x + cube));
    const float sech2 = 1.0f - t * t;
    const float inner = kGeluScale * (1.0f + kGeluCubic3 * x * x);
    const float local = 0.5f * (1.0f + t) + ((0.5f * x) * sech2) * inner;
    dinp[i] = dinp[i] + local * dout[i];
  });
}

template <class L>
void ResidualForwardPlan(L& l, float* out, const float* a, const float* b, int64_t n) {
  l.For(n, [=] AGORA_HD(int64_t i) { out[i] = a[i] + b[i]; });
}

template <class L>
void ResidualBackwardPlan(L& l, float* da, float* db, const float* dout, int64_t n) {
  l.For(n, [=] AGORA_HD(int64_t i) {
    if (da != nullptr) da[i] = da[i] + dout[i];
    if (db != nullptr) db[i] = db[i] + dout[i];
  });
}

// ---- softmax and cross-entropy ----

template <class L>
void SoftmaxForwardPlan(L& l, float* probs, const float* logits, int rows, int vocab) {
  l.For(rows, [=] AGORA_HD(int64_t r) {
    float m;
    SoftmaxRow(probs + r * vocab, logits + r * vocab, vocab, &m);
  });
}

template <class L>
void CrossEntropyForwardPlan(L& l, float* losses, float* probs, const float* logits,
                             const int32_t* targets, int rows, int vocab) {
  l.For(rows, [=] AGORA_HD(int64_t r) {
    const float* x = logits + r * vocab;
    float m;
    const float sum = SoftmaxRow(probs + r * vocab, x, vocab, &m);
    losses[r] = LogF(sum) - (x[targets[r]] - m);
  });
}

template <class L>
void CrossEntropyBackwardPlan(L& l, float* dlogits, const float* dlosses, const float* probs,
                              const int32_t* targets, int rows, int vocab) {
  l.For(int64_t{rows} * vocab, [=] AGORA_HD(int64_t i) {
    const int64_t r = i / vocab, v = i % vocab;
    const float d = probs[i] - (v == targets[r] ? 1.0f : 0.0f);
    dlogits[i] = dlogits[i] + d * dlosses[r];
  });
}

// ---- attention ----

template <class L>
void AttentionForwardPlan(L& l, float* out, float* att, const float* qkv, int batch, int seq_len,
                          int channels, int heads) {
  const int head_dim = channels / heads;
  const int64_t stride = 3 * int64_t{channels};
  const float scale = Div(1.0f, Sqrt(static_cast<float>(head_dim)));
  l.For(int64_t{batch} * heads * seq_len, [=] AGORA_HD(int64_t i) {
    const int64_t t = i % seq_len, bh = i / seq_len, h = bh % heads, b = bh / heads;
    const float* base = qkv + b * seq_len * stride + h * head_dim;
    const float* q = base + t * stride;
    float* a = att + i * seq_len;  // row (b, h, t)
    // The scores go into the att row, then the softmax runs there in place.
    for (int64_t t2 = 0; t2 <= t; ++t2) a[t2] = Lane16Dot(q, base + t2 * stride + channels, head_dim) * scale;
    float m;
    SoftmaxRow(a, a, static_cast<int>(t + 1), &m);
    for (int64_t t2 = t + 1; t2 < seq_len; ++t2) a[t2] = 0.0f;
    float* y = out + (b * seq_len + t) * channels + h * head_dim;
    for (int d = 0; d < head_dim; ++d) {
      float acc = 0.0f;
      for (int64_t t2 = 0; t2 <= t; ++t2) acc = Fma(a[t2], base[t2 * stride + 2 * channels + d], acc);
      y[d] = acc;
    }
  });
}

// The reference walks t ascending and, inside, updates dv and dk of every
// t2 <= t as running sums. Each element of dv and dk therefore sees its
// updates in t ascending, which is what the per-element loops below do; dq
// of row t is one reduction over t2 ascending added once. The softmax
// backward of each row (datt, s, dpre) is computed first, into scratch.
template <class L>
void AttentionBackwardPlan(L& l, float* dqkv, const float* dout, const float* qkv,
                           const float* att, int batch, int seq_len, int channels, int heads) {
  const int head_dim = channels / heads;
  const int64_t stride = 3 * int64_t{channels};
  const float scale = Div(1.0f, Sqrt(static_cast<float>(head_dim)));
  const int64_t row_count = int64_t{batch} * heads * seq_len;
  float* dpre = l.Scratch(static_cast<size_t>(row_count) * seq_len);
  l.For(row_count, [=] AGORA_HD(int64_t i) {
    const int64_t t = i % seq_len, bh = i / seq_len, h = bh % heads, b = bh / heads;
    const float* base = qkv + b * seq_len * stride + h * head_dim;
    const float* a = att + i * seq_len;
    const float* dy = dout + (b * seq_len + t) * channels + h * head_dim;
    float* row = dpre + i * seq_len;
    for (int64_t t2 = 0; t2 <= t; ++t2) row[t2] = Lane16Dot(base + t2 * stride + 2 * channels, dy, head_dim);
    const float s = Lane16Dot(a, row, t + 1);
    for (int64_t t2 = 0; t2 <= t; ++t2) row[t2] = (a[t2] * (row[t2] - s)) * scale;
  });
  const int64_t elements = row_count * head_dim;
  // dv of (b, h, t2, d) and dk of (b, h, t2, d): running over t = t2.. ascending.
  l.For(elements, [=] AGORA_HD(int64_t i) {
    const int64_t d = i % head_dim, row = i / head_dim, t2 = row % seq_len, bh = row / seq_len;
    const int64_t h = bh % heads, b = bh / heads;
    const int64_t offset = b * seq_len * stride + h * head_dim;
    float dv = dqkv[offset + t2 * stride + 2 * channels + d];
    float dk = dqkv[offset + t2 * stride + channels + d];
    for (int64_t t = t2; t < seq_len; ++t) {
      const int64_t arow = (bh * seq_len + t) * seq_len;
      const float dy = dout[(b * seq_len + t) * channels + h * head_dim + d];
      dv = Fma(att[arow + t2], dy, dv);
    }
    for (int64_t t = t2; t < seq_len; ++t) {
      const int64_t arow = (bh * seq_len + t) * seq_len;
      dk = Fma(dpre[arow + t2], qkv[offset + t * stride + d], dk);
    }
    dqkv[offset + t2 * stride + 2 * channels + d] = dv;
    dqkv[offset + t2 * stride + channels + d] = dk;
  });
  // dq of (b, h, t, d): one reduction over t2 ascending, added once.
  l.For(elements, [=] AGORA_HD(int64_t i) {
    const int64_t d = i % head_dim, row = i / head_dim, t = row % seq_len, bh = row / seq_len;
    const int64_t h = bh % heads, b = bh / heads;
    const int64_t offset = b * seq_len * stride + h * head_dim;
    const float* p = dpre + row * seq_len;
    float acc = 0.0f;
    for (int64_t t2 = 0; t2 <= t; ++t2) acc = Fma(p[t2], qkv[offset + t2 * stride + channels + d], acc);
    float& dq = dqkv[offset + t * stride + d];
    dq = dq + acc;
  });
}

// ---- embedding ----

template <class L>
void EmbeddingForwardPlan(L& l, float* out, const int32_t* tokens, const float* wte,
                          const float* wpe, int batch, int seq_len, int channels) {
  l.For(int64_t{batch} * seq_len * channels, [=] AGORA_HD(int64_t i) {
    const int64_t c = i % channels, n = i / channels, t = n % seq_len;
    out[i] = wte[int64_t{tokens[n]} * channels + c] + wpe[t * channels + c];
  });
}

// Running sums in ascending position order, one thread per column of dwte
// (tokens repeat, so rows cannot be split) and one per element of dwpe.
template <class L>
void EmbeddingBackwardPlan(L& l, float* dwte, float* dwpe, const float* dout,
                           const int32_t* tokens, int batch, int seq_len, int channels) {
  const int64_t positions = int64_t{batch} * seq_len;
  if (dwte != nullptr) {
    l.For(channels, [=] AGORA_HD(int64_t c) {
      for (int64_t n = 0; n < positions; ++n) {
        float& g = dwte[int64_t{tokens[n]} * channels + c];
        g = g + dout[n * channels + c];
      }
    });
  }
  if (dwpe != nullptr) {
    l.For(int64_t{seq_len} * channels, [=] AGORA_HD(int64_t i) {
      const int64_t t = i / channels, c = i % channels;
      float g = dwpe[i];
      for (int64_t b = 0; b < batch; ++b) g = g + dout[(b * seq_len + t) * channels + c];
      dwpe[i] = g;
    });
  }
}

// ---- optimizer and whole-array reductions ----

template <class L>
void AdamWUpdatePlan(L& l, float* params, const float* grads, float* m, float* v, int64_t n,
                     float learning_rate, float beta1, float beta2, float eps, float weight_decay,
                     float bias_correction1, float bias_correction2) {
  const float one_minus_beta1 = 1.0f - beta1;
  const float one_minus_beta2 = 1.0f - beta2;
  l.For(n, [=] AGORA_HD(int64_t i) {
    const float g = grads[i];
    const float mi = beta1 * m[i] + one_minus_beta1 * g;
    const float vi = beta2 * v[i] + one_minus_beta2 * (g * g);
    const float m_hat = Div(mi, bias_correction1);
    const float v_hat = Div(vi, bias_correction2);
    float update = Div(m_hat, Sqrt(v_hat) + eps);
    update = update + weight_decay * params[i];
    params[i] = params[i] - learning_rate * update;
    m[i] = mi;
    v[i] = vi;
  });
}

// Chunked total (kReduceChunk): one thread per chunk, then one thread adds
// the chunk results in ascending order from +0. `squares` takes the Lane16
// dot of each chunk with itself instead of its sum.
template <class L>
float ChunkedTotalPlan(L& l, const float* x, int64_t n, bool squares) {
  const int64_t chunks = (n + kReduceChunk - 1) / kReduceChunk;
  float* part = l.Scratch(static_cast<size_t>(chunks) + 1);
  l.For(chunks, [=] AGORA_HD(int64_t j) {
    const int64_t begin = j * kReduceChunk;
    const int64_t count = n - begin < kReduceChunk ? n - begin : kReduceChunk;
    part[j] = squares ? Lane16Dot(x + begin, x + begin, count) : Lane16Sum(x + begin, count);
  });
  l.For(1, [=] AGORA_HD(int64_t) {
    float total = 0.0f;
    for (int64_t j = 0; j < chunks; ++j) total = total + part[j];
    part[chunks] = total;
  });
  return l.Read(part + chunks);
}

template <class L>
void ScalePlan(L& l, float* x, int64_t n, float factor) {
  l.For(n, [=] AGORA_HD(int64_t i) { x[i] = x[i] * factor; });
}

template <class L>
void FillPlan(L& l, float* x, int64_t n, float value) {
  l.For(n, [=] AGORA_HD(int64_t i) { x[i] = value; });
}

}  // namespace agora::kernels::exact

#endif  // AGORA_KERNELS_CUDA_EXACT_PLAN_H_
