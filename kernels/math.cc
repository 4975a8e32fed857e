// Scalar transcendentals. The bodies live in kernels/exact.h, shared with the
// CUDA kernels; every line there mirrors one SIMD step in cpu/simd_math.inc;
// keep the two in lockstep.
#include "kernels/math.h"

#include "kernels/exact.h"

namespace agora::kernels {

float ExpF(float x) { return exact::ExpF(x); }

float LogF(float x) { return exact::LogF(x); }

float TanhF(float x) { return exact::TanhF(x); }

}  // namespace agora::kernels
