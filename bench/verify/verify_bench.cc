// verify_bench: the replay fraction, measured on real tasks.
//
// For the tiny and small model shapes and three (H, C) schedules (and
// small's model at four times its batch, one schedule), the provider
// runs a whole task (verify::RunTask: H AdamW steps, a checkpoint hash every
// C) and a validator does everything a verdict needs for one sampled
// segment: hash the fetched start and final checkpoints, check three Merkle
// proofs against the committed root, replay C steps with the witness
// (verify::SegmentReplayer) and re-check the delta against the final
// checkpoint (verify::CheckDelta). It prints the validator's time over the
// provider's (the mean of the replays of every segment, a verdict's
// expected cost on a uniformly sampled one, over the median of three runs
// of the task) next to the bound
// s * C / H the protocol's economics assume (PROTOCOL.md §7: 2% at
// H/C = 50, s = 1). Both run on the fast CPU backend with the same threads.
// The validator keeps one verify::SegmentReplayer for all its replays, as
// the validator role does, so the model's buffers are set up once (by a
// replay that is not timed); the provider pays it once per task. Also printed: one checkpoint hash and one training step, in ms, the
// two costs the fixed work of a verdict is made of.
//
//   build/<dir>/bench/verify/verify_bench [--quick] [--corpus PATH]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/merkle.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/data.h"
#include "verify/task.h"

