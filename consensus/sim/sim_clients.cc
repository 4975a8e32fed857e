// Chain mode's scripted client: random transfers and (un)stakes, the
// joiner's validator, the downtime validator's Unjail, and governance.
#include <algorithm>
#include <optional>

#include "consensus/ledger/gov.h"
#include "consensus/ledger/staking.h"
#include "consensus/ledger/tx.h"
#include "consensus/sim/simulation_impl.h"

namespace agora::consensus::sim::detail {
namespace {

constexpr uint64_t kTxFeeUagr = 10;
constexpr uint64_t kClientTxsPerHeightMax = 3;
constexpr uint64_t kJoinHeight = 2;            // the joiner stakes and creates its validator

}  // namespace

void Simulation::Submit(uint32_t account, const Msg& msg) {
  ClientAccount& a = accounts_[account];
  const Bytes raw = MakeTx(a.key, kChainId, a.nonce++, kTxFeeUagr, msg);
  Tx tx = DecodeTx(raw, kChainId).value();
  for (Node& node : nodes_) {
    if (node.up && node.chain) node.pending.push_back(tx);
  }
  client_txs_.push_back(std::move(tx));
}

// The seeded client, run once per height when the first honest node commits
// it: random transfers and (un)stakes, the joiner's validator, and the
// downtime validator's Unjail once its jail has run out.
void Simulation::ClientStep(uint32_t id, uint64_t height) {
  Node& reference = nodes_[id];
  const uint32_t n = static_cast<uint32_t>(genesis_.size());
  const uint32_t joiner_account = static_cast<uint32_t>(accounts_.size()) - 1;
  if (height + 1 == kJoinHeight) {
    uint64_t total = 0;
    for (const Validator& v : genesis_) total += v.power;
    const uint64_t stake = std::max<uint64_t>(10, total / n) * kUagr;
    Submit(joiner_account, MsgStake{stake});
    Submit(joiner_account, MsgCreateValidator{secrets_[n].public_key(), "joiner",
                                              ProvePossession(secrets_[n], kChainId,
                                                              accounts_[joiner_account].address)});
  }
  if (downtime_state_ == Downtime::kBack && !unjail_sent_ && nodes_[downtime_].up) {
    auto record = staking::GetValidatorByKey(reference.ledger->committed(),
                                             genesis_[nodes_[downtime_].key].key);
    if (record && record->jailed && !record->tombstoned && record->jailed_until <= height + 1) {
      Submit(nodes_[downtime_].key, MsgUnjail{});
      unjail_sent_ = true;
    }
  }
  ClientGovernance(reference, height);
  ClientMarket(reference, height);
  ClientVerify(reference, height);
  // Senders: honest validators' operators and the plain accounts. Byzantine
  // validators never change their stake, and honest ones unstake only what
  // the client staked, so Byzantine power stays below 1/3.
  std::vector<uint32_t> validators, plain;
  for (uint32_t i = 0; i < n; ++i) {
    if (nodes_[i].behaviour == Behaviour::kHonest) validators.push_back(i);
  }
  for (uint32_t k = 0; k < kClientAccounts; ++k) plain.push_back(n + k);
  const uint64_t count = rng_.Below(kClientTxsPerHeightMax + 1);
  for (uint64_t t = 0; t < count; ++t) {
    const uint64_t kind = rng_.Below(5);
    const bool by_validator = !validators.empty() && (kind == 4 || rng_.Below(2) == 0);
    const uint32_t sender = by_validator ? validators[rng_.Below(validators.size())]
                                         : plain[rng_.Below(plain.size())];
    ClientAccount& a = accounts_[sender];
    if (kind <= 1) {
      const uint32_t to = static_cast<uint32_t>(rng_.Below(accounts_.size()));
      Submit(sender, MsgTransfer{accounts_[to].address, rng_.Range(1, 10 * kUagr)});
    } else if (a.staked_uagr > 0 && rng_.Below(2) == 0) {
      const uint64_t amount = std::min(a.staked_uagr, rng_.Range(1, 3) * kUagr);
      a.staked_uagr -= amount;
      Submit(sender, MsgUnstake{amount});
    } else {
      const uint64_t amount = rng_.Range(1, 5) * kUagr;
      a.staked_uagr += amount;
      Submit(sender, MsgStake{amount});
    }
  }
}

// Proposes the scripted change, then votes with every account that has
// stake once voting has started: Byzantine validators' operators vote no,
// everyone else yes.
void Simulation::ClientGovernance(Node& reference, uint64_t height) {
  const uint32_t n = static_cast<uint32_t>(genesis_.size());
  if (height == kGovSubmitHeight) {
    const uint64_t deposit = reference.ledger->CurrentParams().gov_deposit_min_uagr;
    Submit(n, MsgSubmitProposal{{{"consensus.timeout_propose_ms", kGovTimeoutProposeMs}},
                                "shorter propose timeout", "", deposit, kGovEffectiveHeight});
  }
  if (gov_votes_sent_) return;
  std::optional<gov::Proposal> p = gov::GetProposal(reference.ledger->committed(), 1);
  if (!p || p->status != gov::ProposalStatus::kVoting) return;
  gov_votes_sent_ = true;
  for (uint32_t a = 0; a < accounts_.size(); ++a) {
    if (staking::GetStake(reference.ledger->committed(), accounts_[a].address) == 0) continue;
    const bool byzantine = a < n && nodes_[a].behaviour != Behaviour::kHonest;
    Submit(a, MsgVote{p->id, byzantine ? VoteOption::kNo : VoteOption::kYes});
  }
}

}  // namespace agora::consensus::sim::detail
