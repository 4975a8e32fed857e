// The in-house transcendentals: maximum ulp error against long double (printed
// and bounded), special values, and the SIMD versions equal to the scalar ones
// bit for bit.
#include "kernels/math.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/simd_math.h"
#include "tests/kernels/kernel_test_util.h"

namespace agora::kernels {
namespace {

// Error of `got` against `exact` in units of the last place of the float
// nearest to `exact` (denormal spacing below the normal range).
double UlpError(float got, long double exact) {
  if (std::isnan(exact)) return std::isnan(got) ? 0.0 : INFINITY;
  if (std::isinf(exact) || std::fabs(exact) > std::numeric_limits<float>::max()) {
    return std::isinf(got) && std::signbit(got) == std::signbit(exact) ? 0.0 : INFINITY;
  }
  int exponent;
  std::frexp(static_cast<double>(std::fabs(exact)), &exponent);
  const int ulp_exponent = std::max(exponent - 24, -149);
  return static_cast<double>(std::fabs(static_cast<long double>(got) - exact) /
                             std::ldexp(1.0L, ulp_exponent));
}

// Every `stride`-th float whose value lies in [lo, hi], by bit pattern, both signs.
std::vector<float> Samples(float lo, float hi, uint32_t stride) {
  std::vector<float> out;
  for (uint64_t bits = 0; bits < (uint64_t{1} << 32); bits += stride) {
    const float x = std::bit_cast<float>(static_cast<uint32_t>(bits));
    if (x >= lo && x <= hi) out.push_back(x);
  }
  for (float x : testing::SpecialValues()) out.push_back(x);
  return out;
}

uint32_t Stride() { return testing::Sanitized() ? 40009u : 4099u; }

double MaxUlp(const char* name, const std::vector<float>& xs, float (*fn)(float),
              long double (*exact)(long double)) {
  double worst = 0.0;
  float worst_x = 0.0f;
  for (float x : xs) {
    const double err = UlpError(fn(x), exact(static_cast<long double>(x)));
    if (err > worst) {
      worst = err;
      worst_x = x;
    }
  }
  std::printf("%-6s max error %.3f ulp at x = %a over %zu samples\n", name, worst, worst_x,
              xs.size());
  return worst;
}

TEST(MathTest, ExpUlp) {
  const auto xs = Samples(-104.0f, 89.0f, Stride());
  EXPECT_LE(MaxUlp("ExpF", xs, ExpF, [](long double x) { return std::exp(x); }), 1.0);
}

TEST(MathTest, LogUlp) {
  const auto xs = Samples(0.0f, std::numeric_limits<float>::infinity(), Stride());
  EXPECT_LE(MaxUlp("LogF", xs, LogF, [](long double x) { return std::log(x); }), 1.0);
}

TEST(MathTest, TanhUlp) {
  const auto xs = Samples(-std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::infinity(), Stride());
  EXPECT_LE(MaxUlp("TanhF", xs, TanhF, [](long double x) { return std::tanh(x); }), 2.0);
}

TEST(MathTest, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(ExpF(0.0f), 1.0f);
  EXPECT_EQ(ExpF(-0.0f), 1.0f);
  EXPECT_EQ(ExpF(inf), inf);
  EXPECT_EQ(ExpF(-inf), 0.0f);
  EXPECT_EQ(ExpF(100.0f), inf);
  EXPECT_EQ(ExpF(-200.0f), 0.0f);
  EXPECT_TRUE(std::isnan(ExpF(nan)));
  EXPECT_EQ(LogF(1.0f), 0.0f);
  EXPECT_EQ(LogF(0.0f), -inf);
  EXPECT_EQ(LogF(-0.0f), -inf);
  EXPECT_EQ(LogF(inf), inf);
  EXPECT_TRUE(std::isnan(LogF(-1.0f)));
  EXPECT_TRUE(std::isnan(LogF(-inf)));
  EXPECT_TRUE(std::isnan(LogF(nan)));
  EXPECT_EQ(TanhF(inf), 1.0f);
  EXPECT_EQ(TanhF(-inf), -1.0f);
  EXPECT_TRUE(std::signbit(TanhF(-0.0f)));
  EXPECT_EQ(TanhF(0.0f), 0.0f);
  EXPECT_TRUE(std::isnan(TanhF(nan)));
  const float denormal = std::numeric_limits<float>::denorm_min();
  EXPECT_EQ(TanhF(denormal), denormal);
  for (float x : {0.3f, 0.55f, 1.0f, 7.5f}) EXPECT_EQ(TanhF(-x), -TanhF(x)) << x;
}

#if defined(__x86_64__) || defined(__i386__)
void ExpectSimdMatchesScalar(CpuIsa isa, void (*exp_array)(float*, const float*, int64_t),
                             void (*tanh_array)(float*, const float*, int64_t)) {
  if (static_cast<int>(DetectedCpuIsa()) < static_cast<int>(isa)) {
    GTEST_SKIP() << CpuIsaName(isa) << " not available on this CPU";
  }
  const auto xs = Samples(-std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::infinity(), Stride());
  std::vector<float> got(xs.size()), want(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) want[i] = ExpF(xs[i]);
  exp_array(got.data(), xs.data(), static_cast<int64_t>(xs.size()));
  EXPECT_TRUE(testing::SameBits(want, got)) << "exp, " << CpuIsaName(isa);
  for (size_t i = 0; i < xs.size(); ++i) want[i] = TanhF(xs[i]);
  tanh_array(got.data(), xs.data(), static_cast<int64_t>(xs.size()));
  EXPECT_TRUE(testing::SameBits(want, got)) << "tanh, " << CpuIsaName(isa);
}

TEST(MathTest, Avx2MatchesScalar) {
  ExpectSimdMatchesScalar(CpuIsa::kAvx2, cpu::avx2::ExpArray, cpu::avx2::TanhArray);
}

TEST(MathTest, Avx512MatchesScalar) {
  ExpectSimdMatchesScalar(CpuIsa::kAvx512, cpu::avx512::ExpArray, cpu::avx512::TanhArray);
}
#endif

}  // namespace
}  // namespace agora::kernels
