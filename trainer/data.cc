#include "trainer/data.h"

#include "common/check.h"
#include "common/file_util.h"
#include "trainer/rng.h"

namespace agora::trainer {
namespace {

// A corpus must hold at least this many bytes, so both splits have windows.

void FillWindow(std::string_view split, uint64_t offset, int seq_len, int32_t* tokens,
                int32_t* targets) {
  for (int t = 0; t < seq_len; ++t) {
    tokens[t] = TokenOfByte(split[offset + t]);
    targets[t] = TokenOfByte(split[offset + t + 1]);
  }
}

}  // namespace

std::filesystem::path DefaultCorpusPath() { return AGORA_DEFAULT_CORPUS; }

Result<Corpus> Corpus::FromBytes(std::string bytes) {
  if (bytes.size() < kCorpusBytesMin) {
    return Status::InvalidArgument("corpus has " + std::to_string(bytes.size()) +
                                   " bytes; at least " + std::to_string(kCorpusBytesMin) +
                                   " are needed");
  }
  Corpus corpus;
  corpus.hash_ = Blake2b256(AsBytes(bytes));
  corpus.train_end_ = TrainEnd(bytes.size());
  corpus.bytes_ = std::move(bytes);
  return corpus;
}

Result<Corpus> Corpus::Load(const std::filesystem::path& path) {
  auto bytes = ReadFile(path, kCorpusBytesMax);
  if (!bytes.ok()) {
    return bytes.status().WithContext("cannot read corpus " + path.string() +
                                      " (pass --data FILE)");
  }
  return FromBytes(std::move(bytes).value());
}

uint64_t BatchOffset(uint64_t seed, uint64_t round, uint64_t worker, uint64_t step, uint64_t row,
                     size_t train_size, int seq_len) {
  AGORA_CHECK(train_size > static_cast<size_t>(seq_len));
  uint64_t x = Mix64(seed);
  x = Mix64(x ^ round);
  x = Mix64(x ^ worker);
  x = Mix64(x ^ step);
  x = Mix64(x ^ row);
  return x % (train_size - static_cast<size_t>(seq_len));
}

void FillTrainBatch(const Corpus& corpus, uint64_t seed, uint64_t round, uint64_t worker,
                    uint64_t step, int batch, int seq_len, int32_t* tokens, int32_t* targets) {
  std::string_view train = corpus.train();
  for (int b = 0; b < batch; ++b) {
    uint64_t offset = BatchOffset(seed, round, worker, step, b, train.size(), seq_len);
    FillWindow(train, offset, seq_len, tokens + int64_t{b} * seq_len,
               targets + int64_t{b} * seq_len);
  }
}

void FillValidationBatch(const Corpus& corpus, int index, int count, int batch, int seq_len,
                         int32_t* tokens, int32_t* targets) {
  std::string_view val = corpus.validation();
  AGORA_CHECK(val.size() > static_cast<size_t>(seq_len) && index >= 0 && index < count);
  const uint64_t windows = static_cast<uint64_t>(count) * batch;
  const uint64_t span = val.size() - static_cast<size_t>(seq_len) - 1;
  for (int b = 0; b < batch; ++b) {
    uint64_t w = static_cast<uint64_t>(index) * batch + b;
    uint64_t offset = windows > 1 ? w * span / (windows - 1) : 0;
    FillWindow(val, offset, seq_len, tokens + int64_t{b} * seq_len,
               targets + int64_t{b} * seq_len);
  }
}

}  // namespace agora::trainer
