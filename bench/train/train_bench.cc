// train_bench: training throughput (tokens/s) of Agora's deterministic
// trainer against the same GPT in PyTorch on the CPU, measured in the same
// run with the same thread count, printed as a ratio.
//
//   train_bench [--threads T] [--steps N] [--warmup W] [--quick]
//               [--configs small,shakespeare] [--python /usr/bin/python3]
//
// Steps run on random token batches of the config's shape; the first W are
// warm-up and not timed.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/parallel.h"
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
};

int DefaultSteps(const std::string& config, bool quick) {
  if (config == "shakespeare") return quick ? 2 : 5;
  return quick ? 5 : 30;
}

// Times `steps` optimizer steps after `warmup`, on a synthetic corpus.
double AgoraTokensPerSecond(const TrainConfig& config, int steps, int warmup) {
  std::string text(1 << 20, ' ');
  Xoshiro256 rng(1);
  for (char& c : text) c = static_cast<char>(rng.Next() & 0xff);
  Corpus corpus = std::move(Corpus::FromBytes(std::move(text))).value();
  auto trainer = Trainer::Create(TrainState::Fresh(config, corpus.hash()), corpus,
                                 kernels::Backend::kCpu);
  AGORA_CHECK(trainer.ok());
  for (int i = 0; i < warmup; ++i) trainer->Step();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) trainer->Step();
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
                   "[--configs small,shakespeare] [--python PATH]\n");
      return 2;
    }
  }
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
    double agora = AgoraTokensPerSecond(*config, steps, options.warmup);
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
