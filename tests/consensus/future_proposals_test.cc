// The places a node keeps for proposals of the height after its next: one
// per proposer, holding its lowest round, so that a validator signing a
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
  // Validator 3 signs a proposal for each round it may, highest first.
  for (uint32_t r = kRoundsAheadMax + 1; r-- > 0;) {
    kept.Offer(3, r, "flood " + std::to_string(r));
  }
  EXPECT_EQ(kept.size(), 1u);
  // The honest proposers of rounds 0 and 1 still find room.
  EXPECT_TRUE(kept.Offer(0, 0, "honest 0"));
  EXPECT_TRUE(kept.Offer(1, 1, "honest 1"));
  // Validator 3's place holds its lowest round; a later or equal round
  // (another block for round 0) does not replace it.
  EXPECT_FALSE(kept.Offer(3, 0, "flood 0 again"));
  EXPECT_FALSE(kept.Offer(0, 5, "honest 0, round 5"));
  EXPECT_EQ(kept.Take(), (std::vector<std::string>{"honest 0", "flood 0", "honest 1"}));
  EXPECT_EQ(kept.size(), 0u) << "Take empties it";
}

TEST(FutureProposalsTest, ALowerRoundReplacesTheProposersPlace) {
  FutureProposals<std::string> kept(64);
  EXPECT_TRUE(kept.Offer(2, 7, "round 7"));
  EXPECT_TRUE(kept.Offer(2, 4, "round 4"));
  EXPECT_FALSE(kept.Offer(2, 9, "round 9"));
  EXPECT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept.Take(), std::vector<std::string>{"round 4"});
}

TEST(FutureProposalsTest, PlacesAreBoundedAcrossProposers) {
  FutureProposals<int> kept(3);
  EXPECT_TRUE(kept.Offer(10, 2, 10));
  EXPECT_TRUE(kept.Offer(11, 0, 11));
  EXPECT_TRUE(kept.Offer(12, 1, 12));
  EXPECT_FALSE(kept.Offer(13, 0, 13)) << "no place left for a fourth proposer";
  EXPECT_TRUE(kept.Offer(10, 1, 100)) << "a held place can still move to a lower round";
  // Lowest round first, then by proposer.
  EXPECT_EQ(kept.Take(), (std::vector<int>{11, 100, 12}));
  kept.Offer(13, 0, 13);
  kept.Clear();
  EXPECT_EQ(kept.size(), 0u);
}

}  // namespace
}  // namespace agora::consensus
