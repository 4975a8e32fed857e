#include "consensus/ledger/ledger.h"

#include <set>

#include "common/check.h"
#include "consensus/ledger/bank.h"
#include "consensus/ledger/dispute.h"
#include "consensus/ledger/gov.h"
#include "consensus/ledger/marketplace.h"
#include "consensus/ledger/slashing.h"
#include "consensus/ledger/staking.h"
#include "consensus/ledger/verification.h"

namespace agora::consensus {
namespace {

constexpr std::string_view kHeightKey = "ledger/height";
constexpr std::string_view kBeaconKey = "beacon/value";

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
// C++20 deduces this itself; clang 14 (the fuzz preset) still needs it.
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

std::string_view TxCodeName(TxCode code) {
  switch (code) {
    case TxCode::kOk: return "ok";
    case TxCode::kBadNonce: return "bad_nonce";
    case TxCode::kInsufficientFunds: return "insufficient_funds";
    case TxCode::kFeeTooLow: return "fee_too_low";
    case TxCode::kBadSignature: return "bad_signature";
    case TxCode::kInvalidMessage: return "invalid_message";
    case TxCode::kNotValidator: return "not_validator";
    case TxCode::kJailed: return "jailed";
    case TxCode::kStakeTooLow: return "stake_too_low";
    case TxCode::kAlreadyExists: return "already_exists";
    case TxCode::kOverflow: return "overflow";
    case TxCode::kNotFound: return "not_found";
    case TxCode::kWrongPhase: return "wrong_phase";
    case TxCode::kNoStake: return "no_stake";
    case TxCode::kLimitReached: return "limit_reached";
    case TxCode::kNotAssigned: return "not_assigned";
    case TxCode::kBadProof: return "bad_proof";
  }
  return "unknown";
}

Hash256 ResultsHash(const std::vector<TxResult>& results, const std::vector<Event>& block_events) {
  // Every variable-length field is length-prefixed, so no two different
  // result lists hash the same bytes.
  Blake2b256Hasher h;
  h.Update(AsBytes("agora-results-v1"));
  auto put_u64 = [&h](uint64_t v) {
    Bytes b;
    PutU64BigEndian(b, v);
    h.Update(b);
  };
  auto put_str = [&](std::string_view s) {
    put_u64(s.size());
    h.Update(AsBytes(s));
  };
  auto put_events = [&](const std::vector<Event>& events) {
    put_u64(events.size());
    for (const Event& e : events) {
      put_str(e.type);
      put_u64(e.attributes.size());
      for (const auto& [k, v] : e.attributes) {
        put_str(k);
        put_str(v);
      }
    }
  };
  put_u64(results.size());
  for (const TxResult& r : results) {
    h.Update(r.hash.bytes);
    put_u64(static_cast<uint32_t>(r.code));
    put_events(r.events);
  }
  put_events(block_events);
  return h.Finish();
}

Ledger::Ledger(KvStore* store, std::unique_ptr<StateTree> tree)
    : store_(store), tree_(std::move(tree)), committed_(store, tree_.get()) {}

Result<std::unique_ptr<Ledger>> Ledger::Open(KvStore* store, StateTree::Options tree_options) {
  AGORA_ASSIGN_OR_RETURN(std::unique_ptr<StateTree> tree, StateTree::Open(store, tree_options));
  return std::unique_ptr<Ledger>(new Ledger(store, std::move(tree)));
}

Status Ledger::InitGenesis(const LedgerGenesis& genesis, WriteBatch* batch) {
  if (tree_->version()) return Status::FailedPrecondition("the ledger already has state");
  AGORA_RETURN_IF_ERROR(ValidateParams(genesis.params));
  if (genesis.validators.empty()) {
    return Status::InvalidArgument("genesis needs at least one validator");
  }
  if (genesis.validators.size() > genesis.params.validators_max) {
    return Status::InvalidArgument(
        "genesis lists " + std::to_string(genesis.validators.size()) +
        " validators, above staking.validators_max (" +
        std::to_string(genesis.params.validators_max) + ")");
  }
  StateBuffer state(&committed_);
  StoreParams(genesis.params, state);
  // Supply is summed with an explicit bound: 2^62 in all.
  uint64_t supply = 0;
  auto add_supply = [&supply](uint64_t amount, const std::string& who) -> Status {
    if (amount > kAmountUagrMax || supply > kAmountUagrMax - amount) {
      return Status::InvalidArgument("genesis supply passes 2^62 uagr at " + who);
    }
    supply += amount;
    return Status::Ok();
  };
  std::set<Address> seen;
  for (const GenesisAccount& g : genesis.accounts) {
    if (!seen.insert(g.address).second) {
      return Status::InvalidArgument("genesis lists " + g.address.ToString() + " twice");
    }
    AGORA_RETURN_IF_ERROR(add_supply(g.balance_uagr, g.address.ToString()));
    if (g.balance_uagr > 0) bank::SetAccount(state, g.address, {g.balance_uagr, 0});
  }
  SetChange first{1, {}};
  std::set<PublicKey> keys;
  std::set<Address> operators;
  for (const GenesisStake& v : genesis.validators) {
    if (!keys.insert(v.consensus_key).second || !operators.insert(v.operator_address).second) {
      return Status::InvalidArgument("genesis validator " + v.consensus_key.ToHex() +
                                     ": key or operator listed twice");
    }
    if (v.stake_uagr < staking::kUagrPerPower ||
        v.stake_uagr < genesis.params.validator_stake_min_uagr) {
      return Status::InvalidArgument(
          "genesis validator " + v.consensus_key.ToHex() + ": stake " +
          std::to_string(v.stake_uagr) + " uagr is below staking.validator_stake_min_uagr (" +
          std::to_string(std::max(genesis.params.validator_stake_min_uagr,
                                  staking::kUagrPerPower)) +
          "); it would leave the set at the first epoch");
    }
    AGORA_RETURN_IF_ERROR(add_supply(v.stake_uagr, v.consensus_key.ToHex()));
    staking::ValidatorRecord record;
    record.operator_address = v.operator_address;
    record.consensus_key = v.consensus_key;
    record.moniker = v.moniker.empty() ? "genesis" : v.moniker.substr(0, kMonikerBytesMax);
    staking::GenesisValidator(state, record, v.stake_uagr);
    first.validators.push_back({v.consensus_key, v.stake_uagr / staking::kUagrPerPower, 0});
  }
  staking::PutSet(state, first);
  state.SetU64(bank::kSupplyKey, supply);
  state.SetU64(bank::kBurnedKey, 0);
  Blake2b256Hasher beacon;
  beacon.Update(AsBytes("agora-beacon-v1"));
  beacon.Update(genesis.beacon_seed.bytes);
  state.Set(kBeaconKey, beacon.Finish().bytes);
  state.SetU64(kHeightKey, 0);
  const Totals totals = ReadTotals(state);
  AGORA_CHECK(totals.balances + totals.bonded + totals.unbonding == totals.supply);
  AGORA_ASSIGN_OR_RETURN(Hash256 root, tree_->Stage(0, state.changes(), batch));
  (void)root;
  staged_ = true;
  return Status::Ok();
}

Status Ledger::Load() {
  if (!tree_->version()) {
    return Status::Corruption("the store has no ledger state; move the data away and restart");
  }
  // A store written by an older version lacks newer parameters (they read
  // as 0, outside their bounds): refuse it rather than run with them.
  if (Status s = ValidateParams(LoadParams(committed_)); !s.ok()) {
    return Status::FailedPrecondition(
        "the ledger state was written by an older version (" + s.message() +
        "); start a new chain or move the data away");
  }
  return Status::Ok();
}

AccountState Ledger::Account(const Address& address) {
  return bank::GetAccount(committed_, address);
}

Result<TxCheck> Ledger::CheckTx(const Tx& tx) {
  const AccountState sender = bank::GetAccount(committed_, tx.sender);
  // On every admission: read the one parameter, not the whole table.
  const uint64_t min_fee = committed_.GetU64("params/bank.min_fee_uagr");
  if (tx.nonce < sender.nonce) {
    return Status::InvalidArgument("nonce " + std::to_string(tx.nonce) + " already used; next is " +
                                   std::to_string(sender.nonce));
  }
  if (tx.fee_uagr < min_fee) {
    return Status::InvalidArgument("fee " + std::to_string(tx.fee_uagr) +
                                   " uagr is below the minimum of " + std::to_string(min_fee));
  }
  // Both are at most 2^62: the sum cannot overflow.
  const uint64_t debit = MsgDebitMax(tx.msg) + tx.fee_uagr;
  if (debit > sender.balance_uagr) {
    return Status::FailedPrecondition("insufficient funds: balance " +
                                      std::to_string(sender.balance_uagr) + " uagr, need " +
                                      std::to_string(debit));
  }
  return TxCheck{tx.sender, tx.nonce, tx.fee_uagr, debit};
}

Params Ledger::CurrentParams() {
  const Hash256 root = tree_->root();
  if (!committed_params_ || committed_params_->first != root) {
    committed_params_.emplace(root, LoadParams(committed_));
  }
  return committed_params_->second;
}

void Ledger::BeginBlock(const BlockContext& ctx) {
  AGORA_CHECK(!block_ && !staged_);
  AGORA_CHECK(ctx.height == committed_.GetU64(kHeightKey) + 1);
  ctx_ = ctx;
  block_.emplace(&committed_);
  params_ = CurrentParams();  // the block has changed nothing yet
  block_->SetU64(kHeightKey, ctx.height);
  block_->Set(kBeaconKey, ctx.beacon.bytes);
  block_events_.clear();
  // Fees go to the proposer's operator (who staked), not to the address of
  // its consensus key, which only the node's key could spend.
  std::optional<staking::ValidatorRecord> proposer =
      staking::GetValidatorByKey(*block_, ctx.proposer_key);
  fee_recipient_ = proposer ? proposer->operator_address : ctx.proposer;
  slashing::BeginBlock(*block_, params_, ctx_, &block_events_);
}

TxResult Ledger::Dispatch(StateBuffer& state, const Tx& tx) {
  return std::visit(
      Overloaded{
          [&](const MsgTransfer& m) { return bank::HandleTransfer(state, tx.sender, m); },
          [&](const MsgStake& m) { return staking::HandleStake(state, tx.sender, m); },
          [&](const MsgUnstake& m) {
            return staking::HandleUnstake(state, params_, ctx_.height, tx.sender, m);
          },
          [&](const MsgCreateValidator& m) {
            return staking::HandleCreateValidator(state, params_, ctx_.height, tx.sender, m);
          },
          [&](const MsgUnjail&) { return slashing::HandleUnjail(state, ctx_.height, tx.sender); },
          [&](const MsgSubmitProposal& m) {
            return gov::HandleSubmitProposal(state, params_, ctx_.height, tx.sender, m);
          },
          [&](const MsgDeposit& m) {
            return gov::HandleDeposit(state, params_, ctx_.height, tx.sender, m);
          },
          [&](const MsgVote& m) { return gov::HandleVote(state, ctx_.height, tx.sender, m); },
          [&](const MsgRegisterProvider& m) {
            return marketplace::HandleRegisterProvider(state, params_, ctx_.height, tx.sender, m);
          },
          [&](const MsgUpdateProvider& m) {
            return marketplace::HandleUpdateProvider(state, tx.sender, m);
          },
          [&](const MsgDeregisterProvider&) {
            return marketplace::HandleDeregisterProvider(state, tx.sender);
          },
          [&](const MsgPostJob& m) {
            uint64_t job = 0;
            TxResult r =
                marketplace::HandlePostJob(state, params_, ctx_.height, tx.sender, m, &job);
            if (r.code == TxCode::kOk) {
              verification::ScheduleRoundRecord(state, ctx_.height, job, 0);
            }
            return r;
          },
          [&](const MsgCancelJob& m) {
            return marketplace::HandleCancelJob(state, ctx_.height, tx.sender, m);
          },
          [&](const MsgCommitTask& m) {
            return verification::HandleCommitTask(state, params_, ctx_.height, tx.sender, m);
          },
          [&](const MsgVerdict& m) {
            return verification::HandleVerdict(state, params_, ctx_.height, tx.sender, m,
                                               signatures_);
          },
          [&](const MsgRoundResult& m) {
            return verification::HandleRoundResult(state, params_, ctx_.height, tx.sender, m);
          },
          [&](const MsgOpenDispute& m) {
            return dispute::HandleOpenDispute(state, params_, ctx_.height, tx.sender, m);
          },
          [&](const MsgDisputeMove& m) {
            return dispute::HandleDisputeMove(state, params_, ctx_.height, tx.sender, m);
          },
          [&](const MsgRefereeVote& m) {
            return dispute::HandleRefereeVote(state, params_, ctx_.height, tx.sender, m);
          },
          [&](const MsgRefereeReveal& m) {
            return dispute::HandleRefereeReveal(state, params_, ctx_.height, tx.sender, m);
          },
          [&](const MsgSetReplayProfile& m) {
            return staking::HandleSetReplayProfile(state, params_, ctx_.height, tx.sender, m);
          },
      },
      tx.msg);
}

TxResult Ledger::DeliverTx(const Tx& tx) {
  AGORA_CHECK(block_.has_value());
  TxResult result;
  result.hash = tx.hash;
  AccountState sender = bank::GetAccount(*block_, tx.sender);
  if (tx.nonce != sender.nonce) {
    result.code = TxCode::kBadNonce;
    result.log = "nonce " + std::to_string(tx.nonce) + ", expected " + std::to_string(sender.nonce);
    return result;
  }
  if (tx.fee_uagr < params_.min_fee_uagr) {
    result.code = TxCode::kFeeTooLow;
    result.log = "fee below the minimum of " + std::to_string(params_.min_fee_uagr);
    return result;
  }
  if (tx.fee_uagr > sender.balance_uagr) {
    result.code = TxCode::kInsufficientFunds;
    result.log = "balance does not cover the fee";
    return result;
  }
  // Ante: the fee goes to the proposer and the nonce is used, whatever the
  // message then does: a block's space is never free.
  sender.balance_uagr -= tx.fee_uagr;
  sender.nonce += 1;
  bank::SetAccount(*block_, tx.sender, sender);
  AGORA_CHECK(bank::Credit(*block_, fee_recipient_, tx.fee_uagr) == TxCode::kOk);
  StateBuffer branch(&*block_);
  TxResult message = Dispatch(branch, tx);
  if (message.code == TxCode::kOk) branch.MergeInto(&*block_);
  message.hash = tx.hash;
  message.charged = true;
  return message;
}

EndBlockResult Ledger::EndBlock() {
  AGORA_CHECK(block_.has_value());
  EndBlockResult result;
  result.events = std::move(block_events_);
  // PROTOCOL.md §2: governance first, so a change due at this height is in
  // force for the rest of the block (an epoch's set at this boundary, the
  // market's scheduling).
  gov::EndBlock(*block_, ctx_.height, &result.events);
  params_ = LoadParams(*block_);
  result.set_changes = staking::EndBlock(*block_, params_, ctx_.height, &result.events);
  // Verification before the market, so a task failed here is reassigned in
  // this block's scheduling.
  // Disputes first: one decided here settles its slot in this block.
  dispute::EndBlock(*block_, params_, ctx_.height, ctx_.beacon, &result.events);
  verification::EndBlock(*block_, params_, ctx_.height, ctx_.beacon, &result.events);
  marketplace::EndBlock(*block_, params_, ctx_.height, ctx_.beacon, &result.events);
  return result;
}

Result<Hash256> Ledger::Commit(WriteBatch* batch) {
  AGORA_CHECK(block_.has_value() && !staged_);
  const Totals t = ReadTotals(*block_);
  AGORA_CHECK_MSG(t.balances + t.bonded + t.unbonding + t.deposits + t.escrow ==
                      t.supply - t.burned,
                  "conservation broken at height " + std::to_string(ctx_.height));
  AGORA_ASSIGN_OR_RETURN(Hash256 root, tree_->Stage(ctx_.height, block_->changes(), batch));
  staged_ = true;
  return root;
}

void Ledger::Committed() {
  AGORA_CHECK(staged_);
  tree_->Commit();
  staged_ = false;
  block_.reset();
}

void Ledger::Abandon() {
  if (staged_) tree_->Abandon();
  staged_ = false;
  block_.reset();
}

Status Ledger::MarketVerdict(const marketplace::TaskId& task, bool passed) {
  AGORA_CHECK(block_.has_value() && !staged_);
  StateBuffer branch(&*block_);
  std::vector<Event> events;
  Status s = passed ? marketplace::TaskPassed(branch, params_, ctx_.height, task, &events)
                    : marketplace::TaskFailed(branch, params_, ctx_.height, task, &events);
  if (!s.ok()) return s;
  // As verification's settlement does: the round's last task opens the
  // record of the next round's start.
  if (passed) verification::TaskPaid(branch, ctx_.height, task);
  branch.MergeInto(&*block_);
  for (Event& e : events) block_events_.push_back(std::move(e));
  return Status::Ok();
}

Hash256 Ledger::Beacon() {
  std::optional<Bytes> v = committed_.Get(kBeaconKey);
  AGORA_CHECK(v && v->size() == Hash256::kSize);
  return Hash256::FromBytes(*v);
}

Status Ledger::CheckEvidence(const PublicKey& validator, uint64_t vote_height,
                             uint64_t block_height) {
  const uint64_t age_max = CurrentParams().evidence_age_blocks_max;
  // An age of exactly evidence_age_blocks_max is still accepted (docs/ledger.md:
  // PROTOCOL.md §4 says "younger than"; with its lower bound of 1 that would
  // let a limit of 1 accept nothing).
  if (vote_height >= block_height || block_height - vote_height > age_max) {
    return Status::InvalidArgument("evidence from height " + std::to_string(vote_height) +
                                   " is too old or not yet possible at height " +
                                   std::to_string(block_height) + " (age limit " +
                                   std::to_string(age_max) + " blocks)");
  }
  std::optional<staking::ValidatorRecord> record =
      staking::GetValidatorByKey(committed_, validator);
  if (!record) return Status::InvalidArgument("evidence names an unknown validator");
  if (record->tombstoned) {
    return Status::InvalidArgument("evidence names a validator already tombstoned");
  }
  return Status::Ok();
}

std::vector<SetChange> Ledger::ValidatorSchedule() { return staking::Schedule(committed_); }
std::vector<SetChange> Ledger::ValidatorScheduleFrom(uint64_t height) {
  return staking::ScheduleFrom(committed_, height);
}

Totals Ledger::ReadTotals(StateReader& state) {
  return {state.GetU64(bank::kSupplyKey), state.GetU64(bank::kBurnedKey),
          state.GetU64(bank::kTotalBalancesKey), state.GetU64(staking::kTotalBondedKey),
          state.GetU64(staking::kTotalUnbondingKey), state.GetU64(gov::kTotalDepositsKey),
          state.GetU64(marketplace::kTotalEscrowKey) + state.GetU64(marketplace::kValidatorFeesKey)};
}

Status Ledger::AuditTotals() {
  const Totals t = ReadTotals(committed_);
  auto sum = [this](std::string_view prefix, auto value_of) {
    uint64_t total = 0;
    for (const auto& [key, value] : committed_.ScanPrefix(AsBytes(prefix), SIZE_MAX)) {
      total += value_of(key, value);
    }
    return total;
  };
  const uint64_t balances =
      sum("bank/acct/", [](const Bytes&, const Bytes& v) { return ReadU64(v, 0); });
  const uint64_t bonded =
      sum("staking/stake/", [](const Bytes&, const Bytes& v) { return ReadU64(v, 0); });
  const uint64_t unbonding =
      sum("staking/unbond/", [](const Bytes&, const Bytes& v) { return ReadU64(v, 0); });
  const uint64_t deposits = sum(gov::kDepositPrefix,
                                [](const Bytes&, const Bytes& v) { return ReadU64(v, 0); });
  uint64_t job_escrow = 0;
  for (const marketplace::Job& j : marketplace::ListJobs(committed_, 0, SIZE_MAX)) {
    job_escrow += j.escrow_uagr;
  }
  if (job_escrow != committed_.GetU64(marketplace::kTotalEscrowKey)) {
    return Status::Internal("job escrows sum to " + std::to_string(job_escrow) + ", total " +
                            std::to_string(committed_.GetU64(marketplace::kTotalEscrowKey)));
  }
  if (balances != t.balances || bonded != t.bonded || unbonding != t.unbonding ||
      deposits != t.deposits) {
    return Status::Internal("totals differ from state: balances " + std::to_string(balances) +
                            " vs " + std::to_string(t.balances) + ", bonded " +
                            std::to_string(bonded) + " vs " + std::to_string(t.bonded) +
                            ", unbonding " + std::to_string(unbonding) + " vs " +
                            std::to_string(t.unbonding) + ", deposits " +
                            std::to_string(deposits) + " vs " + std::to_string(t.deposits));
  }
  if (balances + bonded + unbonding + deposits + t.escrow != t.supply - t.burned) {
    return Status::Internal("conservation broken: " +
                            std::to_string(balances + bonded + unbonding + deposits + t.escrow) +
                            " held, supply - burned = " + std::to_string(t.supply - t.burned));
  }
  return Status::Ok();
}

}  // namespace agora::consensus
