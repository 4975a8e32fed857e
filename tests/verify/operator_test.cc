// The operator trace of whole training steps and the single-operator
// recompute (PROTOCOL.md §8, steps 2 and 3): the reference and the fast CPU
// kernels give the same trace; every recorded call recomputes from its blobs
// with the reference kernels; a run that corrupts one element of one call's
// output is pinned to exactly that call, and the recompute convicts it while
// clearing the honest record; damaged blobs and impossible records are clear
// errors.
#include "verify/operator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>

#include "kernels/trace.h"
#include "tests/trainer/trainer_test_util.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/train_state.h"
#include "verify/dispute.h"
#include "tests/test_util.h"

namespace agora::verify {
namespace {

using kernels::Backend;
using kernels::OpKind;
using kernels::OpRecord;
using kernels::OpTrace;
using trainer::TrainState;

uint64_t Seed() { return agora::testing::TestSeed(17u); }

std::string Reproduce() { return agora::testing::ReproduceLine(Seed()); }

struct TracedStep {
  std::vector<OpRecord> records;
  Hash256 root;
  std::map<Hash256, Bytes> blobs;
  Hash256 state_after;  // CheckpointHash after the step
};

// One Trainer::Step from `start`, recorded; `fault` makes it dishonest.
TracedStep TraceStep(const TrainState& start, const trainer::Corpus& corpus, Backend backend,
                     bool keep_blobs,
                     std::optional<OpTrace::FaultForTesting> fault = std::nullopt) {
  auto trainer = trainer::Trainer::Create(start, corpus, backend);
  AGORA_CHECK(trainer.ok());
  OpTrace trace(OpTrace::Options{.keep_blobs = keep_blobs});
  if (fault.has_value()) trace.InjectFaultForTesting(*fault);
  {
    kernels::ScopedOpTrace scope(&trace);
    trainer->Step();
  }
  return {trace.records(), trace.Root(), trace.blobs(), trainer::CheckpointHash(trainer->state())};
}

// Index of the `occurrence`-th record of `kind` (0-based).
uint64_t IndexOf(const std::vector<OpRecord>& records, OpKind kind, int occurrence) {
  for (uint64_t i = 0; i < records.size(); ++i) {
    if (records[i].kind == kind && occurrence-- == 0) return i;
  }
  ADD_FAILURE() << "no such record";
  return 0;
}

size_t CountOf(const std::vector<OpRecord>& records, OpKind kind) {
  return static_cast<size_t>(std::count_if(records.begin(), records.end(),
                                           [&](const OpRecord& r) { return r.kind == kind; }));
}

// The micro model (2 layers) after one untraced step, so that the traced
// step's AdamW runs at step 2 on non-zero moments; its honest traces on both
// backends, the fast one with blobs.
struct Fixture {
  trainer::Corpus corpus = trainer::ShakespeareCorpus(1 << 16);
  trainer::TrainConfig config = trainer::MicroConfig();
  TrainState start;
  TracedStep reference, fast;
  Hash256 untraced_after;
};

class OperatorTraceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fixture_ = std::make_unique<Fixture>();
    Fixture& f = *fixture_;
    auto trainer = trainer::Trainer::Create(TrainState::Fresh(f.config, f.corpus.hash()), f.corpus,
                                            Backend::kCpu);
    ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
    trainer->Step();
    f.start = trainer->state();
    trainer->Step();
    f.untraced_after = trainer::CheckpointHash(trainer->state());
    f.reference = TraceStep(f.start, f.corpus, Backend::kReference, /*keep_blobs=*/false);
    f.fast = TraceStep(f.start, f.corpus, Backend::kCpu, /*keep_blobs=*/true);
  }
  static void TearDownTestSuite() { fixture_.reset(); }
  Fixture& f() { return *fixture_; }

  static std::unique_ptr<Fixture> fixture_;
};
std::unique_ptr<Fixture> OperatorTraceTest::fixture_;

