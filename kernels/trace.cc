// The operator trace's types: signatures, the record encoding and hashes,
// trace comparison, and installing a recorder. The recording itself is in
// traced_ops.cc.
#include "kernels/trace.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>

#include "common/check.h"
#include "common/merkle.h"
#include "kernels/traced_ops.h"

namespace agora::kernels {

// A trace hashes tensors as they lie in memory; the names it gives them are
// the little-endian bytes everywhere only on little-endian hosts.
static_assert(std::endian::native == std::endian::little, "tensor hashes assume little-endian");

namespace internal {
constinit thread_local OpTrace* active_op_trace = nullptr;
}  // namespace internal

namespace {

// The C++ types of the ops' integer arguments.
constexpr int64_t kIntMax = std::numeric_limits<int>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

IntArg Int(std::string_view name, int64_t min = 0) { return {name, min, kIntMax}; }
IntArg Long(std::string_view name, int64_t min = 0) { return {name, min, kInt64Max}; }

TensorSlot Floats(std::string_view name, std::initializer_list<int> dims, int64_t factor = 1) {
  AGORA_CHECK(dims.size() <= 4);
  TensorSlot slot;
  slot.name = name;
  slot.factor = factor;
  for (int dim : dims) slot.dims[slot.dim_count++] = dim;
  return slot;
}
TensorSlot Int32s(std::string_view name, std::initializer_list<int> dims) {
  TensorSlot slot = Floats(name, dims);
  slot.type = ElementType::kInt32;
  return slot;
}
TensorSlot Optional(TensorSlot slot) {
  slot.optional = true;
  return slot;
}
// An output that the op updates in place; `pre_input` holds its prior contents.
TensorSlot Updated(TensorSlot slot, int pre_input) {
  slot.pre_input = pre_input;
  return slot;
}
const TensorSlot kScalar = Floats("result", {});

void AddLinearSignatures(std::vector<OpSignature>& table) {
  const std::vector<IntArg> matmul = {Int("rows"), Int("in_dim"), Int("out_dim")};
  const TensorSlot inp = Floats("inp", {0, 1}), weight = Floats("weight", {2, 1});
  const TensorSlot dinp = Optional(Floats("dinp", {0, 1}));
  const TensorSlot dweight = Optional(Floats("dweight", {2, 1}));
  const TensorSlot dbias = Optional(Floats("dbias", {2}));
  table.push_back({OpKind::kMatmulForward,
                   matmul,
                   {},
                   {inp, weight, Optional(Floats("bias", {2}))},
                   {Floats("out", {0, 2})}});
  table.push_back({OpKind::kMatmulBackward,
                   matmul,
                   {},
                   {dinp, dweight, dbias, Floats("dout", {0, 2}), Optional(inp), Optional(weight)},
                   {Updated(dinp, 0), Updated(dweight, 1), Updated(dbias, 2)}});

  const std::vector<IntArg> bias = {Int("rows"), Int("channels")};
  table.push_back({OpKind::kBiasForward,
                   bias,
                   {},
                   {Floats("inp", {0, 1}), Floats("bias", {1})},
                   {Floats("out", {0, 1})}});
  table.push_back({OpKind::kBiasBackward,
                   bias,
                   {},
                   {Floats("dbias", {1}), Floats("dout", {0, 1})},
                   {Updated(Floats("dbias", {1}), 0)}});

  const std::vector<IntArg> norm = {Int("rows"), Int("channels", /*min=*/1)};
  const TensorSlot rows_by_channels = Floats("inp", {0, 1});
  table.push_back({OpKind::kLayerNormForward,
                   norm,
                   {},
                   {rows_by_channels, Floats("weight", {1}), Floats("bias", {1})},
                   {Floats("out", {0, 1}), Floats("mean", {0}), Floats("rstd", {0})}});
  const TensorSlot ln_dinp = Optional(Floats("dinp", {0, 1}));
  const TensorSlot ln_dweight = Optional(Floats("dweight", {1}));
  const TensorSlot ln_dbias = Optional(Floats("dbias", {1}));
  table.push_back({OpKind::kLayerNormBackward,
                   norm,
                   {},
                   {ln_dinp, ln_dweight, ln_dbias, Floats("dout", {0, 1}), rows_by_channels,
                    Optional(Floats("weight", {1})), Floats("mean", {0}), Floats("rstd", {0})},
                   {Updated(ln_dinp, 0), Updated(ln_dweight, 1), Updated(ln_dbias, 2)}});
}

void AddElementwiseSignatures(std::vector<OpSignature>& table) {
  const std::vector<IntArg> n = {Long("n")};
  const TensorSlot all = Floats("x", {0});
  auto named = [&](std::string_view name) {
    TensorSlot slot = all;
    slot.name = name;
    return slot;
  };
  table.push_back({OpKind::kGeluForward, n, {}, {named("inp")}, {named("out")}});
  table.push_back({OpKind::kGeluBackward,
                   n,
                   {},
                   {named("dinp"), named("inp"), named("dout")},
                   {Updated(named("dinp"), 0)}});
  table.push_back({OpKind::kResidualForward, n, {}, {named("a"), named("b")}, {named("out")}});
  table.push_back({OpKind::kResidualBackward,
                   n,
                   {},
                   {Optional(named("da")), Optional(named("db")), named("dout")},
                   {Updated(Optional(named("da")), 0), Updated(Optional(named("db")), 1)}});
}

void AddAttentionSignatures(std::vector<OpSignature>& table) {
  // ints: batch 0, seq_len 1, channels 2, heads 3.
  const std::vector<IntArg> shape = {Int("batch"), Int("seq_len"), Int("channels", 1),
                                     Int("heads", 1)};
  const TensorSlot qkv = Floats("qkv", {0, 1, 2}, /*factor=*/3);
  const TensorSlot att = Floats("att", {0, 3, 1, 1});
  const TensorSlot dqkv = Floats("dqkv", {0, 1, 2}, /*factor=*/3);
  table.push_back({OpKind::kAttentionForward, shape, {}, {qkv}, {Floats("out", {0, 1, 2}), att}});
  table.push_back({OpKind::kAttentionBackward,
                   shape,
                   {},
                   {dqkv, Floats("dout", {0, 1, 2}), qkv, att},
                   {Updated(dqkv, 0)}});
}

void AddVocabularySignatures(std::vector<OpSignature>& table) {
  // ints: rows 0, vocab 1.
  const TensorSlot logits = Floats("logits", {0, 1}), probs = Floats("probs", {0, 1});
  const TensorSlot targets = Int32s("targets", {0});
  table.push_back({OpKind::kSoftmaxForward, {Int("rows"), Int("vocab", 1)}, {}, {logits}, {probs}});
  table.push_back({OpKind::kCrossEntropyForward,
                   {Int("rows"), Int("vocab", 1)},
                   {},
                   {logits, targets},
                   {Floats("losses", {0}), probs}});
  table.push_back({OpKind::kCrossEntropyBackward,
                   {Int("rows"), Int("vocab")},
                   {},
                   {Floats("dlogits", {0, 1}), Floats("dlosses", {0}), probs, targets},
                   {Updated(Floats("dlogits", {0, 1}), 0)}});

  // ints: batch 0, seq_len 1, channels 2, vocab 3.
  const std::vector<IntArg> embed = {Int("batch"), Int("seq_len"), Int("channels"), Int("vocab")};
  const TensorSlot tokens = Int32s("tokens", {0, 1});
  const TensorSlot dwte = Optional(Floats("dwte", {3, 2}));
  const TensorSlot dwpe = Optional(Floats("dwpe", {1, 2}));
  table.push_back({OpKind::kEmbeddingForward,
                   embed,
                   {},
                   {tokens, Floats("wte", {3, 2}), Floats("wpe", {1, 2})},
                   {Floats("out", {0, 1, 2})}});
  table.push_back({OpKind::kEmbeddingBackward,
                   embed,
                   {},
                   {dwte, dwpe, Floats("dout", {0, 1, 2}), tokens},
                   {Updated(dwte, 0), Updated(dwpe, 1)}});
}

void AddOptimizerSignatures(std::vector<OpSignature>& table) {
  const TensorSlot params = Floats("params", {0}), m = Floats("m", {0}), v = Floats("v", {0});
  table.push_back({OpKind::kAdamWUpdate,
                   {Long("n"), Long("step", /*min=*/1)},
                   {"learning_rate", "beta1", "beta2", "eps", "weight_decay"},
                   {params, Floats("grads", {0}), m, v},
                   {Updated(params, 0), Updated(m, 2), Updated(v, 3)}});
  table.push_back({OpKind::kSum, {Long("n")}, {}, {Floats("x", {0})}, {kScalar}});
  table.push_back({OpKind::kGlobalNorm, {Long("n")}, {}, {Floats("grads", {0})}, {kScalar}});
  table.push_back({OpKind::kClipGradNorm,
                   {Long("n")},
                   {"max_norm"},
                   {Floats("grads", {0})},
                   {Updated(Floats("grads", {0}), 0), kScalar}});
}

const std::vector<OpSignature>& SignatureTable() {
  static const std::vector<OpSignature> table = [] {
    std::vector<OpSignature> t;
    AddLinearSignatures(t);
    AddElementwiseSignatures(t);
    AddAttentionSignatures(t);
    AddVocabularySignatures(t);
    AddOptimizerSignatures(t);
    AGORA_CHECK(t.size() == kOpKindMax);
    for (size_t i = 0; i < t.size(); ++i) AGORA_CHECK(static_cast<size_t>(t[i].kind) == i + 1);
    return t;
  }();
  return table;
}

void PutU32BigEndian(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void PutCount(Bytes& out, size_t count) {
  AGORA_CHECK(count <= std::numeric_limits<uint8_t>::max());
  out.push_back(static_cast<uint8_t>(count));
}

// Reads the encoding front to back; every read is bounds-checked.
class Reader {
 public:
  explicit Reader(ByteSpan bytes) : bytes_(bytes) {}
  bool U8(uint8_t& v) {
    if (bytes_.size() - at_ < 1) return false;
    v = bytes_[at_++];
    return true;
  }
  bool U32(uint32_t& v) {
    if (bytes_.size() - at_ < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | bytes_[at_++];
    return true;
  }
  bool U64(uint64_t& v) {
    if (bytes_.size() - at_ < 8) return false;
    v = GetU64BigEndian(bytes_.subspan(at_, 8));
    at_ += 8;
    return true;
  }
  bool Hash(Hash256& h) {
    if (bytes_.size() - at_ < Hash256::kSize) return false;
    h = Hash256::FromBytes(bytes_.subspan(at_, Hash256::kSize));
    at_ += Hash256::kSize;
    return true;
  }
  bool Done() const { return at_ == bytes_.size(); }

 private:
  ByteSpan bytes_;
  size_t at_ = 0;
};

Status ReadCount(Reader& reader, size_t want, std::string_view what, OpKind kind) {
  uint8_t count = 0;
  if (!reader.U8(count)) return Status::Corruption("op record truncated");
  if (count != want) {
    return Status::Corruption("op record of " + std::string(OpKindName(kind)) + " has " +
                              std::to_string(count) + " " + std::string(what) + ", its signature " +
                              std::to_string(want));
  }
  return Status::Ok();
}

Status ReadHashes(Reader& reader, size_t want, std::string_view what, OpKind kind,
                  std::vector<Hash256>& out) {
  AGORA_RETURN_IF_ERROR(ReadCount(reader, want, what, kind));
  out.resize(want);
  for (Hash256& h : out) {
    if (!reader.Hash(h)) return Status::Corruption("op record truncated");
  }
  return Status::Ok();
}

// Same kind and arguments, floats compared by their bits.
bool SameOperator(const OpRecord& a, const OpRecord& b) {
  if (a.kind != b.kind || a.ints != b.ints || a.floats.size() != b.floats.size()) return false;
  for (size_t i = 0; i < a.floats.size(); ++i) {
    if (CanonicalFloatBits(a.floats[i]) != CanonicalFloatBits(b.floats[i])) return false;
  }
  return true;
}

}  // namespace

bool IsOpKind(uint8_t value) { return value >= 1 && value <= kOpKindMax; }

std::string_view OpKindName(OpKind kind) {
  static constexpr std::string_view kNames[] = {
      "unknown",           "MatmulForward",     "MatmulBackward",      "BiasForward",
      "BiasBackward",      "LayerNormForward",  "LayerNormBackward",   "GeluForward",
      "GeluBackward",      "ResidualForward",   "ResidualBackward",    "AttentionForward",
      "AttentionBackward", "SoftmaxForward",    "CrossEntropyForward", "CrossEntropyBackward",
      "EmbeddingForward",  "EmbeddingBackward", "AdamWUpdate",         "Sum",
      "GlobalNorm",        "ClipGradNorm"};
  const auto value = static_cast<uint8_t>(kind);
  return IsOpKind(value) ? kNames[value] : kNames[0];
}

const OpSignature& SignatureOf(OpKind kind) {
  const auto value = static_cast<uint8_t>(kind);
  AGORA_CHECK(IsOpKind(value));
  return SignatureTable()[value - 1];
}

std::optional<int64_t> SlotElements(const TensorSlot& slot, std::span<const int64_t> ints) {
  int64_t elements = slot.factor;
  for (int i = 0; i < slot.dim_count; ++i) {
    const int dim = slot.dims[i];
    if (dim < 0 || static_cast<size_t>(dim) >= ints.size() || ints[dim] < 0) return std::nullopt;
    if (__builtin_mul_overflow(elements, ints[dim], &elements)) return std::nullopt;
  }
  return elements;
}

bool operator==(const OpRecord& a, const OpRecord& b) {
  return SameOperator(a, b) && a.inputs == b.inputs && a.outputs == b.outputs;
}

Bytes EncodeOpRecord(const OpRecord& record) {
  Bytes out;
  out.reserve(6 + 8 * record.ints.size() + 4 * record.floats.size() +
              Hash256::kSize * (record.inputs.size() + record.outputs.size()));
  out.push_back(kOpRecordVersion);
  out.push_back(static_cast<uint8_t>(record.kind));
  PutCount(out, record.ints.size());
  for (int64_t v : record.ints) PutU64BigEndian(out, static_cast<uint64_t>(v));
  PutCount(out, record.floats.size());
  for (float v : record.floats) PutU32BigEndian(out, CanonicalFloatBits(v));
  PutCount(out, record.inputs.size());
  for (const Hash256& h : record.inputs) Append(out, h.span());
  PutCount(out, record.outputs.size());
  for (const Hash256& h : record.outputs) Append(out, h.span());
  return out;
}

Result<OpRecord> DecodeOpRecord(ByteSpan bytes) {
  Reader reader(bytes);
  uint8_t version = 0, kind = 0;
  if (!reader.U8(version) || !reader.U8(kind)) return Status::Corruption("op record truncated");
  if (version != kOpRecordVersion) {
    return Status::Corruption("op record version " + std::to_string(version) + ", expected " +
                              std::to_string(kOpRecordVersion));
  }
  if (!IsOpKind(kind)) return Status::Corruption("unknown op kind " + std::to_string(kind));
  OpRecord record;
  record.kind = static_cast<OpKind>(kind);
  const OpSignature& signature = SignatureOf(record.kind);
  AGORA_RETURN_IF_ERROR(ReadCount(reader, signature.ints.size(), "integers", record.kind));
  record.ints.resize(signature.ints.size());
  for (int64_t& v : record.ints) {
    uint64_t raw = 0;
    if (!reader.U64(raw)) return Status::Corruption("op record truncated");
    v = static_cast<int64_t>(raw);
  }
  AGORA_RETURN_IF_ERROR(ReadCount(reader, signature.floats.size(), "floats", record.kind));
  record.floats.resize(signature.floats.size());
  for (float& v : record.floats) {
    uint32_t raw = 0;
    if (!reader.U32(raw)) return Status::Corruption("op record truncated");
    v = std::bit_cast<float>(raw);
  }
  AGORA_RETURN_IF_ERROR(
      ReadHashes(reader, signature.inputs.size(), "inputs", record.kind, record.inputs));
  AGORA_RETURN_IF_ERROR(
      ReadHashes(reader, signature.outputs.size(), "outputs", record.kind, record.outputs));
  if (!reader.Done()) return Status::Corruption("op record has trailing bytes");
  return record;
}

Hash256 OpRecordHash(const OpRecord& record) { return Blake2b256(EncodeOpRecord(record)); }

std::vector<Hash256> OpRecordHashes(std::span<const OpRecord> records) {
  std::vector<Hash256> hashes;
  hashes.reserve(records.size());
  for (const OpRecord& record : records) hashes.push_back(OpRecordHash(record));
  return hashes;
}

Hash256 OpTraceRoot(std::span<const OpRecord> records) {
  return merkle::Root(OpRecordHashes(records));
}

namespace {

// Little-endian float32 element i of `bytes` (kElementBytes each).
uint32_t Float32BitsAt(ByteSpan bytes, size_t at) {
  return static_cast<uint32_t>(bytes[at]) | static_cast<uint32_t>(bytes[at + 1]) << 8 |
         static_cast<uint32_t>(bytes[at + 2]) << 16 | static_cast<uint32_t>(bytes[at + 3]) << 24;
}

// Whether a float32 tensor holds a NaN other than 0x7fc00000.
bool HasOtherNaN(ElementType type, ByteSpan bytes) {
  if (type != ElementType::kFloat32) return false;
  bool other = false;
  for (size_t i = 0; i + kElementBytes <= bytes.size(); i += kElementBytes) {
    const uint32_t b = Float32BitsAt(bytes, i);
    other |= (b & 0x7fffffffu) > 0x7f800000u && b != 0x7fc00000u;
  }
  return other;
}

}  // namespace

Bytes CanonicalTensorBytes(ElementType type, ByteSpan bytes) {
  Bytes out(bytes.begin(), bytes.end());
  if (!HasOtherNaN(type, bytes)) return out;
  for (size_t i = 0; i + kElementBytes <= out.size(); i += kElementBytes) {
    if ((Float32BitsAt(bytes, i) & 0x7fffffffu) <= 0x7f800000u) continue;
    out[i] = 0x00;
    out[i + 1] = 0x00;
    out[i + 2] = 0xc0;
    out[i + 3] = 0x7f;
  }
  return out;
}

Hash256 TensorHash(ElementType type, ByteSpan bytes) {
  if (!HasOtherNaN(type, bytes)) return Blake2b256(bytes);
  return Blake2b256(CanonicalTensorBytes(type, bytes));
}

std::string_view DivergenceKindName(DivergenceKind kind) {
  switch (kind) {
    case DivergenceKind::kOutputs:
      return "outputs";
    case DivergenceKind::kInputs:
      return "inputs";
    case DivergenceKind::kOperator:
      return "operator";
    case DivergenceKind::kLength:
      return "length";
  }
  return "unknown";
}

std::optional<Divergence> FirstDivergence(std::span<const OpRecord> a,
                                          std::span<const OpRecord> b) {
  const size_t common = std::min(a.size(), b.size());
  for (size_t i = 0; i < common; ++i) {
    const OpRecord& x = a[i];
    const OpRecord& y = b[i];
    if (x == y) continue;
    if (!SameOperator(x, y)) return Divergence{i, DivergenceKind::kOperator};
    if (x.inputs != y.inputs) return Divergence{i, DivergenceKind::kInputs};
    return Divergence{i, DivergenceKind::kOutputs};
  }
  if (a.size() != b.size()) return Divergence{common, DivergenceKind::kLength};
  return std::nullopt;
}

std::optional<uint64_t> FirstOutputDivergence(std::span<const OpRecord> a,
                                              std::span<const OpRecord> b) {
  const std::optional<Divergence> divergence = FirstDivergence(a, b);
  if (!divergence.has_value() || divergence->kind != DivergenceKind::kOutputs) return std::nullopt;
  return divergence->index;
}

const Bytes* OpTrace::FindBlob(const Hash256& hash) const {
  auto it = blobs_.find(hash);
  return it == blobs_.end() ? nullptr : &it->second;
}

ScopedOpTrace::ScopedOpTrace(OpTrace* trace) : previous_(internal::active_op_trace) {
  internal::active_op_trace = trace;
}

ScopedOpTrace::~ScopedOpTrace() { internal::active_op_trace = previous_; }

}  // namespace agora::kernels
