// The Simulation behind RunSimulation (consensus/sim/simulator.h), and the
// types it keeps: messages, events, nodes and the fault plan. Private to the
// simulator: only its own sources include it. The member functions live in
// simulator.cc (the event loop, the network, the consensus cores),
// sim_faults.cc (the fault plan and the lock trap), sim_chain.cc (chain mode:
// ledger, blocks, sync, evidence and the chain invariants), sim_clients.cc
// (the scripted client: transfers, staking, the joiner, governance) and
// sim_market.cc (market and verification drivers, stand-in training).
//
// Thread safety: a Simulation is single-threaded (see simulator.h).
#ifndef AGORA_CONSENSUS_SIM_SIMULATION_IMPL_H_
#define AGORA_CONSENSUS_SIM_SIMULATION_IMPL_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "common/hash.h"
#include "consensus/chain/block.h"
#include "consensus/chain/chain.h"
#include "consensus/core.h"
#include "consensus/future_proposals.h"
#include "consensus/ledger/ledger.h"
#include "consensus/ledger/staking.h"
#include "consensus/ledger/tx.h"
#include "consensus/sim/fault_store.h"
#include "consensus/sim/simulator.h"

namespace agora::consensus::sim {
namespace detail {

constexpr char kChainId[] = "agora-sim";
constexpr uint64_t kMs = 1000;  // simulated time is in microseconds

// Chain mode (docs/consensus.md, "Chain mode").
constexpr uint64_t kGenesisTimeMs = 1'600'000'000'000;
constexpr uint64_t kUagr = staking::kUagrPerPower;
constexpr uint32_t kClientAccounts = 4;        // plain accounts besides the joiner's operator
// Governance: a client proposes a shorter propose timeout after this height;
// every stakeholder but the Byzantine votes yes once voting has started.
constexpr uint64_t kGovSubmitHeight = 3;
constexpr uint64_t kGovVotingBlocks = 6;
constexpr uint64_t kGovEffectiveHeight = kGovSubmitHeight + 1 + kGovVotingBlocks + 5;
constexpr uint64_t kGovTimeoutProposeMs = 2'000;

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
  // A scripted crash with no restart: a crash fault, held to neither
  // liveness nor the count of heights decided.
  bool down_for_good = false;
  uint32_t incarnation = 0;
  std::map<uint64_t, std::shared_ptr<const Commit>> commits;  // survives crashes
  // Chain mode: what a restart reopens from `store`, and what it forgets.
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<BlockStore> blocks;
  std::unique_ptr<Chain> chain;
  std::vector<Tx> pending;  // the mempool: client transactions, in submission order
  // For the height after the next: one place per proposer, its lowest round.
  FutureProposals<Proposal> future_proposals{kFutureProposalPlacesMax};
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
    if (!options_.scenario.empty()) {
      script_ = FindScenario(options_.scenario);
      options_.mix = FaultMix::kClean;  // the script is the whole fault plan
      options_.random_stake = false;
    }
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
  std::string CheckScript() const;
  void PlanScript();
  bool ScriptWithholds(uint32_t to, const Message& message) const;
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
  void CheckProfileDraw(Node& node, const consensus::Event& e, uint64_t height);
  void Submit(uint32_t account, const Msg& msg);
  std::vector<Tx> Reap(Node& node);
  void PrunePending(Node& node);
  Hash256 ScheduleDigest(Node& node, uint64_t height);

  SimOptions options_;
  Rng rng_;
  FaultPlan plan_;
  std::optional<LockTrap> trap_;
  const SimScript* script_ = nullptr;  // a scripted scenario replaces PlanFaults' draws
  std::vector<Validator> genesis_;
  std::vector<SecretKey> secrets_;  // with real_crypto
  std::unique_ptr<SimValidators> validators_;
  std::unique_ptr<SignatureVerifier> verifier_;
  // The nodes' one cache of verified signatures (consensus messages through
  // VerifyOnce; in chain mode also transactions, commits and VRF proofs).
  // Verifying the same bytes gives the same answer on every node, so the
  // network verifies each once; ed25519 and the VRF would otherwise dominate
  // a run.
  SignatureCache signatures_;
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
  // The genesis validator that declares a replay profile job 1 does not
  // fit (parameters at most 1), when the network has four or more.
  std::optional<uint32_t> narrow_validator_;
  uint64_t first_committed_ = 0;  // the highest height any honest node committed
  struct HeightRecord {
    Hash256 block, app_hash, results_hash, schedule;
  };
  std::map<uint64_t, HeightRecord> heights_;  // first honest record of each height
  // Validator -> the lowest vote height at which an honest node saw it
  // equivocate in time for a block to carry the evidence.
  std::map<PublicKey, uint64_t> equivocations_;
  std::set<PublicKey> tombstoned_;
};

}  // namespace detail
}  // namespace agora::consensus::sim

#endif  // AGORA_CONSENSUS_SIM_SIMULATION_IMPL_H_
