// The operator trace at the level of single ops: what a record holds (the
// prior contents of in-place buffers as inputs, tokens, returned floats),
// that only the outermost public call is recorded, that recording is per
// thread and scoped, the record encoding, the Merkle root, the comparison of
// two traces, the blob store and the test-only fault. Whole training steps
// are traced in tests/verify/operator_test.cc.
#include "kernels/trace.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <type_traits>
#include <random>
#include <thread>
#include <vector>

#include "common/merkle.h"
#include "kernels/ops.h"
#include "tests/kernels/kernel_test_util.h"

namespace agora::kernels {
namespace {

using testing::Random;
using testing::Reproduce;
using testing::TestSeed;

template <typename T>
Hash256 HashOf(const std::vector<T>& v) {
  constexpr ElementType type =
      std::is_same_v<T, float> ? ElementType::kFloat32 : ElementType::kInt32;
  return TensorHash(type, {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(T)});
}
Hash256 HashOf(float x) {
  uint8_t bytes[4];
  std::memcpy(bytes, &x, 4);
  return TensorHash(ElementType::kFloat32, bytes);
}

constexpr Backend kBackends[] = {Backend::kReference, Backend::kCpu};

TEST(TraceTest, NothingIsRecordedWithoutAnInstalledTrace) {
  std::mt19937_64 rng(TestSeed());
  std::vector<float> x = Random(rng, 40), y(40);
  OpTrace trace;
  GeluForward(Backend::kCpu, y.data(), x.data(), 40);
  EXPECT_TRUE(trace.records().empty());
  {
    ScopedOpTrace scope(&trace);
    GeluForward(Backend::kCpu, y.data(), x.data(), 40);
  }
  GeluForward(Backend::kCpu, y.data(), x.data(), 40);
  ASSERT_EQ(trace.records().size(), 1u);
  EXPECT_EQ(trace.records()[0].kind, OpKind::kGeluForward);
  EXPECT_EQ(trace.records()[0].ints, (std::vector<int64_t>{40}));
}

TEST(TraceTest, ScopesNestAndANullScopeSuspends) {
  std::vector<float> x(8, 1.0f), y(8);
  OpTrace outer, inner;
  {
    ScopedOpTrace a(&outer);
    ResidualForward(Backend::kReference, y.data(), x.data(), x.data(), 8);
    {
      ScopedOpTrace b(&inner);
      ResidualForward(Backend::kReference, y.data(), x.data(), x.data(), 8);
      ResidualForward(Backend::kReference, y.data(), x.data(), x.data(), 8);
      {
        ScopedOpTrace off(nullptr);
        ResidualForward(Backend::kReference, y.data(), x.data(), x.data(), 8);
      }
    }
    ResidualForward(Backend::kReference, y.data(), x.data(), x.data(), 8);
  }
  EXPECT_EQ(outer.records().size(), 2u);
  EXPECT_EQ(inner.records().size(), 2u);
}

TEST(TraceTest, RecordsShapesInputsBeforeAndOutputsAfter) {
  std::mt19937_64 rng(TestSeed());
  const int rows = 5, in_dim = 7, out_dim = 3;
  std::vector<float> inp = Random(rng, rows * in_dim), weight = Random(rng, out_dim * in_dim);
  std::vector<float> out(rows * out_dim), dout = Random(rng, rows * out_dim);
  std::vector<float> dweight = Random(rng, out_dim * in_dim);  // accumulated into
  std::vector<float> dinp(rows * in_dim, 0.0f);
  const std::vector<float> dweight_before = dweight;
  OpTrace trace;
  {
    ScopedOpTrace scope(&trace);
    MatmulForward(Backend::kCpu, out.data(), inp.data(), weight.data(), /*bias=*/nullptr, rows,
                  in_dim, out_dim);
    MatmulBackward(Backend::kCpu, dinp.data(), dweight.data(), /*dbias=*/nullptr, dout.data(),
                   inp.data(), weight.data(), rows, in_dim, out_dim);
  }
  ASSERT_EQ(trace.records().size(), 2u) << Reproduce();
  const OpRecord& forward = trace.records()[0];
  EXPECT_EQ(forward.kind, OpKind::kMatmulForward);
  EXPECT_EQ(forward.ints, (std::vector<int64_t>{rows, in_dim, out_dim}));
  EXPECT_EQ(forward.inputs, (std::vector<Hash256>{HashOf(inp), HashOf(weight), kAbsentTensor}));
  EXPECT_EQ(forward.outputs, (std::vector<Hash256>{HashOf(out)}));

  const OpRecord& backward = trace.records()[1];
  EXPECT_EQ(backward.kind, OpKind::kMatmulBackward);
  // Inputs in argument order: dinp, dweight, dbias (prior contents), dout, inp, weight.
  EXPECT_EQ(backward.inputs, (std::vector<Hash256>{HashOf(std::vector<float>(rows * in_dim, 0.0f)),
                                                   HashOf(dweight_before), kAbsentTensor,
                                                   HashOf(dout), HashOf(inp), HashOf(weight)}));
  EXPECT_EQ(backward.outputs, (std::vector<Hash256>{HashOf(dinp), HashOf(dweight), kAbsentTensor}));
  EXPECT_NE(backward.inputs[1], backward.outputs[1]);
}

TEST(TraceTest, AdamWRecordsItsConfigStepAndPriorState) {
  std::mt19937_64 rng(TestSeed());
  const int64_t n = 33;
  std::vector<float> params = Random(rng, n), grads = Random(rng, n), m = Random(rng, n, 0.1f);
  std::vector<float> v = Random(rng, n, 0.1f);
  for (float& x : v) x = x * x;
  const std::vector<float> params0 = params, m0 = m, v0 = v;
  const AdamWConfig config{
      .learning_rate = 1e-3f, .beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-7f, .weight_decay = 0.1f};
  OpTrace trace;
  {
    ScopedOpTrace scope(&trace);
    AdamWUpdate(Backend::kCpu, params.data(), grads.data(), m.data(), v.data(), n, config,
                /*step=*/7);
  }
  ASSERT_EQ(trace.records().size(), 1u);
  const OpRecord& r = trace.records()[0];
  EXPECT_EQ(r.kind, OpKind::kAdamWUpdate);
  EXPECT_EQ(r.ints, (std::vector<int64_t>{n, 7}));
  ASSERT_EQ(r.floats.size(), 5u);
  const float want[] = {1e-3f, 0.8f, 0.99f, 1e-7f, 0.1f};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(std::bit_cast<uint32_t>(r.floats[i]), std::bit_cast<uint32_t>(want[i])) << i;
  }
  EXPECT_EQ(r.inputs,
            (std::vector<Hash256>{HashOf(params0), HashOf(grads), HashOf(m0), HashOf(v0)}));
  EXPECT_EQ(r.outputs, (std::vector<Hash256>{HashOf(params), HashOf(m), HashOf(v)}));
}

// ClipGradNorm calls the public GlobalNorm: one record, not two.
TEST(TraceTest, OnlyTheOutermostPublicCallIsRecorded) {
  for (Backend backend : kBackends) {
    std::mt19937_64 rng(TestSeed());
    std::vector<float> grads = Random(rng, 1000);
    const std::vector<float> before = grads;
    OpTrace trace;
    float norm = 0.0f;
    {
      ScopedOpTrace scope(&trace);
      norm = ClipGradNorm(backend, grads.data(), 1000, /*max_norm=*/0.5f);
    }
    ASSERT_GT(norm, 0.5f);  // so the gradients really were scaled
    ASSERT_EQ(trace.records().size(), 1u) << BackendName(backend);
    const OpRecord& r = trace.records()[0];
    EXPECT_EQ(r.kind, OpKind::kClipGradNorm);
    EXPECT_EQ(r.ints, (std::vector<int64_t>{1000}));
    EXPECT_EQ(std::bit_cast<uint32_t>(r.floats.at(0)), std::bit_cast<uint32_t>(0.5f));
    EXPECT_EQ(r.inputs, (std::vector<Hash256>{HashOf(before)}));
    EXPECT_EQ(r.outputs, (std::vector<Hash256>{HashOf(grads), HashOf(norm)}));
    EXPECT_NE(HashOf(before), HashOf(grads));
  }
}

TEST(TraceTest, TokensAndReturnedFloatsAreHashed) {
  std::mt19937_64 rng(TestSeed());
  const int batch = 2, seq_len = 3, channels = 4, vocab = 5;
  std::vector<int32_t> tokens = {0, 4, 2, 2, 1, 3};
  std::vector<float> wte = Random(rng, vocab * channels), wpe = Random(rng, seq_len * channels);
  std::vector<float> out(batch * seq_len * channels);
  OpTrace trace;
  float sum = 0.0f;
  {
    ScopedOpTrace scope(&trace);
    EmbeddingForward(Backend::kCpu, out.data(), tokens.data(), wte.data(), wpe.data(), batch,
                     seq_len, channels, vocab);
    sum = Sum(Backend::kCpu, out.data(), static_cast<int64_t>(out.size()));
  }
  ASSERT_EQ(trace.records().size(), 2u);
  EXPECT_EQ(trace.records()[0].inputs,
            (std::vector<Hash256>{HashOf(tokens), HashOf(wte), HashOf(wpe)}));
  EXPECT_EQ(trace.records()[1].kind, OpKind::kSum);
  EXPECT_EQ(trace.records()[1].outputs, (std::vector<Hash256>{HashOf(sum)}));
}

TEST(TraceTest, KeepsEveryHashedTensorAsABlobOnlyWhenAsked) {
  std::mt19937_64 rng(TestSeed());
  std::vector<float> x = Random(rng, 64), y(64), dy = Random(rng, 64), dx(64, 0.0f);
  OpTrace with_blobs(OpTrace::Options{.keep_blobs = true}), without;
  for (OpTrace* trace : {&with_blobs, &without}) {
    ScopedOpTrace scope(trace);
    GeluForward(Backend::kCpu, y.data(), x.data(), 64);
    GeluBackward(Backend::kCpu, dx.data(), x.data(), dy.data(), 64);
  }
  EXPECT_TRUE(without.blobs().empty());
  EXPECT_EQ(without.blob_bytes(), 0u);
  uint64_t bytes = 0;
  for (const auto& [hash, blob] : with_blobs.blobs()) {
    EXPECT_EQ(TensorHash(ElementType::kFloat32, blob), hash);  // Gelu's are all float32
    bytes += blob.size();
  }
  EXPECT_EQ(with_blobs.blob_bytes(), bytes);
  for (const OpRecord& r : with_blobs.records()) {
    for (const auto* hashes : {&r.inputs, &r.outputs}) {
      for (const Hash256& h : *hashes) ASSERT_NE(with_blobs.FindBlob(h), nullptr);
    }
  }
  // x, y, dy, zeros (dx before), dx after: x is read twice but kept once.
  EXPECT_EQ(with_blobs.blobs().size(), 5u);
  EXPECT_EQ(bytes, 5u * 64 * 4);
}

OpRecord SampleRecord() {
  OpRecord r;
  r.kind = OpKind::kClipGradNorm;
  r.ints = {-3};  // encodings do not judge shapes
  r.floats = {-0.0f};
  r.inputs = {Blake2b256("in")};
  r.outputs = {Blake2b256("out"), kAbsentTensor};
  return r;
}

TEST(TraceTest, RecordEncodingRoundTripsAndRejectsDamage) {
  const OpRecord r = SampleRecord();
  const Bytes bytes = EncodeOpRecord(r);
  EXPECT_EQ(bytes.size(), 2u + 1 + 8 + 1 + 4 + 1 + 32 + 1 + 64);
  auto decoded = DecodeOpRecord(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, r);
  EXPECT_EQ(OpRecordHash(r), Blake2b256(bytes));

  // +0 and -0 are different records: floats compare by bits.
  OpRecord plus_zero = r;
  plus_zero.floats = {0.0f};
  EXPECT_FALSE(plus_zero == r);
  EXPECT_NE(OpRecordHash(plus_zero), OpRecordHash(r));

  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_EQ(DecodeOpRecord(ByteSpan(bytes).first(cut)).status().code(), StatusCode::kCorruption)
        << cut;
  }
  Bytes trailing = bytes;
  trailing.push_back(0);
  EXPECT_EQ(DecodeOpRecord(trailing).status().code(), StatusCode::kCorruption);
  Bytes version = bytes;
  version[0] = 2;
  EXPECT_EQ(DecodeOpRecord(version).status().code(), StatusCode::kCorruption);
  Bytes kind = bytes;
  kind[1] = kOpKindMax + 1;
  EXPECT_EQ(DecodeOpRecord(kind).status().code(), StatusCode::kCorruption);
  Bytes other_kind = bytes;
  other_kind[1] = static_cast<uint8_t>(OpKind::kSum);  // Sum has no floats
  auto mismatch = DecodeOpRecord(other_kind);
  EXPECT_EQ(mismatch.status().code(), StatusCode::kCorruption);
  EXPECT_NE(mismatch.status().message().find("Sum"), std::string::npos)
      << mismatch.status().ToString();
}

