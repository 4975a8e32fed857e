// The reference ops: plain single-threaded loops that ARE the specification
// of each op's order of floating-point operations (docs/determinism.md). The
// fast versions must reproduce these bits exactly; when the two disagree, this
// file is right by definition.
//
// Building blocks used throughout:
//   Lane16 reduction: term i goes to lane i % 16 (lanes start at +0, or -inf
//   for max), each lane accumulates in ascending i, then lanes combine in the
//   fixed tree l += l + w for w = 8, 4, 2, 1.
//   Column sum: one accumulator per output, from +0, rows in ascending order.
#include <cmath>
#include <cstddef>
#include <vector>

#include "kernels/math.h"
#include "kernels/op_table.h"
#include "kernels/ops.h"

namespace agora::kernels {
namespace {

constexpr int kLanes = 16;

inline float Fma(float a, float b, float c) { return std::fma(a, b, c); }

// Returns b when b > a, else a: NaN never replaces a value, and a -inf lane
// stays neutral.
inline float MaxKeep(float a, float b) { return b > a ? b : a; }

float TreeSum(float* lanes) {
  for (int width = kLanes / 2; width >= 1; width /= 2) {
    for (int l = 0; l < width; ++l) lanes[l] = lanes[l] + lanes[l + width];
  }
  return lanes[0];
}

float TreeMax(float* lanes) {
  for (int width = kLanes / 2; width >= 1; width /= 2) {
    for (int l = 0; l < width; ++l) lanes[l] = MaxKeep(lanes[l], lanes[l + width]);
  }
  return lanes[0];
}

// Lane16 sum of x[0..n).
float Lane16Sum(const float* x, int64_t n) {
  float lanes[kLanes] = {};
  for (int64_t i = 0; i < n; ++i) lanes[i % kLanes] = lanes[i % kLanes] + x[i];
  return TreeSum(lanes);
}

// Lane16 fma dot product: lane = fma(a[i], b[i], lane).
float Lane16Dot(const float* a, const float* b, int64_t n) {
  float lanes[kLanes] = {};
  for (int64_t i = 0; i < n; ++i) lanes[i % kLanes] = Fma(a[i], b[i], lanes[i % kLanes]);
  return TreeSum(lanes);
}

float Lane16Max(const float* x, int64_t n) {
  float lanes[kLanes];
  for (float& lane : lanes) lane = -INFINITY;
  for (int64_t i = 0; i < n; ++i) lanes[i % kLanes] = MaxKeep(lanes[i % kLanes], x[i]);
  return TreeMax(lanes);
}

// ---- matmul ----

void MatmulForward(float* out, const float* inp, const float* weight, const float* bias,
                   int rows, int in_dim, int out_dim) {
  for (int r = 0; r < rows; ++r) {
    const float* x = inp + static_cast<size_t>(r) * in_dim;
    for (int o = 0; o < out_dim; ++o) {
      const float* w = weight + static_cast<size_t>(o) * in_dim;
      float acc = 0.0f;
      for (int k = 0; k < in_dim; ++k) acc = Fma(x[k], w[k], acc);
      out[static_cast<size_t>(r) * out_dim + o] = bias != nullptr ? acc + bias[o] : acc;
    }
  }
}

void BiasBackward(float* dbias, const float* dout, int rows, int channels) {
  for (int c = 0; c < channels; ++c) {
    float acc = 0.0f;
    for (int r = 0; r < rows; ++r) acc = acc + dout[static_cast<size_t>(r) * channels + c];
    dbias[c] = dbias[c] + acc;
  }
}

void MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                    const float* inp, const float* weight, int rows, int in_dim, int out_dim) {
  if (dinp != nullptr) {
    // dinp[r, c] += sum_o dout[r, o] * weight[o, c], o ascending.
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < in_dim; ++c) {
        float acc = 0.0f;
        for (int o = 0; o < out_dim; ++o) {
          acc = Fma(dout[static_cast<size_t>(r) * out_dim + o],
                    weight[static_cast<size_t>(o) * in_dim + c], acc);
        }
        float& d = dinp[static_cast<size_t>(r) * in_dim + c];
        d = d + acc;
      }
    }
  }
  if (dweight != nullptr) {
    // dweight[o, c] += sum_r dout[r, o] * inp[r, c], r ascending.
    for (int o = 0; o < out_dim; ++o) {
      for (int c = 0; c < in_dim; ++c) {
        float acc = 0.0f;
        for (int r = 0; r < rows; ++r) {
          acc = Fma(dout[static_cast<size_t>(r) * out_dim + o],
                    inp[static_cast<size_t>(r) * in_dim + c], acc);
        }
        float& d = dweight[static_cast<size_t>(o) * in_dim + c];
        d = d + acc;
      }
    }
  }
  if (dbias != nullptr) BiasBackward(dbias, dout, rows, out_dim);
}

