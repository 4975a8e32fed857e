// A deterministic simulator for whole consensus networks.
//
// One seed fixes everything: validator count and stake, the network's delay,
// loss, duplication and partitions, crashes and restarts, and which
// validators are Byzantine and how. The simulator drives real consensus::Core
// instances with a simulated clock and checks the safety and liveness
// invariants after every event (docs/consensus.md). Nothing reads the wall
// clock or the OS random source, so a seed reproduces a run bit for bit.
//
// Thread safety: a Simulation is single-threaded; separate Simulations may
// run on separate threads.
#ifndef AGORA_CONSENSUS_SIM_SIMULATOR_H_
#define AGORA_CONSENSUS_SIM_SIMULATOR_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agora::consensus::sim {

enum class Behaviour : uint8_t {
  kHonest,
  kSilent,                // sends nothing
  kEquivocatingProposer,  // proposes two blocks, one to each half of the network
  kDoubleVoter,           // signs two conflicting votes each step
  kRandomVoter,           // votes for random blocks or nil
  kTwin,                  // two honest instances sharing one key (Twins)
};
std::string_view BehaviourName(Behaviour b);

// A named family of faults; a seed picks the details within it.
enum class FaultMix : uint8_t {
  kClean,       // no faults, random delays
  kLossy,       // loss, duplication, heavy jitter (reordering)
  kPartition,   // partitions that form and heal
  kCrash,       // honest validators crash and restart
  kByzantine,   // Byzantine validators below 1/3 of power
  kChaos,       // all of the above
  kOneThirdTwins,  // exactly 1/3 Byzantine twins plus partitions: safe, not live
  // A scheduled adversarial network, no Byzantine validators: at one height a
  // quorum locks on round 0's block and only one validator sees the commit;
  // round 1's proposer never saw the polka and proposes another block. Only
  // the lock keeps the others from deciding it (docs/consensus.md).
  kLockTrap,
};
inline constexpr int kFaultMixCount = 8;
std::string_view FaultMixName(FaultMix mix);
// The mixes under which safety and liveness must both hold (Byzantine power
// below 1/3), cycled by seed: what `agora-sim --mix all` and CI run.
FaultMix LiveMixForSeed(uint64_t seed);
bool ParseFaultMix(std::string_view name, FaultMix* out);

// A scripted scenario: a fault plan written out instead of drawn from the
// seed, so a regression keeps its shape whatever the planner draws and in
// whatever order it draws it (docs/consensus.md, "Scripted scenarios").
// Stake is equal, every message takes exactly `delay_us` (no loss, jitter
// or partitions), and nothing the script names depends on the seed.
struct SimScript {
  std::string name;
  std::string about;  // one line for `agora-sim --scenario list`
  uint32_t validators = 4;
  uint64_t delay_us = 10'000;
  // Validators that are not honest, by index.
  std::vector<std::pair<uint32_t, Behaviour>> behaviours;
  // Power failures of honest validators. Overlapping windows of one node
  // merge into one outage: a node that is down is never crashed again, and
  // a running node is never restarted (which would swap its core for one
  // that forgot what the old one saw). `restart_us == kNever`: down for
  // good, a crash fault, so the node is held to neither liveness nor the
  // height count.
  static constexpr uint64_t kNever = UINT64_MAX;
  struct Crash { uint32_t node; uint64_t at_us, restart_us; };
  std::vector<Crash> crashes;
  // Until `until_us` the network withholds, by content and whatever the
  // path (relays and re-sends included), the proposal (kProposal) or the
  // votes of one type signed by validator `from` at (height, round) from the
  // endpoints in `to`. A decided height's commit, sent to a lagging node,
  // is not filtered.
  enum class Kind : uint8_t { kProposal, kPrevote, kPrecommit };
  struct Withhold {
    uint64_t height;
    uint32_t round;
    Kind kind;
    uint32_t from;  // ignored for kProposal
    std::vector<uint32_t> to;
    uint64_t until_us;
  };
  std::vector<Withhold> withholds;
};
// The built-in scenarios (consensus/sim/scenarios.cc); nullptr when unknown.
const SimScript* FindScenario(std::string_view name);
std::vector<std::string> ScenarioNames();

