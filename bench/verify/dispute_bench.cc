// dispute_bench: what a dispute costs (issue 17, docs/dispute.md), measured
// on real training steps of the small and shakespeare model shapes:
//
//   * operators per step: the records of one traced step (checked against
//     verify::RecordsPerStep, which the ledger uses);
//   * moves and bytes on the ledger for a provider that corrupted one
//     element of one attention output in step j of a segment of C steps:
//     the bisection over steps and over the step's trace chain played out
//     on the real hashes (P posts, V answers), the two records, three
//     referee votes;
//   * the referee's compute as a fraction of one fast training step
//     measured in the same run: recomputing the pinned operator with the
//     reference kernels, and the costliest kind of operator in the step
//     (each kind's first record recomputed).
//
//   build/<dir>/bench/verify/dispute_bench [--quick] [--corpus PATH]
//   --quick: the small shape only.
#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "kernels/trace.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/data.h"
#include "trainer/train_state.h"
#include "verify/dispute.h"
#include "verify/operator.h"

namespace {

using namespace agora;
using Clock = std::chrono::steady_clock;
using kernels::OpKind;
using kernels::OpRecord;
using kernels::OpTrace;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

constexpr uint32_t kC = 10;  // the segment a dispute bisects
constexpr uint32_t kJ = 7;   // the corrupted step

int Run(const trainer::Corpus& corpus, const std::string& name) {
  trainer::TrainConfig config = trainer::PresetConfig(name).value();
  const trainer::TrainState start = trainer::TrainState::Fresh(config, corpus.hash());
  // The honest segment's states, and a fast step's time (median of the C).
  std::vector<trainer::TrainState> states = {start};
  std::vector<double> step_s;
  {
    auto t = trainer::Trainer::Create(start, corpus, kernels::Backend::kCpu).value();
    for (uint32_t k = 1; k <= kC; ++k) {
      const auto a = Clock::now();
      t.Step();
      step_s.push_back(Seconds(a, Clock::now()));
      states.push_back(t.state());
    }
  }
  std::sort(step_s.begin(), step_s.end());
  const double step = step_s[step_s.size() / 2];
  auto trace_step = [&](const trainer::TrainState& from, std::optional<OpTrace::FaultForTesting> f,
                        trainer::TrainState* after) {
    auto trace = std::make_unique<OpTrace>(OpTrace::Options{.keep_blobs = true});
    if (f) trace->InjectFaultForTesting(*f);
    auto t = trainer::Trainer::Create(from, corpus, kernels::Backend::kCpu).value();
    {
      kernels::ScopedOpTrace scope(trace.get());
      t.Step();
    }
    if (after != nullptr) *after = t.state();
    return trace;
  };
  const auto honest = trace_step(states[kJ - 1], std::nullopt, nullptr);
  const std::vector<OpRecord>& records = honest->records();
  const uint64_t n = records.size();
  if (n != verify::RecordsPerStep(config.model)) {
    std::fprintf(stderr, "%s: %llu records traced, RecordsPerStep says %llu\n", name.c_str(),
                 static_cast<unsigned long long>(n),
                 static_cast<unsigned long long>(verify::RecordsPerStep(config.model)));
    return 1;
  }
  // The cheater: one element of the middle layer's attention output.
  int layer = config.model.layers / 2;
  uint64_t pinned = 0;
  for (uint64_t i = 0; i < n; ++i) {
    if (records[i].kind == OpKind::kAttentionForward && layer-- == 0) pinned = i;
  }
  trainer::TrainState bad_after;
  const auto cheat = trace_step(states[kJ - 1], OpTrace::FaultForTesting{pinned, 0, 17, 0x00400000u},
                                &bad_after);
  std::vector<Hash256> p_states, v_states;
  for (uint32_t k = 0; k <= kC; ++k) v_states.push_back(trainer::CheckpointHash(states[k]));
  p_states = v_states;
  {
    // Steps after j continue from the corrupted state.
    auto t = trainer::Trainer::Create(bad_after, corpus, kernels::Backend::kCpu).value();
    p_states[kJ] = trainer::CheckpointHash(bad_after);
    for (uint32_t k = kJ + 1; k <= kC; ++k) {
      t.Step();
      p_states[k] = trainer::CheckpointHash(t.state());
    }
  }
  // The game on these hashes.
  uint64_t moves = 0, bytes = 0, lo = 0, hi = kC;
  while (hi > lo + 1) {
    const uint64_t mid = lo + (hi - lo) / 2;
    moves += 2;
    bytes += 32;
    (p_states[mid] == v_states[mid] ? lo : hi) = mid;
  }
  const std::vector<Hash256> pl = verify::TraceChainLeaves(v_states[lo], cheat->records(), p_states[hi]);
  const std::vector<Hash256> vl = verify::TraceChainLeaves(v_states[lo], records, v_states[hi]);
  uint64_t olo = 0, ohi = n + 1;
  while (ohi > olo + 1) {
    const uint64_t mid = olo + (ohi - olo) / 2;
    moves += 2;
    bytes += 32;
    (pl[mid] == vl[mid] ? olo : ohi) = mid;
  }
  if (hi != kJ || ohi != pinned + 1) {
    std::fprintf(stderr, "%s: the bisection ended at step %llu record %llu, not %u / %llu\n",
                 name.c_str(), static_cast<unsigned long long>(hi),
                 static_cast<unsigned long long>(ohi), kJ,
                 static_cast<unsigned long long>(pinned + 1));
    return 1;
  }
  moves += 2;
  bytes += kernels::EncodeOpRecord(cheat->records()[pinned]).size() +
           kernels::EncodeOpRecord(records[pinned]).size() + 3 * 32;
  // The referee's work.
  std::map<Hash256, Bytes> blobs = honest->blobs();
  const verify::BlobLookup lookup = verify::LookupIn(blobs);
  auto time_recompute = [&](const OpRecord& r) {
    const auto a = Clock::now();
    const bool ok = verify::RecomputeMatches(r, lookup).value();
    const double s = Seconds(a, Clock::now());
    return ok ? s : -1.0;
  };
  const double pinned_s = time_recompute(records[pinned]);
  double costliest_s = 0;
  std::string costliest;
  std::map<OpKind, bool> seen;
  for (const OpRecord& r : records) {
    if (seen[r.kind]) continue;
    seen[r.kind] = true;
    const double s = time_recompute(r);
    if (s < 0) {
      std::fprintf(stderr, "%s: a record did not recompute to its outputs\n", name.c_str());
      return 1;
    }
    if (s > costliest_s) {
      costliest_s = s;
      costliest = std::string(kernels::OpKindName(r.kind));
    }
  }
  std::printf("| %-11s | %4llu | %5llu | %5llu | %9.4f | %12.3f | %-19s %8.3f | %6.2f |\n",
              name.c_str(), static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(moves), static_cast<unsigned long long>(bytes), step,
              pinned_s / step, costliest.c_str(), costliest_s / step, static_cast<double>(kC));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string corpus_path = trainer::DefaultCorpusPath().string();
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--corpus") == 0 && i + 1 < argc) {
      corpus_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: dispute_bench [--quick] [--corpus PATH]\n");
      return 2;
    }
  }
  Result<trainer::Corpus> corpus = trainer::Corpus::Load(corpus_path);
  if (!corpus.ok()) {
    std::fprintf(stderr, "%s\n", corpus.status().ToString().c_str());
    return 1;
  }
  std::printf("a dispute over one corrupted attention output in step %u of a %u-step segment\n",
              kJ, kC);
  std::printf("(referee compute in fast training steps measured in this run; the step\n"
              " referee's fallback replays at most C steps)\n");
  std::printf("| model       | ops  | moves | bytes | step s    | pinned op    | costliest op "
              "         | step fallback |\n");
  std::printf("|-------------|------|-------|-------|-----------|--------------|--------------"
              "--------------|--------|\n");
  std::vector<std::string> names = {"small"};
  if (!quick) names.push_back("shakespeare");
  for (const std::string& name : names) {
    if (Run(*corpus, name) != 0) return 1;
  }
  return 0;
}
