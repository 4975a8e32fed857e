#include "consensus/ledger/params.h"

namespace agora::consensus {
namespace {

constexpr uint64_t kMillion = 1'000'000;

constexpr ParamSpec kParams[] = {
    {"consensus.timeout_propose_ms", &Params::timeout_propose_ms, 50, 60'000,
     "how long a round waits for a proposal"},
    {"consensus.timeout_prevote_ms", &Params::timeout_prevote_ms, 50, 60'000,
     "how long a round waits after 2/3 prevotes for anything"},
    {"consensus.timeout_precommit_ms", &Params::timeout_precommit_ms, 50, 60'000,
     "how long a round waits after 2/3 precommits for anything"},
    {"consensus.timeout_delta_ms", &Params::timeout_delta_ms, 0, 60'000,
     "added to each timeout per round"},
    {"consensus.block_bytes_max", &Params::block_bytes_max, 64u << 10, 8u << 20,
     "largest block a node proposes or accepts"},
    {"bank.min_fee_uagr", &Params::min_fee_uagr, 0, kMillion * kMillion,
     "smallest fee a transaction may pay"},
    {"staking.epoch_blocks", &Params::epoch_blocks, 10, 100'000,
     "blocks per epoch; the validator set changes at epoch boundaries"},
    {"staking.validators_max", &Params::validators_max, 4, 1'000,
     "size of the validator set"},
    {"staking.unbonding_blocks", &Params::unbonding_blocks, 10, 10'000'000,
     "blocks unstaked funds wait, slashable, before they return"},
    {"staking.validator_stake_min_uagr", &Params::validator_stake_min_uagr, kMillion,
     uint64_t{1} << 62, "stake a validator needs (at least 1 AGR: power is whole AGR)"},
    {"slashing.slash_double_sign_ppm", &Params::slash_double_sign_ppm, 0, kMillion,
     "share of stake burned for a double sign"},
    {"slashing.slash_downtime_ppm", &Params::slash_downtime_ppm, 0, kMillion,
     "share of stake burned for downtime"},
    {"slashing.downtime_window_blocks", &Params::downtime_window_blocks, 10, 100'000,
     "blocks over which missed signatures are counted"},
    // Byzantine proposers (under 1/3) may leave anyone's signature out of
    // their own blocks: the bound stays clear of that.
    {"slashing.downtime_missed_ppm", &Params::downtime_missed_ppm, 400'000, kMillion - 1,
     "missed share of the window above which a validator is jailed"},
    {"slashing.downtime_jail_blocks", &Params::downtime_jail_blocks, 1, 10'000'000,
     "blocks a validator jailed for downtime waits before it may unjail"},
    // The chain keeps the validator sets of at least 1,024 heights back.
    {"slashing.evidence_age_blocks_max", &Params::evidence_age_blocks_max, 1, 1'000,
     "oldest double sign (in blocks) a block may still carry"},
    {"gov.deposit_min_uagr", &Params::gov_deposit_min_uagr, 1, uint64_t{1} << 62,
     "deposit that moves a proposal into voting"},
    {"gov.deposit_blocks", &Params::gov_deposit_blocks, 1, 1'000'000,
     "blocks a proposal may wait for its deposit"},
    {"gov.voting_blocks", &Params::gov_voting_blocks, 1, 1'000'000,
     "blocks of voting; the tally runs at the end of the last one"},
    // Governance must stay able to pass something and hard to capture:
    // quorum and veto no lower than 10%, threshold a majority. And no
    // setting may lock it for good (the proposal that would undo it could
    // never pass): quorum at most half of the bonded stake, since stake that
    // never votes (providers, lost keys, a tombstoned validator's remains)
    // would otherwise block every proposal; threshold at most 2/3, or one
    // "no" with a little stake would. (Until 2026-12-03 both went to 100%.)
    {"gov.quorum_ppm", &Params::gov_quorum_ppm, 100'000, 500'000,
     "share of all bonded stake that must vote (abstain counts)"},
    {"gov.threshold_ppm", &Params::gov_threshold_ppm, 500'000, 666'666,
     "share of yes among yes/no/veto a proposal must exceed"},
    {"gov.veto_ppm", &Params::gov_veto_ppm, 100'000, kMillion,
     "share of veto among all votes at which a proposal is vetoed"},
    {"mempool.txs_max", &Params::mempool_txs_max, 100, 1'000'000,
     "transactions a node's mempool holds at most"},
    {"mempool.bytes_max", &Params::mempool_bytes_max, 1u << 20, uint64_t{4} << 30,
     "bytes a node's mempool holds at most"},
    {"market.provider_stake_min_uagr", &Params::provider_stake_min_uagr, 1, uint64_t{1} << 62,
     "bonded stake a provider needs to register and to be assigned tasks"},
    {"market.collateral_ppm", &Params::collateral_ppm, kMillion, 10 * kMillion,
     "stake a provider locks per task, as a share of the task's price"},
    {"market.validator_fee_ppm", &Params::validator_fee_ppm, 0, 500'000,
     "share of a passed task's price kept for the validators that checked it"},
    {"market.slash_late_ppm", &Params::slash_late_ppm, 0, kMillion,
     "share of the collateral burned when a task misses its deadline"},
    {"market.reputation_start_ppm", &Params::reputation_start_ppm, 0, kMillion,
     "reputation of a new provider"},
    {"market.reputation_min_ppm", &Params::reputation_min_ppm, 0, kMillion,
     "reputation below which a provider gets no new tasks"},
    {"market.reputation_alpha_ppm", &Params::reputation_alpha_ppm, 1, kMillion,
     "how far one outcome moves reputation toward 1 (pass) or 0 (late)"},
    {"market.deadline_slack_ppm", &Params::deadline_slack_ppm, 0, 10 * kMillion,
     "time a task gets beyond work / declared speed"},
    {"market.block_time_ms", &Params::block_time_ms, 50, 600'000,
     "expected time between blocks, to turn seconds of work into blocks"},
    {"market.deadline_min_blocks", &Params::deadline_min_blocks, 1, 1'000'000,
     "blocks every task gets at least"},
    {"market.assignments_per_block_max", &Params::assignments_per_block_max, 1, 10'000,
     "tasks the scheduler assigns per block at most"},
    {"market.task_attempts_max", &Params::task_attempts_max, 1, 100,
     "assignments a task may have; after that many misses or failures the job fails"},
    {"market.exclusion_blocks", &Params::exclusion_blocks, 0, 1'000'000,
     "blocks a reassigned task waits for a provider that has not missed or failed it"},
    {"market.job_open_blocks_max", &Params::job_open_blocks_max, 10, 10'000'000,
     "blocks a job may wait for its first assignment before it is refunded"},
    {"verify.delay_blocks", &Params::verify_delay_blocks, 1, 1'000,
     "blocks between a task's commit and the sampling of its validators"},
    {"verify.verdict_blocks", &Params::verify_verdict_blocks, 1, 100'000,
     "blocks a sampled validator has for its verdict or round result before another is drawn"},
    {"verify.audit_ppm", &Params::verify_audit_ppm, 0, kMillion,
     "chance that a passed segment is replayed again by a second validator"},
    {"verify.dispute_window_blocks", &Params::verify_dispute_window_blocks, 0, 100'000,
     "blocks between a task's last passed segment and its payment"},
    {"verify.draws_per_slot_max", &Params::verify_draws_per_slot_max, 2, 32,
     "verdicts one sampled segment may have at most (first, audit, confirmations); "
     "while an \"unavailable\" claim stands, draws go on past it"},
    {"verify.slash_false_claim_ppm", &Params::slash_false_claim_ppm, 0, kMillion,
     "part of its stake a validator loses when its verdict is outvoted"},
    {"verify.slash_missed_ppm", &Params::verify_slash_missed_ppm, 0, kMillion,
     "part of its stake a drawn validator loses when it misses its verdict's deadline, or when "
     "its claim that a blob is unavailable is refuted (two passes agree, or the round is recorded)"},
    {"verify.aggregation_fee_ppm", &Params::verify_aggregation_fee_ppm, 0, kMillion,
     "part of each task's validator fee that goes to the validators who record its round's "
     "aggregation"},
    {"verify.replay_params_floor", &Params::verify_replay_params_floor, 0, uint64_t{1} << 40,
     "parameters of the largest model every validator replays: a replay profile takes at least "
     "this (0: no floor)"},
    {"dispute.move_blocks", &Params::dispute_move_blocks, 1, 100'000,
     "blocks a party of a dispute has for its move, and referees for their votes and again "
     "for their reveals; missing loses"},
    {"dispute.referee_count", &Params::dispute_referee_count, 1, 31,
     "validators drawn to recompute a dispute's operator, step, losses or delta; a majority "
     "decides"},
    {"dispute.referee_draws_max", &Params::dispute_referee_draws_max, 1, 10,
     "sets of referees drawn before a dispute without a majority ends undecided"},
};

std::string Key(std::string_view name) { return "params/" + std::string(name); }

}  // namespace

std::span<const ParamSpec> ParamTable() { return kParams; }

Status ValidateParam(std::string_view name, uint64_t value) {
  for (const ParamSpec& p : kParams) {
    if (p.name != name) continue;
    if (value < p.min || value > p.max) {
      return Status::InvalidArgument("parameter " + std::string(name) + " = " +
                                     std::to_string(value) + " is outside its bounds [" +
                                     std::to_string(p.min) + ", " + std::to_string(p.max) + "]");
    }
    return Status::Ok();
  }
  return Status::InvalidArgument("unknown parameter '" + std::string(name) +
                                 "'; `agora query params` lists them");
}

Status ValidateParams(const Params& params) {
  for (const ParamSpec& p : kParams) {
    AGORA_RETURN_IF_ERROR(ValidateParam(p.name, params.*p.field));
  }
  if (params.evidence_age_blocks_max > params.unbonding_blocks) {
    // Evidence older than the unbonding time could name stake that has
    // already left and can no longer be slashed.
    return Status::InvalidArgument(
        "slashing.evidence_age_blocks_max (" + std::to_string(params.evidence_age_blocks_max) +
        ") must not exceed staking.unbonding_blocks (" +
        std::to_string(params.unbonding_blocks) + ")");
  }
  if (params.unbonding_blocks <= 2 * params.epoch_blocks) {
    // A set is computed at an epoch boundary and holds for the next epoch:
    // stake unstaked right after a boundary may hold power for two more
    // epochs, and must stay slashable for all of that time.
    return Status::InvalidArgument(
        "staking.unbonding_blocks (" + std::to_string(params.unbonding_blocks) +
        ") must be more than twice staking.epoch_blocks (" +
        std::to_string(params.epoch_blocks) + ")");
  }
  // The last commit carries up to one signature (about 70 bytes, 100 with
  // room) per validator; it must leave room for transactions.
  constexpr uint64_t kCommitBytesPerValidator = 100;
  constexpr uint64_t kTxRoomMin = 64u << 10;
  if (params.block_bytes_max < kTxRoomMin + kCommitBytesPerValidator * params.validators_max) {
    return Status::InvalidArgument(
        "consensus.block_bytes_max (" + std::to_string(params.block_bytes_max) +
        ") must be at least 64 KiB + 100 bytes per staking.validators_max (" +
        std::to_string(params.validators_max) + ")");
  }
  if (params.reputation_min_ppm > params.reputation_start_ppm) {
    // New providers would never be assigned anything.
    return Status::InvalidArgument("market.reputation_min_ppm (" +
                                   std::to_string(params.reputation_min_ppm) +
                                   ") must not exceed market.reputation_start_ppm (" +
                                   std::to_string(params.reputation_start_ppm) + ")");
  }
  return Status::Ok();
}

Result<Params> ParamsFromOverrides(const std::map<std::string, uint64_t>& overrides) {
  Params params;
  for (const auto& [name, value] : overrides) {
    AGORA_RETURN_IF_ERROR(ValidateParam(name, value));
    for (const ParamSpec& p : kParams) {
      if (p.name == name) params.*p.field = value;
    }
  }
  AGORA_RETURN_IF_ERROR(ValidateParams(params));
  return params;
}

Result<Params> WithChanges(const Params& params,
                           std::span<const std::pair<std::string, uint64_t>> changes) {
  Params out = params;
  for (const auto& [name, value] : changes) {
    AGORA_RETURN_IF_ERROR(ValidateParam(name, value));
    for (const ParamSpec& p : kParams) {
      if (p.name == name) out.*p.field = value;
    }
  }
  AGORA_RETURN_IF_ERROR(ValidateParams(out));
  return out;
}

std::optional<uint64_t> ParamValue(const Params& params, std::string_view name) {
  for (const ParamSpec& p : kParams) {
    if (p.name == name) return params.*p.field;
  }
  return std::nullopt;
}

Params LoadParams(StateReader& state) {
  Params params;
  for (const ParamSpec& p : kParams) params.*p.field = state.GetU64(Key(p.name));
  return params;
}

void StoreParams(const Params& params, StateBuffer& state) {
  for (const ParamSpec& p : kParams) state.SetU64(Key(p.name), params.*p.field);
}

}  // namespace agora::consensus
