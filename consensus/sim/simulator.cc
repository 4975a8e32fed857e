#include "consensus/sim/simulator.h"

#include <algorithm>
#include <memory>
#include <set>
#include <variant>

#include "common/check.h"
#include "common/hash.h"
#include "consensus/sim/simulation_impl.h"

namespace agora::consensus::sim {
namespace detail {
namespace {

constexpr uint64_t kTickUs = 250 * kMs;
constexpr uint64_t kEventsMax = 20'000'000;

// Chain mode (docs/consensus.md, "Chain mode").
// A proposer builds its block no sooner than this after the height began, as
// the node does with block_interval_ms; it keeps a crash of a few seconds
// under the downtime bound (6 of 10 blocks missed).
constexpr uint64_t kBlockIntervalUs = 1'000 * kMs;
constexpr uint64_t kEvidenceGossipTicks = 4;   // re-gossip known evidence every this many ticks

// The simulator's stand-in for ed25519: a keyed hash anyone can recompute.
// The simulated network authenticates senders, so unforgeability is not
// what is under test; speed is what lets CI run thousands of seeds.
Signature FakeSign(const PublicKey& key, const SignDomain& domain, ByteSpan payload) {
  Bytes data(key.bytes.begin(), key.bytes.end());
  Append(data, SigningBytes(domain, payload));
  Bytes digest = Blake2b(data, Signature::kSize);
  Signature s;
  std::copy(digest.begin(), digest.end(), s.bytes.begin());
  return s;
}

class FakeSigningKey final : public SigningKey {
 public:
  explicit FakeSigningKey(PublicKey key) : key_(key) {}
  const PublicKey& public_key() const override { return key_; }
  Signature Sign(const SignDomain& domain, ByteSpan payload) const override {
    return FakeSign(key_, domain, payload);
  }

