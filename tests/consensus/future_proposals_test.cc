// The places a node keeps for proposals of the height after its next: one
// per proposer, holding its highest round, so that a validator signing a
// proposal for every round ahead cannot crowd out the others' (found in
// review: with one shared list of 64, one validator filled it).
#include "consensus/future_proposals.h"

#include <gtest/gtest.h>

#include <string>

#include "consensus/core.h"

namespace agora::consensus {
namespace {

TEST(FutureProposalsTest, AValidatorSigningEveryRoundAheadHoldsOnePlace) {
  FutureProposals<std::string> kept(64);
  // Validator 3 signs a proposal for each round it may.
  for (uint32_t r = 0; r <= kRoundsAheadMax; ++r) kept.Offer(3, r, "flood " + std::to_string(r));
  EXPECT_EQ(kept.size(), 1u);
  // The honest proposers of rounds 0 and 1 still find room.
  EXPECT_TRUE(kept.Offer(0, 0, "honest 0"));
  EXPECT_TRUE(kept.Offer(1, 1, "honest 1"));
  // Validator 3's place holds its highest round; an earlier or equal round
  // (another block for the same round) does not replace it.
  EXPECT_FALSE(kept.Offer(3, kRoundsAheadMax, "flood again"));
  EXPECT_FALSE(kept.Offer(3, 0, "flood 0 again"));
  EXPECT_EQ(kept.Take(), (std::vector<std::string>{"honest 0", "honest 1",
                                                   "flood " + std::to_string(kRoundsAheadMax)}));
  EXPECT_EQ(kept.size(), 0u) << "Take empties it";
}

// With four validators one leads rounds 0, 4, 8...: a node that catches up
// while the network is at round 4 needs that proposal, not round 0's.
TEST(FutureProposalsTest, AProposersLaterRoundReplacesItsPlace) {
  FutureProposals<std::string> kept(64);
  EXPECT_TRUE(kept.Offer(2, 0, "round 0"));
  EXPECT_TRUE(kept.Offer(2, 4, "round 4"));
  EXPECT_FALSE(kept.Offer(2, 3, "round 3"));
  EXPECT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept.Take(), std::vector<std::string>{"round 4"});
}

TEST(FutureProposalsTest, PlacesAreBoundedAcrossProposers) {
  FutureProposals<int> kept(3);
  EXPECT_TRUE(kept.Offer(10, 2, 10));
  EXPECT_TRUE(kept.Offer(11, 0, 11));
  EXPECT_TRUE(kept.Offer(12, 1, 12));
  EXPECT_FALSE(kept.Offer(13, 0, 13)) << "no place left for a fourth proposer";
  EXPECT_TRUE(kept.Offer(11, 3, 110)) << "a held place can still move to a later round";
  // Lowest round first, then by proposer.
  EXPECT_EQ(kept.Take(), (std::vector<int>{12, 10, 110}));
  kept.Offer(13, 0, 13);
  kept.Clear();
  EXPECT_EQ(kept.size(), 0u);
}

}  // namespace
}  // namespace agora::consensus
