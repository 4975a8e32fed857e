#include "trainer/checkpoint.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <span>

#include "common/file_util.h"

namespace agora::trainer {
namespace {

class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}
  void U32(uint32_t v) {
    for (int shift = 0; shift < 32; shift += 8) out_.push_back(static_cast<uint8_t>(v >> shift));
  }
  void U8(uint8_t v) { out_.push_back(v); }
  void U64(uint64_t v) { PutU64LittleEndian(out_, v); }
  void F32(float v) { U32(FloatBits(v)); }
  void Floats(std::span<const float> values) {
    size_t at = out_.size();
    out_.resize(at + values.size() * 4);
    uint8_t* p = out_.data() + at;
    for (float value : values) {
      uint32_t bits = FloatBits(value);
      p[0] = static_cast<uint8_t>(bits);
      p[1] = static_cast<uint8_t>(bits >> 8);
      p[2] = static_cast<uint8_t>(bits >> 16);
      p[3] = static_cast<uint8_t>(bits >> 24);
      p += 4;
    }
  }
  void Raw(ByteSpan b) { Append(out_, b); }

 private:
  Bytes& out_;
};

// Reads from a span whose length the caller has already checked.
class Reader {
 public:
  explicit Reader(ByteSpan in) : in_(in) {}
  uint8_t U8() { return in_[at_++]; }
  uint32_t U32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(in_[at_ + i]) << (8 * i);
    at_ += 4;
    return v;
  }
  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(in_[at_ + i]) << (8 * i);
    at_ += 8;
    return v;
  }
  float F32() { return std::bit_cast<float>(U32()); }
  // Returns false if a value is a NaN other than kCanonicalNaNBits.
  [[nodiscard]] bool Floats(std::vector<float>& values, size_t count) {
    values.resize(count);
    bool canonical = true;
    for (size_t i = 0; i < count; ++i) {
      const uint32_t bits = U32();
      values[i] = std::bit_cast<float>(bits);
      canonical &= (bits & 0x7fffffffu) <= 0x7f800000u || bits == kCanonicalNaNBits;
    }
    return canonical;
  }
  ByteSpan Raw(size_t n) {
    ByteSpan b = in_.subspan(at_, n);
    at_ += n;
    return b;
  }

 private:
  ByteSpan in_;
  size_t at_ = 0;
};

// Everything before the tensors: magic, version, config, position, count.
void WriteHeader(Writer& w, const TrainState& s) {
  w.Raw(ByteSpan(reinterpret_cast<const uint8_t*>(kCheckpointMagic), 8));
  const uint32_t version = CheckpointVersionOf(s.config);
  w.U32(version);
  const ModelConfig& m = s.config.model;
  for (int v : {m.vocab, m.context, m.layers, m.heads, m.width}) w.U32(static_cast<uint32_t>(v));
  if (version == kCheckpointVersionNative) {
    w.U8(static_cast<uint8_t>(s.config.tier));
    w.U8(s.config.hardware_class);
  }
  const OptimizerConfig& o = s.config.optimizer;
  w.F32(o.lr_max);
  w.F32(o.lr_min);
  w.U64(static_cast<uint64_t>(o.warmup_steps));
  w.U64(static_cast<uint64_t>(o.total_steps));
  for (float f : {o.beta1, o.beta2, o.eps, o.weight_decay, o.clip_norm}) w.F32(f);
  w.U32(static_cast<uint32_t>(s.config.batch));
  w.U64(s.config.seed);
  w.Raw(s.data_hash.span());
  w.U64(s.round);
  w.U64(s.worker);
  w.U64(static_cast<uint64_t>(s.step));
  w.U64(static_cast<uint64_t>(s.round_step));
  w.U64(s.params.size());
}

void WriteBody(Writer& w, const TrainState& s) {
  WriteHeader(w, s);
  w.Floats(s.params);
  w.Floats(s.m);
  w.Floats(s.v);
}

