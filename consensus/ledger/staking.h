// The staking module: bonded stake, unbonding, validators and the
// validator set of each epoch (PROTOCOL.md §4).
//
// State (docs/ledger.md):
//   staking/stake/<addr>                 -> bonded u64
//   staking/unbond/<addr><done_at u64>   -> amount u64 (slashable until done_at)
//   staking/unbondq/<done_at u64><addr>  -> "" (the queue EndBlock walks)
//   staking/val/<addr>                   -> validator record (below)
//   staking/valkey/<consensus key>       -> operator addr (keys are unique)
//   staking/rank/<~stake u64><key>       -> operator addr, for every validator
//                                           not tombstoned: the set's order
//   staking/set/<height u64>             -> the set in force from that height
//   staking/locked/<addr>                -> collateral locked by the market
//   staking/total_bonded, staking/total_unbonding -> u64
//
// Power is stake in whole AGR (stake / 10^6): supply <= 2^62 uagr keeps the
// total power below 2^42, far inside the consensus core's bound.
//
// Thread safety: free functions over the caller's buffer.
#ifndef AGORA_CONSENSUS_LEDGER_STAKING_H_
#define AGORA_CONSENSUS_LEDGER_STAKING_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/address.h"
#include "common/keys.h"
#include "consensus/ledger/application.h"
#include "consensus/ledger/params.h"
#include "consensus/ledger/state_buffer.h"
#include "consensus/ledger/tx.h"
#include "market/job_spec.h"