TEST(TraceTest, RootIsTheMerkleRootOverRecordHashes) {
  std::vector<OpRecord> records(5, SampleRecord());
  for (size_t i = 0; i < records.size(); ++i) records[i].ints = {static_cast<int64_t>(i)};
  const std::vector<Hash256> hashes = OpRecordHashes(records);
  ASSERT_EQ(hashes.size(), 5u);
  EXPECT_EQ(hashes[2], Blake2b256(EncodeOpRecord(records[2])));
  EXPECT_EQ(OpTraceRoot(records), merkle::Root(hashes));
  EXPECT_EQ(OpTraceRoot({}), Hash256{});
  std::vector<OpRecord> changed = records;
  changed[4].outputs[1] = Blake2b256("x");
  EXPECT_NE(OpTraceRoot(changed), OpTraceRoot(records));
  // A referee can check one record against the root with a proof.
  const merkle::Proof proof = merkle::Prove(hashes, 3);
  EXPECT_TRUE(merkle::Verify(OpTraceRoot(records), OpRecordHash(records[3]), proof));
  EXPECT_FALSE(merkle::Verify(OpTraceRoot(records), OpRecordHash(changed[4]), proof));
}

TEST(TraceTest, FirstDivergenceSaysWhereAndHow) {
  std::vector<OpRecord> a(6, SampleRecord());
  for (size_t i = 0; i < a.size(); ++i) a[i].ints = {static_cast<int64_t>(i)};
  EXPECT_FALSE(FirstDivergence(a, a).has_value());
  EXPECT_FALSE(FirstOutputDivergence(a, a).has_value());

  std::vector<OpRecord> b = a;
  b[3].outputs[0] = Blake2b256("lie");
  b[4].inputs[0] = Blake2b256("lie flows on");
  auto d = FirstDivergence(a, b);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->index, 3u);
  EXPECT_EQ(d->kind, DivergenceKind::kOutputs);
  EXPECT_EQ(FirstOutputDivergence(a, b), std::optional<uint64_t>(3));

  b = a;
  b[2].inputs[0] = Blake2b256("other input");
  d = FirstDivergence(a, b);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->index, 2u);
  EXPECT_EQ(d->kind, DivergenceKind::kInputs);
  EXPECT_FALSE(FirstOutputDivergence(a, b).has_value());

  b = a;
  b[1].floats = {1.0f};
  d = FirstDivergence(a, b);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->index, 1u);
  EXPECT_EQ(d->kind, DivergenceKind::kOperator);

  b = a;
  b.pop_back();
  d = FirstDivergence(a, b);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->index, 5u);
  EXPECT_EQ(d->kind, DivergenceKind::kLength);
}

