#include "consensus/ledger/staking.h"

#include <algorithm>

#include "common/check.h"
#include "consensus/ledger/bank.h"

namespace agora::consensus::staking {
namespace {

std::string StakeKey(const Address& a) { return WithBytes("staking/stake/", a.bytes()); }
std::string UnbondPrefix(const Address& a) { return WithBytes("staking/unbond/", a.bytes()); }
std::string UnbondKey(const Address& a, uint64_t done_at) { return WithU64(UnbondPrefix(a), done_at); }
std::string UnbondQueueKey(uint64_t done_at, const Address& a) {
  return WithBytes(WithU64("staking/unbondq/", done_at), a.bytes());
}
std::string ValidatorKey(const Address& a) { return WithBytes("staking/val/", a.bytes()); }
std::string ValidatorByKeyKey(const PublicKey& k) { return WithBytes("staking/valkey/", k.bytes); }
std::string ReplayKey(const Address& a) { return WithBytes("staking/replay/", a.bytes()); }
constexpr std::string_view kSetPrefix = "staking/set/";
// The same heights inverted (~height), newest first: the change in force at
// a height is one forward seek away, without reading the whole history.
constexpr std::string_view kSetDescPrefix = "staking/setd/";
constexpr std::string_view kRankPrefix = "staking/rank/";

// Validators in the order the set takes them: stake descending (stored
// inverted, big-endian), then consensus key. Every validator that is not
// tombstoned has one entry, so a set is chosen by reading the front of this
// index, whatever the number of records with little or no stake.
std::string RankKey(uint64_t stake, const PublicKey& key) {
  return WithBytes(WithU64(std::string(kRankPrefix), ~stake), key.bytes);
}

Bytes EncodeValidator(const ValidatorRecord& r) {
  Bytes out(r.consensus_key.bytes.begin(), r.consensus_key.bytes.end());
  PutU64BigEndian(out, r.jailed_until);
  out.push_back(static_cast<uint8_t>((r.jailed ? 1 : 0) | (r.tombstoned ? 2 : 0)));
  PutU64BigEndian(out, r.created_height);
  out.push_back(static_cast<uint8_t>(r.moniker.size()));
  out.insert(out.end(), r.moniker.begin(), r.moniker.end());
  return out;
}

ValidatorRecord DecodeValidator(const Address& operator_address, ByteSpan b) {
  AGORA_CHECK_MSG(b.size() >= 32 + 8 + 1 + 8 + 1 && b.size() == 50u + b[49],
                  "malformed validator record");
  ValidatorRecord r;
  r.operator_address = operator_address;
  std::copy(b.begin(), b.begin() + 32, r.consensus_key.bytes.begin());
  r.jailed_until = ReadU64(b, 32);
  r.jailed = (b[40] & 1) != 0;
  r.tombstoned = (b[40] & 2) != 0;
  r.created_height = ReadU64(b, 41);
  r.moniker.assign(b.begin() + 50, b.end());
  return r;
}

void AddTo(StateBuffer& state, std::string_view key, uint64_t add, uint64_t sub) {
  const uint64_t v = state.GetU64(key);
  AGORA_CHECK(v >= sub && v - sub <= kAmountUagrMax - add);
  state.SetU64(key, v - sub + add);
}


Bytes EncodeSet(const std::vector<Validator>& validators) {
  Bytes out;
  for (const Validator& v : validators) {
    out.insert(out.end(), v.key.bytes.begin(), v.key.bytes.end());
    PutU64BigEndian(out, v.power);
  }
  return out;
}

std::vector<Validator> DecodeSet(ByteSpan b) {
  AGORA_CHECK_MSG(b.size() % 40 == 0, "malformed validator set record");
  std::vector<Validator> out;
  for (size_t i = 0; i < b.size(); i += 40) {
    Validator v;
    std::copy(b.begin() + i, b.begin() + i + 32, v.key.bytes.begin());
    v.power = ReadU64(b, i + 32);
    out.push_back(v);
  }
  return out;
}

}  // namespace

uint64_t GetStake(StateReader& state, const Address& address) {
  return state.GetU64(StakeKey(address));
}

void SetStake(StateBuffer& state, const Address& address, uint64_t stake_uagr) {
  const uint64_t before = GetStake(state, address);
  if (std::optional<ValidatorRecord> v = GetValidator(state, address); v && !v->tombstoned) {
    state.Delete(RankKey(before, v->consensus_key));
    state.Set(RankKey(stake_uagr, v->consensus_key), address.bytes());
  }
  AddTo(state, kTotalBondedKey, stake_uagr, before);
  if (stake_uagr == 0) {
    state.Delete(StakeKey(address));
  } else {
    state.SetU64(StakeKey(address), stake_uagr);
  }
}

uint64_t UnbondingOf(StateReader& state, const Address& address) {
  uint64_t total = 0;
  const std::string prefix = UnbondPrefix(address);
  for (const auto& [key, value] :
       state.ScanPrefix(AsBytes(prefix), kUnbondingsPerAccountMax + 1)) {
    total += ReadU64(value, 0);
  }
  return total;
}

std::optional<ValidatorRecord> GetValidator(StateReader& state, const Address& operator_address) {
  std::optional<Bytes> v = state.Get(ValidatorKey(operator_address));
  if (!v) return std::nullopt;
  return DecodeValidator(operator_address, *v);
}

std::optional<ValidatorRecord> GetValidatorByKey(StateReader& state, const PublicKey& key) {
  std::optional<Bytes> op = state.Get(ValidatorByKeyKey(key));
  if (!op) return std::nullopt;
  return GetValidator(state, Address::FromBytes(*op).value());
}

void PutValidator(StateBuffer& state, const ValidatorRecord& record) {
  state.Set(ValidatorKey(record.operator_address), EncodeValidator(record));
  state.Set(ValidatorByKeyKey(record.consensus_key), record.operator_address.bytes());
  const std::string rank = RankKey(GetStake(state, record.operator_address), record.consensus_key);
  if (record.tombstoned) {
    state.Delete(rank);  // never a candidate again
  } else {
    state.Set(rank, record.operator_address.bytes());
  }
}

std::vector<ValidatorRecord> AllValidators(StateReader& state) {
  std::vector<ValidatorRecord> out;
  const std::string prefix = "staking/val/";
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(prefix), kCandidatesMax)) {
    auto address = Address::FromBytes(ByteSpan(key).subspan(prefix.size()));
    AGORA_CHECK(address.ok());
    out.push_back(DecodeValidator(*address, value));
  }
  return out;
}

