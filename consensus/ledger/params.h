// The params module: every number the protocol's rules use, with bounds,
// kept in state ("params/<module>.<name>" -> u64) so governance can change
// them and a proof can show them (PROTOCOL.md §10, docs/ledger.md).
//
// The table below is the single list of parameters: name, default, bounds.
// Genesis may set any of them; a value outside its bounds, or an unknown
// name, is refused with the bounds in the message.
//
// Thread safety: values and free functions.
#ifndef AGORA_CONSENSUS_LEDGER_PARAMS_H_
#define AGORA_CONSENSUS_LEDGER_PARAMS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "consensus/ledger/state_buffer.h"

namespace agora::consensus {

struct Params {
  // consensus: read by the node at every height.
  uint64_t timeout_propose_ms = 1000;
  uint64_t timeout_prevote_ms = 500;
  uint64_t timeout_precommit_ms = 500;
  uint64_t timeout_delta_ms = 500;
  uint64_t block_bytes_max = 1u << 20;
  // bank
  uint64_t min_fee_uagr = 0;
  // staking
  uint64_t epoch_blocks = 100;
  uint64_t validators_max = 100;
  uint64_t unbonding_blocks = 1000;
  uint64_t validator_stake_min_uagr = 1'000'000;
  // slashing
  uint64_t slash_double_sign_ppm = 50'000;
  uint64_t slash_downtime_ppm = 10'000;
  uint64_t downtime_window_blocks = 100;
  uint64_t downtime_missed_ppm = 500'000;
  uint64_t downtime_jail_blocks = 600;
  uint64_t evidence_age_blocks_max = 1000;
  // gov
  uint64_t gov_deposit_min_uagr = 10'000'000;
  uint64_t gov_deposit_blocks = 200;
  uint64_t gov_voting_blocks = 200;
  uint64_t gov_quorum_ppm = 334'000;
  uint64_t gov_threshold_ppm = 500'000;
  uint64_t gov_veto_ppm = 334'000;
  // mempool: network-wide bounds; a node's config.toml may set lower ones.
  uint64_t mempool_txs_max = 20'000;
  uint64_t mempool_bytes_max = 64u << 20;
  // market
  uint64_t provider_stake_min_uagr = 10'000'000;
  uint64_t collateral_ppm = 2'000'000;
  uint64_t validator_fee_ppm = 50'000;
  uint64_t slash_late_ppm = 100'000;
  uint64_t reputation_start_ppm = 500'000;
  uint64_t reputation_min_ppm = 100'000;
  uint64_t reputation_alpha_ppm = 100'000;
  uint64_t deadline_slack_ppm = 500'000;
  uint64_t block_time_ms = 1'000;
  uint64_t deadline_min_blocks = 10;
  uint64_t assignments_per_block_max = 64;
  uint64_t task_attempts_max = 3;
  // A reassigned task waits this long for a provider that has not missed or
  // failed it; then those may take it again (docs/market.md).
  uint64_t exclusion_blocks = 100;
  uint64_t job_open_blocks_max = 1'000;
  // verify (PROTOCOL.md §7, docs/verify.md)
  uint64_t verify_delay_blocks = 2;
  uint64_t verify_verdict_blocks = 20;
  uint64_t verify_audit_ppm = 50'000;
  uint64_t verify_dispute_window_blocks = 5;
  uint64_t verify_draws_per_slot_max = 6;
  uint64_t slash_false_claim_ppm = 10'000;
  uint64_t verify_slash_missed_ppm = 1'000;
  uint64_t verify_aggregation_fee_ppm = 100'000;
  // Every validator replays models up to this many parameters, whatever its
  // replay profile says (0: no floor; docs/verify.md, "Replay profiles").
  uint64_t verify_replay_params_floor = 16'777'216;
  // dispute (PROTOCOL.md §8, docs/dispute.md)
  uint64_t dispute_move_blocks = 20;
  uint64_t dispute_referee_count = 3;
  uint64_t dispute_referee_draws_max = 2;
};

struct ParamSpec {
  std::string_view name;  // "<module>.<name>"
  uint64_t Params::*field;
  uint64_t min;
  uint64_t max;
  std::string_view what;  // one line for `agora query params`
};
std::span<const ParamSpec> ParamTable();

// InvalidArgument naming the parameter and its bounds for a value outside
// them or an unknown name; also checks the rules between parameters
// (evidence_age_blocks_max <= unbonding_blocks).
Status ValidateParam(std::string_view name, uint64_t value);
Status ValidateParams(const Params& params);
// Applies `overrides` (name -> value) to the defaults, checking each.
Result<Params> ParamsFromOverrides(const std::map<std::string, uint64_t>& overrides);

// The parameters with `changes` applied, each checked against its bounds
// and the result against the rules between parameters.
Result<Params> WithChanges(const Params& params,
                           std::span<const std::pair<std::string, uint64_t>> changes);
// The value of one parameter by name; nullopt if unknown.
std::optional<uint64_t> ParamValue(const Params& params, std::string_view name);

Params LoadParams(StateReader& state);
void StoreParams(const Params& params, StateBuffer& state);

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_LEDGER_PARAMS_H_
