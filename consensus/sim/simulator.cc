#include "consensus/sim/simulator.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <variant>

#include "common/check.h"
#include "common/hash.h"
#include "common/kv.h"
#include "consensus/core.h"

namespace agora::consensus::sim {
namespace {

constexpr char kChainId[] = "agora-sim";
constexpr uint64_t kMs = 1000;  // simulated time is in microseconds
constexpr uint64_t kTickUs = 250 * kMs;
constexpr uint64_t kEventsMax = 20'000'000;

// splitmix64: small, fast, and the same on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }
  uint64_t Range(uint64_t lo, uint64_t hi) { return lo + Below(hi - lo + 1); }
  bool ChancePpm(uint64_t ppm) { return Below(1'000'000) < ppm; }

 private:
  uint64_t state_;
};

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

// Validator sets per height: genesis powers, one re-weighting at a chosen
// height, proposer priorities carried from height to height.
class SimValidators final : public ValidatorSetSource {
 public:
  SimValidators(std::vector<Validator> genesis, uint64_t change_height, uint32_t change_index,
                uint64_t change_power)
      : genesis_(std::move(genesis)),
        change_height_(change_height),
        change_index_(change_index),
        change_power_(change_power) {
    sets_.push_back(ValidatorSet::Make(genesis_).value());
    sets_.back().IncrementProposerPriority(1);
  }
  const ValidatorSet& ValidatorsAt(uint64_t height) override {
    while (sets_.size() < height) {
      std::vector<Validator> next = genesis_;
      if (sets_.size() + 1 >= change_height_) next[change_index_].power = change_power_;
      sets_.push_back(sets_.back().Next(next));  // deque: references stay valid
    }
    return sets_[height - 1];
  }

 private:
  std::vector<Validator> genesis_;
  uint64_t change_height_;
  uint32_t change_index_;
  uint64_t change_power_;
  std::deque<ValidatorSet> sets_;
};

struct StatusMessage { uint64_t height; };
struct Commit {
  Proposal proposal;
  std::vector<Vote> votes;
};
using Message = std::variant<Proposal, Vote, StatusMessage, std::shared_ptr<const Commit>>;

enum class EventType : uint8_t { kDeliver, kTimeout, kBlockReady, kTick, kCrash, kRestart };

struct Event {
  uint64_t time = 0;
  uint64_t seq = 0;
  EventType type = EventType::kDeliver;
  uint32_t node = 0;
  uint32_t from = 0;
  uint32_t incarnation = 0;
  Message message;
  Step step = Step::kPropose;
  uint64_t height = 0;
  uint32_t round = 0;
};
struct Later {
  bool operator()(const Event& a, const Event& b) const {
    return std::tie(a.time, a.seq) > std::tie(b.time, b.seq);
  }
};

using VoteKey = std::tuple<uint64_t, ValidatorIndex, uint32_t, VoteType>;

struct Node {
  uint32_t key = 0;  // validator index (stable: sets are re-weighted, never reordered)
  Behaviour behaviour = Behaviour::kHonest;
  uint32_t side = 0;  // which half gets which lie, for equivocators and twins
  std::unique_ptr<MemKvStore> store = std::make_unique<MemKvStore>();  // survives crashes
  std::unique_ptr<SafeSigner> signer;
  std::unique_ptr<Core> core;
  bool up = true;
  uint32_t incarnation = 0;
  std::map<uint64_t, std::shared_ptr<const Commit>> chain;  // survives crashes
  std::map<uint64_t, uint64_t> decided_at_us;
  uint64_t last_tick_height = 0;
  std::vector<Message> own_messages;   // this height, for re-sending when stuck
  std::vector<Message> seen_messages;  // others' messages at this height, to relay when stuck
  std::set<std::tuple<ValidatorIndex, uint32_t, int, std::optional<Hash256>>> seen_keys;
  std::map<VoteKey, std::optional<Hash256>> delivered_votes;
  std::set<VoteKey> evidence_required, evidence_reported;
};

struct FaultPlan {
  uint64_t delay_min_us = 1 * kMs, delay_max_us = 50 * kMs;
  uint64_t loss_ppm = 0, duplicate_ppm = 0;
  struct Partition { uint64_t start_us, end_us; std::vector<uint32_t> group; };
  std::vector<Partition> partitions;
  struct Crash { uint32_t node; uint64_t at_us, restart_us; };
  std::vector<Crash> crashes;
  uint64_t heal_us = 0;  // no partition or crash after this
  bool check_liveness = true;
};

// The lock trap (FaultMix::kLockTrap) at one height h, with equal stake.
// `x` is the one validator that sees the round-0 commit; `n` is round 1's
// proposer. Until `end_us` the network withholds, by content and whatever
// the path: the round-0 proposal from n; round-0 prevotes for the block from
// n beyond those in `prevotes_to_n` (so n sees 2f+1 prevotes but no polka and
// precommits nil); round-0 precommits for the block from everyone but x
// beyond `precommits_to[r]` (so they see 2f+1 precommits but no commit and
// move to round 1); and any commit of height h (which only x has).
struct LockTrap {
  uint64_t height = 0;
  uint32_t x = 0, n = 0;
  std::set<ValidatorIndex> prevotes_to_n;
  std::vector<std::set<ValidatorIndex>> precommits_to;
  uint64_t end_us = UINT64_MAX;
};
// How long the trap holds after x decides: long enough for round 1 to
// decide if the lock is ignored, short enough that the test stays quick.
constexpr uint64_t kLockTrapHoldUs = 8'000 * kMs;
constexpr uint64_t kLockTrapCapUs = 30'000 * kMs;

class Simulation {
 public:
  explicit Simulation(const SimOptions& options) : options_(options), rng_(options.seed) {}
  SimResult Run();