void GenesisValidator(StateBuffer& state, const ValidatorRecord& record, uint64_t stake_uagr) {
  PutValidator(state, record);
  SetStake(state, record.operator_address, GetStake(state, record.operator_address) + stake_uagr);
}

TxResult HandleStake(StateBuffer& state, const Address& sender, const MsgStake& msg) {
  if (bank::Debit(state, sender, msg.amount_uagr) != TxCode::kOk) {
    return Refuse(TxCode::kInsufficientFunds,
                "balance is below the stake amount of " + std::to_string(msg.amount_uagr));
  }
  SetStake(state, sender, GetStake(state, sender) + msg.amount_uagr);
  TxResult r;
  r.events.push_back({"stake",
                      {{"staker", sender.ToString()},
                       {"amount_uagr", std::to_string(msg.amount_uagr)},
                       {"stake_uagr", std::to_string(GetStake(state, sender))}}});
  return r;
}

uint64_t GetLocked(StateReader& state, const Address& address) {
  return state.GetU64(WithBytes("staking/locked/", address.bytes()));
}

void SetLocked(StateBuffer& state, const Address& address, uint64_t locked_uagr) {
  const std::string key = WithBytes("staking/locked/", address.bytes());
  if (locked_uagr == 0) {
    state.Delete(key);
  } else {
    state.SetU64(key, locked_uagr);
  }
}

void BurnStake(StateBuffer& state, const Address& address, uint64_t amount) {
  const uint64_t stake = GetStake(state, address);
  AGORA_CHECK(amount <= stake);
  SetStake(state, address, stake - amount);
  bank::Burn(state, amount);
}

uint64_t UnbondingDoneAt(const Params& params, uint64_t height) {
  // The stake backs votes until the set computed at the next boundary takes
  // over, up to 2 epochs - 1 after the Unstake (a set holds from one epoch
  // after the boundary that computed it), and evidence of such a vote may
  // arrive evidence_age_blocks_max later. The bounds of the parameters keep
  // the sum far from overflow.
  return height + std::max(params.unbonding_blocks,
                           2 * params.epoch_blocks + params.evidence_age_blocks_max);
}

