#include "node/cli/train_commands.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kernels/device.h"
#include "kernels/parallel.h"
#include "market/job_spec.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/data.h"
#include "trainer/diloco.h"
#include "trainer/sample.h"
#include "trainer/train_state.h"

namespace agora::node {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using trainer::Corpus;
using trainer::TrainConfig;
using trainer::TrainState;

// Steps (or rounds) between progress lines when stderr is not a terminal.
constexpr int kProgressLinesMax = 100;

struct TrainOptions {
  int64_t steps = 1000;
  int64_t stop_after = 0;  // 0: run to --steps
  std::string config = "small";
  std::string data;
  std::string out = "train-out";
  std::string resume;
  std::string init_from;  // --diloco: warm start from this checkpoint's parameters
  uint64_t seed = 1;
  float lr = 0;    // 0: the preset's
  int batch = 0;   // 0: the preset's
  int eval_every = 100;
  int eval_batches = 8;
  int threads = 0;  // 0: all cores
  bool reference = false;
  std::string device = "cpu";  // cpu | reference | cuda
  std::string tier = "exact";  // exact | native (cuda only)
  bool diloco = false;
  bool compare_ddp = false;
  trainer::DilocoConfig diloco_config;
};

struct GenerateOptions {
  std::string model;
  std::string prompt = "\n";
  trainer::SampleOptions sample;
};

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string FormatDuration(double seconds) {
  long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", s / 3600, s / 60 % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", s / 60, s % 60);
  }
  return buf;
}