 private:
  PublicKey key_;
};

class FakeVerifier final : public SignatureVerifier {
 public:
  bool Verify(const PublicKey& key, const SignDomain& domain, ByteSpan payload,
              const Signature& signature) const override {
    return FakeSign(key, domain, payload) == signature;
  }
};

}  // namespace

std::string Simulation::Describe() const {
  uint64_t total = 0, byzantine = 0;
  std::string kinds;
  for (const Node& n : nodes_) {
    if (n.behaviour != Behaviour::kHonest) {
      kinds += std::string(kinds.empty() ? "" : ",") + std::string(BehaviourName(n.behaviour));
    }
  }
  for (size_t i = 0; i < genesis_.size(); ++i) {
    total += genesis_[i].power;
    for (const Node& n : nodes_) {
      if (n.key == i && n.behaviour != Behaviour::kHonest) {
        byzantine += genesis_[i].power;
        break;
      }
    }
  }
  std::string chain;
  if (options_.ledger) {
    chain = " ledger joiner=" + std::to_string(joiner_) +
            (downtime_ == UINT32_MAX ? "" : " downtime=" + std::to_string(downtime_) + "@h" +
                                                std::to_string(downtime_from_height_));
  }
  return "validators=" + std::to_string(genesis_.size()) + chain + " endpoints=" +
         std::to_string(nodes_.size()) + " byzantine_power=" + std::to_string(byzantine) + "/" +
         std::to_string(total) + (kinds.empty() ? "" : " [" + kinds + "]") +
         " loss_ppm=" + std::to_string(plan_.loss_ppm) + " partitions=" +
         std::to_string(plan_.partitions.size()) + " crashes=" +
         std::to_string(plan_.crashes.size()) +
         (trap_ ? " lock_trap=h" + std::to_string(trap_->height) + ":x" +
                      std::to_string(trap_->x) + ":n" + std::to_string(trap_->n)
                : "");
}

void Simulation::Violation(const std::string& what) {
  if (!result_.ok) return;  // keep the first
  result_.ok = false;
  result_.violation = what + " at t=" + std::to_string(now_ / kMs) + "ms";
}

Signature Simulation::SignAs(uint32_t key, const SignDomain& domain, ByteSpan payload) const {
  if (options_.real_crypto) return secrets_[key].Sign(domain, payload);
  return FakeSign(genesis_[key].key, domain, payload);
}

void Simulation::Setup() {
  uint32_t n = script_ != nullptr ? script_->validators : options_.validators;
  if (options_.mix == FaultMix::kOneThirdTwins) n = 6;
  if (n == 0) n = static_cast<uint32_t>(rng_.Range(4, std::max<uint32_t>(4, options_.validators_max)));
  const bool random_stake = options_.random_stake && options_.mix != FaultMix::kOneThirdTwins &&
                            options_.mix != FaultMix::kLockTrap && options_.fixed_delay_us == 0;
  for (uint32_t i = 0; i < n; ++i) {
    Bytes seed;
    PutU64BigEndian(seed, options_.seed);
    PutU64BigEndian(seed, i);
    Validator v;
    if (options_.real_crypto) {
      secrets_.push_back(SecretKey::FromSeed(Blake2b256(seed).bytes).value());
      v.key = secrets_.back().public_key();
    } else {
      v.key = PublicKey{Blake2b256(seed).bytes};
    }
    v.power = random_stake ? rng_.Range(1, 100) : 10;
    genesis_.push_back(v);
  }
  if (options_.ledger) {
    // Validator index at height 1 is the position in key order: make it the
    // identity, so the fault plans (partitions, the lock trap) can keep
    // naming validators by node id.
    std::vector<uint32_t> order(n);
    for (uint32_t i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return genesis_[a].key < genesis_[b].key; });
    std::vector<Validator> sorted_validators;
    std::vector<SecretKey> sorted_secrets;
    for (uint32_t i : order) {
      sorted_validators.push_back(genesis_[i]);
      sorted_secrets.push_back(secrets_[i]);
    }
    genesis_ = std::move(sorted_validators);
    secrets_ = std::move(sorted_secrets);
  }
  if (options_.real_crypto) {
    verifier_ = std::make_unique<Ed25519Verifier>();
  } else {
    verifier_ = std::make_unique<FakeVerifier>();
  }
  for (uint32_t i = 0; i < n; ++i) {
    nodes_.emplace_back();
    nodes_.back().key = i;
  }
  PlanFaults();
  if (options_.ledger) SetupLedger();
}

void Simulation::Push(Event event) {
  event.seq = seq_++;
  queue_.push_back(std::move(event));
  std::push_heap(queue_.begin(), queue_.end(), Later());
}

void Simulation::Send(uint32_t from, uint32_t to, const Message& message) {
  ++result_.messages_sent;
  if (LockTrapBlocks(to, message) || ScriptWithholds(to, message)) return;
  if (PartitionBlocks(from, to) || rng_.ChancePpm(plan_.loss_ppm)) return;
  const int copies = rng_.ChancePpm(plan_.duplicate_ppm) ? 2 : 1;
  for (int c = 0; c < copies; ++c) {
    Event e;
    e.time = now_ + rng_.Range(plan_.delay_min_us, plan_.delay_max_us);
    e.type = EventType::kDeliver;
    e.node = to;
    e.from = from;
    e.message = message;
    Push(std::move(e));
  }
}

void Simulation::SendToAll(uint32_t from, const Message& message) {
  for (uint32_t to = 0; to < nodes_.size(); ++to) {
    if (to != from) Send(from, to, message);
  }
}

void Simulation::SendSplit(uint32_t from, const Message& first, const Message& second) {
  for (uint32_t to = 0; to < nodes_.size(); ++to) {
    if (to != from) Send(from, to, nodes_[to].side == 0 ? first : second);
  }
}

Hash256 Simulation::NewBlock(uint32_t id, uint64_t height, uint32_t round) {
  Bytes data;
  PutU64BigEndian(data, options_.seed);
  PutU64BigEndian(data, id);
  PutU64BigEndian(data, height);
  PutU64BigEndian(data, round);
  PutU64BigEndian(data, block_counter_++);
  return Blake2b256(data);
}

void Simulation::StartNode(uint32_t id) {
  Node& node = nodes_[id];
  node.up = node.started = true;
  node.own_messages.clear();
  node.seen_messages.clear();
  node.seen_keys.clear();
  if (node.behaviour == Behaviour::kSilent) return;
  std::unique_ptr<SigningKey> key;
  if (options_.real_crypto) {
    key = std::make_unique<Ed25519SigningKey>(secrets_[node.key]);
  } else {
    key = std::make_unique<FakeSigningKey>(genesis_[node.key].key);
  }
  auto signer = SafeSigner::Open(kChainId, std::move(key), node.store.get());
  if (!signer.ok()) {
    Violation("restart: node " + std::to_string(id) +
              " cannot open its signer: " + signer.status().message());
    return;
  }
  node.signer = std::move(*signer);
  node.signer->testonly_set_buffered_writes(options_.break_signer_buffered);
  ValidatorSetSource* sets = validators_.get();
  if (options_.ledger) {
    OpenChain(id);
    if (!node.chain) return;
    sets = node.chain.get();
  }
  CoreConfig config;
  config.chain_id = kChainId;
  config.testonly_ignore_lock = options_.break_ignore_lock;
  config.testonly_quorum_at_least_two_thirds = options_.break_quorum_at_least_two_thirds;
  config.testonly_restore_lock_only = options_.break_restore_lock_only;
  node.core = std::make_unique<Core>(config, sets, node.signer.get());
  if (options_.ledger) ApplyParams(node);
  Event tick;
  tick.time = now_ + rng_.Range(1, kTickUs);
  tick.type = EventType::kTick;
  tick.node = id;
  tick.incarnation = node.incarnation;
  Push(std::move(tick));
  const uint64_t next_height = Committed(node) + 1;
  node.height_started_us = now_;
  Apply(id, node.core->Start(next_height));
  // A restarted or new node asks for the blocks it missed at once.
  if (options_.ledger) SendToAll(id, StatusMessage{next_height});
}

uint64_t Simulation::Committed(const Node& node) const {
  if (options_.ledger) return node.committed_height;
  return node.commits.empty() ? 0 : node.commits.rbegin()->first;
}

// Power failure: memory is gone, and so is whatever the store had not synced.
void Simulation::CrashNode(uint32_t id) {
  Node& node = nodes_[id];
  AGORA_CHECK(node.up);  // crash windows never overlap (PlanFaults, PlanScript)
  node.up = false;
  ++result_.outages;
  node.delivered_votes.clear();  // what the core knew is gone with it
  node.core.reset();
  node.signer.reset();
  node.chain.reset();
  node.blocks.reset();
  node.ledger.reset();
  node.pending.clear();
  node.future_proposals.Clear();
  node.evidence_known.clear();
  node.verdicts.clear();
  node.late_precommits.clear();
  ++node.incarnation;
  result_.writes_lost += node.store->Crash();
}

void Simulation::OnBroadcastProposal(uint32_t id, const BroadcastProposal& broadcast) {
  Node& node = nodes_[id];
  const Proposal& proposal = broadcast.proposal;
  proposed_.insert(proposal.block);
  proposals_.emplace(std::make_tuple(proposal.height, proposal.round, proposal.block), proposal);
  node.own_messages.push_back(proposal);
  // A re-proposed block travels with its polka (others' votes, relayed
  // unchanged), and both are re-sent while this node is stuck.
  for (const Vote& vote : broadcast.polka) {
    node.own_messages.push_back(vote);
    SendToAll(id, vote);
  }
  if (node.behaviour != Behaviour::kEquivocatingProposer) {
    SendToAll(id, proposal);
    return;
  }
  Proposal evil = proposal;
  if (options_.ledger) {
    // A second real block: no transactions, a millisecond later.
    std::vector<Tx> included;
    auto block = node.chain->Propose(secrets_[node.key], NowMs() + 1, {}, &included);
    if (!block.ok()) {
      SendToAll(id, proposal);
      return;
    }
    evil.block = HeaderHash(block->header());
    bodies_.emplace(evil.block, std::make_shared<const Body>(Body{std::move(*block), false}));
  } else {
    evil.block = NewBlock(id, proposal.height, proposal.round);
  }
  evil.valid_round = -1;
  evil.signature = SignAs(node.key, {kChainId, SignKind::kProposal}, evil.SignBytes());
  proposed_.insert(evil.block);
  proposals_.emplace(std::make_tuple(evil.height, evil.round, evil.block), evil);
  SendSplit(id, proposal, evil);
}

void Simulation::OnBroadcastVote(uint32_t id, Vote vote) {
  Node& node = nodes_[id];
  if (node.behaviour == Behaviour::kHonest) {
    auto key = std::make_tuple(node.key, vote.height, vote.round, vote.type);
    auto [it, inserted] = honest_votes_.emplace(key, vote.block);
    if (!inserted && it->second != vote.block) {
      Violation("safety: honest validator " + std::to_string(node.key) +
                " signed conflicting votes " + vote.ToString());
    }
  }
  node.own_messages.push_back(vote);
  auto resign = [&](Vote v) {
    v.signature = SignAs(node.key, {kChainId, v.Kind()}, v.SignBytes());
    return v;
  };
  switch (node.behaviour) {
    case Behaviour::kDoubleVoter: {
      Vote other = vote;
      other.block = vote.block ? std::nullopt
                               : std::optional(NewBlock(id, vote.height, vote.round));
      SendSplit(id, vote, resign(other));
      return;
    }
    case Behaviour::kRandomVoter: {
      for (uint32_t to = 0; to < nodes_.size(); ++to) {
        if (to == id) continue;
        Vote v = vote;
        uint64_t pick = rng_.Below(3);
        if (pick == 0) v.block.reset();
        if (pick == 1) v.block = NewBlock(id, vote.height, vote.round);
        Send(id, to, resign(v));
      }
      return;
    }
    default:
      SendToAll(id, vote);
  }
}

void Simulation::OnDecide(uint32_t id, const Decide& decide) {
  Node& node = nodes_[id];
  auto proposal = proposals_.find(std::make_tuple(decide.height, decide.round, decide.block));
  if (!proposed_.count(decide.block) || proposal == proposals_.end()) {
    Violation("safety: validity: decided block " + decide.block.ToHex() + " was never proposed");
    return;
  }
  if (options_.ledger) {
    AGORA_CHECK(decide.height == node.committed_height + 1);
    auto body = bodies_.find(decide.block);
    AGORA_CHECK(body != bodies_.end());  // it came with the proposal
    const proto::Commit commit =
        MakeCommit(decide.height, decide.round, decide.block, decide.commit);
    if (!CommitBlock(id, body->second->block, commit, nullptr)) return;
  } else {
    node.commits[decide.height] = std::make_shared<Commit>(Commit{proposal->second, decide.commit});
  }
  node.own_messages.clear();
  node.seen_messages.clear();
  node.seen_keys.clear();
  node.decided_at_us[decide.height] = now_;
  if (trap_ && decide.height == trap_->height && id == trap_->x && trap_->end_us == UINT64_MAX) {
    trap_->end_us = now_ + kLockTrapHoldUs;
  }
  if (options_.ledger && node.core) ProcessFutureProposals(id);
  if (node.behaviour != Behaviour::kHonest) return;
  auto [it, inserted] = decided_.emplace(decide.height, decide.block);
  if (!inserted && it->second != decide.block) {
    Violation("safety: agreement: two honest validators decided different blocks at height " +
              std::to_string(decide.height));
  }
  if (options_.fixed_delay_us != 0 && decide.height >= 2) {
    auto previous = node.decided_at_us.find(decide.height - 1);
    if (previous != node.decided_at_us.end()) {
      latency_sum_us_ += now_ - previous->second;
      ++latency_count_;
    }
  }
}

void Simulation::Apply(uint32_t id, Actions actions) {
  for (Action& action : actions) {
    if (auto* p = std::get_if<BroadcastProposal>(&action)) {
      OnBroadcastProposal(id, *p);
    } else if (auto* v = std::get_if<BroadcastVote>(&action)) {
      OnBroadcastVote(id, v->vote);
    } else if (auto* t = std::get_if<ScheduleTimeout>(&action)) {
      Event e;
      e.time = now_ + t->delay_ms * kMs;
      e.type = EventType::kTimeout;
      e.node = id;
      e.incarnation = nodes_[id].incarnation;
      e.step = t->step;
      e.height = t->height;
      e.round = t->round;
      Push(std::move(e));
    } else if (auto* r = std::get_if<RequestBlock>(&action)) {
      Event e;
      e.time = now_ + (options_.fixed_delay_us != 0 ? 0 : rng_.Range(0, 2 * kMs));
      if (options_.ledger) {
        e.time = std::max(e.time, nodes_[id].height_started_us + kBlockIntervalUs);
      }
      e.type = EventType::kBlockReady;
      e.node = id;
      e.incarnation = nodes_[id].incarnation;
      e.height = r->height;
      e.round = r->round;
      Push(std::move(e));
    } else if (auto* d = std::get_if<Decide>(&action)) {
      OnDecide(id, *d);
    } else if (auto* ev = std::get_if<ReportEvidence>(&action)) {
      agora::Status s = VerifyEvidence(ev->evidence, kChainId, *verifier_);
      if (!s.ok()) Violation("evidence that does not verify: " + s.message());
      const Vote& second = ev->evidence.second;
      nodes_[id].evidence_reported.insert({second.height, second.validator, second.round,
                                           second.type});
      if (options_.ledger && s.ok()) {
        // Held to the slashing bound only if it was seen while a block could
        // still carry it in time: by a node at most two heights behind.
        if (nodes_[id].behaviour == Behaviour::kHonest && first_committed_ <= second.height + 1) {
          auto [it, inserted] = equivocations_.emplace(ev->evidence.validator, second.height);
          if (!inserted) it->second = std::min(it->second, second.height);
        }
        OnEvidence(id, ev->evidence, /*gossip=*/true);
      }
    }
  }
}

// Every proposal and vote is checked against its signer's key before the
// core sees it, as the node does. The simulated network cannot forge, so a
// failure here is a bug in whoever signed.
bool Simulation::Authentic(ValidatorSetSource& sets, const Message& message) {
  ++result_.signatures_verified;
  if (const auto* p = std::get_if<Proposal>(&message)) {
    const ValidatorSet& set = sets.ValidatorsAt(p->height);
    return p->proposer < set.size() &&
           VerifyOnce(set.at(p->proposer).key, {kChainId, SignKind::kProposal}, p->SignBytes(),
                      p->signature);
  }
  if (const auto* v = std::get_if<Vote>(&message)) {
    const ValidatorSet& set = sets.ValidatorsAt(v->height);
    return v->validator < set.size() &&
           VerifyOnce(set.at(v->validator).key, {kChainId, v->Kind()}, v->SignBytes(),
                      v->signature);
  }
  --result_.signatures_verified;
  return true;
}

// Each distinct signature is verified once, as the node does with its cache:
// a vote reaches every node, and ed25519 would otherwise dominate the run.
// The nodes' shared cache remembers only signatures that verified; its
// misses are the distinct signatures (in chain mode the nodes' commit checks
// then hit the precommits verified here).
bool Simulation::VerifyOnce(const PublicKey& key, const SignDomain& domain, ByteSpan payload,
                            const Signature& signature) {
  if (!options_.real_crypto) return verifier_->Verify(key, domain, payload, signature);
  const uint64_t hits = signatures_.hits();
  if (!signatures_.VerifySignature(key, domain, payload, signature)) return false;
  if (signatures_.hits() == hits) ++result_.distinct_signatures;
  return true;
}

void Simulation::Deliver(uint32_t id, uint32_t from, const Message& message) {
  Node& node = nodes_[id];
  if (!node.up || !node.core) return;
  // Chain mode: a node knows the validator sets up to two heights past its
  // last block; the core ignores anything else anyway.
  if (options_.ledger) {
    std::optional<uint64_t> height;
    if (const auto* p = std::get_if<Proposal>(&message)) height = p->height;
    if (const auto* v = std::get_if<Vote>(&message)) height = v->height;
    if (const auto* v = std::get_if<Vote>(&message); v && v->height == node.committed_height) {
      KeepLatePrecommit(id, *v);
      return;
    }
    if (height && !InWindow(node, *height)) return;
  }
  ValidatorSetSource& sets =
      options_.ledger ? static_cast<ValidatorSetSource&>(*node.chain) : *validators_;
  if (!Authentic(sets, message)) {
    Violation("a message with a bad signature was sent");
    return;
  }
  // Remember what arrived at this height, once, to relay if we get stuck:
  // gossip must eventually bring every honest node what any honest node saw.
  auto remember = [&](uint64_t height, ValidatorIndex who, uint32_t round, int kind,
                      const std::optional<Hash256>& block) {
    if (height == node.core->height() && node.seen_keys.insert({who, round, kind, block}).second) {
      node.seen_messages.push_back(message);
    }
  };
  if (const auto* p = std::get_if<Proposal>(&message)) {
    remember(p->height, p->proposer, p->round, 0, p->block);
    if (options_.ledger) {
      ProcessProposal(id, *p);
    } else {
      Apply(id, node.core->OnProposal(*p, /*block_valid=*/true));
    }
  } else if (const auto* v = std::get_if<Vote>(&message)) {
    remember(v->height, v->validator, v->round, static_cast<int>(v->type), v->block);
    if (node.behaviour == Behaviour::kHonest && v->height == node.core->height()) {
      VoteKey key{v->height, v->validator, v->round, v->type};
      auto [it, inserted] = node.delivered_votes.emplace(key, v->block);
      if (!inserted && it->second != v->block) node.evidence_required.insert(key);
    }
    Apply(id, node.core->OnVote(*v));
  } else if (const auto* s = std::get_if<StatusMessage>(&message)) {
    // A peer is behind: hand it the commit of the height it is stuck at (in
    // chain mode, the blocks from there on, from the block store).
    if (node.behaviour != Behaviour::kHonest) return;
    if (options_.ledger) {
      ServeSync(id, from, s->height);
      return;
    }
    auto commit = node.commits.find(s->height);
    if (commit != node.commits.end()) Send(id, from, commit->second);
  } else if (const auto* sync = std::get_if<std::shared_ptr<const SyncBlocks>>(&message)) {
    ApplySynced(id, from, **sync);
  } else if (const auto* e = std::get_if<EvidenceMessage>(&message)) {
    OnEvidence(id, e->evidence, /*gossip=*/false);
  } else {
    const auto& commit = std::get<std::shared_ptr<const Commit>>(message);
    bool authentic = Authentic(sets, commit->proposal);
    for (const Vote& vote : commit->votes) authentic = authentic && Authentic(sets, vote);
    if (!authentic) {
      Violation("a commit with a bad signature was sent");
      return;
    }
    Apply(id, node.core->OnProposal(commit->proposal, /*block_valid=*/true));
    for (const Vote& vote : commit->votes) Apply(id, node.core->OnVote(vote));
  }
}

void Simulation::OnTick(uint32_t id) {
  Node& node = nodes_[id];
  if (options_.ledger && ++node.ticks % kEvidenceGossipTicks == 0) GossipEvidence(id);
  if (node.core->height() == node.last_tick_height) {
    // No progress since the last tick: say where we are and re-send what we
    // said at this height, in case the network lost it.
    SendToAll(id, StatusMessage{node.core->height()});
    std::vector<Message> resend = node.own_messages;
    if (node.behaviour == Behaviour::kHonest) {
      resend.insert(resend.end(), node.seen_messages.begin(), node.seen_messages.end());
    }
    for (const Message& m : resend) SendToAll(id, m);
  }
  node.last_tick_height = node.core->height();
  Event tick;
  tick.time = now_ + kTickUs;
  tick.type = EventType::kTick;
  tick.node = id;
  tick.incarnation = node.incarnation;
  Push(std::move(tick));
}

bool Simulation::AllHonestDone() const {
  for (const Node& n : nodes_) {
    if (n.behaviour == Behaviour::kHonest && n.started && !n.down_for_good &&
        Committed(n) < options_.heights) {
      return false;
    }
  }
  return true;
}

SimResult Simulation::Run() {
  if (!options_.scenario.empty()) {
    std::string error = script_ == nullptr ? "unknown scenario '" + options_.scenario + "'"
                                           : CheckScript();
    if (!error.empty()) {
      result_.ok = false;
      result_.violation = "scenario: " + error;
      result_.summary = "scenario " + options_.scenario + " not run";
      return result_;
    }
  }
  Setup();
  uint64_t change_height = options_.heights >= 4 ? 3 : UINT64_MAX;
  uint32_t change_index = 0;
  uint64_t change_power = genesis_[0].power;
  {
    // Re-weight one honest validator at height 3, keeping Byzantine power
    // where the mix put it relative to 1/3.
    for (uint32_t i = 0; i < genesis_.size(); ++i) {
      if (nodes_[i].behaviour == Behaviour::kHonest) {
        change_index = i;
        const bool keep = options_.fixed_delay_us != 0 || options_.mix == FaultMix::kLockTrap ||
                          script_ != nullptr;
        change_power = genesis_[i].power + (keep ? 0 : rng_.Range(0, 50));
        break;
      }
    }
  }
  // In chain mode the ledger decides the sets; these are genesis's, for
  // planning the lock trap before any change.
  if (options_.ledger) change_height = UINT64_MAX;
  validators_ = std::make_unique<SimValidators>(genesis_, change_height, change_index, change_power);
  if (options_.mix == FaultMix::kLockTrap) PlanLockTrap();
  for (const auto& c : plan_.crashes) {
    Event crash;
    crash.time = c.at_us;
    crash.type = EventType::kCrash;
    crash.node = c.node;
    Push(crash);
    if (c.restart_us == SimScript::kNever) continue;
    Event restart = crash;
    restart.time = c.restart_us;
    restart.type = EventType::kRestart;
    Push(restart);
  }
  for (uint32_t id = 0; id < nodes_.size(); ++id) {
    if (nodes_[id].started) StartNode(id);
  }

  const uint64_t deadline = plan_.heal_us + options_.heights * 10'000 * kMs + 20'000 * kMs;
  while (!queue_.empty() && result_.ok && !AllHonestDone() && result_.events < kEventsMax) {
    std::pop_heap(queue_.begin(), queue_.end(), Later());
    Event e = std::move(queue_.back());
    queue_.pop_back();
    now_ = e.time;
    if (now_ > deadline) break;
    ++result_.events;
    Node& node = nodes_[e.node];
    switch (e.type) {
      case EventType::kDeliver: Deliver(e.node, e.from, e.message); break;
      case EventType::kTimeout:
        if (node.up && node.core && e.incarnation == node.incarnation) {
          Apply(e.node, node.core->OnTimeout(e.step, e.height, e.round));
        }
        break;
      case EventType::kBlockReady:
        if (node.up && node.core && e.incarnation == node.incarnation) {
          if (options_.ledger) {
            BuildBlock(e.node, e.height, e.round);
          } else {
            Apply(e.node,
                  node.core->OnBlockReady(e.height, e.round, NewBlock(e.node, e.height, e.round)));
          }
        }
        break;
      case EventType::kTick:
        if (node.up && node.core && e.incarnation == node.incarnation) OnTick(e.node);
        break;
      case EventType::kCrash: CrashNode(e.node); break;
      case EventType::kRestart:
        AGORA_CHECK(!node.up);
        StartNode(e.node);
        break;
    }
  }
  for (const Node& n : nodes_) {
    for (const VoteKey& key : n.evidence_required) {
      if (!n.evidence_reported.count(key)) {
        Violation("an honest validator saw an equivocation by validator " +
                  std::to_string(std::get<1>(key)) + " and reported no evidence");
      }
    }
  }
  if (result_.ok && plan_.check_liveness && !AllHonestDone()) {
    std::string where;
    for (uint32_t id = 0; id < nodes_.size(); ++id) {
      const Node& n = nodes_[id];
      if (n.behaviour != Behaviour::kHonest || !n.core || n.down_for_good) continue;
      where += " " + std::to_string(id) + ":h" + std::to_string(n.core->height()) + "/r" +
               std::to_string(n.core->round()) + "/" + std::string(StepName(n.core->step()));
    }
    Violation("liveness (honest at" + where + "): honest validators did not all decide " +
              std::to_string(options_.heights) + " heights by t=" +
              std::to_string(deadline / kMs) + "ms (faults healed at " +
              std::to_string(plan_.heal_us / kMs) + "ms)");
  }
  uint64_t done = UINT64_MAX;
  for (const Node& n : nodes_) {
    if (n.behaviour == Behaviour::kHonest && n.started && !n.down_for_good) {
      done = std::min(done, Committed(n));
    }
  }
  result_.heights_decided = done == UINT64_MAX ? 0 : done;
  result_.simulated_us = now_;
  if (latency_count_ > 0 && options_.fixed_delay_us != 0) {
    result_.latency_delays_x1000 = latency_sum_us_ * 1000 / latency_count_ / options_.fixed_delay_us;
  }
  result_.summary = (script_ != nullptr ? "scenario " + script_->name
                                         : std::string(FaultMixName(options_.mix))) +
                    " " + Describe() + " heights=" +
                    std::to_string(result_.heights_decided) + " t=" +
                    std::to_string(now_ / kMs) + "ms events=" + std::to_string(result_.events);
  if (options_.ledger) {
    const SimResult& r = result_;
    result_.summary += " joins=" + std::to_string(r.validator_joins) + " jails=" +
                       std::to_string(r.downtime_jails) + " unjails=" + std::to_string(r.unjails) +
                       " tombstones=" + std::to_string(r.tombstones) + " slash_delay_max=" +
                       std::to_string(r.slash_delay_max_heights) + " set_changes=" +
                       std::to_string(r.set_changes) + " txs=" + std::to_string(r.txs_committed) +
                       " synced=" + std::to_string(r.blocks_synced) + " writes_lost=" +
                       std::to_string(r.writes_lost) + " gov_applied_at=" +
                       std::to_string(r.gov_applied_height) + " tasks_assigned=" +
                       std::to_string(r.tasks_assigned) + " tasks_missed=" +
                       std::to_string(r.tasks_missed) + " tasks_passed=" +
                       std::to_string(r.tasks_passed) + " verdicts=" + std::to_string(r.verdicts) +
                       " frauds=" + std::to_string(r.frauds) + " outvoted=" +
                       std::to_string(r.outvoted) + " claims=" + std::to_string(r.claims) +
                       " claims_refuted=" + std::to_string(r.claims_refuted) + " rounds_recorded=" +
                       std::to_string(r.rounds_recorded) + " narrow_draws=" +
                       std::to_string(r.narrow_draws) + " job_finished=" +
                       std::to_string(r.job_finished) + " cheat=" +
                       (r.cheat_kind.empty() ? "-" : r.cheat_kind) +
                       (r.cheat_committed ? (r.cheat_caught ? "/caught" : "/escaped") : "") +
                       (r.cheat_met_lazy ? "/met-lazy" : "");
  }
  return result_;
}

}  // namespace detail

