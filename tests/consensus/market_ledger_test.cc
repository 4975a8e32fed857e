// The market module through the ledger, block by block: providers register
// with stake, a posted job's budget moves into escrow and its tasks are
// assigned by the scheduler in EndBlock; verdicts pay (less the validators'
// fee) or burn; missed deadlines reassign; cancel and failure refund; bad
// input changes nothing but the fee. Conservation is audited after every
// block by the harness.
#include <gtest/gtest.h>

#include <map>

#include "consensus/ledger/marketplace.h"
#include "consensus/ledger/staking.h"
#include "market/pricing.h"
#include "tests/consensus/market_harness.h"

namespace agora::consensus {
namespace {

using marketplace::JobStatus;
using marketplace::TaskId;
using marketplace::TaskStatus;
using testing::AddressOf;
using testing::BlockRun;
using testing::Key;
using testing::kAgr;
using testing::LedgerHarness;
using testing::Market;
using testing::Offer;
using testing::Signed;
using testing::TinySpec;

TEST(MarketLedgerTest, JobIsAssignedPaidRoundByRoundAndRefunded) {
  Market m;
  m.Provider(1, /*ask=*/1000);
  m.Provider(2, /*ask=*/900);
  const market::JobSpec spec = TinySpec();
  const uint64_t work = market::TaskWorkWu(spec);
  const uint64_t budget = 4 * work * 1500 + 12'345;
  const uint64_t balance = m.h().Balance(Key(4));
  const uint64_t id = m.Post(4, spec, budget, /*max_price=*/1500);
  EXPECT_EQ(m.h().Balance(Key(4)), balance - budget - 10);
  EXPECT_EQ(m.h().ledger().ReadTotals().escrow, budget);
  // Assigned in the EndBlock of the block that posted it: the cheaper
  // provider first, then the other (capacity 2 each, two tasks).
  marketplace::Job j = m.Job(id);
  EXPECT_EQ(j.status, JobStatus::kRunning);
  EXPECT_EQ(j.running, 2u);
  const marketplace::Task t0 = m.Task({id, 0, 0}), t1 = m.Task({id, 0, 1});
  ASSERT_EQ(t0.status, TaskStatus::kAssigned);
  EXPECT_EQ(*t0.provider, AddressOf(Key(2))) << "cheapest ask";
  EXPECT_EQ(t0.price_uagr, work * 900);
  EXPECT_EQ(t0.collateral_uagr, 2 * work * 900);
  EXPECT_EQ(m.Locked(2), t0.collateral_uagr + (t1.provider == AddressOf(Key(2)) ? t1.collateral_uagr : 0));
  // Locked stake cannot be unstaked.
  const TxResult unstake = m.Send(2, MsgUnstake{20 * kAgr});
  EXPECT_EQ(unstake.code, TxCode::kInsufficientFunds);
  EXPECT_NE(unstake.log.find("locked as collateral"), std::string::npos) << unstake.log;

  const uint64_t p2 = m.h().Balance(Key(2));
  m.Verdict({id, 0, 0}, true);
  const market::Payout pay = market::SplitPayment(t0.price_uagr, m.params().validator_fee_ppm);
  EXPECT_EQ(m.h().Balance(Key(2)), p2 + pay.provider_uagr);
  EXPECT_EQ(m.Task({id, 0, 0}).status, TaskStatus::kPassed);
  EXPECT_GT(m.Prov(2).reputation_ppm, m.params().reputation_start_ppm);
  m.Verdict({id, 0, 1}, true);
  j = m.Job(id);
  EXPECT_EQ(j.round, 1u) << "round 0 passed: round 1 opened";
  EXPECT_EQ(j.running, 2u) << "and assigned in the same block";
  m.Verdict({id, 1, 0}, true);
  const uint64_t client_before = m.h().Balance(Key(4));
  m.Verdict({id, 1, 1}, true);
  j = m.Job(id);
  EXPECT_EQ(j.status, JobStatus::kFinished);
  EXPECT_EQ(j.escrow_uagr, 0u);
  EXPECT_EQ(m.h().Balance(Key(4)), client_before + budget - j.paid_uagr) << "unspent escrow back";
  EXPECT_EQ(j.refunded_uagr, budget - j.paid_uagr);
  EXPECT_EQ(m.h().ledger().ReadTotals().escrow,
            m.h().ledger().committed().GetU64(marketplace::kValidatorFeesKey));
  EXPECT_EQ(m.Locked(1) + m.Locked(2), 0u);
  // A second verdict on a settled task is refused.
  m.Block({}, [&](Ledger& l) { EXPECT_FALSE(l.MarketVerdict({id, 1, 1}, true).ok()); });
}

TEST(MarketLedgerTest, MissedDeadlineReassignsBurnsAndLowersReputation) {
  Market m;
  m.Provider(1, 1000, /*speed=*/1, /*capacity=*/1);
  const uint64_t id = m.Post(4, TinySpec(1, 1), 10 * kAgr, 2000);
  const marketplace::Task t = m.Task({id, 0, 0});
  ASSERT_EQ(t.status, TaskStatus::kAssigned);
  // A dearer provider joins after the assignment.
  m.Provider(2, 1500, /*speed=*/1, /*capacity=*/1);
  const uint64_t stake = m.h().Stake(Key(1));
  const uint64_t burned = m.h().ledger().ReadTotals().burned;
  m.h().RunTo(t.deadline_height - 1);
  EXPECT_EQ(m.Task({id, 0, 0}).status, TaskStatus::kAssigned);
  m.h().Run({});
  const marketplace::Task again = m.Task({id, 0, 0});
  // Missed, then reassigned in the same EndBlock, to the other provider:
  // the one that missed it never gets it again, cheaper as it is.
  EXPECT_EQ(again.status, TaskStatus::kAssigned);
  EXPECT_EQ(again.attempts, 2u);
  EXPECT_EQ(again.provider, Address::FromPublicKey(Key(2).public_key()));
  EXPECT_EQ(again.excluded, std::vector<Address>{Address::FromPublicKey(Key(1).public_key())});
  EXPECT_GT(again.deadline_height, t.deadline_height);
  const uint64_t penalty = market::PartPpm(t.collateral_uagr, m.params().slash_late_ppm);
  EXPECT_EQ(m.h().Stake(Key(1)), stake - penalty);
  EXPECT_EQ(m.h().ledger().ReadTotals().burned - burned, penalty);
  EXPECT_EQ(m.Prov(1).tasks_late, 1u);
  EXPECT_LT(m.Prov(1).reputation_ppm, m.params().reputation_start_ppm);
  EXPECT_EQ(m.Job(id).locked_uagr, again.price_uagr) << "the old price went back to escrow";
}

// Found in review (2026-12-03): a failed check set reputation to the floor,
// so a provider that a late task had already put under it (no new tasks)
// was lifted back to eligible by being caught cheating. Now it only falls.
TEST(MarketLedgerTest, AFailedCheckNeverRaisesReputation) {
  Params p = Market::Defaults();
  p.reputation_start_ppm = 105'000;
  p.reputation_min_ppm = 100'000;
  p.reputation_alpha_ppm = 100'000;
  Market m(p);
  m.Provider(1, 1000, /*speed=*/1, /*capacity=*/2);
  const uint64_t late = m.Post(4, TinySpec(1, 1), 10 * kAgr, 2000);
  m.h().Run({});
  const uint64_t cheat = m.Post(5, TinySpec(1, 1), 10 * kAgr, 2000);
  const marketplace::Task a = m.Task({late, 0, 0}), b = m.Task({cheat, 0, 0});
  ASSERT_EQ(a.provider, Address::FromPublicKey(Key(1).public_key()));
  ASSERT_EQ(b.provider, Address::FromPublicKey(Key(1).public_key()));
  ASSERT_LT(a.deadline_height, b.deadline_height);
  m.h().RunTo(a.deadline_height);
  const uint64_t after_late = m.Prov(1).reputation_ppm;
  EXPECT_EQ(after_late, 105'000u - market::PartPpm(105'000, 100'000));
  ASSERT_LT(after_late, p.reputation_min_ppm) << "under the floor: no new tasks";
  ASSERT_EQ(m.Task({cheat, 0, 0}).status, TaskStatus::kAssigned);
  m.Block({}, [&](Ledger& l) { ASSERT_TRUE(l.MarketVerdict({cheat, 0, 0}, false).ok()); });
  // max(alpha, 50%) of the way to 0.
  EXPECT_EQ(m.Prov(1).reputation_ppm, after_late - market::PartPpm(after_late, 500'000));
  EXPECT_EQ(m.Prov(1).tasks_failed, 1u);
  // From the start (above the floor), a failed check still lands at most on it.
  Market fresh;
  fresh.Provider(1, 1000);
  const uint64_t job = fresh.Post(4, TinySpec(1, 1), 10 * kAgr, 2000);
  fresh.Block({}, [&](Ledger& l) { ASSERT_TRUE(l.MarketVerdict({job, 0, 0}, false).ok()); });
  EXPECT_EQ(fresh.Prov(1).reputation_ppm, fresh.params().reputation_min_ppm);
}

// With no other provider, the task waits market.exclusion_blocks for one and
// then goes back to the provider that missed it (which may have recovered),
// so it is never stuck.
TEST(MarketLedgerTest, AMissedTaskWaitsThenMayGoBackToTheOnlyProvider) {
  Market m;
  m.Provider(1, 1000, /*speed=*/1, /*capacity=*/1);
  const uint64_t id = m.Post(4, TinySpec(1, 1), 10 * kAgr, 2000);
  const marketplace::Task t = m.Task({id, 0, 0});
  ASSERT_EQ(t.status, TaskStatus::kAssigned);
  m.h().RunTo(t.deadline_height);
  const marketplace::Task missed = m.Task({id, 0, 0});
  EXPECT_EQ(missed.status, TaskStatus::kReassigned);
  EXPECT_EQ(missed.reopened_height, t.deadline_height);
  m.h().RunTo(missed.reopened_height + m.params().exclusion_blocks - 1);
  EXPECT_EQ(m.Task({id, 0, 0}).status, TaskStatus::kReassigned) << "still passed over";
  m.h().Run({});
  const marketplace::Task again = m.Task({id, 0, 0});
  EXPECT_EQ(again.status, TaskStatus::kAssigned);
  EXPECT_EQ(again.provider, Address::FromPublicKey(Key(1).public_key()));
  EXPECT_EQ(again.attempts, 2u);
}

TEST(MarketLedgerTest, TaskOutOfAttemptsFailsTheJobAndRefunds) {
  Params p = Market::Defaults();
  p.task_attempts_max = 2;
  Market m(p);
  m.Provider(1, 1000, 1, 1);
  m.Provider(2, 1000, 1, 1);
  const uint64_t budget = 10 * kAgr;
  const uint64_t id = m.Post(4, TinySpec(1, 1), budget, 2000);
  const uint64_t balance = m.h().Balance(Key(4));
  m.Verdict({id, 0, 0}, false);  // attempt 1 fails its check; reassigned
  EXPECT_EQ(m.Task({id, 0, 0}).attempts, 2u);
  EXPECT_EQ(m.Prov(1).tasks_failed + m.Prov(2).tasks_failed, 1u);
  m.Verdict({id, 0, 0}, false);  // attempt 2 fails (the other provider): out of attempts
  const marketplace::Job j = m.Job(id);
  EXPECT_EQ(j.status, JobStatus::kFailed) << j.outcome;
  EXPECT_EQ(m.Task({id, 0, 0}).status, TaskStatus::kFailed);
  EXPECT_EQ(m.h().Balance(Key(4)), balance + budget) << "nothing was paid: all refunded";
  EXPECT_EQ(m.Locked(1), 0u);
  EXPECT_EQ(m.Locked(2), 0u);
}

TEST(MarketLedgerTest, CancelStopsNewWorkPaysRunningAndRefundsTheRest) {
  Market m;
  m.Provider(1, 1000, 1, 1);  // one slot: one of the two tasks runs
  const uint64_t budget = 10 * kAgr;
  const uint64_t id = m.Post(4, TinySpec(1, 2), budget, 2000);
  EXPECT_EQ(m.Job(id).running, 1u);
  const TxResult stranger = m.Send(5, MsgCancelJob{id});
  EXPECT_EQ(stranger.code, TxCode::kInvalidMessage);
  EXPECT_NE(stranger.log.find("only the client"), std::string::npos);
  EXPECT_EQ(m.Send(4, MsgCancelJob{id}).code, TxCode::kOk);
  EXPECT_EQ(m.Job(id).status, JobStatus::kCancelled);
  EXPECT_EQ(m.Task({id, 0, 1}).status, TaskStatus::kCancelled);
  const uint64_t balance = m.h().Balance(Key(4));
  const uint64_t price = m.Task({id, 0, 0}).price_uagr;
  m.Verdict({id, 0, 0}, true);
  const marketplace::Job j = m.Job(id);
  EXPECT_EQ(j.paid_uagr, price);
  // The rest of the escrow comes back, and the part of the task's
  // validators' fee set aside for a round record that will never open.
  const uint64_t set_aside = market::PartPpm(
      market::SplitPayment(price, m.params().validator_fee_ppm).validators_uagr,
      m.params().verify_aggregation_fee_ppm);
  EXPECT_GT(set_aside, 0u);
  EXPECT_EQ(m.h().Balance(Key(4)), balance + budget - price + set_aside);
  EXPECT_EQ(m.Send(4, MsgCancelJob{id}).code, TxCode::kWrongPhase);
}

TEST(MarketLedgerTest, RolesStakeAndDeregistration) {
  Market m;
  EXPECT_EQ(m.Send(1, MsgRegisterProvider{Offer(1000)}).code, TxCode::kStakeTooLow);
  m.Provider(1, 1000);
  EXPECT_EQ(m.Send(1, MsgRegisterProvider{Offer(1000)}).code, TxCode::kAlreadyExists);
  // A validator cannot be a provider, nor a provider a validator.
  EXPECT_EQ(m.Send(100, MsgRegisterProvider{Offer(1000)}).code, TxCode::kInvalidMessage);
  EXPECT_EQ(m.Send(1, testing::CreateValidatorMsg(Key(200), Key(1), "p")).code,
            TxCode::kInvalidMessage);
  // Nor posts jobs.
  EXPECT_EQ(m.Send(1, MsgPostJob{TinySpec(), 10 * kAgr, 1000, ""}).code, TxCode::kInvalidMessage);
  EXPECT_EQ(m.Send(2, MsgUpdateProvider{Offer(5)}).code, TxCode::kNotFound);
  EXPECT_EQ(m.Send(1, MsgUpdateProvider{Offer(500, 2, 3)}).code, TxCode::kOk);
  EXPECT_EQ(m.Prov(1).offer, Offer(500, 2, 3));
  const uint64_t id = m.Post(4, TinySpec(1, 1), 10 * kAgr, 2000);
  EXPECT_EQ(m.Send(1, MsgDeregisterProvider{}).code, TxCode::kWrongPhase) << "a task runs";
  m.Verdict({id, 0, 0}, true);
  EXPECT_EQ(m.Send(1, MsgDeregisterProvider{}).code, TxCode::kOk);
  EXPECT_FALSE(marketplace::IsProvider(m.h().ledger().committed(), AddressOf(Key(1))));
}

TEST(MarketLedgerTest, AJobKeepsItsTitleAsPosted) {
  Market m;
  const std::string title = "<b>tiny</b> & \"shakespeare\" \u00e9t\u00e9";  // markup is text here
  const uint64_t id = m.Post(4, TinySpec(1, 1), 10 * kAgr, 2000, /*start=*/false, title);
  EXPECT_EQ(m.Job(id).title, title);
  const uint64_t untitled = m.Post(4, TinySpec(1, 1), 10 * kAgr, 2000, /*start=*/false);
  EXPECT_EQ(m.Job(untitled).title, "");
}

TEST(MarketLedgerTest, AJobsDeadlineBoundPassesOverSlowProviders) {
  Market m;
  m.Provider(1, /*ask=*/1000, /*speed=*/1, /*capacity=*/4);   // cheap and slow
  m.Provider(2, /*ask=*/1500, /*speed=*/4, /*capacity=*/4);  // dear and faster
  const Params& p = m.params();
  const market::JobSpec spec = TinySpec(1, 1);
  const uint64_t work = market::TaskWorkWu(spec);
  const market::DeadlineRule rule{p.deadline_slack_ppm, p.block_time_ms, p.deadline_min_blocks};
  const uint64_t slow = market::DeadlineBlocks(work, 1, rule);
  const uint64_t fast = market::DeadlineBlocks(work, 4, rule);
  const uint64_t soonest = market::DeadlineBlocks(work, market::kAmountMax, rule);
  ASSERT_LT(fast, slow);
  ASSERT_LT(soonest, fast) << "a bound between them is needed below";
  ASSERT_EQ(soonest, p.deadline_min_blocks + 1);

  // A bound no provider could ever meet is refused; only the fee is taken.
  const uint64_t balance = m.h().Balance(Key(4));
  const TxResult never = m.Send(4, MsgPostJob{spec, 10 * kAgr, 2000, "", soonest - 1});
  EXPECT_EQ(never.code, TxCode::kInvalidMessage);
  EXPECT_NE(never.log.find("shortest deadline any provider gets (" + std::to_string(soonest)),
            std::string::npos)
      << never.log;
  EXPECT_EQ(m.h().Balance(Key(4)), balance - 10);
  EXPECT_EQ(m.h().ledger().ReadTotals().escrow, 0u);

  // Without a bound the cheap slow provider takes it.
  const uint64_t free_job = m.Post(4, spec, 10 * kAgr, 2000);
  EXPECT_EQ(*m.Task({free_job, 0, 0}).provider, AddressOf(Key(1)));
  EXPECT_EQ(m.Job(free_job).deadline_blocks_max, 0u);
  // With a bound the slow one misses by a block, the fast one takes it,
  // and its deadline is within the bound.
  const uint64_t bound = m.Post(4, spec, 10 * kAgr, 2000, /*start=*/true, "", slow - 1);
  EXPECT_EQ(m.Job(bound).deadline_blocks_max, slow - 1);
  const marketplace::Task t = m.Task({bound, 0, 0});
  ASSERT_EQ(t.status, TaskStatus::kAssigned);
  EXPECT_EQ(*t.provider, AddressOf(Key(2)));
  EXPECT_EQ(t.deadline_height - t.assigned_height, fast);
  // A bound the fast one cannot meet either: the task waits for a faster
  // provider, and the job expires unassigned like any job nobody takes.
  const uint64_t tight = m.Post(4, spec, 10 * kAgr, 2000, /*start=*/true, "", fast - 1);
  m.h().RunTo(m.h().ledger().Height() + 3);
  EXPECT_EQ(m.Task({tight, 0, 0}).status, TaskStatus::kOpen);
  EXPECT_EQ(m.Job(tight).status, JobStatus::kOpen);
}

TEST(MarketLedgerTest, PriceNeverAboveTheMaximumAndBudgetChecked) {
  Market m;
  m.Provider(1, 3000);  // too dear for the job below
  const market::JobSpec spec = TinySpec(1, 1);
  const uint64_t work = market::TaskWorkWu(spec);
  const TxResult poor = m.Send(4, MsgPostJob{spec, work * 2000 - 1, 2000, ""});
  EXPECT_EQ(poor.code, TxCode::kInsufficientFunds);
  EXPECT_NE(poor.log.find("needs " + std::to_string(work * 2000)), std::string::npos) << poor.log;
  const uint64_t id = m.Post(4, spec, work * 2000, 2000);
  m.h().RunTo(m.h().ledger().Height() + 3);
  EXPECT_EQ(m.Task({id, 0, 0}).status, TaskStatus::kOpen) << "no provider at or below 2000/wu";
  m.Provider(2, 2000);
  EXPECT_EQ(m.Task({id, 0, 0}).status, TaskStatus::kAssigned);
  EXPECT_EQ(m.Task({id, 0, 0}).price_uagr, work * 2000);
}

TEST(MarketLedgerTest, AJobNobodyTakesIsRefundedAfterItsWait) {
  Params p = Market::Defaults();
  p.job_open_blocks_max = 10;
  Market m(p);
  const uint64_t budget = 10 * kAgr;
  const uint64_t balance = m.h().Balance(Key(4));
  const uint64_t id = m.Post(4, TinySpec(1, 1), budget, 2000);  // no provider at all
  const uint64_t posted = m.Job(id).posted_height;
  m.h().RunTo(posted + 9);
  EXPECT_EQ(m.Job(id).status, JobStatus::kOpen);
  m.h().Run({});
  const marketplace::Job j = m.Job(id);
  EXPECT_EQ(j.status, JobStatus::kCancelled) << j.outcome;
  EXPECT_NE(j.outcome.find("expired"), std::string::npos) << j.outcome;
  EXPECT_EQ(m.h().Balance(Key(4)), balance - 10) << "the budget came back";
  EXPECT_EQ(m.Task({id, 0, 0}).status, TaskStatus::kCancelled);
  // A job that was assigned once runs its course instead.
  m.Provider(1, 1000, 1, 1);
  const uint64_t taken = m.Post(5, TinySpec(1, 1), budget, 2000);
  m.h().RunTo(m.Job(taken).posted_height + 12);
  EXPECT_NE(m.Job(taken).status, JobStatus::kCancelled);
}

// A client's oldest open tasks that no provider takes used to fill the
// window of tasks the scheduler reads for that client every block, and
// held back its later jobs for as long as they stayed open: a running job
// never expires. Now a full window whose every task was looked at and none
// placed is skipped the next block, and the later job is assigned at once;
// the stuck job keeps running and waits for a provider, as before.
TEST(MarketLedgerTest, TasksNobodyTakesDoNotHoldBackTheClientsLaterJobs) {
  Params p = Market::Defaults();
  p.exclusion_blocks = 1'000;       // the provider that missed is passed over throughout
  p.assignments_per_block_max = 1;  // a window of one task per client per block
  Market m(p);
  m.Provider(1, 1000, /*speed=*/1, /*capacity=*/1);
  const uint64_t budget = 10 * kAgr;
  const uint64_t first = m.Post(4, TinySpec(1, 1), budget, 2000);
  const marketplace::Task t = m.Task({first, 0, 0});
  ASSERT_EQ(t.status, TaskStatus::kAssigned);
  m.h().RunTo(t.deadline_height);  // missed: reopened, its provider passed over
  ASSERT_EQ(m.Task({first, 0, 0}).status, TaskStatus::kReassigned);
  // A dearer provider the first job cannot pay, and a later job of the same
  // client, posted with a price both providers accept.
  m.Provider(2, 3000, /*speed=*/1, /*capacity=*/1);
  const uint64_t later = m.Post(4, TinySpec(1, 1), budget, 5000);
  for (int i = 0; i < 3 && m.Task({later, 0, 0}).status != TaskStatus::kAssigned; ++i) {
    m.h().Run({});
  }
  const marketplace::Task taken = m.Task({later, 0, 0});
  EXPECT_EQ(taken.status, TaskStatus::kAssigned) << "held back by the first job's task";
  // The cheapest free provider: the one that missed the first job's task is
  // passed over for that task only.
  EXPECT_EQ(taken.provider, Address::FromPublicKey(Key(1).public_key()));
  EXPECT_EQ(m.Job(later).status, JobStatus::kRunning);
  EXPECT_EQ(m.Task({first, 0, 0}).status, TaskStatus::kReassigned) << "still waiting";
  EXPECT_EQ(m.Job(first).status, JobStatus::kRunning);
  // The window went back to the oldest task once it served one; it is
  // skipped again for a third job, which the dear provider takes, while
  // the first still waits for a provider it can pay.
  const uint64_t third = m.Post(4, TinySpec(1, 1), budget, 5000);
  for (int i = 0; i < 3 && m.Task({third, 0, 0}).status != TaskStatus::kAssigned; ++i) {
    m.h().Run({});
  }
  EXPECT_EQ(m.Task({third, 0, 0}).status, TaskStatus::kAssigned);
  EXPECT_EQ(m.Task({third, 0, 0}).provider, Address::FromPublicKey(Key(2).public_key()));
  EXPECT_EQ(m.Task({first, 0, 0}).status, TaskStatus::kReassigned);
  // With a free provider the first job cannot pay either, the client's
  // window (the first job's task alone) is skipped again; once that job is
  // cancelled the client has no open task, and the window's position is
  // not left behind in state.
  const Address client = AddressOf(Key(4));
  const std::string skip =
      "market/skip/" + std::string(client.bytes().begin(), client.bytes().end());
  m.Provider(3, 3000, /*speed=*/1, /*capacity=*/1);
  EXPECT_TRUE(m.h().ledger().committed().Get(skip).has_value());
  ASSERT_EQ(m.Send(4, MsgCancelJob{first}).code, TxCode::kOk);
  EXPECT_EQ(m.Job(first).status, JobStatus::kCancelled);
  EXPECT_FALSE(m.h().ledger().committed().Get(skip).has_value());
}

TEST(MarketLedgerTest, LeavingAndComingBackNeverRaisesReputation) {
  Market m;
  m.Provider(1, 1000, 1, 1);
  const uint64_t id = m.Post(4, TinySpec(1, 1), 10 * kAgr, 2000);
  m.Verdict({id, 0, 0}, false);  // a failed check: reputation falls
  const uint64_t low = m.Prov(1).reputation_ppm;
  ASSERT_LT(low, m.params().reputation_start_ppm);
  // The task is not given back to it for a while; meanwhile it leaves.
  EXPECT_EQ(m.Task({id, 0, 0}).status, TaskStatus::kReassigned);
  EXPECT_EQ(m.Prov(1).running, 0u);
  const uint64_t after = m.Prov(1).reputation_ppm;
  EXPECT_EQ(m.Send(1, MsgDeregisterProvider{}).code, TxCode::kOk);
  EXPECT_EQ(m.Send(1, MsgRegisterProvider{Offer(1000)}).code, TxCode::kOk);
  EXPECT_EQ(m.Prov(1).reputation_ppm, after) << "not reset to the start value";
}

TEST(MarketLedgerTest, AClientWithRunningJobsTakesNoOtherRole) {
  Market m;
  m.Provider(1, 1000, 1, 1);
  const uint64_t id = m.Post(4, TinySpec(1, 1), 10 * kAgr, 2000);
  ASSERT_EQ(m.Send(4, MsgStake{20 * kAgr}).code, TxCode::kOk);
  const TxResult as_provider = m.Send(4, MsgRegisterProvider{Offer(1)});
  EXPECT_EQ(as_provider.code, TxCode::kInvalidMessage);
  EXPECT_NE(as_provider.log.find("jobs that have not ended"), std::string::npos);
  EXPECT_EQ(m.Send(4, testing::CreateValidatorMsg(Key(201), Key(4), "c")).code,
            TxCode::kInvalidMessage);
  m.Verdict({id, 0, 0}, true);  // the job finishes
  EXPECT_EQ(m.Job(id).status, JobStatus::kFinished);
  EXPECT_EQ(m.Send(4, MsgRegisterProvider{Offer(1)}).code, TxCode::kOk) << "free again";
}

TEST(MarketDecodeTest, MalformedOffersAndSpecsAreRefused) {
  const SecretKey k = Key(1);
  auto decode = [&](const Msg& msg) {
    return DecodeTx(MakeTx(k, testing::kChain, 0, 1, msg), testing::kChain);
  };
  EXPECT_TRUE(decode(MsgRegisterProvider{Offer(1)}).ok());
  struct Bad {
    const char* name;
    Msg msg;
    const char* says;
  };
  market::JobSpec heads = TinySpec();
  heads.heads = 3;
  market::JobSpec context = TinySpec();
  context.context = 0;
  market::JobSpec interval = TinySpec();
  interval.checkpoint_interval = 7;
  market::JobSpec no_data = TinySpec();
  no_data.dataset_hash = Hash256{};
  market::JobSpec tiny_data = TinySpec();
  tiny_data.dataset_bytes = 10;
  ProviderOffer bad_url = Offer(1);
  bad_url.blob_endpoint = "ftp://x";
  ProviderOffer zero_cap = Offer(1);
  zero_cap.capacity_tasks = 0;
  const Bad bad[] = {
      {"ask of zero", MsgRegisterProvider{Offer(0)}, "ask must be"},
      {"bad endpoint", MsgRegisterProvider{bad_url}, "blob endpoint"},
      {"zero capacity", MsgUpdateProvider{zero_cap}, "capacity"},
      {"heads not dividing width", MsgPostJob{heads, 100, 1, ""}, "heads"},
      {"context 0", MsgPostJob{context, 100, 1, ""}, "context must be"},
      {"C not dividing H", MsgPostJob{interval, 100, 1, ""}, "checkpoint_interval"},
      {"no dataset hash", MsgPostJob{no_data, 100, 1, ""}, "dataset hash"},
      {"dataset too small", MsgPostJob{tiny_data, 100, 1, ""}, "dataset size"},
      {"zero budget", MsgPostJob{TinySpec(), 0, 1, ""}, "budget amount must be > 0"},
      {"budget above 2^62", MsgPostJob{TinySpec(), (uint64_t{1} << 62) + 1, 1, ""}, "maximum"},
      {"zero max price", MsgPostJob{TinySpec(), 100, 0, ""}, "max price amount must be > 0"},
      {"title of 81 bytes", MsgPostJob{TinySpec(), 100, 1, std::string(81, 'x')}, "title"},
      {"title with a newline", MsgPostJob{TinySpec(), 100, 1, "a\nb"}, "title"},
      {"title with an escape", MsgPostJob{TinySpec(), 100, 1, "\x1b[31mred"}, "title"},
      {"title with a C1 control", MsgPostJob{TinySpec(), 100, 1, "a\xc2\x85" "b"}, "title"},
      {"title with a bidi override", MsgPostJob{TinySpec(), 100, 1, "abc\xe2\x80\xaegpj.exe"},
       "title"},
      {"title with a bidi isolate", MsgPostJob{TinySpec(), 100, 1, "x\xe2\x81\xa6y"}, "title"},
      {"deadline bound above 10^7", MsgPostJob{TinySpec(), 100, 1, "", 10'000'001},
       "deadline_blocks_max 10000001 is above 10000000"},
      {"cancel job 0", MsgCancelJob{0}, "job id"},
      {"replay profile without classes", MsgSetReplayProfile{{}, 0}, "name 1 to 4 hardware"},
      {"replay profile naming a class twice",
       MsgSetReplayProfile{{market::HardwareClass::kCpu, market::HardwareClass::kCpu}, 0},
       "each hardware class once"},
      {"replay profile out of order",
       MsgSetReplayProfile{{market::HardwareClass::kGpuSm90, market::HardwareClass::kCpu}, 0},
       "in the order cpu, gpu-sm80"},
      {"replay profile above the bound",
       MsgSetReplayProfile{{market::HardwareClass::kCpu}, kReplayParamsMax + 1},
       "params_max 1099511627777 is above the bound"},
  };
  for (const Bad& b : bad) {
    auto tx = decode(b.msg);
    ASSERT_FALSE(tx.ok()) << b.name;
    EXPECT_NE(tx.status().message().find(b.says), std::string::npos)
        << b.name << ": " << tx.status().message();
  }
}

}  // namespace
}  // namespace agora::consensus
