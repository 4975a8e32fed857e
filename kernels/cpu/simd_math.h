// Internal, for tests: the SIMD transcendentals of one instruction set applied
// to an array, to check lane-wise results against the scalar math.h ones.
// Call a set's functions only when DetectedCpuIsa() includes it.
//
// Thread safety: pure functions.
#ifndef AGORA_KERNELS_CPU_SIMD_MATH_H_
#define AGORA_KERNELS_CPU_SIMD_MATH_H_

#include <cstdint>

namespace agora::kernels::cpu {
#if defined(__x86_64__) || defined(__i386__)
namespace avx2 {
void ExpArray(float* out, const float* x, int64_t n);
void TanhArray(float* out, const float* x, int64_t n);
}  // namespace avx2
namespace avx512 {
void ExpArray(float* out, const float* x, int64_t n);
void TanhArray(float* out, const float* x, int64_t n);
}  // namespace avx512
#endif
}  // namespace agora::kernels::cpu

#endif  // AGORA_KERNELS_CPU_SIMD_MATH_H_