// Feeds `values` to `h` as little-endian float32, the bytes Writer::Floats
// writes, without building them: in place on a little-endian host when no
// value is NaN (one compare per value, far cheaper than the hash), through
// a small buffer otherwise.
void HashFloats(Blake2b256Hasher& h, std::span<const float> values) {
  bool any_nan = false;
  for (float v : values) any_nan |= v != v;
  if (std::endian::native == std::endian::little && !any_nan) {
    h.Update(ByteSpan(reinterpret_cast<const uint8_t*>(values.data()), values.size() * 4));
    return;
  }
  constexpr size_t kChunk = 4096;
  Bytes buffer;
  for (size_t at = 0; at < values.size(); at += kChunk) {
    buffer.clear();
    Writer w(buffer);
    const size_t end = std::min(values.size(), at + kChunk);
    w.Floats(values.subspan(at, end - at));
    h.Update(buffer);
  }
}

// A checkpoint file is body || BLAKE2b-256(body), and its identity is
// BLAKE2b-256 of the file. Both hashes absorb the same body, and BLAKE2b's
// state after a prefix does not depend on what follows, so one pass over the
// body serves both: given a hasher that has absorbed the body, a copy
// finishes the trailer while the original goes on with it.
struct FileHashes {
  Hash256 trailer;   // of the body
  Hash256 identity;  // of body || trailer
};
FileHashes FinishFile(Blake2b256Hasher body_hasher) {
  Blake2b256Hasher file = body_hasher;
  FileHashes out;
  out.trailer = body_hasher.Finish();
  file.Update(out.trailer.span());
  out.identity = file.Finish();
  return out;
}

constexpr const char* kRetrainHint =
    "; the file is damaged or not a checkpoint: fetch it again or retrain";

}  // namespace

Bytes SerializeCheckpoint(const TrainState& state, Hash256* identity) {
  AGORA_CHECK(state.params.size() == state.m.size() && state.params.size() == state.v.size());
  Bytes out;
  out.reserve(kCheckpointNativeHeaderBytes + state.params.size() * 12 + Hash256::kSize);
  Writer w(out);
  WriteBody(w, state);
  Blake2b256Hasher body;
  body.Update(out);
  const FileHashes hashes = FinishFile(body);
  w.Raw(hashes.trailer.span());
  if (identity != nullptr) *identity = hashes.identity;
  return out;
}

// The identity SerializeCheckpoint gives, from the state itself: the body is
// fed to the hasher in place (FinishFile), no buffer of the file is built.
Hash256 CheckpointHash(const TrainState& state) {
  AGORA_CHECK(state.params.size() == state.m.size() && state.params.size() == state.v.size());
  Bytes header;
  header.reserve(kCheckpointNativeHeaderBytes);
  Writer w(header);
  WriteHeader(w, state);
  Blake2b256Hasher body;
  body.Update(header);
  HashFloats(body, state.params);
  HashFloats(body, state.m);
  HashFloats(body, state.v);
  return FinishFile(body).identity;
}

Hash256 GradientHash(std::span<const float> gradient) {
  Blake2b256Hasher h;
  h.Update(AsBytes(std::string_view("agora-gradient-v1")));
  HashFloats(h, gradient);
  return h.Finish();
}

