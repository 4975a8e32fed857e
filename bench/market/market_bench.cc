// market_bench: what the scheduler costs a block, and what its fair share
// buys a market over first-come-first-served.
//
// (a) One Schedule call (assignments_max 64 and 1000) over 10,000 providers
//     and 1,000 open tasks of 100 tenants, then 20,000 and 2,000: the median
//     of several runs, against two peers measured in the same run on the
//     same input: ScheduleFifo (the same provider choice, no fair share, no
//     round grouping) and the floor any beacon-tied ranking pays, one
//     BLAKE2b per provider id plus a sort of the providers by cost. It
//     prints the growth ratio when providers and tasks both double.
// (b) A simulated market over many blocks: tenants with skewed demand (a
//     few big jobs of many tasks, many small jobs, arriving over time),
//     providers whose speeds spread 10x, a task running ceil(work / speed)
//     blocks, a job's next round opening when its last round's tasks are
//     all done. The same jobs, providers and beacons run once with Schedule
//     and once with ScheduleFifo (arrival order = job arrival order); it
//     prints job completion times and Jain's fairness index side by side.
//
//   build/<dir>/bench/market/market_bench [--quick] [--seed N]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "market/pricing.h"
#include "market/scheduler.h"

namespace {

using agora::Blake2b256;
using agora::Blake2b256Hasher;
using agora::Hash256;
using agora::ToBytes;
using agora::market::Assignment;
using agora::market::EffectiveCost;
using agora::market::HardwareClass;
using agora::market::OpenTask;
using agora::market::ProviderOffer;
using agora::market::Schedule;
using agora::market::ScheduleFifo;
using agora::market::ScheduleInput;
using agora::market::TenantQueue;
using agora::market::Tier;
using Arrival = std::vector<std::pair<size_t, size_t>>;

// splitmix64: the same stream on every machine.
struct Rng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t In(uint64_t lo, uint64_t hi) { return lo + Next() % (hi - lo + 1); }
  bool Chance(uint64_t percent) { return Next() % 100 < percent; }
  // Log-uniform in [lo, hi]: speeds spread evenly over decades.
  uint64_t LogIn(uint64_t lo, uint64_t hi) {
    const double u = static_cast<double>(Next() >> 11) / 9007199254740992.0;
    const double v = std::exp(std::log(static_cast<double>(lo)) +
                              u * (std::log(static_cast<double>(hi)) - std::log(lo)));
    return std::clamp<uint64_t>(static_cast<uint64_t>(std::llround(v)), lo, hi);
  }
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(k, v.size() - 1)];
}

double Mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// ---------------------------------------------------------------- (a) one call