// One progress line: rewritten in place on a terminal, else printed now and
// then so a log stays short.
class Progress {
 public:
  explicit Progress(int64_t total) : total_(total), tty_(isatty(STDERR_FILENO) != 0) {}
  void Show(int64_t done, const std::string& line) {
    if (tty_) {
      std::fprintf(stderr, "\r%s\033[K", line.c_str());
      if (done == total_) std::fprintf(stderr, "\n");
    } else if (done == total_ || done % std::max<int64_t>(1, total_ / kProgressLinesMax) == 0) {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  }

 private:
  int64_t total_;
  bool tty_;
};

Result<Corpus> LoadCorpus(const TrainOptions& options) {
  return Corpus::Load(options.data.empty() ? trainer::DefaultCorpusPath() : fs::path(options.data));
}

kernels::Backend BackendOf(const TrainOptions& options) {
  if (options.reference || options.device == "reference") return kernels::Backend::kReference;
  if (options.device != "cuda") return kernels::Backend::kCpu;
  return options.tier == "native" ? kernels::Backend::kCudaNative : kernels::Backend::kCuda;
}

// The hardware class of this machine's GPU 0, which a native-tier state
// records (its bits repeat on that class only).
Result<uint8_t> LocalNativeClass() {
  Result<market::HardwareClass> c = market::LocalGpuClass();
  if (!c.ok()) {
    return Status::FailedPrecondition("--tier native records the GPU's hardware class: " +
                                      c.status().message() + "; use the exact tier");
  }
  return static_cast<uint8_t>(*c);
}

std::string ClassName(uint8_t hardware_class) {
  return std::string(market::HardwareClassName(static_cast<market::HardwareClass>(hardware_class)));
}

// A checkpoint keeps its tier: --tier must name it, and a native one must
// run on a GPU of its class.
Status CheckResumeTier(const std::string& path, const TrainConfig& config,
                       const TrainOptions& options) {
  if (config.tier == trainer::KernelTier::kExact) {
    if (options.tier == "native") {
      return Status::InvalidArgument(path + " is an exact-tier checkpoint, and a state keeps its "
                                     "tier: drop --tier native, or start a new native run");
    }
    return Status::Ok();
  }
  if (config.hardware_class == trainer::kHardwareCpu) {
    // The native tier on the cpu class runs the CPU's kernels.
    if (options.tier != "native" || options.device == "cuda") {
      return Status::InvalidArgument(path + " is a native-tier checkpoint of class cpu: continue "
                                     "it with --tier native on the CPU (no --device cuda)");
    }
    return Status::Ok();
  }
  if (options.tier != "native") {
    return Status::InvalidArgument(path + " is a native-tier checkpoint of class " +
                                   ClassName(config.hardware_class) +
                                   ": continue it with --device cuda --tier native on that class");
  }
  AGORA_ASSIGN_OR_RETURN(uint8_t local, LocalNativeClass());
  if (local != config.hardware_class) {
    return Status::FailedPrecondition(path + " is a native-tier checkpoint of class " +
                                      ClassName(config.hardware_class) + ", this GPU is " +
                                      ClassName(local) +
                                      ": its bits would differ; continue it on a GPU of its class");
  }
  return Status::Ok();
}

Result<TrainConfig> MakeConfig(const TrainOptions& options, int64_t total_steps) {
  AGORA_ASSIGN_OR_RETURN(TrainConfig config, trainer::PresetConfig(options.config));
  if (options.tier == "native") {
    config.tier = trainer::KernelTier::kNative;
    AGORA_ASSIGN_OR_RETURN(config.hardware_class, LocalNativeClass());
  }
  config.seed = options.seed;
  if (options.lr > 0) {
    config.optimizer.lr_max = options.lr;
    config.optimizer.lr_min = options.lr / 10;
  }
  if (options.batch > 0) config.batch = options.batch;
  config.optimizer.total_steps = total_steps;
  config.optimizer.warmup_steps = std::min(config.optimizer.warmup_steps, total_steps / 10);
  AGORA_RETURN_IF_ERROR(config.Validate());
  return config;
}

Status MakeOutDir(const std::string& out) {
  std::error_code error;
  fs::create_directories(out, error);
  if (error) return Status::IoError("cannot create --out directory " + out + ": " + error.message());
  return Status::Ok();
}

Status TrainPlain(const TrainOptions& options, bool json_output) {
  AGORA_ASSIGN_OR_RETURN(Corpus corpus, LoadCorpus(options));
  TrainState state;
  if (!options.resume.empty()) {
    AGORA_ASSIGN_OR_RETURN(auto loaded, trainer::LoadCheckpoint(options.resume));
    AGORA_RETURN_IF_ERROR(CheckResumeTier(options.resume, loaded.state.config, options));
    state = std::move(loaded.state);
  } else {
    AGORA_ASSIGN_OR_RETURN(TrainConfig config, MakeConfig(options, options.steps));
    state = TrainState::Fresh(config, corpus.hash());
  }
  if (options.steps < state.step) {
    return Status::InvalidArgument("--steps " + std::to_string(options.steps) +
                                   " is below the checkpoint's step " + std::to_string(state.step));
  }
  AGORA_RETURN_IF_ERROR(MakeOutDir(options.out));
  AGORA_ASSIGN_OR_RETURN(trainer::Trainer run,
                         trainer::Trainer::Create(std::move(state), corpus, BackendOf(options)));
  const TrainConfig& config = run.state().config;
  std::fprintf(stderr, "training %s on %s (corpus %s), batch %d, %d threads, kernels %s\n",
               config.model.ToString().c_str(),
               options.data.empty() ? "tinyshakespeare" : options.data.c_str(),
               corpus.hash().ToHex().substr(0, 16).c_str(), config.batch, kernels::ThreadCount(),
               std::string(kernels::BackendName(BackendOf(options))).c_str());
  const fs::path csv_path = fs::path(options.out) / "loss.csv";
  std::ofstream csv(csv_path, run.state().step == 0 ? std::ios::trunc : std::ios::app);
  if (!csv) return Status::IoError("cannot write " + csv_path.string());
  if (run.state().step == 0) csv << "step,train_loss,val_loss,lr,grad_norm,tokens_per_s\n";

  const int64_t first = run.state().step;
  const double tokens_per_step = static_cast<double>(config.batch) * config.model.context;
  const int64_t last = options.stop_after > 0 ? std::min(options.steps, options.stop_after)
                                              : options.steps;
  Progress progress(last);
  auto start = Clock::now();
  float val = NAN;
  for (int64_t step = first + 1; step <= last; ++step) {
    trainer::StepStats stats = run.Step();
    double elapsed = SecondsSince(start);
    double tokens_per_s = tokens_per_step * static_cast<double>(step - first) / elapsed;
    bool eval = (options.eval_every > 0 && step % options.eval_every == 0) || step == last;
    float step_val = NAN;
    if (eval) val = step_val = run.EvaluateValidation(options.eval_batches);
    csv << step << "," << stats.loss << ",";
    if (eval) csv << step_val;
    csv << "," << stats.learning_rate << "," << stats.grad_norm << "," << tokens_per_s << "\n";
    double eta = elapsed / static_cast<double>(step - first) * static_cast<double>(last - step);
    char line[200];
    std::snprintf(line, sizeof(line), "step %lld/%lld | loss %.4f | val %.4f | %.0f tok/s | ETA %s",
                  static_cast<long long>(step), static_cast<long long>(options.steps), stats.loss,
                  val, tokens_per_s, FormatDuration(eta).c_str());
    progress.Show(step, line);
  }
  csv.close();
  if (std::isnan(val)) val = run.EvaluateValidation(options.eval_batches);
  const fs::path ckpt = fs::path(options.out) / "model.ckpt";
  AGORA_ASSIGN_OR_RETURN(Hash256 hash, trainer::SaveCheckpoint(ckpt, run.state()));
  const double seconds = SecondsSince(start);
  if (json_output) {
    std::cout << json::serialize(json::object{{"step", run.state().step},
                                              {"val_loss", val},
                                              {"seconds", seconds},
                                              {"checkpoint", ckpt.string()},
                                              {"hash", hash.ToHex()},
                                              {"loss_csv", csv_path.string()}})
              << "\n";
  } else {
    std::printf("step %lld: validation loss %.4f nats/byte after %s\ncheckpoint %s\nhash %s\n"
                "loss log %s\n",
                static_cast<long long>(run.state().step), val, FormatDuration(seconds).c_str(),
                ckpt.c_str(), hash.ToHex().c_str(), csv_path.c_str());
  }
  return Status::Ok();
}

Status CompareDdp(const TrainOptions& options, const TrainConfig& config, const Corpus& corpus,
                  std::span<const float> init_params, bool json_output) {
  Progress progress(1);
  auto start = Clock::now();
  auto on_progress = [&](const char* what, int64_t done, int64_t total) {
    if (done % std::max<int64_t>(1, total / 20) != 0 && done != total) return;
    std::fprintf(stderr, "%s %lld/%lld (%s)\n", what, static_cast<long long>(done),
                 static_cast<long long>(total), FormatDuration(SecondsSince(start)).c_str());
  };
  AGORA_ASSIGN_OR_RETURN(trainer::Comparison c,
                         trainer::CompareWithDataParallel(config, options.diloco_config, corpus,
                                                          BackendOf(options), options.eval_batches,
                                                          on_progress, init_params));
  double loss_ratio = c.diloco_val_loss / c.ddp_val_loss;
  double bytes_ratio = static_cast<double>(c.ddp_bytes) / static_cast<double>(c.diloco_bytes);
  if (json_output) {
    std::cout << json::serialize(json::object{{"diloco_val_loss", c.diloco_val_loss},
                                              {"ddp_val_loss", c.ddp_val_loss},
                                              {"diloco_bytes", c.diloco_bytes},
                                              {"ddp_bytes", c.ddp_bytes},
                                              {"loss_ratio", loss_ratio},
                                              {"bytes_ratio", bytes_ratio}})
              << "\n";
  } else {
    std::printf("DiLoCo (K=%d, H=%d, R=%d): validation loss %.4f, %llu bytes sent\n"
                "data-parallel (K=%d, %d steps): validation loss %.4f, %llu bytes sent\n"
                "loss ratio %.4f (DiLoCo / data-parallel), %.1fx fewer bytes\n",
                options.diloco_config.workers, options.diloco_config.inner_steps,
                options.diloco_config.rounds, c.diloco_val_loss,
                static_cast<unsigned long long>(c.diloco_bytes), options.diloco_config.workers,
                options.diloco_config.rounds * options.diloco_config.inner_steps, c.ddp_val_loss,
                static_cast<unsigned long long>(c.ddp_bytes), loss_ratio, bytes_ratio);
  }
  return Status::Ok();
}

Status TrainDiloco(const TrainOptions& options, bool json_output) {
  const trainer::DilocoConfig& dc = options.diloco_config;
  AGORA_RETURN_IF_ERROR(dc.Validate());
  AGORA_ASSIGN_OR_RETURN(Corpus corpus, LoadCorpus(options));
  AGORA_ASSIGN_OR_RETURN(TrainConfig config,
                         MakeConfig(options, int64_t{dc.rounds} * dc.inner_steps));
  std::vector<float> init_params;
  if (!options.init_from.empty()) {
    AGORA_ASSIGN_OR_RETURN(auto loaded, trainer::LoadCheckpoint(options.init_from));
    if (!(loaded.state.config.model == config.model)) {
      return Status::InvalidArgument(
          "--init-from " + options.init_from + " holds a " + loaded.state.config.model.ToString() +
          " model, --config " + options.config + " is " + config.model.ToString() +
          "; pass the --config the checkpoint was trained with");
    }
    init_params = std::move(loaded.state.params);
    std::fprintf(stderr, "warm start from %s (step %lld, hash %s)\n", options.init_from.c_str(),
                 static_cast<long long>(loaded.state.step), loaded.hash.ToHex().substr(0, 16).c_str());
  }
  if (options.compare_ddp) return CompareDdp(options, config, corpus, init_params, json_output);
  AGORA_RETURN_IF_ERROR(MakeOutDir(options.out));
  AGORA_ASSIGN_OR_RETURN(trainer::DilocoRun run, trainer::DilocoRun::Create(config, dc, corpus,
                                                                           BackendOf(options),
                                                                           init_params));
  const fs::path csv_path = fs::path(options.out) / "loss.csv";
  const fs::path commit_path = fs::path(options.out) / "commitments.csv";
  std::ofstream csv(csv_path), commits(commit_path);
  if (!csv || !commits) return Status::IoError("cannot write into " + options.out);
  csv << "round,inner_steps_done,mean_worker_loss,val_loss,bytes_sent\n";
  commits << "round,worker,merkle_root,global_params_hash\n";
  Progress progress(dc.rounds);
  auto start = Clock::now();
  float val = NAN;
  for (int r = 1; r <= dc.rounds; ++r) {
    auto summary = run.RunRound();
    bool eval = (options.eval_every > 0 && (int64_t{r} * dc.inner_steps) % options.eval_every <
                                               dc.inner_steps) ||
                r == dc.rounds;
    if (eval) val = run.EvaluateValidation(options.eval_batches);
    csv << r << "," << int64_t{r} * dc.inner_steps << "," << summary.mean_worker_loss << ",";
    if (eval) csv << val;
    csv << "," << run.bytes_sent() << "\n";
    for (size_t k = 0; k < summary.merkle_roots.size(); ++k) {
      commits << summary.round << "," << k << "," << summary.merkle_roots[k].ToHex() << ","
              << summary.global_params_hash.ToHex() << "\n";
    }
    double elapsed = SecondsSince(start);
    char line[200];
    std::snprintf(line, sizeof(line),
                  "round %d/%d | worker loss %.4f | val %.4f | %llu bytes sent | ETA %s", r,
                  dc.rounds, summary.mean_worker_loss, val,
                  static_cast<unsigned long long>(run.bytes_sent()),
                  FormatDuration(elapsed / r * (dc.rounds - r)).c_str());
    progress.Show(r, line);
  }
  const fs::path ckpt = fs::path(options.out) / "model.ckpt";
  AGORA_ASSIGN_OR_RETURN(Hash256 hash, trainer::SaveCheckpoint(ckpt, run.GlobalState()));
  if (json_output) {
    std::cout << json::serialize(json::object{{"rounds", dc.rounds},
                                              {"val_loss", val},
                                              {"bytes_sent", run.bytes_sent()},
                                              {"checkpoint", ckpt.string()},
                                              {"hash", hash.ToHex()}})
              << "\n";
  } else {
    std::printf("%d rounds x %d workers x %d inner steps: validation loss %.4f, %llu bytes sent\n"
                "checkpoint %s\nhash %s\ncommitments %s\n",
                dc.rounds, dc.workers, dc.inner_steps, val,
                static_cast<unsigned long long>(run.bytes_sent()), ckpt.c_str(),
                hash.ToHex().c_str(), commit_path.c_str());
  }
  return Status::Ok();
}

Status RunGenerate(const GenerateOptions& options, bool json_output) {
  AGORA_ASSIGN_OR_RETURN(auto loaded, trainer::LoadCheckpoint(options.model));
  auto on_byte = [&](char c) {
    if (json_output) return;
    std::fputc(c, stdout);
    std::fflush(stdout);
  };
  if (!json_output) std::fputs(options.prompt.c_str(), stdout);
  AGORA_ASSIGN_OR_RETURN(std::string text,
                         trainer::Generate(loaded.state.config.model, loaded.state.params,
                                           options.prompt, options.sample, kernels::Backend::kCpu,
                                           on_byte));
  if (json_output) {
    std::cout << json::serialize(json::object{{"prompt", options.prompt}, {"text", text}}) << "\n";
  } else {
    std::fputc('\n', stdout);
  }
  return Status::Ok();
}

Status RunModelInfo(const std::string& path, bool json_output) {
  AGORA_ASSIGN_OR_RETURN(auto loaded, trainer::LoadCheckpoint(path));
  const TrainState& s = loaded.state;
  const trainer::ModelConfig& m = s.config.model;
  const trainer::OptimizerConfig& o = s.config.optimizer;
  if (json_output) {
    std::cout << json::serialize(json::object{
                     {"hash", loaded.hash.ToHex()},
                     {"format_version", trainer::CheckpointVersionOf(s.config)},
                     {"tier", std::string(trainer::KernelTierName(s.config.tier))},
                     {"hardware_class", s.config.tier == trainer::KernelTier::kExact
                                            ? std::string("any")
                                            : ClassName(s.config.hardware_class)},
                     {"vocab", m.vocab},
                     {"context", m.context},
                     {"layers", m.layers},
                     {"heads", m.heads},
                     {"width", m.width},
                     {"parameters", m.ParameterCount()},
                     {"step", s.step},
                     {"round", s.round},
                     {"worker", s.worker},
                     {"batch", s.config.batch},
                     {"seed", s.config.seed},
                     {"data_hash", s.data_hash.ToHex()}})
              << "\n";
    return Status::Ok();
  }
  std::printf("checkpoint  %s\nhash        %s\nformat      version %u\nkernels     %s\n"
              "model       %s\nstep        %lld (round %llu, worker %llu)\nbatch       %d, seed %llu\n"
              "optimizer   AdamW lr %g -> %g, warmup %lld, total %lld, wd %g, clip %g\n"
              "data        %s\n",
              path.c_str(), loaded.hash.ToHex().c_str(), trainer::CheckpointVersionOf(s.config),
              s.config.tier == trainer::KernelTier::kExact
                  ? "exact tier (same bits on any CPU or GPU)"
                  : ("native tier on " + ClassName(s.config.hardware_class)).c_str(),
              m.ToString().c_str(), static_cast<long long>(s.step),
              static_cast<unsigned long long>(s.round), static_cast<unsigned long long>(s.worker),
              s.config.batch, static_cast<unsigned long long>(s.config.seed), o.lr_max, o.lr_min,
              static_cast<long long>(o.warmup_steps), static_cast<long long>(o.total_steps),
              o.weight_decay, o.clip_norm, s.data_hash.ToHex().c_str());
  return Status::Ok();
}

void AddTrain(CLI::App& app, std::function<Status()>& action, const bool& json_output) {
  auto options = std::make_shared<TrainOptions>();
  auto* train = app.add_subcommand("train", "Train a model locally on a text corpus");
  train->add_option("--steps", options->steps, "Optimizer steps (total, when resuming)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  train->add_option("--stop-after", options->stop_after,
                    "Stop and checkpoint after this step (the schedule still spans --steps)");
  train->add_option("--config", options->config, "Preset: tiny, small, shakespeare, gpt2")
      ->capture_default_str();
  train->add_option("--data", options->data, "Corpus file (default: data/tinyshakespeare.txt)");
  train->add_option("--out", options->out, "Directory for model.ckpt and loss.csv")
      ->capture_default_str();
  train->add_option("--resume", options->resume, "Continue from this checkpoint");
  train->add_option("--seed", options->seed, "Job seed: initialization and batches");
  train->add_option("--lr", options->lr, "Peak learning rate (default: the preset's)");
  train->add_option("--batch", options->batch, "Sequences per step (default: the preset's)");
  train->add_option("--eval-every", options->eval_every, "Validation every N steps (0: at the end)");
  train->add_option("--eval-batches", options->eval_batches, "Validation batches")
      ->check(CLI::Range(1, 10000));
  train->add_option("--threads", options->threads, "Kernel threads (default: all cores)")
      ->check(CLI::Range(0, kernels::kThreadsMax));
  train->add_flag("--reference", options->reference, "Use the reference kernels (slow)");
  train->add_option("--device", options->device,
                    "Kernels: cpu (fast CPU), reference (plain loops), cuda (the exact tier on "
                    "GPU 0); all give the same bits")
      ->check(CLI::IsMember({"cpu", "reference", "cuda"}))
      ->capture_default_str();
  train->add_option("--tier", options->tier,
                    "exact (the same bits on every CPU and GPU) or native (with --device cuda: "
                    "matmuls on cuBLAS TF32 tensor cores; the same bits on one GPU model only)")
      ->check(CLI::IsMember({"exact", "native"}))
      ->capture_default_str();
  train->add_flag("--diloco", options->diloco, "DiLoCo: K workers in one process");
  train->add_option("--workers", options->diloco_config.workers, "DiLoCo workers K");
  train->add_option("--rounds", options->diloco_config.rounds, "DiLoCo rounds R");
  train->add_option("--inner-steps", options->diloco_config.inner_steps, "Inner steps H");
  train->add_option("--checkpoint-every", options->diloco_config.checkpoint_every,
                    "Inner steps C between committed checkpoints (default H)");
  train->add_option("--init-from", options->init_from,
                    "With --diloco: every worker (and --compare-ddp's data-parallel run) starts "
                    "from this checkpoint's parameters, with fresh optimizer state");
  train->add_option("--outer-lr", options->diloco_config.outer_lr,
                    "DiLoCo outer (Nesterov) learning rate")
      ->capture_default_str();
  train->add_option("--outer-momentum", options->diloco_config.outer_momentum,
                    "DiLoCo outer Nesterov momentum")
      ->capture_default_str();
  train->add_flag("--compare-ddp", options->compare_ddp,
                  "With --diloco: also run data-parallel training and print both");
  train->callback([&action, &json_output, options] {
    action = [&json_output, options]() -> Status {
      if (options->threads > 0) kernels::SetThreadCount(options->threads);
      if (options->device == "cuda") {
        if (options->reference) return Status::InvalidArgument("--reference conflicts with --device cuda");
        const Status ready =
            options->tier == "native" ? kernels::CudaNativeReady() : kernels::CudaOpsReady();
        if (!ready.ok()) return Status::FailedPrecondition("--device cuda: " + ready.message());
      } else if (options->tier == "native" && options->resume.empty()) {
        // (A native checkpoint of the cpu class resumes on the CPU:
        // CheckResumeTier.)
        return Status::InvalidArgument(
            "--tier native runs on a GPU only: add --device cuda, or drop --tier for the exact "
            "tier on the CPU");
      }
      if (options->compare_ddp && !options->diloco) {
        return Status::InvalidArgument("--compare-ddp needs --diloco");
      }
      if (!options->init_from.empty() && !options->diloco) {
        return Status::InvalidArgument(
            "--init-from needs --diloco; to continue a plain run use --resume");
      }
      return options->diloco ? TrainDiloco(*options, json_output)
                             : TrainPlain(*options, json_output);
    };
  });
}

}  // namespace

