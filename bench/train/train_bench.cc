// train_bench: training throughput (tokens/s) of Agora's deterministic
// trainer against the same GPT in PyTorch on the CPU, measured in the same
// run with the same thread count, printed as a ratio.
//
//   train_bench [--threads T] [--steps N] [--warmup W] [--quick]
//               [--configs small,shakespeare] [--python /usr/bin/python3]
//   train_bench --device cuda [--tier exact|native] [--configs shakespeare,gpt2]
//               [--peak-tflops 67]
//
// Steps run on random token batches of the config's shape; the first W are
// warm-up and not timed. With --device cuda the trainer runs the exact tier
// on the GPU with its tensors in the GPU's memory; there is no PyTorch peer
// (Debian's python3-torch has no CUDA), so it prints the model FLOP rate and
// the MFU against --peak-tflops (default 67: the FP32 peak without tensor
// cores of an H100/H200 SXM), counting 6 N + 12 L C T FLOPs per token
// (PaLM's count: N parameters, L layers, width C, context T). --tier native
// runs the matmuls on cuBLAS's TF32 tensor cores (Backend::kCudaNative); pass
// the TF32 peak then (about 495 dense on an H100/H200 SXM).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "kernels/device.h"
#include "kernels/parallel.h"
#include "market/job_spec.h"
#include "trainer/config.h"
#include "trainer/model.h"
#include "trainer/rng.h"
#include "trainer/train_state.h"

