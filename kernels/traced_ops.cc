// Recording one public op call into the calling thread's OpTrace: hash what
// the call reads, run it with recording suspended (only the outermost public
// call is recorded), hash what it wrote, append the record.
#include "kernels/traced_ops.h"

#include <bit>
#include <cstring>
#include <initializer_list>

#include "common/check.h"
#include "kernels/ops.h"
#include "kernels/trace.h"

namespace agora::kernels::internal {

// Builds one record; a friend of OpTrace. Pointers are passed in the order of
// the kind's signature slots; a null pointer is an absent tensor.
class TraceRecorder {
 public:
  // Hashes the inputs, before the call.
  TraceRecorder(OpTrace& trace, OpKind kind, std::initializer_list<int64_t> ints,
                std::initializer_list<float> floats, std::initializer_list<const void*> inputs)
      : trace_(trace), signature_(SignatureOf(kind)) {
    record_.kind = kind;
    record_.ints.assign(ints);
    record_.floats.assign(floats);
    AGORA_CHECK(record_.ints.size() == signature_.ints.size());
    AGORA_CHECK(record_.floats.size() == signature_.floats.size());
    AGORA_CHECK(inputs.size() == signature_.inputs.size());
    record_.inputs.reserve(inputs.size());
    size_t slot = 0;
    for (const void* data : inputs) record_.inputs.push_back(Hash(signature_.inputs[slot++], data));
  }

  // Applies the test-only fault if it names this record, then hashes the
  // outputs, after the call, and appends the record.
  void Finish(std::initializer_list<void*> outputs) {
    AGORA_CHECK(outputs.size() == signature_.outputs.size());
    const std::span<void* const> buffers(outputs.begin(), outputs.size());
    if (trace_.fault_.has_value() && trace_.fault_->record_index == trace_.records_.size()) {
      ApplyFault(*trace_.fault_, buffers);
      trace_.fault_.reset();
    }
    record_.outputs.reserve(buffers.size());
    for (size_t slot = 0; slot < buffers.size(); ++slot) {
      record_.outputs.push_back(Hash(signature_.outputs[slot], buffers[slot]));
    }
    trace_.records_.push_back(std::move(record_));
  }

 private:
  int64_t Elements(const TensorSlot& slot) const {
    const std::optional<int64_t> elements = SlotElements(slot, record_.ints);
    // The public op checked its shapes before calling us.
    AGORA_CHECK(elements.has_value());
    return *elements;
  }

  Hash256 Hash(const TensorSlot& slot, const void* data) {
    if (data == nullptr) return kAbsentTensor;
    const size_t size = static_cast<size_t>(Elements(slot)) * kElementBytes;
    const ByteSpan bytes(static_cast<const uint8_t*>(data), size);
    const Hash256 hash = TensorHash(slot.type, bytes);
    if (trace_.options_.keep_blobs && !trace_.blobs_.contains(hash)) {
      // Kept as served: canonical NaNs, so the bytes hash to their name.
      trace_.blobs_.emplace(hash, CanonicalTensorBytes(slot.type, bytes));
      trace_.blob_bytes_ += size;
    }
    return hash;
  }

  void ApplyFault(const OpTrace::FaultForTesting& fault, std::span<void* const> buffers) const {
    AGORA_CHECK(fault.output >= 0 && static_cast<size_t>(fault.output) < buffers.size());
    const TensorSlot& slot = signature_.outputs[fault.output];
    void* buffer = buffers[fault.output];
    AGORA_CHECK_MSG(buffer != nullptr, "the faulted output is absent from this call");
    AGORA_CHECK(fault.element >= 0 && fault.element < Elements(slot));
    auto* word = static_cast<uint8_t*>(buffer) + fault.element * kElementBytes;
    uint32_t bits = 0;
    std::memcpy(&bits, word, sizeof(bits));
    bits ^= fault.xor_bits;
    std::memcpy(word, &bits, sizeof(bits));
  }

