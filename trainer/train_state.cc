#include "trainer/train_state.h"

#include "kernels/ops.h"

namespace agora::trainer {

TrainState TrainState::Fresh(const TrainConfig& config, const Hash256& data_hash) {
  AGORA_CHECK(config.Validate().ok());
  TrainState state;
  state.config = config;
  state.data_hash = data_hash;
  const int64_t n = config.model.ParameterCount();
  state.params.assign(n, 0.0f);
  state.m.assign(n, 0.0f);
  state.v.assign(n, 0.0f);
  InitParameters(config.model, config.seed, state.params);
  return state;
}

namespace {

// The tensors must have the config's parameter count: the model reads and
// the optimizer writes that many values of each.
Status CheckTensorSizes(const TrainState& state) {
  const size_t count = static_cast<size_t>(state.config.model.ParameterCount());
  if (state.params.size() != count || state.m.size() != count || state.v.size() != count) {
    return Status::InvalidArgument(
        "the state's tensors hold " + std::to_string(state.params.size()) + ", " +
        std::to_string(state.m.size()) + " and " + std::to_string(state.v.size()) +
        " values, but its model has " + std::to_string(count) + " parameters");
  }
  return Status::Ok();
}

}  // namespace

Status CheckBackendFitsTier(const TrainConfig& config, kernels::Backend backend) {
  using kernels::Backend;
  const bool exact_kernels =
      backend == Backend::kReference || backend == Backend::kCpu || backend == Backend::kCuda;
  if (config.tier == KernelTier::kExact) {
    if (exact_kernels) return Status::Ok();
    return Status::FailedPrecondition(
        "the state is in the exact tier, which backend " + std::string(kernels::BackendName(backend)) +
        " does not give (its bits repeat on one GPU model only); train it on cpu or cuda, or "
        "start a native-tier state");
  }
  if (config.hardware_class == kHardwareCpu) {
    if (backend == Backend::kReference || backend == Backend::kCpu) return Status::Ok();
    return Status::FailedPrecondition(
        "the state is in the native tier on the cpu class, which runs the CPU's kernels; backend " +
        std::string(kernels::BackendName(backend)) + " is another class: train it on cpu");
  }
  if (backend == Backend::kCudaNative) return Status::Ok();
  return Status::FailedPrecondition(
      "the state is in the native tier on hardware class " +
      std::to_string(config.hardware_class) + " (a GPU class), so only the native CUDA backend " +
      "repeats its bits; backend " + std::string(kernels::BackendName(backend)) +
      " cannot train or replay it: it needs the native CUDA backend on a GPU of that class");
}

Result<Trainer> Trainer::Create(TrainState state, const Corpus& corpus,
                                kernels::Backend backend) {
  AGORA_RETURN_IF_ERROR(state.config.Validate());
  AGORA_RETURN_IF_ERROR(CheckBackendFitsTier(state.config, backend));
  AGORA_RETURN_IF_ERROR(CheckTensorSizes(state));
  if (state.data_hash != corpus.hash()) {
    return Status::FailedPrecondition("the state was trained on corpus " +
                                      state.data_hash.ToHex() + " but the corpus given is " +
                                      corpus.hash().ToHex() + "; pass the same --data file");
  }
  if (corpus.train().size() <= static_cast<size_t>(state.config.model.context) + 1 ||
      corpus.validation().size() <= static_cast<size_t>(state.config.model.context) + 1) {
    return Status::InvalidArgument("corpus is too small for context " +
                                   std::to_string(state.config.model.context));
  }
  return Trainer(std::move(state), corpus, backend);
}

Trainer::Trainer(TrainState state, const Corpus& corpus, kernels::Backend backend)
    : state_(std::move(state)), corpus_(&corpus), model_(state_.config.model, backend) {
  const size_t tokens = static_cast<size_t>(state_.config.batch) * state_.config.model.context;
  tokens_.resize(tokens);
  targets_.resize(tokens);
  if (kernels::BackendHasOwnMemory(backend)) {
    device_ = std::make_unique<DeviceCopy>(DeviceCopy{kernels::FloatBuffer(backend),
                                                      kernels::FloatBuffer(backend),
                                                      kernels::FloatBuffer(backend)});
    const size_t n = state_.params.size();
    device_->params.resize(n);
    device_->m.resize(n);
    device_->v.resize(n);
  }
}

const TrainState& Trainer::state() const {
  SyncToHost();
  return state_;
}

TrainState& Trainer::mutable_state() {
  SyncToHost();
  device_stale_ = true;
  return state_;
}

void Trainer::SyncToHost() const {
  if (!device_ || !host_stale_) return;
  const kernels::Backend backend = device_->params.backend();
  const size_t n = state_.params.size();
  kernels::CopyFloats(backend, state_.params.data(), device_->params.data(), n);
  kernels::CopyFloats(backend, state_.m.data(), device_->m.data(), n);
  kernels::CopyFloats(backend, state_.v.data(), device_->v.data(), n);
  host_stale_ = false;
}

void Trainer::SyncToDevice() {
  if (!device_ || !device_stale_) return;
  AGORA_CHECK(!host_stale_);
  const kernels::Backend backend = device_->params.backend();
  const size_t n = state_.params.size();
  kernels::CopyFloats(backend, device_->params.data(), state_.params.data(), n);
  kernels::CopyFloats(backend, device_->m.data(), state_.m.data(), n);
  kernels::CopyFloats(backend, device_->v.data(), state_.v.data(), n);
  device_stale_ = false;
}

float* Trainer::Params() {
  if (!device_) return state_.params.data();
  SyncToDevice();
  return device_->params.data();
}

Status Trainer::Reset(TrainState state) {
  AGORA_RETURN_IF_ERROR(state.config.Validate());
  AGORA_RETURN_IF_ERROR(CheckTensorSizes(state));
  if (!(state.config.model == state_.config.model)) {
    return Status::FailedPrecondition("the state is of another model shape than the trainer's");
  }
  AGORA_RETURN_IF_ERROR(CheckBackendFitsTier(state.config, model_.backend()));
  if (state.data_hash != corpus_->hash()) {
    return Status::FailedPrecondition("the state was trained on corpus " +
                                      state.data_hash.ToHex() + ", not on the trainer's " +
                                      corpus_->hash().ToHex());
  }
  state_ = std::move(state);
  device_stale_ = true;
  host_stale_ = false;
  const size_t tokens = static_cast<size_t>(state_.config.batch) * state_.config.model.context;
  tokens_.resize(tokens);
  targets_.resize(tokens);
  return Status::Ok();
}

float Trainer::AccumulateGradient(uint64_t worker, float loss_scale) {
  const TrainConfig& config = state_.config;
  FillTrainBatch(*corpus_, config.seed, state_.round, worker,
                 static_cast<uint64_t>(state_.round_step), config.batch, config.model.context,
                 tokens_.data(), targets_.data());
  float* params = Params();
  float loss =
      model_.Forward(params, tokens_.data(), targets_.data(), config.batch, config.model.context);
  model_.Backward(params, loss_scale);
  return loss;
}

StepStats Trainer::Step() {
  model_.ZeroGrad();
  float loss = AccumulateGradient(state_.worker, 1.0f);
  return ApplyUpdate(loss);
}

StepStats Trainer::DataParallelStep(int workers) {
  AGORA_CHECK(workers >= 1);
  model_.ZeroGrad();
  float loss_sum = 0.0f;
  for (int k = 0; k < workers; ++k) {
    loss_sum = loss_sum + AccumulateGradient(k, 1.0f / static_cast<float>(workers));
  }
  return ApplyUpdate(loss_sum / static_cast<float>(workers));
}

StepStats Trainer::ApplyUpdate(float loss) {
  const OptimizerConfig& opt = state_.config.optimizer;
  const kernels::Backend backend = model_.backend();
  std::span<float> grads = model_.grads();
  StepStats stats;
  stats.loss = loss;
  const int64_t n = static_cast<int64_t>(grads.size());
  stats.grad_norm = opt.clip_norm > 0.0f
                        ? kernels::ClipGradNorm(backend, grads.data(), n, opt.clip_norm)
                        : kernels::GlobalNorm(backend, grads.data(), n);
  stats.learning_rate = LearningRate(opt, state_.step);
  float* params = Params();
  float* m = device_ ? device_->m.data() : state_.m.data();
  float* v = device_ ? device_->v.data() : state_.v.data();
  for (const TensorInfo& tensor : model_.layout().tensors) {
    kernels::AdamWConfig adam{.learning_rate = stats.learning_rate,
                              .beta1 = opt.beta1,
                              .beta2 = opt.beta2,
                              .eps = opt.eps,
                              .weight_decay = tensor.decayed ? opt.weight_decay : 0.0f};
    kernels::AdamWUpdate(backend, params + tensor.offset, grads.data() + tensor.offset,
                         m + tensor.offset, v + tensor.offset, tensor.size, adam,
                         state_.step + 1);
  }
  if (device_) host_stale_ = true;
  ++state_.step;
  ++state_.round_step;
  return stats;
}

std::vector<float> Trainer::LastGradient() {
  const std::span<const float> grads = model_.grads();
  std::vector<float> out(grads.size());
  kernels::CopyFloats(model_.backend(), out.data(), grads.data(), grads.size());
  return out;
}

float Trainer::EvaluateValidation(int batches) {
  const TrainConfig& config = state_.config;
  double total = 0.0;
  for (int i = 0; i < batches; ++i) {
    FillValidationBatch(*corpus_, i, batches, config.batch, config.model.context, tokens_.data(),
                        targets_.data());
    total += model_.Forward(Params(), tokens_.data(), targets_.data(), config.batch,
                            config.model.context);
  }
  return static_cast<float>(total / batches);
}

}  // namespace agora::trainer