TEST(TraceTest, TheRecorderIsPerThread) {
  std::vector<float> x(16, 2.0f), y(16), z(16);
  OpTrace mine, theirs;
  ScopedOpTrace scope(&mine);
  std::thread other([&] {
    GeluForward(Backend::kReference, z.data(), x.data(), 16);  // nothing installed here
    ScopedOpTrace their_scope(&theirs);
    GeluForward(Backend::kReference, z.data(), x.data(), 16);
    GeluForward(Backend::kReference, z.data(), x.data(), 16);
  });
  other.join();
  GeluForward(Backend::kReference, y.data(), x.data(), 16);
  EXPECT_EQ(mine.records().size(), 1u);
  EXPECT_EQ(theirs.records().size(), 2u);
}

TEST(TraceTest, TheTestFaultCorruptsOneElementOfOneCallOnce) {
  std::mt19937_64 rng(TestSeed());
  std::vector<float> x = Random(rng, 32), y(32);
  std::vector<std::vector<float>> outs;
  OpTrace trace;
  trace.InjectFaultForTesting({.record_index = 1, .output = 0, .element = 5, .xor_bits = 1});
  {
    ScopedOpTrace scope(&trace);
    for (int call = 0; call < 3; ++call) {
      GeluForward(Backend::kCpu, y.data(), x.data(), 32);
      outs.push_back(y);
    }
  }
  ASSERT_EQ(trace.records().size(), 3u);
  EXPECT_EQ(outs[0], outs[2]);
  for (int i = 0; i < 32; ++i) {
    const uint32_t want = std::bit_cast<uint32_t>(outs[0][i]) ^ (i == 5 ? 1u : 0u);
    EXPECT_EQ(std::bit_cast<uint32_t>(outs[1][i]), want) << i;
  }
  EXPECT_EQ(trace.records()[1].outputs[0], HashOf(outs[1]));
  EXPECT_EQ(FirstOutputDivergence(std::span(trace.records()).first(2),
                                  std::vector<OpRecord>{trace.records()[0], trace.records()[2]}),
            std::optional<uint64_t>(1));
}

