// DiLoCo rounds (Douillard et al., 2023): K workers start a round from the
// same global weights, each runs H inner AdamW steps on its own batches,
// and sends a pseudo-gradient (start - end) encoded as int8 blocks. The
// aggregate is the mean of the K decoded pseudo-gradients in worker order,
// applied by an outer SGD step with Nesterov momentum (lr 0.7, momentum 0.9).
//
// Each worker keeps a checkpoint every C inner steps; the Merkle root over
// their hashes is the commitment a provider submits before anyone knows which
// segments validators will replay.
//
// Thread safety: free functions are thread-safe; a DilocoRun is not.
#ifndef AGORA_TRAINER_DILOCO_H_
#define AGORA_TRAINER_DILOCO_H_

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/status.h"
#include "kernels/backend.h"
#include "trainer/data.h"
#include "trainer/train_state.h"

namespace agora::trainer {

// ---- int8 block quantization ----
//
// Encoding: magic "AQ8\0" | version u8 = 1 | block size u32 | value count u64 |
// per block: scale f32, then one int8 per value of the block (the last block
// may be short). scale = max |x| / 127 over the block (0 for an all-zero
// block); q = x / scale rounded to nearest, ties to even, in [-127, 127];
// decoding gives q * scale. Every step is one IEEE operation, so encoder
// and decoder agree on every machine.
inline constexpr int kQuantBlockDefault = 256;
inline constexpr int kQuantBlockMax = 1 << 20;
inline constexpr size_t kQuantHeaderBytes = 4 + 1 + 4 + 8;

Bytes EncodeInt8Blocks(std::span<const float> values, int block);
// Corruption on a malformed encoding; at most values_max values.
Result<std::vector<float>> DecodeInt8Blocks(ByteSpan encoded, size_t values_max);
// Size of EncodeInt8Blocks(values of `count`, block) in bytes.
size_t Int8BlocksEncodedBytes(size_t count, int block);

// ---- commitment ----

// The commitment: merkle::Root (common/merkle.h, the tree blocks and the
// state share) over the checkpoint hashes; the zero hash for none.
Hash256 MerkleRoot(std::span<const Hash256> leaves);

// ---- the round ----

struct DilocoConfig {
  int workers = 4;           // K
  int rounds = 10;           // R
  int inner_steps = 50;      // H
  int checkpoint_every = 0;  // C; 0 means H (one checkpoint at the end)
  float outer_lr = 0.7f;
  float outer_momentum = 0.9f;
  int quant_block = kQuantBlockDefault;
  Status Validate() const;
};

// What one worker sends after a round.
struct WorkerRound {
  Bytes pseudo_gradient;                  // EncodeInt8Blocks(start - end)
  std::vector<Hash256> checkpoint_hashes; // every C inner steps, in order
  Hash256 merkle_root;                    // MerkleRoot(checkpoint_hashes)
  float last_loss = 0;
};

// Runs one worker's round: the worker's state (its AdamW moments and step
// carried from its previous round) takes `start_params`, moves to (round,
// worker, round_step 0), runs H inner steps, checkpoints every C steps.
// `on_checkpoint`, if set, sees each checkpoint state (to store it).
WorkerRound RunWorkerRound(Trainer& worker, std::span<const float> start_params, uint64_t round,
                           const DilocoConfig& config,
                           const std::function<void(const TrainState&, const Hash256&)>&
                               on_checkpoint = nullptr);

// Mean of the decoded pseudo-gradients: sum in ascending worker order from
// +0, then divided by K.
std::vector<float> AggregateMean(std::span<const std::vector<float>> pseudo_gradients);

// Outer SGD with Nesterov momentum (PyTorch's form):
// buf = momentum * buf + g; params = params - lr * (g + momentum * buf).
void OuterNesterovStep(std::span<float> params, std::span<float> momentum,
                       std::span<const float> gradient, float lr, float momentum_factor);

// K workers in one process, exactly as the network runs them.
class DilocoRun {
 public:
  // Every worker starts from `init_params` when given (a warm start from a
  // checkpoint, as in the DiLoCo paper), else from the seeded initialization;
  // either way with fresh AdamW moments at step 0.
  static Result<DilocoRun> Create(const TrainConfig& config, const DilocoConfig& diloco,
                                  const Corpus& corpus, kernels::Backend backend,
                                  std::span<const float> init_params = {});

  struct RoundSummary {
    uint64_t round = 0;
    float mean_worker_loss = 0;
    size_t bytes_sent = 0;  // sum of the K encoded pseudo-gradients
    std::vector<Hash256> merkle_roots;
    Hash256 global_params_hash;  // BLAKE2b of the new global parameters (LE f32)
  };

  // Runs the next round and applies the outer step.
  RoundSummary RunRound();

  uint64_t rounds_done() const { return round_; }
  size_t bytes_sent() const { return bytes_sent_; }
  // Global parameters after the last outer step.
  const std::vector<float>& global_params() const { return global_; }
  // A state holding the global parameters (worker 0's moments and step), for
  // evaluation, checkpoints and `agora generate`.
  TrainState GlobalState() const;
  // Validation loss of the global parameters.
  float EvaluateValidation(int batches);

 private:
  DilocoRun(const DilocoConfig& diloco, std::vector<Trainer> workers);

  DilocoConfig diloco_;
  std::vector<Trainer> workers_;
  std::vector<float> global_, momentum_;
  uint64_t round_ = 0;
  size_t bytes_sent_ = 0;
};

// DiLoCo against synchronous data-parallel training with the same workers,
// per-worker batch and total inner steps (R * H): data-parallel averages the
// K workers' gradients every step (DataParallelStep) and each worker sends
// its fp32 gradient every step; DiLoCo sends one int8 pseudo-gradient per
// worker per round.
struct Comparison {
  float diloco_val_loss = 0;
  float ddp_val_loss = 0;
  uint64_t diloco_bytes = 0;
  uint64_t ddp_bytes = 0;  // steps * workers * 4 * parameters
};

// `on_progress(what, done, total)` is called after each DiLoCo round and each
// data-parallel step (what = "diloco" or "ddp").
Result<Comparison> CompareWithDataParallel(
    const TrainConfig& config, const DilocoConfig& diloco, const Corpus& corpus,
    kernels::Backend backend, int eval_batches,
    const std::function<void(const char* what, int64_t done, int64_t total)>& on_progress =
        nullptr,
    std::span<const float> init_params = {});

// Bytes K workers send over `steps` data-parallel steps (fp32 gradients).
uint64_t DataParallelBytes(int64_t parameters, int workers, int64_t steps);

// BLAKE2b-256 of float32 values as little-endian bytes.
Hash256 HashFloats(std::span<const float> values);

}  // namespace agora::trainer

#endif  // AGORA_TRAINER_DILOCO_H_