void BiasForward(float* out, const float* inp, const float* bias, int rows, int channels) {
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < channels; ++c) {
      const size_t i = static_cast<size_t>(r) * channels + c;
      out[i] = inp[i] + bias[c];
    }
  }
}

// ---- layer norm ----

void LayerNormForward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                      const float* bias, int rows, int channels) {
  const float count = static_cast<float>(channels);
  std::vector<float> centered(channels);
  for (int r = 0; r < rows; ++r) {
    const float* x = inp + static_cast<size_t>(r) * channels;
    float* y = out + static_cast<size_t>(r) * channels;
    const float m = Lane16Sum(x, channels) / count;
    for (int c = 0; c < channels; ++c) centered[c] = x[c] - m;
    const float var = Lane16Dot(centered.data(), centered.data(), channels) / count;
    const float s = 1.0f / std::sqrt(var + kLayerNormEps);
    for (int c = 0; c < channels; ++c) y[c] = Fma((x[c] - m) * s, weight[c], bias[c]);
    mean[r] = m;
    rstd[r] = s;
  }
}

void LayerNormBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                       const float* inp, const float* weight, const float* mean, const float* rstd,
                       int rows, int channels) {
  const float count = static_cast<float>(channels);
  std::vector<float> norm(channels), dnorm(channels);
  if (dinp != nullptr) {
    for (int r = 0; r < rows; ++r) {
      const size_t row = static_cast<size_t>(r) * channels;
      for (int c = 0; c < channels; ++c) {
        norm[c] = (inp[row + c] - mean[r]) * rstd[r];
        dnorm[c] = weight[c] * dout[row + c];
      }
      const float dnorm_mean = Lane16Sum(dnorm.data(), channels) / count;
      const float dnorm_norm_mean = Lane16Dot(dnorm.data(), norm.data(), channels) / count;
      for (int c = 0; c < channels; ++c) {
        float v = dnorm[c] - dnorm_mean;
        v = v - norm[c] * dnorm_norm_mean;
        v = v * rstd[r];
        dinp[row + c] = dinp[row + c] + v;
      }
    }
  }
  // Column sums over rows, ascending, from +0; then added to the gradient.
  for (int c = 0; c < channels; ++c) {
    float acc_w = 0.0f, acc_b = 0.0f;
    for (int r = 0; r < rows; ++r) {
      const size_t i = static_cast<size_t>(r) * channels + c;
      const float n = (inp[i] - mean[r]) * rstd[r];
      acc_w = Fma(n, dout[i], acc_w);
      acc_b = acc_b + dout[i];
    }
    if (dweight != nullptr) dweight[c] = dweight[c] + acc_w;
    if (dbias != nullptr) dbias[c] = dbias[c] + acc_b;
  }
}

// ---- GELU ----

constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;
constexpr float kGeluCubic3 = 3.0f * 0.044715f;

void GeluForward(float* out, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = inp[i];
    const float cube = kGeluCubic * x * x * x;
    const float t = TanhF(kGeluScale * (x + cube));
    out[i] = (0.5f * x) * (1.0f + t);
  }
}

void GeluBackward(float* dinp, const float* inp, const float* dout, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = inp[i];
    const float cube = kGeluCubic * x * x * x;
    const float t = TanhF(kGeluScale * (x + cube));
    const float sech2 = 1.0f - t * t;
    const float inner = kGeluScale * (1.0f + kGeluCubic3 * x * x);
    const float local = 0.5f * (1.0f + t) + ((0.5f * x) * sech2) * inner;
    dinp[i] = dinp[i] + local * dout[i];
  }
}

// ---- residual ----

void ResidualForward(float* out, const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void ResidualBackward(float* da, float* db, const float* dout, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (da != nullptr) da[i] = da[i] + dout[i];
    if (db != nullptr) db[i] = db[i] + dout[i];
  }
}

// ---- softmax ----

