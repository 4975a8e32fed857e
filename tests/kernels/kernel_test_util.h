// Helpers for the kernel tests: seeded random tensors, special values, the
// bit-for-bit comparison, and the list of configurations (instruction set x
// thread count) a fast op must match the reference under.
#ifndef AGORA_TESTS_KERNELS_KERNEL_TEST_UTIL_H_
#define AGORA_TESTS_KERNELS_KERNEL_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "tests/test_util.h"
#include "kernels/parallel.h"

namespace agora::kernels::testing {

// AGORA_TEST_SEED overrides the default seed; failures print it.
inline uint64_t TestSeed() { return ::agora::testing::TestSeed(20240605u); }

inline std::string Reproduce() { return ::agora::testing::ReproduceLine(TestSeed()); }

// scripts/gpu-check.sh sets AGORA_REQUIRE_GPU=1: there a GPU test that finds
// no usable GPU fails instead of skipping, so the script cannot pass
// without having run anything on the GPU.
inline bool GpuRequired() {
  const char* v = std::getenv("AGORA_REQUIRE_GPU");
  return v != nullptr && std::string(v) == "1";
}

// True under AddressSanitizer, where shapes are kept smaller.
inline bool Sanitized() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#else
  return false;
#endif
}

inline std::vector<float> Random(std::mt19937_64& rng, size_t n, float scale = 1.0f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline std::vector<float> SpecialValues() {
  const float inf = std::numeric_limits<float>::infinity();
  return {0.0f,   -0.0f,  std::numeric_limits<float>::denorm_min(), -1e-40f, 3e-39f,
          inf,    -inf,   std::numeric_limits<float>::quiet_NaN(),   1e30f,  -1e30f,
          1e-30f, 88.9f,  -103.9f};
}

// Replaces about one element in `every` with a special value.
inline void Sprinkle(std::mt19937_64& rng, std::vector<float>& v, int every = 8) {
  const std::vector<float> specials = SpecialValues();
  std::uniform_int_distribution<int> pick(0, every - 1);
  std::uniform_int_distribution<size_t> which(0, specials.size() - 1);
  for (float& x : v) {
    if (pick(rng) == 0) x = specials[which(rng)];
  }
}

// Bit-for-bit equality; two NaNs count as equal whatever their sign and
// payload (docs/determinism.md: NaN payloads are not part of the contract).
inline ::testing::AssertionResult SameBits(const std::vector<float>& want,
                                           const std::vector<float>& got) {
  if (want.size() != got.size()) return ::testing::AssertionFailure() << "size differs";
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i]) && std::isnan(got[i])) continue;
    if (std::memcmp(&want[i], &got[i], sizeof(float)) != 0) {
      std::ostringstream text;
      text << "first mismatch at index " << i << " of " << want.size() << ": reference "
           << want[i] << " (0x" << std::hex << std::bit_cast<uint32_t>(want[i]) << std::dec
           << "), fast " << got[i] << " (0x" << std::hex << std::bit_cast<uint32_t>(got[i])
           << ")";
      return ::testing::AssertionFailure() << text.str();
    }
  }
  return ::testing::AssertionSuccess();
}

struct FastConfig {
  CpuIsa isa;
  int threads;
  std::string Name() const {
    return std::string(CpuIsaName(isa)) + " x " + std::to_string(threads) + " threads";
  }
};

// Every instruction set this CPU has (scalar included), each on 1 thread and
// on all threads (at least 3, so partitions really differ).
inline std::vector<FastConfig> FastConfigs() {
  const int all = std::max(ThreadCount(), 3);
  std::vector<FastConfig> configs;
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(DetectedCpuIsa())) continue;
    configs.push_back({isa, 1});
    configs.push_back({isa, all});
  }
  return configs;
}

// Restores the instruction set and thread count when a test ends.
class ConfigGuard {
 public:
  ConfigGuard() : threads_(ThreadCount()) {}
  ~ConfigGuard() {
    ClearCpuIsaOverride();
    SetThreadCount(threads_);
  }
  void Apply(const FastConfig& config) {
    SetCpuIsaOverride(config.isa);
    SetThreadCount(config.threads);
  }

 private:
  int threads_;
};

}  // namespace agora::kernels::testing

#endif  // AGORA_TESTS_KERNELS_KERNEL_TEST_UTIL_H_
