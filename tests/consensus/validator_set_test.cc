#include "consensus/validator_set.h"

#include <gtest/gtest.h>

#include <random>

#include "common/hash.h"
#include "tests/test_util.h"

namespace agora::consensus {
namespace {

std::vector<Validator> Make(const std::vector<uint64_t>& powers) {
  std::vector<Validator> out;
  for (size_t i = 0; i < powers.size(); ++i) {
    Validator v;
    v.key.bytes = Blake2b256(std::string_view(std::to_string(i))).bytes;
    v.power = powers[i];
    out.push_back(v);
  }
  return out;
}

TEST(ValidatorSetTest, QuorumIsStrictlyMoreThanTwoThirds) {
  ValidatorSet set = ValidatorSet::Make(Make({1, 1, 1, 1, 1, 1})).value();  // total 6
  EXPECT_FALSE(set.IsQuorum(4));  // exactly 2/3 is not a quorum
  EXPECT_TRUE(set.IsQuorum(5));
  EXPECT_TRUE(set.IsQuorum(4, /*at_least=*/true));  // the deliberate bug
  EXPECT_FALSE(set.IsOneThirdPlus(2));  // exactly 1/3
  EXPECT_TRUE(set.IsOneThirdPlus(3));
  ValidatorSet big = ValidatorSet::Make(Make({kTotalPowerMax / 2, kTotalPowerMax / 2})).value();
  EXPECT_FALSE(big.IsQuorum(kTotalPowerMax / 2));
  EXPECT_TRUE(big.IsQuorum(kTotalPowerMax));
}

TEST(ValidatorSetTest, RejectsBadSets) {
  EXPECT_FALSE(ValidatorSet::Make({}).ok());
  EXPECT_FALSE(ValidatorSet::Make(Make({1, 0})).ok());
  EXPECT_FALSE(ValidatorSet::Make(Make({kTotalPowerMax, 1})).ok());
  auto dup = Make({1, 2});
  dup[1].key = dup[0].key;
  EXPECT_FALSE(ValidatorSet::Make(dup).ok());
}

// Over a window of W * total steps, each validator proposes W * power times,
// give or take one, for random power distributions.
TEST(ValidatorSetTest, ProposerRotationIsProportionalToPower) {
  for (uint64_t seed : agora::testing::TestSeeds(1, 50)) {
    SCOPED_TRACE(agora::testing::ReproduceLine(seed));
    std::mt19937_64 rng(seed);
    std::vector<uint64_t> powers(4 + rng() % 17);
    uint64_t total = 0;
    for (auto& p : powers) total += (p = 1 + rng() % 50);
    ValidatorSet set = ValidatorSet::Make(Make(powers)).value();
    set.IncrementProposerPriority(static_cast<uint32_t>(rng() % 100));  // any starting point
    const uint64_t windows = 3;
    std::vector<uint64_t> count(powers.size());
    for (uint64_t step = 0; step < windows * total; ++step) {
      set.IncrementProposerPriority(1);
      ++count[set.Proposer()];
    }
    for (size_t i = 0; i < powers.size(); ++i) {
      int64_t diff = static_cast<int64_t>(count[i]) - static_cast<int64_t>(windows * powers[i]);
      EXPECT_LE(std::abs(diff), 1) << "seed " << seed << " validator " << i << " power "
                                   << powers[i] << " proposed " << count[i];
    }
  }
}

TEST(ValidatorSetTest, NextKeepsPrioritiesAndStartsNewcomersBehind) {
  ValidatorSet set = ValidatorSet::Make(Make({10, 10, 10})).value();
  set.IncrementProposerPriority(5);
  auto grown = Make({10, 10, 10, 30});
  ValidatorSet next = set.Next(grown);
  ASSERT_EQ(next.size(), 4u);
  EXPECT_EQ(next.total_power(), 60u);
  EXPECT_LT(next.at(3).priority, next.at(0).priority);
  EXPECT_NE(next.Proposer(), 3u);
}

}  // namespace
}  // namespace agora::consensus