std::string_view BehaviourName(Behaviour b) {
  switch (b) {
    case Behaviour::kHonest: return "honest";
    case Behaviour::kSilent: return "silent";
    case Behaviour::kEquivocatingProposer: return "equivocating-proposer";
    case Behaviour::kDoubleVoter: return "double-voter";
    case Behaviour::kRandomVoter: return "random-voter";
    case Behaviour::kTwin: return "twin";
  }
  return "unknown";
}

std::string_view FaultMixName(FaultMix mix) {
  switch (mix) {
    case FaultMix::kClean: return "clean";
    case FaultMix::kLossy: return "lossy";
    case FaultMix::kPartition: return "partition";
    case FaultMix::kCrash: return "crash";
    case FaultMix::kByzantine: return "byzantine";
    case FaultMix::kChaos: return "chaos";
    case FaultMix::kOneThirdTwins: return "one-third-twins";
    case FaultMix::kLockTrap: return "lock-trap";
  }
  return "unknown";
}

FaultMix LiveMixForSeed(uint64_t seed) {
  constexpr FaultMix kLive[] = {FaultMix::kClean,     FaultMix::kLossy, FaultMix::kPartition,
                                FaultMix::kCrash,     FaultMix::kByzantine, FaultMix::kChaos,
                                FaultMix::kLockTrap};
  return kLive[seed % std::size(kLive)];
}

