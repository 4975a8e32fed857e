// Which implementation of an op runs: the plain-loop reference (the
// specification of the order of floating-point operations), the fast CPU
// version, or CUDA. All of them must give the same bits (docs/determinism.md).
//
// The fast CPU version picks an instruction set at run time: AVX-512F+FMA,
// AVX2+FMA, or, on CPUs with neither, the reference loops. Tests may force a
// narrower instruction set to compare the paths on one machine.
//
// Thread safety: every function here is thread-safe. SetCpuIsaOverride is
// meant for tests and benchmarks and must not race with running ops.
#ifndef AGORA_KERNELS_BACKEND_H_
#define AGORA_KERNELS_BACKEND_H_

#include <string_view>

namespace agora::kernels {

enum class Backend {
  kReference,  // reference/: plain loops, single thread; the specification
  kCpu,        // cpu/: SIMD + threads, same bits as kReference
  kCuda,       // cuda/: the exact tier on an NVIDIA GPU (kernels::CudaOpsReady())
  // The native tier: kCuda with matmuls on cuBLAS's TF32 tensor cores. NOT
  // the exact contract: its bits repeat on one GPU model and toolkit only,
  // so a job in this tier is replayed on its own hardware class
  // (docs/cuda.md, "The native tier"; kernels::CudaNativeReady()).
  kCudaNative,
};

std::string_view BackendName(Backend backend);

// Instruction sets the fast CPU path can use, narrowest first.
enum class CpuIsa {
  kScalar,  // no AVX2+FMA: the fast path runs the reference loops
  kAvx2,    // AVX2 + FMA, 16-lane vectors as two 8-lane halves
  kAvx512,  // AVX-512F + FMA
};

std::string_view CpuIsaName(CpuIsa isa);

// The widest instruction set this CPU supports (cached after the first call).
CpuIsa DetectedCpuIsa();

// The instruction set the fast path uses: the detected one, or the override.
CpuIsa ActiveCpuIsa();

// Forces the fast path to use `isa` (clamped to what the CPU supports).
// Returns the instruction set now active.
CpuIsa SetCpuIsaOverride(CpuIsa isa);

// Goes back to the detected instruction set.
void ClearCpuIsaOverride();

}  // namespace agora::kernels

#endif  // AGORA_KERNELS_BACKEND_H_
