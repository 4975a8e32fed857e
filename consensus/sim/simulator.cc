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
#include "consensus/chain/block.h"
#include "consensus/chain/chain.h"
#include "consensus/core.h"
#include "consensus/ledger/gov.h"
#include "consensus/ledger/ledger.h"
#include "consensus/ledger/marketplace.h"
#include "market/pricing.h"
#include "consensus/ledger/staking.h"
#include "consensus/ledger/tx.h"
#include "consensus/ledger/verification.h"
#include "common/merkle.h"
#include "common/vrf.h"
#include "verify/sampling.h"
#include "consensus/sim/fault_store.h"

namespace agora::consensus::sim {
namespace {

constexpr char kChainId[] = "agora-sim";
constexpr uint64_t kMs = 1000;  // simulated time is in microseconds
constexpr uint64_t kTickUs = 250 * kMs;
constexpr uint64_t kEventsMax = 20'000'000;

// Chain mode (docs/consensus.md, "Chain mode").
constexpr uint64_t kGenesisTimeMs = 1'600'000'000'000;
// A proposer builds its block no sooner than this after the height began, as
// the node does with block_interval_ms; it keeps a crash of a few seconds
// under the downtime bound (6 of 10 blocks missed).
constexpr uint64_t kBlockIntervalUs = 1'000 * kMs;
constexpr uint64_t kTimeoutProposeMs = 3'000;
constexpr uint64_t kSyncBlocksMax = 8;         // blocks per sync reply
constexpr size_t kProposalTxsMax = 64;         // client transactions per block
constexpr size_t kFutureProposalsMax = 64;     // proposals kept for the next height
constexpr uint64_t kEvidenceGossipTicks = 4;   // re-gossip known evidence every this many ticks
constexpr uint64_t kUagr = staking::kUagrPerPower;
constexpr uint64_t kAccountBalanceUagr = 1'000'000 * kUagr;
constexpr uint64_t kTxFeeUagr = 10;
constexpr uint32_t kClientAccounts = 4;        // plain accounts besides the joiner's operator
constexpr uint64_t kClientTxsPerHeightMax = 3;
constexpr uint64_t kJoinHeight = 2;            // the joiner stakes and creates its validator
// Governance: a client proposes a shorter propose timeout after this height;
// every stakeholder but the Byzantine votes yes once voting has started.
constexpr uint64_t kGovSubmitHeight = 3;
constexpr uint64_t kGovVotingBlocks = 6;
constexpr uint64_t kGovEffectiveHeight = kGovSubmitHeight + 1 + kGovVotingBlocks + 5;
constexpr uint64_t kGovTimeoutProposeMs = 2'000;
// Market and verification: two client accounts become providers (one
// honest, one that cheats on its first task in a way the seed picks),
// another posts a job; the providers commit stand-in training (a hash chain
// over the checkpoints, cheap enough for thousands of seeds), the drawn
// validators replay it (honest ones truly, Byzantine ones lazily) and
// aggregate finished rounds. Invariants: no honest provider is ever found
// fraudulent, no task is paid twice, and a running job never goes
// kJobStallHeightsMax heights without progress.
constexpr uint64_t kMarketProviderHeight = 2;
constexpr uint64_t kMarketJobHeight = 4;
constexpr uint64_t kJobStallHeightsMax = 16;

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
// Chain mode: committed blocks and their commits, read from the sender's
// BlockStore, in height order.
struct SyncBlocks {
  std::vector<std::pair<proto::Block, proto::Commit>> blocks;
};
// Chain mode: evidence of a double sign, gossiped so that whichever honest
// validator proposes next can include it.
struct EvidenceMessage { Evidence evidence; };
using Message = std::variant<Proposal, Vote, StatusMessage, std::shared_ptr<const Commit>,
                             std::shared_ptr<const SyncBlocks>, EvidenceMessage>;

// Chain mode: a proposal message carries its block; the simulated network
// keeps each body once, by hash, and a proposal stands for it.
struct Body {
  proto::Block block;
  bool honest_builder = false;
};

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

using EvidenceKey = std::pair<PublicKey, uint64_t>;  // validator, vote height

struct Node {
  // Identity: which key it signs with. Without chain mode it is also the
  // validator index (sets are re-weighted, never reordered); in chain mode
  // genesis validators are sorted by key, so it is their index at height 1.
  uint32_t key = 0;
  Behaviour behaviour = Behaviour::kHonest;
  uint32_t side = 0;  // which half gets which lie, for equivocators and twins
  // Survives crashes, less what was not synced.
  std::unique_ptr<FaultKvStore> store = std::make_unique<FaultKvStore>();
  std::unique_ptr<SafeSigner> signer;
  std::unique_ptr<Core> core;
  bool up = true;
  bool started = true;  // false for the joiner until the schedule names it
  uint32_t incarnation = 0;
  std::map<uint64_t, std::shared_ptr<const Commit>> commits;  // survives crashes
  // Chain mode: what a restart reopens from `store`, and what it forgets.
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<BlockStore> blocks;
  std::unique_ptr<SignatureCache> tx_signatures;
  std::unique_ptr<Chain> chain;
  std::vector<Tx> pending;  // the mempool: client transactions, in submission order
  std::vector<Proposal> future_proposals;  // for the height after the next
  std::map<EvidenceKey, Evidence> evidence_known;
  std::map<Hash256, bool> verdicts;  // ValidateBlock of proposals at the next height
  // Precommits for the last committed block that came after the decision,
  // for the next block's last commit (as the node keeps them).
  std::map<ValidatorIndex, Vote> late_precommits;
  uint64_t committed_height = 0;
  uint64_t height_started_us = 0;
  uint64_t ticks = 0;
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
  explicit Simulation(const SimOptions& options) : options_(options), rng_(options.seed) {
    // Chain mode verifies commits, transactions and VRF proofs with real keys.
    if (options_.ledger) options_.real_crypto = true;
  }
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
  bool Authentic(ValidatorSetSource& sets, const Message& message);
  Hash256 NewBlock(uint32_t id, uint64_t height, uint32_t round);
  Signature SignAs(uint32_t key, const SignDomain& domain, ByteSpan payload) const;
  bool AllHonestDone() const;
  std::string Describe() const;
  void CrashNode(uint32_t id);
  uint64_t Committed(const Node& node) const;
  bool VerifyOnce(const PublicKey& key, const SignDomain& domain, ByteSpan payload,
                  const Signature& signature);
  void ApplyParams(Node& node);