bool ParseFaultMix(std::string_view name, FaultMix* out) {
  for (int i = 0; i < kFaultMixCount; ++i) {
    if (FaultMixName(static_cast<FaultMix>(i)) == name) {
      *out = static_cast<FaultMix>(i);
      return true;
    }
  }
  return false;
}

SimResult RunSimulation(const SimOptions& options) { return detail::Simulation(options).Run(); }

std::string ReproduceCommand(const SimOptions& o) {
  std::string cmd = "agora-sim --seed " + std::to_string(o.seed) +
                    (o.scenario.empty() ? " --mix " + std::string(FaultMixName(o.mix))
                                        : " --scenario " + o.scenario) +
                    " --heights " + std::to_string(o.heights);
  if (o.validators != 0) cmd += " --validators " + std::to_string(o.validators);
  if (o.validators_max != 10) cmd += " --validators-max " + std::to_string(o.validators_max);
  if (!o.random_stake) cmd += " --equal-stake";
  if (o.real_crypto) cmd += " --real-crypto";
  if (o.fixed_delay_us != 0) cmd += " --fixed-delay-us " + std::to_string(o.fixed_delay_us);
  if (o.break_ignore_lock) cmd += " --break ignore-lock";
  if (o.break_quorum_at_least_two_thirds) cmd += " --break quorum-at-least-two-thirds";
  if (o.break_signer_buffered) cmd += " --break signer-buffered";
  if (o.break_restore_lock_only) cmd += " --break restore-lock-only";
  if (o.ledger) cmd += " --ledger";
  return cmd + " --verbose";
}

}  // namespace agora::consensus::sim