// probs = exp(x - max) / sum; returns the sum and stores the max.
float SoftmaxRow(float* probs, const float* x, int n, float* max_out) {
  const float m = Lane16Max(x, n);
  for (int i = 0; i < n; ++i) probs[i] = ExpF(x[i] - m);
  const float sum = Lane16Sum(probs, n);
  for (int i = 0; i < n; ++i) probs[i] = probs[i] / sum;
  *max_out = m;
  return sum;
}

void SoftmaxForward(float* probs, const float* logits, int rows, int vocab) {
  for (int r = 0; r < rows; ++r) {
    float m;
    SoftmaxRow(probs + static_cast<size_t>(r) * vocab, logits + static_cast<size_t>(r) * vocab,
               vocab, &m);
  }
}

void CrossEntropyForward(float* losses, float* probs, const float* logits, const int32_t* targets,
                         int rows, int vocab) {
  for (int r = 0; r < rows; ++r) {
    const float* x = logits + static_cast<size_t>(r) * vocab;
    float m;
    const float sum = SoftmaxRow(probs + static_cast<size_t>(r) * vocab, x, vocab, &m);
    losses[r] = LogF(sum) - (x[targets[r]] - m);
  }
}

void CrossEntropyBackward(float* dlogits, const float* dlosses, const float* probs,
                          const int32_t* targets, int rows, int vocab) {
  for (int r = 0; r < rows; ++r) {
    const size_t row = static_cast<size_t>(r) * vocab;
    for (int i = 0; i < vocab; ++i) {
      const float d = probs[row + i] - (i == targets[r] ? 1.0f : 0.0f);
      dlogits[row + i] = dlogits[row + i] + d * dlosses[r];
    }
  }
}

// ---- attention ----

void AttentionForward(float* out, float* att, const float* qkv, int batch, int seq_len,
                      int channels, int heads) {
  const int head_dim = channels / heads;
  const size_t stride = 3 * static_cast<size_t>(channels);
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  std::vector<float> score(seq_len);
  for (int b = 0; b < batch; ++b) {
    for (int h = 0; h < heads; ++h) {
      const float* base = qkv + static_cast<size_t>(b) * seq_len * stride + h * head_dim;
      for (int t = 0; t < seq_len; ++t) {
        const float* q = base + t * stride;
        float* a = att + ((static_cast<size_t>(b) * heads + h) * seq_len + t) * seq_len;
        for (int t2 = 0; t2 <= t; ++t2) {
          score[t2] = Lane16Dot(q, base + t2 * stride + channels, head_dim) * scale;
        }
        float m;
        SoftmaxRow(a, score.data(), t + 1, &m);
        for (int t2 = t + 1; t2 < seq_len; ++t2) a[t2] = 0.0f;
        float* y = out + (static_cast<size_t>(b) * seq_len + t) * channels + h * head_dim;
        for (int i = 0; i < head_dim; ++i) {
          float acc = 0.0f;
          for (int t2 = 0; t2 <= t; ++t2) acc = Fma(a[t2], base[t2 * stride + 2 * channels + i], acc);
          y[i] = acc;
        }
      }
    }
  }
}

void AttentionBackward(float* dqkv, const float* dout, const float* qkv, const float* att,
                       int batch, int seq_len, int channels, int heads) {
  const int head_dim = channels / heads;
  const size_t stride = 3 * static_cast<size_t>(channels);
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  std::vector<float> datt(seq_len), dpre(seq_len);
  for (int b = 0; b < batch; ++b) {
    for (int h = 0; h < heads; ++h) {
      const size_t offset = static_cast<size_t>(b) * seq_len * stride + h * head_dim;
      const float* base = qkv + offset;
      float* dbase = dqkv + offset;
      for (int t = 0; t < seq_len; ++t) {
        const float* a = att + ((static_cast<size_t>(b) * heads + h) * seq_len + t) * seq_len;
        const float* dy = dout + (static_cast<size_t>(b) * seq_len + t) * channels + h * head_dim;
        for (int t2 = 0; t2 <= t; ++t2) {
          datt[t2] = Lane16Dot(base + t2 * stride + 2 * channels, dy, head_dim);
          float* dv = dbase + t2 * stride + 2 * channels;
          for (int i = 0; i < head_dim; ++i) dv[i] = Fma(a[t2], dy[i], dv[i]);
        }
        const float s = Lane16Dot(a, datt.data(), t + 1);
        for (int t2 = 0; t2 <= t; ++t2) dpre[t2] = (a[t2] * (datt[t2] - s)) * scale;
        const float* q = base + t * stride;
        float* dq = dbase + t * stride;
        for (int i = 0; i < head_dim; ++i) {
          float acc = 0.0f;
          for (int t2 = 0; t2 <= t; ++t2) acc = Fma(dpre[t2], base[t2 * stride + channels + i], acc);
          dq[i] = dq[i] + acc;
        }
        for (int t2 = 0; t2 <= t; ++t2) {
          float* dk = dbase + t2 * stride + channels;
          for (int i = 0; i < head_dim; ++i) dk[i] = Fma(dpre[t2], q[i], dk[i]);
        }
      }
    }
  }
}