struct SimOptions {
  uint64_t seed = 1;
  // A built-in scripted scenario by name (FindScenario); it replaces the
  // mix's drawn fault plan, validator count and stake.
  std::string scenario;
  FaultMix mix = FaultMix::kChaos;
  uint32_t validators = 0;  // 0: chosen by the seed within 4..validators_max
  uint32_t validators_max = 10;
  uint64_t heights = 6;     // every honest validator must decide this many
  bool random_stake = true;
  bool real_crypto = false;  // ed25519 instead of the fast keyed-hash stand-in
  // Fixed message delay with no jitter and no faults (for latency figures).
  uint64_t fixed_delay_us = 0;
  // Deliberate protocol bugs the simulator must catch.
  bool break_ignore_lock = false;
  bool break_quorum_at_least_two_thirds = false;
  // The signer writes its record with Durability::kBuffered, which a power
  // failure (FaultKvStore::Crash) can lose.
  bool break_signer_buffered = false;
  // A restarted validator restores only its lock, not the valid value and
  // polka behind it (CoreConfig::testonly_restore_lock_only).
  bool break_restore_lock_only = false;
  // Chain mode: every node runs a Ledger, a BlockStore and a Chain; blocks
  // are real (transactions, VRF, commits), validator sets come from the
  // ledger's staking schedule, and a seeded client stakes, unstakes, creates
  // a validator that then joins as a node, and unjails one that was jailed
  // for downtime. Implies ed25519 signatures.
  bool ledger = false;
  bool verbose = false;
};

// Chain mode: an equivocation that an honest node saw at height v must have
// tombstoned its validator on every honest node that has committed height
// v + kSlashDelayMaxHeights. It equals the simulation's
// slashing.evidence_age_blocks_max, the last height a block may carry it.
inline constexpr uint64_t kSlashDelayMaxHeights = 10;

struct SimResult {
  bool ok = true;
  std::string violation;  // empty when ok
  std::string summary;    // one line: validators, faults, heights, time
  uint64_t heights_decided = 0;   // by every honest validator
  uint64_t messages_sent = 0;
  uint64_t signatures_verified = 0;  // proposals and votes, checked on delivery
  // Of those, the distinct (key, message, signature) triples, each verified
  // once for the whole simulated network (real_crypto only; 0 otherwise).
  uint64_t distinct_signatures = 0;
  uint64_t events = 0;
  uint64_t simulated_us = 0;
  uint64_t outages = 0;  // crashes carried out (overlapping scripted windows count once)
  // Mean of (decision time - start of height) / message delay over heights,
  // measured only with fixed_delay_us.
  uint64_t latency_delays_x1000 = 0;
  // Chain mode, as the first honest node to commit each height saw it.
  uint64_t validator_joins = 0;   // validators created by a transaction that signed a commit
  uint64_t downtime_jails = 0;    // validators jailed for downtime
  uint64_t unjails = 0;           // successful Unjail transactions
  uint64_t tombstones = 0;        // validators tombstoned for double signing
  uint64_t slash_delay_max_heights = 0;  // equivocation height -> tombstone height, the most
  uint64_t set_changes = 0;       // validator-set changes written to the schedule
  uint64_t txs_committed = 0;     // client transactions committed with code kOk
  uint64_t blocks_synced = 0;     // blocks applied by block sync rather than by deciding
  uint64_t writes_lost = 0;       // buffered key writes lost to crashes
  // Governance: the scripted proposal (lower timeout_propose_ms) applied,
  // and the height at which it took effect on every honest node (0: not
  // applied within the run).
  uint64_t proposals_applied = 0;
  uint64_t gov_applied_height = 0;
  // Market: assignments made and deadlines missed (tasks reassigned).
  uint64_t tasks_assigned = 0;
  uint64_t tasks_missed = 0;
  // Verification: tasks paid, verdicts recorded, fraud found, rounds
  // recorded, and the cheating provider's one cheat (its kind, whether it
  // was committed and whether it was caught).
  uint64_t tasks_passed = 0;
  uint64_t verdicts = 0;
  uint64_t frauds = 0;
  uint64_t rounds_recorded = 0;
  uint64_t outvoted = 0;          // verdicts or round results outvoted and slashed
  uint64_t claims = 0;            // "unavailable" verdicts on slots
  uint64_t claims_refuted = 0;    // of those, refuted by two agreeing passes (fined)
  bool job_finished = false;
  // Replay profiles: draws of the validator whose profile does not fit the
  // job (allowed only while fewer than the draw's minimum fit).
  uint64_t narrow_draws = 0;
  bool narrow_in_force = false;  // such a profile was in force while job 1 ran
  std::string cheat_kind;         // lazy, liar, stale-delta or withholder
  bool cheat_committed = false;
  bool cheat_caught = false;
  // A Byzantine (lazy) validator answered one of the cheat's slots: it
  // passes without replaying, so the cheat can escape it unless an audit
  // or another slot's honest replay follows.
  bool cheat_met_lazy = false;
};

SimResult RunSimulation(const SimOptions& options);

// The command line that reproduces a run with these options.
std::string ReproduceCommand(const SimOptions& options);

}  // namespace agora::consensus::sim

#endif  // AGORA_CONSENSUS_SIM_SIMULATOR_H_
