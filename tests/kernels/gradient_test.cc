// Every op's backward pass against float64 central finite differences of an
// independent float64 forward: loss = sum(out * r) for random r, so the
// backward ops get dout = r. Tolerance, for every gradient element g against
// the finite difference fd:  |g - fd| <= 1e-4 + 1e-3 |fd|.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "tests/kernels/kernel_test_util.h"

namespace agora::kernels {
namespace {

constexpr double kAbsTolerance = 1e-4;
constexpr double kRelTolerance = 1e-3;
constexpr double kStep = 1e-5;

using Vec = std::vector<double>;

std::vector<float> ToFloat(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }

Vec RandomD(std::mt19937_64& rng, size_t n, double scale = 1.0) {
  const std::vector<float> f = testing::Random(rng, n, static_cast<float>(scale));
  return Vec(f.begin(), f.end());  // values representable in float, so both sides see the same input
}

double Dot(const Vec& a, const Vec& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Compares `analytic` (the kernels' gradient with respect to x) with central
// differences of loss() as x[i] moves.
void ExpectGradient(const std::string& what, Vec& x, const std::function<double()>& loss,
                    const std::vector<float>& analytic) {
  ASSERT_EQ(x.size(), analytic.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + kStep;
    const double plus = loss();
    x[i] = saved - kStep;
    const double minus = loss();
    x[i] = saved;
    const double fd = (plus - minus) / (2 * kStep);
    ASSERT_LE(std::fabs(analytic[i] - fd), kAbsTolerance + kRelTolerance * std::fabs(fd))
        << what << " element " << i << ": kernel " << analytic[i] << ", finite difference " << fd
        << "\n"
        << testing::Reproduce();
  }
}

class GradientTest : public ::testing::TestWithParam<Backend> {};

TEST_P(GradientTest, Matmul) {
  std::mt19937_64 rng(testing::TestSeed() + 10);
  const int rows = 5, in_dim = 7, out_dim = 3;
  Vec inp = RandomD(rng, rows * in_dim), weight = RandomD(rng, out_dim * in_dim);
  Vec bias = RandomD(rng, out_dim), r = RandomD(rng, rows * out_dim);
  auto loss = [&] {
    Vec out(rows * out_dim);
    for (int n = 0; n < rows; ++n) {
      for (int o = 0; o < out_dim; ++o) {
        double s = bias[o];
        for (int k = 0; k < in_dim; ++k) s += inp[n * in_dim + k] * weight[o * in_dim + k];
        out[n * out_dim + o] = s;
      }
    }
    return Dot(out, r);
  };
  std::vector<float> dinp(inp.size()), dweight(weight.size()), dbias(bias.size());
  MatmulBackward(GetParam(), dinp.data(), dweight.data(), dbias.data(), ToFloat(r).data(),
                 ToFloat(inp).data(), ToFloat(weight).data(), rows, in_dim, out_dim);
  ExpectGradient("matmul dinp", inp, loss, dinp);
  ExpectGradient("matmul dweight", weight, loss, dweight);
  ExpectGradient("matmul dbias", bias, loss, dbias);
}

TEST_P(GradientTest, BiasAndResidual) {
  std::mt19937_64 rng(testing::TestSeed() + 11);
  const int rows = 4, channels = 5;
  Vec inp = RandomD(rng, rows * channels), bias = RandomD(rng, channels);
  Vec other = RandomD(rng, rows * channels), r = RandomD(rng, rows * channels);
  auto loss = [&] {
    double s = 0.0;
    for (int i = 0; i < rows * channels; ++i) s += (inp[i] + bias[i % channels] + other[i]) * r[i];
    return s;
  };
  std::vector<float> dbias(channels), dinp(inp.size()), dother(other.size());
  BiasBackward(GetParam(), dbias.data(), ToFloat(r).data(), rows, channels);
  ResidualBackward(GetParam(), dinp.data(), dother.data(), ToFloat(r).data(), rows * channels);
  ExpectGradient("bias dbias", bias, loss, dbias);
  ExpectGradient("residual da", inp, loss, dinp);
  ExpectGradient("residual db", other, loss, dother);
}

TEST_P(GradientTest, LayerNorm) {
  std::mt19937_64 rng(testing::TestSeed() + 12);
  const int rows = 3, channels = 11;
  Vec inp = RandomD(rng, rows * channels, 2.0), weight = RandomD(rng, channels);
  Vec bias = RandomD(rng, channels), r = RandomD(rng, rows * channels);
  auto loss = [&] {
    double s = 0.0;
    for (int n = 0; n < rows; ++n) {
      const double* x = &inp[n * channels];
      double mean = 0.0, var = 0.0;
      for (int c = 0; c < channels; ++c) mean += x[c];
      mean /= channels;
      for (int c = 0; c < channels; ++c) var += (x[c] - mean) * (x[c] - mean);
      const double rstd = 1.0 / std::sqrt(var / channels + kLayerNormEps);
      for (int c = 0; c < channels; ++c) {
        s += ((x[c] - mean) * rstd * weight[c] + bias[c]) * r[n * channels + c];
      }
    }
    return s;
  };
  const std::vector<float> inp_f = ToFloat(inp), weight_f = ToFloat(weight);
  std::vector<float> out(inp.size()), mean(rows), rstd(rows);
  LayerNormForward(GetParam(), out.data(), mean.data(), rstd.data(), inp_f.data(), weight_f.data(),
                   ToFloat(bias).data(), rows, channels);
  std::vector<float> dinp(inp.size()), dweight(channels), dbias(channels);
  LayerNormBackward(GetParam(), dinp.data(), dweight.data(), dbias.data(), ToFloat(r).data(),
                    inp_f.data(), weight_f.data(), mean.data(), rstd.data(), rows, channels);
  ExpectGradient("layernorm dinp", inp, loss, dinp);
  ExpectGradient("layernorm dweight", weight, loss, dweight);
  ExpectGradient("layernorm dbias", bias, loss, dbias);
}

TEST_P(GradientTest, Gelu) {
  std::mt19937_64 rng(testing::TestSeed() + 13);
  Vec inp = RandomD(rng, 41, 4.0), r = RandomD(rng, 41);
  auto loss = [&] {
    double s = 0.0;
    for (size_t i = 0; i < inp.size(); ++i) {
      const double x = inp[i];
      const double g = 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
      s += g * r[i];
    }
    return s;
  };
  std::vector<float> dinp(inp.size());
  GeluBackward(GetParam(), dinp.data(), ToFloat(inp).data(), ToFloat(r).data(), 41);
  ExpectGradient("gelu dinp", inp, loss, dinp);
}

TEST_P(GradientTest, Attention) {
  std::mt19937_64 rng(testing::TestSeed() + 14);
  const int batch = 2, seq_len = 4, channels = 6, heads = 2, head_dim = channels / heads;
  Vec qkv = RandomD(rng, batch * seq_len * 3 * channels), r = RandomD(rng, batch * seq_len * channels);
  auto loss = [&] {
    double s = 0.0;
    const double scale = 1.0 / std::sqrt(double(head_dim));
    for (int b = 0; b < batch; ++b) {
      for (int h = 0; h < heads; ++h) {
        for (int t = 0; t < seq_len; ++t) {
          auto at = [&](int tt, int part, int i) {
            return qkv[(b * seq_len + tt) * 3 * channels + part * channels + h * head_dim + i];
          };
          std::vector<double> w(t + 1);
          double m = -INFINITY, sum = 0.0;
          for (int t2 = 0; t2 <= t; ++t2) {
            double d = 0.0;
            for (int i = 0; i < head_dim; ++i) d += at(t, 0, i) * at(t2, 1, i);
            w[t2] = d * scale;
            m = std::max(m, w[t2]);
          }
          for (double& v : w) sum += (v = std::exp(v - m));
          for (int i = 0; i < head_dim; ++i) {
            double y = 0.0;
            for (int t2 = 0; t2 <= t; ++t2) y += w[t2] / sum * at(t2, 2, i);
            s += y * r[(b * seq_len + t) * channels + h * head_dim + i];
          }
        }
      }
    }
    return s;
  };
  const std::vector<float> qkv_f = ToFloat(qkv);
  std::vector<float> out(r.size()), att(batch * heads * seq_len * seq_len), dqkv(qkv.size());
  AttentionForward(GetParam(), out.data(), att.data(), qkv_f.data(), batch, seq_len, channels,
                   heads);
  AttentionBackward(GetParam(), dqkv.data(), ToFloat(r).data(), qkv_f.data(), att.data(), batch,
                    seq_len, channels, heads);
  ExpectGradient("attention dqkv", qkv, loss, dqkv);
}

TEST_P(GradientTest, CrossEntropy) {
  std::mt19937_64 rng(testing::TestSeed() + 15);
  const int rows = 4, vocab = 9;
  Vec logits = RandomD(rng, rows * vocab, 3.0), r = RandomD(rng, rows);
  std::vector<int32_t> targets = {0, 8, 3, 3};
  auto loss = [&] {
    double s = 0.0;
    for (int n = 0; n < rows; ++n) {
      double sum = 0.0;
      for (int i = 0; i < vocab; ++i) sum += std::exp(logits[n * vocab + i]);
      s += (std::log(sum) - logits[n * vocab + targets[n]]) * r[n];
    }
    return s;
  };
  std::vector<float> losses(rows), probs(logits.size()), dlogits(logits.size());
  CrossEntropyForward(GetParam(), losses.data(), probs.data(), ToFloat(logits).data(),
                      targets.data(), rows, vocab);
  CrossEntropyBackward(GetParam(), dlogits.data(), ToFloat(r).data(), probs.data(), targets.data(),
                       rows, vocab);
  ExpectGradient("cross-entropy dlogits", logits, loss, dlogits);
}

TEST_P(GradientTest, Embedding) {
  std::mt19937_64 rng(testing::TestSeed() + 16);
  const int batch = 2, seq_len = 3, channels = 5, vocab = 4;
  Vec wte = RandomD(rng, vocab * channels), wpe = RandomD(rng, seq_len * channels);
  Vec r = RandomD(rng, batch * seq_len * channels);
  std::vector<int32_t> tokens = {1, 3, 1, 0, 1, 3};
  auto loss = [&] {
    double s = 0.0;
    for (int n = 0; n < batch * seq_len; ++n) {
      for (int c = 0; c < channels; ++c) {
        s += (wte[tokens[n] * channels + c] + wpe[(n % seq_len) * channels + c]) * r[n * channels + c];
      }
    }
    return s;
  };
  std::vector<float> dwte(wte.size()), dwpe(wpe.size());
  EmbeddingBackward(GetParam(), dwte.data(), dwpe.data(), ToFloat(r).data(), tokens.data(), batch,
                    seq_len, channels, vocab);
  ExpectGradient("embedding dwte", wte, loss, dwte);
  ExpectGradient("embedding dwpe", wpe, loss, dwpe);
}

INSTANTIATE_TEST_SUITE_P(Backends, GradientTest,
                         ::testing::Values(Backend::kReference, Backend::kCpu),
                         [](const ::testing::TestParamInfo<Backend>& param_info) {
                           return std::string(BackendName(param_info.param));
                         });

// AdamW and clipping have no gradient; check them against float64 formulas.
TEST(OptimizerTest, AdamWAndClipMatchFloat64) {
  std::mt19937_64 rng(testing::TestSeed() + 17);
  const int n = 37;
  auto params = testing::Random(rng, n), grads = testing::Random(rng, n, 3.0f);
  auto m = testing::Random(rng, n, 0.1f), v = testing::Random(rng, n, 0.1f);
  for (float& x : v) x = x * x;
  const AdamWConfig config{1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f};
  const int step = 3;
  auto p2 = params, m2 = m, v2 = v;
  AdamWUpdate(Backend::kCpu, p2.data(), grads.data(), m2.data(), v2.data(), n, config, step);
  for (int i = 0; i < n; ++i) {
    const double g = grads[i];
    const double mi = 0.9 * m[i] + 0.1 * g, vi = 0.95 * v[i] + 0.05 * g * g;
    const double mh = mi / (1 - std::pow(0.9, step)), vh = vi / (1 - std::pow(0.95, step));
    const double want = params[i] - 1e-2 * (mh / (std::sqrt(vh) + 1e-8) + 0.1 * params[i]);
    EXPECT_NEAR(p2[i], want, 1e-5 * (1 + std::fabs(want))) << i;
  }
  double norm = 0.0;
  for (float g : grads) norm += double(g) * g;
  norm = std::sqrt(norm);
  auto clipped = grads;
  const float got = ClipGradNorm(Backend::kCpu, clipped.data(), n, 1.0f);
  EXPECT_NEAR(got, norm, 1e-5 * norm);
  double after = 0.0;
  for (float g : clipped) after += double(g) * g;
  EXPECT_NEAR(std::sqrt(after), 1.0, 1e-5);
}

}  // namespace
}  // namespace agora::kernels
