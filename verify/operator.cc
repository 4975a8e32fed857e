// One operator recomputed from its recorded inputs with the reference kernels.
#include "verify/operator.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/check.h"
#include "kernels/backend.h"
#include "kernels/ops.h"
#include "verify/dispute.h"

namespace agora::verify {
namespace {

namespace k = ::agora::kernels;

// AdamWUpdate computes beta^step by `step` multiplications; a record with a
// step of 2^62 would keep a referee busy for years. 10^8 steps is far beyond
// any job's schedule and costs well under a second.
constexpr int64_t kAdamWStepMax = 100'000'000;

std::string Where(const k::OpRecord& record, std::string_view role, const k::TensorSlot& slot) {
  return std::string(k::OpKindName(record.kind)) + " " + std::string(role) + " '" +
         std::string(slot.name) + "'";
}

bool Present(const Hash256& hash) { return hash != k::kAbsentTensor; }

Status CheckCounts(const k::OpRecord& record, const k::OpSignature& signature) {
  if (record.ints.size() != signature.ints.size() ||
      record.floats.size() != signature.floats.size() ||
      record.inputs.size() != signature.inputs.size() ||
      record.outputs.size() != signature.outputs.size()) {
    return Status::InvalidArgument(std::string(k::OpKindName(record.kind)) +
                                   " record has the wrong number of integers, floats, inputs or "
                                   "outputs for its signature");
  }
  return Status::Ok();
}

Status CheckIntegers(const k::OpRecord& record, const k::OpSignature& signature) {
  for (size_t i = 0; i < signature.ints.size(); ++i) {
    const k::IntArg& arg = signature.ints[i];
    if (record.ints[i] < arg.min || record.ints[i] > arg.max) {
      return Status::InvalidArgument(
          std::string(k::OpKindName(record.kind)) + " " + std::string(arg.name) + " = " +
          std::to_string(record.ints[i]) + " is outside [" + std::to_string(arg.min) + ", " +
          std::to_string(arg.max) + "]");
    }
  }
  if (record.kind == k::OpKind::kAdamWUpdate && record.ints[1] > kAdamWStepMax) {
    return Status::InvalidArgument("AdamWUpdate step " + std::to_string(record.ints[1]) +
                                   " exceeds " + std::to_string(kAdamWStepMax));
  }
  return Status::Ok();
}

Status CheckSizes(const k::OpRecord& record, std::span<const k::TensorSlot> slots,
                  std::string_view role) {
  for (const k::TensorSlot& slot : slots) {
    const std::optional<int64_t> elements = k::SlotElements(slot, record.ints);
    if (!elements.has_value() || *elements > kOperatorTensorElementsMax) {
      return Status::InvalidArgument(Where(record, role, slot) +
                                     ": its shape overflows or exceeds " +
                                     std::to_string(kOperatorTensorElementsMax) + " elements");
    }
  }
  return Status::Ok();
}

Status CheckPresence(const k::OpRecord& record, const k::OpSignature& signature) {
  for (size_t i = 0; i < signature.inputs.size(); ++i) {
    if (!signature.inputs[i].optional && !Present(record.inputs[i])) {
      return Status::InvalidArgument(Where(record, "input", signature.inputs[i]) +
                                     " is required but absent");
    }
  }
  for (size_t j = 0; j < signature.outputs.size(); ++j) {
    const k::TensorSlot& slot = signature.outputs[j];
    const bool present = Present(record.outputs[j]);
    if (slot.pre_input >= 0 && present != Present(record.inputs[slot.pre_input])) {
      return Status::InvalidArgument(Where(record, "output", slot) +
                                     " is updated in place: present as an input iff as an output");
    }
    if (slot.pre_input < 0 && !slot.optional && !present) {
      return Status::InvalidArgument(Where(record, "output", slot) + " is required but absent");
    }
  }
  return Status::Ok();
}

// What ops.cc checks beyond single arguments.
Status CheckOpConstraints(const k::OpRecord& record) {
  const std::string name(k::OpKindName(record.kind));
  switch (record.kind) {
    case k::OpKind::kAttentionForward:
    case k::OpKind::kAttentionBackward:
      if (record.ints[2] % record.ints[3] != 0) {
        return Status::InvalidArgument(name + ": channels is not a multiple of heads");
      }
      break;
    case k::OpKind::kMatmulBackward:
      if (Present(record.inputs[0]) && !Present(record.inputs[5])) {
        return Status::InvalidArgument(name + ": dinp needs weight");
      }
      if (Present(record.inputs[1]) && !Present(record.inputs[4])) {
        return Status::InvalidArgument(name + ": dweight needs inp");
      }
      break;
    case k::OpKind::kLayerNormBackward:
      if (Present(record.inputs[0]) && !Present(record.inputs[5])) {
        return Status::InvalidArgument(name + ": dinp needs weight");
      }
      break;
    default:
      break;
  }
  return Status::Ok();
}

// One tensor of the recompute. Storage holds at least one element so that a
// present tensor never has a null pointer (the ops reject null required
// arguments even when they are empty).
struct Tensor {
  bool present = false;
  int64_t elements = 0;
  std::vector<float> floats;
  std::vector<int32_t> int32s;

