// consensus_sim_bench: how fast the consensus core decides heights, run
// whole networks in the deterministic simulator with a fixed message delay,
// a correct proposer and no faults.
//
// For 4, 16 and 31 validators it prints heights decided per CPU-second of
// simulation, messages and signature checks per height, and commit latency
// in message delays (the protocol's optimum is 3). With real ed25519 the
// peer is the signature bound measured in the same run. The simulator
// verifies each distinct (key, message, signature) once for the whole
// simulated network, as a node's cache does for itself, and every such
// signature was made once by its signer, so one core running the network
// cannot decide more than 1 / (distinct signatures per height x (one sign +
// one verify)) heights per CPU-second; the ratio (at most 1) says what share
// of the run's CPU the unavoidable cryptography is, the rest being the core,
// the network model and the simulator.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <vector>

#include "common/keys.h"
#include "consensus/sim/simulator.h"

namespace {

using agora::consensus::sim::FaultMix;
using agora::consensus::sim::RunSimulation;
using agora::consensus::sim::SimOptions;
using agora::consensus::sim::SimResult;

uint64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

struct CryptoNs {
  double sign = 0;
  double verify = 0;
};

// Nanoseconds of CPU for one ed25519 signature and one verification, over
// `count` distinct messages signed by one key.
CryptoNs MeasureCrypto(int count) {
  auto key = agora::SecretKey::FromSeed(agora::Bytes(32, 7)).value();
  const agora::SignDomain domain{"agora-bench", agora::SignKind::kPrevote};
  std::vector<agora::Bytes> messages;
  std::vector<agora::Signature> signatures;
  for (int i = 0; i < count; ++i) {
    agora::Bytes m(100, static_cast<uint8_t>(i));
    m[0] = static_cast<uint8_t>(i >> 8);
    messages.push_back(std::move(m));
  }
  const uint64_t sign_start = ThreadCpuNs();
  for (int i = 0; i < count; ++i) signatures.push_back(key.Sign(domain, messages[i]));
  const uint64_t sign_spent = ThreadCpuNs() - sign_start;
  int ok = 0;
  const uint64_t start = ThreadCpuNs();
  for (int i = 0; i < count; ++i) {
    ok += agora::Verify(key.public_key(), domain, messages[i], signatures[i]) ? 1 : 0;
  }
  const uint64_t spent = ThreadCpuNs() - start;
  if (ok != count) std::fprintf(stderr, "warning: %d signatures failed to verify\n", count - ok);
  return {static_cast<double>(sign_spent) / count, static_cast<double>(spent) / count};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"consensus_sim_bench: consensus core throughput in the simulator"};
  uint64_t heights = 40;
  uint64_t delay_us = 10'000;
  app.add_option("--heights", heights, "Heights per run");
  app.add_option("--delay-us", delay_us, "Fixed one-way message delay");
  CLI11_PARSE(app, argc, argv);

  const CryptoNs crypto = MeasureCrypto(2000);
  std::printf("ed25519 (libsodium, measured here): sign %.1f us, verify %.1f us\n",
              crypto.sign / 1000, crypto.verify / 1000);
  std::printf("fixed delay %llu us, %llu heights, no faults, correct proposers, one thread\n\n",
              static_cast<unsigned long long>(delay_us), static_cast<unsigned long long>(heights));
  std::printf("%10s %10s %12s %15s %15s %14s %13s %13s %7s\n", "validators", "signatures",
              "msgs/height", "checks/height", "distinct/height", "heights/CPU-s", "latency",
              "crypto bound", "ratio");
  bool all_ok = true;
  for (uint32_t n : {4u, 16u, 31u}) {
    for (bool real : {false, true}) {
      SimOptions o;
      o.seed = 1;
      o.mix = FaultMix::kClean;
      o.validators = n;
      o.heights = heights;
      o.fixed_delay_us = delay_us;
      o.real_crypto = real;
      const uint64_t start = ThreadCpuNs();
      SimResult r = RunSimulation(o);
      const double cpu_s = static_cast<double>(ThreadCpuNs() - start) / 1e9;
      if (!r.ok) {
        std::printf("run failed: %s\n", r.violation.c_str());
        all_ok = false;
        continue;
      }
      const double per_height = static_cast<double>(r.messages_sent) / r.heights_decided;
      const double checks = static_cast<double>(r.signatures_verified) / r.heights_decided;
      const double distinct = static_cast<double>(r.distinct_signatures) / r.heights_decided;
      const double rate = r.heights_decided / cpu_s;
      std::printf("%10u %10s %12.0f %15.0f", n, real ? "ed25519" : "keyed-hash", per_height,
                  checks);
      if (real) {
        const double bound = 1e9 / (distinct * (crypto.sign + crypto.verify));
        std::printf(" %15.1f %14.0f %10.3f dl %13.0f %6.2fx\n", distinct, rate,
                    r.latency_delays_x1000 / 1000.0, bound, rate / bound);
        if (rate > bound * 1.05) {
          // The bound is a floor on the run's CPU: above it, either the
          // simulator skips a signature or a check it must do, or the
          // machine's speed changed between the measurements.
          std::printf("  ^ above the bound: check the simulator's signing and verifying\n");
        }
      } else {
        std::printf(" %15s %14.0f %10.3f dl %13s %7s\n", "-", rate,
                    r.latency_delays_x1000 / 1000.0, "-", "-");
      }
    }
  }
  std::printf(
      "\nlatency: mean time from one decision to the next, in message delays "
      "(optimum 3).\nchecks: proposals and votes checked on delivery; distinct: of those, "
      "different signatures (each verified once network-wide).\nratio: heights/CPU-s with "
      "ed25519 over the bound 1 / (distinct signatures per height x (sign + verify)),\n"
      "the share of the run's CPU that the cryptography it cannot avoid takes.\n");
  return all_ok ? 0 : 1;
}