TEST_F(OperatorTraceTest, ReferenceAndCpuTracesOfAStepAreIdentical) {
  const std::vector<OpRecord>& records = f().fast.records;
  const int64_t layers = f().config.model.layers;
  const size_t tensors = trainer::ParameterLayout(f().config.model).tensors.size();
  // Forward: embedding, 10 calls per layer, final norm, logits, cross-entropy,
  // loss sum. Backward: cross-entropy, logits, final norm, 10 per layer,
  // embedding. Update: one ClipGradNorm (its GlobalNorm is nested), one
  // AdamW per parameter tensor.
  const size_t forward = 1 + 10 * layers + 4, backward = 3 + 10 * layers + 1;
  ASSERT_EQ(records.size(), forward + backward + 1 + tensors);
  EXPECT_EQ(CountOf(records, OpKind::kMatmulForward), static_cast<size_t>(4 * layers + 1));
  EXPECT_EQ(CountOf(records, OpKind::kMatmulBackward), static_cast<size_t>(4 * layers + 1));
  EXPECT_EQ(CountOf(records, OpKind::kAttentionForward), static_cast<size_t>(layers));
  EXPECT_EQ(CountOf(records, OpKind::kAttentionBackward), static_cast<size_t>(layers));
  EXPECT_EQ(CountOf(records, OpKind::kAdamWUpdate), tensors);
  EXPECT_EQ(CountOf(records, OpKind::kClipGradNorm), 1u);
  EXPECT_EQ(CountOf(records, OpKind::kGlobalNorm), 0u);
  EXPECT_EQ(records.front().kind, OpKind::kEmbeddingForward);
  EXPECT_EQ(records[forward].kind, OpKind::kCrossEntropyBackward);
  EXPECT_EQ(records[forward + backward].kind, OpKind::kClipGradNorm);
  EXPECT_EQ(records.back().kind, OpKind::kAdamWUpdate);
  EXPECT_EQ(records.back().ints, (std::vector<int64_t>{f().config.model.width, /*step=*/2}));

  const auto divergence = kernels::FirstDivergence(f().reference.records, records);
  EXPECT_FALSE(divergence.has_value())
      << "reference and fast traces part at record " << divergence->index << " ("
      << kernels::OpKindName(records[divergence->index].kind) << ", "
      << kernels::DivergenceKindName(divergence->kind) << ")";
  EXPECT_EQ(f().reference.root, f().fast.root);
  EXPECT_EQ(f().fast.root, kernels::OpTraceRoot(records));
  // Recording does not change a bit of the step.
  EXPECT_EQ(f().reference.state_after, f().untraced_after);
  EXPECT_EQ(f().fast.state_after, f().untraced_after);
}

TEST_F(OperatorTraceTest, EveryRecordOfAStepRecomputesFromItsBlobs) {
  const BlobLookup lookup = LookupIn(f().fast.blobs);
  for (size_t i = 0; i < f().fast.records.size(); ++i) {
    const OpRecord& record = f().fast.records[i];
    auto outputs = RecomputeOperator(record, lookup);
    ASSERT_TRUE(outputs.ok()) << i << ": " << outputs.status().ToString();
    EXPECT_EQ(*outputs, record.outputs)
        << "record " << i << " " << kernels::OpKindName(record.kind);
    EXPECT_TRUE(OutputsMatch(record, *outputs));
  }
}

struct FaultCase {
  const char* what;
  OpKind kind;
  int occurrence;
  int output;
};

TEST_F(OperatorTraceTest, ACorruptedOperatorIsPinnedAndConvictedByTheRecompute) {
  const std::vector<OpRecord>& honest = f().fast.records;
  const int last_layer = f().config.model.layers - 1;
  const int last_tensor =
      static_cast<int>(trainer::ParameterLayout(f().config.model).tensors.size()) - 1;
  const FaultCase cases[] = {
      {"attention output, layer 0", OpKind::kAttentionForward, 0, 0},
      {"attention output, last layer", OpKind::kAttentionForward, last_layer, 0},
      {"attention probabilities, layer 0", OpKind::kAttentionForward, 0, 1},
      {"GELU, last layer", OpKind::kGeluForward, last_layer, 0},
      {"loss sum", OpKind::kSum, 0, 0},
      {"logits backward, wte gradient", OpKind::kMatmulBackward, 0, 1},
      {"attention backward, last layer", OpKind::kAttentionBackward, 0, 0},
      {"layer norm backward, dbias", OpKind::kLayerNormBackward, 1, 2},
      {"embedding backward, dwpe", OpKind::kEmbeddingBackward, 0, 1},
      {"clipped gradients", OpKind::kClipGradNorm, 0, 0},
      {"gradient norm", OpKind::kClipGradNorm, 0, 1},
      {"AdamW params of qkvw", OpKind::kAdamWUpdate, 4, 0},
      {"AdamW v of the last tensor", OpKind::kAdamWUpdate, last_tensor, 2},
  };
  std::mt19937_64 rng(Seed());
  for (const FaultCase& c : cases) {
    const uint64_t n = IndexOf(honest, c.kind, c.occurrence);
    const kernels::OpSignature& signature = kernels::SignatureOf(c.kind);
    const int64_t elements = *kernels::SlotElements(signature.outputs[c.output], honest[n].ints);
    const int64_t element = std::uniform_int_distribution<int64_t>(0, elements - 1)(rng);
    SCOPED_TRACE(::testing::Message()
                 << c.what << ": record " << n << ", element " << element << "; " << Reproduce());
    const TracedStep bad =
        TraceStep(f().start, f().corpus, Backend::kCpu, /*keep_blobs=*/true,
                  OpTrace::FaultForTesting{
                      .record_index = n, .output = c.output, .element = element, .xor_bits = 1});
    EXPECT_NE(bad.root, f().fast.root);
    const auto divergence = kernels::FirstDivergence(honest, bad.records);
    ASSERT_TRUE(divergence.has_value());
    EXPECT_EQ(divergence->index, n);
    EXPECT_EQ(divergence->kind, kernels::DivergenceKind::kOutputs);
    EXPECT_EQ(kernels::FirstOutputDivergence(honest, bad.records), std::optional<uint64_t>(n));

    // The referee: the cheat's record does not follow from its inputs, and
    // what they give is the honest record's outputs; the honest record does.
    auto recomputed = RecomputeOperator(bad.records[n], LookupIn(bad.blobs));
    ASSERT_TRUE(recomputed.ok()) << recomputed.status().ToString();
    EXPECT_FALSE(OutputsMatch(bad.records[n], *recomputed));
    EXPECT_EQ(*recomputed, honest[n].outputs);
    auto honest_matches = RecomputeMatches(honest[n], LookupIn(f().fast.blobs));
    ASSERT_TRUE(honest_matches.ok()) << honest_matches.status().ToString();
    EXPECT_TRUE(*honest_matches);
  }
}

