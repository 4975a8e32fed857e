// Governance: the tally's rules at their edges (a table over Judge), and
// proposals driven through the ledger block by block: deposits, voting,
// re-votes, stake that changes or is slashed during voting, burns and
// refunds, changes applied at their height in id order, and bad input
// that changes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "consensus/ledger/bank.h"
#include "consensus/ledger/gov.h"
#include "proto/tx.pb.h"
#include "common/proto_codec.h"
#include "tests/consensus/ledger_harness.h"

namespace agora::consensus {
namespace {

using gov::ProposalStatus;
using gov::Tally;
using testing::AddressOf;
using testing::Key;
using testing::LedgerHarness;
using testing::DoubleSign;
using testing::Signed;

// ---------------------------------------------------------------- the tally

struct TallyCase {
  const char* name;
  Tally tally;
  ProposalStatus want;
};

TEST(GovTallyTest, EdgesOfQuorumThresholdAndVeto) {
  Params p;  // quorum 334,000 ppm, threshold 500,000, veto 334,000
  const TallyCase cases[] = {
      {"no votes", {0, 0, 0, 0, 1'000'000}, ProposalStatus::kNoQuorum},
      {"no bonded stake", {0, 0, 0, 0, 0}, ProposalStatus::kNoQuorum},
      {"exactly at quorum, all yes", {334'000, 0, 0, 0, 1'000'000}, ProposalStatus::kPassed},
      {"one below quorum", {333'999, 0, 0, 0, 1'000'000}, ProposalStatus::kNoQuorum},
      {"quorum reached by abstentions", {1, 0, 333'999, 0, 1'000'000}, ProposalStatus::kPassed},
      {"all abstain", {0, 0, 1'000'000, 0, 1'000'000}, ProposalStatus::kRejected},
      {"exactly at threshold", {500'000, 500'000, 0, 0, 1'000'000}, ProposalStatus::kRejected},
      {"one above threshold", {500'001, 499'999, 0, 0, 1'000'000}, ProposalStatus::kPassed},
      {"exactly at veto", {666'000, 0, 0, 334'000, 1'000'000}, ProposalStatus::kVetoed},
      {"one below veto", {666'001, 0, 0, 333'999, 1'000'000}, ProposalStatus::kPassed},
      {"veto below its bar still counts against the threshold",
       {350'000, 50'000, 300'000, 300'000, 1'000'000}, ProposalStatus::kRejected},
      {"veto share is of all votes, abstain included",
       {300'000, 0, 366'000, 334'000, 1'000'000}, ProposalStatus::kVetoed},
      {"no beats yes", {400'000, 600'000, 0, 0, 1'000'000}, ProposalStatus::kRejected},
      {"largest stakes do not overflow", {uint64_t{1} << 61, 0, 0, 0, uint64_t{1} << 62},
       ProposalStatus::kPassed},
  };
  for (const TallyCase& c : cases) {
    EXPECT_EQ(gov::Judge(c.tally, p).status, c.want) << c.name;
  }
  const gov::Verdict v = gov::Judge({500'001, 300'000, 100'000, 99'999, 2'000'000}, p);
  EXPECT_EQ(v.turnout_ppm, 500'000u);
  EXPECT_EQ(v.yes_ppm, uint64_t{500'001} * 1'000'000 / 900'000);
  EXPECT_EQ(v.veto_ppm, uint64_t{99'999});
  EXPECT_TRUE(v.quorum_met);
  EXPECT_FALSE(v.vetoed);
}

TEST(GovTallyTest, ParametersMoveTheEdges) {
  Params p;
  p.gov_quorum_ppm = 1'000'000;
  EXPECT_EQ(gov::Judge({999, 0, 0, 0, 1000}, p).status, ProposalStatus::kNoQuorum);
  EXPECT_EQ(gov::Judge({1000, 0, 0, 0, 1000}, p).status, ProposalStatus::kPassed);
  p.gov_threshold_ppm = 999'999;
  EXPECT_EQ(gov::Judge({999'999, 1, 0, 0, 1'000'000}, p).status, ProposalStatus::kRejected);
  p.gov_veto_ppm = 100'000;
  p.gov_threshold_ppm = 500'000;
  EXPECT_EQ(gov::Judge({900'000, 0, 0, 100'000, 1'000'000}, p).status, ProposalStatus::kVetoed);
}

// ------------------------------------------------------------- the ledger

Params GovParams() {
  Params p;
  p.epoch_blocks = 10;
  p.unbonding_blocks = 21;
  p.evidence_age_blocks_max = 10;
  p.downtime_window_blocks = 10;
  p.gov_deposit_min_uagr = 1000;
  p.gov_deposit_blocks = 5;
  p.gov_voting_blocks = 4;
  return p;
}

// Four validators (keys 100..103, 10 AGR each, 40 AGR bonded) and three
// plain accounts (keys 1..3); tracks each sender's nonce.
class GovLedger {
 public:
  explicit GovLedger(Params p = GovParams()) : h_(4, 3, p) {}

  TxResult Send(uint8_t key, const Msg& msg) { return Block({{key, msg}}).at(0); }
  std::vector<TxResult> Block(const std::vector<std::pair<uint8_t, Msg>>& msgs) {
    std::vector<Tx> txs;
    for (const auto& [key, msg] : msgs) txs.push_back(Signed(Key(key), nonce_[key]++, msg));
    return h_.Run(txs).results;
  }
  uint64_t Submit(uint8_t key, std::vector<ParamChange> changes, uint64_t deposit,
                  uint64_t effective) {
    TxResult r = Send(key, MsgSubmitProposal{std::move(changes), "t", "", deposit, effective});
    EXPECT_EQ(r.code, TxCode::kOk) << r.log;
    return Id(r);
  }
  static uint64_t Id(const TxResult& r) {
    for (const Event& e : r.events) {
      for (const auto& [k, v] : e.attributes) {
        if (k == "proposal_id") return std::stoull(v);
      }
    }
    return 0;
  }
  gov::Proposal Get(uint64_t id) { return gov::GetProposal(h_.ledger().committed(), id).value(); }
  Params CurrentParams() { return h_.ledger().CurrentParams(); }
  uint64_t height() { return h_.ledger().Height(); }
  LedgerHarness& h() { return h_; }

 private:
  LedgerHarness h_;
  std::map<uint8_t, uint64_t> nonce_;
};

constexpr uint8_t kV0 = 100, kV1 = 101, kV2 = 102, kV3 = 103;

TEST(GovLedgerTest, ProposalPassesAndItsChangeTakesEffectAtTheNamedHeight) {
  GovLedger g;
  const uint64_t effective = 12;
  const uint64_t before = g.h().Balance(Key(1));
  const uint64_t id = g.Submit(1, {{"consensus.timeout_propose_ms", 800}}, 1000, effective);
  ASSERT_EQ(id, 1u);
  gov::Proposal p = g.Get(id);
  EXPECT_EQ(p.status, ProposalStatus::kVoting) << "the first deposit met the minimum";
  EXPECT_EQ(p.voting_end_height, 1u + 4);
  EXPECT_EQ(g.h().Balance(Key(1)), before - 1000 - 10);
  EXPECT_EQ(g.h().ledger().ReadTotals().deposits, 1000u);
  g.Block({{kV0, MsgVote{id, VoteOption::kYes}}, {kV1, MsgVote{id, VoteOption::kYes}}});
  g.h().RunTo(5);
  p = g.Get(id);
  ASSERT_EQ(p.status, ProposalStatus::kPassed) << p.outcome;
  EXPECT_EQ(p.tally, (Tally{20'000'000, 0, 0, 0, 40'000'000}));
  EXPECT_EQ(g.h().Balance(Key(1)), before - 10) << "deposit returned";
  EXPECT_EQ(g.h().ledger().ReadTotals().deposits, 0u);
  g.h().RunTo(effective - 1);
  EXPECT_EQ(g.CurrentParams().timeout_propose_ms, 1000u) << "not before its height";
  auto run = g.h().Run({});
  EXPECT_EQ(g.height(), effective);
  EXPECT_EQ(g.CurrentParams().timeout_propose_ms, 800u);
  EXPECT_EQ(g.Get(id).status, ProposalStatus::kApplied);
  bool announced = false;
  for (const Event& e : run.end.events) announced |= e.type == "param_changed";
  EXPECT_TRUE(announced);
}

TEST(GovLedgerTest, DepositsFromSeveralAccountsStartVotingOrExpireAndReturn) {
  GovLedger g;
  const uint64_t b1 = g.h().Balance(Key(1)), b2 = g.h().Balance(Key(2));
  const uint64_t id = g.Submit(1, {{"bank.min_fee_uagr", 5}}, 400, 30);
  EXPECT_EQ(g.Get(id).status, ProposalStatus::kDeposit);
  EXPECT_EQ(g.Get(id).deposit_end_height, 1u + 5);
  TxResult vote_early = g.Send(kV0, MsgVote{id, VoteOption::kYes});
  EXPECT_EQ(vote_early.code, TxCode::kWrongPhase);
  EXPECT_EQ(g.Send(2, MsgDeposit{id, 300}).code, TxCode::kOk);
  EXPECT_EQ(g.Get(id).status, ProposalStatus::kDeposit);
  EXPECT_EQ(g.Send(2, MsgDeposit{id, 300}).code, TxCode::kOk);
  gov::Proposal p = g.Get(id);
  EXPECT_EQ(p.status, ProposalStatus::kVoting);
  EXPECT_EQ(p.total_deposit_uagr, 1000u);
  EXPECT_EQ(p.depositors, 2u);
  EXPECT_EQ(p.voting_start_height, 4u);
  EXPECT_EQ(p.voting_end_height, 8u);
  g.Block({{kV0, MsgVote{id, VoteOption::kNo}}, {kV1, MsgVote{id, VoteOption::kNo}}});
  g.h().RunTo(8);
  EXPECT_EQ(g.Get(id).status, ProposalStatus::kRejected);
  EXPECT_EQ(g.h().Balance(Key(1)), b1 - 10) << "rejected: deposits returned";
  EXPECT_EQ(g.h().Balance(Key(2)), b2 - 20);

  // Short of the minimum when the deposit period ends: expired, returned.
  const uint64_t id2 = g.Submit(3, {{"bank.min_fee_uagr", 5}}, 999, 40);
  const uint64_t b3 = g.h().Balance(Key(3));
  g.h().RunTo(g.Get(id2).deposit_end_height);
  EXPECT_EQ(g.Get(id2).status, ProposalStatus::kExpired);
  EXPECT_EQ(g.h().Balance(Key(3)), b3 + 999);
  EXPECT_EQ(g.Send(3, MsgDeposit{id2, 5}).code, TxCode::kWrongPhase) << "closed";
}

TEST(GovLedgerTest, ReVotesReplaceAndStakeIsCountedAtTheTally) {
  GovLedger g;
  const uint64_t id = g.Submit(1, {{"consensus.timeout_delta_ms", 100}}, 1000, 20);
  g.Block({{kV0, MsgVote{id, VoteOption::kNo}}, {kV1, MsgVote{id, VoteOption::kYes}}});
  // v0 changes its mind; v1 stakes 30 AGR more during voting; v2 starts
  // unbonding half of its stake, which no longer counts.
  auto r = g.Block({{kV0, MsgVote{id, VoteOption::kAbstain}},
                    {kV1, MsgStake{30'000'000}},
                    {kV2, MsgVote{id, VoteOption::kVeto}},
                    {kV2, MsgUnstake{5'000'000}}});
  for (const TxResult& x : r) EXPECT_EQ(x.code, TxCode::kOk) << x.log;
  EXPECT_EQ(g.Get(id).voters, 3u) << "a re-vote is not a new voter";
  g.h().RunTo(5);
  const gov::Proposal p = g.Get(id);
  EXPECT_EQ(p.tally, (Tally{40'000'000, 0, 10'000'000, 5'000'000, 65'000'000}));
  // turnout 55/65 >= 33.4%; veto 5/55 < 33.4%; yes 40/45 > 50%.
  EXPECT_EQ(p.status, ProposalStatus::kPassed) << p.outcome;
  EXPECT_EQ(g.Send(kV3, MsgVote{id, VoteOption::kNo}).code, TxCode::kWrongPhase)
      << "vote after the end of voting";
}


// A voter that unstaked below the voter minimum after voting keeps its
// vote, but not its slot once the proposal is full: a new voter may evict
// it (found in review, 2026-12-03: stake cycled through accounts, each
// staking, voting and unstaking, filled all kVotersMax slots of a proposal
// and shut real voters out). Here 9,999 accounts do just that in a few
// blocks. Only a vote below the minimum can be evicted, only when the
// proposal is full, and only by an account that has not voted; the evicted
// vote no longer counts.
TEST(GovLedgerTest, AFullProposalsVotesBelowTheMinimumCanBeEvicted) {
  Params params = GovParams();
  params.gov_voting_blocks = 40;
  GovLedger g(params);
  const uint64_t id = g.Submit(1, {{"bank.min_fee_uagr", 5}}, 1000, 60);
  ASSERT_EQ(g.Get(id).status, ProposalStatus::kVoting);
  const uint64_t voter_min = g.h().ledger().ReadTotals().bonded / gov::kVotersMax;
  ASSERT_GT(voter_min, 1u);
  ASSERT_EQ(g.Send(kV0, MsgVote{id, VoteOption::kYes}).code, TxCode::kOk);
  ASSERT_EQ(g.Send(2, MsgStake{voter_min + 10}).code, TxCode::kOk);
  const Address v0 = AddressOf(Key(kV0));

  // While there is room, nobody is evicted.
  auto refused = [&](uint8_t key, const MsgVote& m, std::string_view says) {
    const uint32_t voters = g.Get(id).voters;
    const uint64_t balance = g.h().Balance(Key(key));
    const TxResult r = g.Send(key, m);
    EXPECT_EQ(r.code, TxCode::kInvalidMessage) << r.log;
    EXPECT_NE(r.log.find(says), std::string::npos) << r.log;
    EXPECT_EQ(g.Get(id).voters, voters);
    EXPECT_EQ(g.h().Balance(Key(key)), balance - 10) << "only the fee";
  };

  // 9,999 accounts, funded by account 3 (its nonces kept here), each stake
  // just enough, vote veto and unstake all but 1 uagr, in one block each
  // 2,000: the bonded total is back where it was after each of them.
  std::vector<SecretKey> fillers;
  for (uint32_t i = 0; i + 1 < gov::kVotersMax; ++i) {
    Bytes seed(32, 0x5a);
    for (int b = 0; b < 4; ++b) seed[b] = static_cast<uint8_t>(i >> (8 * b));
    fillers.push_back(SecretKey::FromSeed(seed).value());
  }
  MsgVote early{id, VoteOption::kNo};
  early.evict = AddressOf(fillers[0]);
  refused(2, early, "a slot is free");
  for (size_t at = 0; at < fillers.size(); at += 2'000) {
    const size_t end = std::min(fillers.size(), at + 2'000);
    std::vector<Tx> txs;
    for (size_t i = at; i < end; ++i) {
      txs.push_back(Signed(Key(3), i, MsgTransfer{AddressOf(fillers[i]), voter_min + 100}));
    }
    for (size_t i = at; i < end; ++i) {
      txs.push_back(Signed(fillers[i], 0, MsgStake{voter_min + 10}));
      txs.push_back(Signed(fillers[i], 1, MsgVote{id, VoteOption::kVeto}));
      txs.push_back(Signed(fillers[i], 2, MsgUnstake{voter_min + 9}));
    }
    for (const TxResult& r : g.h().Run(txs).results) ASSERT_EQ(r.code, TxCode::kOk) << r.log;
  }
  ASSERT_EQ(g.Get(id).voters, gov::kVotersMax);
  const Address first = AddressOf(fillers[0]);
  ASSERT_EQ(gov::GetVote(g.h().ledger().committed(), id, first), VoteOption::kVeto);
  EXPECT_EQ(gov::VotersBelowMinimum(g.h().ledger().committed(), id, 16).size(), 16u);

  // Full: a new voter is refused, and told how to get a slot.
  const TxResult full = g.Send(2, MsgVote{id, VoteOption::kNo});
  EXPECT_EQ(full.code, TxCode::kLimitReached) << full.log;
  EXPECT_NE(full.log.find("--evict"), std::string::npos) << full.log;
  MsgVote evict_v0{id, VoteOption::kNo};
  evict_v0.evict = v0;
  refused(2, evict_v0, "not below the voter minimum");
  MsgVote evict_nobody{id, VoteOption::kNo};
  evict_nobody.evict = AddressOf(Key(1));
  refused(2, evict_nobody, "no vote on proposal");
  MsgVote revote{id, VoteOption::kNo};
  revote.evict = first;
  refused(kV0, revote, "voted on proposal");
  EXPECT_EQ(gov::GetVote(g.h().ledger().committed(), id, first), VoteOption::kVeto);

  const Tally before = gov::CurrentTally(g.h().ledger().committed(), id);
  MsgVote take{id, VoteOption::kNo};
  take.evict = first;
  const TxResult r = g.Send(2, take);
  ASSERT_EQ(r.code, TxCode::kOk) << r.log;
  EXPECT_EQ(r.events.at(0).type, "vote_evicted");
  EXPECT_EQ(g.Get(id).voters, gov::kVotersMax) << "one slot given up, one taken";
  EXPECT_FALSE(gov::GetVote(g.h().ledger().committed(), id, first).has_value());
  EXPECT_EQ(gov::GetVote(g.h().ledger().committed(), id, AddressOf(Key(2))), VoteOption::kNo);
  const Tally after = gov::CurrentTally(g.h().ledger().committed(), id);
  EXPECT_EQ(after.veto, before.veto - 1) << "the evicted vote (1 uagr) no longer counts";
  EXPECT_EQ(after.no, before.no + voter_min + 10);
}

TEST(GovLedgerTest, ASlashedVoterCountsWithWhatIsLeft) {
  Params params = GovParams();
  params.slash_double_sign_ppm = 500'000;  // half, to make the effect plain
  GovLedger g(params);
  const uint64_t id = g.Submit(1, {{"consensus.timeout_delta_ms", 100}}, 1000, 20);
  g.Block({{kV0, MsgVote{id, VoteOption::kYes}}, {kV1, MsgVote{id, VoteOption::kNo}}});
  g.h().Run({}, {}, {DoubleSign(Key(kV1), 2)});
  g.h().RunTo(5);
  const gov::Proposal p = g.Get(id);
  EXPECT_EQ(p.tally, (Tally{10'000'000, 5'000'000, 0, 0, 35'000'000}));
  EXPECT_EQ(p.status, ProposalStatus::kPassed) << "10 yes against 5 no after the slash";
}

TEST(GovLedgerTest, VetoAndMissedQuorumBurnTheDeposit) {
  GovLedger g;
  const uint64_t burned0 = g.h().ledger().ReadTotals().burned;
  const uint64_t vetoed = g.Submit(1, {{"consensus.timeout_delta_ms", 100}}, 1000, 20);
  const uint64_t ignored = g.Submit(2, {{"consensus.timeout_delta_ms", 200}}, 2000, 20);
  g.Block({{kV0, MsgVote{vetoed, VoteOption::kVeto}},
           {kV1, MsgVote{vetoed, VoteOption::kVeto}},
           {kV2, MsgVote{vetoed, VoteOption::kYes}},
           {kV3, MsgVote{vetoed, VoteOption::kYes}}});
  g.h().RunTo(7);
  EXPECT_EQ(g.Get(vetoed).status, ProposalStatus::kVetoed);
  EXPECT_EQ(g.Get(ignored).status, ProposalStatus::kNoQuorum);
  EXPECT_EQ(g.h().ledger().ReadTotals().burned - burned0, 3000u);
  EXPECT_EQ(g.h().ledger().ReadTotals().deposits, 0u);
  EXPECT_EQ(g.CurrentParams().timeout_delta_ms, 500u);
}

TEST(GovLedgerTest, LaterHeightWinsAndOneHeightAppliesInIdOrder) {
  GovLedger g;
  auto all_yes = [&](uint64_t id) {
    g.Block({{kV0, MsgVote{id, VoteOption::kYes}}, {kV1, MsgVote{id, VoteOption::kYes}},
             {kV2, MsgVote{id, VoteOption::kYes}}});
  };
  const uint64_t a = g.Submit(1, {{"consensus.timeout_prevote_ms", 700}}, 1000, 12);
  const uint64_t b = g.Submit(2, {{"consensus.timeout_prevote_ms", 600}}, 1000, 12);
  const uint64_t c = g.Submit(3, {{"consensus.timeout_prevote_ms", 900}}, 1000, 11);
  all_yes(a);
  all_yes(b);
  all_yes(c);
  g.h().RunTo(11);
  EXPECT_EQ(g.CurrentParams().timeout_prevote_ms, 900u);
  g.h().RunTo(12);
  EXPECT_EQ(g.CurrentParams().timeout_prevote_ms, 600u) << "ids 1 then 2 at height 12";
  EXPECT_EQ(g.Get(a).status, ProposalStatus::kApplied);
  EXPECT_EQ(g.Get(b).status, ProposalStatus::kApplied);
}

TEST(GovLedgerTest, ChangesThatNoLongerFitWhenAppliedAreRefusedWhole) {
  Params params = GovParams();
  params.unbonding_blocks = 30;
  GovLedger g(params);
  // Each is valid against the parameters in force when submitted (epoch
  // 10, unbonding 30), but after the first the second breaks
  // unbonding > 2 * epoch: none of the second's changes apply.
  const uint64_t longer_epochs = g.Submit(1, {{"staking.epoch_blocks", 14}}, 1000, 10);
  const uint64_t shorter_unbonding = g.Submit(
      2, {{"consensus.timeout_delta_ms", 1}, {"staking.unbonding_blocks", 25}}, 1000, 11);
  g.Block({{kV0, MsgVote{longer_epochs, VoteOption::kYes}},
           {kV1, MsgVote{longer_epochs, VoteOption::kYes}},
           {kV0, MsgVote{shorter_unbonding, VoteOption::kYes}},
           {kV1, MsgVote{shorter_unbonding, VoteOption::kYes}}});
  g.h().RunTo(11);
  EXPECT_EQ(g.Get(longer_epochs).status, ProposalStatus::kApplied);
  const gov::Proposal refused = g.Get(shorter_unbonding);
  EXPECT_EQ(refused.status, ProposalStatus::kApplyFailed);
  EXPECT_NE(refused.outcome.find("more than twice"), std::string::npos) << refused.outcome;
  const Params now = g.CurrentParams();
  EXPECT_EQ(now.epoch_blocks, 14u);
  EXPECT_EQ(now.unbonding_blocks, 30u);
  EXPECT_EQ(now.timeout_delta_ms, 500u);
}

// Bad input: each is refused with its code and changes nothing but the fee
// and nonce (the ante step), or is refused at decoding and never executes.
TEST(GovLedgerTest, BadInputIsRefusedAndChangesNothing) {
  Params params = GovParams();
  params.gov_voting_blocks = 20;
  GovLedger g(params);
  const uint64_t id = g.Submit(1, {{"consensus.timeout_delta_ms", 100}}, 1000, 30);
  auto totals = [&] { return g.h().ledger().ReadTotals(); };
  struct Case {
    const char* name;
    uint8_t from;
    Msg msg;
    TxCode want;
  };
  const Case cases[] = {
      {"effective height in the past", 2,
       MsgSubmitProposal{{{"consensus.timeout_delta_ms", 1}}, "t", "", 1000, 1},
       TxCode::kInvalidMessage},
      {"effective height before the end of voting", 2,
       MsgSubmitProposal{{{"consensus.timeout_delta_ms", 1}}, "t", "", 1000, 5},
       TxCode::kInvalidMessage},
      {"breaks a rule between parameters", 2,
       MsgSubmitProposal{{{"staking.epoch_blocks", 50}}, "t", "", 1000, 40},
       TxCode::kInvalidMessage},
      // 1% of the coins in existence is the most gov.deposit_min_uagr may be
      // raised to, or the proposal lowering it again could never be funded.
      {"a deposit minimum above 1% of the coins", 2,
       MsgSubmitProposal{{{"gov.deposit_min_uagr",
                           (g.h().ledger().ReadTotals().supply - totals().burned) / 100 + 1}},
                         "t",
                         "",
                         1000,
                         40},
       TxCode::kInvalidMessage},
      {"deposit above the balance", 2,
       MsgSubmitProposal{{{"consensus.timeout_delta_ms", 1}}, "t", "", uint64_t{1} << 40, 40},
       TxCode::kInsufficientFunds},
      {"vote without stake", 2, MsgVote{id, VoteOption::kYes}, TxCode::kNoStake},
      {"vote on an unknown proposal", kV0, MsgVote{99, VoteOption::kYes}, TxCode::kNotFound},
      {"deposit to an unknown proposal", 2, MsgDeposit{99, 10}, TxCode::kNotFound},
  };
  for (const Case& c : cases) {
    const uint64_t balance = g.h().Balance(Key(c.from));
    const Totals before = totals();
    const uint64_t next = gov::ListProposals(g.h().ledger().committed(), 0, 1).at(0).id;
    const TxResult r = g.Send(c.from, c.msg);
    EXPECT_EQ(r.code, c.want) << c.name << ": " << r.log;
    EXPECT_FALSE(r.log.empty()) << c.name;
    EXPECT_TRUE(r.events.empty()) << c.name;
    EXPECT_EQ(g.h().Balance(Key(c.from)), balance - 10) << c.name << ": only the fee";
    EXPECT_EQ(totals().deposits, before.deposits) << c.name;
    EXPECT_EQ(gov::ListProposals(g.h().ledger().committed(), 0, 1).at(0).id, next) << c.name;
  }
  EXPECT_EQ(g.Get(id).voters, 0u);
  g.h().RunTo(21);
  EXPECT_EQ(g.Send(2, MsgDeposit{id, 10}).code, TxCode::kWrongPhase) << "closed";
}

// Found in review (2026-12-03): the voter and depositor slots are capped
// (kVotersMax, kDepositorsMax), and anyone could fill them with dust (a vote
// needed only some stake, a deposit only some amount), shutting real voters
// out so that the tally missed quorum and burned the deposits. A new voter
// now holds at least 1/kVotersMax of the bonded stake and a first deposit is
// at least 1/kDepositorsMax of the minimum: filling the slots costs as much
// as the whole set's stake, or as funding the proposal.
TEST(GovLedgerTest, DustCannotTakeTheVoterOrDepositorSlots) {
  Params params = GovParams();
  params.gov_deposit_min_uagr = 1'000'000;
  params.gov_voting_blocks = 20;
  GovLedger g(params);
  const uint64_t id = g.Submit(1, {{"bank.min_fee_uagr", 5}}, 500'000, 40);
  ASSERT_EQ(g.Get(id).status, ProposalStatus::kDeposit);
  const uint64_t first_min = params.gov_deposit_min_uagr / gov::kDepositorsMax;
  const TxResult dust = g.Send(2, MsgDeposit{id, first_min - 1});
  EXPECT_EQ(dust.code, TxCode::kInvalidMessage);
  EXPECT_NE(dust.log.find("a first deposit to a proposal is at least " +
                          std::to_string(first_min) + " uagr"),
            std::string::npos)
      << dust.log;
  EXPECT_EQ(g.Get(id).depositors, 1u);
  EXPECT_EQ(g.Send(2, MsgDeposit{id, first_min}).code, TxCode::kOk);
  EXPECT_EQ(g.Send(2, MsgDeposit{id, 1}).code, TxCode::kOk) << "a depositor may add any amount";
  EXPECT_EQ(g.Send(1, MsgDeposit{id, 500'000}).code, TxCode::kOk);
  ASSERT_EQ(g.Get(id).status, ProposalStatus::kVoting);

  const uint64_t bonded = g.h().ledger().ReadTotals().bonded;
  ASSERT_EQ(g.Send(3, MsgStake{1}).code, TxCode::kOk);
  const uint64_t voter_min = g.h().ledger().ReadTotals().bonded / gov::kVotersMax;
  ASSERT_GT(voter_min, 1u);
  ASSERT_EQ(voter_min, (bonded + 1) / gov::kVotersMax);
  const TxResult small = g.Send(3, MsgVote{id, VoteOption::kNo});
  EXPECT_EQ(small.code, TxCode::kNoStake);
  EXPECT_NE(small.log.find("a voter needs at least " + std::to_string(voter_min) + " uagr bonded"),
            std::string::npos)
      << small.log;
  EXPECT_EQ(g.Get(id).voters, 0u);
  ASSERT_EQ(g.Send(3, MsgStake{voter_min}).code, TxCode::kOk);
  EXPECT_EQ(g.Send(3, MsgVote{id, VoteOption::kNo}).code, TxCode::kOk);
  EXPECT_EQ(g.Send(kV0, MsgVote{id, VoteOption::kYes}).code, TxCode::kOk);
  EXPECT_EQ(g.Get(id).voters, 2u);
}

// Two proposals share a deposit end; one is funded in that very block (its
// queue entry deleted in the block's buffer): the other still expires.
TEST(GovLedgerTest, SharedDepositEndStillExpiresTheUnfundedOne) {
  GovLedger g;
  auto r = g.Block({{1, MsgSubmitProposal{{{"bank.min_fee_uagr", 1}}, "a", "", 500, 30}},
                    {2, MsgSubmitProposal{{{"bank.min_fee_uagr", 2}}, "b", "", 500, 30}}});
  const uint64_t funded = GovLedger::Id(r[0]), unfunded = GovLedger::Id(r[1]);
  const uint64_t end = g.Get(funded).deposit_end_height;
  ASSERT_EQ(g.Get(unfunded).deposit_end_height, end);
  const uint64_t b2 = g.h().Balance(Key(2));
  g.h().RunTo(end - 1);
  EXPECT_EQ(g.Send(3, MsgDeposit{funded, 500}).code, TxCode::kOk);
  ASSERT_EQ(g.height(), end);
  EXPECT_EQ(g.Get(funded).status, ProposalStatus::kVoting);
  EXPECT_EQ(g.Get(unfunded).status, ProposalStatus::kExpired);
  EXPECT_EQ(g.h().Balance(Key(2)), b2 + 500) << "its deposit came back";
  EXPECT_EQ(g.Send(2, MsgDeposit{unfunded, 500}).code, TxCode::kWrongPhase);
}

// At most kTalliesPerHeightMax proposals end their voting at one height.
TEST(GovLedgerTest, TalliesPerHeightAreBounded) {
  GovLedger g;
  std::vector<std::pair<uint8_t, Msg>> msgs;
  for (size_t i = 0; i <= gov::kTalliesPerHeightMax; ++i) {
    msgs.push_back({static_cast<uint8_t>(1 + i % 3),
                    MsgSubmitProposal{{{"bank.min_fee_uagr", i}}, "t", "", 1000, 30}});
  }
  auto r = g.Block(msgs);
  for (size_t i = 0; i < gov::kTalliesPerHeightMax; ++i) EXPECT_EQ(r[i].code, TxCode::kOk);
  EXPECT_EQ(r.back().code, TxCode::kLimitReached) << r.back().log;
  EXPECT_EQ(g.h().ledger().ReadTotals().deposits, 1000u * gov::kTalliesPerHeightMax);
}

// A deposit that would start voting ending after the effective height is
// refused: the proposal could never take effect at the height it names.
TEST(GovLedgerTest, LateDepositCannotStartVotingPastTheEffectiveHeight) {
  GovLedger g;
  const uint64_t id = g.Submit(1, {{"consensus.timeout_delta_ms", 100}}, 500, 6);
  g.h().RunTo(3);
  const TxResult r = g.Send(2, MsgDeposit{id, 500});  // height 4: voting would end at 8
  EXPECT_EQ(r.code, TxCode::kWrongPhase) << r.log;
  EXPECT_EQ(g.Get(id).total_deposit_uagr, 500u);
}

// Malformed messages never reach the ledger: DecodeTx refuses them.
TEST(GovDecodeTest, MalformedProposalsVotesAndDepositsAreRefused) {
  const SecretKey k = Key(1);
  auto decode = [&](const Msg& m) { return DecodeTx(MakeTx(k, testing::kChain, 0, 1, m), testing::kChain); };
  auto proposal = [](std::vector<ParamChange> changes, std::string title = "t",
                     std::string text = "") {
    return MsgSubmitProposal{std::move(changes), std::move(title), std::move(text), 10, 100};
  };
  EXPECT_TRUE(decode(proposal({{"consensus.timeout_propose_ms", 800}})).ok());
  struct Bad {
    const char* name;
    Msg msg;
    const char* says;
  };
  const Bad bad[] = {
      {"unknown parameter", proposal({{"consensus.nonsense", 1}}), "unknown parameter"},
      {"below bounds", proposal({{"consensus.timeout_propose_ms", 49}}), "outside its bounds"},
      {"above bounds", proposal({{"staking.validators_max", 1001}}), "outside its bounds"},
      {"no changes", proposal({}), "1 to 16"},
      {"same parameter twice",
       proposal({{"consensus.timeout_propose_ms", 800}, {"consensus.timeout_propose_ms", 900}}),
       "twice"},
      {"empty title", proposal({{"bank.min_fee_uagr", 1}}, ""), "title"},
      {"oversized title", proposal({{"bank.min_fee_uagr", 1}}, std::string(141, 'x')), "title"},
      {"control characters in the title", proposal({{"bank.min_fee_uagr", 1}}, "a\nb"), "title"},
      {"oversized text", proposal({{"bank.min_fee_uagr", 1}}, "t", std::string(2001, 'x')),
       "text"},
      {"zero deposit",
       MsgSubmitProposal{{{"bank.min_fee_uagr", 1}}, "t", "", 0, 100}, "amount must be > 0"},
      {"deposit above 2^62",
       MsgSubmitProposal{{{"bank.min_fee_uagr", 1}}, "t", "", (uint64_t{1} << 62) + 1, 100},
       "maximum"},
      {"no effective height", MsgSubmitProposal{{{"bank.min_fee_uagr", 1}}, "t", "", 10, 0},
       "effective height"},
      {"deposit to proposal 0", MsgDeposit{0, 10}, "proposal id"},
      {"zero deposit amount", MsgDeposit{1, 0}, "amount must be > 0"},
      {"vote on proposal 0", MsgVote{0, VoteOption::kYes}, "proposal id"},
  };
  for (const Bad& b : bad) {
    auto tx = decode(b.msg);
    ASSERT_FALSE(tx.ok()) << b.name;
    EXPECT_NE(tx.status().message().find(b.says), std::string::npos)
        << b.name << ": " << tx.status().message();
  }
  // 17 changes, and a vote option outside the enum (built by hand: the
  // typed message cannot express it).
  std::vector<ParamChange> many;
  for (const ParamSpec& s : ParamTable()) {
    if (many.size() < kProposalChangesMax + 1) many.push_back({std::string(s.name), s.min});
  }
  ASSERT_EQ(many.size(), kProposalChangesMax + 1);
  EXPECT_FALSE(decode(proposal(many)).ok());
  auto vote = DecodeTx(testing::HandBuiltTx(k,
                                            [](proto::TxBody* body) {
                                              body->mutable_vote()->set_proposal_id(1);
                                              body->mutable_vote()->set_option(
                                                  static_cast<proto::VoteOption>(7));
                                            }),
                       testing::kChain);
  ASSERT_FALSE(vote.ok());
  EXPECT_NE(vote.status().message().find("yes, no, abstain or veto"), std::string::npos);
}

// Every parameter of every module can be proposed within its bounds, and
// none outside them.
TEST(GovDecodeTest, EveryParameterIsChangeableWithinItsBounds) {
  const SecretKey k = Key(1);
  for (const ParamSpec& s : ParamTable()) {
    auto decode = [&](uint64_t v) {
      return DecodeTx(MakeTx(k, testing::kChain, 0, 1,
                             MsgSubmitProposal{{{std::string(s.name), v}}, "t", "", 10, 100}),
                      testing::kChain);
    };
    EXPECT_TRUE(decode(s.min).ok()) << s.name;
    EXPECT_TRUE(decode(s.max).ok()) << s.name;
    if (s.min > 0) {
      EXPECT_FALSE(decode(s.min - 1).ok()) << s.name;
    }
    EXPECT_FALSE(decode(s.max + 1).ok()) << s.name;
    Params p;
    EXPECT_EQ(ParamValue(p, s.name), p.*s.field) << s.name;
  }
}

}  // namespace
}  // namespace agora::consensus