  // Chain mode.
  void SetupLedger();
  void PlanDowntime();
  void OpenChain(uint32_t id);
  uint64_t NowMs() const { return kGenesisTimeMs + now_ / kMs; }
  bool InWindow(const Node& node, uint64_t height) const;
  void BuildBlock(uint32_t id, uint64_t height, uint32_t round);
  void KeepLatePrecommit(uint32_t id, const Vote& vote);
  void ProcessProposal(uint32_t id, const Proposal& proposal);
  void ProcessFutureProposals(uint32_t id);
  void ServeSync(uint32_t id, uint32_t to, uint64_t height);
  void ApplySynced(uint32_t id, uint32_t from, const SyncBlocks& sync);
  void OnEvidence(uint32_t id, const Evidence& evidence, bool gossip);
  void GossipEvidence(uint32_t id);
  bool CommitBlock(uint32_t id, const proto::Block& block, const proto::Commit& commit,
                   std::vector<Tx>* decoded);
  void CheckCommit(uint32_t id, const proto::Block& block, const Chain::Executed& executed);
  void ObserveFirstCommit(uint32_t id, const proto::Block& block,
                          const Chain::Executed& executed);
  void ClientStep(uint32_t id, uint64_t height);
  void ClientGovernance(Node& reference, uint64_t height);
  void ClientMarket(Node& reference, uint64_t height);
  void ClientVerify(Node& reference, uint64_t height);
  void CheckMarket(Node& node, uint64_t height, const std::string& where);
  void CountVerification(const consensus::Event& e, uint64_t height);
  void Submit(uint32_t account, const Msg& msg);
  std::vector<Tx> Reap(Node& node);
  void PrunePending(Node& node);
  Hash256 ScheduleDigest(Node& node, uint64_t height);

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

