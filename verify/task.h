// Task execution and replay as pure functions (PROTOCOL.md §7): what a
// provider runs for task (round r, worker k) of a job, what a validator
// replays of it, and how a round's K pseudo-gradients become the next
// round's weights.
//
// A task starts from a state that depends only on the job spec, the round's
// global weights, r and k (TaskStartState), so anyone holding the ledger's
// record of the round can recompute checkpoint 0. It runs H inner steps and
// hashes the state at steps 0, C, ..., H; the Merkle root over those H/C + 1
// hashes, the int8 pseudo-gradient's hash and the H losses are its
// commitment. A validator replays one C-step segment from the provider's
// checkpoint with the deterministic kernels and must get the next committed
// hash and the same losses bit for bit, plus a witness the commitment lacks
// and no stored checkpoint gives: the hash of one inner state the beacon
// chose after the commit, or, for a one-step segment (whose start and end
// are both checkpoints anyone can fetch), the hash of the step's gradient.
//
// Everything here is a function of its arguments: no clocks, files or
// threads of its own, so the provider, every validator and the simulator
// compute the same bits.
//
// Thread safety: free functions; a Corpus may be shared between threads.
#ifndef AGORA_VERIFY_TASK_H_
#define AGORA_VERIFY_TASK_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/status.h"
#include "kernels/backend.h"
#include "market/job_spec.h"
#include "trainer/config.h"
#include "trainer/data.h"
#include "trainer/train_state.h"

namespace agora::verify {

// The outer optimizer (SGD with Nesterov momentum), the DiLoCo paper's
// values: JobSpec has no fields for them, so every job uses these.
inline constexpr float kOuterLr = 0.7f;
inline constexpr float kOuterMomentum = 0.9f;

// The trainer's configuration of a job: the spec's integers (learning rates
// in 1e-9, betas, weight decay and clip norm in ppm, eps in 1e-12) divided
// in double and rounded once to float; total_steps = R × H (the schedule
// spans the whole job); model shape, batch and seed copied; a native job's
// tier and hardware class (an exact job's state runs anywhere). InvalidArgument
// if the spec fails market::ValidateSpec or the result TrainConfig::Validate.
Result<trainer::TrainConfig> TrainConfigOf(const market::JobSpec& spec);

// The state task (round, worker) starts from: the round's global parameters
// (for round 0, TrainState::Fresh(config, ...).params, i.e. the job seed's
// initialization), zero AdamW moments, step = round × inner_steps (so the
// learning-rate schedule continues across rounds), round_step 0.
//
// No optimizer state carries over from the worker's previous round (unlike
// trainer::RunWorkerRound, which keeps each worker's moments as the DiLoCo
// paper does): task (r, k) and task (r − 1, k) may be run by different
// providers, and the ledger records only the round's aggregated weights, so
// moments carried from r − 1 would be a blob the next provider may be unable
// to get and no validator could check checkpoint 0 against the ledger. With
// zero moments the start state, and its hash, follow from public records.
// REQUIRES: config.Validate().ok(),
//           round_params.size() == config.model.ParameterCount()
trainer::TrainState TaskStartState(const trainer::TrainConfig& config, const Hash256& data_hash,
                                   uint32_t inner_steps, uint32_t round, uint32_t worker,
                                   std::span<const float> round_params);

// What a provider holds after running a task.
struct TaskResult {
  // CheckpointHash of the states at steps 0, C, 2C, ..., H of the round:
  // H / C + 1 entries.
  std::vector<Hash256> checkpoint_hashes;
  Hash256 checkpoint_root;          // trainer::MerkleRoot(checkpoint_hashes)
  std::vector<float> losses;        // H: the training loss of each inner step
  trainer::TrainState final_state;  // the state at step H (checkpoint H / C)
  // The pseudo-gradient: EncodeInt8Blocks(start params − final params,
  // kQuantBlockDefault), and its BLAKE2b-256.
  Bytes delta;
  Hash256 delta_hash;
};

// Runs task (round, worker) of `spec` from the round's global parameters:
// H inner steps, a checkpoint every C. `on_checkpoint`, if set, sees each
// checkpoint state (step 0 included) with its hash, to store it and serve it
// to validators. InvalidArgument for a bad spec, round >= R, worker >= K or
// a parameter count that is not the model's; FailedPrecondition if the
// corpus is not the job's dataset.
Result<TaskResult> RunTask(
    const market::JobSpec& spec, uint32_t round, uint32_t worker,
    std::span<const float> round_params, const trainer::Corpus& corpus, kernels::Backend backend,
    const std::function<void(const trainer::TrainState&, const Hash256&)>& on_checkpoint = nullptr);

// Where an interrupted run of a task stopped: the hashes of the checkpoints
// it made (step 0 first), the losses of its steps so far (a whole number of
// segments: C per checkpoint after the first) and the state at the last
// checkpoint, e.g. read back from the blob store after a crash.
struct TaskResume {
  std::vector<Hash256> checkpoint_hashes;
  std::vector<float> losses;
  trainer::TrainState state;
};

// How a provider runs a task: optional hooks and an optional resume point.
struct RunTaskOptions {
  // Each new checkpoint (step 0 included unless resuming) with its hash.
  std::function<void(const trainer::TrainState&, const Hash256&)> on_checkpoint;
  // Each new checkpoint as its file (SerializeCheckpoint) with its hash, for
  // a caller that stores it: the file and the hash come from one pass over
  // the state instead of two. Called after on_checkpoint.
  std::function<void(Bytes file, const Hash256& hash)> on_checkpoint_file;
  // After each inner step, with its number in the task (1..H) and its loss;
  // before the checkpoint that step may complete.
  std::function<void(uint32_t step, float loss)> on_step;
  // Continue from here instead of step 0. The result is bit for bit the one
  // of an uninterrupted run, since a checkpoint state determines the rest.
  const TaskResume* resume = nullptr;
};

// RunTask with options. Besides RunTask's errors: InvalidArgument if
// `resume` is not a point of this task (its first hash is not the task's
// start, its last is not the hash of its state, or the counts of hashes and
// losses do not match a checkpoint of the schedule).
Result<TaskResult> RunTask(const market::JobSpec& spec, uint32_t round, uint32_t worker,
                           std::span<const float> round_params, const trainer::Corpus& corpus,
                           kernels::Backend backend, const RunTaskOptions& options);

// What a validator computes when it replays one segment.
struct SegmentReplay {
  Hash256 start_hash;         // CheckpointHash(start): compare with the committed checkpoint j
  Hash256 end_hash;           // after `steps` steps: compare with committed checkpoint j + 1
  // The state after `witness_step` steps; for a one-step segment,
  // trainer::GradientHash of the step's (clipped) gradient.
  Hash256 witness_hash;
  std::vector<float> losses;  // `steps` values: compare with losses[j·C, (j+1)·C)
};

// Runs `steps` (C) inner steps from a checkpoint state. `witness_step` is
// the beacon's step inside the segment, 1..steps − 1, or 0 when steps == 1
// (no step inside: the witness is then the gradient's hash). InvalidArgument for steps outside 1..kInnerStepsMax or a
// witness step outside its range; FailedPrecondition if the corpus is not
// the one the state was trained on.
Result<SegmentReplay> ReplaySegment(const trainer::TrainState& start, uint32_t steps,
                                    uint32_t witness_step, const trainer::Corpus& corpus,
                                    kernels::Backend backend);

// ReplaySegment for a validator that replays one segment after another: it
// keeps one trainer between replays of the same model shape, corpus and
// backend, so the model's activations and gradients (tens of MB for the
// small preset, allocated and faulted in on a trainer's first step) are
// set up once, not once per verdict; for a one-step segment that setup
// cost about as much as the step. Same results, bit for bit, as
// ReplaySegment (tests/verify/task_test.cc).
// With hash_start false, start_hash is left zero: for a caller that has
// already checked the start against the commitment (a checkpoint fetched by
// its hash), one pass over the state fewer.
// Thread safety: one thread at a time.
class SegmentReplayer {
 public:
  Result<SegmentReplay> Replay(trainer::TrainState start, uint32_t steps, uint32_t witness_step,
                               const trainer::Corpus& corpus, kernels::Backend backend,
                               bool hash_start = true);