TxResult HandleUnstake(StateBuffer& state, const Params& params, uint64_t height,
                       const Address& sender, const MsgUnstake& msg) {
  const uint64_t stake = GetStake(state, sender);
  if (msg.amount_uagr > stake) {
    return Refuse(TxCode::kInsufficientFunds, "stake is " + std::to_string(stake) +
                                                " uagr, below the unstake amount of " +
                                                std::to_string(msg.amount_uagr));
  }
  const uint64_t locked = GetLocked(state, sender);
  if (stake - msg.amount_uagr < locked) {
    return Refuse(TxCode::kInsufficientFunds,
                std::to_string(locked) + " uagr of the stake is locked as collateral for "
                "running tasks; at most " + std::to_string(stake - locked) + " can be unstaked");
  }
  const uint64_t done_at = UnbondingDoneAt(params, height);
  const std::string key = UnbondKey(sender, done_at);
  const bool merges = state.Get(key).has_value();
  if (!merges &&
      state.ScanPrefix(AsBytes(UnbondPrefix(sender)), kUnbondingsPerAccountMax).size() >=
          kUnbondingsPerAccountMax) {
    return Refuse(TxCode::kInvalidMessage,
                "this account already has " + std::to_string(kUnbondingsPerAccountMax) +
                    " unbondings waiting; wait for the first to complete");
  }
  SetStake(state, sender, stake - msg.amount_uagr);
  state.SetU64(key, state.GetU64(key) + msg.amount_uagr);
  state.Set(UnbondQueueKey(done_at, sender), Bytes());
  AddTo(state, kTotalUnbondingKey, msg.amount_uagr, 0);
  TxResult r;
  r.events.push_back({"unstake",
                      {{"staker", sender.ToString()},
                       {"amount_uagr", std::to_string(msg.amount_uagr)},
                       {"completes_at_height", std::to_string(done_at)}}});
  return r;
}

TxResult HandleCreateValidator(StateBuffer& state, const Params& params, uint64_t height,
                               const Address& sender, const MsgCreateValidator& msg) {
  if (GetValidator(state, sender)) {
    return Refuse(TxCode::kAlreadyExists, "this account already operates a validator");
  }
  if (state.Get(WithBytes("market/prov/", sender.bytes())) ||
      state.Get(WithBytes("market/client_jobs/", sender.bytes()))) {
    // PROTOCOL.md §1: one account, one role; a validator never checks work
    // its own account did.
    return Refuse(TxCode::kInvalidMessage,
                "this account is a provider or has jobs that have not ended; a validator needs "
                "an account of its own");
  }
  if (state.Get(ValidatorByKeyKey(msg.consensus_key))) {
    return Refuse(TxCode::kAlreadyExists, "consensus key " + msg.consensus_key.ToHex() +
                                            " belongs to another validator");
  }
  const uint64_t stake = GetStake(state, sender);
  if (stake < params.validator_stake_min_uagr) {
    return Refuse(TxCode::kStakeTooLow,
                "stake " + std::to_string(stake) + " uagr is below validator_stake_min of " +
                    std::to_string(params.validator_stake_min_uagr) + "; stake more first");
  }
  ValidatorRecord record;
  record.operator_address = sender;
  record.consensus_key = msg.consensus_key;
  record.moniker = msg.moniker;
  record.created_height = height;
  PutValidator(state, record);
  TxResult r;
  r.events.push_back({"create_validator",
                      {{"operator", sender.ToString()},
                       {"consensus_key", msg.consensus_key.ToHex()},
                       {"moniker", msg.moniker}}});
  return r;
}

// Record: the profile in force before (mask 0: none), then, when one was
// sent, the last one sent and its effective height:
//   mask u8, params_max u64 [, mask u8, params_max u64, effective u64].
struct ReplayRecord {
  std::optional<ReplayProfile> before;
  std::optional<ReplayProfile> sent;
  uint64_t effective = 0;
};