  // Chain mode. Client accounts: [0, validators) operate the genesis
  // validators with their consensus keys; then kClientAccounts plain
  // accounts; then the joiner's operator.
  struct ClientAccount {
    SecretKey key;
    Address address;
    uint64_t nonce = 0;
    uint64_t staked_uagr = 0;  // by the client, so unstaking never cuts genesis stake
  };
  std::vector<ClientAccount> accounts_;
  LedgerGenesis ledger_genesis_;
  std::vector<Tx> client_txs_;  // every transaction submitted, in order
  std::map<Hash256, std::shared_ptr<const Body>> bodies_;
  uint32_t joiner_ = UINT32_MAX;    // node id of the validator created by a transaction
  uint32_t downtime_ = UINT32_MAX;  // node id of the validator that goes offline
  uint64_t downtime_from_height_ = 0;
  enum class Downtime : uint8_t { kPlanned, kDown, kBack } downtime_state_ = Downtime::kPlanned;
  bool unjail_sent_ = false;
  bool gov_votes_sent_ = false;
  // Verification in the simulation (ClientVerify): what each provider
  // published per task attempt, and what was already sent.
  struct SimWork {
    std::vector<Hash256> checkpoints;
    std::vector<uint32_t> losses;
    Hash256 delta_hash;
    bool withheld = false;
    bool cheat = false;
  };
  std::map<std::pair<std::string, uint32_t>, SimWork> works_;  // (task, attempt)
  std::set<std::string> verify_sent_;
  std::map<std::string, uint64_t> paid_tasks_;  // task -> task_passed events seen
  uint64_t job_progress_height_ = 0;
  bool cheated_ = false;
  uint64_t first_committed_ = 0;  // the highest height any honest node committed
  struct HeightRecord {
    Hash256 block, app_hash, results_hash, schedule;
  };
  std::map<uint64_t, HeightRecord> heights_;  // first honest record of each height
  // Validator -> the lowest vote height at which an honest node saw it
  // equivocate in time for a block to carry the evidence.
  std::map<PublicKey, uint64_t> equivocations_;
  std::set<PublicKey> tombstoned_;
  std::set<Hash256> verified_signatures_;  // (key, domain, payload, signature) digests
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

void Simulation::PlanLockTrap() {
  LockTrap trap;
  // In chain mode, before any set change the ledger can make (a jail takes a
  // window of 10 blocks, an epoch change 21).
  const uint64_t last =
      options_.ledger ? std::min<uint64_t>(options_.heights, 8) : options_.heights;
  trap.height = rng_.Range(1, std::max<uint64_t>(1, last));
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
    // Endpoints beyond the validators (chain mode's joiner) see none either.
    return to != t.x &&
           (to >= t.precommits_to.size() || !t.precommits_to[to].count(v->validator));
  }
  if (const auto* c = std::get_if<std::shared_ptr<const Commit>>(&message)) {
    return (*c)->proposal.height == t.height;
  }
  if (const auto* s = std::get_if<std::shared_ptr<const SyncBlocks>>(&message)) {
    for (const auto& [block, commit] : (*s)->blocks) {
      if (block.header().height() == t.height) return true;
    }
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
  AGORA_CHECK(node.up);  // crash windows never overlap (PlanFaults)
  node.up = false;
  node.delivered_votes.clear();  // what the core knew is gone with it
  node.core.reset();
  node.signer.reset();
  node.chain.reset();
  node.tx_signatures.reset();
  node.blocks.reset();
  node.ledger.reset();
  node.pending.clear();
  node.future_proposals.clear();
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
// Only signatures that verified are remembered.
bool Simulation::VerifyOnce(const PublicKey& key, const SignDomain& domain, ByteSpan payload,
                            const Signature& signature) {
  if (!options_.real_crypto) return verifier_->Verify(key, domain, payload, signature);
  Blake2b256Hasher h;
  h.Update(key.bytes);
  h.Update(SigningBytes(domain, payload));
  h.Update(signature.bytes);
  const Hash256 digest = h.Finish();
  if (verified_signatures_.count(digest)) return true;
  if (!verifier_->Verify(key, domain, payload, signature)) return false;
  verified_signatures_.insert(digest);
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

// ---- Chain mode -----------------------------------------------------------

void Simulation::OpenChain(uint32_t id) {
  Node& node = nodes_[id];
  auto fail = [&](const Status& s) {
    Violation("restart: node " + std::to_string(id) + " cannot reopen its chain: " + s.message());
    node.chain.reset();
  };
  auto ledger = Ledger::Open(node.store.get());
  if (!ledger.ok()) return fail(ledger.status());
  node.ledger = std::move(*ledger);
  if (Status s = node.ledger->Load(); !s.ok()) return fail(s);
  node.blocks = std::make_unique<BlockStore>(node.store.get());
  if (Status s = node.blocks->Load(); !s.ok()) return fail(s);
  node.tx_signatures = std::make_unique<SignatureCache>();
  node.chain = std::make_unique<Chain>(kChainId, kGenesisTimeMs, node.store.get(),
                                       node.blocks.get(), node.ledger.get(),
                                       node.tx_signatures.get());
  if (Status s = node.chain->Load(); !s.ok()) return fail(s);
  node.committed_height = node.blocks->height();
  // The mempool is gone; the client re-submits what is not yet committed.
  node.pending = client_txs_;
  PrunePending(node);
  node.future_proposals.clear();
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

namespace {

// Stand-in training for the simulator (the real one is verify::RunTask): a
// hash chain with the same shape. Replaying segment j from checkpoint j
// gives SimSegment(checkpoint j, j); its losses and witness state follow
// from the same start.
Hash256 SimHash(std::string_view what, const Hash256& a, uint64_t x, uint64_t y = 0) {
  Blake2b256Hasher h;
  h.Update(AsBytes(what));
  h.Update(a.bytes);
  Bytes b;
  PutU64BigEndian(b, x);
  PutU64BigEndian(b, y);
  h.Update(b);
  return h.Finish();
}
Hash256 SimSegment(const Hash256& start, uint32_t j) { return SimHash("sim-seg", start, j); }
Hash256 SimWitness(const Hash256& start, uint32_t j, uint32_t step) {
  return SimHash("sim-witness", start, j, step);
}
uint32_t SimLoss(const Hash256& start, uint32_t j, uint32_t i) {
  const Hash256 h = SimHash("sim-loss", start, j, i);
  return 0x40000000u | (uint32_t{h.bytes[0]} << 8 | h.bytes[1]);  // a float in [2, 2.03)
}
Hash256 SimDelta(const Hash256& last) { return SimHash("sim-delta", last, 0); }

std::string SimTaskName(const marketplace::TaskId& t) {
  return std::to_string(t.job) + "/" + std::to_string(t.round) + "/" + std::to_string(t.worker);
}

}  // namespace

void Simulation::ClientMarket(Node& reference, uint64_t height) {
  (void)reference;
  const uint32_t n = static_cast<uint32_t>(genesis_.size());
  const uint32_t provider = n + 1, client = n + 2, cheater = n + 3;
  if (height == kMarketProviderHeight) {
    accounts_[provider].staked_uagr += 20 * kUagr;
    Submit(provider, MsgStake{20 * kUagr});
    Submit(provider, MsgRegisterProvider{ProviderOffer{market::HardwareClass::kCpu, 100, 2, 1'000,
                                                       "http://127.0.0.1:9000"}});
    // Cheaper, so it gets a task first.
    accounts_[cheater].staked_uagr += 20 * kUagr;
    Submit(cheater, MsgStake{20 * kUagr});
    Submit(cheater, MsgRegisterProvider{ProviderOffer{market::HardwareClass::kCpu, 100, 1, 900,
                                                      "http://127.0.0.1:9001"}});
  }
  if (height == kMarketJobHeight) {
    market::JobSpec spec;
    spec.dataset_hash = Blake2b256(AsBytes("sim data"));
    spec.dataset_bytes = 100'000;
    spec.rounds = 2;
    spec.workers = 2;
    const uint64_t need =
        market::BudgetNeeded(market::TaskCount(spec), market::TaskWorkWu(spec), 2'000).value();
    Submit(client, MsgPostJob{spec, 2 * need, 2'000});
  }
}

// Providers commit their assigned tasks; drawn validators send verdicts and
// round results, from the reference node's committed state.
void Simulation::ClientVerify(Node& reference, uint64_t height) {
  StateReader& state = reference.ledger->committed();
  const uint32_t n = static_cast<uint32_t>(genesis_.size());
  const uint32_t provider = n + 1, cheater = n + 3;
  std::optional<marketplace::Job> job = marketplace::GetJob(state, 1);
  if (!job) return;
  const market::JobSpec& spec = job->spec;
  const uint32_t c = spec.checkpoint_interval, segments = spec.inner_steps / c;
  // Which account an address is, and whether it behaves.
  auto account_of = [&](const Address& a) -> std::optional<uint32_t> {
    for (uint32_t i = 0; i < accounts_.size(); ++i) {
      if (accounts_[i].address == a) return i;
    }
    return std::nullopt;
  };
  auto validator_node = [&](const Address& a) -> const Node* {
    std::optional<staking::ValidatorRecord> v = staking::GetValidator(state, a);
    if (!v) return nullptr;
    for (const Node& node : nodes_) {
      if (node.key < secrets_.size() && secrets_[node.key].public_key() == v->consensus_key) {
        return &node;
      }
    }
    return nullptr;
  };
  for (const auto& [id, task] : marketplace::TasksOf(state, 1, 64)) {
    const std::string name = SimTaskName(id);
    // 1. The provider commits what it trained.
    if (task.status == marketplace::TaskStatus::kAssigned && task.provider) {
      const std::optional<uint32_t> who = account_of(*task.provider);
      const std::string key = "commit " + name + " " + std::to_string(task.attempts);
      if (who && (*who == provider || *who == cheater) && verify_sent_.insert(key).second) {
        SimWork w;
        // Training starts from the state the round's record names.
        const std::optional<verification::RoundRecord> start =
            verification::GetRound(state, id.job, id.round);
        AGORA_CHECK(start && start->recorded);
        w.checkpoints.push_back(start->start_hashes.at(id.worker));
        for (uint32_t j = 0; j < segments; ++j) {
          for (uint32_t i = 0; i < c; ++i) w.losses.push_back(SimLoss(w.checkpoints[j], j, i));
          w.checkpoints.push_back(SimSegment(w.checkpoints[j], j));
        }
        w.delta_hash = SimDelta(w.checkpoints.back());
        if (*who == cheater && !cheated_) {
          cheated_ = true;
          w.cheat = true;
          result_.cheat_committed = true;
          Rng pick(options_.seed ^ 0x5eed'c0de'0000'0001ull);
          const uint64_t kind = pick.Below(4);
          const uint32_t faked = static_cast<uint32_t>(pick.Below(segments));
          if (kind == 0) {
            // Lazy: skips segment `faked` (a made-up end state), then goes on
            // honestly from there: only that segment fails a replay.
            result_.cheat_kind = "lazy";
            w.checkpoints[faked + 1] = SimHash("sim-fake", w.checkpoints[faked], faked);
            w.losses.resize(faked * c + c);
            for (uint32_t j = faked + 1; j < segments; ++j) {
              for (uint32_t i = 0; i < c; ++i) w.losses.push_back(SimLoss(w.checkpoints[j], j, i));
              w.checkpoints[j + 1] = SimSegment(w.checkpoints[j], j);
            }
            w.delta_hash = SimDelta(w.checkpoints.back());
          } else if (kind == 1) {
            result_.cheat_kind = "liar";  // better losses than it reached, every step
            for (uint32_t& l : w.losses) l -= 0x100;
          } else if (kind == 2) {
            result_.cheat_kind = "stale-delta";  // last round's delta, or any other
            w.delta_hash = SimHash("sim-stale", w.checkpoints.back(), 0);
          } else {
            result_.cheat_kind = "withholder";
            w.withheld = true;
          }
        }
        MsgCommitTask m{id.job,         id.round, id.worker, merkle::Root(w.checkpoints),
                        w.delta_hash,   w.losses, merkle::Prove(w.checkpoints, 0).siblings};
        works_[{name, task.attempts}] = std::move(w);
        Submit(*who, m);
      }
    }
    // 2. The drawn validators replay.
    if (task.status != marketplace::TaskStatus::kVerifying) continue;
    std::optional<verification::Commitment> commit = verification::GetCommitment(state, id);
    auto work_it = works_.find({name, task.attempts});
    if (!commit || work_it == works_.end()) continue;
    const SimWork& w = work_it->second;
    const std::vector<verification::Slot> slots = verification::GetSlots(state, id, commit->slots);
    for (uint32_t k = 0; k < slots.size(); ++k) {
      const verification::Slot& slot = slots[k];
      if (slot.state != verification::SlotState::kPending || !slot.assignee) continue;
      const std::string key = "verdict " + name + " " + std::to_string(task.attempts) + " " +
                              std::to_string(k) + " " + slot.assignee->ToString();
      const Node* node = validator_node(*slot.assignee);
      const std::optional<uint32_t> account = account_of(*slot.assignee);
      // A validator that is down does not answer: it is replaced.
      if (node == nullptr || !account || !node->up || !verify_sent_.insert(key).second) continue;
      MsgVerdict v;
      v.job_id = id.job;
      v.round = id.round;
      v.worker = id.worker;
      v.slot = k;
      verify::SegmentChoice choice{slot.segment, slot.witness_step};
      if (!slot.chosen) {
        const Bytes alpha = verification::SegmentVrfInput(id, commit->checkpoint_root, k);
        const VrfProof proof = VrfProve(secrets_[node->key], alpha);
        v.vrf_proof = proof;
        choice = verify::SegmentFromVrf(VrfProofToHash(proof).bytes, verification::TaskBytes(id),
                                        segments, c);
      }
      const bool lazy = node->behaviour != Behaviour::kHonest;
      if (w.withheld && !lazy) {
        v.outcome = VerdictOutcome::kUnavailable;
        Submit(*account, v);
        continue;
      }
      const uint32_t j = choice.segment;
      auto path = [&](uint64_t i) { return merkle::Prove(w.checkpoints, i).siblings; };
      v.start_hash = w.checkpoints[j];
      v.start_proof = path(j);
      v.committed_end = w.checkpoints[j + 1];
      v.end_proof = path(j + 1);
      v.final_hash = w.checkpoints[segments];
      v.final_proof = path(segments);
      if (lazy) {
        // Echoes the provider without replaying; the witness is a guess.
        v.replayed_end = v.committed_end;
        v.witness_hash = c > 1 ? SimHash("sim-guess", v.start_hash, j) : Hash256{};
        v.losses.assign(w.losses.begin() + j * c, w.losses.begin() + j * c + c);
        v.outcome = VerdictOutcome::kPass;
      } else {
        v.replayed_end = SimSegment(w.checkpoints[j], j);
        v.witness_hash = c > 1 ? SimWitness(w.checkpoints[j], j, choice.witness_step) : Hash256{};
        for (uint32_t i = 0; i < c; ++i) v.losses.push_back(SimLoss(w.checkpoints[j], j, i));
        const bool end_ok = v.replayed_end == v.committed_end;
        const bool losses_ok = std::equal(v.losses.begin(), v.losses.end(), w.losses.begin() + j * c);
        const bool delta_ok = SimDelta(w.checkpoints[segments]) == w.delta_hash;
        v.outcome = end_ok && losses_ok && delta_ok ? VerdictOutcome::kPass : VerdictOutcome::kFail;
        v.reason = !end_ok      ? FailReason::kEndState
                   : !losses_ok ? FailReason::kLosses
                   : !delta_ok  ? FailReason::kDelta
                                : FailReason::kNone;
      }
      if (v.vrf_proof && !v.witness_hash.IsZero()) {
        v.witness_hash = verification::WitnessCommitment(v.witness_hash, *slot.assignee);
      }
      Submit(*account, v);
    }
  }
  // 3. Aggregators: the weights at the start of each round (the first
  // result is a commitment), with checkpoint 0 of each of its tasks.
  for (const verification::RoundRecord& r : verification::RoundsOf(state, 1, 64)) {
    if (r.recorded || r.abandoned) continue;
    for (const Address& a : r.assignees) {
      const std::string key = "round " + std::to_string(r.round) + " " + a.ToString() + " " +
                              std::to_string(r.due_height);
      const Node* node = validator_node(a);
      const std::optional<uint32_t> account = account_of(a);
      if (node == nullptr || !account || !node->up || !verify_sent_.insert(key).second) continue;
      const bool honest = node->behaviour == Behaviour::kHonest;
      MsgRoundResult m;
      m.job_id = 1;
      m.round = r.round;
      m.params_hash = SimHash(honest ? "sim-weights" : "sim-junk", Blake2b256(AsBytes("job 1")),
                              r.round, honest ? 0 : node->key);
      m.validation_loss = 0x40000000u + r.round;
      if (r.round < spec.rounds) {
        for (uint32_t k = 0; k < spec.workers; ++k) {
          const std::string task = SimTaskName(marketplace::TaskId{1, r.round, k});
          m.start_hashes.push_back(SimHash("sim-start", Blake2b256(AsBytes(task)), r.round,
                                           honest ? 0 : node->key));
        }
      }
      if (r.results.empty()) {
        m.commitment = verification::RoundResultCommitment(
            verification::RoundResultDigest(m.params_hash, m.validation_loss, m.start_hashes), a);
      }
      Submit(*account, m);
    }
  }
  (void)height;
}

// Figures and the at-most-once payment invariant, from the events of the
// first honest commit of each height.
void Simulation::CountVerification(const consensus::Event& e, uint64_t height) {
  auto attr = [&](std::string_view name) -> std::string {
    for (const auto& [k, v] : e.attributes) {
      if (k == name) return v;
    }
    return "";
  };
  static const std::set<std::string> kProgress = {
      "task_assigned",   "task_committed",      "task_sampled",    "verdict",
      "task_passed",     "task_failed",         "validator_drawn", "task_missed",
      "round_recorded",  "round_record_opened", "round_result",    "aggregator_drawn"};
  if (kProgress.count(e.type) && (attr("job_id") == "1" || attr("task").rfind("1/", 0) == 0)) {
    job_progress_height_ = height;
  }
  const uint32_t n = static_cast<uint32_t>(genesis_.size());
  if (e.type == "task_passed") {
    ++result_.tasks_passed;
    if (++paid_tasks_[attr("task")] > 1) {
      Violation("market: task " + attr("task") + " was paid twice (height " +
                std::to_string(height) + ")");
    }
  } else if (e.type == "verdict") {
    ++result_.verdicts;
  } else if (e.type == "task_failed") {
    ++result_.frauds;
    if (attr("provider") == accounts_[n + 3].address.ToString()) result_.cheat_caught = true;
  } else if (e.type == "round_recorded") {
    ++result_.rounds_recorded;
  } else if (e.type == "verdict_outvoted" || e.type == "round_result_outvoted") {
    ++result_.outvoted;
  } else if (e.type == "job_ended" && attr("job_id") == "1") {
    result_.job_finished = attr("status") == "finished";
  }
}

// The market and verification invariants, on every honest node after every
// block.
void Simulation::CheckMarket(Node& node, uint64_t height, const std::string& where) {
  StateReader& state = node.ledger->committed();
  const uint32_t n = static_cast<uint32_t>(genesis_.size());
  std::optional<marketplace::Provider> honest =
      marketplace::GetProvider(state, accounts_[n + 1].address);
  if (honest && honest->tasks_failed != 0) {
    Violation("verification: the honest provider was found fraudulent" + where);
  }
  std::optional<marketplace::Job> job = marketplace::GetJob(state, 1);
  if (job && (job->status == marketplace::JobStatus::kOpen ||
              job->status == marketplace::JobStatus::kRunning) &&
      job_progress_height_ != 0 && height > job_progress_height_ + kJobStallHeightsMax) {
    Violation("market: job 1 made no progress for " + std::to_string(kJobStallHeightsMax) +
              " heights (last at " + std::to_string(job_progress_height_) + ")" + where);
  }
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
    if (node.future_proposals.size() < kFutureProposalsMax) {
      node.future_proposals.push_back(proposal);
    }
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
  std::vector<Proposal> pending = std::exchange(nodes_[id].future_proposals, {});
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
                       HeaderHash(block.header()));
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

bool Simulation::AllHonestDone() const {
  for (const Node& n : nodes_) {
    if (n.behaviour == Behaviour::kHonest && n.started && Committed(n) < options_.heights) {
      return false;
    }
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
    if (n.behaviour == Behaviour::kHonest && n.started) done = std::min(done, Committed(n));
  }
  result_.heights_decided = done == UINT64_MAX ? 0 : done;
  result_.simulated_us = now_;
  if (latency_count_ > 0 && options_.fixed_delay_us != 0) {
    result_.latency_delays_x1000 = latency_sum_us_ * 1000 / latency_count_ / options_.fixed_delay_us;
  }
  result_.summary = std::string(FaultMixName(options_.mix)) + " " + Describe() + " heights=" +
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
                       std::to_string(r.outvoted) + " rounds_recorded=" +
                       std::to_string(r.rounds_recorded) + " job_finished=" +
                       std::to_string(r.job_finished) + " cheat=" +
                       (r.cheat_kind.empty() ? "-" : r.cheat_kind) +
                       (r.cheat_committed ? (r.cheat_caught ? "/caught" : "/escaped") : "");
  }
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
  if (o.break_signer_buffered) cmd += " --break signer-buffered";
  if (o.ledger) cmd += " --ledger";
  return cmd + " --verbose";
}

}  // namespace agora::consensus::sim