  // How many trainers were built: a test's proof that one is kept.
  int trainers_built() const { return trainers_built_; }

 private:
  std::optional<trainer::Trainer> trainer_;
  // What the trainer was built for. The corpus is compared by address and
  // content, never read through the trainer: its owner may have freed it
  // since, and another corpus may live at the same address.
  const trainer::Corpus* corpus_ = nullptr;
  Hash256 corpus_hash_;
  kernels::Backend backend_ = kernels::Backend::kCpu;
  int trainers_built_ = 0;
};

// Checks a task's committed pseudo-gradient against its final checkpoint:
// Corruption if `delta` does not hash to `delta_hash` (not the committed
// blob: fetch it again); InvalidArgument if it is not
// EncodeInt8Blocks(round_params − final params) bit for bit (the provider
// committed a delta that its own training did not produce: the task fails)
// or the parameter counts differ.
Status CheckDelta(std::span<const float> round_params, const trainer::TrainState& final_state,
                  ByteSpan delta, const Hash256& delta_hash);

// BLAKE2b-256 of EncodeInt8Blocks(round_params − final_params): the delta
// hash a task whose checkpoint 0 holds `round_params` and whose final
// checkpoint holds `final_params` commits (a delta referee's vote,
// verify::DeltaDigest). InvalidArgument if the sizes differ.
Result<Hash256> DeltaHashOf(std::span<const float> round_params,
                            std::span<const float> final_params);

// The next round's weights and outer momentum.
struct RoundAggregate {
  std::vector<float> params, momentum;
  Hash256 params_hash;  // trainer::HashFloats(params)
};

// Decodes the K deltas (in worker order), averages them (AggregateMean) and
// applies the outer Nesterov step (kOuterLr, kOuterMomentum) to the round's
// parameters and momentum (zeros for round 0). InvalidArgument if there are
// no deltas or more than market::kWorkersMax, the momentum's size is not the
// parameters', or a delta decodes to fewer values than the parameters;
// Corruption if a delta is malformed or holds more values (the decoder's
// bound). Errors name the worker.
Result<RoundAggregate> AggregateRound(std::span<const float> round_params,
                                      std::span<const float> momentum,
                                      std::span<const Bytes> deltas);

// Mean loss of `params` over `batches` validation batches of the job's
// held-out slice (Trainer::EvaluateValidation), in nats per byte.
// InvalidArgument if the spec is invalid or the corpus cannot serve it (too
// small for its context, or not the spec's dataset), rather than an abort: a
// validator must survive a job it cannot evaluate.
// REQUIRES: params.size() is the model's parameter count, batches >= 1
Result<float> ValidationLoss(const market::JobSpec& spec, std::span<const float> params,
                     const trainer::Corpus& corpus, kernels::Backend backend, int batches);

}  // namespace agora::verify

#endif  // AGORA_VERIFY_TASK_H_