ReplayRecord ReadReplayRecord(StateReader& state, const Address& operator_address) {
  ReplayRecord r;
  std::optional<Bytes> b = state.Get(ReplayKey(operator_address));
  if (!b) return r;
  AGORA_CHECK_MSG(b->size() == 9 || b->size() == 26, "malformed replay profile record");
  if ((*b)[0] != 0) r.before = ReplayProfile{(*b)[0], ReadU64(*b, 1)};
  if (b->size() == 26) {
    r.sent = ReplayProfile{(*b)[9], ReadU64(*b, 10)};
    r.effective = ReadU64(*b, 18);
  }
  return r;
}

std::optional<ReplayProfile> GetReplayProfile(StateReader& state, const Address& operator_address,
                                              uint64_t height) {
  const ReplayRecord r = ReadReplayRecord(state, operator_address);
  return r.sent && height >= r.effective ? r.sent : r.before;
}

std::optional<std::pair<ReplayProfile, uint64_t>> PendingReplayProfile(
    StateReader& state, const Address& operator_address, uint64_t height) {
  const ReplayRecord r = ReadReplayRecord(state, operator_address);
  if (!r.sent || height >= r.effective) return std::nullopt;
  return std::make_pair(*r.sent, r.effective);
}

bool CanReplay(const std::optional<ReplayProfile>& profile, const market::JobSpec& spec,
               uint64_t params_floor) {
  // Without a profile a validator replays on the CPU: every exact job, and
  // native jobs of the cpu class (whose kernels are the CPU's exact ones),
  // but no native job of a GPU class, whose bits only that class repeats.
  if (!profile) {
    return spec.tier == market::Tier::kExact || spec.hardware == market::HardwareClass::kCpu;
  }
  if (spec.tier == market::Tier::kNative &&
      (profile->classes_mask >> static_cast<unsigned>(spec.hardware) & 1) == 0) {
    return false;
  }
  const uint64_t params = market::ParamCount(spec);
  return profile->params_max == 0 || params <= profile->params_max || params <= params_floor;
}

TxResult HandleSetReplayProfile(StateBuffer& state, const Params& params, uint64_t height,
                                const Address& sender, const MsgSetReplayProfile& msg) {
  std::optional<ValidatorRecord> v = GetValidator(state, sender);
  if (!v) {
    return Refuse(TxCode::kNotValidator,
                  "only a validator's operator sends a replay profile; create a validator first");
  }
  if (v->tombstoned) {
    return Refuse(TxCode::kJailed, "this validator is tombstoned: it is never drawn again");
  }
  if (msg.params_max != 0 && msg.params_max < params.verify_replay_params_floor) {
    return Refuse(TxCode::kInvalidMessage,
                  "params_max " + std::to_string(msg.params_max) +
                      " is below verify.replay_params_floor = " +
                      std::to_string(params.verify_replay_params_floor) +
                      ": every validator replays models that small (governance sets the floor); "
                      "send --params-max " + std::to_string(params.verify_replay_params_floor) +
                      " or more, or 0 for any size");
  }
  ReplayProfile p;
  std::string classes;
  for (market::HardwareClass c : msg.classes) {
    p.classes_mask = static_cast<uint8_t>(p.classes_mask | 1u << static_cast<unsigned>(c));
    classes += (classes.empty() ? "" : ",") + std::string(market::HardwareClassName(c));
  }
  p.params_max = msg.params_max;
  // What is in force now stays so until the new one takes effect (one sent
  // before and not yet in force is replaced).
  const std::optional<ReplayProfile> now = GetReplayProfile(state, sender, height);
  const uint64_t effective = height + params.verify_delay_blocks;
  Bytes record{now ? now->classes_mask : uint8_t{0}};
  PutU64BigEndian(record, now ? now->params_max : 0);
  record.push_back(p.classes_mask);
  PutU64BigEndian(record, p.params_max);
  PutU64BigEndian(record, effective);
  state.Set(ReplayKey(sender), record);
  TxResult r;
  r.events.push_back({"set_replay_profile",
                      {{"operator", sender.ToString()},
                       {"hardware_classes", classes},
                       {"params_max", std::to_string(p.params_max)},
                       {"effective_height", std::to_string(effective)}}});
  return r;
}

std::vector<Validator> SetInForce(StateReader& state, uint64_t height) {
  std::vector<Validator> active;
  for (SetChange& c : ScheduleFrom(state, height)) {
    if (c.height > height) break;
    active = std::move(c.validators);
  }
  return active;
}