// ---- bad input to the recompute ----

class OperatorRecomputeTest : public OperatorTraceTest {
 protected:
  const OpRecord& First(OpKind kind) {
    return f().fast.records[IndexOf(f().fast.records, kind, 0)];
  }

  void ExpectError(const OpRecord& record, const BlobLookup& lookup, StatusCode code,
                   std::string_view needle) {
    auto result = RecomputeOperator(record, lookup);
    ASSERT_FALSE(result.ok()) << "accepted " << kernels::OpKindName(record.kind);
    EXPECT_EQ(result.status().code(), code) << result.status().ToString();
    EXPECT_NE(result.status().message().find(needle), std::string::npos)
        << result.status().ToString() << " lacks '" << needle << "'";
  }
};

TEST_F(OperatorRecomputeTest, ABlobThatDoesNotMatchItsHashIsCorruption) {
  const OpRecord& record = First(OpKind::kMatmulForward);
  const Hash256 weight = record.inputs[1];
  const BlobLookup honest = LookupIn(f().fast.blobs);
  const BlobLookup tampered = [&](const Hash256& hash) -> Result<Bytes> {
    Result<Bytes> blob = honest(hash);
    if (blob.ok() && hash == weight) (*blob)[7] ^= 0x01;
    return blob;
  };
  ExpectError(record, tampered, StatusCode::kCorruption, "input 'weight'");
}

TEST_F(OperatorRecomputeTest, AMissingBlobKeepsTheLookupsError) {
  const OpRecord& record = First(OpKind::kMatmulForward);
  std::map<Hash256, Bytes> blobs = f().fast.blobs;
  blobs.erase(record.inputs[0]);
  ExpectError(record, LookupIn(blobs), StatusCode::kNotFound, "input 'inp'");
  const BlobLookup offline = [](const Hash256&) -> Result<Bytes> {
    return Status::Unavailable("peer offline");
  };
  ExpectError(record, offline, StatusCode::kUnavailable, "peer offline");
}