// Every kind has a signature whose in-place outputs have the same shape as
// the input that holds their prior contents.
TEST(TraceTest, SignaturesAreConsistent) {
  for (uint8_t value = 1; value <= kOpKindMax; ++value) {
    ASSERT_TRUE(IsOpKind(value));
    const auto kind = static_cast<OpKind>(value);
    const OpSignature& signature = SignatureOf(kind);
    EXPECT_EQ(signature.kind, kind);
    EXPECT_NE(OpKindName(kind), "unknown");
    EXPECT_FALSE(signature.outputs.empty()) << OpKindName(kind);
    for (const TensorSlot& out : signature.outputs) {
      EXPECT_EQ(out.type, ElementType::kFloat32);
      if (out.pre_input < 0) continue;
      ASSERT_LT(static_cast<size_t>(out.pre_input), signature.inputs.size());
      const TensorSlot& in = signature.inputs[out.pre_input];
      EXPECT_EQ(in.name, out.name) << OpKindName(kind);
      EXPECT_EQ(in.factor, out.factor);
      EXPECT_EQ(in.dim_count, out.dim_count);
      for (int d = 0; d < in.dim_count; ++d) EXPECT_EQ(in.dims[d], out.dims[d]);
      EXPECT_EQ(in.optional, out.optional);
    }
  }
  EXPECT_FALSE(IsOpKind(0));
  EXPECT_FALSE(IsOpKind(kOpKindMax + 1));
  const TensorSlot& att = SignatureOf(OpKind::kAttentionForward).outputs[1];
  EXPECT_EQ(SlotElements(att, std::vector<int64_t>{2, 5, 8, 4}),
            std::optional<int64_t>(2 * 4 * 5 * 5));
  const int64_t big = int64_t{1} << 40;
  EXPECT_FALSE(SlotElements(att, std::vector<int64_t>{1, big, 8, 1}).has_value());
  const TensorSlot& inp = SignatureOf(OpKind::kMatmulForward).inputs[0];
  EXPECT_FALSE(SlotElements(inp, std::vector<int64_t>{-1, 4, 4}).has_value());
  EXPECT_FALSE(SlotElements(inp, std::vector<int64_t>{4}).has_value());  // too few
}


