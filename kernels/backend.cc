#include "kernels/backend.h"

#include <atomic>

namespace agora::kernels {
namespace {

// -1 means "no override"; otherwise the CpuIsa value.
std::atomic<int> g_isa_override{-1};

CpuIsa Detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool fma = __builtin_cpu_supports("fma");
  if (fma && __builtin_cpu_supports("avx512f")) return CpuIsa::kAvx512;
  if (fma && __builtin_cpu_supports("avx2")) return CpuIsa::kAvx2;
#endif
  return CpuIsa::kScalar;
}

}  // namespace

std::string_view BackendName(Backend backend) {
  switch (backend) {
    case Backend::kReference:
      return "reference";
    case Backend::kCpu:
      return "cpu";
    case Backend::kCuda:
      return "cuda";
    case Backend::kCudaNative:
      return "cuda-native";
  }
  return "unknown";
}

std::string_view CpuIsaName(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar:
      return "scalar";
    case CpuIsa::kAvx2:
      return "avx2+fma";
    case CpuIsa::kAvx512:
      return "avx512f+fma";
  }
  return "unknown";
}

CpuIsa DetectedCpuIsa() {
  static const CpuIsa detected = Detect();
  return detected;
}

CpuIsa ActiveCpuIsa() {
  const int forced = g_isa_override.load(std::memory_order_relaxed);
  return forced < 0 ? DetectedCpuIsa() : static_cast<CpuIsa>(forced);
}

CpuIsa SetCpuIsaOverride(CpuIsa isa) {
  const CpuIsa detected = DetectedCpuIsa();
  const CpuIsa active = static_cast<int>(isa) > static_cast<int>(detected) ? detected : isa;
  g_isa_override.store(static_cast<int>(active), std::memory_order_relaxed);
  return active;
}

void ClearCpuIsaOverride() { g_isa_override.store(-1, std::memory_order_relaxed); }

}  // namespace agora::kernels