namespace agora::consensus::staking {

inline constexpr std::string_view kTotalBondedKey = "staking/total_bonded";
inline constexpr std::string_view kTotalUnbondingKey = "staking/total_unbonding";
inline constexpr uint64_t kUagrPerPower = 1'000'000;
// Bounds on the work of one EndBlock: unbondings paid out per block (the
// rest wait a block), rank entries read for a set (jailed validators are
// skipped; more than this many jailed ones with top stakes would shrink the
// set, at the price of that much stake).
inline constexpr size_t kUnbondingsPerBlockMax = 1'000;
inline constexpr size_t kCandidatesMax = 10'000;
// Unbonding entries one account may have waiting; more would make slashing
// it unbounded work.
inline constexpr size_t kUnbondingsPerAccountMax = 32;

struct ValidatorRecord {
  Address operator_address;
  PublicKey consensus_key;
  std::string moniker;
  uint64_t jailed_until = 0;  // 0: not jailed; else the first height it may unjail
  bool jailed = false;
  bool tombstoned = false;    // double-signed: never a validator again
  uint64_t created_height = 0;
};

uint64_t GetStake(StateReader& state, const Address& address);
// Changes bonded stake, keeping total_bonded exact.
void SetStake(StateBuffer& state, const Address& address, uint64_t stake_uagr);
uint64_t UnbondingOf(StateReader& state, const Address& address);
// Stake a provider has locked as collateral for its running tasks
// (staking/locked/<addr>): it cannot be unstaked.
uint64_t GetLocked(StateReader& state, const Address& address);
void SetLocked(StateBuffer& state, const Address& address, uint64_t locked_uagr);
// Burns `amount` of a provider's bonded stake (its collateral), keeping
// total_bonded exact. REQUIRES: amount <= its stake.
void BurnStake(StateBuffer& state, const Address& address, uint64_t amount);

std::optional<ValidatorRecord> GetValidator(StateReader& state, const Address& operator_address);
std::optional<ValidatorRecord> GetValidatorByKey(StateReader& state, const PublicKey& key);
void PutValidator(StateBuffer& state, const ValidatorRecord& record);
// Every validator record, in operator-address order (at most kCandidatesMax).
std::vector<ValidatorRecord> AllValidators(StateReader& state);

// Genesis: a validator bonded with `stake_uagr` taken from nowhere (the
// caller counts it into the supply).
void GenesisValidator(StateBuffer& state, const ValidatorRecord& record, uint64_t stake_uagr);

TxResult HandleStake(StateBuffer& state, const Address& sender, const MsgStake& msg);
// Where stake unstaked at `height` is paid back: unbonding_blocks later, or
// later still if a vote it backed could be proven a double sign after that
// (2 * epoch_blocks + evidence_age_blocks_max): it stays slashable for
// every vote it backed. Found in review (2026-12-03): with unbonding_blocks
// alone, a validator that unstaked everything right after a boundary kept
// power two more epochs and could double-sign where evidence arrived after
// its stake had left.
uint64_t UnbondingDoneAt(const Params& params, uint64_t height);
TxResult HandleUnstake(StateBuffer& state, const Params& params, uint64_t height,
                       const Address& sender, const MsgUnstake& msg);
TxResult HandleCreateValidator(StateBuffer& state, const Params& params, uint64_t height,
                               const Address& sender, const MsgCreateValidator& msg);

// What a validator can replay (MsgSetReplayProfile; docs/verify.md, "Replay
// profiles"), under staking/replay/<operator>. A validator without one
// replays every job. A profile sent at height H takes effect at
// H + verify.delay_blocks, so a proposer that knows its block's beacon
// cannot steer that block's draws by including its own profile.
struct ReplayProfile {
  uint8_t classes_mask = 0;  // bit c set: native jobs of HardwareClass c
  uint64_t params_max = 0;   // 0: no bound
  friend bool operator==(const ReplayProfile&, const ReplayProfile&) = default;
};
// The profile in force at `height` (nullopt: none).
std::optional<ReplayProfile> GetReplayProfile(StateReader& state, const Address& operator_address,
                                              uint64_t height);
// The profile sent last, if it is not in force at `height` yet, with the
// height it takes effect.
std::optional<std::pair<ReplayProfile, uint64_t>> PendingReplayProfile(
    StateReader& state, const Address& operator_address, uint64_t height);
// Whether a validator with `profile` (nullopt: none sent) can replay the
// segments, rounds and disputes of jobs with `spec`: exact-tier jobs on any
// class, native ones on theirs, and at most params_max parameters. Without
// a profile: exact jobs and native jobs of the cpu class (a validator runs
// on a CPU unless it says otherwise). A profile's params_max counts as at
// least `params_floor` (verify.replay_params_floor): governance decides the
// models every validator replays, and raising the floor brings narrower
// profiles back into those draws without a message from their validators.
bool CanReplay(const std::optional<ReplayProfile>& profile, const market::JobSpec& spec,
               uint64_t params_floor);
// Only the operator of a validator that is not tombstoned may send one.
TxResult HandleSetReplayProfile(StateBuffer& state, const Params& params, uint64_t height,
                                const Address& sender, const MsgSetReplayProfile& msg);

// The consensus set in force at `height` (the newest change at or below it),
// with the powers the chain counts votes in; empty before genesis.
std::vector<Validator> SetInForce(StateReader& state, uint64_t height);
// The validators a draw at `height` may pick: in the set in force at
// `height`, neither jailed nor tombstoned, with stake; in operator-address
// order.
std::vector<ValidatorRecord> DrawableValidators(StateReader& state, uint64_t height);

// Takes `ppm` of the operator's bonded and unbonding stake and burns it.
// Returns the amount burned.
uint64_t Slash(StateBuffer& state, const Address& operator_address, uint64_t ppm);

// End of block: pays out unbondings due at `height`; removes validators
// jailed or tombstoned by now from every set from height + 3 on; at an
// epoch boundary computes the set that takes effect one epoch later
// (height + epoch_blocks + 1) if it differs from the one in force then.
// Returns the schedule entries written.
std::vector<SetChange> EndBlock(StateBuffer& state, const Params& params, uint64_t height,
                                std::vector<Event>* events);

void PutSet(StateBuffer& state, const SetChange& change);
// Every stored set change, in height order: the whole history, which
// grows by an entry per epoch with a change; for the chain's start only.
std::vector<SetChange> Schedule(StateReader& state);
// The change in force at `height` (the newest at or below it) and every
// later one, in height order: a few reads whatever the history's length.
// Found in review (2026-12-03): every EndBlock read the whole history
// (RemoveJailed), as did every epoch boundary and every verification draw.
std::vector<SetChange> ScheduleFrom(StateReader& state, uint64_t height);

}  // namespace agora::consensus::staking

#endif  // AGORA_CONSENSUS_LEDGER_STAKING_H_
