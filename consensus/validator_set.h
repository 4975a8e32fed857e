// The validators of one height, their voting power and the proposer
// rotation.
//
// Quorum arithmetic is in integers: a quorum is strictly more than 2/3 of the
// total power (3 * power > 2 * total), and "f + 1" is strictly more than 1/3
// (3 * power > total). Total power is bounded by kTotalPowerMax so these
// products cannot overflow.
//
// Proposers rotate by weighted round-robin (as CometBFT does): each step every
// validator's priority grows by its power, the highest priority proposes
// (ties go to the lower index) and pays the total power back. Over a window
// of steps each validator proposes in proportion to its power.
//
// Thread safety: values.
#ifndef AGORA_CONSENSUS_VALIDATOR_SET_H_
#define AGORA_CONSENSUS_VALIDATOR_SET_H_

#include <cstdint>
#include <vector>

#include "common/address.h"
#include "common/keys.h"
#include "common/status.h"
#include "consensus/types.h"

namespace agora::consensus {

inline constexpr uint64_t kTotalPowerMax = uint64_t{1} << 60;
inline constexpr size_t kValidatorsMax = 1000;

struct Validator {
  PublicKey key;
  uint64_t power = 0;
  int64_t priority = 0;
};

class ValidatorSet {
 public:
  ValidatorSet() = default;
  // InvalidArgument for an empty set, zero power, duplicates, too many
  // validators or total power above kTotalPowerMax.
  static Result<ValidatorSet> Make(std::vector<Validator> validators);

  size_t size() const { return validators_.size(); }
  const Validator& at(ValidatorIndex i) const { return validators_.at(i); }
  const std::vector<Validator>& validators() const { return validators_; }
  uint64_t total_power() const { return total_power_; }
  // Returns the index of `key`, or nullopt.
  std::optional<ValidatorIndex> IndexOf(const PublicKey& key) const;

  // Returns true iff `power` is strictly more than 2/3 of the total.
  // `at_least` = true counts exactly 2/3 too: a deliberate bug for tests.
  bool IsQuorum(uint64_t power, bool at_least = false) const;
  // Returns true iff `power` is strictly more than 1/3 of the total.
  bool IsOneThirdPlus(uint64_t power) const;

  // Advances the rotation `times` steps; each step picks a proposer.
  void IncrementProposerPriority(uint32_t times);
  // The validator the last step picked (before any step: the highest priority).
  ValidatorIndex Proposer() const;

  // The set for the next height: powers from `next` (which may add, remove
  // or re-weight validators), priorities carried over from this set for
  // validators that stay, new ones starting behind, then one rotation step.
  ValidatorSet Next(const std::vector<Validator>& next) const;

 private:
  void Recenter();
  ValidatorIndex HighestPriority() const;

  std::vector<Validator> validators_;
  uint64_t total_power_ = 0;
  std::optional<ValidatorIndex> proposer_;
};

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_VALIDATOR_SET_H_