namespace {

using namespace agora;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Shape {
  const char* name;
  uint32_t layers, heads, width, context, batch;
  bool both_schedules;  // H/C = 50 with C = 1 and C = 2, else only C = 1
  bool diloco_schedule;  // also H = 500, C = 10 (DiLoCo's H), unless --quick
};

int Run(const trainer::Corpus& corpus, const Shape& shape, uint32_t h, uint32_t c, bool quick) {
  market::JobSpec spec;
  spec.vocab = 256;
  spec.context = shape.context;
  spec.layers = shape.layers;
  spec.heads = shape.heads;
  spec.width = shape.width;
  spec.batch = shape.batch;
  spec.dataset_hash = corpus.hash();
  spec.dataset_bytes = corpus.size();
  spec.rounds = 1;
  spec.workers = 1;
  spec.inner_steps = h;
  spec.checkpoint_interval = c;
  spec.spot_checks = 1;
  Result<trainer::TrainConfig> config = verify::TrainConfigOf(spec);
  if (!config.ok()) {
    std::fprintf(stderr, "spec: %s\n", config.status().ToString().c_str());
    return 1;
  }
  const std::vector<float> params0 =
      trainer::TrainState::Fresh(*config, corpus.hash()).params;
  constexpr auto kBackend = kernels::Backend::kCpu;
  // The provider's time: the median of three runs of the task (the first
  // run of a shape in the process is often 10-20% slower than the next).
  std::vector<trainer::TrainState> states;  // the provider's blob store
  std::vector<double> trains;
  Result<verify::TaskResult> task = Status::Internal("not run");
  for (int run = 0; run < (quick ? 1 : 3); ++run) {
    states.clear();
    const auto t0 = Clock::now();
    task = verify::RunTask(
        spec, 0, 0, params0, corpus, kBackend,
        [&](const trainer::TrainState& s, const Hash256&) { states.push_back(s); });
    trains.push_back(Seconds(t0, Clock::now()));
    if (!task.ok()) {
      std::fprintf(stderr, "task: %s\n", task.status().ToString().c_str());
      return 1;
    }
  }
  std::sort(trains.begin(), trains.end());
  const double train_s = trains[trains.size() / 2];
  const uint32_t segments = h / c;
  verify::SegmentReplayer replayer;
  // The validator role keeps its replayer between verdicts, so the model's
  // buffers are set up once: here by one replay that is not timed.
  if (!replayer.Replay(states[0], c, c > 1 ? 1 : 0, corpus, kBackend).ok()) return 1;
  std::vector<double> replays;
  const uint32_t sampled = quick ? std::min<uint32_t>(segments, 3) : segments;
  for (uint32_t j = 0; j < sampled; ++j) {
    const uint32_t seg = quick ? j * (segments / sampled) : j;
    const auto r0 = Clock::now();
    // What a verdict needs: the fetched start and final states' hashes,
    // three proofs, the replay with its witness and end hash, the delta
    // re-encoded from the final state.
    bool ok = trainer::CheckpointHash(states[segments]) == task->checkpoint_hashes[segments];
    for (uint64_t leaf : {uint64_t{seg}, uint64_t{seg} + 1, uint64_t{segments}}) {
      ok &= merkle::Verify(task->checkpoint_root, task->checkpoint_hashes[leaf],
                           merkle::Prove(task->checkpoint_hashes, leaf));
    }
    Result<verify::SegmentReplay> replay =
        replayer.Replay(states[seg], c, c > 1 ? 1 : 0, corpus, kBackend);
    ok &= replay.ok() && replay->start_hash == task->checkpoint_hashes[seg] &&
          replay->end_hash == task->checkpoint_hashes[seg + 1];
    ok &= verify::CheckDelta(params0, states[segments], task->delta, task->delta_hash).ok();
    replays.push_back(Seconds(r0, Clock::now()));
    if (!ok) {
      std::fprintf(stderr, "segment %u did not verify: the bench measured a broken replay\n", seg);
      return 1;
    }
  }
  // The segment is sampled uniformly, so a verdict's expected cost is the
  // mean over the segments, not their median: until 2026-12-05 the median
  // was taken, which leaves out segments slower than most.
  double sum = 0;
  for (double r : replays) sum += r;
  const double mean = sum / static_cast<double>(replays.size());
  const double measured = mean / train_s;
  const double bound = static_cast<double>(c) / h;
  // One checkpoint hash (median of 5) against one step of the training.
  std::vector<double> hashes;
  for (int i = 0; i < 5; ++i) {
    const auto h0 = Clock::now();
    const Hash256 hash = trainer::CheckpointHash(states.back());
    hashes.push_back(Seconds(h0, Clock::now()));
    if (hash != task->checkpoint_hashes.back()) return 1;
  }
  std::sort(hashes.begin(), hashes.end());
  std::printf("| %-9s | %4u | %2u | %8.3f | %8.4f | %6.2f%% | %6.2f%% | %5.2f | %7.2f | %7.2f |\n",
              shape.name, h, c, train_s, mean, 100 * measured, 100 * bound, measured / bound,
              1e3 * hashes[2], 1e3 * train_s / h);
  std::fflush(stdout);
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
      std::fprintf(stderr, "usage: verify_bench [--quick] [--corpus PATH]\n");
      return 2;
    }
  }
  Result<trainer::Corpus> corpus = trainer::Corpus::Load(corpus_path);
  if (!corpus.ok()) {
    std::fprintf(stderr, "%s\n", corpus.status().ToString().c_str());
    return 1;
  }
  // tiny and small are the trainer's presets; small-b64 is small's model
  // with four times its batch (8,192 tokens a step), to show where the
  // fixed work of a verdict stops mattering: only H/C = 50 for it.
  // H = 500 is the DiLoCo paper's inner steps; with C = 10 the segment's
  // ten steps carry the verdict's fixed hashes (small-b64 would take 15
  // minutes there, and its fixed work is already about 1% of a replay).
  const Shape shapes[] = {{"tiny", 2, 2, 64, 64, 8, true, true},
                          {"small", 4, 4, 128, 128, 16, true, true},
                          {"small-b64", 4, 4, 128, 128, 64, false, false}};
  std::printf("replay of one sampled segment (s = 1) vs training the whole task, fast CPU backend\n");
  std::printf(
      "| model     | H    | C  | train s  | replay s | measured | s*C/H   | ratio | hash ms | step ms |\n");
  std::printf(
      "|-----------|------|----|----------|----------|----------|---------|-------|---------|---------|\n");
  for (const Shape& shape : shapes) {
    if (Run(*corpus, shape, 50, 1, quick) != 0) return 1;
    if (shape.both_schedules && Run(*corpus, shape, 100, 2, quick) != 0) return 1;
    if (shape.diloco_schedule && !quick && Run(*corpus, shape, 500, 10, quick) != 0) return 1;
  }
  return 0;
}
