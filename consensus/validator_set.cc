#include "consensus/validator_set.h"

#include <algorithm>
#include <set>

namespace agora::consensus {

Result<ValidatorSet> ValidatorSet::Make(std::vector<Validator> validators) {
  if (validators.empty()) return Status::InvalidArgument("a validator set cannot be empty");
  if (validators.size() > kValidatorsMax) {
    return Status::InvalidArgument("at most " + std::to_string(kValidatorsMax) + " validators");
  }
  std::set<PublicKey> seen;
  uint64_t total = 0;
  for (const Validator& v : validators) {
    if (v.power == 0) return Status::InvalidArgument("validator with zero power");
    if (!seen.insert(v.key).second) return Status::InvalidArgument("duplicate validator key");
    if (v.power > kTotalPowerMax - total) {
      return Status::InvalidArgument("total voting power exceeds 2^60");
    }
    total += v.power;
  }
  ValidatorSet set;
  set.validators_ = std::move(validators);
  set.total_power_ = total;
  return set;
}

std::optional<ValidatorIndex> ValidatorSet::IndexOf(const PublicKey& key) const {
  for (size_t i = 0; i < validators_.size(); ++i) {
    if (validators_[i].key == key) return static_cast<ValidatorIndex>(i);
  }
  return std::nullopt;
}

bool ValidatorSet::IsQuorum(uint64_t power, bool at_least) const {
  // Both sides stay below 2^62: power <= total <= 2^60.
  return at_least ? 3 * power >= 2 * total_power_ : 3 * power > 2 * total_power_;
}

bool ValidatorSet::IsOneThirdPlus(uint64_t power) const { return 3 * power > total_power_; }

void ValidatorSet::IncrementProposerPriority(uint32_t times) {
  const int64_t total = static_cast<int64_t>(total_power_);
  for (uint32_t t = 0; t < times; ++t) {
    for (Validator& v : validators_) v.priority += static_cast<int64_t>(v.power);
    proposer_ = HighestPriority();
    validators_[*proposer_].priority -= total;
  }
}

ValidatorIndex ValidatorSet::Proposer() const {
  return proposer_ ? *proposer_ : HighestPriority();
}

ValidatorIndex ValidatorSet::HighestPriority() const {
  ValidatorIndex best = 0;
  for (ValidatorIndex i = 1; i < validators_.size(); ++i) {
    if (validators_[i].priority > validators_[best].priority) best = i;
  }
  return best;
}

void ValidatorSet::Recenter() {
  // Keeps priorities summing to about zero and their spread within twice the
  // total power, so a new or re-weighted validator neither waits forever nor
  // proposes many times in a row. Integer division rounds toward zero on
  // every platform (C++11 and later), so this is deterministic.
  const int64_t total = static_cast<int64_t>(total_power_);
  int64_t lo = validators_[0].priority, hi = lo;
  for (const Validator& v : validators_) {
    lo = std::min(lo, v.priority);
    hi = std::max(hi, v.priority);
  }
  const int64_t spread = hi - lo;
  if (spread > 2 * total) {
    const int64_t ratio = (spread + 2 * total - 1) / (2 * total);
    for (Validator& v : validators_) v.priority /= ratio;
  }
  int64_t sum = 0;
  for (const Validator& v : validators_) sum += v.priority;
  const int64_t mean = sum / static_cast<int64_t>(validators_.size());
  for (Validator& v : validators_) v.priority -= mean;
}

ValidatorSet ValidatorSet::Next(const std::vector<Validator>& next) const {
  std::vector<Validator> merged = next;
  uint64_t next_total = 0;
  for (const Validator& v : next) next_total += v.power;
  for (Validator& v : merged) {
    auto old = IndexOf(v.key);
    // A newcomer starts 1.125 total powers behind, as in CometBFT, so joining
    // cannot be used to jump the queue.
    v.priority = old ? validators_[*old].priority
                     : -static_cast<int64_t>(next_total + next_total / 8);
  }
  ValidatorSet out = Make(std::move(merged)).value();
  out.Recenter();
  out.IncrementProposerPriority(1);
  return out;
}

}  // namespace agora::consensus
