#include "verify/task.h"

#include <algorithm>
#include <string>
#include <utility>

#include "trainer/checkpoint.h"
#include "trainer/diloco.h"

namespace agora::verify {
namespace {

// One division in double, one rounding to float: the same bits on every
// machine, and the float nearest the decimal value for every spec default.
float Scaled(uint64_t value, double units_per_one) {
  return static_cast<float>(static_cast<double>(value) / units_per_one);
}

// EncodeInt8Blocks(round_params − final_params): the pseudo-gradient a task
// sends. REQUIRES: equal sizes.
Bytes EncodeDelta(std::span<const float> round_params, std::span<const float> final_params) {
  AGORA_CHECK(round_params.size() == final_params.size());
  std::vector<float> delta(round_params.size());
  for (size_t i = 0; i < delta.size(); ++i) delta[i] = round_params[i] - final_params[i];
  return trainer::EncodeInt8Blocks(delta, trainer::kQuantBlockDefault);
}

Status CheckTaskArguments(const market::JobSpec& spec, const trainer::TrainConfig& config,
                          uint32_t round, uint32_t worker, std::span<const float> round_params,
                          const trainer::Corpus& corpus) {
  if (round >= spec.rounds) {
    return Status::InvalidArgument("round " + std::to_string(round) +
                                   " is not in the job (it has " + std::to_string(spec.rounds) +
                                   " rounds)");
  }
  if (worker >= spec.workers) {
    return Status::InvalidArgument("worker " + std::to_string(worker) +
                                   " is not in the job (it has " + std::to_string(spec.workers) +
                                   " workers per round)");
  }
  const uint64_t count = static_cast<uint64_t>(config.model.ParameterCount());
  if (round_params.size() != count) {
    return Status::InvalidArgument("the round's parameters have " +
                                   std::to_string(round_params.size()) +
                                   " values; the job's model has " + std::to_string(count));
  }
  if (corpus.hash() != spec.dataset_hash) {
    return Status::FailedPrecondition(
        "the corpus given hashes to " + corpus.hash().ToHex() + " but the job trains on dataset " +
        spec.dataset_hash.ToHex() + "; fetch the job's dataset by its hash");
  }
  return Status::Ok();
}

}  // namespace

// The trainer keeps the market's class numbers (trainer/config.h).
static_assert(static_cast<uint8_t>(market::HardwareClass::kCpu) == trainer::kHardwareCpu);
static_assert(market::kHardwareClassMax == trainer::kHardwareClassNumberMax);

Result<trainer::TrainConfig> TrainConfigOf(const market::JobSpec& spec) {
  AGORA_RETURN_IF_ERROR(market::ValidateSpec(spec));
  constexpr double kNano = 1e9, kPpm = 1e6, kPico = 1e12;
  const market::OptimizerSpec& o = spec.optimizer;
  trainer::TrainConfig config;
  config.model = {.vocab = static_cast<int>(spec.vocab),
                  .context = static_cast<int>(spec.context),
                  .layers = static_cast<int>(spec.layers),
                  .heads = static_cast<int>(spec.heads),
                  .width = static_cast<int>(spec.width)};
  config.optimizer.lr_max = Scaled(o.lr_max_nano, kNano);
  config.optimizer.lr_min = Scaled(o.lr_min_nano, kNano);
  // ValidateSpec bounds warmup by R × H <= 10^4 × 10^6, far inside int64.
  config.optimizer.warmup_steps = static_cast<int64_t>(o.warmup_steps);
  config.optimizer.total_steps = int64_t{spec.rounds} * spec.inner_steps;
  config.optimizer.beta1 = Scaled(o.beta1_ppm, kPpm);
  config.optimizer.beta2 = Scaled(o.beta2_ppm, kPpm);
  config.optimizer.eps = Scaled(o.eps_pico, kPico);
  config.optimizer.weight_decay = Scaled(o.weight_decay_ppm, kPpm);
  config.optimizer.clip_norm = Scaled(o.clip_norm_ppm, kPpm);
  config.batch = static_cast<int>(spec.batch);
  config.seed = spec.seed;
  if (spec.tier == market::Tier::kNative) {
    config.tier = trainer::KernelTier::kNative;
    config.hardware_class = static_cast<uint8_t>(spec.hardware);
  }
  if (Status status = config.Validate(); !status.ok()) {
    return Status::InvalidArgument("job spec gives an invalid training config: " +
                                   status.message());
  }
  return config;
}

trainer::TrainState TaskStartState(const trainer::TrainConfig& config, const Hash256& data_hash,
                                   uint32_t inner_steps, uint32_t round, uint32_t worker,
                                   std::span<const float> round_params) {
  AGORA_CHECK(config.Validate().ok());
  const size_t count = static_cast<size_t>(config.model.ParameterCount());
  AGORA_CHECK(round_params.size() == count);
  trainer::TrainState state;
  state.config = config;
  state.data_hash = data_hash;
  state.round = round;
  state.worker = worker;
  // The schedule position continues across rounds; the moments do not (see
  // the header: the start state must follow from public records alone).
  // Trainer applies AdamW's bias correction at step + 1, so from round 1 on
  // the zero moments are corrected as if they were old: with betas 0.9 and
  // 0.99 the first inner steps of a round move up to 1.47x further than
  // with a fresh count after 50 steps, 2.1x after 500 or more.
  state.step = int64_t{round} * inner_steps;
  state.round_step = 0;
  state.params.assign(round_params.begin(), round_params.end());
  state.m.assign(count, 0.0f);
  state.v.assign(count, 0.0f);
  return state;
}

Result<TaskResult> RunTask(
    const market::JobSpec& spec, uint32_t round, uint32_t worker,
    std::span<const float> round_params, const trainer::Corpus& corpus, kernels::Backend backend,
    const std::function<void(const trainer::TrainState&, const Hash256&)>& on_checkpoint) {
  RunTaskOptions options;
  options.on_checkpoint = on_checkpoint;
  return RunTask(spec, round, worker, round_params, corpus, backend, options);
}

Result<TaskResult> RunTask(const market::JobSpec& spec, uint32_t round, uint32_t worker,
                           std::span<const float> round_params, const trainer::Corpus& corpus,
                           kernels::Backend backend, const RunTaskOptions& options) {
  AGORA_ASSIGN_OR_RETURN(trainer::TrainConfig config, TrainConfigOf(spec));
  AGORA_RETURN_IF_ERROR(CheckTaskArguments(spec, config, round, worker, round_params, corpus));
  trainer::TrainState start =
      TaskStartState(config, spec.dataset_hash, spec.inner_steps, round, worker, round_params);
  TaskResult out;
  out.checkpoint_hashes.reserve(spec.inner_steps / spec.checkpoint_interval + 1);
  out.losses.reserve(spec.inner_steps);
  const TaskResume* resume = options.resume;
  if (resume != nullptr) {
    const size_t done = resume->losses.size();
    const size_t checkpoints = resume->checkpoint_hashes.size();
    if (checkpoints == 0 || done % spec.checkpoint_interval != 0 ||
        done / spec.checkpoint_interval != checkpoints - 1 || done > spec.inner_steps) {
      return Status::InvalidArgument(
          "a resume point with " + std::to_string(checkpoints) + " checkpoint(s) and " +
          std::to_string(done) + " loss(es) is not a checkpoint of a task of " +
          std::to_string(spec.inner_steps) + " steps with a checkpoint every " +
          std::to_string(spec.checkpoint_interval));
    }
    if (resume->checkpoint_hashes.front() != trainer::CheckpointHash(start)) {
      return Status::InvalidArgument("the resume point's first checkpoint is not this task's start");
    }
    if (resume->state.round_step != static_cast<int64_t>(done)) {
      return Status::InvalidArgument("the resume point's state is at step " +
                                     std::to_string(resume->state.round_step) + " of the round, not " +
                                     std::to_string(done));
    }
    if (resume->checkpoint_hashes.back() != trainer::CheckpointHash(resume->state)) {
      return Status::InvalidArgument(
          "the resume point's state does not hash to its last checkpoint");
    }
    out.checkpoint_hashes = resume->checkpoint_hashes;
    out.losses = resume->losses;
    start = resume->state;
  }
  AGORA_ASSIGN_OR_RETURN(trainer::Trainer trainer,
                         trainer::Trainer::Create(std::move(start), corpus, backend));
  auto checkpoint = [&] {
    Hash256 hash;
    Bytes file;
    if (options.on_checkpoint_file) {
      file = trainer::SerializeCheckpoint(trainer.state(), &hash);
    } else {
      hash = trainer::CheckpointHash(trainer.state());
    }
    out.checkpoint_hashes.push_back(hash);
    if (options.on_checkpoint) options.on_checkpoint(trainer.state(), hash);
    if (options.on_checkpoint_file) options.on_checkpoint_file(std::move(file), hash);
  };
  if (resume == nullptr) checkpoint();
  // ValidateSpec bounds H by kInnerStepsMax and makes C divide it.
  for (uint32_t h = static_cast<uint32_t>(out.losses.size()) + 1; h <= spec.inner_steps; ++h) {
    out.losses.push_back(trainer.Step().loss);
    if (options.on_step) options.on_step(h, out.losses.back());
    if (h % spec.checkpoint_interval == 0) checkpoint();
  }
  out.checkpoint_root = trainer::MerkleRoot(out.checkpoint_hashes);
  out.final_state = std::move(trainer.mutable_state());
  out.delta = EncodeDelta(round_params, out.final_state.params);
  out.delta_hash = Blake2b256(out.delta);
  return out;
}

Result<SegmentReplay> ReplaySegment(const trainer::TrainState& start, uint32_t steps,
                                    uint32_t witness_step, const trainer::Corpus& corpus,
                                    kernels::Backend backend) {
  return SegmentReplayer().Replay(start, steps, witness_step, corpus, backend);
}

Result<SegmentReplay> SegmentReplayer::Replay(trainer::TrainState start, uint32_t steps,
                                              uint32_t witness_step, const trainer::Corpus& corpus,
                                              kernels::Backend backend, bool hash_start) {
  if (steps < 1 || steps > market::kInnerStepsMax) {
    return Status::InvalidArgument("a segment has 1.." + std::to_string(market::kInnerStepsMax) +
                                   " steps, not " + std::to_string(steps));
  }
  const bool witness_ok =
      steps == 1 ? witness_step == 0 : witness_step >= 1 && witness_step < steps;
  if (!witness_ok) {
    return Status::InvalidArgument("witness step " + std::to_string(witness_step) +
                                   " must be inside the segment (1.." + std::to_string(steps) +
                                   " - 1, or 0 for a one-step segment)");
  }
  if (start.m.size() != start.params.size() || start.v.size() != start.params.size()) {
    return Status::InvalidArgument("the start state's moments do not have one value per "
                                   "parameter");
  }
  SegmentReplay out;
  if (hash_start) out.start_hash = trainer::CheckpointHash(start);
  // Same address and same content: the trainer's corpus pointer names a
  // live corpus equal to the one Create checked.
  const bool reuse = trainer_.has_value() && backend_ == backend && corpus_ == &corpus &&
                     corpus_hash_ == corpus.hash() &&
                     trainer_->state().config.model == start.config.model;
  if (reuse) {
    AGORA_RETURN_IF_ERROR(trainer_->Reset(std::move(start)));
  } else {
    trainer_.reset();
    corpus_ = nullptr;
    AGORA_ASSIGN_OR_RETURN(trainer::Trainer fresh,
                           trainer::Trainer::Create(std::move(start), corpus, backend));
    trainer_.emplace(std::move(fresh));
    corpus_ = &corpus;
    corpus_hash_ = corpus.hash();
    backend_ = backend;
    ++trainers_built_;
  }
  trainer::Trainer& trainer = *trainer_;
  out.losses.reserve(steps);
  for (uint32_t i = 1; i <= steps; ++i) {
    out.losses.push_back(trainer.Step().loss);
    if (i == witness_step) out.witness_hash = trainer::CheckpointHash(trainer.state());
  }
  if (steps == 1) out.witness_hash = trainer::GradientHash(trainer.LastGradient());
  out.end_hash = trainer::CheckpointHash(trainer.state());
  return out;
}

Result<Hash256> DeltaHashOf(std::span<const float> round_params,
                            std::span<const float> final_params) {
  if (round_params.size() != final_params.size()) {
    return Status::InvalidArgument("the round's parameters have " +
                                   std::to_string(round_params.size()) +
                                   " values but the final checkpoint has " +
                                   std::to_string(final_params.size()));
  }
  return Blake2b256(EncodeDelta(round_params, final_params));
}

Status CheckDelta(std::span<const float> round_params, const trainer::TrainState& final_state,
                  ByteSpan delta, const Hash256& delta_hash) {
  if (round_params.size() != final_state.params.size()) {
    return Status::InvalidArgument(
        "the round's parameters have " + std::to_string(round_params.size()) +
        " values but the final checkpoint has " + std::to_string(final_state.params.size()));
  }
  const Hash256 got_hash = Blake2b256(delta);
  if (got_hash != delta_hash) {
    return Status::Corruption("the delta's bytes hash to " + got_hash.ToHex() +
                              ", not to the committed delta hash " + delta_hash.ToHex() +
                              "; fetch the committed blob again");
  }
  const Bytes expected = EncodeDelta(round_params, final_state.params);
  if (expected.size() != delta.size()) {
    return Status::InvalidArgument("the committed delta is " + std::to_string(delta.size()) +
                                   " bytes; the encoding of the round's parameters minus the "
                                   "final checkpoint's is " +
                                   std::to_string(expected.size()) +
                                   ": the task fails verification");
  }
  const auto mismatch = std::mismatch(expected.begin(), expected.end(), delta.begin());
  if (mismatch.first != expected.end()) {
    return Status::InvalidArgument(
        "the committed delta differs at byte " + std::to_string(mismatch.first - expected.begin()) +
        " of " + std::to_string(expected.size()) +
        " from the encoding of the round's parameters minus the final checkpoint's: the task "
        "fails verification");
  }
  return Status::Ok();
}

Result<RoundAggregate> AggregateRound(std::span<const float> round_params,
                                      std::span<const float> momentum,
                                      std::span<const Bytes> deltas) {
  if (deltas.empty() || deltas.size() > market::kWorkersMax) {
    return Status::InvalidArgument("a round aggregates 1.." + std::to_string(market::kWorkersMax) +
                                   " deltas, not " + std::to_string(deltas.size()));
  }
  if (momentum.size() != round_params.size()) {
    return Status::InvalidArgument("the outer momentum has " + std::to_string(momentum.size()) +
                                   " values; the parameters have " +
                                   std::to_string(round_params.size()));
  }
  std::vector<std::vector<float>> decoded;
  decoded.reserve(deltas.size());
  for (size_t k = 0; k < deltas.size(); ++k) {
    Result<std::vector<float>> values = trainer::DecodeInt8Blocks(deltas[k], round_params.size());
    if (!values.ok()) return values.status().WithContext("delta of worker " + std::to_string(k));
    if (values->size() != round_params.size()) {
      return Status::InvalidArgument(
          "the delta of worker " + std::to_string(k) + " has " + std::to_string(values->size()) +
          " values; the parameters have " + std::to_string(round_params.size()));
    }
    decoded.push_back(std::move(values).value());
  }
  const std::vector<float> mean = trainer::AggregateMean(decoded);
  RoundAggregate out;
  out.params.assign(round_params.begin(), round_params.end());
  out.momentum.assign(momentum.begin(), momentum.end());
  trainer::OuterNesterovStep(out.params, out.momentum, mean, kOuterLr, kOuterMomentum);
  out.params_hash = trainer::HashFloats(out.params);
  return out;
}

Result<float> ValidationLoss(const market::JobSpec& spec, std::span<const float> params,
                             const trainer::Corpus& corpus, kernels::Backend backend,
                             int batches) {
  AGORA_CHECK(batches >= 1);
  AGORA_ASSIGN_OR_RETURN(trainer::TrainConfig config, TrainConfigOf(spec));
  AGORA_ASSIGN_OR_RETURN(
      trainer::Trainer trainer,
      trainer::Trainer::Create(TaskStartState(config, spec.dataset_hash, spec.inner_steps,
                                              /*round=*/0, /*worker=*/0, params),
                               corpus, backend));
  return trainer.EvaluateValidation(batches);
}

}  // namespace agora::verify
