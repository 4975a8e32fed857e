#include "consensus/ledger/slashing.h"

#include "common/check.h"
#include "consensus/ledger/staking.h"

namespace agora::consensus::slashing {
namespace {

std::string WindowKey(const PublicKey& key) {
  std::string k = "slashing/window/";
  k.append(key.bytes.begin(), key.bytes.end());
  return k;
}

struct Window {
  uint64_t observed = 0;
  uint64_t missed = 0;
  uint64_t size = 0;
  Bytes bitmap;
};

Window LoadWindow(StateReader& state, const PublicKey& key, uint64_t size) {
  Window w;
  std::optional<Bytes> v = state.Get(WindowKey(key));
  if (v) {
    AGORA_CHECK_MSG(v->size() >= 24, "malformed signing window");
    w.observed = ReadU64(*v, 0);
    w.missed = ReadU64(*v, 8);
    w.size = ReadU64(*v, 16);
    w.bitmap.assign(v->begin() + 24, v->end());
  }
  if (w.size != size) {
    // A new validator, or governance changed the window: start afresh
    // rather than reinterpret bits counted against another size.
    w = Window{0, 0, size, Bytes((size + 7) / 8, 0)};
  }
  AGORA_CHECK(w.bitmap.size() == (w.size + 7) / 8);
  return w;
}

void StoreWindow(StateBuffer& state, const PublicKey& key, const Window& w) {
  Bytes v = U64Bytes(w.observed);
  PutU64BigEndian(v, w.missed);
  PutU64BigEndian(v, w.size);
  v.insert(v.end(), w.bitmap.begin(), w.bitmap.end());
  state.Set(WindowKey(key), v);
}

void Jail(StateBuffer& state, staking::ValidatorRecord record, uint64_t until, bool tombstone) {
  record.jailed = true;
  record.jailed_until = until;
  record.tombstoned = record.tombstoned || tombstone;
  staking::PutValidator(state, record);
}

void RecordSignature(StateBuffer& state, const Params& params, const BlockContext& ctx,
                     const PublicKey& key, bool signed_block, std::vector<Event>* events) {
  std::optional<staking::ValidatorRecord> record = staking::GetValidatorByKey(state, key);
  if (!record || record->jailed) return;
  Window w = LoadWindow(state, key, params.downtime_window_blocks);
  const uint64_t index = w.observed % w.size;
  const uint8_t mask = static_cast<uint8_t>(1u << (index % 8));
  const bool was_missed = (w.bitmap[index / 8] & mask) != 0;
  if (was_missed) --w.missed;
  if (signed_block) {
    w.bitmap[index / 8] &= static_cast<uint8_t>(~mask);
  } else {
    w.bitmap[index / 8] |= mask;
    ++w.missed;
  }
  ++w.observed;
  // missed / size > ppm / 10^6, in integers; both sides are below 2^60.
  const bool over = w.missed * 1'000'000 > w.size * params.downtime_missed_ppm;
  if (w.observed >= w.size && over) {
    const uint64_t burned = staking::Slash(state, record->operator_address,
                                           params.slash_downtime_ppm);
    const uint64_t until = ctx.height + params.downtime_jail_blocks;
    Jail(state, *record, until, /*tombstone=*/false);
    events->push_back({"slash",
                       {{"reason", "downtime"},
                        {"operator", record->operator_address.ToString()},
                        {"missed", std::to_string(w.missed)},
                        {"window", std::to_string(w.size)},
                        {"burned_uagr", std::to_string(burned)},
                        {"jailed_until", std::to_string(until)}}});
    w = Window{0, 0, w.size, Bytes(w.bitmap.size(), 0)};
  }
  StoreWindow(state, key, w);
}

}  // namespace

SigningInfo GetSigningInfo(StateReader& state, const PublicKey& key) {
  std::optional<Bytes> v = state.Get(WindowKey(key));
  if (!v || v->size() < 24) return {};
  return {ReadU64(*v, 0), ReadU64(*v, 8)};
}

void BeginBlock(StateBuffer& state, const Params& params, const BlockContext& ctx,
                std::vector<Event>* events) {
  for (const auto& [key, signed_block] : ctx.last_commit_signers) {
    RecordSignature(state, params, ctx, key, signed_block, events);
  }
  for (const VerifiedEvidence& e : ctx.evidence) {
    std::optional<staking::ValidatorRecord> record =
        staking::GetValidatorByKey(state, e.evidence.validator);
    // The chain admits evidence only against known, not yet tombstoned
    // validators; a second piece in the same block finds it tombstoned.
    if (!record || record->tombstoned) continue;
    const uint64_t burned =
        staking::Slash(state, record->operator_address, params.slash_double_sign_ppm);
    Jail(state, *record, /*until=*/UINT64_MAX, /*tombstone=*/true);
    events->push_back({"slash",
                       {{"reason", "double_sign"},
                        {"operator", record->operator_address.ToString()},
                        {"height", std::to_string(e.evidence.first.height)},
                        {"burned_uagr", std::to_string(burned)},
                        {"tombstoned", "true"}}});
  }
}

TxResult HandleUnjail(StateBuffer& state, uint64_t height, const Address& sender) {
  TxResult r;
  std::optional<staking::ValidatorRecord> record = staking::GetValidator(state, sender);
  if (!record) {
    r.code = TxCode::kNotValidator;
    r.log = "this account operates no validator";
  } else if (record->tombstoned) {
    r.code = TxCode::kJailed;
    r.log = "this validator double-signed and is tombstoned: it can never be a validator again";
  } else if (!record->jailed) {
    r.code = TxCode::kInvalidMessage;
    r.log = "this validator is not jailed";
  } else if (height < record->jailed_until) {
    r.code = TxCode::kJailed;
    r.log = "jailed until height " + std::to_string(record->jailed_until) + "; now " +
            std::to_string(height);
  } else {
    record->jailed = false;
    record->jailed_until = 0;
    staking::PutValidator(state, *record);
    r.events.push_back({"unjail", {{"operator", sender.ToString()}}});
  }
  return r;
}

}  // namespace agora::consensus::slashing
