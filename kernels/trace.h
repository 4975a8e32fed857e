// The operator trace: an ordered record of every public kernel call
// (kernels/ops.h) of a piece of work, typically one training step, with the
// BLAKE2b-256 hash of every tensor each call read and of every tensor it
// wrote. Two parties that disagree about a step bisect its trace to the first
// call whose inputs they agree on and whose outputs they do not
// (PROTOCOL.md §8); a referee then recomputes that one call from its inputs
// (verify/operator.h). docs/dispute.md describes the layout.
//
// What a record holds, per call, in the order the call's C++ arguments are
// declared:
//   - the op kind and its integer arguments (shapes, AdamW's step) and float
//     arguments (AdamW's config, ClipGradNorm's max_norm, bit for bit);
//   - inputs: the hash of every buffer the op reads, taken before the call,
//     including the prior contents of buffers it updates in place (backward
//     ops add into gradients, AdamW updates params/m/v, ClipGradNorm scales
//     in place) and integer token arrays, so that the call can be recomputed
//     from its inputs alone;
//   - outputs: the hash of every buffer it writes, taken after the call; a
//     returned float (Sum, GlobalNorm, ClipGradNorm's norm) is a one-element
//     output.
// A null (skipped) tensor is recorded as the all-zero hash. Which buffers a
// kind reads and writes, and how many elements each has as a function of the
// integer arguments, is fixed by its OpSignature.
//
// Only the outermost public call is recorded: while an op runs, recording is
// suspended on its thread, so ClipGradNorm's internal GlobalNorm is part of
// the ClipGradNorm record, not a record of its own.
//
// Thread safety: the recorder is per thread. ScopedOpTrace installs an
// OpTrace for the calling thread only; ops run by other threads are not
// recorded. An OpTrace is not thread-safe: install it on one thread at a
// time. The free functions are thread-safe.
#ifndef AGORA_KERNELS_TRACE_H_
#define AGORA_KERNELS_TRACE_H_

#include <bit>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/status.h"

namespace agora::kernels {

// One value per public op of kernels/ops.h. The numbers are part of the
// record encoding: never renumber, only append.
enum class OpKind : uint8_t {
  kMatmulForward = 1,
  kMatmulBackward = 2,
  kBiasForward = 3,
  kBiasBackward = 4,
  kLayerNormForward = 5,
  kLayerNormBackward = 6,
  kGeluForward = 7,
  kGeluBackward = 8,
  kResidualForward = 9,
  kResidualBackward = 10,
  kAttentionForward = 11,
  kAttentionBackward = 12,
  kSoftmaxForward = 13,
  kCrossEntropyForward = 14,
  kCrossEntropyBackward = 15,
  kEmbeddingForward = 16,
  kEmbeddingBackward = 17,
  kAdamWUpdate = 18,
  kSum = 19,
  kGlobalNorm = 20,
  kClipGradNorm = 21,
};
inline constexpr uint8_t kOpKindMax = 21;

// Returns true iff `value` names an OpKind.
bool IsOpKind(uint8_t value);
// "MatmulForward", ...; "unknown" for a value that is not an OpKind.
std::string_view OpKindName(OpKind kind);

enum class ElementType : uint8_t { kFloat32, kInt32 };
inline constexpr size_t kElementBytes = 4;  // both element types

// One integer argument and the range the op accepts (ops.cc's checks).
struct IntArg {
  std::string_view name;
  int64_t min = 0;
  int64_t max = 0;
};

// One tensor an op reads or writes. Its element count is
// factor * ints[dims[0]] * ints[dims[1]] * ... over the first dim_count dims.
struct TensorSlot {
  std::string_view name;
  ElementType type = ElementType::kFloat32;
  int64_t factor = 1;
  int dim_count = 0;
  int dims[4] = {0, 0, 0, 0};
  bool optional = false;  // the op accepts a null pointer here
  // Outputs only: the input slot that holds this buffer's contents before the
  // call (the op updates it in place), or -1 when the op overwrites it.
  int pre_input = -1;
};

struct OpSignature {
  OpKind kind{};
  std::vector<IntArg> ints;
  std::vector<std::string_view> floats;
  std::vector<TensorSlot> inputs;
  std::vector<TensorSlot> outputs;
};

// REQUIRES: IsOpKind(static_cast<uint8_t>(kind))
const OpSignature& SignatureOf(OpKind kind);

// Elements of `slot` for these integer arguments, or nullopt when an argument
// it uses is missing or negative or the product overflows int64.
std::optional<int64_t> SlotElements(const TensorSlot& slot, std::span<const int64_t> ints);

// The all-zero hash: a tensor the call skipped (null pointer).
inline constexpr Hash256 kAbsentTensor{};

struct OpRecord {
  OpKind kind{};
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<Hash256> inputs;   // per signature input slot, hashed before the call
  std::vector<Hash256> outputs;  // per signature output slot, hashed after the call