 private:
  void Setup();
  void PlanFaults();
  void StartNode(uint32_t id);
  void Push(Event event);
  void Send(uint32_t from, uint32_t to, const Message& message);
  void SendToAll(uint32_t from, const Message& message);
  void SendSplit(uint32_t from, const Message& first, const Message& second);
  void Deliver(uint32_t id, uint32_t from, const Message& message);
  void Apply(uint32_t id, Actions actions);
  void OnBroadcastVote(uint32_t id, Vote vote);
  void OnBroadcastProposal(uint32_t id, const BroadcastProposal& broadcast);
  void OnDecide(uint32_t id, const Decide& decide);
  void OnTick(uint32_t id);
  void Violation(const std::string& what);
  bool PartitionBlocks(uint32_t from, uint32_t to) const;
  void PlanLockTrap();
  bool LockTrapBlocks(uint32_t to, const Message& message) const;
  bool Authentic(const Message& message);
  Hash256 NewBlock(uint32_t id, uint64_t height, uint32_t round);
  Signature SignAs(uint32_t key, const SignDomain& domain, ByteSpan payload) const;
  bool AllHonestDone() const;
  std::string Describe() const;

  SimOptions options_;
  Rng rng_;
  FaultPlan plan_;
  std::optional<LockTrap> trap_;
  std::vector<Validator> genesis_;
  std::vector<SecretKey> secrets_;  // with real_crypto
  std::unique_ptr<SimValidators> validators_;
  std::unique_ptr<SignatureVerifier> verifier_;
  std::vector<Node> nodes_;
  std::vector<Event> queue_;
  uint64_t seq_ = 0;
  uint64_t now_ = 0;
  uint64_t block_counter_ = 0;
  std::set<Hash256> proposed_;  // every block ever proposed
  std::map<std::tuple<uint64_t, uint32_t, Hash256>, Proposal> proposals_;  // (height, round, block)
  std::map<uint64_t, Hash256> decided_;               // first honest decision per height
  std::map<std::tuple<uint32_t, uint64_t, uint32_t, VoteType>, std::optional<Hash256>>
      honest_votes_;
  SimResult result_;
  uint64_t latency_sum_us_ = 0, latency_count_ = 0;
};

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
  return "validators=" + std::to_string(genesis_.size()) + " endpoints=" +
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
  uint32_t n = options_.validators;
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
}

