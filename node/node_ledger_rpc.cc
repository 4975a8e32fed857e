// JSON-RPC methods over the ledger's state: params, beacon, state_proof,
// and the validator view shared with node_rpc.cc (docs/rpc.md).
#include "consensus/ledger/bank.h"
#include "consensus/ledger/slashing.h"
#include "node/node_impl.h"

namespace agora::node {
namespace detail {

json::value ReplayProfileJson(const consensus::staking::ReplayProfile& p) {
  json::array classes;
  for (uint8_t c = 1; c <= market::kHardwareClassMax; ++c) {
    if ((p.classes_mask >> c & 1) != 0) {
      classes.push_back(json::string(market::HardwareClassName(static_cast<market::HardwareClass>(c))));
    }
  }
  return json::object{{"hardware_classes", std::move(classes)}, {"params_max", p.params_max}};
}

json::object ValidatorJson(consensus::StateReader& state,
                           const consensus::staking::ValidatorRecord& r, uint64_t height) {
  // The profile the draws of `height` use (null: none, drawn for every job)
  // and one sent since, with the height it takes effect at.
  const std::optional<consensus::staking::ReplayProfile> profile =
      consensus::staking::GetReplayProfile(state, r.operator_address, height);
  const auto pending = consensus::staking::PendingReplayProfile(state, r.operator_address, height);
  json::value next = nullptr;
  if (pending) {
    json::object o = ReplayProfileJson(pending->first).as_object();
    o["effective_height"] = pending->second;
    next = std::move(o);
  }
  const consensus::slashing::SigningInfo info =
      consensus::slashing::GetSigningInfo(state, r.consensus_key);
  return json::object{
      {"operator", r.operator_address.ToString()},
      {"consensus_key", r.consensus_key.ToHex()},
      {"moniker", r.moniker},
      {"stake_uagr", consensus::staking::GetStake(state, r.operator_address)},
      {"jailed", r.jailed},
      {"jailed_until", r.jailed && !r.tombstoned ? json::value(r.jailed_until) : json::value()},
      {"tombstoned", r.tombstoned},
      {"missed_blocks", info.missed},
      {"observed_blocks", info.observed},
      {"replay_profile", profile ? ReplayProfileJson(*profile) : json::value(nullptr)},
      {"replay_profile_next", std::move(next)},
  };
}

}  // namespace detail

void Node::Impl::RegisterLedgerRpc() {
  rpc_->RegisterSync("params", [this](const json::value&) -> Result<json::value> {
    const consensus::Params p = app_->CurrentParams();
    json::array list;
    for (const consensus::ParamSpec& spec : consensus::ParamTable()) {
      list.push_back(json::object{{"name", spec.name},
                                  {"value", p.*spec.field},
                                  {"min", spec.min},
                                  {"max", spec.max},
                                  {"what", spec.what}});
    }
    return json::value(json::object{{"height", blocks_->height()}, {"params", std::move(list)}});
  });
  rpc_->RegisterSync("beacon", [this](const json::value&) -> Result<json::value> {
    json::object out{{"height", blocks_->height()}, {"beacon", app_->Beacon().ToHex()}};
    if (blocks_->height() > 0) {
      const proto::BlockHeader& h = blocks_->last_header();
      out["vrf_output"] = HexEncode(AsBytes(h.vrf_output()));
      out["vrf_proof"] = HexEncode(AsBytes(h.vrf_proof()));
      out["proposer"] = Address::FromBytes(AsBytes(h.proposer())).value().ToString();
    }
    const consensus::Totals t = app_->ReadTotals();
    out["supply_uagr"] = t.supply;
    out["burned_uagr"] = t.burned;
    out["gov_deposits_uagr"] = t.deposits;
    return json::value(std::move(out));
  });
  // A value of the state after block H - 1 (or its absence) with a proof
  // against the app hash in header H, and header H with its commit: enough
  // for a client that knows the validator set of H to check it alone.
  rpc_->RegisterSync("state_proof", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
    AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"address", "key"}));
    if (o->if_contains("address") && o->if_contains("key")) {
      return Status::InvalidArgument("give params.address or params.key, not both");
    }
    Bytes key;
    if (o->if_contains("address")) {
      AGORA_ASSIGN_OR_RETURN(std::string text, StringParam(*o, "address"));
      auto address = Address::Parse(text);
      if (!address.ok()) return Status::InvalidArgument("address: " + address.status().message());
      const std::string k = consensus::bank::AccountKey(*address);
      key.assign(k.begin(), k.end());
    } else {
      AGORA_ASSIGN_OR_RETURN(std::string hex, StringParam(*o, "key"));
      AGORA_ASSIGN_OR_RETURN(key, HexDecode(hex));
      if (key.empty() || key.size() > kStateKeyBytesMax) {
        return Status::InvalidArgument("key must be 1.." + std::to_string(kStateKeyBytesMax) +
                                       " bytes of hex");
      }
    }
    const uint64_t height = blocks_->height();
    if (height == 0) {
      return Status::Unavailable("no block is committed yet; a proof needs a signed header");
    }
    AGORA_ASSIGN_OR_RETURN(std::optional<proto::Block> block, blocks_->BlockAt(height));
    AGORA_ASSIGN_OR_RETURN(std::optional<proto::Commit> commit, blocks_->CommitAt(height));
    if (!block || !commit) return Status::Corruption("the last block or its commit is missing");
    AGORA_ASSIGN_OR_RETURN(ProvenValue proven, app_->tree().Prove(key, height - 1));
    json::object out{{"height", height},
                     {"state_version", height - 1},
                     {"key", HexEncode(key)},
                     {"exists", proven.value.has_value()},
                     {"proof", HexEncode(proven.proof.Encode())},
                     {"header", HexEncode(EncodeDeterministic(block->header()))},
                     {"commit", HexEncode(EncodeDeterministic(*commit))}};
    if (proven.value) out["value"] = HexEncode(*proven.value);
    return json::value(std::move(out));
  });
}

}  // namespace agora::node
