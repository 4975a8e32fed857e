// Fast CPU ops against the reference, bit for bit: odd, prime, tiny and
// non-multiple-of-16 shapes, special values, every instruction set the CPU
// has, on 1 thread and on several. The same checks run the CUDA tier's
// plans on the CPU (tests/kernels/host_plan_table.h) and, where a GPU is
// visible, Backend::kCuda itself.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <limits>

#include "kernels/buffer.h"
#include "kernels/device.h"
#include "tests/kernels/host_plan_table.h"
#include "tests/kernels/kernel_test_util.h"

namespace agora::kernels {
namespace {

using testing::ConfigGuard;
using testing::FastConfigs;
using testing::Random;
using testing::Reproduce;
using testing::SameBits;
using testing::Sprinkle;
using Outputs = std::vector<std::vector<float>>;

// Runs `run` with the reference and with the fast backend in every
// configuration; every output must match bit for bit.
void ExpectFastMatchesReference(const std::string& what,
                                const std::function<Outputs(Backend)>& run) {
  ConfigGuard guard;
  const Outputs want = run(Backend::kReference);
  for (const testing::FastConfig& config : FastConfigs()) {
    guard.Apply(config);
    const Outputs got = run(Backend::kCpu);
    ASSERT_EQ(want.size(), got.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_TRUE(SameBits(want[i], got[i]))
          << what << ", output " << i << ", " << config.Name() << "\n"
          << Reproduce();
    }
  }
  // The CUDA tier's plans, run on the CPU (everywhere), then on the GPU
  // (where one is visible).
  auto expect_cuda = [&](const char* where) {
    const Outputs got = run(Backend::kCuda);
    ASSERT_EQ(want.size(), got.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_TRUE(SameBits(want[i], got[i]))
          << what << ", output " << i << ", " << where << "\n"
          << Reproduce();
    }
  };
  {
    testing::ScopedHostPlans host_plans;
    expect_cuda("CUDA plans on the CPU");
  }
  const Status ready = CudaOpsReady();
  if (ready.ok()) {
    expect_cuda("CUDA on the GPU");
  } else if (testing::GpuRequired()) {
    FAIL() << "AGORA_REQUIRE_GPU=1 but " << ready.ToString();
  }
}

struct MatmulShape {
  int rows, in_dim, out_dim;
};

// Sizes 1, odd, prime, around the vector width and the 12 x 32 microkernel
// tile, and past the fast GEMM's blocks: 768-row and 512-column work items and
// 384-k blocks, for each of the three products (forward: k = in_dim; dinp:
// k = out_dim; dweight: rows = out_dim, k = rows). k > 384 exercises the
// carried partial sum.
const MatmulShape kMatmulShapes[] = {
    {1, 1, 1},      {1, 7, 3},      {3, 17, 5},     {13, 31, 33},  {16, 16, 16},
    {97, 61, 47},   {5, 9, 300},    {31, 257, 130}, {2, 513, 17},  {100, 300, 70},
    {193, 33, 257}, {12, 385, 32},  {7, 13, 777},   {800, 11, 6}};

void CheckMatmul(bool specials) {
  std::mt19937_64 rng(testing::TestSeed());
  for (const MatmulShape& s : kMatmulShapes) {
    auto inp = Random(rng, size_t(s.rows) * s.in_dim);
    auto weight = Random(rng, size_t(s.out_dim) * s.in_dim);
    auto bias = Random(rng, s.out_dim);
    auto dout = Random(rng, size_t(s.rows) * s.out_dim);
    auto dinp0 = Random(rng, inp.size()), dweight0 = Random(rng, weight.size());
    auto dbias0 = Random(rng, bias.size());
    if (specials) {
      for (auto* v : {&inp, &weight, &bias, &dout, &dinp0}) Sprinkle(rng, *v, 40);
    }
    const std::string what = "matmul " + std::to_string(s.rows) + "x" +
                             std::to_string(s.in_dim) + "x" + std::to_string(s.out_dim);
    ExpectFastMatchesReference(what, [&](Backend backend) {
      std::vector<float> out(size_t(s.rows) * s.out_dim), out_nobias(out.size());
      MatmulForward(backend, out.data(), inp.data(), weight.data(), bias.data(), s.rows, s.in_dim,
                    s.out_dim);
      MatmulForward(backend, out_nobias.data(), inp.data(), weight.data(), nullptr, s.rows,
                    s.in_dim, s.out_dim);
      auto dinp = dinp0, dweight = dweight0, dbias = dbias0;
      MatmulBackward(backend, dinp.data(), dweight.data(), dbias.data(), dout.data(), inp.data(),
                     weight.data(), s.rows, s.in_dim, s.out_dim);
      return Outputs{out, out_nobias, dinp, dweight, dbias};
    });
  }
}

TEST(OpsFastTest, Matmul) { CheckMatmul(/*specials=*/false); }

TEST(OpsFastTest, MatmulRandomShapes) {
  std::mt19937_64 rng(testing::TestSeed() + 6);
  const int shapes = testing::Sanitized() ? 4 : 12;
  for (int i = 0; i < shapes; ++i) {
    const int rows = 1 + int(rng() % 150), in_dim = 1 + int(rng() % 300);
    const int out_dim = 1 + int(rng() % 300);
    auto inp = Random(rng, size_t(rows) * in_dim), weight = Random(rng, size_t(out_dim) * in_dim);
    auto dout = Random(rng, size_t(rows) * out_dim);
    const std::string what = "matmul " + std::to_string(rows) + "x" + std::to_string(in_dim) +
                             "x" + std::to_string(out_dim);
    ExpectFastMatchesReference(what, [&](Backend backend) {
      std::vector<float> out(size_t(rows) * out_dim), dinp(inp.size()), dweight(weight.size());
      MatmulForward(backend, out.data(), inp.data(), weight.data(), nullptr, rows, in_dim,
                    out_dim);
      MatmulBackward(backend, dinp.data(), dweight.data(), nullptr, dout.data(), inp.data(),
                     weight.data(), rows, in_dim, out_dim);
      return Outputs{out, dinp, dweight};
    });
  }
}
TEST(OpsFastTest, MatmulSpecialValues) { CheckMatmul(/*specials=*/true); }

// Every product underflows to -0, so every sum is -0 from its first fma on.
// A version that ran one extra fma(0, 0, acc) (say, over padding past k)
// would end at +0. k = 13 is not a multiple of any tile's depth.
TEST(OpsFastTest, MatmulKeepsASumOfNegativeZero) {
  const int rows = 3, in_dim = 13, out_dim = 5;
  std::vector<float> inp(size_t(rows) * in_dim, -1e-30f), weight(size_t(out_dim) * in_dim, 1e-30f);
  std::vector<float> dout(size_t(rows) * out_dim, -1e-30f);
  std::vector<float> reference(size_t(rows) * out_dim);
  MatmulForward(Backend::kReference, reference.data(), inp.data(), weight.data(), nullptr, rows,
                in_dim, out_dim);
  for (float x : reference) ASSERT_EQ(std::bit_cast<uint32_t>(x), 0x80000000u);
  ExpectFastMatchesReference("matmul of -0 sums", [&](Backend backend) {
    std::vector<float> out(size_t(rows) * out_dim);
    MatmulForward(backend, out.data(), inp.data(), weight.data(), nullptr, rows, in_dim, out_dim);
    // dinp sums over out_dim = 5, dweight over rows = 3: both short of a tile.
    std::vector<float> dinp(inp.size(), -0.0f), dweight(weight.size(), -0.0f);
    MatmulBackward(backend, dinp.data(), dweight.data(), nullptr, dout.data(), inp.data(),
                   weight.data(), rows, in_dim, out_dim);
    return Outputs{out, dinp, dweight};
  });
}

const int kRowShapes[][2] = {{1, 1},  {3, 7},   {5, 16},  {7, 17},  {11, 31},
                              {4, 64}, {33, 97}, {8, 255}, {2, 385}, {6, 1001}};

void CheckRowOps(bool specials) {
  std::mt19937_64 rng(testing::TestSeed() + 1);
  for (const auto& shape : kRowShapes) {
    const int rows = shape[0], channels = shape[1];
    const size_t n = size_t(rows) * channels;
    auto inp = Random(rng, n, 3.0f), other = Random(rng, n), dout = Random(rng, n);
    auto weight = Random(rng, channels), bias = Random(rng, channels);
    auto grad0 = Random(rng, n), wgrad0 = Random(rng, channels), bgrad0 = Random(rng, channels);
    if (specials) {
      for (auto* v : {&inp, &other, &dout, &grad0}) Sprinkle(rng, *v);
    }
    const std::string what = "row ops " + std::to_string(rows) + "x" + std::to_string(channels);
    ExpectFastMatchesReference(what, [&](Backend backend) {
      std::vector<float> ln(n), mean(rows), rstd(rows), gelu(n), res(n), biased(n);
      LayerNormForward(backend, ln.data(), mean.data(), rstd.data(), inp.data(), weight.data(),
                       bias.data(), rows, channels);
      auto dinp = grad0, dweight = wgrad0, dbias = bgrad0;
      LayerNormBackward(backend, dinp.data(), dweight.data(), dbias.data(), dout.data(),
                        inp.data(), weight.data(), mean.data(), rstd.data(), rows, channels);
      GeluForward(backend, gelu.data(), inp.data(), int64_t(n));
      auto dgelu = grad0;
      GeluBackward(backend, dgelu.data(), inp.data(), dout.data(), int64_t(n));
      ResidualForward(backend, res.data(), inp.data(), other.data(), int64_t(n));
      auto da = grad0, db = dinp;
      ResidualBackward(backend, da.data(), db.data(), dout.data(), int64_t(n));
      BiasForward(backend, biased.data(), inp.data(), bias.data(), rows, channels);
      auto dbias2 = bgrad0;
      BiasBackward(backend, dbias2.data(), dout.data(), rows, channels);
      return Outputs{ln, mean, rstd, dinp, dweight, dbias, gelu, dgelu, res, da, db, biased, dbias2};
    });
  }
}

TEST(OpsFastTest, RowOps) { CheckRowOps(/*specials=*/false); }
TEST(OpsFastTest, RowOpsSpecialValues) { CheckRowOps(/*specials=*/true); }

void CheckSoftmaxCrossEntropy(bool specials) {
  std::mt19937_64 rng(testing::TestSeed() + 2);
  for (const auto& shape : kRowShapes) {
    const int rows = shape[0], vocab = shape[1];
    const size_t n = size_t(rows) * vocab;
    auto logits = Random(rng, n, 8.0f), grad0 = Random(rng, n), dlosses = Random(rng, rows);
    if (specials) Sprinkle(rng, logits, 16);
    std::vector<int32_t> targets(rows);
    for (int32_t& t : targets) t = int32_t(rng() % uint64_t(vocab));
    const std::string what = "softmax/cross-entropy " + std::to_string(rows) + "x" +
                             std::to_string(vocab);
    ExpectFastMatchesReference(what, [&](Backend backend) {
      std::vector<float> probs(n), probs2(n), losses(rows);
      SoftmaxForward(backend, probs.data(), logits.data(), rows, vocab);
      CrossEntropyForward(backend, losses.data(), probs2.data(), logits.data(), targets.data(),
                          rows, vocab);
      auto dlogits = grad0;
      CrossEntropyBackward(backend, dlogits.data(), dlosses.data(), probs2.data(), targets.data(),
                           rows, vocab);
      return Outputs{probs, probs2, losses, dlogits};
    });
  }
}

TEST(OpsFastTest, SoftmaxCrossEntropy) { CheckSoftmaxCrossEntropy(false); }
TEST(OpsFastTest, SoftmaxCrossEntropySpecialValues) { CheckSoftmaxCrossEntropy(true); }

void CheckAttention(bool specials) {
  std::mt19937_64 rng(testing::TestSeed() + 3);
  // batch, seq_len, channels, heads: head sizes 1, 3, 5, 16, 17, 32.
  const int shapes[][4] = {{1, 1, 1, 1}, {2, 3, 6, 2}, {1, 7, 15, 3}, {2, 5, 32, 2},
                           {1, 19, 34, 2}, {3, 17, 64, 2}, {1, 33, 32, 1}};
  for (const auto& s : shapes) {
    const int batch = s[0], seq_len = s[1], channels = s[2], heads = s[3];
    const size_t n = size_t(batch) * seq_len * channels;
    auto qkv = Random(rng, 3 * n, 2.0f), dout = Random(rng, n), grad0 = Random(rng, 3 * n);
    if (specials) Sprinkle(rng, qkv, 64);
    const std::string what = "attention " + std::to_string(batch) + "x" +
                             std::to_string(seq_len) + "x" + std::to_string(channels) + "/" +
                             std::to_string(heads);
    ExpectFastMatchesReference(what, [&](Backend backend) {
      std::vector<float> out(n), att(size_t(batch) * heads * seq_len * seq_len);
      AttentionForward(backend, out.data(), att.data(), qkv.data(), batch, seq_len, channels,
                       heads);
      auto dqkv = grad0;
      AttentionBackward(backend, dqkv.data(), dout.data(), qkv.data(), att.data(), batch, seq_len,
                        channels, heads);
      return Outputs{out, att, dqkv};
    });
  }
}

TEST(OpsFastTest, Attention) { CheckAttention(false); }
TEST(OpsFastTest, AttentionSpecialValues) { CheckAttention(true); }

TEST(OpsFastTest, Embedding) {
  std::mt19937_64 rng(testing::TestSeed() + 4);
  const int shapes[][4] = {{1, 1, 1, 1}, {2, 5, 7, 3}, {3, 11, 33, 13}, {4, 16, 64, 5}};
  for (const auto& s : shapes) {
    const int batch = s[0], seq_len = s[1], channels = s[2], vocab = s[3];
    const size_t n = size_t(batch) * seq_len * channels;
    auto wte = Random(rng, size_t(vocab) * channels), wpe = Random(rng, size_t(seq_len) * channels);
    auto dout = Random(rng, n), dwte0 = Random(rng, wte.size()), dwpe0 = Random(rng, wpe.size());
    std::vector<int32_t> tokens(size_t(batch) * seq_len);
    for (int32_t& t : tokens) t = int32_t(rng() % uint64_t(vocab));  // repeats on purpose
    ExpectFastMatchesReference("embedding", [&](Backend backend) {
      std::vector<float> out(n);
      EmbeddingForward(backend, out.data(), tokens.data(), wte.data(), wpe.data(), batch, seq_len,
                       channels, vocab);
      auto dwte = dwte0, dwpe = dwpe0;
      EmbeddingBackward(backend, dwte.data(), dwpe.data(), dout.data(), tokens.data(), batch,
                        seq_len, channels, vocab);
      return Outputs{out, dwte, dwpe};
    });
  }
}

void CheckOptimizer(bool specials) {
  std::mt19937_64 rng(testing::TestSeed() + 5);
  for (int64_t n : {int64_t(1), int64_t(15), int64_t(17), int64_t(1000), int64_t(40007)}) {
    auto params0 = Random(rng, size_t(n)), grads = Random(rng, size_t(n), 10.0f);
    auto m0 = Random(rng, size_t(n), 0.1f), v0 = Random(rng, size_t(n), 0.1f);
    for (float& v : v0) v = std::fabs(v);
    if (specials) Sprinkle(rng, grads, 32);
    AdamWConfig config;
    config.weight_decay = 0.1f;
    ExpectFastMatchesReference("optimizer n=" + std::to_string(n), [&](Backend backend) {
      auto params = params0, m = m0, v = v0, clipped = grads;
      AdamWUpdate(backend, params.data(), grads.data(), m.data(), v.data(), n, config, 7);
      const float sum = Sum(backend, grads.data(), n);
      const float norm = ClipGradNorm(backend, clipped.data(), n, 1.0f);
      return Outputs{params, m, v, clipped, {sum, norm}};
    });
  }
}

TEST(OpsFastTest, Optimizer) { CheckOptimizer(false); }

// Device-resident (managed) tensors run without staging, and the op has
// finished when it returns: the host reads the result at once.
TEST(CudaOpsTest, ManagedTensorsNeedNoStaging) {
  const Status ready = CudaOpsReady();
  if (!ready.ok()) {
    if (testing::GpuRequired()) FAIL() << "AGORA_REQUIRE_GPU=1 but " << ready.ToString();
    GTEST_SKIP() << ready.ToString();
  }
  std::mt19937_64 rng(testing::TestSeed() + 9);
  const int rows = 37, in_dim = 129, out_dim = 70;
  const auto inp = Random(rng, size_t(rows) * in_dim), weight = Random(rng, size_t(out_dim) * in_dim);
  auto d_inp = CudaManagedFloats(inp.size()), d_weight = CudaManagedFloats(weight.size());
  auto d_out = CudaManagedFloats(size_t(rows) * out_dim);
  ASSERT_TRUE(d_inp.ok() && d_weight.ok() && d_out.ok()) << d_out.status().ToString();
  std::copy(inp.begin(), inp.end(), d_inp->get());
  std::copy(weight.begin(), weight.end(), d_weight->get());
  MatmulForward(Backend::kCuda, d_out->get(), d_inp->get(), d_weight->get(), nullptr, rows, in_dim,
                out_dim);
  std::vector<float> want(size_t(rows) * out_dim);
  MatmulForward(Backend::kReference, want.data(), inp.data(), weight.data(), nullptr, rows, in_dim,
                out_dim);
  const std::vector<float> got(d_out->get(), d_out->get() + want.size());
  EXPECT_TRUE(SameBits(want, got)) << Reproduce();
}
TEST(OpsFastTest, OptimizerSpecialValues) { CheckOptimizer(true); }

// The native tier's matmuls (cuBLAS, TF32 products, FP32 sums) against the
// reference: each output within 2^-8 of the sum of |products| it adds and
// of what the gradient held (backward adds into it; TF32 keeps 10 of
// float's 23 mantissa bits), the bias gradient exactly (it is the exact
// tier's), every output the same bits on a second run, and a null
// gradient skipped.
TEST(NativeTierTest, MatmulsAreCloseToTheReferenceAndRepeatTheirBits) {
  const Status ready = CudaNativeReady();
  if (!ready.ok()) {
    if (testing::GpuRequired()) FAIL() << "AGORA_REQUIRE_GPU=1 but " << ready.ToString();
    GTEST_SKIP() << ready.ToString();
  }
  std::mt19937_64 rng(testing::TestSeed() + 12);
  const int shapes[][3] = {{1, 1, 1}, {37, 129, 70}, {256, 384, 1152}, {512, 768, 768}};
  for (const auto& shape : shapes) {
    const int rows = shape[0], in_dim = shape[1], out_dim = shape[2];
    const auto inp = Random(rng, size_t(rows) * in_dim), weight = Random(rng, size_t(out_dim) * in_dim);
    const auto bias = Random(rng, size_t(out_dim)), dout = Random(rng, size_t(rows) * out_dim);
    // Backward adds into what the gradients held.
    const auto dinp0 = Random(rng, inp.size()), dweight0 = Random(rng, weight.size());
    const auto dbias0 = Random(rng, bias.size());
    // which: 0 every gradient, 1 dinp only, 2 dweight only.
    auto run = [&](Backend backend, int which = 0) {
      std::vector<float> out(size_t(rows) * out_dim), dinp = dinp0, dweight = dweight0,
                                                      dbias = dbias0;
      MatmulForward(backend, out.data(), inp.data(), weight.data(), bias.data(), rows, in_dim,
                    out_dim);
      MatmulBackward(backend, which != 2 ? dinp.data() : nullptr,
                     which != 1 ? dweight.data() : nullptr, which == 0 ? dbias.data() : nullptr,
                     dout.data(), inp.data(), weight.data(), rows, in_dim, out_dim);
      return Outputs{out, dinp, dweight, dbias};
    };
    const Outputs want = run(Backend::kReference);
    const Outputs got = run(Backend::kCudaNative);
    EXPECT_TRUE(SameBits(got[3], want[3])) << "dbias " << rows << "x" << in_dim << "x" << out_dim;
    // Bounds: sum over k of |a_k b_k| for every output.
    auto check = [&](const char* what, const std::vector<float>& g, const std::vector<float>& w,
                     auto abs_sum) {
      size_t bad = 0;
      for (size_t i = 0; i < w.size(); ++i) {
        const double bound = std::ldexp(abs_sum(i), -8) + 1e-30;
        if (!(std::fabs(double(g[i]) - double(w[i])) <= bound)) ++bad;
      }
      EXPECT_EQ(bad, 0u) << what << " " << rows << "x" << in_dim << "x" << out_dim;
    };
    check("out", got[0], want[0], [&](size_t i) {
      const size_t r = i / out_dim, o = i % out_dim;
      double s = std::fabs(double(bias[o]));
      for (int k = 0; k < in_dim; ++k) s += std::fabs(double(inp[r * in_dim + k]) * weight[o * in_dim + k]);
      return s;
    });
    check("dinp", got[1], want[1], [&](size_t i) {
      const size_t r = i / in_dim, k = i % in_dim;
      double s = std::fabs(double(dinp0[i]));
      for (int o = 0; o < out_dim; ++o) s += std::fabs(double(dout[r * out_dim + o]) * weight[o * in_dim + k]);
      return s;
    });
    check("dweight", got[2], want[2], [&](size_t i) {
      const size_t o = i / in_dim, k = i % in_dim;
      double s = std::fabs(double(dweight0[i]));
      for (int r = 0; r < rows; ++r) s += std::fabs(double(dout[r * out_dim + o]) * inp[r * in_dim + k]);
      return s;
    });
    const Outputs again = run(Backend::kCudaNative);
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_TRUE(SameBits(again[i], got[i])) << "output " << i << " changed on a second run";
    }
    // A null gradient is skipped and leaves the others as they were.
    const Outputs dinp_only = run(Backend::kCudaNative, 1);
    EXPECT_TRUE(SameBits(dinp_only[1], got[1]));
    EXPECT_TRUE(SameBits(dinp_only[2], dweight0));
    EXPECT_TRUE(SameBits(dinp_only[3], dbias0));
    const Outputs dweight_only = run(Backend::kCudaNative, 2);
    EXPECT_TRUE(SameBits(dweight_only[2], got[2]));
    EXPECT_TRUE(SameBits(dweight_only[1], dinp0));
  }
}

TEST(OpsFastTest, Fill) {
  std::mt19937_64 rng(testing::TestSeed() + 10);
  const float values[] = {0.0f, -0.0f, 1.5f, std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::denorm_min(),
                          std::bit_cast<float>(0x7fc12345u)};  // a NaN with a payload
  for (int64_t n : {int64_t(0), int64_t(1), int64_t(15), int64_t(17), int64_t(40007)}) {
    const auto start = Random(rng, size_t(n) + 3);
    for (float value : values) {
      ExpectFastMatchesReference("fill n=" + std::to_string(n), [&](Backend backend) {
        auto x = start;  // the 3 floats past n must stay as they were
        Fill(backend, x.data(), n, value);
        return Outputs{x};
      });
    }
  }
}

// A FloatBuffer starts as +0 in every float, round-trips through
// CopyFloats, moves, and is freed the way it was allocated even when the
// backend's table changed in between.
void CheckFloatBuffer(Backend backend) {
  std::mt19937_64 rng(testing::TestSeed() + 11);
  for (size_t n : {size_t(1), size_t(17), size_t(40007)}) {
    FloatBuffer buffer(backend);
    buffer.resize(n);
    ASSERT_EQ(buffer.size(), n);
    std::vector<float> back(n, 1.0f);
    CopyFloats(backend, back.data(), buffer.data(), n);
    EXPECT_TRUE(SameBits(back, std::vector<float>(n, 0.0f))) << n;
    const auto values = Random(rng, n);
    CopyFloats(backend, buffer.data(), values.data(), n);
    FloatBuffer moved = std::move(buffer);
    EXPECT_TRUE(buffer.empty());
    EXPECT_EQ(buffer.data(), nullptr);
    CopyFloats(backend, back.data(), moved.data(), n);
    EXPECT_TRUE(SameBits(back, values)) << n;
    const float* memory = moved.data();
    moved.resize(n);  // drops the contents: zero again, in the same memory
    EXPECT_EQ(moved.data(), memory);
    CopyFloats(backend, back.data(), moved.data(), n);
    EXPECT_TRUE(SameBits(back, std::vector<float>(n, 0.0f))) << n;
    CopyFloats(backend, moved.data(), values.data(), n);
    moved.resize(n / 2 + 1);  // shorter: same memory, zeroed
    EXPECT_EQ(moved.data(), memory);
    EXPECT_EQ(moved.size(), n / 2 + 1);
    std::vector<float> half(n / 2 + 1, 1.0f);
    CopyFloats(backend, half.data(), moved.data(), half.size());
    EXPECT_TRUE(SameBits(half, std::vector<float>(half.size(), 0.0f))) << n;
  }
}

TEST(FloatBufferTest, HostMemoryForTheCpuBackends) {
  EXPECT_FALSE(BackendHasOwnMemory(Backend::kCpu));
  EXPECT_FALSE(BackendHasOwnMemory(Backend::kReference));
  CheckFloatBuffer(Backend::kCpu);
}

TEST(FloatBufferTest, TheCudaPlansOnTheCpuKeepTheirOwnMemory) {
  FloatBuffer outlives(Backend::kCuda);
  {
    testing::ScopedHostPlans host_plans;
    EXPECT_TRUE(BackendHasOwnMemory(Backend::kCuda));
    CheckFloatBuffer(Backend::kCuda);
    outlives.resize(5);
  }
  // Freed by the host plans' release, not by the real kCuda table.
  outlives.clear();
  EXPECT_TRUE(outlives.empty());
}

TEST(FloatBufferTest, GpuMemory) {
  const Status ready = CudaOpsReady();
  if (!ready.ok()) {
    if (testing::GpuRequired()) FAIL() << "AGORA_REQUIRE_GPU=1 but " << ready.ToString();
    GTEST_SKIP() << ready.ToString();
  }
  EXPECT_TRUE(BackendHasOwnMemory(Backend::kCuda));
  CheckFloatBuffer(Backend::kCuda);
}

}  // namespace
}  // namespace agora::kernels
