// Seeded random markets through the ledger, block by block: providers
// register, update and leave; clients post and cancel jobs; verification's
// verdicts pass or fail assigned tasks at random; deadlines run out. After
// every block: conservation (the harness audits it), no task priced above
// its job's maximum, escrow never below what it has locked, no provider over
// its capacity or with more collateral locked than stake, no assigned task
// past its deadline (a missed deadline always reassigns), and a second
// ledger fed the same blocks agrees on the app hash (determinism).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>

#include "consensus/ledger/marketplace.h"
#include "consensus/ledger/staking.h"
#include "consensus/ledger/verification.h"
#include "market/pricing.h"
#include "tests/consensus/ledger_harness.h"
#include "tests/consensus/market_harness.h"
#include "tests/test_util.h"

namespace agora::consensus {
namespace {

using marketplace::JobStatus;
using marketplace::TaskStatus;
using testing::AddressOf;
using testing::Key;
using testing::LedgerHarness;
using testing::Signed;

constexpr uint64_t kAgr = 1'000'000;
constexpr uint8_t kProviders = 6;  // keys 1..6
constexpr uint8_t kClients = 4;    // keys 7..10

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t s_;
};

Params PropertyParams() {
  Params p;
  p.epoch_blocks = 10;
  p.unbonding_blocks = 21;
  p.evidence_age_blocks_max = 10;
  p.deadline_slack_ppm = 0;
  p.deadline_min_blocks = 3;
  p.assignments_per_block_max = 8;
  return p;
}

market::JobSpec RandomSpec(Rng& rng) {
  market::JobSpec s;
  s.dataset_hash = Blake2b256(U64Bytes(rng.Next()));
  s.dataset_bytes = 100'000;
  s.rounds = static_cast<uint32_t>(1 + rng.Below(3));
  s.workers = static_cast<uint32_t>(1 + rng.Below(4));
  s.inner_steps = static_cast<uint32_t>(10 * (1 + rng.Below(5)));
  s.checkpoint_interval = 10;
  s.optimizer.warmup_steps = s.inner_steps;
  if (rng.Below(4) == 0) {
    s.tier = market::Tier::kNative;
    s.hardware = rng.Below(2) ? market::HardwareClass::kCpu : market::HardwareClass::kGpuSm90;
  }
  return s;
}

// Every invariant of the market over committed state; returns the first
// broken one.
std::string Key(std::string_view prefix, const Address& a) {
  std::string k(prefix);
  k.append(a.bytes().begin(), a.bytes().end());
  return k;
}

std::string TaskSuffix(const marketplace::TaskId& id) {
  Bytes b;
  PutU64BigEndian(b, id.job);
  for (uint32_t v : {id.round, id.worker}) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(v >> shift));
  }
  return std::string(b.begin(), b.end());
}