void Simulation::PlanFaults() {
  const FaultMix mix = options_.mix;
  const uint32_t n = static_cast<uint32_t>(genesis_.size());
  uint64_t total = 0;
  for (const auto& v : genesis_) total += v.power;
  if (options_.fixed_delay_us != 0) {
    plan_.delay_min_us = plan_.delay_max_us = options_.fixed_delay_us;
  } else if (mix == FaultMix::kLossy || mix == FaultMix::kChaos) {
    plan_.delay_max_us = rng_.Range(50, 400) * kMs;
    plan_.loss_ppm = rng_.Range(0, 200'000);
    plan_.duplicate_ppm = rng_.Range(0, 100'000);
  } else {
    plan_.delay_max_us = rng_.Range(5, 150) * kMs;
  }

  // Byzantine validators: strictly below 1/3 of the power, except in the
  // mix that puts exactly 1/3 on twins to show where the bound lies.
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = i;
  for (uint32_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng_.Below(i)]);
  if (mix == FaultMix::kOneThirdTwins) {
    nodes_[order[0]].behaviour = nodes_[order[1]].behaviour = Behaviour::kTwin;
    plan_.check_liveness = false;
  } else if (mix == FaultMix::kByzantine || mix == FaultMix::kChaos) {
    uint64_t byzantine = 0;
    const Behaviour kinds[] = {Behaviour::kSilent, Behaviour::kEquivocatingProposer,
                               Behaviour::kDoubleVoter, Behaviour::kRandomVoter, Behaviour::kTwin};
    for (uint32_t i : order) {
      if (3 * (byzantine + genesis_[i].power) >= total) continue;
      if (rng_.Below(3) == 0) continue;
      byzantine += genesis_[i].power;
      nodes_[i].behaviour = kinds[rng_.Below(5)];
    }
  }
  // Twins: a second endpoint with the same key.
  for (uint32_t i = 0; i < n; ++i) {
    if (nodes_[i].behaviour != Behaviour::kTwin) continue;
    nodes_.emplace_back();
    nodes_.back().key = i;
    nodes_.back().behaviour = Behaviour::kTwin;
    nodes_.back().side = 1;
  }
  for (uint32_t id = 0; id < nodes_.size(); ++id) {
    if (nodes_[id].behaviour != Behaviour::kTwin) nodes_[id].side = rng_.Below(2);
  }

  uint64_t heal = 0;
  if (mix == FaultMix::kPartition || mix == FaultMix::kChaos || mix == FaultMix::kOneThirdTwins) {
    uint64_t t = rng_.Range(0, 2000) * kMs;
    const uint64_t count = mix == FaultMix::kOneThirdTwins ? 1 : rng_.Range(1, 3);
    for (uint64_t k = 0; k < count; ++k) {
      FaultPlan::Partition p{t, t + rng_.Range(500, 5000) * kMs, {}};
      for (uint32_t id = 0; id < nodes_.size(); ++id) {
        // Twins split by side; everyone else at random.
        p.group.push_back(mix == FaultMix::kOneThirdTwins ? nodes_[id].side
                                                          : static_cast<uint32_t>(rng_.Below(2)));
      }
      if (mix == FaultMix::kOneThirdTwins) {
        // The honest validators split two and two.
        uint32_t side = 0;
        for (uint32_t id = 0; id < n; ++id) {
          if (nodes_[id].behaviour == Behaviour::kHonest) p.group[id] = (side++) % 2;
        }
      }
      t = p.end_us + rng_.Range(100, 2000) * kMs;
      heal = std::max(heal, p.end_us);
      plan_.partitions.push_back(std::move(p));
    }
  }
  if (mix == FaultMix::kCrash || mix == FaultMix::kChaos) {
    const uint64_t count = rng_.Range(1, std::max<uint64_t>(1, n / 2));
    for (uint64_t k = 0; k < count; ++k) {
      uint32_t id = static_cast<uint32_t>(rng_.Below(n));
      if (nodes_[id].behaviour != Behaviour::kHonest) continue;
      uint64_t at = rng_.Range(0, 8000) * kMs;
      FaultPlan::Crash c{id, at, at + rng_.Range(200, 4000) * kMs};
      // A node is down at most once at a time. Two overlapping windows would
      // restart a node that is running: a fresh core forgets what the old one
      // saw while the simulator still holds it to report equivocations among
      // those votes, and the old core's timers fire into the new one.
      const bool overlaps = std::any_of(
          plan_.crashes.begin(), plan_.crashes.end(), [&](const FaultPlan::Crash& other) {
            return other.node == id && c.at_us <= other.restart_us && other.at_us <= c.restart_us;
          });
      if (overlaps) continue;
      heal = std::max(heal, c.restart_us);
      plan_.crashes.push_back(c);
    }
  }
  if (mix == FaultMix::kLockTrap) heal = kLockTrapCapUs;
  plan_.heal_us = heal;
}

void Simulation::PlanLockTrap() {
  LockTrap trap;
  trap.height = rng_.Range(1, std::max<uint64_t>(1, options_.heights));
  ValidatorSet set = validators_->ValidatorsAt(trap.height);
  const ValidatorIndex proposer0 = set.Proposer();
  set.IncrementProposerPriority(1);
  trap.n = set.Proposer();
  if (trap.n == proposer0) return;  // one validator proposes both rounds: no trap
  trap.x = trap.n == 0 ? 1 : 0;
  // Everyone but n locks; everyone but x must see just short of a commit.
  std::vector<ValidatorIndex> locked;
  for (ValidatorIndex i = 0; i < set.size(); ++i) {
    if (i != trap.n && i != trap.x) locked.push_back(i);
  }
  auto fill = [&](uint64_t seen, ValidatorIndex self, std::set<ValidatorIndex>* allowed) {
    for (ValidatorIndex i : locked) {
      if (i == self) continue;
      if (set.IsQuorum(seen + set.at(i).power)) break;
      seen += set.at(i).power;
      allowed->insert(i);
    }
    return seen;
  };
  fill(0, trap.n, &trap.prevotes_to_n);
  trap.precommits_to.resize(set.size());
  for (ValidatorIndex r = 0; r < set.size(); ++r) {
    if (r == trap.x) continue;
    const bool self_locked = r != trap.n;
    uint64_t seen = fill(self_locked ? set.at(r).power : 0, r, &trap.precommits_to[r]);
    // With n's nil precommit r must reach 2f+1 precommits, or it would wait
    // forever in round 0; with equal stake it always does.
    if (!set.IsQuorum(seen + set.at(trap.n).power)) return;
  }
  trap_ = std::move(trap);
}

bool Simulation::LockTrapBlocks(uint32_t to, const Message& message) const {
  if (!trap_ || now_ >= trap_->end_us || now_ >= kLockTrapCapUs) return false;
  const LockTrap& t = *trap_;
  if (const auto* p = std::get_if<Proposal>(&message)) {
    return p->height == t.height && p->round == 0 && to == t.n;
  }
  if (const auto* v = std::get_if<Vote>(&message)) {
    if (v->height != t.height || v->round != 0 || !v->block) return false;
    if (v->type == VoteType::kPrevote) return to == t.n && !t.prevotes_to_n.count(v->validator);
    return to != t.x && !t.precommits_to[to].count(v->validator);
  }
  if (const auto* c = std::get_if<std::shared_ptr<const Commit>>(&message)) {
    return (*c)->proposal.height == t.height;
  }
  return false;
}

bool Simulation::PartitionBlocks(uint32_t from, uint32_t to) const {
  for (const auto& p : plan_.partitions) {
    if (now_ >= p.start_us && now_ < p.end_us && p.group[from] != p.group[to]) return true;
  }
  return false;
}

void Simulation::Push(Event event) {
  event.seq = seq_++;
  queue_.push_back(std::move(event));
  std::push_heap(queue_.begin(), queue_.end(), Later());
}

void Simulation::Send(uint32_t from, uint32_t to, const Message& message) {
  ++result_.messages_sent;
  if (LockTrapBlocks(to, message)) return;
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
  node.up = true;
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
  node.signer = SafeSigner::Open(kChainId, std::move(key), node.store.get()).value();
  CoreConfig config;
  config.chain_id = kChainId;
  config.testonly_ignore_lock = options_.break_ignore_lock;
  config.testonly_quorum_at_least_two_thirds = options_.break_quorum_at_least_two_thirds;
  node.core = std::make_unique<Core>(config, validators_.get(), node.signer.get());
  Event tick;
  tick.time = now_ + rng_.Range(1, kTickUs);
  tick.type = EventType::kTick;
  tick.node = id;
  tick.incarnation = node.incarnation;
  Push(std::move(tick));
  uint64_t next_height = node.chain.empty() ? 1 : node.chain.rbegin()->first + 1;
  Apply(id, node.core->Start(next_height));
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
  evil.block = NewBlock(id, proposal.height, proposal.round);
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
  auto commit = std::make_shared<Commit>(Commit{proposal->second, decide.commit});
  node.chain[decide.height] = commit;
  node.own_messages.clear();
  node.seen_messages.clear();
  node.seen_keys.clear();
  node.decided_at_us[decide.height] = now_;
  if (trap_ && decide.height == trap_->height && id == trap_->x && trap_->end_us == UINT64_MAX) {
    trap_->end_us = now_ + kLockTrapHoldUs;
  }
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
    }
  }
}

