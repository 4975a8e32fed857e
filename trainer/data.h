// The training corpus, its byte-level tokenizer, the train/validation split
// and the batch selection function.
//
// A corpus is named by the BLAKE2b-256 of its bytes. The first 90% of the
// bytes (kTrainPercent) are the training split, the rest validation. Which
// windows a step trains on is a pure function of (job seed, round, worker,
// step, row) (BatchOffset), so anyone holding the corpus can recompute the
// exact tokens of any step of any worker.
//
// Thread safety: a Corpus is immutable after Load; share it freely.
#ifndef AGORA_TRAINER_DATA_H_
#define AGORA_TRAINER_DATA_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/hash.h"
#include "common/status.h"

namespace agora::trainer {

inline constexpr int kTrainPercent = 90;
// Smallest corpus FromBytes takes.
inline constexpr size_t kCorpusBytesMin = 1024;
// Largest corpus Load reads (the whole corpus is held in memory).
inline constexpr size_t kCorpusBytesMax = size_t{1} << 32;

// Byte-level tokenizer: token = byte value, vocabulary 256.
inline constexpr int kByteVocab = 256;
inline int32_t TokenOfByte(char c) { return static_cast<uint8_t>(c); }
inline char ByteOfToken(int32_t token) { return static_cast<char>(static_cast<uint8_t>(token)); }

// BLAKE2b-256 of the repository's data/tinyshakespeare.txt (1,115,394 bytes).
inline constexpr char kTinyShakespeareHashHex[] =
    "ceb8f7ab12b253861598ca7f64e8f0de6625fda1ac558e51f21f7212ac7747c8";

// Where the repository's tinyshakespeare.txt is (compiled in), for the CLI's
// default --data.
std::filesystem::path DefaultCorpusPath();

class Corpus {
 public:
  // Wraps bytes already in memory.
  static Result<Corpus> FromBytes(std::string bytes);
  // Where the training split of a corpus of `size` bytes ends (kTrainPercent
  // of it, rounded down): what FromBytes uses, for checks before the bytes
  // are at hand.
  static uint64_t TrainEnd(uint64_t size) {
    return size / 100 * kTrainPercent + size % 100 * kTrainPercent / 100;
  }
  // Whether a corpus of `size` bytes can train and evaluate a model of
  // `context` (both splits longer than context + 1, as Trainer::Create needs).
  static bool FitsContext(uint64_t size, int context) {
    const uint64_t need = static_cast<uint64_t>(context) + 1;
    return TrainEnd(size) > need && size - TrainEnd(size) > need;
  }
  // Reads a file; NotFound / ResourceExhausted / InvalidArgument (too small).
  static Result<Corpus> Load(const std::filesystem::path& path);

  const Hash256& hash() const { return hash_; }
  size_t size() const { return bytes_.size(); }
  std::string_view train() const { return std::string_view(bytes_).substr(0, train_end_); }
  std::string_view validation() const { return std::string_view(bytes_).substr(train_end_); }

 private:
  std::string bytes_;
  size_t train_end_ = 0;
  Hash256 hash_;
};

// Where row `row` of the batch of (seed, round, worker, step) starts in the
// training split: Mix64 chained over the five numbers (seed first), modulo
// the number of windows of seq_len + 1 bytes that fit. The window's first
// seq_len bytes are the inputs and its last seq_len the targets.
// REQUIRES: train_size > seq_len
uint64_t BatchOffset(uint64_t seed, uint64_t round, uint64_t worker, uint64_t step, uint64_t row,
                     size_t train_size, int seq_len);

// Fills tokens and targets (batch * seq_len each) for one step.
void FillTrainBatch(const Corpus& corpus, uint64_t seed, uint64_t round, uint64_t worker,
                    uint64_t step, int batch, int seq_len, int32_t* tokens, int32_t* targets);

// Fills validation batch `index` (of `count`): the windows of all batches
// are spread evenly over the validation split, in order.
void FillValidationBatch(const Corpus& corpus, int index, int count, int batch, int seq_len,
                         int32_t* tokens, int32_t* targets);

}  // namespace agora::trainer

#endif  // AGORA_TRAINER_DATA_H_
