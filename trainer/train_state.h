// TrainState: everything a training run is (config, corpus hash, position in
// the data, step, parameters, AdamW moments), and Trainer, which advances it
// one optimizer step at a time.
//
// A step's batch is FillTrainBatch(seed, round, worker, round_step); its
// learning rate is LearningRate(step); the update is global-norm clipping,
// then AdamW per tensor (weight decay on matrices only) with bias correction
// at step + 1. Nothing else enters, so a state saved and loaded continues to
// the same bits as an uninterrupted run.
//
// Thread safety: a Trainer is not thread-safe; it may share its Corpus with
// other Trainers on other threads.
#ifndef AGORA_TRAINER_TRAIN_STATE_H_
#define AGORA_TRAINER_TRAIN_STATE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "common/hash.h"
#include "common/status.h"
#include "kernels/backend.h"
#include "kernels/buffer.h"
#include "trainer/config.h"
#include "trainer/data.h"
#include "trainer/model.h"

namespace agora::trainer {

struct TrainState {
  TrainConfig config;
  Hash256 data_hash;        // BLAKE2b-256 of the corpus
  uint64_t round = 0;       // DiLoCo round (0 for plain training)
  uint64_t worker = 0;      // worker index within the round
  int64_t step = 0;         // optimizer steps taken: drives the schedule and AdamW
  int64_t round_step = 0;   // steps taken in this round: drives batch selection
  std::vector<float> params, m, v;

  // A state at step 0 with InitParameters(config.seed) and zero moments.
  // REQUIRES: config.Validate().ok()
  static TrainState Fresh(const TrainConfig& config, const Hash256& data_hash);
};

struct StepStats {
  float loss = 0;       // mean training loss of the step's batch, nats per byte
  float grad_norm = 0;  // before clipping
  float learning_rate = 0;
};

// OK when `backend` gives the bits `config`'s tier promises: the exact tier
// on kReference, kCpu or kCuda; the native tier on kCudaNative for a GPU
// class, on kReference or kCpu for the cpu class. FailedPrecondition saying
// what to use otherwise. (Whether the GPU is of the state's class is the
// caller's to check: kernels/ does not know the market's classes.)
Status CheckBackendFitsTier(const TrainConfig& config, kernels::Backend backend);

class Trainer {
 public:
  // FailedPrecondition if the corpus is not the one the state was trained on
  // or the backend does not fit the state's tier (CheckBackendFitsTier);
  // InvalidArgument if the tensors do not have the model's parameter count.
  static Result<Trainer> Create(TrainState state, const Corpus& corpus, kernels::Backend backend);

  // Continues from another state of the same model on the same corpus,
  // keeping the model's buffers (activations and gradients are allocated on
  // the first step and rewritten by every step, so nothing of the previous
  // state carries over). FailedPrecondition if the model's shape or the
  // corpus differs: Create a new trainer then. InvalidArgument as Create.
  Status Reset(TrainState state);

  // One optimizer step on this state's (round, worker, round_step) batch.
  StepStats Step();

  // One synchronous data-parallel step: workers 0..workers-1 each compute the
  // gradient of their own batch (seed, round, k, round_step); the gradients
  // are averaged in worker order (each scaled by 1 / workers, summed in
  // ascending k) and one update is applied. Returns the mean loss.
  StepStats DataParallelStep(int workers);

  // The gradient the last step applied (after clipping), copied to the host
  // from a backend with memory of its own; meaningful only after a step.
  std::vector<float> LastGradient();

  // Mean loss over `batches` validation batches (FillValidationBatch), in
  // nats per byte.
  float EvaluateValidation(int batches);

  // On a backend with memory of its own (a GPU, kernels/buffer.h) the
  // steps work on a copy of the weights and moments kept there: state()
  // copies them back first when a step changed them, and mutable_state()
  // also makes the next step copy the (possibly edited) state in again.
  // Neither copies anything on the CPU backends. A reference either returns
  // may be stale after the next Step(): call state() again after a step.
  const TrainState& state() const;
  TrainState& mutable_state();
  Gpt& model() { return model_; }
  const Corpus& corpus() const { return *corpus_; }

 private:
  Trainer(TrainState state, const Corpus& corpus, kernels::Backend backend);
  float AccumulateGradient(uint64_t worker, float loss_scale);
  StepStats ApplyUpdate(float loss);
  // The weights and moments the next op reads: state_'s, or the backend's
  // copy brought up to date.
  float* Params();
  void SyncToDevice();
  void SyncToHost() const;

  // The backend's copy of state_.params, m and v; null when the steps work
  // on state_'s vectors directly.
  struct DeviceCopy {
    kernels::FloatBuffer params, m, v;
  };
  std::unique_ptr<DeviceCopy> device_;
  bool device_stale_ = true;       // state_ changed since device_ was written
  mutable bool host_stale_ = false;  // a step changed device_ since state_ was written
  mutable TrainState state_;
  const Corpus* corpus_;
  Gpt model_;
  std::vector<int32_t> tokens_, targets_;
};

}  // namespace agora::trainer

#endif  // AGORA_TRAINER_TRAIN_STATE_H_