  ByteSpan bytes() const {
    const void* data = int32s.empty() ? static_cast<const void*>(floats.data()) : int32s.data();
    return {static_cast<const uint8_t*>(data), static_cast<size_t>(elements) * k::kElementBytes};
  }
};

Result<Tensor> FetchInput(const k::OpRecord& record, const k::TensorSlot& slot, const Hash256& hash,
                          const BlobLookup& lookup) {
  Tensor tensor;
  if (!Present(hash)) return tensor;
  Result<Bytes> blob = lookup(hash);
  if (!blob.ok()) {
    return blob.status().WithContext(Where(record, "input", slot) + " (blob " + hash.ToHex() + ")");
  }
  const Hash256 got = k::TensorHash(slot.type, *blob);
  if (got != hash) {
    return Status::Corruption(Where(record, "input", slot) + ": blob bytes hash to " + got.ToHex() +
                              ", the record names " + hash.ToHex() +
                              "; fetch it again from another holder");
  }
  tensor.present = true;
  tensor.elements = *k::SlotElements(slot, record.ints);  // CheckSizes passed
  const size_t want = static_cast<size_t>(tensor.elements) * k::kElementBytes;
  if (blob->size() != want) {
    return Status::InvalidArgument(Where(record, "input", slot) + " holds " +
                                   std::to_string(blob->size()) +
                                   " bytes, the record's shapes say " + std::to_string(want));
  }
  const size_t storage = std::max<size_t>(static_cast<size_t>(tensor.elements), 1);
  if (slot.type == k::ElementType::kInt32) {
    tensor.int32s.assign(storage, 0);
    std::memcpy(tensor.int32s.data(), blob->data(), want);
  } else {
    tensor.floats.assign(storage, 0.0f);
    std::memcpy(tensor.floats.data(), blob->data(), want);
  }
  return tensor;
}

// Tokens and targets index rows of the vocabulary; the ops check it fatally.
Status CheckTokenRange(const k::OpRecord& record, const std::vector<Tensor>& inputs) {
  int slot = -1, vocab_arg = -1;
  switch (record.kind) {
    case k::OpKind::kCrossEntropyForward:
      slot = 1;
      vocab_arg = 1;
      break;
    case k::OpKind::kCrossEntropyBackward:
      slot = 3;
      vocab_arg = 1;
      break;
    case k::OpKind::kEmbeddingForward:
      slot = 0;
      vocab_arg = 3;
      break;
    case k::OpKind::kEmbeddingBackward:
      slot = 3;
      vocab_arg = 3;
      break;
    default:
      return Status::Ok();
  }
  const Tensor& tokens = inputs[slot];
  const int64_t vocab = record.ints[vocab_arg];
  for (int64_t i = 0; i < tokens.elements; ++i) {
    if (tokens.int32s[i] < 0 || tokens.int32s[i] >= vocab) {
      return Status::InvalidArgument(std::string(k::OpKindName(record.kind)) + ": token " +
                                     std::to_string(tokens.int32s[i]) + " at " + std::to_string(i) +
                                     " is outside the vocabulary of " + std::to_string(vocab));
    }
  }
  return Status::Ok();
}

// The buffers the op writes: copies of their prior contents for ops that
// update in place, zeros for ops that overwrite.
std::vector<Tensor> MakeOutputs(const k::OpRecord& record, const k::OpSignature& signature,
                                const std::vector<Tensor>& inputs) {
  std::vector<Tensor> outputs(signature.outputs.size());
  for (size_t j = 0; j < outputs.size(); ++j) {
    const k::TensorSlot& slot = signature.outputs[j];
    if (slot.pre_input >= 0) {
      outputs[j] = inputs[slot.pre_input];
      continue;
    }
    outputs[j].present = Present(record.outputs[j]);
    outputs[j].elements = *k::SlotElements(slot, record.ints);
    if (outputs[j].present) {
      outputs[j].floats.assign(std::max<size_t>(static_cast<size_t>(outputs[j].elements), 1), 0.0f);
    }
  }
  return outputs;
}

// Pointers into the recompute's tensors; null for an absent one.
class Args {
 public:
  Args(const k::OpRecord& record, std::vector<Tensor>& inputs, std::vector<Tensor>& outputs)
      : record_(record), inputs_(inputs), outputs_(outputs) {}
  const float* In(int slot) const {
    return inputs_[slot].present ? inputs_[slot].floats.data() : nullptr;
  }
  const int32_t* Tokens(int slot) const { return inputs_[slot].int32s.data(); }
  float* Out(int slot) { return outputs_[slot].present ? outputs_[slot].floats.data() : nullptr; }
  int Int(int index) const { return static_cast<int>(record_.ints[index]); }  // validated
  int64_t Long(int index) const { return record_.ints[index]; }

