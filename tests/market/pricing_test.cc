// The market's arithmetic at its edges: price and budget refusals at the
// 2^62 supply bound (including products that would wrap 128 bits),
// collateral rounding, payment splits that conserve, deadlines computed by
// hand, and reputation that stays in range and converges.
#include "market/pricing.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace agora::market {
namespace {

constexpr uint64_t k2To31 = uint64_t{1} << 31;

TEST(PricingTest, TaskPriceAtTheSupplyBound) {
  Result<uint64_t> at = TaskPrice(k2To31, k2To31);  // exactly 2^62
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(*at, kAmountMax);
  EXPECT_EQ(TaskPrice(k2To31, k2To31 + 1).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(TaskPrice(kAmountMax + 1, 1).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(TaskPrice(UINT64_MAX, UINT64_MAX).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(*TaskPrice(0, UINT64_MAX), 0u);
  EXPECT_EQ(*TaskPrice(1234, 5), 6170u);
}

TEST(PricingTest, BudgetNeededAtTheSupplyBound) {
  Result<uint64_t> at = BudgetNeeded(uint64_t{1} << 20, uint64_t{1} << 21, uint64_t{1} << 21);
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(*at, kAmountMax);
  EXPECT_EQ(
      BudgetNeeded(uint64_t{1} << 20, uint64_t{1} << 21, (uint64_t{1} << 21) + 1).status().code(),
      StatusCode::kOutOfRange);
  EXPECT_EQ(*BudgetNeeded(63, 22, 1000), 1'386'000u);
  EXPECT_EQ(*BudgetNeeded(0, UINT64_MAX, UINT64_MAX), 0u);
  EXPECT_EQ(*BudgetNeeded(UINT64_MAX, UINT64_MAX, 0), 0u);
}

// Three 64-bit factors can pass 128 bits: 2^40 × 2^40 × 2^48 = 2^128 would
// wrap to 0 and pass as a budget of nothing. Within validated specs (tasks
// up to 640,000 > 2^18, work up to about 2^47) a client's maximum price of
// 2^63 reaches this: 2^18 × 2^47 × 2^63 = 2^128.
TEST(PricingTest, BudgetNeededRefusesProductsBeyond128Bits) {
  EXPECT_EQ(BudgetNeeded(uint64_t{1} << 40, uint64_t{1} << 40, uint64_t{1} << 48).status().code(),
            StatusCode::kOutOfRange);
  EXPECT_EQ(BudgetNeeded(uint64_t{1} << 18, uint64_t{1} << 47, uint64_t{1} << 63).status().code(),
            StatusCode::kOutOfRange);
  EXPECT_EQ(BudgetNeeded(UINT64_MAX, UINT64_MAX, UINT64_MAX).status().code(),
            StatusCode::kOutOfRange);
}

TEST(PricingTest, CollateralRoundsUp) {
  EXPECT_EQ(Collateral(1, 1), 1u);  // a positive price never locks nothing
  EXPECT_EQ(Collateral(3, 500'000), 2u);
  EXPECT_EQ(Collateral(4, 500'000), 2u);
  EXPECT_EQ(Collateral(1000, 2'000'000), 2000u);
  EXPECT_EQ(Collateral(999'999, 1), 1u);
  EXPECT_EQ(Collateral(1'000'001, 1), 2u);
  EXPECT_EQ(Collateral(0, 2'000'000), 0u);
  EXPECT_EQ(Collateral(7, 0), 0u);
  EXPECT_EQ(Collateral(kAmountMax, 2'000'000), kAmountMax);  // clipped at the supply bound
}

TEST(PricingTest, SplitPaymentSumsToThePrice) {
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 2000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const uint64_t price = (x >> 2) >> (x % 60);    // all magnitudes up to 2^62
    const uint64_t fee_ppm = (x >> 7) % 1'200'001;  // some above 10^6
    const Payout p = SplitPayment(price, fee_ppm);
    ASSERT_EQ(p.provider_uagr + p.validators_uagr, price) << price << " " << fee_ppm;
    ASSERT_LE(p.validators_uagr, price);
    ASSERT_EQ(p.validators_uagr, PartPpm(price, fee_ppm));
  }
  EXPECT_EQ(SplitPayment(1000, 50'000).validators_uagr, 50u);
  EXPECT_EQ(SplitPayment(19, 50'000).validators_uagr, 0u);  // floor(0.95)
  EXPECT_EQ(SplitPayment(kAmountMax, 1'000'000).provider_uagr, 0u);
  EXPECT_EQ(SplitPayment(10, 2'000'000).validators_uagr, 10u);  // ppm above 10^6 clips
}

TEST(PricingTest, DeadlineBlocksByHand) {
  const DeadlineRule rule;  // slack 50%, 1 s blocks, at least 10 blocks
  // 100 wu at 10 wu/s = 10 s, × 1.5 = 15 s = 15 blocks, + 10.
  EXPECT_EQ(DeadlineBlocks(100, 10, rule), 25u);
  // 101 wu: 15.15 s rounds up to 16 blocks.
  EXPECT_EQ(DeadlineBlocks(101, 10, rule), 26u);
  // 1 wu at 1000 wu/s: 1.5 ms is still one block.
  EXPECT_EQ(DeadlineBlocks(1, 1000, rule), 11u);
  EXPECT_EQ(DeadlineBlocks(0, 1000, rule), 10u);
  DeadlineRule slow_blocks = rule;
  slow_blocks.block_time_ms = 2'000;  // 15 s over 2 s blocks = 7.5 -> 8
  EXPECT_EQ(DeadlineBlocks(100, 10, slow_blocks), 18u);
  DeadlineRule tight{.slack_ppm = 0, .block_time_ms = 1'000, .min_blocks = 0};
  EXPECT_EQ(DeadlineBlocks(100, 10, tight), 10u);
  EXPECT_EQ(DeadlineBlocks(101, 10, tight), 11u);
  EXPECT_EQ(DeadlineBlocks(0, 10, tight), 0u);
  DeadlineRule fast_blocks{.slack_ppm = 250'000, .block_time_ms = 400, .min_blocks = 3};
  // 1000 wu at 7 wu/s: 142.857 s × 1.25 = 178.57 s over 0.4 s = 446.4 -> 447, + 3.
  EXPECT_EQ(DeadlineBlocks(1000, 7, fast_blocks), 450u);
  // At most 10^9.
  EXPECT_EQ(DeadlineBlocks(uint64_t{1} << 60, 1, rule), 1'000'000'000u);
}

TEST(PricingTest, EffectiveCostRanksByReputation) {
  EXPECT_EQ(EffectiveCost(10, 1'000'000), 10'000'000u);
  EXPECT_EQ(EffectiveCost(10, 0), 20'000'000u);
  EXPECT_EQ(EffectiveCost(10, 5'000'000), 10'000'000u);  // reputation clips at 10^6
  EXPECT_LT(EffectiveCost(4, 1'000'000), EffectiveCost(3, 100'000));
  EXPECT_EQ(EffectiveCost(UINT64_MAX, 0), UINT64_MAX);
}

TEST(PricingTest, ReputationMovesTowardTheOutcome) {
  const ReputationRule rule;  // alpha 10%, fraud 50%
  EXPECT_EQ(UpdateReputation(0, Outcome::kPass, rule), 100'000u);
  EXPECT_EQ(UpdateReputation(500'000, Outcome::kPass, rule), 550'000u);
  EXPECT_EQ(UpdateReputation(500'000, Outcome::kLate, rule), 450'000u);
  EXPECT_EQ(UpdateReputation(500'000, Outcome::kFraud, rule), 250'000u);
  EXPECT_EQ(UpdateReputation(1'000'000, Outcome::kPass, rule), 1'000'000u);
  EXPECT_EQ(UpdateReputation(0, Outcome::kFraud, rule), 0u);
  EXPECT_EQ(UpdateReputation(7'000'000, Outcome::kLate, rule), 900'000u);  // clipped first

  uint64_t x = 12345;
  for (int i = 0; i < 5000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const uint64_t rep = (x >> 11) % 1'000'001;
    const auto outcome = static_cast<Outcome>(1 + (x >> 40) % 3);
    const ReputationRule r{.alpha_ppm = (x >> 3) % 1'000'001,
                           .fraud_alpha_ppm = (x >> 23) % 1'000'001};
    const uint64_t next = UpdateReputation(rep, outcome, r);
    ASSERT_LE(next, kPpm);
    if (outcome == Outcome::kPass) {
      ASSERT_GE(next, rep);
    } else {
      ASSERT_LE(next, rep);
    }
  }
}

// Integer EWMA with floor: repeated passes approach 10^6 and stop less than
// 10^6 / alpha short of it (the step floor((10^6 - r) × alpha) is 0 there);
// repeated late or fraud outcomes approach 0 the same way.
TEST(PricingTest, ReputationConverges) {
  const ReputationRule rule;
  const uint64_t gap_max = kPpm / rule.alpha_ppm;  // 10
  uint64_t rep = 0;
  for (int i = 0; i < 300; ++i) rep = UpdateReputation(rep, Outcome::kPass, rule);
  EXPECT_GE(rep, kPpm - gap_max);
  EXPECT_EQ(UpdateReputation(rep, Outcome::kPass, rule), rep);  // a fixed point
  for (int i = 0; i < 300; ++i) rep = UpdateReputation(rep, Outcome::kLate, rule);
  EXPECT_LE(rep, gap_max);
  rep = kPpm;
  for (int i = 0; i < 60; ++i) rep = UpdateReputation(rep, Outcome::kFraud, rule);
  EXPECT_LE(rep, kPpm / rule.fraud_alpha_ppm);
  // A mix of 90% passes settles near 90% (the EWMA's mean), far above the
  // minimum, and one fraud costs half of it.
  rep = 0;
  for (int i = 0; i < 3000; ++i) {
    rep = UpdateReputation(rep, i % 10 == 9 ? Outcome::kLate : Outcome::kPass, rule);
  }
  EXPECT_GT(rep, 800'000u);
  EXPECT_LT(rep, 1'000'000u);
  EXPECT_EQ(UpdateReputation(rep, Outcome::kFraud, rule), rep - rep / 2);
}

}  // namespace
}  // namespace agora::market