  // Floats compare by their bits (so NaN == NaN and -0 != +0), like the encoding.
  friend bool operator==(const OpRecord& a, const OpRecord& b);
};

// Canonical bytes of a record (docs/dispute.md):
//   u8 version (1) | u8 kind | u8 n, n x i64 big-endian | u8 n, n x f32 bits
//   big-endian | u8 n, n x 32-byte input hash | u8 n, n x 32-byte output hash
Bytes EncodeOpRecord(const OpRecord& record);
// Corruption unless `bytes` is exactly one encoding of a known kind whose
// counts match its signature. Shapes are not checked here (the recompute does).
Result<OpRecord> DecodeOpRecord(ByteSpan bytes);
inline constexpr uint8_t kOpRecordVersion = 1;

// BLAKE2b-256 of the encoding: the record's item in the trace's Merkle tree.
Hash256 OpRecordHash(const OpRecord& record);
std::vector<Hash256> OpRecordHashes(std::span<const OpRecord> records);
// merkle::Root over the record hashes (the zero hash for none).
Hash256 OpTraceRoot(std::span<const OpRecord> records);

// Hash of a tensor's bytes as the trace names it (little-endian elements).
// A float32 tensor is hashed with every NaN as 0x7fc00000, as checkpoints
// are (trainer::FloatBits, docs/determinism.md): which NaN an op returns
// differs between x86, Arm and GPUs and is not part of the contract, so a
// referee on another machine must not see a divergence there.
Hash256 TensorHash(ElementType type, ByteSpan bytes);
// The bytes a trace keeps and serves for a tensor: float32 NaNs written as
// 0x7fc00000, so that BLAKE2b-256 of what is served is its TensorHash (a
// referee fetches it by that name and checks it so).
Bytes CanonicalTensorBytes(ElementType type, ByteSpan bytes);
// The bits a float is encoded with in op records and tensor hashes: its
// own, every NaN as 0x7fc00000.
inline uint32_t CanonicalFloatBits(float v) {
  return v != v ? 0x7fc00000u : std::bit_cast<uint32_t>(v);
}

// Where two traces of the same work first part.
enum class DivergenceKind : uint8_t {
  kOutputs,   // same op, arguments and inputs, different outputs: recompute it
  kInputs,    // same op and arguments, different inputs: the code between calls differs
  kOperator,  // different op kind or arguments
  kLength,    // one trace is a strict prefix of the other
};
struct Divergence {
  uint64_t index = 0;
  DivergenceKind kind = DivergenceKind::kOutputs;
};
std::string_view DivergenceKindName(DivergenceKind kind);

// The first index at which the traces differ and how; nullopt iff they are
// identical.
std::optional<Divergence> FirstDivergence(std::span<const OpRecord> a, std::span<const OpRecord> b);
// The index of the first record whose inputs agree and outputs differ, i.e.
// what bisection converges to: nullopt when the traces are identical or first
// part in some other way (FirstDivergence says how).
std::optional<uint64_t> FirstOutputDivergence(std::span<const OpRecord> a,
                                              std::span<const OpRecord> b);

namespace internal {
class TraceRecorder;
}  // namespace internal

// The records of the calls made while it was installed (ScopedOpTrace), and
// optionally a copy of every tensor it hashed, keyed by hash, so the tensors
// a trace names can be served as blobs.
class OpTrace {
 public:
  struct Options {
    bool keep_blobs = false;
  };

  OpTrace() = default;
  explicit OpTrace(Options options) : options_(options) {}
  OpTrace(const OpTrace&) = delete;
  OpTrace& operator=(const OpTrace&) = delete;

  const std::vector<OpRecord>& records() const { return records_; }
  Hash256 Root() const { return OpTraceRoot(records_); }

  // Empty unless Options::keep_blobs.
  const std::map<Hash256, Bytes>& blobs() const { return blobs_; }
  // The blob with this hash, or null when not kept.
  const Bytes* FindBlob(const Hash256& hash) const;
  // Sum of the kept blobs' sizes.
  uint64_t blob_bytes() const { return blob_bytes_; }

  // TEST ONLY: makes the run dishonest. After the call that becomes record
  // `record_index` runs, element `element` of its output slot `output` is
  // XORed with `xor_bits` in the caller's buffer (so the corruption flows on
  // into later calls, as a cheating provider's would) and only then hashed.
  // Never used outside tests; one fault at a time.
  struct FaultForTesting {
    uint64_t record_index = 0;
    int output = 0;
    int64_t element = 0;
    uint32_t xor_bits = 1;
  };
  void InjectFaultForTesting(const FaultForTesting& fault) { fault_ = fault; }

 private:
  friend class internal::TraceRecorder;

  Options options_;
  std::vector<OpRecord> records_;
  std::map<Hash256, Bytes> blobs_;
  uint64_t blob_bytes_ = 0;
  std::optional<FaultForTesting> fault_;
};

// Installs `trace` as the calling thread's recorder until destruction, then
// restores whatever was installed before (scopes nest). A null `trace`
// suspends recording for the scope. Must be destroyed on the thread that
// created it, in reverse order of creation.
class ScopedOpTrace {
 public:
  explicit ScopedOpTrace(OpTrace* trace);
  ~ScopedOpTrace();
  ScopedOpTrace(const ScopedOpTrace&) = delete;
  ScopedOpTrace& operator=(const ScopedOpTrace&) = delete;

 private:
  OpTrace* previous_;
};

}  // namespace agora::kernels

#endif  // AGORA_KERNELS_TRACE_H_