std::vector<ValidatorRecord> DrawableValidators(StateReader& state, uint64_t height) {
  const std::vector<Validator> active = SetInForce(state, height);
  std::vector<ValidatorRecord> out;
  for (ValidatorRecord& v : AllValidators(state)) {
    if (v.jailed || v.tombstoned) continue;
    if (std::none_of(active.begin(), active.end(),
                     [&](const Validator& a) { return a.key == v.consensus_key; })) {
      continue;
    }
    if (GetStake(state, v.operator_address) == 0) continue;
    out.push_back(std::move(v));
  }
  return out;
}

uint64_t Slash(StateBuffer& state, const Address& operator_address, uint64_t ppm) {
  // floor(amount * ppm / 10^6) without a 128-bit product: with amount =
  // q * 10^6 + r, it is q * ppm + floor(r * ppm / 10^6), and q * ppm stays
  // below 2^63 for amount <= 2^62, ppm <= 10^6.
  auto part = [ppm](uint64_t amount) {
    constexpr uint64_t kMillion = 1'000'000;
    return amount / kMillion * ppm + amount % kMillion * ppm / kMillion;
  };
  const uint64_t stake = GetStake(state, operator_address);
  uint64_t burned = part(stake);
  SetStake(state, operator_address, stake - burned);
  // Stake that is leaving is slashable until it has left.
  const std::string prefix = UnbondPrefix(operator_address);
  for (const auto& [key, value] :
       state.ScanPrefix(AsBytes(prefix), kUnbondingsPerAccountMax + 1)) {
    const uint64_t amount = ReadU64(value, 0);
    const uint64_t cut = part(amount);
    if (cut == 0) continue;
    state.Set(std::string(key.begin(), key.end()), U64Bytes(amount - cut));
    AddTo(state, kTotalUnbondingKey, 0, cut);
    burned += cut;
  }
  bank::Burn(state, burned);
  return burned;
}

namespace {

void PayUnbondings(StateBuffer& state, uint64_t height, std::vector<Event>* events) {
  const std::string queue = "staking/unbondq/";
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(queue), kUnbondingsPerBlockMax)) {
    const uint64_t done_at = ReadU64(key, queue.size());
    if (done_at > height) break;
    const Address owner = Address::FromBytes(ByteSpan(key).subspan(queue.size() + 8)).value();
    const std::string entry = UnbondKey(owner, done_at);
    const uint64_t amount = state.GetU64(entry);
    state.Delete(std::string(key.begin(), key.end()));
    state.Delete(entry);
    AddTo(state, kTotalUnbondingKey, 0, amount);
    AGORA_CHECK(bank::Credit(state, owner, amount) == TxCode::kOk);
    events->push_back({"unbonding_complete",
                       {{"staker", owner.ToString()}, {"amount_uagr", std::to_string(amount)}}});
  }
}

bool SameSet(const std::vector<Validator>& a, const std::vector<Validator>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].key != b[i].key || a[i].power != b[i].power) return false;
  }
  return true;
}

// Jailed validators leave every set from height + kSetChangeDelayMin on,
// not only at the next epoch: one that is down or proven Byzantine should
// not hold power for up to two epochs.
void RemoveJailed(StateBuffer& state, uint64_t height, std::vector<SetChange>* written,
                  std::vector<Event>* events) {
  const uint64_t from = height + kSetChangeDelayMin;
  std::vector<SetChange> schedule = ScheduleFrom(state, from);
  auto out = [&state](const Validator& v) {
    std::optional<ValidatorRecord> r = GetValidatorByKey(state, v.key);
    return r && (r->jailed || r->tombstoned);
  };
  // The set in force at `from`, then every later entry.
  std::vector<SetChange> affected;
  for (const SetChange& c : schedule) {
    if (c.height <= from) {
      affected.assign(1, SetChange{from, c.validators});
    } else {
      affected.push_back(c);
    }
  }
  for (SetChange& c : affected) {
    std::vector<Validator> kept;
    for (const Validator& v : c.validators) {
      if (!out(v)) kept.push_back(v);
    }
    if (kept.size() == c.validators.size()) continue;
    if (kept.empty()) {
      // An empty set would halt the chain for good.
      events->push_back({"validator_set_kept", {{"reason", "every validator is jailed"}}});
      continue;
    }
    c.validators = std::move(kept);
    PutSet(state, c);
    written->push_back(c);
    events->push_back({"validator_set_change",
                       {{"effective_height", std::to_string(c.height)},
                        {"validators", std::to_string(c.validators.size())},
                        {"reason", "jailed"}}});
  }
}

}  // namespace