// ---- embedding ----

void EmbeddingForward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                      int batch, int seq_len, int channels) {
  for (int b = 0; b < batch; ++b) {
    for (int t = 0; t < seq_len; ++t) {
      const size_t n = static_cast<size_t>(b) * seq_len + t;
      const float* e = wte + static_cast<size_t>(tokens[n]) * channels;
      const float* p = wpe + static_cast<size_t>(t) * channels;
      for (int c = 0; c < channels; ++c) out[n * channels + c] = e[c] + p[c];
    }
  }
}

void EmbeddingBackward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                       int batch, int seq_len, int channels) {
  for (int b = 0; b < batch; ++b) {
    for (int t = 0; t < seq_len; ++t) {
      const size_t n = static_cast<size_t>(b) * seq_len + t;
      const float* d = dout + n * channels;
      for (int c = 0; c < channels; ++c) {
        if (dwte != nullptr) {
          float& g = dwte[static_cast<size_t>(tokens[n]) * channels + c];
          g = g + d[c];
        }
        if (dwpe != nullptr) {
          float& g = dwpe[static_cast<size_t>(t) * channels + c];
          g = g + d[c];
        }
      }
    }
  }
}

// ---- optimizer and whole-array reductions ----

void AdamWUpdate(float* params, const float* grads, float* m, float* v, int64_t n,
                 float learning_rate, float beta1, float beta2, float eps, float weight_decay,
                 float bias_correction1, float bias_correction2) {
  const float one_minus_beta1 = 1.0f - beta1;
  const float one_minus_beta2 = 1.0f - beta2;
  for (int64_t i = 0; i < n; ++i) {
    const float g = grads[i];
    const float mi = beta1 * m[i] + one_minus_beta1 * g;
    const float vi = beta2 * v[i] + one_minus_beta2 * (g * g);
    const float m_hat = mi / bias_correction1;
    const float v_hat = vi / bias_correction2;
    float update = m_hat / (std::sqrt(v_hat) + eps);
    update = update + weight_decay * params[i];
    params[i] = params[i] - learning_rate * update;
    m[i] = mi;
    v[i] = vi;
  }
}

float Sum(const float* x, int64_t n) {
  float total = 0.0f;
  for (int64_t begin = 0; begin < n; begin += kReduceChunk) {
    const int64_t count = n - begin < kReduceChunk ? n - begin : kReduceChunk;
    total = total + Lane16Sum(x + begin, count);
  }
  return total;
}

float SumSquares(const float* x, int64_t n) {
  float total = 0.0f;
  for (int64_t begin = 0; begin < n; begin += kReduceChunk) {
    const int64_t count = n - begin < kReduceChunk ? n - begin : kReduceChunk;
    total = total + Lane16Dot(x + begin, x + begin, count);
  }
  return total;
}

void Scale(float* x, int64_t n, float factor) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * factor;
}

void Fill(float* x, int64_t n, float value) {
  for (int64_t i = 0; i < n; ++i) x[i] = value;
}

constexpr OpTable kReferenceTable = {
    MatmulForward,       MatmulBackward,       BiasForward,      BiasBackward,
    LayerNormForward,    LayerNormBackward,    GeluForward,      GeluBackward,
    ResidualForward,     ResidualBackward,     AttentionForward, AttentionBackward,
    SoftmaxForward,      CrossEntropyForward,  CrossEntropyBackward,
    EmbeddingForward,    EmbeddingBackward,    AdamWUpdate,      Sum,
    SumSquares,          Scale,            Fill,
    nullptr,             nullptr,          nullptr,
};

}  // namespace

const OpTable& ReferenceOpTable() { return kReferenceTable; }

}  // namespace agora::kernels