 private:
  const k::OpRecord& record_;
  std::vector<Tensor>& inputs_;
  std::vector<Tensor>& outputs_;
};

constexpr k::Backend kRef = k::Backend::kReference;

// Matmul, bias, layer norm, GELU, residual, attention. Returns false for
// other kinds.
bool RunLayerOp(k::OpKind kind, Args& a) {
  switch (kind) {
    case k::OpKind::kMatmulForward:
      k::MatmulForward(kRef, a.Out(0), a.In(0), a.In(1), a.In(2), a.Int(0), a.Int(1), a.Int(2));
      return true;
    case k::OpKind::kMatmulBackward:
      k::MatmulBackward(kRef, a.Out(0), a.Out(1), a.Out(2), a.In(3), a.In(4), a.In(5), a.Int(0),
                        a.Int(1), a.Int(2));
      return true;
    case k::OpKind::kBiasForward:
      k::BiasForward(kRef, a.Out(0), a.In(0), a.In(1), a.Int(0), a.Int(1));
      return true;
    case k::OpKind::kBiasBackward:
      k::BiasBackward(kRef, a.Out(0), a.In(1), a.Int(0), a.Int(1));
      return true;
    case k::OpKind::kLayerNormForward:
      k::LayerNormForward(kRef, a.Out(0), a.Out(1), a.Out(2), a.In(0), a.In(1), a.In(2), a.Int(0),
                          a.Int(1));
      return true;
    case k::OpKind::kLayerNormBackward:
      k::LayerNormBackward(kRef, a.Out(0), a.Out(1), a.Out(2), a.In(3), a.In(4), a.In(5), a.In(6),
                           a.In(7), a.Int(0), a.Int(1));
      return true;
    case k::OpKind::kGeluForward:
      k::GeluForward(kRef, a.Out(0), a.In(0), a.Long(0));
      return true;
    case k::OpKind::kGeluBackward:
      k::GeluBackward(kRef, a.Out(0), a.In(1), a.In(2), a.Long(0));
      return true;
    case k::OpKind::kResidualForward:
      k::ResidualForward(kRef, a.Out(0), a.In(0), a.In(1), a.Long(0));
      return true;
    case k::OpKind::kResidualBackward:
      k::ResidualBackward(kRef, a.Out(0), a.Out(1), a.In(2), a.Long(0));
      return true;
    case k::OpKind::kAttentionForward:
      k::AttentionForward(kRef, a.Out(0), a.Out(1), a.In(0), a.Int(0), a.Int(1), a.Int(2),
                          a.Int(3));
      return true;
    case k::OpKind::kAttentionBackward:
      k::AttentionBackward(kRef, a.Out(0), a.In(1), a.In(2), a.In(3), a.Int(0), a.Int(1), a.Int(2),
                           a.Int(3));
      return true;
    default:
      return false;
  }
}

// Softmax, cross-entropy, embedding, AdamW and the reductions.
bool RunHeadOp(const k::OpRecord& record, Args& a) {
  switch (record.kind) {
    case k::OpKind::kSoftmaxForward:
      k::SoftmaxForward(kRef, a.Out(0), a.In(0), a.Int(0), a.Int(1));
      return true;
    case k::OpKind::kCrossEntropyForward:
      k::CrossEntropyForward(kRef, a.Out(0), a.Out(1), a.In(0), a.Tokens(1), a.Int(0), a.Int(1));
      return true;
    case k::OpKind::kCrossEntropyBackward:
      k::CrossEntropyBackward(kRef, a.Out(0), a.In(1), a.In(2), a.Tokens(3), a.Int(0), a.Int(1));
      return true;
    case k::OpKind::kEmbeddingForward:
      k::EmbeddingForward(kRef, a.Out(0), a.Tokens(0), a.In(1), a.In(2), a.Int(0), a.Int(1),
                          a.Int(2), a.Int(3));
      return true;
    case k::OpKind::kEmbeddingBackward:
      k::EmbeddingBackward(kRef, a.Out(0), a.Out(1), a.In(2), a.Tokens(3), a.Int(0), a.Int(1),
                           a.Int(2), a.Int(3));
      return true;
    case k::OpKind::kAdamWUpdate: {
      const k::AdamWConfig config{.learning_rate = record.floats[0],
                                  .beta1 = record.floats[1],
                                  .beta2 = record.floats[2],
                                  .eps = record.floats[3],
                                  .weight_decay = record.floats[4]};
      k::AdamWUpdate(kRef, a.Out(0), a.In(1), a.Out(1), a.Out(2), a.Long(0), config, a.Long(1));
      return true;
    }
    case k::OpKind::kSum:
      a.Out(0)[0] = k::Sum(kRef, a.In(0), a.Long(0));
      return true;
    case k::OpKind::kGlobalNorm:
      a.Out(0)[0] = k::GlobalNorm(kRef, a.In(0), a.Long(0));
      return true;
    case k::OpKind::kClipGradNorm:
      a.Out(1)[0] = k::ClipGradNorm(kRef, a.Out(0), a.Long(0), record.floats[0]);
      return true;
    default:
      return false;
  }
}

}  // namespace

BlobLookup LookupIn(const std::map<Hash256, Bytes>& blobs) {
  return [&blobs](const Hash256& hash) -> Result<Bytes> {
    auto it = blobs.find(hash);
    if (it == blobs.end()) return Status::NotFound("blob " + hash.ToHex() + " is not held");
    return it->second;
  };
}

Status ValidateOpRecord(const k::OpRecord& record) {
  if (!k::IsOpKind(static_cast<uint8_t>(record.kind))) {
    return Status::InvalidArgument("unknown op kind " +
                                   std::to_string(static_cast<int>(record.kind)));
  }
  const k::OpSignature& signature = k::SignatureOf(record.kind);
  AGORA_RETURN_IF_ERROR(CheckCounts(record, signature));
  AGORA_RETURN_IF_ERROR(CheckIntegers(record, signature));
  AGORA_RETURN_IF_ERROR(CheckSizes(record, signature.inputs, "input"));
  AGORA_RETURN_IF_ERROR(CheckSizes(record, signature.outputs, "output"));
  AGORA_RETURN_IF_ERROR(CheckPresence(record, signature));
  return CheckOpConstraints(record);
}

Result<std::vector<Hash256>> RecomputeOperator(const k::OpRecord& record,
                                               const BlobLookup& lookup) {
  return RecomputeOperator(record, lookup, nullptr);
}

Result<std::vector<Hash256>> RecomputeOperator(const k::OpRecord& record,
                                               const BlobLookup& lookup, Hash256* secret) {
  AGORA_RETURN_IF_ERROR(ValidateOpRecord(record));
  const k::OpSignature& signature = k::SignatureOf(record.kind);
  std::vector<Tensor> inputs;
  inputs.reserve(signature.inputs.size());
  for (size_t i = 0; i < signature.inputs.size(); ++i) {
    AGORA_ASSIGN_OR_RETURN(Tensor tensor,
                           FetchInput(record, signature.inputs[i], record.inputs[i], lookup));
    inputs.push_back(std::move(tensor));
  }
  AGORA_RETURN_IF_ERROR(CheckTokenRange(record, inputs));
  std::vector<Tensor> outputs = MakeOutputs(record, signature, inputs);
  {
    // A referee that is tracing its own work must not record the recompute.
    k::ScopedOpTrace suspend(nullptr);
    Args args(record, inputs, outputs);
    const bool ran = RunLayerOp(record.kind, args) || RunHeadOp(record, args);
    AGORA_CHECK(ran);  // every kind is in one of the two
  }
  std::vector<Hash256> hashes;
  hashes.reserve(outputs.size());
  std::vector<ByteSpan> present;
  for (size_t j = 0; j < outputs.size(); ++j) {
    const Tensor& output = outputs[j];
    hashes.push_back(output.present ? k::TensorHash(signature.outputs[j].type, output.bytes())
                                    : k::kAbsentTensor);
    if (output.present) present.push_back(output.bytes());
  }
  if (secret != nullptr) *secret = RefereeSecret(present);
  return hashes;
}

bool OutputsMatch(const k::OpRecord& record, std::span<const Hash256> outputs) {
  return std::equal(record.outputs.begin(), record.outputs.end(), outputs.begin(), outputs.end());
}

Result<bool> RecomputeMatches(const k::OpRecord& record, const BlobLookup& lookup) {
  AGORA_ASSIGN_OR_RETURN(std::vector<Hash256> outputs, RecomputeOperator(record, lookup));
  return OutputsMatch(record, outputs);
}

}  // namespace agora::verify
