// Chain mode (docs/consensus.md, "Chain mode"): the ledger's genesis, each
// node's chain, block store and mempool, block building, validation and
// execution, block sync, evidence gossip, and the chain-mode invariants.
#include <algorithm>
#include <memory>

#include "common/check.h"
#include "common/hash.h"
#include "common/kv.h"
#include "consensus/chain/block.h"
#include "consensus/chain/chain.h"
#include "consensus/ledger/staking.h"
#include "consensus/ledger/tx.h"
#include "consensus/sim/simulation_impl.h"

namespace agora::consensus::sim::detail {
namespace {

constexpr uint64_t kTimeoutProposeMs = 3'000;
constexpr uint64_t kSyncBlocksMax = 8;         // blocks per sync reply
constexpr size_t kProposalTxsMax = 64;         // client transactions per block
constexpr uint64_t kAccountBalanceUagr = 1'000'000 * kUagr;

}  // namespace

// Chain mode: the ledger's genesis, written into every node's store (the
// joiner's too), client accounts, and the joiner's node, which starts once the
// schedule names it.
void Simulation::SetupLedger() {
  const uint32_t n = static_cast<uint32_t>(genesis_.size());
  auto derive = [&](std::string_view what, uint64_t i) {
    Bytes seed(what.begin(), what.end());
    PutU64BigEndian(seed, options_.seed);
    PutU64BigEndian(seed, i);
    return SecretKey::FromSeed(Blake2b256(seed).bytes).value();
  };
  secrets_.push_back(derive("joiner", 0));  // identity n
  joiner_ = static_cast<uint32_t>(nodes_.size());
  nodes_.emplace_back();
  nodes_.back().key = n;
  nodes_.back().started = nodes_.back().up = false;
  nodes_.back().side = static_cast<uint32_t>(rng_.Below(2));
  for (FaultPlan::Partition& p : plan_.partitions) {
    p.group.push_back(static_cast<uint32_t>(rng_.Below(2)));
  }
  for (uint32_t i = 0; i < n; ++i) {
    accounts_.push_back({secrets_[i], Address::FromPublicKey(secrets_[i].public_key())});
  }
  for (uint32_t k = 0; k <= kClientAccounts; ++k) {  // the last one operates the joiner
    SecretKey key = derive("account", k);
    accounts_.push_back({key, Address::FromPublicKey(key.public_key())});
  }
  LedgerGenesis& g = ledger_genesis_;
  for (const ClientAccount& a : accounts_) g.accounts.push_back({a.address, kAccountBalanceUagr});
  for (uint32_t i = 0; i < n; ++i) {
    g.validators.push_back(
        {genesis_[i].key, accounts_[i].address, "v" + std::to_string(i),
         genesis_[i].power * kUagr});
  }
  Params& p = g.params;
  p.epoch_blocks = 10;
  p.downtime_window_blocks = 10;
  p.downtime_jail_blocks = 5;
  p.unbonding_blocks = 21;  // more than two epochs (params.cc)
  p.evidence_age_blocks_max = kSlashDelayMaxHeights;
  p.timeout_propose_ms = kTimeoutProposeMs;
  p.gov_deposit_blocks = 5;
  p.gov_voting_blocks = kGovVotingBlocks;
  // Short deadlines and verification windows, so a job's two rounds, a
  // fraud and a reassignment fit in a run.
  p.deadline_slack_ppm = 0;
  p.deadline_min_blocks = 4;
  p.verify_delay_blocks = 2;
  p.verify_verdict_blocks = 4;
  p.verify_audit_ppm = 200'000;
  p.verify_dispute_window_blocks = 1;
  // The simulated jobs are tiny: with the default floor every validator
  // would have to replay them, and the narrow replay profile that
  // CheckProfileDraw watches could not be sent.
  p.verify_replay_params_floor = 0;
  // The simulated provider never disputes: a fail waits this long for it.
  p.dispute_move_blocks = 2;
  Bytes beacon_seed;
  PutU64BigEndian(beacon_seed, options_.seed);
  g.beacon_seed = Blake2b256(beacon_seed);
  for (Node& node : nodes_) {
    std::unique_ptr<Ledger> ledger = Ledger::Open(node.store.get()).value();
    WriteBatch batch;
    Status s = ledger->InitGenesis(g, &batch);
    AGORA_CHECK_MSG(s.ok(), "simulated genesis: " + s.message());
    s = node.store->Write(batch, Durability::kSynced);
    AGORA_CHECK_MSG(s.ok(), "simulated genesis: " + s.message());
    ledger->Committed();
  }
  PlanDowntime();
}

// One honest validator goes offline from an early height until the ledger
// jails it for downtime, then comes back and unjails. It is one whose absence
// leaves the Byzantine and absent power below 1/3, and one that no planned
// crash touches, so its absence never costs liveness.
void Simulation::PlanDowntime() {
  if (options_.mix == FaultMix::kLockTrap || options_.heights < 20) return;
  uint64_t total = 0, byzantine = 0;
  for (uint32_t i = 0; i < genesis_.size(); ++i) {
    total += genesis_[i].power;
    if (nodes_[i].behaviour != Behaviour::kHonest) byzantine += genesis_[i].power;
  }
  std::vector<uint32_t> candidates;
  for (uint32_t i = 0; i < genesis_.size(); ++i) {
    const bool crashes = std::any_of(plan_.crashes.begin(), plan_.crashes.end(),
                                     [&](const FaultPlan::Crash& c) { return c.node == i; });
    if (nodes_[i].behaviour == Behaviour::kHonest && !crashes &&
        3 * (byzantine + genesis_[i].power) < total) {
      candidates.push_back(i);
    }
  }
  if (candidates.empty()) return;
  downtime_ = candidates[rng_.Below(candidates.size())];
  downtime_from_height_ = rng_.Range(2, 4);
}

void Simulation::OpenChain(uint32_t id) {
  Node& node = nodes_[id];
  auto fail = [&](const Status& s) {
    Violation("restart: node " + std::to_string(id) + " cannot reopen its chain: " + s.message());
    node.chain.reset();
  };
  auto ledger = Ledger::Open(node.store.get());
  if (!ledger.ok()) return fail(ledger.status());
  node.ledger = std::move(*ledger);
  node.ledger->SetSignatureCache(&signatures_);
  if (Status s = node.ledger->Load(); !s.ok()) return fail(s);
  node.blocks = std::make_unique<BlockStore>(node.store.get());
  if (Status s = node.blocks->Load(); !s.ok()) return fail(s);
  node.chain = std::make_unique<Chain>(kChainId, kGenesisTimeMs, node.store.get(),
                                       node.blocks.get(), node.ledger.get(), &signatures_);
  if (Status s = node.chain->Load(); !s.ok()) return fail(s);
  node.committed_height = node.blocks->height();
  // The mempool is gone; the client re-submits what is not yet committed.
  node.pending = client_txs_;
  PrunePending(node);
  node.future_proposals.Clear();
  node.verdicts.clear();
}

// The consensus timeouts are ledger parameters, as in the node.
void Simulation::ApplyParams(Node& node) {
  const Params params = node.ledger->CurrentParams();
  Timeouts t;
  t.propose_ms = params.timeout_propose_ms;
  t.prevote_ms = params.timeout_prevote_ms;
  t.precommit_ms = params.timeout_precommit_ms;
  t.propose_delta_ms = t.prevote_delta_ms = t.precommit_delta_ms = params.timeout_delta_ms;
  node.core->SetTimeouts(t);
}

// The transactions a proposer takes: for each sender, the run of nonces from
// its account's next one, so none fails for its nonce.
std::vector<Tx> Simulation::Reap(Node& node) {
  std::map<Address, uint64_t> next;
  std::vector<Tx> out;
  for (const Tx& tx : node.pending) {
    auto it = next.find(tx.sender);
    if (it == next.end()) it = next.emplace(tx.sender, node.ledger->Account(tx.sender).nonce).first;
    if (tx.nonce != it->second) continue;
    ++it->second;
    out.push_back(tx);
    if (out.size() >= kProposalTxsMax) break;
  }
  return out;
}

void Simulation::PrunePending(Node& node) {
  std::map<Address, uint64_t> next;
  std::erase_if(node.pending, [&](const Tx& tx) {
    auto it = next.find(tx.sender);
    if (it == next.end()) it = next.emplace(tx.sender, node.ledger->Account(tx.sender).nonce).first;
    return tx.nonce < it->second;
  });
}

bool Simulation::InWindow(const Node& node, uint64_t height) const {
  return height > node.committed_height && height <= node.committed_height + 2;
}

void Simulation::BuildBlock(uint32_t id, uint64_t height, uint32_t round) {
  Node& node = nodes_[id];
  if (height != node.committed_height + 1) return;  // stale
  std::vector<Tx> included;
  std::vector<Vote> late;
  for (const auto& [index, vote] : node.late_precommits) late.push_back(vote);
  auto block = node.chain->Propose(secrets_[node.key], NowMs(), Reap(node), &included, late);
  if (!block.ok()) {
    Violation("chain: node " + std::to_string(id) + " cannot propose at height " +
              std::to_string(height) + ": " + block.status().message());
    return;
  }
  const Hash256 hash = HeaderHash(block->header());
  const bool honest = node.behaviour == Behaviour::kHonest;
  bodies_.emplace(hash, std::make_shared<const Body>(Body{std::move(*block), honest}));
  Apply(id, node.core->OnBlockReady(height, round, hash));
}

// As the node does: a precommit for the block this node committed last that
// arrived after the decision joins the next block's last commit, so the
// downtime rule does not count a validator that was merely slower.
void Simulation::KeepLatePrecommit(uint32_t id, const Vote& vote) {
  Node& node = nodes_[id];
  if (vote.type != VoteType::kPrecommit || vote.height == 0 ||
      vote.block != node.blocks->last_block_hash() || node.late_precommits.count(vote.validator)) {
    return;
  }
  if (!Authentic(*node.chain, vote)) {
    Violation("a message with a bad signature was sent");
    return;
  }
  node.late_precommits.emplace(vote.validator, vote);
}

void Simulation::ProcessProposal(uint32_t id, const Proposal& proposal) {
  Node& node = nodes_[id];
  const uint64_t next = node.committed_height + 1;
  if (proposal.height == next + 1) {
    node.future_proposals.Offer(proposal.proposer, proposal.round, proposal);
    return;
  }
  if (proposal.height != next) return;
  auto body = bodies_.find(proposal.block);
  AGORA_CHECK(body != bodies_.end());  // every proposed block is registered when built
  const ValidatorSet& set = node.chain->ValidatorsAt(proposal.height);
  if (proposal.proposer >= set.size() ||
      !CheckProposer(body->second->block.header(), set.at(proposal.proposer).key,
                     proposal.valid_round)
           .ok()) {
    // As the node does: a new block must name the proposer that signed it.
    Apply(id, node.core->OnProposal(proposal, /*block_valid=*/false));
    return;
  }
  auto verdict = node.verdicts.find(proposal.block);
  if (verdict == node.verdicts.end()) {
    Status valid = node.chain->ValidateBlock(body->second->block, NowMs(), nullptr);
    if (!valid.ok() && body->second->honest_builder && node.behaviour == Behaviour::kHonest) {
      Violation("chain: validity: honest node " + std::to_string(id) +
                " rejected the block an honest proposer built at height " +
                std::to_string(proposal.height) + ": " + valid.message());
    }
    verdict = node.verdicts.emplace(proposal.block, valid.ok()).first;
  }
  Apply(id, node.core->OnProposal(proposal, verdict->second));
}

void Simulation::ProcessFutureProposals(uint32_t id) {
  std::vector<Proposal> pending = nodes_[id].future_proposals.Take();
  for (const Proposal& p : pending) {
    Node& node = nodes_[id];
    if (!node.core || p.height != node.committed_height + 1) continue;
    // Verified on arrival against the set this node then knew for the
    // height after its next, which its next block cannot change.
    ProcessProposal(id, p);
  }
}

void Simulation::ServeSync(uint32_t id, uint32_t to, uint64_t height) {
  Node& node = nodes_[id];
  if (height == 0 || height > node.committed_height) return;
  auto reply = std::make_shared<SyncBlocks>();
  for (uint64_t h = height; h <= node.committed_height && h < height + kSyncBlocksMax; ++h) {
    auto block = node.blocks->BlockAt(h);
    auto commit = node.blocks->CommitAt(h);
    if (!block.ok() || !*block || !commit.ok() || !*commit) {
      Violation("chain: node " + std::to_string(id) + " lost committed height " +
                std::to_string(h) + " from its block store");
      return;
    }
    reply->blocks.emplace_back(std::move(**block), std::move(**commit));
  }
  Send(id, to, std::shared_ptr<const SyncBlocks>(std::move(reply)));
}

// Block sync: blocks an honest peer committed, checked as the node checks
// them (ValidateBlock and the commit) and executed in order.
void Simulation::ApplySynced(uint32_t id, uint32_t from, const SyncBlocks& sync) {
  Node& node = nodes_[id];
  bool applied = false;
  for (const auto& [block, commit] : sync.blocks) {
    const uint64_t height = block.header().height();
    if (height != node.committed_height + 1) continue;
    std::vector<Tx> txs;
    Status s = node.chain->ValidateBlock(block, NowMs(), &txs);
    if (s.ok()) {
      s = VerifyCommit(commit, node.chain->ValidatorsAt(height), kChainId, height,
                       HeaderHash(block.header()), &signatures_);
    }
    if (!s.ok()) {
      Violation("chain: node " + std::to_string(id) + " rejected block " +
                std::to_string(height) + " that honest node " + std::to_string(from) +
                " committed: " + s.message());
      return;
    }
    if (!CommitBlock(id, block, commit, &txs)) return;
    ++result_.blocks_synced;
    applied = true;
  }
  if (!applied || !node.core) return;
  node.own_messages.clear();
  node.seen_messages.clear();
  node.seen_keys.clear();
  Apply(id, node.core->Start(node.committed_height + 1));
  ProcessFutureProposals(id);
  // A full reply: there is likely more; ask the same peer right away.
  if (sync.blocks.size() == kSyncBlocksMax) {
    Send(id, from, StatusMessage{node.committed_height + 1});
  }
}

void Simulation::OnEvidence(uint32_t id, const Evidence& evidence, bool gossip) {
  Node& node = nodes_[id];
  if (!node.chain) return;
  const EvidenceKey key{evidence.validator, evidence.first.height};
  if (!node.evidence_known.emplace(key, evidence).second) return;
  if (!gossip) {
    // Only honest nodes' cores report evidence, so it must verify.
    if (Status s = VerifyEvidence(evidence, kChainId, *verifier_); !s.ok()) {
      Violation("gossiped evidence does not verify: " + s.message());
      return;
    }
  }
  if (evidence.first.height <= node.committed_height + 2) {
    // Refused when the validator is tombstoned already or the evidence too
    // old: then there is nothing left to punish.
    (void)node.chain->AddEvidence(evidence);
  }
  if (gossip) SendToAll(id, EvidenceMessage{evidence});
}

// Evidence travels until a block carries it: re-sent while this node still
// knows its validator untombstoned and the evidence young enough.
void Simulation::GossipEvidence(uint32_t id) {
  Node& node = nodes_[id];
  if (!node.chain || node.behaviour != Behaviour::kHonest) return;
  const uint64_t next = node.committed_height + 1;
  for (auto it = node.evidence_known.begin(); it != node.evidence_known.end();) {
    const auto& [key, evidence] = *it;
    auto record = staking::GetValidatorByKey(node.ledger->committed(), key.first);
    if (!record || record->tombstoned || next > key.second + kSlashDelayMaxHeights) {
      it = node.evidence_known.erase(it);
      continue;
    }
    if (key.second <= node.committed_height + 2) (void)node.chain->AddEvidence(evidence);
    SendToAll(id, EvidenceMessage{evidence});
    ++it;
  }
}

bool Simulation::CommitBlock(uint32_t id, const proto::Block& block, const proto::Commit& commit,
                             std::vector<Tx>* decoded) {
  Node& node = nodes_[id];
  const uint64_t height = block.header().height();
  std::vector<Tx> txs;
  if (decoded != nullptr) {
    txs = std::move(*decoded);
  } else {
    auto decoded_txs = node.chain->BlockTxs(block);
    if (!decoded_txs.ok()) {
      Violation("chain: node " + std::to_string(id) + " cannot decode decided block " +
                std::to_string(height) + ": " + decoded_txs.status().message());
      return false;
    }
    txs = std::move(*decoded_txs);
  }
  WriteBatch batch;
  auto executed = node.chain->Execute(block, commit, std::move(txs), &batch);
  if (!executed.ok()) {
    Violation("chain: node " + std::to_string(id) + " cannot execute decided block " +
              std::to_string(height) + ": " + executed.status().message());
    return false;
  }
  Status s = node.store->Write(batch, Durability::kSynced);
  AGORA_CHECK_MSG(s.ok(), "the in-memory store refused a block: " + s.message());
  node.chain->Committed(block, *executed);
  node.committed_height = height;
  node.height_started_us = now_;
  node.verdicts.clear();
  node.late_precommits.clear();
  PrunePending(node);
  ApplyParams(node);
  CheckCommit(id, block, *executed);
  return true;
}

Hash256 Simulation::ScheduleDigest(Node& node, uint64_t height) {
  Blake2b256Hasher h;
  Bytes bytes;
  for (const SetChange& change : node.ledger->ValidatorSchedule()) {
    PutU64BigEndian(bytes, change.height);
    for (const Validator& v : change.validators) {
      Append(bytes, v.key.bytes);
      PutU64BigEndian(bytes, v.power);
    }
  }
  const ValidatorSet& next = node.chain->ValidatorsAt(height + 1);
  Append(bytes, ValidatorsHash(next).bytes);
  PutU64BigEndian(bytes, next.Proposer());
  h.Update(bytes);
  return h.Finish();
}

// The chain-mode invariants, on every honest node after every block.
void Simulation::CheckCommit(uint32_t id, const proto::Block& block,
                             const Chain::Executed& executed) {
  Node& node = nodes_[id];
  if (node.behaviour != Behaviour::kHonest) return;
  const uint64_t height = block.header().height();
  const std::string where = " at height " + std::to_string(height) + " (node " +
                            std::to_string(id) + ")";
  if (Status audit = node.ledger->AuditTotals(); !audit.ok()) {
    Violation("ledger: conservation" + where + ": " + audit.message());
  }
  HeightRecord record{executed.hash, executed.app_hash, ResultsHash(executed.results, executed.end.events),
                      ScheduleDigest(node, height)};
  auto [it, first] = heights_.emplace(height, record);
  if (first) {
    ObserveFirstCommit(id, block, executed);
  } else if (it->second.block != record.block) {
    Violation("safety: agreement: honest nodes committed different blocks" + where);
  } else if (it->second.app_hash != record.app_hash) {
    Violation("ledger: honest nodes reached different app hashes" + where);
  } else if (it->second.results_hash != record.results_hash) {
    Violation("ledger: honest nodes got different transaction results" + where);
  } else if (it->second.schedule != record.schedule) {
    Violation("validator sets: honest nodes hold different validator schedules" + where);
  }
  // Governance: every honest node runs with the scripted change from the
  // height it took effect on, and with the old value before it.
  const uint64_t applied = result_.gov_applied_height;
  const uint64_t want = applied != 0 && height >= applied ? kGovTimeoutProposeMs : kTimeoutProposeMs;
  if (node.ledger->CurrentParams().timeout_propose_ms != want ||
      node.core->timeouts().propose_ms != want) {
    Violation("governance: timeout_propose_ms is " +
              std::to_string(node.core->timeouts().propose_ms) + ", expected " +
              std::to_string(want) + where);
  }
  CheckMarket(node, height, where);
  for (const auto& [key, vote_height] : equivocations_) {
    if (height < vote_height + kSlashDelayMaxHeights) continue;
    auto validator = staking::GetValidatorByKey(node.ledger->committed(), key);
    if (validator && validator->tombstoned) continue;
    Violation("slashing: validator " + key.ToHex().substr(0, 16) + " double-signed at height " +
              std::to_string(vote_height) + " (an honest node saw it) and is not tombstoned " +
              std::to_string(kSlashDelayMaxHeights) + " heights later" + where);
  }
}

// The first honest node to commit a height: figures, the client, and the
// scripted validators (the joiner starts, the downtime validator goes down
// and comes back).
void Simulation::ObserveFirstCommit(uint32_t id, const proto::Block& block,
                                    const Chain::Executed& executed) {
  Node& node = nodes_[id];
  const uint64_t height = block.header().height();
  first_committed_ = std::max(first_committed_, height);
  for (const consensus::Event& e : executed.end.events) {
    if (e.type != "slash") continue;
    for (const auto& [name, value] : e.attributes) {
      if (name == "reason" && value == "downtime") ++result_.downtime_jails;
      if (name == "reason" && value == "double_sign") ++result_.tombstones;
    }
  }
  result_.set_changes += executed.end.set_changes.size();
  for (const consensus::Event& e : executed.end.events) {
    if (e.type == "task_assigned") ++result_.tasks_assigned;
    if (e.type == "task_missed") ++result_.tasks_missed;
    CountVerification(e, height);
    CheckProfileDraw(node, e, height);
    if (e.type != "param_changed") continue;
    if (result_.gov_applied_height == 0) ++result_.proposals_applied;
    result_.gov_applied_height = height;
    if (height != kGovEffectiveHeight) {
      Violation("governance: a change took effect at height " + std::to_string(height) +
                ", the proposal named " + std::to_string(kGovEffectiveHeight));
    }
  }
  for (int i = 0; i < block.txs_size(); ++i) {
    if (executed.results[i].code != TxCode::kOk) continue;
    for (const consensus::Event& e : executed.results[i].events) CountVerification(e, height);
    ++result_.txs_committed;
    auto tx = DecodeTx(AsBytes(block.txs(i)), kChainId);
    if (tx.ok() && std::holds_alternative<MsgUnjail>(tx->msg)) ++result_.unjails;
  }
  for (const auto& [key, vote_height] : equivocations_) {
    if (tombstoned_.count(key)) continue;
    auto validator = staking::GetValidatorByKey(node.ledger->committed(), key);
    if (!validator || !validator->tombstoned) continue;
    tombstoned_.insert(key);
    if (height >= vote_height) {
      result_.slash_delay_max_heights =
          std::max(result_.slash_delay_max_heights, height - vote_height);
    }
  }
  const uint32_t n = static_cast<uint32_t>(genesis_.size());
  const PublicKey& joiner_key = secrets_[n].public_key();
  if (height > 1 && result_.validator_joins == 0) {
    const std::optional<ValidatorIndex> index =
        node.chain->ValidatorsAt(height - 1).IndexOf(joiner_key);
    for (const proto::CommitSig& sig : block.last_commit().signatures()) {
      if (index && sig.validator() == *index) result_.validator_joins = 1;
    }
  }
  if (!nodes_[joiner_].started) {
    for (const SetChange& change : executed.end.set_changes) {
      for (const Validator& v : change.validators) {
        if (v.key == joiner_key) StartNode(joiner_);
      }
    }
  }
  if (downtime_ != UINT32_MAX && downtime_ != id) {
    Node& down = nodes_[downtime_];
    if (downtime_state_ == Downtime::kPlanned && height >= downtime_from_height_ && down.up) {
      CrashNode(downtime_);
      downtime_state_ = Downtime::kDown;
    } else if (downtime_state_ == Downtime::kDown) {
      auto record = staking::GetValidatorByKey(node.ledger->committed(), genesis_[down.key].key);
      const uint64_t give_up = downtime_from_height_ + 3 * kSlashDelayMaxHeights;
      if ((record && record->jailed) || height >= give_up) {
        Event restart;
        restart.time = now_ + rng_.Range(200, 1000) * kMs;
        restart.type = EventType::kRestart;
        restart.node = downtime_;
        Push(restart);
        downtime_state_ = Downtime::kBack;
      }
    }
  }
  ClientStep(id, height);
}

}  // namespace agora::consensus::sim::detail
