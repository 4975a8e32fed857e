// agora-sim: runs simulated consensus networks from seeds and checks safety
// and liveness after every event. Exit status 1 if any seed failed; each
// failure prints the one command line that reproduces it.
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "consensus/sim/simulator.h"

namespace {

using agora::consensus::sim::FaultMix;
using agora::consensus::sim::SimOptions;

int Run(int argc, char** argv) {
  CLI::App app{"agora-sim: deterministic consensus network simulator"};
  SimOptions base;
  uint64_t seeds = 1, first_seed = 1, seed = 0;
  std::string mix = "all";
  std::vector<std::string> breaks;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  app.add_option("--seed", seed, "Run this one seed");
  app.add_option("--seeds", seeds, "Number of seeds to run");
  app.add_option("--first-seed", first_seed, "First seed of the range");
  app.add_option("--mix", mix, "clean, lossy, partition, crash, byzantine, chaos, "
                               "one-third-twins, lock-trap, or all (seed picks one that must stay live)");
  app.add_option("--validators", base.validators, "Validator count (default: seed picks 4..max)");
  app.add_option("--validators-max", base.validators_max, "Upper bound for the seed's pick");
  app.add_option("--scenario", base.scenario,
                 "A scripted scenario instead of a mix's drawn faults ('list' lists them)");
  app.add_option("--heights", base.heights, "Heights every honest validator must decide");
  app.add_flag("--equal-stake", [&](int64_t) { base.random_stake = false; }, "Equal stake");
  app.add_flag("--real-crypto", base.real_crypto, "ed25519 instead of the fast stand-in");
  app.add_option("--fixed-delay-us", base.fixed_delay_us, "Constant delay, no faults");
  app.add_flag("--ledger", base.ledger,
               "Chain mode: real blocks over a Ledger per node, staking, joins, jails, slashing");
  app.add_option("--break", breaks,
                 "Deliberate bug: ignore-lock, quorum-at-least-two-thirds, signer-buffered, "
                 "restore-lock-only");
  app.add_option("--threads", threads, "Worker threads");
  app.add_flag("--verbose", base.verbose, "Print every run's summary");
  CLI11_PARSE(app, argc, argv);
  for (const auto& b : breaks) {
    if (b == "ignore-lock") {
      base.break_ignore_lock = true;
    } else if (b == "quorum-at-least-two-thirds") {
      base.break_quorum_at_least_two_thirds = true;
    } else if (b == "signer-buffered") {
      base.break_signer_buffered = true;
    } else if (b == "restore-lock-only") {
      base.break_restore_lock_only = true;
    } else {
      std::fprintf(stderr, "error: unknown --break '%s'\n", b.c_str());
      return 2;
    }
  }
  if (!base.scenario.empty() && agora::consensus::sim::FindScenario(base.scenario) == nullptr) {
    const bool list = base.scenario == "list";
    std::FILE* out = list ? stdout : stderr;
    if (!list) {
      std::fprintf(out, "error: unknown --scenario '%s'; the scenarios are:\n",
                   base.scenario.c_str());
    }
    for (const std::string& name : agora::consensus::sim::ScenarioNames()) {
      std::fprintf(out, "  %-24s %s\n", name.c_str(),
                   agora::consensus::sim::FindScenario(name)->about.c_str());
    }
    return list ? 0 : 2;
  }
  if (!base.scenario.empty() &&
      (base.ledger || base.fixed_delay_us != 0 || base.validators != 0 || mix != "all")) {
    std::fprintf(stderr,
                 "error: --scenario brings its own validators, delays and faults; drop --ledger, "
                 "--fixed-delay-us, --validators and --mix\n");
    return 2;
  }
  FaultMix fixed_mix = FaultMix::kChaos;
  const bool all_mixes = mix == "all";
  if (!all_mixes && !agora::consensus::sim::ParseFaultMix(mix, &fixed_mix)) {
    std::fprintf(stderr, "error: unknown --mix '%s'\n", mix.c_str());
    return 2;
  }
  if (seed != 0) {
    first_seed = seed;
    seeds = 1;
  }

  std::atomic<uint64_t> next{0}, failures{0}, heights{0}, messages{0};
  std::mutex print_mu;
  // Chain mode: each kind of cheat committed and caught, and the jobs that
  // finished with their three round records. Guarded by print_mu.
  std::map<std::string, std::pair<uint64_t, uint64_t>> cheats;
  // The same over the runs where only honest validators answered the
  // cheat's slots (no lazy Byzantine pass).
  std::map<std::string, std::pair<uint64_t, uint64_t>> honest_cheats;
  uint64_t jobs_finished = 0;
  uint64_t claims = 0, claims_refuted = 0;
  auto started = std::chrono::steady_clock::now();
  auto worker = [&] {
    for (uint64_t i = next++; i < seeds; i = next++) {
      SimOptions o = base;
      o.seed = first_seed + i;
      // "all" cycles through the mixes that keep Byzantine power below 1/3.
      o.mix = all_mixes ? agora::consensus::sim::LiveMixForSeed(o.seed) : fixed_mix;
      auto r = agora::consensus::sim::RunSimulation(o);
      heights += r.heights_decided;
      messages += r.messages_sent;
      std::lock_guard lock(print_mu);
      if (r.cheat_committed) {
        ++cheats[r.cheat_kind].first;
        cheats[r.cheat_kind].second += r.cheat_caught;
        if (!r.cheat_met_lazy) {
          ++honest_cheats[r.cheat_kind].first;
          honest_cheats[r.cheat_kind].second += r.cheat_caught;
        }
      }
      if (r.job_finished && r.rounds_recorded == 3) ++jobs_finished;
      claims += r.claims;
      claims_refuted += r.claims_refuted;
      if (!r.ok) {
        ++failures;
        std::printf("FAIL seed %llu: %s\n  %s\n  reproduce: %s\n",
                    static_cast<unsigned long long>(o.seed), r.violation.c_str(),
                    r.summary.c_str(), agora::consensus::sim::ReproduceCommand(o).c_str());
      } else if (o.verbose) {
        std::printf("ok   seed %llu: %s\n", static_cast<unsigned long long>(o.seed),
                    r.summary.c_str());
      }
      if (seeds >= 1000 && (i + 1) % (seeds / 10) == 0) {
        std::printf("... %llu/%llu seeds\n", static_cast<unsigned long long>(i + 1),
                    static_cast<unsigned long long>(seeds));
      }
      std::fflush(stdout);
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  // Whole milliseconds: consensus/ keeps to integers, even in its tools.
  const long long elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - started)
                                   .count();
  std::printf("%llu seeds, %llu failed, %llu heights decided, %llu messages, %lld.%03lld s\n",
              static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(failures.load()),
              static_cast<unsigned long long>(heights.load()),
              static_cast<unsigned long long>(messages.load()), elapsed_ms / 1000,
              elapsed_ms % 1000);
  if (base.ledger) {
    std::printf("%llu of %llu jobs finished with all three round records\n",
                static_cast<unsigned long long>(jobs_finished),
                static_cast<unsigned long long>(seeds));
    std::printf("\"unavailable\" claims on slots: %llu, refuted by two agreeing passes "
                "(each fined verify.slash_missed_ppm): %llu\n",
                static_cast<unsigned long long>(claims),
                static_cast<unsigned long long>(claims_refuted));
    for (const auto& [kind, counts] : cheats) {
      // Per mille, in integers: 1-(1-f)^s is 200 for the lazy cheat (one
      // segment of five faked, one slot) and 1000 for the others.
      std::printf(
          "cheat %-11s caught %llu of %llu (%llu per mille; predicted %d)\n", kind.c_str(),
          static_cast<unsigned long long>(counts.second),
          static_cast<unsigned long long>(counts.first),
          static_cast<unsigned long long>(counts.first ? counts.second * 1000 / counts.first : 0),
          kind == "lazy" ? 200 : 1000);
      const auto& [met_honest, met_honest_caught] = honest_cheats[kind];
      std::printf("  only honest validators answered: caught %llu of %llu (%llu per mille)\n",
                  static_cast<unsigned long long>(met_honest_caught),
                  static_cast<unsigned long long>(met_honest),
                  static_cast<unsigned long long>(met_honest ? met_honest_caught * 1000 / met_honest
                                                             : 0));
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
