// job_bench: what a paid job costs against training the same thing alone.
//
// For each model preset, the same DiLoCo schedule (R rounds, K workers, H
// inner steps, a checkpoint every C) runs on this machine:
//   local  `agora train --diloco` in one process, the workers in turn, with
//          the kernels on every core, before the paid job and again after
//          it (the faster run is the reference: the host's speed drifts);
//   paid   a devnet from `agora devnet up --validators 4 --providers K` and
//          `agora job submit --wait` of a job file with the same schedule:
//          providers train, validators replay sampled segments and record
//          every round's weights, all over real sockets.
// Printed per preset: both wall times and their ratio (goal <= 1.25x:
// INTELLECT-1 reports 83-96% compute utilization, OpenDiLoCo 90-95%), the
// bytes the nodes served from their blob stores per round (datasets,
// checkpoints, deltas, models), and the share of the provider processes'
// CPU spent inside training (roles RPC training_cpu_s over the process's
// CPU time from /proc).
//
// --split-cores models providers on machines of their own: the machine's
// CPUs are cut in two halves; training alone and the provider processes run
// on the first, the validators, the client and everything else on the
// second (sched_setaffinity on every thread; the kernels size their thread
// pool from the affinity mask). Without it everything shares every core, so
// the validators' replays and round records take CPU from the training.
//
//   build/default/bench/job/job_bench [--presets tiny,small] [--rounds 2]
//       [--workers 2] [--inner-steps 40] [--interval 10] [--split-cores]
//       [--keep-logs]
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/address.h"
#include "common/keys.h"
#include "node/config.h"
#include "node/rpc/client.h"

extern char** environ;

namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Runs argv to completion with its output in `log`; returns the exit code
// (-1 if it could not start or died by a signal) and, if `cpu_s` is set,
// the CPU seconds it used.
int Run(const std::vector<std::string>& args, const fs::path& log, double* cpu_s = nullptr) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  if (cpu_s != nullptr) {
    *cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
             1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// utime + stime of a process, in seconds; 0 if it is gone.
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(in, text);
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The sum of a counter over a node's /metrics text.
double Metric(const std::string& metrics, const std::string& name) {
  double sum = 0;
  std::istringstream lines(metrics);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name, 0) != 0) continue;
    const size_t space = line.rfind(' ');
    if (space != std::string::npos) sum += std::stod(line.substr(space + 1));
  }
  return sum;
}

std::string Metrics(const std::string& url) {
  agora::Result<std::string> text = agora::node::rpc::RpcClient(url).Get("/metrics");
  return text.ok() ? *text : std::string();
}

// The CPUs this process may run on, in order.
std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

cpu_set_t MaskOf(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) CPU_SET(cpu, &set);
  return set;
}

std::string CpuList(const std::vector<int>& cpus) {
  std::string out;
  for (int cpu : cpus) out += (out.empty() ? "" : ",") + std::to_string(cpu);
  return out;
}

// Moves every thread of process `pid` onto `mask` (threads it starts later
// inherit it). False if the process is gone or a thread could not be moved.
bool PinProcess(pid_t pid, const cpu_set_t& mask) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* tasks = opendir(dir.c_str());
  if (tasks == nullptr) return false;
  bool ok = true;
  while (dirent* e = readdir(tasks)) {
    if (e->d_name[0] == '.') continue;
    const pid_t tid = static_cast<pid_t>(std::atol(e->d_name));
    if (sched_setaffinity(tid, sizeof(mask), &mask) != 0 && errno != ESRCH) ok = false;
  }
  closedir(tasks);
  return ok;
}

// Runs fn with the calling thread on `mask`, so that the processes it spawns
// start there; the thread's own mask is restored after. Returns -1 without
// running fn if the mask cannot be set.
template <typename Fn>
auto WithAffinity(const cpu_set_t* mask, Fn fn) {
  cpu_set_t saved;
  CPU_ZERO(&saved);
  const bool pin = mask != nullptr && sched_getaffinity(0, sizeof(saved), &saved) == 0 &&
                   sched_setaffinity(0, sizeof(*mask), mask) == 0;
  if (mask != nullptr && !pin) {
    std::fprintf(stderr, "cannot set this thread's CPUs (%s): --split-cores cannot be kept\n",
                 std::strerror(errno));
    return decltype(fn())(-1);  // as a command that could not start
  }
  auto result = fn();
  if (pin) sched_setaffinity(0, sizeof(saved), &saved);
  return result;
}

struct Result {
  double local_s = 0, paid_s = 0, local_before_s = 0, local_after_s = 0;
  double local_cpu_s = 0, validator_cpu_s = 0;
  double bytes_per_round = 0;
  double provider_training_cpu_s = 0, provider_cpu_s = 0;
  bool ok = false;
};

struct Options {
  std::vector<std::string> presets = {"tiny", "small"};
  uint32_t rounds = 2, workers = 2, inner_steps = 40, interval = 10;
  bool split_cores = false;
  bool keep_logs = false;
  std::vector<int> training_cpus, node_cpus;  // with split_cores
};

