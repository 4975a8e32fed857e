#include "market/job_spec.h"

#include <algorithm>

#include "kernels/device.h"
#include "trainer/config.h"
#include "trainer/data.h"

namespace agora::market {
namespace {

__extension__ typedef unsigned __int128 Wide;

Status Bad(const std::string& what) { return Status::InvalidArgument("job spec: " + what); }

}  // namespace

std::string_view HardwareClassName(HardwareClass c) {
  switch (c) {
    case HardwareClass::kCpu: return "cpu";
    case HardwareClass::kGpuSm80: return "gpu-sm80";
    case HardwareClass::kGpuSm90: return "gpu-sm90";
    case HardwareClass::kGpuSm100: return "gpu-sm100";
  }
  return "unknown";
}

Result<HardwareClass> ParseHardwareClass(std::string_view name) {
  for (uint8_t i = 1; i <= kHardwareClassMax; ++i) {
    if (HardwareClassName(static_cast<HardwareClass>(i)) == name) {
      return static_cast<HardwareClass>(i);
    }
  }
  return Status::InvalidArgument("unknown hardware class '" + std::string(name) +
                                 "'; one of cpu, gpu-sm80, gpu-sm90, gpu-sm100");
}

std::optional<HardwareClass> HardwareClassOfGpu(int major, int minor) {
  if (minor != 0) return std::nullopt;
  switch (major) {
    case 8: return HardwareClass::kGpuSm80;
    case 9: return HardwareClass::kGpuSm90;
    case 10: return HardwareClass::kGpuSm100;
    default: return std::nullopt;
  }
}

Result<HardwareClass> LocalGpuClass() {
  AGORA_ASSIGN_OR_RETURN(kernels::CudaDeviceInfo gpu, kernels::CudaDevice0Info());
  const std::optional<HardwareClass> c = HardwareClassOfGpu(gpu.major, gpu.minor);
  if (!c) {
    return Status::FailedPrecondition(
        gpu.name + " (compute capability " + std::to_string(gpu.major) + "." +
        std::to_string(gpu.minor) +
        ") is in no hardware class (gpu-sm80: 8.0, gpu-sm90: 9.0, gpu-sm100: 10.0)");
  }
  return *c;
}

std::string_view TierName(Tier t) { return t == Tier::kExact ? "exact" : "native"; }

Result<Tier> ParseTier(std::string_view name) {
  if (name == "exact") return Tier::kExact;
  if (name == "native") return Tier::kNative;
  return Status::InvalidArgument("unknown tier '" + std::string(name) + "'; exact or native");
}

Status ValidateSpec(const JobSpec& s) {
  trainer::ModelConfig m;
  const std::pair<const char*, uint32_t> dims[] = {{"vocab", s.vocab},
                                                   {"context", s.context},
                                                   {"layers", s.layers},
                                                   {"heads", s.heads},
                                                   {"width", s.width}};
  for (const auto& [name, d] : dims) {
    if (d == 0 || d > (1u << 20)) {
      return Bad(std::string(name) + " must be 1.." + std::to_string(1 << 20));
    }
  }
  m.vocab = static_cast<int>(s.vocab);
  m.context = static_cast<int>(s.context);
  m.layers = static_cast<int>(s.layers);
  m.heads = static_cast<int>(s.heads);
  m.width = static_cast<int>(s.width);
  if (Status st = m.Validate(); !st.ok()) return Bad(st.message());
  if (s.batch == 0 || s.batch > static_cast<uint32_t>(trainer::kBatchMax)) {
    return Bad("batch must be 1.." + std::to_string(trainer::kBatchMax));
  }
  if (s.dataset_hash == Hash256{}) return Bad("dataset hash must be set (64 hex digits)");
  if (s.dataset_bytes < trainer::kCorpusBytesMin || s.dataset_bytes > kDatasetBytesMax) {
    return Bad("dataset size must be at least " + std::to_string(trainer::kCorpusBytesMin) +
               " bytes and at most 2^40");
  }
  // Found in review (2026-12-03): a dataset whose held-out 10% was no longer
  // than the context passed here, and every validator drawn to record the
  // job's round aborted on it (and was slashed for missing, in turn).
  if (!trainer::Corpus::FitsContext(s.dataset_bytes, static_cast<int>(s.context))) {
    return Bad("dataset of " + std::to_string(s.dataset_bytes) +
               " bytes is too small for context " + std::to_string(s.context) +
               ": its validation split (the last " + std::to_string(100 - trainer::kTrainPercent) +
               "%) must be longer than context + 1 bytes");
  }
  if (s.rounds == 0 || s.rounds > kRoundsMax) {
    return Bad("rounds must be 1.." + std::to_string(kRoundsMax));
  }
  if (s.workers == 0 || s.workers > kWorkersMax) {
    return Bad("workers must be 1.." + std::to_string(kWorkersMax));
  }
  if (s.inner_steps == 0 || s.inner_steps > kInnerStepsMax) {
    return Bad("inner_steps must be 1.." + std::to_string(kInnerStepsMax));
  }
  if (s.checkpoint_interval == 0 || s.inner_steps % s.checkpoint_interval != 0) {
    return Bad("checkpoint_interval (" + std::to_string(s.checkpoint_interval) +
               ") must divide inner_steps (" + std::to_string(s.inner_steps) + ")");
  }
  const uint32_t segments = s.inner_steps / s.checkpoint_interval;
  const uint32_t most = std::min(segments, kSpotChecksMax);
  if (s.spot_checks == 0 || s.spot_checks > most) {
    return Bad("spot_checks must be 1.." + std::to_string(most) +
               " (at most the checkpoint segments, and at most " +
               std::to_string(kSpotChecksMax) + ")");
  }
  if (s.tier != Tier::kExact && s.tier != Tier::kNative) return Bad("unknown tier");
  if (static_cast<uint8_t>(s.hardware) == 0 ||
      static_cast<uint8_t>(s.hardware) > kHardwareClassMax) {
    return Bad("unknown hardware class");
  }
  const OptimizerSpec& o = s.optimizer;
  if (o.lr_max_nano == 0 || o.lr_max_nano > 1'000'000'000 || o.lr_min_nano > o.lr_max_nano) {
    return Bad("learning rates must satisfy 0 <= lr_min <= lr_max <= 1, lr_max > 0");
  }
  if (o.warmup_steps > uint64_t{s.inner_steps} * s.rounds) {
    return Bad("warmup_steps must not exceed the job's steps (rounds x inner_steps)");
  }
  if (o.beta1_ppm >= 1'000'000 || o.beta2_ppm >= 1'000'000) return Bad("betas must be below 1");
  if (o.eps_pico == 0 || o.eps_pico > 1'000'000'000'000) return Bad("eps must be in (0, 1]");
  if (o.weight_decay_ppm > 1'000'000) return Bad("weight_decay must be at most 1");
  if (o.clip_norm_ppm > 1'000'000'000'000) return Bad("clip_norm must be at most 10^6");
  return Status::Ok();
}

uint64_t ParamCount(const JobSpec& s) {
  trainer::ModelConfig m;
  m.vocab = static_cast<int>(s.vocab);
  m.context = static_cast<int>(s.context);
  m.layers = static_cast<int>(s.layers);
  m.heads = static_cast<int>(s.heads);
  m.width = static_cast<int>(s.width);
  return static_cast<uint64_t>(m.ParameterCount());
}

uint64_t TaskWorkWu(const JobSpec& s) {
  const Wide params = static_cast<Wide>(ParamCount(s));
  const Wide tokens = Wide{s.inner_steps} * s.batch * s.context;
  const Wide flops = 6 * params * tokens + Wide{12} * s.layers * s.context * s.width * tokens;
  const Wide wu = (flops + 999'999'999) / 1'000'000'000;
  // Every factor is bounded by validation: params < 2^31, tokens < 2^52.
  return static_cast<uint64_t>(wu);
}

uint64_t TaskCount(const JobSpec& s) { return uint64_t{s.rounds} * s.workers; }

}  // namespace agora::market
