// Whole networks in the deterministic simulator. Every failure prints the
// agora-sim command line that reproduces it.
#include "consensus/sim/simulator.h"

#include <gtest/gtest.h>

namespace agora::consensus::sim {
namespace {

// Runs `count` seeds from `first` and returns how many had a safety
// violation, failing the test on any other violation.
int RunSeeds(uint64_t first, uint64_t count, SimOptions base, bool all_mixes, bool expect_clean) {
  int safety = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    SimOptions o = base;
    o.seed = seed;
    if (all_mixes) o.mix = LiveMixForSeed(seed);
    SimResult r = RunSimulation(o);
    if (!r.ok && r.violation.rfind("safety", 0) == 0) ++safety;
    if (expect_clean) {
      EXPECT_TRUE(r.ok) << r.violation << "\n  " << r.summary
                        << "\n  reproduce: " << ReproduceCommand(o);
    }
  }
  return safety;
}

// 1,000 seeds across the seven fault mixes that keep Byzantine power below
// 1/3: agreement, validity, no honest double signing, evidence for every
// equivocation seen, and liveness once faults heal.
TEST(SimTest, ThousandSeedsAcrossFaultMixes) {
  SimOptions o;
  o.heights = 4;
  RunSeeds(100001, 1000, o, /*all_mixes=*/true, /*expect_clean=*/true);
}

TEST(SimTest, LargeNetworksAndRealSignatures) {
  SimOptions o;
  o.heights = 3;
  o.validators = 31;
  RunSeeds(7, 6, o, /*all_mixes=*/true, /*expect_clean=*/true);
  o.validators = 4;
  o.real_crypto = true;
  RunSeeds(11, 12, o, /*all_mixes=*/true, /*expect_clean=*/true);
}

TEST(SimTest, SameSeedSameRun) {
  SimOptions o;
  o.seed = 4242;
  o.mix = FaultMix::kChaos;
  SimResult a = RunSimulation(o), b = RunSimulation(o);
  EXPECT_EQ(a.summary, b.summary);
  EXPECT_EQ(a.messages_sent, b.messages_sent);
  EXPECT_EQ(a.events, b.events);
}

// Exactly 1/3 Byzantine twins split across a partition: the correct >2/3
// quorum stays safe, a quorum counted as >= 2/3 decides twice.
TEST(SimTest, OneThirdTwinsAreSafeWithTheRightQuorum) {
  SimOptions o;
  o.mix = FaultMix::kOneThirdTwins;
  EXPECT_EQ(RunSeeds(1, 300, o, false, /*expect_clean=*/true), 0);
}

TEST(SimTest, QuorumOfAtLeastTwoThirdsIsCaught) {
  SimOptions o;
  o.mix = FaultMix::kOneThirdTwins;
  o.break_quorum_at_least_two_thirds = true;
  EXPECT_GT(RunSeeds(1, 300, o, false, /*expect_clean=*/false), 0)
      << "the simulator missed a broken quorum rule";
}

// The lock trap is safe and live with the lock rule, and breaks agreement
// without it: the simulator must see the difference.
TEST(SimTest, LockTrapIsSafeWithTheLock) {
  SimOptions o;
  o.mix = FaultMix::kLockTrap;
  o.heights = 3;
  EXPECT_EQ(RunSeeds(1, 150, o, false, /*expect_clean=*/true), 0);
}

TEST(SimTest, IgnoringTheLockIsCaught) {
  SimOptions o;
  o.mix = FaultMix::kLockTrap;
  o.heights = 3;
  o.break_ignore_lock = true;
  EXPECT_GT(RunSeeds(1, 100, o, false, /*expect_clean=*/false), 50)
      << "the simulator missed a prevote that ignored the lock";
}

// Runs one seed and expects it to pass, printing how to reproduce it if not.
void ExpectSeedPasses(SimOptions o) {
  SimResult r = RunSimulation(o);
  EXPECT_TRUE(r.ok) << r.violation << "\n  " << r.summary
                    << "\n  reproduce: " << ReproduceCommand(o);
}

// Seed 507932 drew two crash windows for validator 0 that overlapped, so the
// second restart replaced a running core: the new core never saw a nil
// prevote that the old one had, and the simulator still expected evidence
// when the conflicting prevote arrived. Crash windows no longer overlap.
TEST(SimTest, OverlappingCrashesNeverRestartARunningNode) {
  SimOptions o;
  o.seed = 507932;
  o.mix = FaultMix::kChaos;
  o.heights = 6;
  ExpectSeedPasses(o);
}

// Seed 1650: validator 1 locked at height 2 on a polka that only it and the
// Byzantine random voter saw, then crashed. It came back with its lock but no
// valid value or polka, so as proposer it proposed fresh blocks and prevoted
// nil on them, and the others never saw a polka that would let them accept
// the locked block: the height stalled forever. The lock now keeps its polka,
// and a restarted validator re-proposes the locked block with it.
TEST(SimTest, RestartedLockHolderReproposesWithItsPolka) {
  SimOptions o;
  o.seed = 1650;
  o.mix = FaultMix::kChaos;
  o.heights = 6;
  ExpectSeedPasses(o);
}

TEST(SimTest, CommitLatencyIsThreeMessageDelays) {
  for (uint32_t n : {4u, 16u}) {
    SimOptions o;
    o.mix = FaultMix::kClean;
    o.validators = n;
    o.fixed_delay_us = 10'000;
    o.heights = 5;
    SimResult r = RunSimulation(o);
    ASSERT_TRUE(r.ok) << r.violation;
    EXPECT_EQ(r.latency_delays_x1000, 3000u) << n << " validators";
  }
}

}  // namespace
}  // namespace agora::consensus::sim