std::vector<SetChange> EndBlock(StateBuffer& state, const Params& params, uint64_t height,
                                std::vector<Event>* events) {
  PayUnbondings(state, height, events);
  std::vector<SetChange> written;
  RemoveJailed(state, height, &written, events);
  if (height % params.epoch_blocks != 0) return written;

  // The set one epoch ahead: the largest stakes among validators that are
  // neither jailed nor tombstoned and hold the minimum; ties by key. The
  // rank index is in exactly that order.
  SetChange change;
  change.height = height + params.epoch_blocks + 1;
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(kRankPrefix), kCandidatesMax)) {
    if (change.validators.size() >= params.validators_max) break;
    const uint64_t stake = ~ReadU64(key, kRankPrefix.size());
    if (stake < params.validator_stake_min_uagr) break;  // and so is every one after it
    std::optional<ValidatorRecord> v = GetValidator(state, Address::FromBytes(value).value());
    AGORA_CHECK(v.has_value() && !v->tombstoned);
    if (v->jailed) continue;
    change.validators.push_back({v->consensus_key, stake / kUagrPerPower, 0});
  }
  std::sort(change.validators.begin(), change.validators.end(),
            [](const Validator& a, const Validator& b) { return a.key < b.key; });
  if (change.validators.empty()) {
    events->push_back({"validator_set_kept", {{"reason", "no eligible validator"}}});
    return written;
  }
  const std::vector<SetChange> schedule = ScheduleFrom(state, height);
  AGORA_CHECK(!schedule.empty());
  if (schedule.back().height >= change.height) {
    // A set is already announced for that height or later (epoch_blocks
    // shrank since): the next boundary tries again.
    return written;
  }
  if (SameSet(schedule.back().validators, change.validators)) return written;
  PutSet(state, change);
  written.push_back(change);
  events->push_back({"validator_set_change",
                     {{"effective_height", std::to_string(change.height)},
                      {"validators", std::to_string(change.validators.size())},
                      {"reason", "epoch"}}});
  return written;
}

void PutSet(StateBuffer& state, const SetChange& change) {
  state.Set(WithU64(std::string(kSetPrefix), change.height), EncodeSet(change.validators));
  state.Set(WithU64(std::string(kSetDescPrefix), ~change.height), Bytes{});
}

std::vector<SetChange> ScheduleFrom(StateReader& state, uint64_t height) {
  std::vector<SetChange> out;
  const std::string newest_first = WithU64(std::string(kSetDescPrefix), ~height);
  for (const auto& [key, value] :
       state.ScanFrom(AsBytes(kSetDescPrefix), AsBytes(newest_first), 1)) {
    const uint64_t at = ~ReadU64(key, kSetDescPrefix.size());
    std::optional<Bytes> set = state.Get(AsBytes(WithU64(std::string(kSetPrefix), at)));
    AGORA_CHECK(set.has_value());
    out.push_back({at, DecodeSet(*set)});
  }
  if (height == UINT64_MAX) return out;
  // Announced ones: a few at most (kSetChangeDelayMin to two epochs ahead).
  constexpr size_t kLaterMax = 1'000;
  const std::string later = WithU64(std::string(kSetPrefix), height + 1);
  for (const auto& [key, value] : state.ScanFrom(AsBytes(kSetPrefix), AsBytes(later), kLaterMax)) {
    out.push_back({ReadU64(key, kSetPrefix.size()), DecodeSet(value)});
  }
  return out;
}

std::vector<SetChange> Schedule(StateReader& state) {
  std::vector<SetChange> out;
  // One change per epoch at most; a chain of 10^6 epochs is far away, and
  // the bound only limits what one call returns.
  constexpr size_t kChangesMax = 1'000'000;
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(kSetPrefix), kChangesMax)) {
    out.push_back({ReadU64(key, kSetPrefix.size()), DecodeSet(value)});
  }
  return out;
}

}  // namespace agora::consensus::staking