Result<LoadedCheckpoint> ParseCheckpoint(ByteSpan bytes) {
  if (bytes.size() < 12 || std::memcmp(bytes.data(), kCheckpointMagic, 8) != 0) {
    return Status::Corruption("not an Agora checkpoint (bad magic)" + std::string(kRetrainHint));
  }
  Reader r(bytes);
  r.Raw(8);
  uint32_t version = r.U32();
  if (version != kCheckpointVersion && version != kCheckpointVersionNative) {
    return Status::FailedPrecondition(
        "checkpoint format version " + std::to_string(version) + " is not supported (this " +
        "build reads versions " + std::to_string(kCheckpointVersion) + " and " +
        std::to_string(kCheckpointVersionNative) + "); use the agora release that wrote it");
  }
  const size_t header_bytes =
      version == kCheckpointVersion ? kCheckpointHeaderBytes : kCheckpointNativeHeaderBytes;
  if (bytes.size() < header_bytes + Hash256::kSize) {
    return Status::Corruption("checkpoint is truncated (" + std::to_string(bytes.size()) +
                              " bytes)" + kRetrainHint);
  }
  ByteSpan body = bytes.first(bytes.size() - Hash256::kSize);
  Hash256 stored = Hash256::FromBytes(bytes.last(Hash256::kSize));
  Blake2b256Hasher body_hasher;
  body_hasher.Update(body);
  const FileHashes hashes = FinishFile(body_hasher);
  if (hashes.trailer != stored) {
    return Status::Corruption("checkpoint hash mismatch: the file is truncated or damaged" +
                              std::string(kRetrainHint));
  }
  LoadedCheckpoint out;
  out.hash = hashes.identity;  // the file ends with `stored`, equal to the trailer
  TrainState& s = out.state;
  ModelConfig& m = s.config.model;
  // Every field is read whole and refused out of range, never clipped or
  // masked: one state, one file, so the file's hash is the state's
  // (found in review, 2026-12-03: the top bits of the step fields were
  // dropped, and 256 different files parsed to one state).
  bool in_range = true;
  auto small = [&](uint32_t v) {
    in_range &= v <= (1u << 30);
    return static_cast<int>(std::min<uint32_t>(v, 1u << 30));
  };
  auto count_of = [&](uint64_t v) {
    in_range &= v <= (UINT64_MAX >> 2);
    return static_cast<int64_t>(v & (UINT64_MAX >> 2));
  };
  for (int* field : {&m.vocab, &m.context, &m.layers, &m.heads, &m.width}) *field = small(r.U32());
  if (version == kCheckpointVersionNative) {
    const uint8_t tier = r.U8();
    s.config.hardware_class = r.U8();
    // Version 2 holds native states only: an exact state has its version 1
    // file, and a second encoding would give it a second hash.
    if (tier != static_cast<uint8_t>(KernelTier::kNative)) {
      return Status::Corruption("checkpoint version 2 holds tier " + std::to_string(tier) +
                                ", but only native-tier states are written in it" +
                                std::string(kRetrainHint));
    }
    s.config.tier = KernelTier::kNative;
  }
  OptimizerConfig& o = s.config.optimizer;
  o.lr_max = r.F32();
  o.lr_min = r.F32();
  o.warmup_steps = count_of(r.U64());
  o.total_steps = count_of(r.U64());
  for (float* f : {&o.beta1, &o.beta2, &o.eps, &o.weight_decay, &o.clip_norm}) *f = r.F32();
  s.config.batch = small(r.U32());
  s.config.seed = r.U64();
  s.data_hash = Hash256::FromBytes(r.Raw(Hash256::kSize));
  s.round = r.U64();
  s.worker = r.U64();
  s.step = count_of(r.U64());
  s.round_step = count_of(r.U64());
  uint64_t count = r.U64();
  if (!in_range) return Status::Corruption("checkpoint has a field out of range" + std::string(kRetrainHint));
  Status valid = s.config.Validate();
  if (!valid.ok()) return Status::Corruption("checkpoint config is invalid: " + valid.message());
  if (count != static_cast<uint64_t>(m.ParameterCount()) ||
      body.size() != header_bytes + 12 * count) {
    return Status::Corruption("checkpoint size does not match its config" +
                              std::string(kRetrainHint));
  }
  bool canonical = r.Floats(s.params, count);
  canonical &= r.Floats(s.m, count);
  canonical &= r.Floats(s.v, count);
  if (!canonical) {
    return Status::Corruption("checkpoint holds a NaN other than 0x7fc00000, which no writer of "
                              "this format writes" +
                              std::string(kRetrainHint));
  }
  return out;
}

Result<Hash256> SaveCheckpoint(const std::filesystem::path& path, const TrainState& state) {
  Bytes bytes = SerializeCheckpoint(state);
  AGORA_RETURN_IF_ERROR(WriteFileAtomic(path, bytes, 0644));
  return Blake2b256(bytes);
}

Result<LoadedCheckpoint> LoadCheckpoint(const std::filesystem::path& path) {
  auto bytes = ReadFile(path, kCheckpointBytesMax);
  if (!bytes.ok()) return bytes.status().WithContext("cannot read checkpoint " + path.string());
  auto loaded = ParseCheckpoint(AsBytes(*bytes));
  if (!loaded.ok()) return loaded.status().WithContext(path.string());
  return loaded;
}

}  // namespace agora::trainer
