// The scheduler: hand-made markets for each rule (cost, price cap, hardware,
// collateral, reputation, capacity, round speed band, beacon ties, bounds),
// then properties over seeded random markets (safety, determinism under
// reordering of providers, weighted max-min fairness within a call) and a
// many-block simulation where tasks finish and free their slots.
//
// Randomized tests run seeds 1..N; on failure they print
//   reproduce: AGORA_TEST_SEED=<seed> <market_test> --gtest_filter=<test>
// and with AGORA_TEST_SEED set they run that one seed.
#include "market/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "market/pricing.h"
#include "tests/test_util.h"

namespace agora::market {
namespace {

// ---------------------------------------------------------------- helpers

ProviderOffer Provider(const std::string& id, uint64_t ask) {
  ProviderOffer p;
  p.id = ToBytes(id);
  p.hardware = HardwareClass::kCpu;
  p.speed_wu_per_s = 10;
  p.free_slots = 4;
  p.ask_uagr_per_wu = ask;
  p.reputation_ppm = kPpm;
  p.collateral_free_uagr = uint64_t{1} << 40;
  return p;
}

OpenTask Task(uint64_t job, uint32_t round = 0, uint32_t worker = 0) {
  OpenTask t;
  t.job = job;
  t.round = round;
  t.worker = worker;
  t.work_wu = 100;
  t.price_max_per_wu = 100;
  return t;
}

TenantQueue Tenant(const std::string& id, std::vector<OpenTask> open, uint64_t weight = 1,
                   uint64_t running = 0) {
  TenantQueue q;
  q.id = ToBytes(id);
  q.weight = weight;
  q.running = running;
  q.open = std::move(open);
  return q;
}

ScheduleInput Market(std::vector<ProviderOffer> providers, std::vector<TenantQueue> tenants) {
  ScheduleInput in;
  in.providers = std::move(providers);
  in.tenants = std::move(tenants);
  in.beacon = Blake2b256("beacon 1");
  return in;
}

// The scheduler's tie key, restated: BLAKE2b(domain || beacon || id).
Hash256 TieKey(const Hash256& beacon, const Bytes& id) {
  Blake2b256Hasher h;
  h.Update(AsBytes("agora-sched-tie-v1"));
  h.Update(beacon.bytes);
  h.Update(id);
  return h.Finish();
}

std::string ProviderName(const ScheduleInput& in, const Assignment& a) {
  const Bytes& id = in.providers[a.provider].id;
  return std::string(id.begin(), id.end());
}

// One task alone; returns the chosen provider's id or "" if none.
std::string Winner(const ScheduleInput& in) {
  std::vector<Assignment> out = Schedule(in);
  if (out.empty()) return "";
  EXPECT_EQ(out.size(), 1u);
  return ProviderName(in, out[0]);
}

// ---------------------------------------------------------------- hand-made cases

TEST(SchedulerTest, CheapestEligibleProviderWins) {
  ScheduleInput in =
      Market({Provider("a", 5), Provider("b", 3), Provider("c", 4)}, {Tenant("t", {Task(1)})});
  std::vector<Assignment> out = Schedule(in);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(ProviderName(in, out[0]), "b");
  EXPECT_EQ(out[0].tenant, 0u);
  EXPECT_EQ(out[0].task, 0u);
  EXPECT_EQ(out[0].price_uagr, 300u);       // 100 wu × 3
  EXPECT_EQ(out[0].collateral_uagr, 600u);  // 200% of the price
}

TEST(SchedulerTest, EffectiveCostWeighsReputation) {
  // ask 3 at reputation 10% costs 3 × 1.9 = 5.7 > 4 × 1.0.
  ScheduleInput in =
      Market({Provider("cheap-bad", 3), Provider("dear-good", 4)}, {Tenant("t", {Task(1)})});
  in.providers[0].reputation_ppm = 100'000;
  EXPECT_EQ(Winner(in), "dear-good");
  in.providers[0].reputation_ppm = 700'000;  // 3 × 1.3 = 3.9 < 4
  EXPECT_EQ(Winner(in), "cheap-bad");
  // The price paid is the ask, not the effective cost.
  EXPECT_EQ(Schedule(in)[0].price_uagr, 300u);
}

TEST(SchedulerTest, AskAboveMaxPriceNeverChosen) {
  ScheduleInput in = Market({Provider("dear", 11)}, {Tenant("t", {Task(1)})});
  in.tenants[0].open[0].price_max_per_wu = 10;
  EXPECT_EQ(Winner(in), "");
  in.providers.push_back(Provider("at-max", 10));
  EXPECT_EQ(Winner(in), "at-max");
}

TEST(SchedulerTest, HardwareClassFitsTheTier) {
  ProviderOffer cpu = Provider("cpu", 1), sm80 = Provider("sm80", 2), sm90 = Provider("sm90", 3);
  sm80.hardware = HardwareClass::kGpuSm80;
  sm90.hardware = HardwareClass::kGpuSm90;
  OpenTask native = Task(1);
  native.tier = Tier::kNative;
  native.hardware = HardwareClass::kGpuSm90;
  EXPECT_EQ(Winner(Market({cpu, sm80, sm90}, {Tenant("t", {native})})), "sm90");
  native.hardware = HardwareClass::kGpuSm100;
  EXPECT_EQ(Winner(Market({cpu, sm80, sm90}, {Tenant("t", {native})})), "");
  // Exact runs anywhere: the cheapest, whatever its class, even when the
  // job's (unused) hardware field names another class.
  OpenTask exact = Task(1);
  exact.hardware = HardwareClass::kGpuSm90;
  EXPECT_EQ(Winner(Market({sm90, sm80, cpu}, {Tenant("t", {exact})})), "cpu");
  sm80.ask_uagr_per_wu = 1;
  sm80.speed_wu_per_s = 50;  // equal cost, faster
  EXPECT_EQ(Winner(Market({cpu, sm80, sm90}, {Tenant("t", {exact})})), "sm80");
}

TEST(SchedulerTest, InsufficientCollateralSkipped) {
  ScheduleInput in = Market({Provider("cheap", 1), Provider("dear", 2)}, {Tenant("t", {Task(1)})});
  in.providers[0].collateral_free_uagr = 199;  // needs 2 × 100
  EXPECT_EQ(Winner(in), "dear");
  in.providers[0].collateral_free_uagr = 200;
  EXPECT_EQ(Winner(in), "cheap");
  in.collateral_ppm = 3'000'000;  // now needs 300
  EXPECT_EQ(Winner(in), "dear");
}

TEST(SchedulerTest, CollateralIsConsumedWithinOneCall) {
  ScheduleInput in = Market({Provider("cheap", 1), Provider("dear", 2)},
                            {Tenant("t", {Task(1, 0, 0), Task(1, 1, 0), Task(1, 2, 0)})});
  in.providers[0].free_slots = 10;
  in.providers[0].collateral_free_uagr = 450;  // two tasks of 200, not three
  std::vector<Assignment> out = Schedule(in);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(ProviderName(in, out[0]), "cheap");
  EXPECT_EQ(ProviderName(in, out[1]), "cheap");
  EXPECT_EQ(ProviderName(in, out[2]), "dear");
}

TEST(SchedulerTest, ReputationBelowMinimumSkipped) {
  ScheduleInput in = Market({Provider("cheap", 1), Provider("dear", 5)}, {Tenant("t", {Task(1)})});
  in.providers[0].reputation_ppm = in.reputation_min_ppm - 1;
  EXPECT_EQ(Winner(in), "dear");
  in.providers[0].reputation_ppm = in.reputation_min_ppm;  // cost 1 × 1.9 < 5
  EXPECT_EQ(Winner(in), "cheap");
}

TEST(SchedulerTest, CapacityRespected) {
  std::vector<OpenTask> tasks;
  for (uint32_t r = 0; r < 5; ++r) tasks.push_back(Task(1, r));
  ScheduleInput in = Market({Provider("full", 0), Provider("cheap", 1), Provider("dear", 2)},
                            {Tenant("t", tasks)});
  in.providers[0].free_slots = 0;
  in.providers[1].free_slots = 2;
  in.providers[2].free_slots = 2;
  std::vector<Assignment> out = Schedule(in);
  ASSERT_EQ(out.size(), 4u);  // one task waits: no slot left
  std::map<std::string, int> per;
  for (const Assignment& a : out) ++per[ProviderName(in, a)];
  EXPECT_EQ(per["full"], 0);
  EXPECT_EQ(per["cheap"], 2);
  EXPECT_EQ(per["dear"], 2);
  EXPECT_EQ(out[0].task, 0u);  // within a tenant, in the order given
  EXPECT_EQ(out[3].task, 3u);
}

TEST(SchedulerTest, RoundSpeedBandPreferredWhenAvailable) {
  ProviderOffer fast = Provider("fast", 1), slow = Provider("slow", 2), mid = Provider("mid", 3);
  fast.speed_wu_per_s = 100;
  fast.free_slots = 1;
  slow.speed_wu_per_s = 10;
  mid.speed_wu_per_s = 90;
  // Two workers of one round, then a task of the next round.
  ScheduleInput in =
      Market({fast, slow, mid}, {Tenant("t", {Task(1, 0, 0), Task(1, 0, 1), Task(1, 1, 0)})});
  std::vector<Assignment> out = Schedule(in);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(ProviderName(in, out[0]), "fast");  // the round's first pick: cheapest
  EXPECT_EQ(ProviderName(in, out[1]), "mid");   // within 2x of 100, though dearer than slow
  EXPECT_EQ(ProviderName(in, out[2]), "slow");  // another round: cheapest again
  // A speed already running for the round (from earlier blocks) sets the band.
  OpenTask t = Task(2);
  t.round_speed_wu_per_s = 12;
  EXPECT_EQ(Winner(Market({fast, mid, slow}, {Tenant("t", {t})})), "slow");
  // The band is [speed / 2, 2 × speed], inclusive at both ends.
  t.round_speed_wu_per_s = 50;
  EXPECT_EQ(Winner(Market({fast, mid, slow}, {Tenant("t", {t})})), "fast");
  t.round_speed_wu_per_s = 20;  // slow's 10 is exactly half of it
  EXPECT_EQ(Winner(Market({fast, mid, slow}, {Tenant("t", {t})})), "slow");
  t.round_speed_wu_per_s = 21;
  EXPECT_EQ(Winner(Market({fast, mid, slow}, {Tenant("t", {t})})), "fast");
  // None in the band: any eligible provider, the cheapest.
  t.round_speed_wu_per_s = 1000;
  EXPECT_EQ(Winner(Market({mid, slow, fast}, {Tenant("t", {t})})), "fast");
}

TEST(SchedulerTest, ProviderTiesBrokenByBeacon) {
  ScheduleInput in =
      Market({Provider("p1", 7), Provider("p2", 7), Provider("p3", 7)}, {Tenant("t", {Task(1)})});
  std::set<std::string> winners;
  for (int b = 0; b < 32; ++b) {
    in.beacon = Blake2b256("beacon " + std::to_string(b));
    const std::string w = Winner(in);
    size_t best = 0;
    for (size_t i = 1; i < 3; ++i) {
      if (TieKey(in.beacon, in.providers[i].id) < TieKey(in.beacon, in.providers[best].id)) {
        best = i;
      }
    }
    EXPECT_EQ(w, "p" + std::to_string(best + 1)) << "beacon " << b;
    winners.insert(w);
  }
  EXPECT_EQ(winners.size(), 3u) << "a different beacon must be able to change the winner";
}

TEST(SchedulerTest, TenantTiesBrokenByBeacon) {
  ScheduleInput in = Market({Provider("p", 1)}, {Tenant("x", {Task(1)}), Tenant("y", {Task(2)})});
  in.providers[0].free_slots = 1;
  std::set<size_t> winners;
  for (int b = 0; b < 32; ++b) {
    in.beacon = Blake2b256("beacon " + std::to_string(b));
    std::vector<Assignment> out = Schedule(in);
    ASSERT_EQ(out.size(), 1u);
    const size_t expected =
        TieKey(in.beacon, in.tenants[1].id) < TieKey(in.beacon, in.tenants[0].id) ? 1 : 0;
    EXPECT_EQ(out[0].tenant, expected) << "beacon " << b;
    winners.insert(out[0].tenant);
  }
  EXPECT_EQ(winners.size(), 2u);
}

TEST(SchedulerTest, FewestRunningPerWeightGoesFirst) {
  std::vector<OpenTask> many(6, Task(1));
  ScheduleInput in = Market({Provider("p", 1)}, {Tenant("busy", many, /*weight=*/1,
                                                        /*running=*/5),
                                                 Tenant("idle", many, /*weight=*/1,
                                                        /*running=*/0)});
  in.providers[0].free_slots = 4;
  for (const Assignment& a : Schedule(in)) EXPECT_EQ(a.tenant, 1u);
  // Weight 3 with 5 running (5/3) is below 2/1: it gets the next slot.
  in.tenants[0].weight = 3;
  in.tenants[1].running = 2;
  in.providers[0].free_slots = 1;
  std::vector<Assignment> out = Schedule(in);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].tenant, 0u);
}