// Every proposal and vote is checked against its signer's key before the
// core sees it, as the node does. The simulated network cannot forge, so a
// failure here is a bug in whoever signed.
bool Simulation::Authentic(const Message& message) {
  ++result_.signatures_verified;
  if (const auto* p = std::get_if<Proposal>(&message)) {
    const ValidatorSet& set = validators_->ValidatorsAt(p->height);
    return p->proposer < set.size() &&
           verifier_->Verify(set.at(p->proposer).key, {kChainId, SignKind::kProposal},
                             p->SignBytes(), p->signature);
  }
  if (const auto* v = std::get_if<Vote>(&message)) {
    const ValidatorSet& set = validators_->ValidatorsAt(v->height);
    return v->validator < set.size() &&
           verifier_->Verify(set.at(v->validator).key, {kChainId, v->Kind()}, v->SignBytes(),
                             v->signature);
  }
  --result_.signatures_verified;
  return true;
}

void Simulation::Deliver(uint32_t id, uint32_t from, const Message& message) {
  Node& node = nodes_[id];
  if (!node.up || !node.core) return;
  if (!Authentic(message)) {
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
    Apply(id, node.core->OnProposal(*p, /*block_valid=*/true));
  } else if (const auto* v = std::get_if<Vote>(&message)) {
    remember(v->height, v->validator, v->round, static_cast<int>(v->type), v->block);
    if (node.behaviour == Behaviour::kHonest && v->height == node.core->height()) {
      VoteKey key{v->height, v->validator, v->round, v->type};
      auto [it, inserted] = node.delivered_votes.emplace(key, v->block);
      if (!inserted && it->second != v->block) node.evidence_required.insert(key);
    }
    Apply(id, node.core->OnVote(*v));
  } else if (const auto* s = std::get_if<StatusMessage>(&message)) {
    // A peer is behind: hand it the commit of the height it is stuck at.
    auto commit = node.chain.find(s->height);
    if (node.behaviour == Behaviour::kHonest && commit != node.chain.end()) {
      Send(id, from, commit->second);
    }
  } else {
    const auto& commit = std::get<std::shared_ptr<const Commit>>(message);
    bool authentic = Authentic(commit->proposal);
    for (const Vote& vote : commit->votes) authentic = authentic && Authentic(vote);
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
    if (n.behaviour == Behaviour::kHonest && n.chain.size() < options_.heights) return false;
  }
  return true;
}