// A mixed market: 70% CPU, the rest spread over GPU classes; 5% below the
// reputation minimum; 10% without collateral for a large task; tenants'
// jobs of rounds of 4 workers, 20% of them native.
ScheduleInput BigMarket(size_t providers, size_t tasks, size_t tenants, uint64_t seed) {
  Rng rng{seed};
  ScheduleInput in;
  in.beacon = Blake2b256("bench beacon " + std::to_string(seed));
  for (size_t i = 0; i < providers; ++i) {
    ProviderOffer p;
    p.id = ToBytes("provider-" + std::to_string(i));
    p.hardware = rng.Chance(70) ? HardwareClass::kCpu : static_cast<HardwareClass>(rng.In(2, 4));
    p.speed_wu_per_s = rng.LogIn(1, 1000);
    p.free_slots = static_cast<uint32_t>(rng.In(1, 8));
    p.ask_uagr_per_wu = rng.In(1, 1000);
    p.reputation_ppm = rng.Chance(5) ? rng.In(0, 99'999) : rng.In(500'000, 1'000'000);
    p.collateral_free_uagr = rng.Chance(10) ? rng.In(0, 100'000) : uint64_t{1} << 40;
    in.providers.push_back(std::move(p));
  }
  for (size_t t = 0; t < tenants; ++t) {
    TenantQueue q;
    q.id = ToBytes("tenant-" + std::to_string(t));
    q.weight = rng.In(1, 3);
    q.running = rng.In(0, 20);
    in.tenants.push_back(std::move(q));
  }
  for (size_t k = 0; k < tasks; ++k) {
    const size_t t = k % tenants;
    const size_t index = in.tenants[t].open.size();
    OpenTask task;
    task.job = t * 1000 + index / 8;
    task.round = static_cast<uint32_t>(index / 4);
    task.worker = static_cast<uint32_t>(index % 4);
    task.work_wu = rng.In(100, 10'000);
    task.price_max_per_wu = rng.In(300, 1000);
    task.tier = rng.Chance(80) ? Tier::kExact : Tier::kNative;
    task.hardware = static_cast<HardwareClass>(rng.In(1, 4));
    in.tenants[t].open.push_back(task);
  }
  return in;
}

template <typename F>
double MedianMs(int runs, F&& f) {
  std::vector<double> ms;
  for (int r = 0; r < runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  return Median(ms);
}

// The floor: every provider's tie key under the beacon and a sort by cost.
size_t RankFloor(const ScheduleInput& in) {
  std::vector<std::pair<uint64_t, Hash256>> keys;
  keys.reserve(in.providers.size());
  for (const ProviderOffer& p : in.providers) {
    Blake2b256Hasher h;
    h.Update(in.beacon.bytes);
    h.Update(p.id);
    keys.emplace_back(EffectiveCost(p.ask_uagr_per_wu, p.reputation_ppm), h.Finish());
  }
  std::sort(keys.begin(), keys.end());
  return keys.size();
}

void RunCallCost(bool quick) {
  const int runs = quick ? 3 : 9;
  const size_t scale = quick ? 10 : 1;
  std::printf("(a) one Schedule call, median of %d runs (ms); peers on the same input:\n", runs);
  std::printf("    fifo = ScheduleFifo, floor = BLAKE2b of every provider id + sort by cost\n");
  std::printf("%10s %7s %8s %8s %10s %10s %10s %11s %11s\n", "providers", "tasks", "max",
              "assigned", "schedule", "fifo", "floor", "sched/fifo", "sched/floor");
  double first[2] = {0, 0}, second[2] = {0, 0};
  for (int size = 0; size < 2; ++size) {
    const size_t providers = (size == 0 ? 10'000 : 20'000) / scale;
    const size_t tasks = (size == 0 ? 1'000 : 2'000) / scale;
    ScheduleInput in = BigMarket(providers, tasks, 100 / (quick ? 5 : 1), 7 + size);
    Arrival arrival;
    for (size_t k = 0; k < tasks; ++k) {
      const size_t t = k % in.tenants.size();
      arrival.push_back({t, k / in.tenants.size()});
    }
    for (int m = 0; m < 2; ++m) {
      in.assignments_max = m == 0 ? 64 : 1000;
      size_t assigned = 0;
      const double sched = MedianMs(runs, [&] { assigned = Schedule(in).size(); });
      const double fifo = MedianMs(runs, [&] { (void)ScheduleFifo(in, arrival).size(); });
      const double floor = MedianMs(runs, [&] { (void)RankFloor(in); });
      std::printf("%10zu %7zu %8zu %8zu %10.2f %10.2f %10.2f %10.2fx %10.2fx\n", providers, tasks,
                  in.assignments_max, assigned, sched, fifo, floor, sched / fifo, sched / floor);
      (size == 0 ? first : second)[m] = sched;
    }
  }
  std::printf(
      "growth when providers and tasks double: max 64 %.2fx, max 1000 %.2fx "
      "(linear in providers: 2x)\n\n",
      second[0] / first[0], second[1] / first[1]);
}

// ---------------------------------------------------------------- (b) a market

struct SimJob {
  size_t tenant = 0;
  uint64_t arrival = 0;
  uint32_t rounds = 0, workers = 0;
  uint64_t work_wu = 0;
  bool big = false;
  // Progress.
  uint32_t round = 0;
  uint32_t finished_in_round = 0;
  std::vector<bool> started;  // workers of the current round
  uint64_t round_speed = 0;   // a speed running this round (0: none)
  uint64_t finish = 0;        // height of the last task's finish
  bool done = false;
};

struct SimConfig {
  size_t tenants = 50, big_tenants = 5, big_jobs_each = 4;
  size_t providers = 120;
  uint64_t arrival_blocks = 2'000;
  uint64_t small_jobs_each = 12;
  uint64_t blocks_max = 200'000;
};

struct Workload {
  std::vector<SimJob> jobs;  // in arrival order
  std::vector<ProviderOffer> providers;
};

Workload MakeWorkload(const SimConfig& c, uint64_t seed) {
  Rng rng{seed};
  Workload w;
  for (size_t t = 0; t < c.tenants; ++t) {
    const bool big = t < c.big_tenants;
    const uint64_t count = big ? c.big_jobs_each : c.small_jobs_each;
    for (uint64_t j = 0; j < count; ++j) {
      SimJob job;
      job.tenant = t;
      job.big = big;
      job.arrival = rng.In(0, c.arrival_blocks - 1);
      job.rounds = big ? 6 : 2;
      job.workers = big ? 64 : 4;
      job.work_wu = big ? 3'000 : 600;
      w.jobs.push_back(std::move(job));
    }
  }
  std::stable_sort(w.jobs.begin(), w.jobs.end(),
                   [](const SimJob& a, const SimJob& b) { return a.arrival < b.arrival; });
  for (size_t i = 0; i < c.providers; ++i) {
    ProviderOffer p;
    p.id = ToBytes("provider-" + std::to_string(i));
    p.speed_wu_per_s = rng.LogIn(10, 100);
    p.free_slots = 2;
    p.ask_uagr_per_wu = rng.In(1, 20);
    p.reputation_ppm = 1'000'000;
    p.collateral_free_uagr = uint64_t{1} << 40;
    w.providers.push_back(std::move(p));
  }
  return w;
}

struct SimResult {
  std::vector<double> completion_small, completion_big, completion_all;
  double jain_sum = 0;
  uint64_t contention_blocks = 0;
  uint64_t blocks = 0;
  bool finished = false;
};

struct Live {
  uint64_t finish;
  size_t job, provider;
};

// One block of tenant queues: each active job's unstarted workers of its
// current round, oldest job first; `where` maps (tenant, index) to (job,
// worker) and `arrival` lists them in job arrival order for FIFO.
void BuildQueues(const std::vector<SimJob>& jobs, const std::vector<size_t>& active,
                 const std::vector<uint64_t>& running, ScheduleInput& in,
                 std::vector<std::vector<std::pair<size_t, uint32_t>>>& where, Arrival& arrival) {
  for (size_t t = 0; t < in.tenants.size(); ++t) {
    in.tenants[t].open.clear();
    in.tenants[t].running = running[t];
    where[t].clear();
  }
  arrival.clear();
  for (size_t j : active) {  // ascending job index = arrival order
    const SimJob& job = jobs[j];
    for (uint32_t k = 0; k < job.workers; ++k) {
      if (job.started[k]) continue;
      OpenTask task;
      task.job = j;
      task.round = job.round;
      task.worker = k;
      task.work_wu = job.work_wu;
      task.price_max_per_wu = 50;
      task.round_speed_wu_per_s = job.round_speed;
      arrival.push_back({job.tenant, in.tenants[job.tenant].open.size()});
      in.tenants[job.tenant].open.push_back(task);
      where[job.tenant].push_back({j, k});
    }
  }
}

SimResult Simulate(const SimConfig& c, const Workload& w, bool fair, uint64_t seed) {
  std::vector<SimJob> jobs = w.jobs;
  for (SimJob& j : jobs) j.started.assign(j.workers, false);
  ScheduleInput in;
  in.providers = w.providers;
  for (size_t t = 0; t < c.tenants; ++t) {
    TenantQueue q;
    q.id = ToBytes("tenant-" + std::to_string(t));
    in.tenants.push_back(std::move(q));
  }
  std::vector<uint64_t> running(c.tenants, 0);
  std::vector<size_t> active;
  std::vector<Live> live;
  std::vector<std::vector<std::pair<size_t, uint32_t>>> where(c.tenants);
  Arrival arrival;
  size_t next_arrival = 0, done = 0;
  SimResult r;
  for (uint64_t height = 0; height < c.blocks_max && done < jobs.size(); ++height) {
    // Finish tasks due now; a round whose tasks are all done opens the next.
    for (size_t i = 0; i < live.size();) {
      if (live[i].finish > height) {
        ++i;
        continue;
      }
      SimJob& job = jobs[live[i].job];
      --running[job.tenant];
      ++in.providers[live[i].provider].free_slots;
      if (++job.finished_in_round == job.workers) {
        job.finished_in_round = 0;
        job.round_speed = 0;
        job.started.assign(job.workers, false);
        if (++job.round == job.rounds) {
          job.done = true;
          job.finish = height;
          ++done;
          const double t = static_cast<double>(height - job.arrival);
          (job.big ? r.completion_big : r.completion_small).push_back(t);
          r.completion_all.push_back(t);
        }
      }
      live[i] = live.back();
      live.pop_back();
    }
    while (next_arrival < jobs.size() && jobs[next_arrival].arrival == height) {
      active.push_back(next_arrival++);
    }
    std::erase_if(active, [&](size_t j) { return jobs[j].done; });
    BuildQueues(jobs, active, running, in, where, arrival);
    in.beacon = Blake2b256("sim " + std::to_string(seed) + "/" + std::to_string(height));
    const std::vector<Assignment> out = fair ? Schedule(in) : ScheduleFifo(in, arrival);
    for (const Assignment& a : out) {
      const auto [j, k] = where[a.tenant][a.task];
      SimJob& job = jobs[j];
      const ProviderOffer& p = in.providers[a.provider];
      job.started[k] = true;
      if (job.round_speed == 0) job.round_speed = p.speed_wu_per_s;
      const uint64_t blocks = (job.work_wu + p.speed_wu_per_s - 1) / p.speed_wu_per_s;
      live.push_back({height + blocks, j, a.provider});
      --in.providers[a.provider].free_slots;
      ++running[job.tenant];
    }
    // Contention: some open task still waits. Jain over the tenants with
    // tasks waiting, x = tasks each runs.
    std::vector<bool> waiting(c.tenants, false);
    size_t assigned_open = 0;
    for (size_t t = 0; t < c.tenants; ++t) {
      size_t got = 0;
      for (const Assignment& a : out) got += a.tenant == t ? 1 : 0;
      assigned_open += got;
      waiting[t] = got < in.tenants[t].open.size();
    }
    if (assigned_open < arrival.size()) {
      double sum = 0, sum_sq = 0;
      size_t n = 0;
      for (size_t t = 0; t < c.tenants; ++t) {
        if (!waiting[t]) continue;
        const double x = static_cast<double>(running[t]);
        sum += x;
        sum_sq += x * x;
        ++n;
      }
      if (n >= 2 && sum_sq > 0) {
        r.jain_sum += sum * sum / (static_cast<double>(n) * sum_sq);
        ++r.contention_blocks;
      }
    }
    r.blocks = height + 1;
  }
  r.finished = done == jobs.size();
  return r;
}

void RunMarket(bool quick, uint64_t seed, size_t providers) {
  SimConfig c;
  if (providers) c.providers = providers;
  if (quick) {
    c.tenants = 12;
    c.big_tenants = 2;
    c.big_jobs_each = 2;
    c.providers = providers ? providers : 30;
    c.arrival_blocks = 400;
    c.small_jobs_each = 6;
  }
  const Workload w = MakeWorkload(c, seed);
  uint64_t slots = 0;
  for (const ProviderOffer& p : w.providers) slots += p.free_slots;
  std::printf(
      "(b) simulated market, seed %llu: %zu tenants (%zu big: %zu jobs each of 6 rounds x "
      "64 tasks x 3000 wu;\n    the rest %llu jobs each of 2 rounds x 4 tasks x 600 wu), "
      "%zu jobs arriving over %llu blocks,\n    %zu providers x 2 slots (%llu), speeds "
      "log-uniform 10..100 wu/s, a task runs ceil(work/speed) blocks,\n    "
      "assignments_max 64 per block\n",
      static_cast<unsigned long long>(seed), c.tenants, c.big_tenants, c.big_jobs_each,
      static_cast<unsigned long long>(c.small_jobs_each), w.jobs.size(),
      static_cast<unsigned long long>(c.arrival_blocks), c.providers,
      static_cast<unsigned long long>(slots));
  const SimResult fair = Simulate(c, w, /*fair=*/true, seed);
  const SimResult fifo = Simulate(c, w, /*fair=*/false, seed);
  auto row = [](const char* name, const std::vector<double>& a, const std::vector<double>& b) {
    std::printf("%-26s %9.1f %9.1f %9.1f %9.1f %8.2fx %8.2fx\n", name, Mean(a), Percentile(a, 0.95),
                Mean(b), Percentile(b, 0.95), Mean(a) / Mean(b),
                Percentile(a, 0.95) / Percentile(b, 0.95));
  };
  std::printf("%-26s %9s %9s %9s %9s %9s %9s\n", "job completion (blocks)", "fair mean", "fair p95",
              "fifo mean", "fifo p95", "mean f/F", "p95 f/F");
  row("all jobs", fair.completion_all, fifo.completion_all);
  row("small jobs", fair.completion_small, fifo.completion_small);
  row("big jobs", fair.completion_big, fifo.completion_big);
  const auto jain = [](const SimResult& s) {
    return s.contention_blocks ? s.jain_sum / static_cast<double>(s.contention_blocks) : 0.0;
  };
  std::printf("%-26s %9.3f %19.3f\n", "Jain's index (contention)", jain(fair), jain(fifo));
  std::printf("%-26s %9llu %19llu\n", "contention blocks",
              static_cast<unsigned long long>(fair.contention_blocks),
              static_cast<unsigned long long>(fifo.contention_blocks));
  std::printf("%-26s %9llu %19llu%s\n", "blocks to finish all",
              static_cast<unsigned long long>(fair.blocks),
              static_cast<unsigned long long>(fifo.blocks),
              fair.finished && fifo.finished ? "" : "  (NOT all finished)");
  std::printf(
      "\ncompletion: blocks from a job's arrival to its last task's finish. f/F: Schedule over "
      "ScheduleFifo.\nJain's index: J = (sum x)^2 / (n sum x^2) over the n tenants with tasks "
      "waiting after\nthe block's scheduling, x = tasks each is running; averaged over "
      "contention blocks (some open\ntask waits, n >= 2). 1 = equal shares; 1/n = one "
      "tenant holds every slot.\n");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"market_bench: scheduler cost per block and a simulated market, fair vs FIFO"};
  bool quick = false;
  uint64_t seed = 1;
  app.add_flag("--quick", quick, "Small run: a tenth of the sizes, a small market");
  size_t providers = 0;
  app.add_option("--seed", seed, "Seed of the workload, providers and beacons");
  app.add_option("--providers", providers, "Providers in the simulated market (b)");
  CLI11_PARSE(app, argc, argv);
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  std::printf("command: %s\n\n", command.c_str());
  RunCallCost(quick);
  RunMarket(quick, seed, providers);
  return 0;
}