TEST(SchedulerTest, AssignmentsMaxRespected) {
  std::vector<OpenTask> tasks;
  for (uint32_t r = 0; r < 10; ++r) tasks.push_back(Task(1, r));
  ScheduleInput in = Market({Provider("p", 1)}, {Tenant("t", tasks)});
  in.providers[0].free_slots = 100;
  in.assignments_max = 3;
  EXPECT_EQ(Schedule(in).size(), 3u);
  in.assignments_max = 0;
  EXPECT_TRUE(Schedule(in).empty());
  EXPECT_TRUE(ScheduleFifo(in, {{0, 0}, {0, 1}}).empty());
  in.assignments_max = 100;
  EXPECT_EQ(Schedule(in).size(), 10u);
}

TEST(SchedulerTest, UnassignableTasksDoNotUseUpTheBound) {
  // Tasks no provider can take (price cap below every ask) are skipped in
  // O(1): 300 of them ahead of an assignable one, with a bound of 4 x 2
  // scans, still leave it assigned.
  std::vector<OpenTask> tasks(300, Task(1));
  for (OpenTask& t : tasks) t.price_max_per_wu = 0;
  tasks.push_back(Task(2));
  ScheduleInput in = Market({Provider("p", 1)}, {Tenant("t", tasks)});
  in.assignments_max = 2;
  const std::vector<Assignment> a = Schedule(in);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].task, 300u);
  // Many idle tenants with unassignable jobs (load 0, served first) cannot
  // starve a tenant that already runs tasks.
  std::vector<TenantQueue> tenants;
  for (int i = 0; i < 100; ++i) {
    OpenTask t = Task(100 + static_cast<uint64_t>(i));
    t.price_max_per_wu = 0;
    tenants.push_back(Tenant("idle" + std::to_string(i), std::vector<OpenTask>(64, t)));
  }
  TenantQueue busy = Tenant("busy", {Task(7)});
  busy.running = 5;
  tenants.push_back(busy);
  ScheduleInput crowded = Market({Provider("p", 1)}, tenants);
  crowded.assignments_max = 1;
  const std::vector<Assignment> b = Schedule(crowded);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].tenant, 100u);
}