TEST_F(OperatorRecomputeTest, ImpossibleRecordsAreInvalidArguments) {
  const BlobLookup lookup = LookupIn(f().fast.blobs);
  const OpRecord& matmul = First(OpKind::kMatmulForward);
  OpRecord r = matmul;
  r.ints[0] = -1;
  ExpectError(r, lookup, StatusCode::kInvalidArgument, "rows = -1");
  r = matmul;
  r.ints[1] = int64_t{std::numeric_limits<int>::max()} + 1;
  ExpectError(r, lookup, StatusCode::kInvalidArgument, "in_dim");
  r = matmul;
  r.ints[0] += 1;  // valid alone, but the blobs are one row short
  ExpectError(r, lookup, StatusCode::kInvalidArgument, "bytes, the record's shapes say");
  r = matmul;
  r.inputs.pop_back();
  ExpectError(r, lookup, StatusCode::kInvalidArgument, "wrong number");
  r = matmul;
  r.inputs[0] = kernels::kAbsentTensor;
  ExpectError(r, lookup, StatusCode::kInvalidArgument, "input 'inp' is required");
  r = matmul;
  r.kind = static_cast<OpKind>(99);
  ExpectError(r, lookup, StatusCode::kInvalidArgument, "unknown op kind 99");

  const OpRecord& attention = First(OpKind::kAttentionForward);
  r = attention;
  r.ints[3] = 3;  // heads that do not divide the channels
  ExpectError(r, lookup, StatusCode::kInvalidArgument, "multiple of heads");
  r = attention;
  r.ints = {1, 1 << 16, 1, 1};  // a small qkv, 2^32 attention probabilities
  ExpectError(r, lookup, StatusCode::kInvalidArgument, "output 'att': its shape");

  r = First(OpKind::kMatmulBackward);
  r.inputs[5] = kernels::kAbsentTensor;  // dinp without weight
  ExpectError(r, lookup, StatusCode::kInvalidArgument, "dinp needs weight");
  r = First(OpKind::kMatmulBackward);
  r.outputs[0] = kernels::kAbsentTensor;  // updated in place, yet only one side present
  ExpectError(r, lookup, StatusCode::kInvalidArgument, "present as an input iff");

  r = First(OpKind::kAdamWUpdate);
  r.ints[1] = int64_t{1} << 40;
  ExpectError(r, lookup, StatusCode::kInvalidArgument, "AdamWUpdate step");
}

TEST_F(OperatorRecomputeTest, TokensOutsideTheVocabularyAreInvalidArguments) {
  OpRecord r = First(OpKind::kEmbeddingForward);
  std::map<Hash256, Bytes> blobs = f().fast.blobs;
  Bytes tokens = blobs.at(r.inputs[0]);
  const int32_t vocab = static_cast<int32_t>(r.ints[3]);
  std::memcpy(tokens.data() + 4 * 3, &vocab, 4);  // token 3 := vocab
  r.inputs[0] = kernels::TensorHash(kernels::ElementType::kInt32, tokens);
  blobs[r.inputs[0]] = tokens;
  ExpectError(r, LookupIn(blobs), StatusCode::kInvalidArgument, "outside the vocabulary");
}

// Not a check: the numbers docs/dispute.md quotes. For the micro model and
// the tiny preset: the trace's size, and against one warm fast (kCpu) step
// the cost of the same step traced with blobs, of a reference step, of
// recomputing every record and of recomputing the costliest single record.
// The votes of losses and delta referees hash the layout docs/dispute.md
// gives, byte for byte, and every field counts.
TEST(DisputeDigestTest, LossesAndDeltaDigestsHashTheDocumentedBytes) {
  const Hash256 start = Blake2b256(AsBytes("a segment's start"));
  const std::vector<uint32_t> losses = {0x40490fdbu, 0x3f800000u, 0x00000001u};
  auto bytes_of = [](std::string_view s) { return Bytes(s.begin(), s.end()); };
  Bytes expected = bytes_of("agora-dispute-losses-v1");
  expected.insert(expected.end(), start.span().begin(), start.span().end());
  for (uint32_t x : {uint32_t{3}, losses[0], losses[1], losses[2]}) {
    for (int shift = 24; shift >= 0; shift -= 8) expected.push_back(static_cast<uint8_t>(x >> shift));
  }
  EXPECT_EQ(verify::LossesDigest(start, losses), Blake2b256(expected));
  std::vector<uint32_t> flipped = losses;
  flipped[2] ^= 1;
  EXPECT_NE(verify::LossesDigest(start, flipped), verify::LossesDigest(start, losses));
  EXPECT_NE(verify::LossesDigest(Blake2b256(AsBytes("another start")), losses),
            verify::LossesDigest(start, losses));
  const std::vector<uint32_t> fewer(losses.begin(), losses.end() - 1);
  EXPECT_NE(verify::LossesDigest(start, fewer), verify::LossesDigest(start, losses));

  Bytes delta = bytes_of("agora-dispute-delta-v1");
  delta.insert(delta.end(), start.span().begin(), start.span().end());
  EXPECT_EQ(verify::DeltaDigest(start), Blake2b256(delta));
  EXPECT_NE(verify::DeltaDigest(Hash256{}), verify::DeltaDigest(start));
  // A digest of one kind is never another's for the same hashes.
  EXPECT_NE(verify::DeltaDigest(start), verify::StepDigest(start, start));
}