std::string CheckInvariants(LedgerHarness& h) {
  StateReader& state = h.ledger().committed();
  const uint64_t height = h.ledger().Height();
  std::map<Address, uint64_t> running, locked, tenant_running, client_jobs;
  uint64_t held_for_records = 0;
  for (const marketplace::Job& j : marketplace::ListJobs(state, 0, SIZE_MAX)) {
    const std::string where = "job " + std::to_string(j.id) + " at height " + std::to_string(height);
    if (j.escrow_uagr < j.locked_uagr) return where + ": escrow below what it locks";
    uint64_t job_locked = 0, job_running = 0;
    const bool active = j.status == JobStatus::kOpen || j.status == JobStatus::kRunning;
    if (j.ended_height == 0) client_jobs[j.client] += 1;
    bool anything_left = false;
    for (const auto& [id, t] : marketplace::TasksOf(state, j.id, SIZE_MAX)) {
      const bool waiting = t.status == TaskStatus::kOpen || t.status == TaskStatus::kReassigned;
      const bool indexed = state.Get(Key("market/open/", j.client) + TaskSuffix(id)).has_value();
      if (indexed != (waiting && active)) return where + ": open index differs for a task";
      if (active && (waiting || t.status == TaskStatus::kAssigned)) anything_left = true;
      if (t.status != TaskStatus::kAssigned) continue;
      {
        Bytes dk;
        PutU64BigEndian(dk, t.deadline_height);
        if (!state.Get("market/deadline/" + std::string(dk.begin(), dk.end()) + TaskSuffix(id))) {
          return where + ": an assigned task has no deadline entry";
        }
      }
      tenant_running[j.client] += 1;
      if (t.price_uagr > j.work_wu * j.price_max_uagr_per_wu) return where + ": price above the maximum";
      if (t.deadline_height <= height) return where + ": a task is still assigned past its deadline";
      // Fewer than 1,024 deadlines fall on one height here, so none is
      // moved on: the job's bound holds exactly.
      if (j.deadline_blocks_max != 0 &&
          t.deadline_height - t.assigned_height > j.deadline_blocks_max) {
        return where + ": a task's deadline is past its job's bound";
      }
      job_locked += t.price_uagr;
      ++job_running;
      running[*t.provider] += 1;
      locked[*t.provider] += t.collateral_uagr;
    }
    if (job_locked != j.locked_uagr || job_running != j.running) {
      return where + ": locked/running differ from its tasks";
    }
    if (active && !anything_left) {
      // Between rounds a job waits for verification to record the next
      // round's start: its record is open, or scheduled to open.
      const uint32_t next = j.round_passed == j.spec.workers ? j.round + 1 : j.round;
      const std::optional<verification::RoundRecord> r = verification::GetRound(state, j.id, next);
      bool waiting = r && !r->recorded && !r->abandoned;
      if (!r) {
        const std::string suffix =
            TaskSuffix({j.id, next, 0xffffffffu}) + std::string(4, '\0');
        for (const auto& [key, value] : state.ScanPrefix(AsBytes("verify/due/"), SIZE_MAX)) {
          const std::string k(key.begin(), key.end());
          waiting |= k.size() >= suffix.size() && k.ends_with(suffix);
        }
      }
      if (!waiting) return where + ": active with nothing open, running or being recorded (stuck)";
    }
    const bool ended = j.status != JobStatus::kOpen && j.status != JobStatus::kRunning;
    if (ended && j.running == 0 && j.escrow_uagr != 0) return where + ": ended with escrow left";
    // The fee set aside for round records: on the job until a record opens,
    // then on the record until it is paid or refunded; never left behind.
    if (j.ended_height != 0 && j.aggregation_fee_uagr != 0) {
      return where + ": ended with an aggregation fee left";
    }
    held_for_records += j.aggregation_fee_uagr;
    for (const verification::RoundRecord& r : verification::RoundsOf(state, j.id, SIZE_MAX)) {
      if (r.recorded || r.abandoned) continue;
      held_for_records += r.fee_uagr;
      if (!active && r.due_height < height) {
        return where + ": the record of round " + std::to_string(r.round) +
               " is still open after its job ended";
      }
    }
  }
  if (held_for_records > state.GetU64(marketplace::kValidatorFeesKey)) {
    return "more set aside for round records than the validators' fees hold";
  }
  for (const auto& [client, n] : tenant_running) {
    if (state.GetU64(Key("market/tenant/", client)) != n) return "tenant running count differs";
  }
  for (const auto& [client, n] : client_jobs) {
    if (state.GetU64(marketplace::ClientJobsKey(client)) != n) return "client job count differs";
  }
  for (const marketplace::Provider& p : marketplace::ListProviders(state, SIZE_MAX)) {
    const std::string where = "provider " + p.address.ToString();
    const bool free_key = state.Get(Key("market/free/", p.address)).has_value();
    if (free_key != (p.running < p.offer.capacity_tasks)) return where + ": free index differs";
    if (p.running != running[p.address]) return where + ": running count differs from its tasks";
    // (A provider may lower its capacity below what runs; the scheduler
    // then gives it nothing until it is below again: checked in market_test.)
    if (staking::GetLocked(state, p.address) != locked[p.address]) {
      return where + ": locked collateral differs from its tasks";
    }
    if (locked[p.address] > staking::GetStake(state, p.address)) {
      return where + ": more collateral locked than stake";
    }
  }
  return "";
}