namespace agora::trainer {
namespace {

// Longest line read back from the PyTorch peer.
constexpr size_t kPeerLineBytesMax = 512;

struct Options {
  int threads = 0;
  int steps = 0;  // 0: per config default
  int warmup = 1;
  bool quick = false;
  std::vector<std::string> configs = {"small", "shakespeare"};
  std::string python = "/usr/bin/python3";
  kernels::Backend backend = kernels::Backend::kCpu;
  bool native = false;  // with kCuda: the native tier
  double peak_tflops = 67.0;
};

int DefaultSteps(const std::string& config, bool quick) {
  if (config == "shakespeare" || config == "gpt2") return quick ? 2 : 5;
  return quick ? 5 : 30;
}

// Times `steps` optimizer steps after `warmup`, on a synthetic corpus.
double AgoraTokensPerSecond(const TrainConfig& config, int steps, int warmup,
                            kernels::Backend backend) {
  std::string text(1 << 20, ' ');
  Xoshiro256 rng(1);
  for (char& c : text) c = static_cast<char>(rng.Next() & 0xff);
  Corpus corpus = std::move(Corpus::FromBytes(std::move(text))).value();
  auto trainer = Trainer::Create(TrainState::Fresh(config, corpus.hash()), corpus, backend);
  AGORA_CHECK(trainer.ok());
  for (int i = 0; i < warmup; ++i) trainer->Step();
  auto start = std::chrono::steady_clock::now();
  float loss = 0;
  for (int i = 0; i < steps; ++i) loss = trainer->Step().loss;
  // The loss is read on the host, so the last step's kernels have finished.
  AGORA_CHECK(std::isfinite(loss));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(steps) * config.batch * config.model.context / seconds;
}

// Runs torch_peer.py; returns tokens/s, or a negative value with `why` set.
double TorchTokensPerSecond(const Options& options, const std::string& config, int steps,
                            int threads, std::string& why) {
  std::string command = options.python + " " + AGORA_TORCH_PEER + " --config " + config +
                        " --threads " + std::to_string(threads) + " --steps " +
                        std::to_string(steps) + " --warmup " + std::to_string(options.warmup) +
                        " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    why = "cannot start " + options.python;
    return -1;
  }
  char line[kPeerLineBytesMax];
  double tokens_per_s = -1;
  std::string output;
  while (std::fgets(line, sizeof(line), pipe) != nullptr) {
    output += line;
    if (std::strncmp(line, "tokens_per_s ", 13) == 0) tokens_per_s = std::atof(line + 13);
  }
  // The exit status adds nothing: a missing tokens_per_s line is the failure.
  pclose(pipe);
  if (tokens_per_s < 0) {
    why = output.find("torch_missing") != std::string::npos || output.find("No module") !=
                                                                   std::string::npos
              ? "PyTorch not found for " + options.python +
                    ": install it with scripts/bootstrap.sh --bench (Debian python3-torch)"
              : "the PyTorch peer failed: " + output;
  }
  return tokens_per_s;
}

// 6 N + 12 L C T: PaLM's model FLOPs per token of a training step.
double FlopsPerToken(const ModelConfig& model) {
  return 6.0 * static_cast<double>(model.ParameterCount()) +
         12.0 * model.layers * model.width * model.context;
}

int CudaMain(const Options& options) {
  const kernels::Backend backend =
      options.native ? kernels::Backend::kCudaNative : kernels::Backend::kCuda;
  const Status ready = options.native ? kernels::CudaNativeReady() : kernels::CudaOpsReady();
  if (!ready.ok()) {
    std::fprintf(stderr, "train_bench --device cuda: %s\n", ready.ToString().c_str());
    return 3;
  }
  // A native-tier state names the GPU's class (trainer/config.h).
  uint8_t native_class = kHardwareAny;
  if (options.native) {
    const Result<market::HardwareClass> c = market::LocalGpuClass();
    if (!c.ok()) {
      std::fprintf(stderr, "train_bench --tier native: %s\n", c.status().ToString().c_str());
      return 3;
    }
    native_class = static_cast<uint8_t>(*c);
  }
  std::printf("%s tier on the GPU; MFU against %.1f TFLOP/s\n",
              options.native ? "native (TF32 matmuls)" : "exact", options.peak_tflops);
  std::printf("%-12s %12s %6s %6s %14s %12s %7s\n", "config", "params", "batch", "steps",
              "tok/s", "model TFLOP/s", "MFU");
  for (const std::string& name : options.configs) {
    auto config = PresetConfig(name);
    if (!config.ok()) {
      std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
      return 2;
    }
    if (options.native) {
      config->tier = KernelTier::kNative;
      config->hardware_class = native_class;
    }
    const int steps = options.steps > 0 ? options.steps : DefaultSteps(name, options.quick);
    const double tokens_per_s = AgoraTokensPerSecond(*config, steps, options.warmup, backend);
    const double tflops = tokens_per_s * FlopsPerToken(config->model) / 1e12;
    std::printf("%-12s %12lld %6d %6d %14.0f %12.2f %6.2f%%\n", name.c_str(),
                static_cast<long long>(config->model.ParameterCount()), config->batch, steps,
                tokens_per_s, tflops, 100.0 * tflops / options.peak_tflops);
    std::fflush(stdout);
  }
  return 0;
}

int Main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--threads") {
      options.threads = std::atoi(next().c_str());
    } else if (arg == "--steps") {
      options.steps = std::atoi(next().c_str());
    } else if (arg == "--warmup") {
      options.warmup = std::atoi(next().c_str());
    } else if (arg == "--quick") {
      options.quick = true;
    } else if (arg == "--python") {
      options.python = next();
    } else if (arg == "--device") {
      const std::string device = next();
      if (device == "cuda") {
        options.backend = kernels::Backend::kCuda;
      } else if (device != "cpu") {
        std::fprintf(stderr, "--device is cpu or cuda, not %s\n", device.c_str());
        return 2;
      }
    } else if (arg == "--tier") {
      const std::string tier = next();
      if (tier != "exact" && tier != "native") {
        std::fprintf(stderr, "--tier is exact or native, not %s\n", tier.c_str());
        return 2;
      }
      options.native = tier == "native";
    } else if (arg == "--peak-tflops") {
      options.peak_tflops = std::atof(next().c_str());
      if (!(options.peak_tflops > 0)) {
        std::fprintf(stderr, "--peak-tflops needs a positive number\n");
        return 2;
      }
    } else if (arg == "--configs") {
      options.configs.clear();
      std::string list = next();
      for (size_t at = 0; at <= list.size();) {
        size_t comma = list.find(',', at);
        if (comma == std::string::npos) comma = list.size();
        options.configs.push_back(list.substr(at, comma - at));
        at = comma + 1;
      }
    } else {
      std::fprintf(stderr,
                   "usage: train_bench [--threads T] [--steps N] [--warmup W] [--quick] "
                   "[--configs small,shakespeare] [--python PATH] [--device cpu|cuda] "
                   "[--tier exact|native] [--peak-tflops X]\n");
      return 2;
    }
  }
  if (options.native && options.backend != kernels::Backend::kCuda) {
    std::fprintf(stderr, "--tier native needs --device cuda\n");
    return 2;
  }
  if (options.backend == kernels::Backend::kCuda) return CudaMain(options);
  if (options.threads > 0) kernels::SetThreadCount(options.threads);
  const int threads = kernels::ThreadCount();
  std::printf("%-12s %7s %6s %14s %14s %7s\n", "config", "threads", "steps", "agora tok/s",
              "torch tok/s", "ratio");
  for (const std::string& name : options.configs) {
    auto config = PresetConfig(name);
    if (!config.ok()) {
      std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
      return 2;
    }
    const int steps = options.steps > 0 ? options.steps : DefaultSteps(name, options.quick);
    double agora = AgoraTokensPerSecond(*config, steps, options.warmup, kernels::Backend::kCpu);
    std::string why;
    double torch = TorchTokensPerSecond(options, name, steps, threads, why);
    if (torch > 0) {
      std::printf("%-12s %7d %6d %14.0f %14.0f %6.2fx\n", name.c_str(), threads, steps, agora,
                  torch, agora / torch);
    } else {
      std::printf("%-12s %7d %6d %14.0f %14s %7s\n", name.c_str(), threads, steps, agora, "-",
                  "-");
      std::printf("  %s\n", why.c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace agora::trainer

int main(int argc, char** argv) { return agora::trainer::Main(argc, argv); }