// Which NaN an op returns is not part of the contract (docs/determinism.md):
// a float32 tensor hashes with every NaN as 0x7fc00000, so a referee on
// another machine sees no divergence there; an int32 tensor hashes its
// bits as they are (-1 is not a NaN); op records encode float arguments
// the same way (and the referee compares them so).
TEST(TraceTest, NaNsHashAsTheOneCanonicalNaNInFloatTensorsOnly) {
  const float x86_nan = std::bit_cast<float>(0xffc00000u);
  const float arm_nan = std::bit_cast<float>(0x7fc00000u);
  const float payload_nan = std::bit_cast<float>(0x7fc00123u);
  const std::vector<float> a{1.0f, x86_nan, -0.0f}, b{1.0f, arm_nan, -0.0f},
      c{1.0f, payload_nan, -0.0f}, d{1.0f, 2.0f, -0.0f}, e{1.0f, x86_nan, 0.0f};
  EXPECT_EQ(HashOf(a), HashOf(b));
  EXPECT_EQ(HashOf(c), HashOf(b));
  EXPECT_NE(HashOf(d), HashOf(b)) << "a NaN is still a NaN";
  EXPECT_NE(HashOf(e), HashOf(a)) << "signed zeros still count";
  const std::vector<int32_t> minus_one{-1, 5}, nan_bits{0x7fc00000, 5};
  EXPECT_NE(HashOf(minus_one), HashOf(nan_bits)) << "int32 bits are not floats";
  OpRecord r1, r2;
  r1.kind = r2.kind = OpKind::kAdamWUpdate;
  r1.floats = {0.001f, x86_nan};
  r2.floats = {0.001f, payload_nan};
  EXPECT_EQ(EncodeOpRecord(r1), EncodeOpRecord(r2));
  r2.floats = {0.001f, 1.0f};
  EXPECT_NE(EncodeOpRecord(r1), EncodeOpRecord(r2));

  // A trace keeps a tensor as it serves it, canonical: its bytes hash to
  // its name, so a referee can fetch it by that name from a blob store
  // (found in review, 2026-12-03: the raw bytes were kept under the
  // canonical hash, and a store named them by another).
  std::vector<float> x(8, 0.5f), y(8);
  x[3] = x86_nan;
  OpTrace trace(OpTrace::Options{.keep_blobs = true});
  {
    ScopedOpTrace scope(&trace);
    GeluForward(Backend::kCpu, y.data(), x.data(), 8);
  }
  ASSERT_EQ(trace.blobs().size(), 2u);
  for (const auto& [hash, blob] : trace.blobs()) {
    EXPECT_EQ(Blake2b256(blob), hash);
    uint32_t bits = 0;
    std::memcpy(&bits, blob.data() + 3 * 4, 4);
    EXPECT_EQ(bits, 0x7fc00000u);
  }
  EXPECT_EQ(trace.records().at(0).inputs.at(0), HashOf(x));
}

}  // namespace
}  // namespace agora::kernels