TEST(SchedulerTest, AClientIsNeverItsOwnProvider) {
  ScheduleInput in = Market({Provider("same", 1), Provider("other", 5)},
                            {Tenant("same", {Task(1)})});
  const std::vector<Assignment> a = Schedule(in);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].provider, 1u) << "the cheaper provider is the client itself";
}

TEST(SchedulerTest, AnExcludedProviderIsPassedOver) {
  OpenTask again = Task(1, 0, 0);
  again.excluded = {ToBytes("b")};
  // The cheapest provider missed it: the next one takes it.
  ScheduleInput in = Market({Provider("a", 5), Provider("b", 3)}, {Tenant("t", {again})});
  EXPECT_EQ(Winner(in), "a");
  // Nobody else: it waits, and holds its job's other tasks back in this
  // call (they would cost a scan each); another tenant is still served.
  in = Market({Provider("b", 3)},
              {Tenant("t", {again, Task(1, 0, 1)}), Tenant("u", {Task(2, 0, 0)})});
  const std::vector<Assignment> out = Schedule(in);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].tenant, 1u);
  EXPECT_EQ(ProviderName(in, out[0]), "b");
}

TEST(SchedulerTest, ADeadlineBoundPassesOverProvidersTooSlowForIt) {
  // 100 wu, slack 50%, 1 s blocks, at least 10 blocks: speed 10 gets
  // ceil(100 / 10 × 1.5) + 10 = 25 blocks, speed 50 gets 3 + 10 = 13.
  ProviderOffer slow = Provider("slow-cheap", 1), fast = Provider("fast-dear", 9);
  fast.speed_wu_per_s = 50;
  ScheduleInput in = Market({slow, fast}, {Tenant("t", {Task(1)})});
  ASSERT_EQ(DeadlineBlocks(100, 10, in.deadline_rule), 25u);
  ASSERT_EQ(DeadlineBlocks(100, 50, in.deadline_rule), 13u);
  EXPECT_EQ(Winner(in), "slow-cheap") << "no bound: the cheapest";
  in.tenants[0].open[0].deadline_blocks_max = 25;
  EXPECT_EQ(Winner(in), "slow-cheap") << "a bound the slow one meets exactly";
  in.tenants[0].open[0].deadline_blocks_max = 24;
  EXPECT_EQ(Winner(in), "fast-dear");
  in.tenants[0].open[0].deadline_blocks_max = 13;
  EXPECT_EQ(Winner(in), "fast-dear");
  // Shorter than the fastest provider gets: nobody, found without a scan
  // (300 jobs, so the shortcut for a job no provider took does not apply),
  // and another tenant's task is still served within a bound of 4 scans.
  in.tenants[0].open[0].deadline_blocks_max = 12;
  EXPECT_EQ(Winner(in), "");
  std::vector<OpenTask> hopeless(300, in.tenants[0].open[0]);
  for (size_t i = 0; i < hopeless.size(); ++i) hopeless[i].job = 1000 + i;
  in = Market({slow, fast}, {Tenant("t", hopeless), Tenant("u", {Task(2)})});
  in.tenants[1].running = 10;  // served after every hopeless task was looked at
  in.assignments_max = 1;
  bool examined_all = false;
  const std::vector<Assignment> out = Schedule(in, &examined_all);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].tenant, 1u);
  EXPECT_EQ(ProviderName(in, out[0]), "slow-cheap");
  EXPECT_TRUE(examined_all);
  // The rule is the caller's: with a minimum of 20 blocks the fast one
  // gets 23 and the slow one 35.
  in = Market({slow, fast}, {Tenant("t", {Task(1)})});
  in.deadline_rule.min_blocks = 20;
  in.tenants[0].open[0].deadline_blocks_max = 23;
  EXPECT_EQ(Winner(in), "fast-dear");
  in.tenants[0].open[0].deadline_blocks_max = 22;
  EXPECT_EQ(Winner(in), "");
}

