// Verification sampling: distinct segments, stake-weighted validators that
// are never the provider, a witness step inside each segment, determinism,
// and the detection rate of a lazy provider measured against 1 − escape.
#include "verify/sampling.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace agora::verify {
namespace {

Bytes B(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes U64Bytes(uint64_t v) {
  Bytes b;
  PutU64BigEndian(b, v);
  return b;
}


SampleRequest Request(uint64_t beacon, uint32_t segments = 50, uint32_t s = 1) {
  SampleRequest r;
  r.beacon = Blake2b256(U64Bytes(beacon));
  r.task = B("job 1 round 0 worker 0");
  r.segments = segments;
  r.steps_per_segment = 10;
  r.spot_checks = s;
  r.validators = {{B("v1"), 10}, {B("v2"), 30}, {B("provider"), 1000}, {B("v3"), 0}};
  r.provider = B("provider");
  return r;
}

TEST(SamplingTest, DistinctSortedSegmentsNeverTheProviderWitnessInside) {
  for (uint64_t beacon = 0; beacon < 200; ++beacon) {
    SCOPED_TRACE(beacon);
    auto got = SampleSegments(Request(beacon, 50, 5));
    ASSERT_TRUE(got.ok()) << got.status().message();
    ASSERT_EQ(got->size(), 5u);
    std::set<uint32_t> seen;
    for (size_t i = 0; i < got->size(); ++i) {
      const SegmentSample& s = (*got)[i];
      EXPECT_LT(s.segment, 50u);
      if (i > 0) {
        EXPECT_LT((*got)[i - 1].segment, s.segment);
      }
      seen.insert(s.segment);
      EXPECT_NE(s.validator, 2u) << "the provider";
      EXPECT_NE(s.validator, 3u) << "no stake";
      EXPECT_GE(s.witness_step, 1u);
      EXPECT_LE(s.witness_step, 9u);
    }
    EXPECT_EQ(seen.size(), 5u);
    EXPECT_EQ(*SampleSegments(Request(beacon, 50, 5)), *got) << "deterministic";
  }
  // Every segment once when s equals the number of segments.
  auto all = SampleSegments(Request(7, 12, 12));
  ASSERT_TRUE(all.ok());
  for (uint32_t i = 0; i < 12; ++i) EXPECT_EQ((*all)[i].segment, i);
}

TEST(SamplingTest, BadRequestsAreRefused) {
  EXPECT_EQ(SampleSegments(Request(1, 50, 0)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SampleSegments(Request(1, 50, 51)).status().code(), StatusCode::kInvalidArgument);
  SampleRequest only_provider = Request(1);
  only_provider.validators = {{B("provider"), 5}, {B("v"), 0}};
  EXPECT_EQ(SampleSegments(only_provider).status().code(), StatusCode::kFailedPrecondition);
}

TEST(SamplingTest, SegmentsUniformValidatorsByStake) {
  // Fixed beacons: the counts are deterministic; the bounds are wide
  // enough for any fair sampler over this many draws (±5 sigma).
  std::map<uint32_t, int> segment_hits;
  std::map<size_t, int> validator_hits;
  constexpr int kDraws = 20'000;
  for (int b = 0; b < kDraws; ++b) {
    auto got = SampleSegments(Request(1'000'000 + b, 10, 1));
    ASSERT_TRUE(got.ok());
    segment_hits[(*got)[0].segment] += 1;
    validator_hits[(*got)[0].validator] += 1;
  }
  for (uint32_t s = 0; s < 10; ++s) {
    EXPECT_NEAR(segment_hits[s], kDraws / 10, 5 * 42) << "segment " << s;  // sigma = 42
  }
  // v1 : v2 = 10 : 30.
  EXPECT_NEAR(validator_hits[0], kDraws / 4, 5 * 61) << "sigma = 61";
  EXPECT_NEAR(validator_hits[1], 3 * kDraws / 4, 5 * 61);
  EXPECT_EQ(validator_hits[2] + validator_hits[3], 0);
}

TEST(SamplingTest, DistinctValidatorsWhileThereAreEnough) {
  auto got = SampleSegments(Request(3, 50, 4));
  ASSERT_TRUE(got.ok());
  // Two eligible validators for four segments: each used twice at most,
  // both used.
  std::map<size_t, int> uses;
  for (const SegmentSample& s : *got) uses[s.validator] += 1;
  EXPECT_EQ(uses.size(), 2u);
  EXPECT_NE((*got)[0].validator, (*got)[1].validator);
}

TEST(SamplingTest, EscapeProbabilityIsExact) {
  EXPECT_EQ(EscapePpm(50, 0, 1), 1'000'000u);
  EXPECT_EQ(EscapePpm(50, 5, 1), 900'000u);
  EXPECT_EQ(EscapePpm(50, 50, 1), 0u);
  EXPECT_NEAR(static_cast<double>(EscapePpm(50, 5, 2)), 1e6 * 45.0 / 50 * 44 / 49, 2);
  EXPECT_EQ(EscapePpm(10, 5, 6), 0u) << "more checks than honest segments";
}

// A lazy provider fakes 5 of 50 segments; over many beacons the share of
// tasks in which a sampled segment is a faked one matches 1 − escape.
TEST(SamplingTest, LazyProviderCaughtAtThePredictedRate) {
  for (uint32_t s : {1u, 2u, 3u}) {
    int caught = 0;
    constexpr int kTasks = 20'000;
    for (int t = 0; t < kTasks; ++t) {
      auto got = SampleSegments(Request(5'000'000 + t, 50, s));
      ASSERT_TRUE(got.ok());
      bool hit = false;
      for (const SegmentSample& x : *got) hit |= x.segment % 10 == 3;  // 3, 13, 23, 33, 43
      caught += hit;
    }
    const double predicted = 1.0 - EscapePpm(50, 5, s) / 1e6;
    const double measured = static_cast<double>(caught) / kTasks;
    std::printf("s=%u: caught %.4f, predicted %.4f\n", s, measured, predicted);
    EXPECT_NEAR(measured, predicted, 0.015);
  }
}

}  // namespace
}  // namespace agora::verify
