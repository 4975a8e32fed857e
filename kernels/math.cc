// Scalar transcendentals. Every line mirrors one SIMD step in
// cpu/simd_math.inc; keep the two in lockstep.
#include "kernels/math.h"

#include <bit>
#include <cmath>

namespace agora::kernels {
namespace {

using namespace math_constants;

inline float Bits(uint32_t u) { return std::bit_cast<float>(u); }
inline uint32_t Bits(float f) { return std::bit_cast<uint32_t>(f); }

// IEEE fused multiply-add a*b+c, one rounding. Hardware or glibc software fma
// are both correctly rounded, so this is the same on every platform.
inline float Fma(float a, float b, float c) { return std::fma(a, b, c); }

}  // namespace

float ExpF(float x) {
  float xc = x > kExpXMin ? x : kExpXMin;  // NaN goes to kExpXMin; fixed below
  xc = xc < kExpXMax ? xc : kExpXMax;
  const float t = Fma(xc, kLog2e, kShifter);
  const float kf = t - kShifter;
  float r = Fma(kf, -kLn2Hi, xc);
  r = Fma(kf, -kLn2Lo, r);
  float p = kExpC7;
  p = Fma(p, r, kExpC6);
  p = Fma(p, r, kExpC5);
  p = Fma(p, r, kExpC4);
  p = Fma(p, r, kExpC3);
  p = Fma(p, r, kExpC2);
  p = Fma(p, r, 1.0f);
  p = Fma(p, r, 1.0f);
  const int32_t n = static_cast<int32_t>(kf);  // exact: kf is an integer in [-150, 129]
  const int32_t n1 = n >> 1;
  const int32_t n2 = n - n1;
  const float s1 = Bits(static_cast<uint32_t>(n1 + 127) << 23);
  const float s2 = Bits(static_cast<uint32_t>(n2 + 127) << 23);
  const float result = (p * s1) * s2;
  return x != x ? x : result;
}

float LogF(float x) {
  const uint32_t bits_in = Bits(x);
  // Denormals are scaled into the normal range first (k starts at -25).
  const bool denormal = bits_in < kMinNormalBits;
  const float scaled = denormal ? x * kLogDenormScale : x;
  uint32_t ix = Bits(scaled);
  ix += kOneBits - kLogSqrtHalfBits;
  const int32_t k = static_cast<int32_t>(ix >> 23) - 0x7f - (denormal ? 25 : 0);
  ix = (ix & 0x007fffffu) + kLogSqrtHalfBits;
  const float m = Bits(ix);
  const float f = m - 1.0f;
  const float s = f / (2.0f + f);
  const float z = s * s;
  const float w = z * z;
  const float t1 = w * (kLogLg2 + w * kLogLg4);
  const float t2 = z * (kLogLg1 + w * kLogLg3);
  const float big_r = t2 + t1;
  const float hfsq = 0.5f * f * f;
  const float dk = static_cast<float>(k);
  const float result = s * (hfsq + big_r) + dk * kLogLn2Lo - hfsq + f + dk * kLogLn2Hi;
  // Special cases, in this priority: NaN, negative, zero, +inf.
  if (x != x) return x;
  if ((bits_in & kSignBits) != 0 && (bits_in & kAbsBits) != 0) return Bits(kQuietNaNBits);
  if ((bits_in & kAbsBits) == 0) return -Bits(kInfBits);
  if (bits_in == kInfBits) return x;
  return result;
}

float TanhF(float x) {
  const uint32_t sign = Bits(x) & kSignBits;
  const float a = Bits(Bits(x) & kAbsBits);
  const float z = a * a;
  float p = kTanhC19;
  p = Fma(p, z, kTanhC17);
  p = Fma(p, z, kTanhC15);
  p = Fma(p, z, kTanhC13);
  p = Fma(p, z, kTanhC11);
  p = Fma(p, z, kTanhC9);
  p = Fma(p, z, kTanhC7);
  p = Fma(p, z, kTanhC5);
  p = Fma(p, z, kTanhC3);
  const float small = Fma(p * z, a, a);
  const float e = ExpF(a + a);
  const float big = 1.0f - 2.0f / (e + 1.0f);
  const float r = a < kTanhSmall ? small : big;
  return Bits(Bits(r) | sign);
}

}  // namespace agora::kernels
