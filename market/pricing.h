// The market's arithmetic: a task's price and collateral, the cost the
// scheduler ranks providers by, deadlines, payouts and reputation. Pure
// integer functions (PROTOCOL.md §6, docs/market.md); every product that
// could pass 64 bits is computed in 128 and checked.
//
// Thread safety: free functions.
#ifndef AGORA_MARKET_PRICING_H_
#define AGORA_MARKET_PRICING_H_

#include <cstdint>

#include "common/status.h"

namespace agora::market {

inline constexpr uint64_t kPpm = 1'000'000;
// Amounts never exceed the ledger's supply bound.
inline constexpr uint64_t kAmountMax = uint64_t{1} << 62;

// work × price per wu; OutOfRange if above 2^62.
Result<uint64_t> TaskPrice(uint64_t work_wu, uint64_t price_uagr_per_wu);
// What a job of `tasks` tasks of `work_wu` each costs at `price_max` per wu:
// the least budget PostJob accepts. OutOfRange above 2^62.
Result<uint64_t> BudgetNeeded(uint64_t tasks, uint64_t work_wu, uint64_t price_max_per_wu);

// The collateral a provider locks for a task: price × collateral_ppm / 10^6,
// rounded up (so a positive price never locks nothing).
uint64_t Collateral(uint64_t price_uagr, uint64_t collateral_ppm);
// floor(amount × ppm / 10^6), ppm <= 10^6.
uint64_t PartPpm(uint64_t amount, uint64_t ppm);

// The cost the scheduler ranks providers by, per wu, in 10^-6 uagr: the ask
// raised by up to 100% as reputation falls from 10^6 to 0:
// ask × (2·10^6 − reputation). The price paid is the ask itself.
uint64_t EffectiveCost(uint64_t ask_uagr_per_wu, uint64_t reputation_ppm);

struct DeadlineRule {
  uint64_t slack_ppm = 500'000;     // extra time over work / speed
  uint64_t block_time_ms = 1'000;   // the expected time between blocks
  uint64_t min_blocks = 10;         // never fewer blocks than this
};
// Blocks a provider declaring `speed_wu_per_s` gets for `work_wu`:
// ceil(work / speed × (1 + slack) × 1000 / block_time_ms) + min_blocks,
// at most 10^9. REQUIRES: speed > 0, block_time_ms > 0.
uint64_t DeadlineBlocks(uint64_t work_wu, uint64_t speed_wu_per_s, const DeadlineRule& rule);
// The least speed (>= 1) whose DeadlineBlocks for `work_wu` is at most
// `blocks_max`, or UINT64_MAX when no speed gets there (blocks_max below
// min_blocks + 1 for work > 0). REQUIRES: blocks_max < 10^9 (the cap of
// DeadlineBlocks).
uint64_t SpeedNeeded(uint64_t work_wu, uint64_t blocks_max, const DeadlineRule& rule);

// How a passed task's price is split: the validators' fee
// (floor(price × fee_ppm / 10^6)) and the rest to the provider.
struct Payout {
  uint64_t provider_uagr = 0;
  uint64_t validators_uagr = 0;
};
Payout SplitPayment(uint64_t price_uagr, uint64_t validator_fee_ppm);

// Reputation: an integer exponentially weighted average of outcomes, in ppm.
// A pass moves it `alpha_ppm` of the way to 10^6, a late task the same
// way to 0, a failed verification (fraud) `fraud_alpha_ppm` of the way to 0.
enum class Outcome : uint8_t { kPass = 1, kLate = 2, kFraud = 3 };
struct ReputationRule {
  uint64_t alpha_ppm = 100'000;
  uint64_t fraud_alpha_ppm = 500'000;
};
uint64_t UpdateReputation(uint64_t reputation_ppm, Outcome outcome, const ReputationRule& rule);

}  // namespace agora::market

#endif  // AGORA_MARKET_PRICING_H_
