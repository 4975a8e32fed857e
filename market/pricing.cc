#include "market/pricing.h"

#include <algorithm>

namespace agora::market {
namespace {

__extension__ typedef unsigned __int128 Wide;

}  // namespace

Result<uint64_t> TaskPrice(uint64_t work_wu, uint64_t price_uagr_per_wu) {
  const Wide p = Wide{work_wu} * price_uagr_per_wu;
  if (p > kAmountMax) {
    return Status::OutOfRange("a task of " + std::to_string(work_wu) + " wu at " +
                              std::to_string(price_uagr_per_wu) +
                              " uagr/wu costs more than 2^62 uagr");
  }
  return static_cast<uint64_t>(p);
}

Result<uint64_t> BudgetNeeded(uint64_t tasks, uint64_t work_wu, uint64_t price_max_per_wu) {
  // Two steps, each checked: three 64-bit factors can pass 128 bits.
  const Wide units = Wide{tasks} * work_wu;
  if (units > kAmountMax && price_max_per_wu > 0) {
    return Status::OutOfRange("the job's tasks at its maximum price cost more than 2^62 uagr");
  }
  const Wide b = units * price_max_per_wu;  // < 2^62 · 2^64
  if (b > kAmountMax) {
    return Status::OutOfRange("the job's tasks at its maximum price cost more than 2^62 uagr");
  }
  return static_cast<uint64_t>(b);
}

uint64_t Collateral(uint64_t price_uagr, uint64_t collateral_ppm) {
  const Wide c = (Wide{price_uagr} * collateral_ppm + (kPpm - 1)) / kPpm;
  return c > kAmountMax ? kAmountMax : static_cast<uint64_t>(c);
}

uint64_t PartPpm(uint64_t amount, uint64_t ppm) {
  return static_cast<uint64_t>(Wide{amount} * std::min(ppm, kPpm) / kPpm);
}

uint64_t EffectiveCost(uint64_t ask_uagr_per_wu, uint64_t reputation_ppm) {
  const uint64_t rep = std::min(reputation_ppm, kPpm);
  const Wide c = Wide{ask_uagr_per_wu} * (2 * kPpm - rep);
  // ask <= 2^62 and the factor <= 2^21: at most 2^83, clipped for ranking.
  return c > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(c);
}

uint64_t DeadlineBlocks(uint64_t work_wu, uint64_t speed_wu_per_s, const DeadlineRule& rule) {
  constexpr uint64_t kBlocksMax = 1'000'000'000;
  // work × (10^6 + slack) × 1000 / (speed × 10^6 × block_time_ms), rounded up.
  const Wide num = Wide{work_wu} * (kPpm + rule.slack_ppm) * 1000;
  const Wide den = Wide{speed_wu_per_s} * kPpm * rule.block_time_ms;
  const Wide blocks = (num + den - 1) / den + rule.min_blocks;
  return blocks > kBlocksMax ? kBlocksMax : static_cast<uint64_t>(blocks);
}

uint64_t SpeedNeeded(uint64_t work_wu, uint64_t blocks_max, const DeadlineRule& rule) {
  // ceil(num / (speed × k)) + min_blocks <= blocks_max
  //   <=> num <= (blocks_max - min_blocks) × speed × k
  //   <=> speed >= ceil(num / ((blocks_max - min_blocks) × k)).
  if (blocks_max < rule.min_blocks) return UINT64_MAX;
  const Wide num = Wide{work_wu} * (kPpm + rule.slack_ppm) * 1000;
  const Wide spare = blocks_max - rule.min_blocks;
  if (spare == 0) return num == 0 ? 1 : UINT64_MAX;
  const Wide per = spare * kPpm * rule.block_time_ms;
  const Wide speed = (num + per - 1) / per;
  if (speed > UINT64_MAX) return UINT64_MAX;
  return speed == 0 ? 1 : static_cast<uint64_t>(speed);
}

Payout SplitPayment(uint64_t price_uagr, uint64_t validator_fee_ppm) {
  const uint64_t fee = PartPpm(price_uagr, validator_fee_ppm);
  return {price_uagr - fee, fee};
}

uint64_t UpdateReputation(uint64_t reputation_ppm, Outcome outcome, const ReputationRule& rule) {
  const uint64_t rep = std::min(reputation_ppm, kPpm);
  switch (outcome) {
    case Outcome::kPass: return rep + PartPpm(kPpm - rep, rule.alpha_ppm);
    case Outcome::kLate: return rep - PartPpm(rep, rule.alpha_ppm);
    case Outcome::kFraud: return rep - PartPpm(rep, rule.fraud_alpha_ppm);
  }
  return rep;
}

}  // namespace agora::market