Result Measure(const std::string& preset, const Options& o, const fs::path& work) {
  Result r;
  const fs::path data = fs::path(AGORA_SOURCE_DIR) / "data" / "tinyshakespeare.txt";
  const fs::path log = work / "log.txt";
  const cpu_set_t training_mask = MaskOf(o.training_cpus), node_mask = MaskOf(o.node_cpus);
  const cpu_set_t* training_cpus = o.split_cores ? &training_mask : nullptr;
  const cpu_set_t* node_cpus = o.split_cores ? &node_mask : nullptr;
  // 1. Alone, here and again after the paid job (3.): the host's speed drifts
  // by tens of percent over minutes, so the faster of the two is the
  // reference (which can only make the ratio larger).
  auto alone = [&](const fs::path& out, double* wall_s, double* cpu_s) {
    const auto start = Clock::now();
    const int rc = WithAffinity(training_cpus, [&] {
      return Run({AGORA_CLI_PATH, "train", "--diloco", "--config", preset, "--workers",
                  std::to_string(o.workers), "--rounds", std::to_string(o.rounds), "--inner-steps",
                  std::to_string(o.inner_steps), "--checkpoint-every", std::to_string(o.interval),
                  "--data", data.string(), "--out", out.string()},
                 log, cpu_s);
    });
    *wall_s = std::chrono::duration<double>(Clock::now() - start).count();
    if (rc != 0) std::fprintf(stderr, "agora train --diloco failed; see %s\n", log.c_str());
    return rc == 0;
  };
  if (!alone(work / "local", &r.local_before_s, &r.local_cpu_s)) return r;
  // 2. As a paid job on a devnet.
  const fs::path home = work / "home";
  const agora::SecretKey client = agora::SecretKey::Generate();
  const fs::path key_file = work / "client.json";
  if (!agora::node::WriteNodeKey(key_file, client).ok()) return r;
  const std::string address = agora::Address::FromPublicKey(client.public_key()).ToString();
  if (WithAffinity(node_cpus, [&] {
        return Run({AGORA_CLI_PATH, "--home", home.string(), "devnet", "up", "--validators", "4",
                    "--providers", std::to_string(o.workers), "--fund",
                    address + "=100000000000000"},
                   log);
      }) != 0) {
    std::fprintf(stderr, "devnet up failed; see %s\n", log.c_str());
    return r;
  }
  struct Down {
    fs::path home, log;
    ~Down() { Run({AGORA_CLI_PATH, "--home", home.string(), "devnet", "down"}, log); }
  } down{home, log};
  const json::value testnet = json::parse(ReadAll(home / "devnet" / "testnet.json"));
  std::vector<std::string> urls;
  std::vector<pid_t> provider_pids, validator_pids;
  std::vector<std::string> provider_urls;
  for (const json::value& n : testnet.at("nodes").as_array()) {
    urls.push_back(std::string(n.at("rpc").as_string()));
    std::ifstream pid_file(fs::path(std::string(n.at("home").as_string())) / "agorad.pid");
    long pid = 0;
    pid_file >> pid;
    if (n.at("role").as_string() == "provider") {
      provider_urls.push_back(urls.back());
      provider_pids.push_back(static_cast<pid_t>(pid));
    } else {
      validator_pids.push_back(static_cast<pid_t>(pid));
    }
  }
  if (o.split_cores) {
    // Twice: a thread started while the first pass ran is caught by the second.
    for (int pass = 0; pass < 2; ++pass) {
      for (pid_t pid : provider_pids) {
        if (!PinProcess(pid, training_mask)) {
          std::fprintf(stderr, "could not move provider process %d to CPUs %s\n",
                       static_cast<int>(pid), CpuList(o.training_cpus).c_str());
          return r;
        }
      }
    }
  }
  {
    std::ofstream job(work / "job.toml");
    job << "[model]\npreset = \"" << preset << "\"\n[data]\nfile = \"" << data.string()
        << "\"\n[schedule]\nrounds = " << o.rounds << "\nworkers = " << o.workers
        << "\ninner_steps = " << o.inner_steps << "\ncheckpoint_interval = " << o.interval
        << "\n";
  }
  std::vector<double> cpu_before, validator_cpu_before;
  for (pid_t pid : provider_pids) cpu_before.push_back(ProcessCpuSeconds(pid));
  for (pid_t pid : validator_pids) validator_cpu_before.push_back(ProcessCpuSeconds(pid));
  const auto t0 = Clock::now();
  const int paid = WithAffinity(node_cpus, [&] {
    return Run({AGORA_CLI_PATH, "--node", urls[0], "job", "submit", (work / "job.toml").string(),
                "--budget", "10000000000", "--max-price", "1000", "--key-file", key_file.string(),
                "--wait"},
               log);
  });
  r.paid_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (paid != 0) {
    std::fprintf(stderr, "the paid job failed; see %s\n", log.c_str());
    return r;
  }
  for (size_t i = 0; i < provider_pids.size(); ++i) {
    r.provider_cpu_s += ProcessCpuSeconds(provider_pids[i]) - cpu_before[i];
    auto roles = agora::node::rpc::RpcClient(provider_urls[i]).Call("roles");
    if (roles.ok()) {
      r.provider_training_cpu_s +=
          roles->at("provider").at("training_cpu_s").to_number<double>();
    }
  }
  for (size_t i = 0; i < validator_pids.size(); ++i) {
    r.validator_cpu_s += ProcessCpuSeconds(validator_pids[i]) - validator_cpu_before[i];
  }
  double served = 0;
  for (const std::string& u : urls) {
    served += Metric(Metrics(u), "agora_blob_bytes_served_total");
  }
  r.bytes_per_round = served / o.rounds;
  // 3. Alone again, with the devnet down.
  Run({AGORA_CLI_PATH, "--home", home.string(), "devnet", "down"}, log);
  double after_cpu_s = 0;
  if (!alone(work / "local_after", &r.local_after_s, &after_cpu_s)) return r;
  r.local_s = std::min(r.local_before_s, r.local_after_s);
  if (r.local_after_s < r.local_before_s) r.local_cpu_s = after_cpu_s;
  r.ok = true;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A paid job on a local devnet against training alone (docs: README benchmarks)"};
  Options o;
  std::string presets = "tiny,small";
  app.add_option("--presets", presets, "Model presets, comma-separated")->capture_default_str();
  app.add_option("--rounds", o.rounds, "DiLoCo rounds R")->capture_default_str();
  app.add_option("--workers", o.workers, "Workers K (= providers)")->capture_default_str();
  app.add_option("--inner-steps", o.inner_steps, "Inner steps H")->capture_default_str();
  app.add_option("--interval", o.interval, "Checkpoint every C steps")->capture_default_str();
  app.add_flag("--split-cores", o.split_cores,
               "Training alone and the providers on one half of the CPUs, the validators and "
               "client on the other, as if providers had machines of their own");
  app.add_flag("--keep-logs", o.keep_logs,
               "Leave each preset's devnet homes and node logs behind (their folder is printed)");
  CLI11_PARSE(app, argc, argv);
  const std::vector<int> cpus = AllowedCpus();
  if (o.split_cores) {
    if (cpus.size() < 2) {
      std::fprintf(stderr, "--split-cores needs at least 2 CPUs; this process may use %zu\n",
                   cpus.size());
      return 2;
    }
    const size_t half = cpus.size() / 2;
    o.training_cpus.assign(cpus.begin(), cpus.begin() + static_cast<std::ptrdiff_t>(half));
    o.node_cpus.assign(cpus.begin() + static_cast<std::ptrdiff_t>(half), cpus.end());
  }
  o.presets.clear();
  std::stringstream list(presets);
  for (std::string p; std::getline(list, p, ',');) o.presets.push_back(p);

  std::printf("same schedule alone and as a paid job: R=%u K=%u H=%u C=%u, %zu cores\n", o.rounds,
              o.workers, o.inner_steps, o.interval, cpus.size());
  if (o.split_cores) {
    std::printf("split cores: training alone and providers on CPU %s; validators, client on CPU %s\n",
                CpuList(o.training_cpus).c_str(), CpuList(o.node_cpus).c_str());
  }
  bool all_ok = true;
  for (const std::string& preset : o.presets) {
    const fs::path work = fs::temp_directory_path() /
                          ("agora-job-bench-" + std::to_string(getpid()) + "-" + preset);
    fs::create_directories(work);
    std::fprintf(stderr, "%s: training alone, then as a paid job (logs in %s)\n", preset.c_str(),
                 work.c_str());
    const Result r = Measure(preset, o, work);
    if (!r.ok) {
      all_ok = false;
      continue;
    }
    std::printf(
        "%-6s alone %7.1f s   paid job %7.1f s   ratio %.2fx (goal <= 1.25x)   served %.1f "
        "MB/round   provider CPU in training %.0f%%\n"
        "       alone before the paid job %.1f s, after it %.1f s (the faster is the reference)\n"
        "       CPU: alone %.1f s; paid: providers %.1f s (%.1f s training), validators %.1f s "
        "(replays, round records, consensus)\n",
        preset.c_str(), r.local_s, r.paid_s, r.paid_s / r.local_s, r.bytes_per_round / 1e6,
        r.provider_cpu_s > 0 ? 100.0 * r.provider_training_cpu_s / r.provider_cpu_s : 0.0,
        r.local_before_s, r.local_after_s, r.local_cpu_s, r.provider_cpu_s, r.provider_training_cpu_s, r.validator_cpu_s);
    std::error_code ec;
    if (!o.keep_logs) fs::remove_all(work, ec);
  }
  return all_ok ? 0 : 1;
}