TEST(SchedulerTest, FifoServesInArrivalOrder) {
  ScheduleInput in =
      Market({Provider("p", 1)}, {Tenant("x", {Task(1), Task(1, 1)}), Tenant("y", {Task(2)})});
  in.providers[0].free_slots = 2;
  std::vector<Assignment> out = ScheduleFifo(in, {{1, 0}, {0, 1}, {0, 0}});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].tenant, 1u);
  EXPECT_EQ(out[1].tenant, 0u);
  EXPECT_EQ(out[1].task, 1u);
}

// ---------------------------------------------------------------- random markets

// splitmix64: small, seedable, the same on every platform.
struct Rng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform enough in [lo, hi] for a test. REQUIRES: lo <= hi.
  uint64_t In(uint64_t lo, uint64_t hi) { return lo + Next() % (hi - lo + 1); }
  bool Chance(uint64_t percent) { return Next() % 100 < percent; }
};

// Seeds 1..count, or only $AGORA_TEST_SEED when it is set.
std::vector<uint64_t> Seeds(uint64_t count) { return agora::testing::TestSeeds(1, count); }

std::string Reproduce(uint64_t seed) { return agora::testing::ReproduceLine(seed); }

HardwareClass RandomClass(Rng& rng) {
  return static_cast<HardwareClass>(rng.In(1, kHardwareClassMax));
}

