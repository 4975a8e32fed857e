#include "trainer/diloco.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "common/merkle.h"
#include "kernels/ops.h"
#include "trainer/checkpoint.h"

namespace agora::trainer {
namespace {

constexpr uint8_t kQuantMagic[4] = {'A', 'Q', '8', 0};
constexpr uint8_t kQuantVersion = 1;
constexpr float kQuantLevels = 127.0f;

void PutU32(Bytes& out, uint32_t v) {
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<uint8_t>(v >> shift));
}
uint32_t GetU32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

size_t Int8BlocksEncodedBytes(size_t count, int block) {
  size_t blocks = (count + block - 1) / block;
  return kQuantHeaderBytes + blocks * 4 + count;
}

Bytes EncodeInt8Blocks(std::span<const float> values, int block) {
  AGORA_CHECK(block >= 1 && block <= kQuantBlockMax);
  Bytes out;
  out.reserve(Int8BlocksEncodedBytes(values.size(), block));
  for (uint8_t byte : kQuantMagic) out.push_back(byte);
  out.push_back(kQuantVersion);
  PutU32(out, static_cast<uint32_t>(block));
  PutU64LittleEndian(out, values.size());
  for (size_t start = 0; start < values.size(); start += block) {
    size_t end = std::min(values.size(), start + block);
    // The scale comes from the finite values only, and a non-finite value
    // is encoded as a finite one (NaN as 0, an infinity as the block's
    // extreme), so every encoding decodes: a state gone to infinity (a
    // diverged job, or a provider's forged final checkpoint) used to give an
    // infinite scale that CheckDelta accepted and AggregateRound refused,
    // and a NaN reached an int8 conversion, which is undefined.
    float max_abs = 0.0f;
    for (size_t i = start; i < end; ++i) {
      if (std::isfinite(values[i])) max_abs = std::max(max_abs, std::fabs(values[i]));
    }
    float scale = max_abs / kQuantLevels;
    PutU32(out, std::bit_cast<uint32_t>(scale));
    for (size_t i = start; i < end; ++i) {
      const float v = values[i];
      float q = 0.0f;
      if (std::isinf(v)) {
        q = v > 0.0f ? kQuantLevels : -kQuantLevels;
      } else if (scale > 0.0f && !std::isnan(v)) {
        q = std::clamp(std::nearbyint(v / scale), -kQuantLevels, kQuantLevels);
      }
      out.push_back(static_cast<uint8_t>(static_cast<int8_t>(q)));
    }
  }
  return out;
}

Result<std::vector<float>> DecodeInt8Blocks(ByteSpan encoded, size_t values_max) {
  if (encoded.size() < kQuantHeaderBytes || std::memcmp(encoded.data(), kQuantMagic, 4) != 0 ||
      encoded[4] != kQuantVersion) {
    return Status::Corruption("not an int8 block encoding (bad magic or version)");
  }
  uint32_t block = GetU32(encoded.data() + 5);
  uint64_t count = 0;
  for (int i = 0; i < 8; ++i) count |= uint64_t{encoded[9 + i]} << (8 * i);
  if (block < 1 || block > kQuantBlockMax || count > values_max ||
      encoded.size() != Int8BlocksEncodedBytes(count, static_cast<int>(block))) {
    return Status::Corruption("int8 block encoding has a bad block size, count or length");
  }
  std::vector<float> values(count);
  const uint8_t* p = encoded.data() + kQuantHeaderBytes;
  for (size_t start = 0; start < count; start += block) {
    size_t end = std::min<size_t>(count, start + block);
    float scale = std::bit_cast<float>(GetU32(p));
    p += 4;
    if (!std::isfinite(scale) || scale < 0.0f) {
      return Status::Corruption("int8 block encoding has a bad scale");
    }
    for (size_t i = start; i < end; ++i) {
      values[i] = static_cast<float>(static_cast<int8_t>(*p++)) * scale;
    }
  }
  return values;
}

Hash256 MerkleRoot(std::span<const Hash256> leaves) { return merkle::Root(leaves); }

Status DilocoConfig::Validate() const {
  if (workers < 1 || workers > 1024) return Status::InvalidArgument("--workers must be in [1, 1024]");
  if (rounds < 1) return Status::InvalidArgument("--rounds must be >= 1");
  if (inner_steps < 1) return Status::InvalidArgument("--inner-steps must be >= 1");
  if (checkpoint_every < 0 || checkpoint_every > inner_steps) {
    return Status::InvalidArgument("--checkpoint-every must be in [0, inner steps]");
  }
  if (!(outer_lr > 0.0f && outer_lr <= 10.0f)) {
    return Status::InvalidArgument("--outer-lr must be in (0, 10]");
  }
  if (!(outer_momentum >= 0.0f && outer_momentum < 1.0f)) {
    return Status::InvalidArgument("--outer-momentum must be in [0, 1)");
  }
  if (quant_block < 1 || quant_block > kQuantBlockMax) {
    return Status::InvalidArgument("quantization block out of range");
  }
  return Status::Ok();
}

Hash256 HashFloats(std::span<const float> values) {
  Bytes bytes;
  bytes.reserve(values.size() * 4);
  for (float value : values) PutU32(bytes, FloatBits(value));  // one NaN
  return Blake2b256(bytes);
}

WorkerRound RunWorkerRound(
    Trainer& worker, std::span<const float> start_params, uint64_t round,
    const DilocoConfig& config,
    const std::function<void(const TrainState&, const Hash256&)>& on_checkpoint) {
  {
    TrainState& state = worker.mutable_state();
    AGORA_CHECK(start_params.size() == state.params.size());
    std::copy(start_params.begin(), start_params.end(), state.params.begin());
    state.round = round;
    state.round_step = 0;
  }
  // A step may change only the backend's copy of the weights (a GPU's):
  // read the state through state() after it, never through a reference
  // taken before.
  const int every = config.checkpoint_every > 0 ? config.checkpoint_every : config.inner_steps;
  WorkerRound out;
  for (int h = 1; h <= config.inner_steps; ++h) {
    out.last_loss = worker.Step().loss;
    if (h % every == 0 || h == config.inner_steps) {
      const TrainState& state = worker.state();
      Hash256 hash = CheckpointHash(state);
      out.checkpoint_hashes.push_back(hash);
      if (on_checkpoint) on_checkpoint(state, hash);
    }
  }
  const TrainState& state = worker.state();
  std::vector<float> delta(start_params.size());
  for (size_t i = 0; i < delta.size(); ++i) delta[i] = start_params[i] - state.params[i];
  out.pseudo_gradient = EncodeInt8Blocks(delta, config.quant_block);
  out.merkle_root = MerkleRoot(out.checkpoint_hashes);
  return out;
}

std::vector<float> AggregateMean(std::span<const std::vector<float>> pseudo_gradients) {
  AGORA_CHECK(!pseudo_gradients.empty());
  const size_t n = pseudo_gradients[0].size();
  std::vector<float> mean(n, 0.0f);
  for (const std::vector<float>& g : pseudo_gradients) {
    AGORA_CHECK(g.size() == n);
    for (size_t i = 0; i < n; ++i) mean[i] = mean[i] + g[i];
  }
  const float k = static_cast<float>(pseudo_gradients.size());
  for (float& value : mean) value = value / k;
  return mean;
}

void OuterNesterovStep(std::span<float> params, std::span<float> momentum,
                       std::span<const float> gradient, float lr, float momentum_factor) {
  AGORA_CHECK(params.size() == momentum.size() && params.size() == gradient.size());
  for (size_t i = 0; i < params.size(); ++i) {
    momentum[i] = momentum_factor * momentum[i] + gradient[i];
    float update = gradient[i] + momentum_factor * momentum[i];
    params[i] = params[i] - lr * update;
  }
}

Result<DilocoRun> DilocoRun::Create(const TrainConfig& config, const DilocoConfig& diloco,
                                    const Corpus& corpus, kernels::Backend backend,
                                    std::span<const float> init_params) {
  AGORA_RETURN_IF_ERROR(diloco.Validate());
  AGORA_RETURN_IF_ERROR(config.Validate());
  std::vector<Trainer> workers;
  for (int k = 0; k < diloco.workers; ++k) {
    TrainState state = TrainState::Fresh(config, corpus.hash());
    if (!init_params.empty()) {
      if (init_params.size() != state.params.size()) {
        return Status::InvalidArgument("the initial parameters have " +
                                       std::to_string(init_params.size()) + " values; the model has " +
                                       std::to_string(state.params.size()));
      }
      std::copy(init_params.begin(), init_params.end(), state.params.begin());
    }
    state.worker = static_cast<uint64_t>(k);
    AGORA_ASSIGN_OR_RETURN(Trainer trainer, Trainer::Create(std::move(state), corpus, backend));
    workers.push_back(std::move(trainer));
  }
  return DilocoRun(diloco, std::move(workers));
}

DilocoRun::DilocoRun(const DilocoConfig& diloco, std::vector<Trainer> workers)
    : diloco_(diloco), workers_(std::move(workers)) {
  global_ = workers_[0].state().params;
  momentum_.assign(global_.size(), 0.0f);
}

DilocoRun::RoundSummary DilocoRun::RunRound() {
  RoundSummary summary;
  summary.round = round_;
  std::vector<std::vector<float>> decoded;
  float loss_sum = 0.0f;
  for (Trainer& worker : workers_) {
    WorkerRound result = RunWorkerRound(worker, global_, round_, diloco_);
    summary.bytes_sent += result.pseudo_gradient.size();
    summary.merkle_roots.push_back(result.merkle_root);
    loss_sum = loss_sum + result.last_loss;
    // Our own encoder's output cannot be malformed; a failure here is a bug.
    auto values = DecodeInt8Blocks(result.pseudo_gradient, global_.size());
    AGORA_CHECK_MSG(values.ok(), values.status().ToString());
    decoded.push_back(std::move(values).value());
  }
  std::vector<float> mean = AggregateMean(decoded);
  OuterNesterovStep(global_, momentum_, mean, diloco_.outer_lr, diloco_.outer_momentum);
  summary.mean_worker_loss = loss_sum / static_cast<float>(workers_.size());
  summary.global_params_hash = HashFloats(global_);
  bytes_sent_ += summary.bytes_sent;
  ++round_;
  return summary;
}

TrainState DilocoRun::GlobalState() const {
  TrainState state = workers_[0].state();
  state.params = global_;
  state.round = round_;
  state.round_step = 0;
  return state;
}

float DilocoRun::EvaluateValidation(int batches) {
  Trainer& probe = workers_[0];
  std::vector<float> saved = probe.state().params;
  probe.mutable_state().params = global_;
  float loss = probe.EvaluateValidation(batches);
  probe.mutable_state().params = std::move(saved);
  return loss;
}

uint64_t DataParallelBytes(int64_t parameters, int workers, int64_t steps) {
  return static_cast<uint64_t>(steps) * static_cast<uint64_t>(workers) * 4u *
         static_cast<uint64_t>(parameters);
}

Result<Comparison> CompareWithDataParallel(
    const TrainConfig& config, const DilocoConfig& diloco, const Corpus& corpus,
    kernels::Backend backend, int eval_batches,
    const std::function<void(const char*, int64_t, int64_t)>& on_progress,
    std::span<const float> init_params) {
  Comparison out;
  AGORA_ASSIGN_OR_RETURN(DilocoRun run,
                         DilocoRun::Create(config, diloco, corpus, backend, init_params));
  for (int r = 0; r < diloco.rounds; ++r) {
    run.RunRound();
    if (on_progress) on_progress("diloco", r + 1, diloco.rounds);
  }
  out.diloco_val_loss = run.EvaluateValidation(eval_batches);
  out.diloco_bytes = run.bytes_sent();

  const int64_t steps = int64_t{diloco.rounds} * diloco.inner_steps;
  TrainState ddp_state = TrainState::Fresh(config, corpus.hash());
  if (!init_params.empty()) {
    std::copy(init_params.begin(), init_params.end(), ddp_state.params.begin());
  }
  AGORA_ASSIGN_OR_RETURN(Trainer ddp, Trainer::Create(std::move(ddp_state), corpus, backend));
  for (int64_t s = 0; s < steps; ++s) {
    ddp.DataParallelStep(diloco.workers);
    if (on_progress) on_progress("ddp", s + 1, steps);
  }
  out.ddp_val_loss = ddp.EvaluateValidation(eval_batches);
  out.ddp_bytes = DataParallelBytes(config.model.ParameterCount(), diloco.workers, steps);
  return out;
}

}  // namespace agora::trainer
