// A training job as the ledger records it: the model's shape, the data, the
// DiLoCo schedule (R rounds of K workers, H inner steps, a checkpoint every
// C steps), the verification tier and the optimizer, all integers
// (PROTOCOL.md §1, §6; docs/market.md). Validation is total: a spec that
// passes can be trained, priced and verified.
//
// Thread safety: values and free functions.
#ifndef AGORA_MARKET_JOB_SPEC_H_
#define AGORA_MARKET_JOB_SPEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/hash.h"
#include "common/status.h"

namespace agora::market {

// What a provider runs on. `exact` jobs run on any class (the deterministic
// kernels give the same bits everywhere); `native` jobs name one class.
enum class HardwareClass : uint8_t {
  kCpu = 1,       // x86-64 or arm64 CPUs
  kGpuSm80 = 2,   // NVIDIA Ampere (A100, ...)
  kGpuSm90 = 3,   // NVIDIA Hopper (H100, H200)
  kGpuSm100 = 4,  // NVIDIA Blackwell
};
inline constexpr uint8_t kHardwareClassMax = 4;
std::string_view HardwareClassName(HardwareClass c);
// "cpu", "gpu-sm80", "gpu-sm90", "gpu-sm100"; InvalidArgument lists them.
Result<HardwareClass> ParseHardwareClass(std::string_view name);

// The class of a GPU of compute capability major.minor: 8.0 (A100, A30),
// 9.0 (H100, H200) and 10.0 (B200) each name one; nullopt for every other
// (8.6, 8.9, 12.0, ...). The native tier's matmuls are cuBLAS's tensor-core
// kernels, which cuBLAS picks per architecture, so a class is one compute
// capability, not a generation (docs/cuda.md).
std::optional<HardwareClass> HardwareClassOfGpu(int major, int minor);
// The class of this machine's GPU 0: FailedPrecondition when CUDA cannot
// run here (kernels::CudaOpsReady's reason) or when the GPU is in no class
// (its name and compute capability, and the classes there are).
Result<HardwareClass> LocalGpuClass();

enum class Tier : uint8_t { kExact = 1, kNative = 2 };
std::string_view TierName(Tier t);
Result<Tier> ParseTier(std::string_view name);

// AdamW settings as integers (the trainer converts them): learning rates in
// 1e-9, betas and weight decay in ppm, eps in 1e-12, clip norm in ppm (0
// disables clipping).
struct OptimizerSpec {
  uint64_t lr_max_nano = 3'000'000;  // 3e-3
  uint64_t lr_min_nano = 300'000;    // 3e-4
  uint64_t warmup_steps = 50;
  uint64_t beta1_ppm = 900'000;
  uint64_t beta2_ppm = 990'000;
  uint64_t eps_pico = 10'000;        // 1e-8
  uint64_t weight_decay_ppm = 100'000;
  uint64_t clip_norm_ppm = 1'000'000;
  friend bool operator==(const OptimizerSpec&, const OptimizerSpec&) = default;
};

struct JobSpec {
  // Model (GPT-2 layout, byte-level by default).
  uint32_t vocab = 256;
  uint32_t context = 64;
  uint32_t layers = 2;
  uint32_t heads = 2;
  uint32_t width = 64;
  uint32_t batch = 8;  // sequences per inner step
  // Data: the training bytes by content hash and size.
  Hash256 dataset_hash;
  uint64_t dataset_bytes = 0;
  uint64_t seed = 1;
  // DiLoCo: R rounds of K tasks, each H inner steps with a checkpoint every C.
  uint32_t rounds = 1;
  uint32_t workers = 1;
  uint32_t inner_steps = 50;
  uint32_t checkpoint_interval = 10;
  Tier tier = Tier::kExact;
  HardwareClass hardware = HardwareClass::kCpu;  // required class of a native job
  uint32_t spot_checks = 1;                      // segments replayed per task
  OptimizerSpec optimizer;
  friend bool operator==(const JobSpec&, const JobSpec&) = default;
};

// Bounds (docs/market.md).
inline constexpr uint32_t kRoundsMax = 10'000;
inline constexpr uint32_t kWorkersMax = 64;
// Each spot check is a slot the ledger draws validators for; the fee does
// not grow with s, so s is bounded (1 - (1 - f)^16 > 0.8 already at f = 0.1).
inline constexpr uint32_t kSpotChecksMax = 16;
// A CommitTask carries H losses (4 bytes each) in one 64 KiB transaction.
inline constexpr uint32_t kInnerStepsMax = 8'192;
inline constexpr uint64_t kDatasetBytesMax = uint64_t{1} << 40;

// InvalidArgument naming the field and what it must be: the model's shape
// (heads dividing width, context and every dimension within the trainer's
// bounds), a dataset hash that is not all zeros and a size of at least one
// context + 1 bytes, R/K/H within bounds, C dividing H, spot checks between
// 1 and H / C, optimizer values in range.
Status ValidateSpec(const JobSpec& spec);

// The work of one task in work units (10^9 flops), rounded up:
// 6 × params × tokens + 12 × layers × context × width × tokens with
// tokens = H × batch × context. REQUIRES: ValidateSpec(spec).ok().
uint64_t TaskWorkWu(const JobSpec& spec);
// R × K.
uint64_t TaskCount(const JobSpec& spec);
// The model's parameter count (below 2^31). REQUIRES: ValidateSpec(spec).ok().
uint64_t ParamCount(const JobSpec& spec);

}  // namespace agora::market

#endif  // AGORA_MARKET_JOB_SPEC_H_