SimResult Simulation::Run() {
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
        const bool keep = options_.fixed_delay_us != 0 || options_.mix == FaultMix::kLockTrap;
        change_power = genesis_[i].power + (keep ? 0 : rng_.Range(0, 50));
        break;
      }
    }
  }
  validators_ = std::make_unique<SimValidators>(genesis_, change_height, change_index, change_power);
  if (options_.mix == FaultMix::kLockTrap) PlanLockTrap();
  for (const auto& c : plan_.crashes) {
    Event crash;
    crash.time = c.at_us;
    crash.type = EventType::kCrash;
    crash.node = c.node;
    Push(crash);
    Event restart = crash;
    restart.time = c.restart_us;
    restart.type = EventType::kRestart;
    Push(restart);
  }
  for (uint32_t id = 0; id < nodes_.size(); ++id) StartNode(id);

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
          Apply(e.node, node.core->OnBlockReady(e.height, e.round, NewBlock(e.node, e.height, e.round)));
        }
        break;
      case EventType::kTick:
        if (node.up && node.core && e.incarnation == node.incarnation) OnTick(e.node);
        break;
      case EventType::kCrash:
        AGORA_CHECK(node.up);  // crash windows never overlap (PlanFaults)
        node.up = false;
        node.delivered_votes.clear();  // what the core knew is gone with it
        node.core.reset();
        node.signer.reset();
        ++node.incarnation;
        break;
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
      if (n.behaviour != Behaviour::kHonest || !n.core) continue;
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
    if (n.behaviour == Behaviour::kHonest) done = std::min<uint64_t>(done, n.chain.size());
  }
  result_.heights_decided = done == UINT64_MAX ? 0 : done;
  result_.simulated_us = now_;
  if (latency_count_ > 0 && options_.fixed_delay_us != 0) {
    result_.latency_delays_x1000 = latency_sum_us_ * 1000 / latency_count_ / options_.fixed_delay_us;
  }
  result_.summary = std::string(FaultMixName(options_.mix)) + " " + Describe() + " heights=" +
                    std::to_string(result_.heights_decided) + " t=" +
                    std::to_string(now_ / kMs) + "ms events=" + std::to_string(result_.events);
  return result_;
}

}  // namespace

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

SimResult RunSimulation(const SimOptions& options) { return Simulation(options).Run(); }

std::string ReproduceCommand(const SimOptions& o) {
  std::string cmd = "agora-sim --seed " + std::to_string(o.seed) + " --mix " +
                    std::string(FaultMixName(o.mix)) + " --heights " + std::to_string(o.heights);
  if (o.validators != 0) cmd += " --validators " + std::to_string(o.validators);
  if (o.validators_max != 10) cmd += " --validators-max " + std::to_string(o.validators_max);
  if (!o.random_stake) cmd += " --equal-stake";
  if (o.real_crypto) cmd += " --real-crypto";
  if (o.fixed_delay_us != 0) cmd += " --fixed-delay-us " + std::to_string(o.fixed_delay_us);
  if (o.break_ignore_lock) cmd += " --break ignore-lock";
  if (o.break_quorum_at_least_two_thirds) cmd += " --break quorum-at-least-two-thirds";
  return cmd + " --verbose";
}

}  // namespace agora::consensus::sim