// A market with every kind of ineligibility: full providers, low
// reputation, dear asks, wrong classes, thin collateral, zero speed, and
// tasks of shared rounds so the speed band matters.
ScheduleInput RandomMarket(uint64_t seed) {
  Rng rng{seed};
  ScheduleInput in;
  in.beacon = Blake2b256("beacon " + std::to_string(seed));
  in.assignments_max = rng.In(1, 40);
  in.collateral_ppm = std::vector<uint64_t>{0, 500'000, 2'000'000}[rng.In(0, 2)];
  in.reputation_min_ppm = rng.In(0, 300'000);
  const uint64_t providers = rng.In(1, 40);
  for (uint64_t i = 0; i < providers; ++i) {
    ProviderOffer p;
    p.id = ToBytes("prov-" + std::to_string(i) + "-" + std::to_string(rng.Next() % 1000));
    p.hardware = RandomClass(rng);
    p.speed_wu_per_s = rng.Chance(5) ? 0 : 25 * rng.In(1, 8);  // few values: ties
    p.free_slots = static_cast<uint32_t>(rng.In(0, 4));
    p.ask_uagr_per_wu = rng.In(1, 30);  // few values: many equal costs
    p.reputation_ppm = rng.Chance(20)   ? in.reputation_min_ppm
                       : rng.Chance(50) ? kPpm
                                        : rng.In(0, kPpm);
    p.collateral_free_uagr = rng.In(0, 40'000);
    in.providers.push_back(std::move(p));
  }
  const uint64_t tenants = rng.In(1, 8);
  for (uint64_t i = 0; i < tenants; ++i) {
    TenantQueue q;
    q.id = ToBytes("tenant-" + std::to_string(i));
    q.weight = rng.In(1, 4);
    q.running = rng.In(0, 5);
    const uint64_t tasks = rng.In(0, 12);
    for (uint64_t k = 0; k < tasks; ++k) {
      OpenTask t;
      t.job = i * 10 + rng.In(0, 2);
      t.round = static_cast<uint32_t>(rng.In(0, 2));
      t.worker = static_cast<uint32_t>(k);
      t.work_wu = rng.In(1, 500);
      t.price_max_per_wu = rng.In(0, 32);
      t.tier = rng.Chance(70) ? Tier::kExact : Tier::kNative;
      t.hardware = RandomClass(rng);
      t.round_speed_wu_per_s = rng.Chance(70) ? 0 : rng.In(1, 200);
      t.deadline_blocks_max = rng.Chance(70) ? 0 : rng.In(10, 40);
      q.open.push_back(t);
    }
    in.tenants.push_back(std::move(q));
  }
  return in;
}

// The safety properties every output must have.
void CheckSafety(const ScheduleInput& in, const std::vector<Assignment>& out) {
  ASSERT_LE(out.size(), in.assignments_max);
  std::vector<uint64_t> used_slots(in.providers.size()), locked(in.providers.size());
  std::set<std::pair<size_t, size_t>> tasks;
  for (const Assignment& a : out) {
    ASSERT_LT(a.tenant, in.tenants.size());
    ASSERT_LT(a.task, in.tenants[a.tenant].open.size());
    ASSERT_LT(a.provider, in.providers.size());
    ASSERT_TRUE(tasks.insert({a.tenant, a.task}).second) << "task assigned twice";
    const OpenTask& t = in.tenants[a.tenant].open[a.task];
    const ProviderOffer& p = in.providers[a.provider];
    EXPECT_LE(p.ask_uagr_per_wu, t.price_max_per_wu) << "ask above the task's max price";
    EXPECT_EQ(a.price_uagr, t.work_wu * p.ask_uagr_per_wu);
    EXPECT_EQ(a.collateral_uagr, Collateral(a.price_uagr, in.collateral_ppm));
    EXPECT_GE(p.reputation_ppm, in.reputation_min_ppm);
    EXPECT_TRUE(t.tier == Tier::kExact || t.hardware == p.hardware) << "wrong hardware class";
    EXPECT_GT(p.speed_wu_per_s, 0u);
    if (t.deadline_blocks_max != 0) {
      EXPECT_LE(DeadlineBlocks(t.work_wu, p.speed_wu_per_s, in.deadline_rule), t.deadline_blocks_max)
          << "a provider too slow for the task's deadline bound";
    }
    ++used_slots[a.provider];
    locked[a.provider] += a.collateral_uagr;
  }
  for (size_t i = 0; i < in.providers.size(); ++i) {
    EXPECT_LE(used_slots[i], in.providers[i].free_slots) << "provider " << i << " over capacity";
    EXPECT_LE(locked[i], in.providers[i].collateral_free_uagr)
        << "provider " << i << " locked more than its free collateral";
  }
}

using IdAssignment = std::tuple<Bytes, Bytes, size_t>;  // provider id, tenant id, task

std::vector<IdAssignment> ById(const ScheduleInput& in, const std::vector<Assignment>& out) {
  std::vector<IdAssignment> ids;
  for (const Assignment& a : out) {
    ids.emplace_back(in.providers[a.provider].id, in.tenants[a.tenant].id, a.task);
  }
  return ids;
}

TEST(SchedulerPropertyTest, SafetyAndDeterminism) {
  size_t assigned = 0, markets_with_some = 0;
  for (uint64_t seed : Seeds(300)) {
    SCOPED_TRACE(Reproduce(seed));
    const ScheduleInput in = RandomMarket(seed);
    const std::vector<Assignment> out = Schedule(in);
    CheckSafety(in, out);
    assigned += out.size();
    markets_with_some += out.empty() ? 0 : 1;
    EXPECT_EQ(Schedule(in), out) << "same input, different output";

    // The providers in another order: the same (provider id, tenant id,
    // task) assignments, in the same order.
    Rng rng{seed ^ 0xabcdef};
    ScheduleInput shuffled = in;
    for (size_t i = shuffled.providers.size(); i > 1; --i) {
      std::swap(shuffled.providers[i - 1], shuffled.providers[rng.In(0, i - 1)]);
    }
    const std::vector<Assignment> out2 = Schedule(shuffled);
    CheckSafety(shuffled, out2);
    EXPECT_EQ(ById(shuffled, out2), ById(in, out)) << "provider order changed the assignments";

    // FIFO over every task in tenant order has the same safety properties.
    std::vector<std::pair<size_t, size_t>> arrival;
    for (size_t t = 0; t < in.tenants.size(); ++t) {
      for (size_t k = 0; k < in.tenants[t].open.size(); ++k) arrival.push_back({t, k});
    }
    CheckSafety(in, ScheduleFifo(in, arrival));
    if (::testing::Test::HasFailure()) break;
  }
  // The generator is not vacuous: most markets assign something.
  if (!agora::testing::TestSeedOverride()) {
    EXPECT_GT(markets_with_some, 200u);
    EXPECT_GT(assigned, 1000u);
  }
}

// Progressive filling restated: the k-th slot goes to a tenant whose level
// (running + assigned so far) / weight is the least among tenants with
// tasks left. Only counts matter; ties may break either way.
std::vector<uint64_t> ReferenceFill(const ScheduleInput& in, size_t slots) {
  std::vector<uint64_t> load, count(in.tenants.size());
  for (const TenantQueue& q : in.tenants) load.push_back(q.running);
  for (size_t k = 0; k < slots; ++k) {
    size_t best = in.tenants.size();
    for (size_t i = 0; i < in.tenants.size(); ++i) {
      if (count[i] >= in.tenants[i].open.size()) continue;
      if (best == in.tenants.size() ||
          load[i] * in.tenants[best].weight < load[best] * in.tenants[i].weight) {
        best = i;
      }
    }
    if (best == in.tenants.size()) break;
    ++load[best];
    ++count[best];
  }
  return count;
}

// Every tenant has a backlog of identical tasks any provider can take, and
// capacity exceeds assignments_max: the call is bounded by assignments_max
// only, and the tenant shares follow weighted max-min fairness exactly.
ScheduleInput FairnessMarket(uint64_t seed, bool equal) {
  Rng rng{seed};
  ScheduleInput in;
  in.beacon = Blake2b256("fair " + std::to_string(seed));
  in.assignments_max = rng.In(1, 200);
  const uint64_t tenants = rng.In(2, 12);
  const uint64_t running = rng.In(0, 6);
  for (uint64_t i = 0; i < tenants; ++i) {
    TenantQueue q;
    q.id = ToBytes("tenant-" + std::to_string(i));
    q.weight = equal ? 1 : rng.In(1, 5);
    q.running = equal ? running : rng.In(0, 10);
    for (uint32_t k = 0; k < in.assignments_max + 1; ++k) q.open.push_back(Task(100 + i, k));
    in.tenants.push_back(std::move(q));
  }
  const uint64_t providers = rng.In(1, 20);
  for (uint64_t i = 0; i < providers; ++i) {
    ProviderOffer p = Provider("prov-" + std::to_string(i), rng.In(1, 10));
    p.speed_wu_per_s = rng.In(1, 100);
    p.free_slots = static_cast<uint32_t>(in.assignments_max);
    in.providers.push_back(std::move(p));
  }
  return in;
}

void CheckFairShare(const ScheduleInput& in, const std::vector<Assignment>& out) {
  ASSERT_EQ(out.size(), in.assignments_max) << "capacity was ample; every slot should be used";
  // Replay: each assignment went to a least-loaded tenant per weight.
  std::vector<uint64_t> load, count(in.tenants.size());
  for (const TenantQueue& q : in.tenants) load.push_back(q.running);
  for (const Assignment& a : out) {
    for (size_t j = 0; j < in.tenants.size(); ++j) {
      ASSERT_LE(load[a.tenant] * in.tenants[j].weight, load[j] * in.tenants[a.tenant].weight)
          << "tenant " << a.tenant << " served before less-loaded tenant " << j;
    }
    ++load[a.tenant];
    ++count[a.tenant];
  }
  // Within one task of the reference filling, tenant by tenant.
  const std::vector<uint64_t> reference = ReferenceFill(in, in.assignments_max);
  for (size_t i = 0; i < count.size(); ++i) {
    EXPECT_LE(count[i], reference[i] + 1) << "tenant " << i;
    EXPECT_LE(reference[i], count[i] + 1) << "tenant " << i;
  }
}

TEST(SchedulerPropertyTest, EqualWeightsShareWithinOneTask) {
  for (uint64_t seed : Seeds(300)) {
    SCOPED_TRACE(Reproduce(seed));
    const ScheduleInput in = FairnessMarket(seed, /*equal=*/true);
    const std::vector<Assignment> out = Schedule(in);
    CheckFairShare(in, out);
    std::vector<uint64_t> count(in.tenants.size());
    for (const Assignment& a : out) ++count[a.tenant];
    const auto [lo, hi] = std::minmax_element(count.begin(), count.end());
    EXPECT_LE(*hi - *lo, 1u) << "equal tenants differ by more than one task";
    if (::testing::Test::HasFailure()) break;
  }
}

TEST(SchedulerPropertyTest, WeightedSharesFollowProgressiveFilling) {
  for (uint64_t seed : Seeds(300)) {
    SCOPED_TRACE(Reproduce(seed));
    const ScheduleInput in = FairnessMarket(seed, /*equal=*/false);
    const std::vector<Assignment> out = Schedule(in);
    CheckFairShare(in, out);
    // From zero running, counts are proportional to weight within one
    // task: c_i <= m w_i / W + 1.
    ScheduleInput fresh = in;
    uint64_t weight_sum = 0;
    for (TenantQueue& q : fresh.tenants) {
      q.running = 0;
      weight_sum += q.weight;
    }
    std::vector<uint64_t> count(in.tenants.size());
    for (const Assignment& a : Schedule(fresh)) ++count[a.tenant];
    for (size_t i = 0; i < count.size(); ++i) {
      EXPECT_LE(count[i] * weight_sum, fresh.assignments_max * fresh.tenants[i].weight + weight_sum)
          << "tenant " << i << " above its weighted share by more than one task";
    }
    if (::testing::Test::HasFailure()) break;
  }
}

// ---------------------------------------------------------------- many blocks

// Tenants with endless backlogs of identical tasks, providers whose slots
// are all eligible for every task, and tasks that run 1..8 blocks before
// they free their slot and collateral. assignments_max exceeds the slots,
// so each block refills every freed slot. Asserted after every block:
//  (1) every slot is busy;
//  (2) weighted max-min: for all tenants i, j,
//        (running_i - 1) × w_j <= running_j × w_i
//      (with equal weights: running counts differ by at most one);
//  (3) hence over any window of W blocks the slot-blocks of two
//      equal-weight tenants differ by at most W (one task per block);
//      checked directly for every window of 10 and of 50 blocks.
// Assignment counts per window are not bounded this way: a tenant whose
// tasks happen to finish sooner is assigned more often, which is fair.
void RunManyBlocks(uint64_t seed, bool equal) {
  Rng rng{seed};
  const uint64_t tenants = rng.In(2, 8);
  std::vector<uint64_t> weight(tenants), running(tenants, 0), next_task(tenants, 0);
  for (uint64_t& w : weight) w = equal ? 1 : rng.In(1, 4);
  std::vector<ProviderOffer> providers;
  uint64_t capacity = 0;
  const uint64_t provider_count = rng.In(2, 12);
  for (uint64_t i = 0; i < provider_count; ++i) {
    ProviderOffer p = Provider("prov-" + std::to_string(i), rng.In(1, 5));
    p.free_slots = static_cast<uint32_t>(rng.In(1, 4));
    p.speed_wu_per_s = rng.In(5, 50);
    p.collateral_free_uagr = p.free_slots * Collateral(100 * 5, 2'000'000);
    capacity += p.free_slots;
    providers.push_back(std::move(p));
  }
  struct Running {
    uint64_t finish;
    size_t tenant, provider;
    uint64_t collateral;
  };
  std::vector<Running> live;
  constexpr uint64_t kBlocks = 400;
  std::vector<std::vector<uint64_t>> held(tenants);  // running count after each block
  for (uint64_t height = 0; height < kBlocks; ++height) {
    // Finish what is due: free the slot and the collateral.
    for (size_t i = 0; i < live.size();) {
      if (live[i].finish > height) {
        ++i;
        continue;
      }
      --running[live[i].tenant];
      ++providers[live[i].provider].free_slots;
      providers[live[i].provider].collateral_free_uagr += live[i].collateral;
      live[i] = live.back();
      live.pop_back();
    }
    ScheduleInput in;
    in.providers = providers;
    in.beacon = Blake2b256("block " + std::to_string(seed) + "/" + std::to_string(height));
    in.assignments_max = capacity + 1;
    for (uint64_t t = 0; t < tenants; ++t) {
      TenantQueue q = Tenant("tenant-" + std::to_string(t), {}, weight[t], running[t]);
      for (uint64_t k = 0; k <= capacity; ++k) {
        q.open.push_back(Task(t, static_cast<uint32_t>(next_task[t] + k)));
      }
      in.tenants.push_back(std::move(q));
    }
    const std::vector<Assignment> out = Schedule(in);
    CheckSafety(in, out);
    for (const Assignment& a : out) {
      ++running[a.tenant];
      ++next_task[a.tenant];
      --providers[a.provider].free_slots;
      providers[a.provider].collateral_free_uagr -= a.collateral_uagr;
      live.push_back({height + rng.In(1, 8), a.tenant, a.provider, a.collateral_uagr});
    }
    ASSERT_EQ(live.size(), capacity) << "height " << height << ": a slot stayed free";
    for (uint64_t i = 0; i < tenants; ++i) {
      held[i].push_back(running[i]);
      for (uint64_t j = 0; j < tenants; ++j) {
        ASSERT_LE((running[i] == 0 ? 0 : running[i] - 1) * weight[j], running[j] * weight[i])
            << "height " << height << ": tenant " << i << " holds " << running[i] << " (weight "
            << weight[i] << "), tenant " << j << " holds " << running[j] << " (weight " << weight[j]
            << ")";
      }
    }
  }
  if (!equal) return;
  for (uint64_t window : {10u, 50u}) {
    for (uint64_t start = 0; start + window <= kBlocks; ++start) {
      std::vector<uint64_t> slot_blocks(tenants, 0);
      for (uint64_t i = 0; i < tenants; ++i) {
        for (uint64_t h = start; h < start + window; ++h) slot_blocks[i] += held[i][h];
      }
      const auto [lo, hi] = std::minmax_element(slot_blocks.begin(), slot_blocks.end());
      ASSERT_LE(*hi - *lo, window) << "window [" << start << ", " << start + window << ")";
    }
  }
}

TEST(SchedulerPropertyTest, ManyBlocksEqualWeights) {
  for (uint64_t seed : Seeds(30)) {
    SCOPED_TRACE(Reproduce(seed));
    RunManyBlocks(seed, /*equal=*/true);
    if (::testing::Test::HasFailure()) break;
  }
}

TEST(SchedulerPropertyTest, ManyBlocksWeighted) {
  for (uint64_t seed : Seeds(30)) {
    SCOPED_TRACE(Reproduce(seed));
    RunManyBlocks(seed, /*equal=*/false);
    if (::testing::Test::HasFailure()) break;
  }
}

// SpeedNeeded is the least speed DeadlineBlocks puts within a bound, which
// the scheduler compares speeds against instead of dividing per provider.
TEST(SchedulerPropertyTest, SpeedNeededIsTheLeastSpeedWithinTheBound) {
  for (uint64_t seed : Seeds(2'000)) {
    SCOPED_TRACE(Reproduce(seed));
    Rng rng{seed};
    const DeadlineRule rule{rng.In(0, 3'000'000), rng.In(50, 5'000), rng.In(0, 50)};
    const uint64_t work = rng.Chance(5) ? 0 : rng.In(1, rng.Chance(50) ? 1'000 : 1'000'000'000);
    const uint64_t bound = rng.In(0, 10'000'000);
    const uint64_t speed = SpeedNeeded(work, bound, rule);
    if (speed == UINT64_MAX) {
      EXPECT_GT(DeadlineBlocks(work, uint64_t{1} << 62, rule), bound);
      continue;
    }
    ASSERT_GE(speed, 1u);
    EXPECT_LE(DeadlineBlocks(work, speed, rule), bound);
    if (speed > 1) {
      EXPECT_GT(DeadlineBlocks(work, speed - 1, rule), bound);
    }
  }
}

}  // namespace
}  // namespace agora::market
