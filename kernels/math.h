// In-house float32 transcendentals built only from + - * fma, IEEE division
// and square root, and exact integer bit manipulation. No libm, no compiler
// builtins: libm's expf/logf/tanhf differ between platforms and versions, and
// a validator on another machine must reproduce every bit.
//
// The fast CPU kernels run the same sequence of operations lane by lane
// (cpu/simd_math.inc), so scalar and SIMD results are identical; the tests
// check that, and print each function's maximum error in ulp against a long
// double reference.
//
// Measured maximum error (tests/kernels/math_test.cc, checked bounds):
//   ExpF   <= 1 ulp   over [-104, 89] (measured 0.88; denormal results in denormal ulps)
//   LogF   <= 1 ulp   over all positive floats, denormals included (measured 0.75)
//   TanhF  <= 2 ulp   over all floats (measured 1.47)
//
// Thread safety: pure functions.
#ifndef AGORA_KERNELS_MATH_H_
#define AGORA_KERNELS_MATH_H_

#include <cstdint>

namespace agora::kernels {

// e^x. Returns +inf above ~88.72, +0 below ~-103.97 (denormal results are
// rounded once from a normal intermediate), x itself when x is NaN.
float ExpF(float x);

// Natural logarithm. Returns -inf for +-0, +inf for +inf, x itself for NaN,
// and the quiet NaN kQuietNaNBits for negative x.
float LogF(float x);

// Hyperbolic tangent. Odd: TanhF(-x) == -TanhF(x) bit for bit; NaN keeps its
// payload.
float TanhF(float x);

// The constants both the scalar and SIMD versions use. Changing any of them
// changes results, i.e. the replay contract.
namespace math_constants {

inline constexpr uint32_t kQuietNaNBits = 0x7fc00000u;
inline constexpr uint32_t kSignBits = 0x80000000u;
inline constexpr uint32_t kAbsBits = 0x7fffffffu;

// ExpF: x is clamped to [kExpXMin, kExpXMax]; n = round(x / ln 2) by the
// shifter trick; r = x - n ln2 (two fma steps); e^r by Horner (Taylor, degree
// 7); scaled by 2^(n>>1) then by 2^(n - (n>>1)).
inline constexpr float kExpXMax = 89.0f;
inline constexpr float kExpXMin = -104.0f;
inline constexpr float kLog2e = 0x1.715476p+0f;
inline constexpr float kShifter = 0x1.8p+23f;
inline constexpr float kLn2Hi = 0x1.62e430p-1f;
inline constexpr float kLn2Lo = -0x1.05c610p-29f;
inline constexpr float kExpC2 = 0.5f;
inline constexpr float kExpC3 = 1.0f / 6.0f;
inline constexpr float kExpC4 = 1.0f / 24.0f;
inline constexpr float kExpC5 = 1.0f / 120.0f;
inline constexpr float kExpC6 = 1.0f / 720.0f;
inline constexpr float kExpC7 = 1.0f / 5040.0f;

// LogF (the FreeBSD/musl logf algorithm): x = 2^k * m, m in [sqrt(2)/2,
// sqrt(2)); f = m - 1; s = f / (2 + f); log(x) = s (f^2/2 + R(s^2)) + k ln2_lo
// - f^2/2 + f + k ln2_hi.
inline constexpr float kLogLn2Hi = 6.9313812256e-01f;  // 0x3f317180
inline constexpr float kLogLn2Lo = 9.0580006145e-06f;  // 0x3717f7d1
inline constexpr float kLogLg1 = 0xaaaaaa.0p-24f;
inline constexpr float kLogLg2 = 0xccce13.0p-25f;
inline constexpr float kLogLg3 = 0x91e9ee.0p-25f;
inline constexpr float kLogLg4 = 0xf89e26.0p-26f;
inline constexpr float kLogDenormScale = 0x1p25f;
inline constexpr uint32_t kLogSqrtHalfBits = 0x3f3504f3u;
inline constexpr uint32_t kOneBits = 0x3f800000u;
inline constexpr uint32_t kMinNormalBits = 0x00800000u;
inline constexpr uint32_t kInfBits = 0x7f800000u;

// TanhF on a = |x|: below kTanhSmall the odd Taylor series to a^19 (Horner in
// a^2); from kTanhSmall on, 1 - 2 / (ExpF(2a) + 1). The sign of x is copied
// onto the result.
inline constexpr float kTanhSmall = 0.55f;
inline constexpr float kTanhC3 = -0.3333333333333333f;
inline constexpr float kTanhC5 = 0.13333333333333333f;
inline constexpr float kTanhC7 = -0.05396825396825397f;
inline constexpr float kTanhC9 = 0.021869488536155203f;
inline constexpr float kTanhC11 = -0.008863235529902197f;
inline constexpr float kTanhC13 = 0.003592128036572481f;
inline constexpr float kTanhC15 = -0.0014558343870513183f;
inline constexpr float kTanhC17 = 0.000590027440945586f;
inline constexpr float kTanhC19 = -0.00023912911424355248f;

}  // namespace math_constants
}  // namespace agora::kernels

#endif  // AGORA_KERNELS_MATH_H_
