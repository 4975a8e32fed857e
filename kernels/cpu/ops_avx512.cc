// The fast CPU ops compiled for avx512: only the functions defined between the
// target pragmas use those instructions; the dispatcher (ops.cc) calls them
// only when the CPU has them. The library itself is built for baseline x86-64.
// GCC 12's avx512fintrin.h initialises "undefined" vectors from themselves
// (_mm512_undefined_ps), which -Wuninitialized reports at every inlined use:
// a known false positive in the compiler's own header, silenced here only.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/check.h"
#include "kernels/math.h"
#include "kernels/op_table.h"
#include "kernels/ops.h"
#include "kernels/parallel.h"
#include "kernels/cpu/simd_math.h"

#if defined(__x86_64__) || defined(__i386__)

// GCC takes the target for the whole region; clang (the fuzz preset)
// ignores GCC's pragma and needs the attribute on every function.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#endif

namespace agora::kernels::cpu::avx512 {
namespace {

#include "kernels/cpu/vec16_avx512.inc"

// Microkernel: kMr rows x kNv 16-lane vectors of outputs held in registers.
constexpr int kMr = 12;
constexpr int kNv = 2;

#include "kernels/cpu/simd_math.inc"
#include "kernels/cpu/simd_ops.inc"

}  // namespace

// For tests: the SIMD transcendentals on n floats.
void ExpArray(float* out, const float* x, int64_t n) {
  ForLanes(n, [&](int64_t i, int64_t lanes) { StoreL(out + i, ExpV(LoadL(x + i, lanes)), lanes); });
}
void TanhArray(float* out, const float* x, int64_t n) {
  ForLanes(n, [&](int64_t i, int64_t lanes) { StoreL(out + i, TanhV(LoadL(x + i, lanes)), lanes); });
}

const OpTable* Table() { return &kTable; }

}  // namespace agora::kernels::cpu::avx512

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace agora::kernels::cpu {
const OpTable* Avx512OpTable() { return avx512::Table(); }
}  // namespace agora::kernels::cpu

#else

namespace agora::kernels::cpu {
const OpTable* Avx512OpTable() { return nullptr; }
}  // namespace agora::kernels::cpu

#endif