TEST(OperatorTraceCost, PrintsTraceSizeAndRecomputeCost) {
  using Clock = std::chrono::steady_clock;
  auto seconds_since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  const trainer::Corpus corpus = trainer::ShakespeareCorpus(1 << 16);
  auto tiny = trainer::PresetConfig("tiny");
  ASSERT_TRUE(tiny.ok()) << tiny.status().ToString();
  for (const auto& [name, config] :
       {std::pair{"micro", trainer::MicroConfig()}, std::pair{"tiny", *tiny}}) {
    auto fast =
        trainer::Trainer::Create(TrainState::Fresh(config, corpus.hash()), corpus, Backend::kCpu);
    auto reference = trainer::Trainer::Create(TrainState::Fresh(config, corpus.hash()), corpus,
                                              Backend::kReference);
    ASSERT_TRUE(fast.ok() && reference.ok());
    fast->Step();  // warm: buffers allocated, threads started
    const TrainState start = fast->state();
    // The fastest of three: this machine may be shared.
    double fast_s = 1e9, traced_s = 1e9;
    Clock::time_point t;
    for (int i = 0; i < 3; ++i) {
      t = Clock::now();
      fast->Step();
      fast_s = std::min(fast_s, seconds_since(t));
    }
    TracedStep traced;
    for (int i = 0; i < 3; ++i) {
      t = Clock::now();
      traced = TraceStep(start, corpus, Backend::kCpu, /*keep_blobs=*/true);
      traced_s = std::min(traced_s, seconds_since(t));
    }
    t = Clock::now();
    reference->Step();
    const double reference_s = seconds_since(t);

    uint64_t record_bytes = 0, blob_bytes = 0;
    for (const OpRecord& r : traced.records) record_bytes += kernels::EncodeOpRecord(r).size();
    for (const auto& [hash, blob] : traced.blobs) blob_bytes += blob.size();
    double all_s = 0, max_s = 0;
    OpKind max_kind{};
    const BlobLookup lookup = LookupIn(traced.blobs);
    for (const OpRecord& r : traced.records) {
      t = Clock::now();
      auto outputs = RecomputeOperator(r, lookup);
      const double s = seconds_since(t);
      ASSERT_TRUE(outputs.ok() && *outputs == r.outputs);
      all_s += s;
      if (s > max_s) {
        max_s = s;
        max_kind = r.kind;
      }
    }
    std::printf(
        "%s (%d layers): %zu records/step, %llu bytes of records, %zu blobs (%.1f MiB), "
        "fast step %.1f ms\n"
        "  times one fast step: traced with blobs %.2f, reference step %.2f, recompute all "
        "records %.2f, costliest record (%s) %.3f, mean record %.4f\n",
        name, config.model.layers, traced.records.size(),
        static_cast<unsigned long long>(record_bytes), traced.blobs.size(),
        static_cast<double>(blob_bytes) / (1 << 20), fast_s * 1e3, traced_s / fast_s,
        reference_s / fast_s, all_s / fast_s, std::string(kernels::OpKindName(max_kind)).c_str(),
        max_s / fast_s, all_s / static_cast<double>(traced.records.size()) / fast_s);
  }
}

// A delta referee's secret is the float difference before its encoding,
// which no blob holds (the checkpoints' bytes, the secret until
// 2026-12-05, are had by fetching them), so a referee must subtract to
// show a good witness.
TEST(DeltaRefereeSecretTest, IsTheSecretOfTheFloatDifference) {
  const std::vector<float> round = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f};
  std::vector<float> final_params = {0.5f, 1.0f, 3.25f, -0.0f, 2e-30f};
  const std::vector<float> difference = {1.0f, -3.0f, 0.0f, 0.0f, 1e-30f - 2e-30f};
  const ByteSpan expected[] = {
      ByteSpan(reinterpret_cast<const uint8_t*>(difference.data()), difference.size() * 4)};
  const Hash256 secret = DeltaRefereeSecret(round, final_params);
  EXPECT_EQ(secret, RefereeSecret(expected));
  // Not the secret of either state's bytes.
  const ByteSpan states[] = {
      ByteSpan(reinterpret_cast<const uint8_t*>(round.data()), round.size() * 4),
      ByteSpan(reinterpret_cast<const uint8_t*>(final_params.data()), final_params.size() * 4)};
  EXPECT_NE(secret, RefereeSecret(states));
  // One bit of one parameter changes it.
  uint32_t bits;
  std::memcpy(&bits, &final_params[2], 4);
  bits ^= 1;
  std::memcpy(&final_params[2], &bits, 4);
  EXPECT_NE(DeltaRefereeSecret(round, final_params), secret);
}

}  // namespace
}  // namespace agora::verify