void AddTrainCommands(CLI::App& app, std::function<Status()>& action, const bool& json) {
  AddTrain(app, action, json);

  auto generate_options = std::make_shared<GenerateOptions>();
  auto* generate = app.add_subcommand("generate", "Sample text from a trained checkpoint");
  generate->add_option("--model", generate_options->model, "Checkpoint file")->required();
  generate->add_option("--prompt", generate_options->prompt, "Text to continue");
  generate->add_option("--tokens", generate_options->sample.tokens, "Bytes to generate")
      ->check(CLI::Range(0, trainer::kGenerateTokensMax));
  generate->add_option("--temperature", generate_options->sample.temperature,
                       "Sampling temperature (0: most likely byte)");
  generate->add_option("--seed", generate_options->sample.seed, "Sampling seed");
  generate->callback([&action, &json, generate_options] {
    action = [&json, generate_options] { return RunGenerate(*generate_options, json); };
  });

  auto model_path = std::make_shared<std::string>();
  auto* model = app.add_subcommand("model", "Inspect model checkpoints");
  model->require_subcommand(1);
  auto* info = model->add_subcommand("info", "Print a checkpoint's config, step and hash");
  info->add_option("checkpoint", *model_path, "Checkpoint file")->required();
  info->callback([&action, &json, model_path] {
    action = [&json, model_path] { return RunModelInfo(*model_path, json); };
  });
}

}  // namespace agora::node