  OpTrace& trace_;
  const OpSignature& signature_;
  OpRecord record_;
};

// Each function below: record the inputs, run the public op with recording
// suspended, record the outputs.

void TracedMatmulForward(OpTrace& trace, Backend backend, float* out, const float* inp,
                         const float* weight, const float* bias, int rows, int in_dim,
                         int out_dim) {
  TraceRecorder recorder(trace, OpKind::kMatmulForward, {rows, in_dim, out_dim}, {},
                         {inp, weight, bias});
  {
    ScopedOpTrace suspend(nullptr);
    MatmulForward(backend, out, inp, weight, bias, rows, in_dim, out_dim);
  }
  recorder.Finish({out});
}

void TracedMatmulBackward(OpTrace& trace, Backend backend, float* dinp, float* dweight,
                          float* dbias, const float* dout, const float* inp, const float* weight,
                          int rows, int in_dim, int out_dim) {
  TraceRecorder recorder(trace, OpKind::kMatmulBackward, {rows, in_dim, out_dim}, {},
                         {dinp, dweight, dbias, dout, inp, weight});
  {
    ScopedOpTrace suspend(nullptr);
    MatmulBackward(backend, dinp, dweight, dbias, dout, inp, weight, rows, in_dim, out_dim);
  }
  recorder.Finish({dinp, dweight, dbias});
}

void TracedBiasForward(OpTrace& trace, Backend backend, float* out, const float* inp,
                       const float* bias, int rows, int channels) {
  TraceRecorder recorder(trace, OpKind::kBiasForward, {rows, channels}, {}, {inp, bias});
  {
    ScopedOpTrace suspend(nullptr);
    BiasForward(backend, out, inp, bias, rows, channels);
  }
  recorder.Finish({out});
}

void TracedBiasBackward(OpTrace& trace, Backend backend, float* dbias, const float* dout, int rows,
                        int channels) {
  TraceRecorder recorder(trace, OpKind::kBiasBackward, {rows, channels}, {}, {dbias, dout});
  {
    ScopedOpTrace suspend(nullptr);
    BiasBackward(backend, dbias, dout, rows, channels);
  }
  recorder.Finish({dbias});
}

void TracedLayerNormForward(OpTrace& trace, Backend backend, float* out, float* mean, float* rstd,
                            const float* inp, const float* weight, const float* bias, int rows,
                            int channels) {
  TraceRecorder recorder(trace, OpKind::kLayerNormForward, {rows, channels}, {},
                         {inp, weight, bias});
  {
    ScopedOpTrace suspend(nullptr);
    LayerNormForward(backend, out, mean, rstd, inp, weight, bias, rows, channels);
  }
  recorder.Finish({out, mean, rstd});
}

void TracedLayerNormBackward(OpTrace& trace, Backend backend, float* dinp, float* dweight,
                             float* dbias, const float* dout, const float* inp, const float* weight,
                             const float* mean, const float* rstd, int rows, int channels) {
  TraceRecorder recorder(trace, OpKind::kLayerNormBackward, {rows, channels}, {},
                         {dinp, dweight, dbias, dout, inp, weight, mean, rstd});
  {
    ScopedOpTrace suspend(nullptr);
    LayerNormBackward(backend, dinp, dweight, dbias, dout, inp, weight, mean, rstd, rows, channels);
  }
  recorder.Finish({dinp, dweight, dbias});
}

void TracedGeluForward(OpTrace& trace, Backend backend, float* out, const float* inp, int64_t n) {
  TraceRecorder recorder(trace, OpKind::kGeluForward, {n}, {}, {inp});
  {
    ScopedOpTrace suspend(nullptr);
    GeluForward(backend, out, inp, n);
  }
  recorder.Finish({out});
}

void TracedGeluBackward(OpTrace& trace, Backend backend, float* dinp, const float* inp,
                        const float* dout, int64_t n) {
  TraceRecorder recorder(trace, OpKind::kGeluBackward, {n}, {}, {dinp, inp, dout});
  {
    ScopedOpTrace suspend(nullptr);
    GeluBackward(backend, dinp, inp, dout, n);
  }
  recorder.Finish({dinp});
}

void TracedResidualForward(OpTrace& trace, Backend backend, float* out, const float* a,
                           const float* b, int64_t n) {
  TraceRecorder recorder(trace, OpKind::kResidualForward, {n}, {}, {a, b});
  {
    ScopedOpTrace suspend(nullptr);
    ResidualForward(backend, out, a, b, n);
  }
  recorder.Finish({out});
}

void TracedResidualBackward(OpTrace& trace, Backend backend, float* da, float* db,
                            const float* dout, int64_t n) {
  TraceRecorder recorder(trace, OpKind::kResidualBackward, {n}, {}, {da, db, dout});
  {
    ScopedOpTrace suspend(nullptr);
    ResidualBackward(backend, da, db, dout, n);
  }
  recorder.Finish({da, db});
}

void TracedAttentionForward(OpTrace& trace, Backend backend, float* out, float* att,
                            const float* qkv, int batch, int seq_len, int channels, int heads) {
  TraceRecorder recorder(trace, OpKind::kAttentionForward, {batch, seq_len, channels, heads}, {},
                         {qkv});
  {
    ScopedOpTrace suspend(nullptr);
    AttentionForward(backend, out, att, qkv, batch, seq_len, channels, heads);
  }
  recorder.Finish({out, att});
}

void TracedAttentionBackward(OpTrace& trace, Backend backend, float* dqkv, const float* dout,
                             const float* qkv, const float* att, int batch, int seq_len,
                             int channels, int heads) {
  TraceRecorder recorder(trace, OpKind::kAttentionBackward, {batch, seq_len, channels, heads}, {},
                         {dqkv, dout, qkv, att});
  {
    ScopedOpTrace suspend(nullptr);
    AttentionBackward(backend, dqkv, dout, qkv, att, batch, seq_len, channels, heads);
  }
  recorder.Finish({dqkv});
}

void TracedSoftmaxForward(OpTrace& trace, Backend backend, float* probs, const float* logits,
                          int rows, int vocab) {
  TraceRecorder recorder(trace, OpKind::kSoftmaxForward, {rows, vocab}, {}, {logits});
  {
    ScopedOpTrace suspend(nullptr);
    SoftmaxForward(backend, probs, logits, rows, vocab);
  }
  recorder.Finish({probs});
}

void TracedCrossEntropyForward(OpTrace& trace, Backend backend, float* losses, float* probs,
                               const float* logits, const int32_t* targets, int rows, int vocab) {
  TraceRecorder recorder(trace, OpKind::kCrossEntropyForward, {rows, vocab}, {}, {logits, targets});
  {
    ScopedOpTrace suspend(nullptr);
    CrossEntropyForward(backend, losses, probs, logits, targets, rows, vocab);
  }
  recorder.Finish({losses, probs});
}

void TracedCrossEntropyBackward(OpTrace& trace, Backend backend, float* dlogits,
                                const float* dlosses, const float* probs, const int32_t* targets,
                                int rows, int vocab) {
  TraceRecorder recorder(trace, OpKind::kCrossEntropyBackward, {rows, vocab}, {},
                         {dlogits, dlosses, probs, targets});
  {
    ScopedOpTrace suspend(nullptr);
    CrossEntropyBackward(backend, dlogits, dlosses, probs, targets, rows, vocab);
  }
  recorder.Finish({dlogits});
}

void TracedEmbeddingForward(OpTrace& trace, Backend backend, float* out, const int32_t* tokens,
                            const float* wte, const float* wpe, int batch, int seq_len,
                            int channels, int vocab) {
  TraceRecorder recorder(trace, OpKind::kEmbeddingForward, {batch, seq_len, channels, vocab}, {},
                         {tokens, wte, wpe});
  {
    ScopedOpTrace suspend(nullptr);
    EmbeddingForward(backend, out, tokens, wte, wpe, batch, seq_len, channels, vocab);
  }
  recorder.Finish({out});
}

void TracedEmbeddingBackward(OpTrace& trace, Backend backend, float* dwte, float* dwpe,
                             const float* dout, const int32_t* tokens, int batch, int seq_len,
                             int channels, int vocab) {
  TraceRecorder recorder(trace, OpKind::kEmbeddingBackward, {batch, seq_len, channels, vocab}, {},
                         {dwte, dwpe, dout, tokens});
  {
    ScopedOpTrace suspend(nullptr);
    EmbeddingBackward(backend, dwte, dwpe, dout, tokens, batch, seq_len, channels, vocab);
  }
  recorder.Finish({dwte, dwpe});
}

void TracedAdamWUpdate(OpTrace& trace, Backend backend, float* params, const float* grads, float* m,
                       float* v, int64_t n, const AdamWConfig& config, int64_t step) {
  TraceRecorder recorder(
      trace, OpKind::kAdamWUpdate, {n, step},
      {config.learning_rate, config.beta1, config.beta2, config.eps, config.weight_decay},
      {params, grads, m, v});
  {
    ScopedOpTrace suspend(nullptr);
    AdamWUpdate(backend, params, grads, m, v, n, config, step);
  }
  recorder.Finish({params, m, v});
}

float TracedSum(OpTrace& trace, Backend backend, const float* x, int64_t n) {
  TraceRecorder recorder(trace, OpKind::kSum, {n}, {}, {x});
  float result = 0.0f;
  {
    ScopedOpTrace suspend(nullptr);
    result = Sum(backend, x, n);
  }
  recorder.Finish({&result});
  return result;
}

float TracedGlobalNorm(OpTrace& trace, Backend backend, const float* grads, int64_t n) {
  TraceRecorder recorder(trace, OpKind::kGlobalNorm, {n}, {}, {grads});
  float result = 0.0f;
  {
    ScopedOpTrace suspend(nullptr);
    result = GlobalNorm(backend, grads, n);
  }
  recorder.Finish({&result});
  return result;
}

float TracedClipGradNorm(OpTrace& trace, Backend backend, float* grads, int64_t n, float max_norm) {
  TraceRecorder recorder(trace, OpKind::kClipGradNorm, {n}, {max_norm}, {grads});
  float norm = 0.0f;
  {
    // ClipGradNorm calls the public GlobalNorm: suspended, so not a record.
    ScopedOpTrace suspend(nullptr);
    norm = ClipGradNorm(backend, grads, n, max_norm);
  }
  recorder.Finish({grads, &norm});
  return norm;
}

}  // namespace agora::kernels::internal
