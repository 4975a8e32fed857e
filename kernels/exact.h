// The scalar building blocks of the exact tier, written once for the CPU and
// for CUDA: IEEE fma, division and square root with one rounding each, bit
// casts, and the in-house transcendentals (kernels/math.h documents them).
// Under nvcc every function here is __host__ __device__; under a plain C++
// compiler the same text is ordinary inline code, so a CPU test runs exactly
// the operations a GPU thread runs (tests/kernels/cuda_plan_test.cc).
//
// Include only from sources built with agora_fp_strict (-ffp-contract=off on
// the CPU, --fmad=false -ftz=false -prec-div=true -prec-sqrt=true in CUDA):
// a compiler that fused `a * b + c` on its own would change the bits.
//
// Thread safety: pure functions.
#ifndef AGORA_KERNELS_EXACT_H_
#define AGORA_KERNELS_EXACT_H_

#include <cstdint>

#ifndef __CUDA_ARCH__
#include <bit>
#include <cmath>
#endif

#include "kernels/math.h"

#if defined(__CUDACC__)
#define AGORA_HD __host__ __device__
#else
#define AGORA_HD
#endif

namespace agora::kernels::exact {

// a * b + c with one rounding.
AGORA_HD inline float Fma(float a, float b, float c) {
#ifdef __CUDA_ARCH__
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

// Correctly rounded a / b.
AGORA_HD inline float Div(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

// Correctly rounded square root.
AGORA_HD inline float Sqrt(float x) {
#ifdef __CUDA_ARCH__
  return __fsqrt_rn(x);
#else
  return std::sqrt(x);
#endif
}

AGORA_HD inline float FromBits(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  return std::bit_cast<float>(u);
#endif
}

AGORA_HD inline uint32_t ToBits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  return std::bit_cast<uint32_t>(f);
#endif
}

AGORA_HD inline float ExpF(float x) {
  using namespace math_constants;
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
  const float s1 = FromBits(static_cast<uint32_t>(n1 + 127) << 23);
  const float s2 = FromBits(static_cast<uint32_t>(n2 + 127) << 23);
  const float result = (p * s1) * s2;
  return x != x ? x : result;
}

AGORA_HD inline float LogF(float x) {
  using namespace math_constants;
  const uint32_t bits_in = ToBits(x);
  // Denormals are scaled into the normal range first (k starts at -25).
  const bool denormal = bits_in < kMinNormalBits;
  const float scaled = denormal ? x * kLogDenormScale : x;
  uint32_t ix = ToBits(scaled);
  ix += kOneBits - kLogSqrtHalfBits;
  const int32_t k = static_cast<int32_t>(ix >> 23) - 0x7f - (denormal ? 25 : 0);
  ix = (ix & 0x007fffffu) + kLogSqrtHalfBits;
  const float m = FromBits(ix);
  const float f = m - 1.0f;
  const float s = Div(f, 2.0f + f);
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
  if ((bits_in & kSignBits) != 0 && (bits_in & kAbsBits) != 0) return FromBits(kQuietNaNBits);
  if ((bits_in & kAbsBits) == 0) return -FromBits(kInfBits);
  if (bits_in == kInfBits) return x;
  return result;
}

AGORA_HD inline float TanhF(float x) {
  using namespace math_constants;
  const uint32_t sign = ToBits(x) & kSignBits;
  const float a = FromBits(ToBits(x) & kAbsBits);
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
  const float big = 1.0f - Div(2.0f, e + 1.0f);
  const float r = a < kTanhSmall ? small : big;
  return FromBits(ToBits(r) | sign);
}

}  // namespace agora::kernels::exact

#endif  // AGORA_KERNELS_EXACT_H_