void RunMarket(uint64_t seed, uint64_t blocks) {
  SCOPED_TRACE(agora::testing::ReproduceLine(seed));
  Rng rng(seed);
  const Params params = PropertyParams();
  LedgerHarness a(4, kProviders + kClients, params), b(4, kProviders + kClients, params);
  std::map<uint8_t, uint64_t> nonce;
  uint64_t assigned = 0, missed = 0, passed = 0, failed = 0, posted = 0, recorded = 0, abandoned = 0;
  for (uint64_t block = 0; block < blocks; ++block) {
    std::vector<Tx> txs;
    auto send = [&](uint8_t key, const Msg& msg) {
      txs.push_back(Signed(Key(key), nonce[key]++, msg));
    };
    const uint64_t actions = rng.Below(4);
    for (uint64_t i = 0; i < actions; ++i) {
      const uint8_t provider = static_cast<uint8_t>(1 + rng.Below(kProviders));
      const uint8_t client = static_cast<uint8_t>(1 + kProviders + rng.Below(kClients));
      ProviderOffer offer{rng.Below(3) ? market::HardwareClass::kCpu
                                       : market::HardwareClass::kGpuSm90,
                          1 + rng.Below(20), static_cast<uint32_t>(1 + rng.Below(3)),
                          100 + rng.Below(2000), "http://127.0.0.1:9000"};
      switch (rng.Below(8)) {
        case 0:
          send(provider, MsgStake{(10 + rng.Below(20)) * kAgr});
          send(provider, MsgRegisterProvider{offer});
          break;
        case 1:
          send(provider, MsgUpdateProvider{offer});
          break;
        case 2:
          send(provider, MsgUnstake{rng.Below(20) * kAgr + 1});
          break;
        case 3:
          if (rng.Below(4) == 0) send(provider, MsgDeregisterProvider{});
          break;
        case 4:
        case 5: {
          const market::JobSpec spec = RandomSpec(rng);
          const uint64_t max_price = 200 + rng.Below(2000);
          const uint64_t need = market::BudgetNeeded(market::TaskCount(spec),
                                                     market::TaskWorkWu(spec), max_price)
                                    .value();
          // A third bound their tasks' deadlines, some below what any
          // provider can meet (refused) and some that only fast ones meet.
          const uint64_t deadline_max = rng.Below(3) == 0 ? 1 + rng.Below(60) : 0;
          send(client, MsgPostJob{spec, need + rng.Below(need + 1), max_price, "", deadline_max});
          ++posted;
          break;
        }
        case 6:
          send(client, MsgCancelJob{1 + rng.Below(posted + 1)});
          break;
        default:
          break;
      }
    }
    // The drawn validators record round starts: most answer (a commitment
    // first, then the values), some send other values, some stay silent.
    for (const marketplace::Job& j : marketplace::ListJobs(a.ledger().committed(), 0, SIZE_MAX)) {
      for (const verification::RoundRecord& r :
           verification::RoundsOf(a.ledger().committed(), j.id, SIZE_MAX)) {
        if (r.recorded || r.abandoned || r.assignees.empty()) continue;
        const uint64_t dice = rng.Below(8);
        if (dice == 0) continue;  // silent: replaced after verify.verdict_blocks
        const Address& v = r.assignees.front();
        uint8_t key = 0;
        for (uint8_t k = 100; k < 104; ++k) key = AddressOf(testing::Key(k)) == v ? k : key;
        ASSERT_NE(key, 0);
        const std::string salt = dice == 1 ? "junk" : "weights";
        MsgRoundResult m;
        m.job_id = j.id;
        m.round = r.round;
        m.params_hash =
            Blake2b256(AsBytes(salt + std::to_string(j.id) + "/" + std::to_string(r.round)));
        for (uint32_t k = 0; r.round < j.spec.rounds && k < j.spec.workers; ++k) {
          m.start_hashes.push_back(testing::StartHash(j.id, r.round, k));
        }
        if (r.results.empty()) {
          m.commitment = verification::RoundResultCommitment(
              verification::RoundResultDigest(m.params_hash, m.validation_loss, m.start_hashes), v);
        }
        send(key, m);
      }
    }
    // Verification's verdicts on some assigned tasks, the same on both ledgers.
    std::vector<std::pair<marketplace::TaskId, bool>> verdicts;
    for (const marketplace::Job& j : marketplace::ListJobs(a.ledger().committed(), 0, SIZE_MAX)) {
      for (const auto& [id, t] : marketplace::TasksOf(a.ledger().committed(), j.id, SIZE_MAX)) {
        if (t.status == TaskStatus::kAssigned && rng.Below(3) == 0) {
          verdicts.push_back({id, rng.Below(5) != 0});
        }
      }
    }
    auto apply = [&](Ledger& l) {
      for (const auto& [id, ok] : verdicts) {
        const Status s = l.MarketVerdict(id, ok);
        EXPECT_TRUE(s.ok()) << s.message();
      }
    };
    const testing::BlockRun run = a.Run(txs, {}, {}, apply);
    b.Run(txs, {}, {}, apply);
    for (const auto& [id, ok] : verdicts) (ok ? passed : failed) += 1;
    for (const Event& e : run.end.events) {
      assigned += e.type == "task_assigned";
      missed += e.type == "task_missed";
      abandoned += e.type == "round_record_abandoned";
    }
    for (const TxResult& r : run.results) {
      for (const Event& e : r.events) recorded += e.type == "round_recorded";
    }
    ASSERT_EQ(a.ledger().AppHash(), b.ledger().AppHash()) << "block " << block;
    const std::string broken = CheckInvariants(a);
    ASSERT_EQ(broken, "") << "seed " << seed;
  }
  std::printf(
      "seed %llu: %llu jobs posted, %llu assignments, %llu passed, %llu failed, %llu missed, "
      "%llu round starts recorded, %llu abandoned\n",
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(posted),
      static_cast<unsigned long long>(assigned), static_cast<unsigned long long>(passed),
      static_cast<unsigned long long>(failed), static_cast<unsigned long long>(missed),
      static_cast<unsigned long long>(recorded), static_cast<unsigned long long>(abandoned));
  // The run exercised what it claims to.
  EXPECT_GT(assigned, 0u);
  EXPECT_GT(passed + failed + missed, 0u);
  EXPECT_GT(recorded, 0u);
}

TEST(MarketPropertyTest, RandomMarketsKeepEveryInvariant) {
  // A third of the markets under the sanitizers (agora::testing::UnderSanitizer).
  const uint64_t markets = agora::testing::UnderSanitizer() ? 4 : 12;
  for (uint64_t seed : agora::testing::TestSeeds(1, markets)) RunMarket(seed, 150);
}

}  // namespace
}  // namespace agora::consensus
