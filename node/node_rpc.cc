// The node's JSON-RPC methods, WebSocket topics, metrics and status page
// (docs/node.md lists them).
#include "node/node_impl.h"
#include "node/web/assets.h"

#include "consensus/ledger/bank.h"
#include "consensus/ledger/slashing.h"
#include "consensus/ledger/staking.h"

namespace agora::node {

// --- RPC -------------------------------------------------------------------

json::value Node::Impl::StatusJson() {
  const bool validator =
      chain_->ValidatorsAt(blocks_->height() + 1).IndexOf(node_key_->public_key()).has_value();
  return json::object{
      {"node_id", node_key_->public_key().ToHex()},
      {"moniker", config_.moniker},
      {"version", std::string(Version())},
      {"chain_id", genesis_.chain_id},
      {"genesis_hash", genesis_.hash.ToHex()},
      {"height", blocks_->height()},
      {"latest_block_hash", blocks_->height() ? blocks_->last_block_hash().ToHex() : ""},
      {"latest_block_time_unix_ms",
       blocks_->height() ? blocks_->last_header().time_unix_ms() : genesis_.genesis_time_unix_ms},
      {"app_hash", app_->AppHash().ToHex()},
      {"consensus_height", core_->height()},
      {"round", core_->round()},
      {"step", std::string(consensus::StepName(core_->step()))},
      {"validator", validator},
      {"peers", peers_->Peers().size()},
      {"mempool_txs", mempool_->size()},
      // What the consensus core runs with now (governance may change it).
      {"timeouts",
       json::object{{"propose_ms", core_->timeouts().propose_ms},
                    {"prevote_ms", core_->timeouts().prevote_ms},
                    {"precommit_ms", core_->timeouts().precommit_ms},
                    {"delta_ms", core_->timeouts().propose_delta_ms}}},
  };
}

Result<json::value> Node::Impl::BlockJson(uint64_t height) {
  AGORA_ASSIGN_OR_RETURN(std::optional<proto::Block> block, blocks_->BlockAt(height));
  if (!block) {
    return Status::NotFound("no block at height " + std::to_string(height) + "; the chain is at " +
                            std::to_string(blocks_->height()));
  }
  const proto::BlockHeader& h = block->header();
  json::array txs;
  for (const std::string& raw : block->txs()) {
    auto tx = consensus::DecodeTx(AsBytes(raw), genesis_.chain_id);
    if (tx.ok()) txs.push_back(json::value(tx->hash.ToHex()));
  }
  auto commit = blocks_->CommitAt(height);
  json::object o{
      {"height", h.height()},
      {"hash", consensus::HeaderHash(h).ToHex()},
      {"time_unix_ms", h.time_unix_ms()},
      {"proposer", Address::FromBytes(AsBytes(h.proposer())).value().ToString()},
      {"prev_block_hash", HexEncode(AsBytes(h.prev_block_hash()))},
      {"last_commit_hash", HexEncode(AsBytes(h.last_commit_hash()))},
      {"tx_root", HexEncode(AsBytes(h.tx_root()))},
      {"app_hash", HexEncode(AsBytes(h.app_hash()))},
      {"validators_hash", HexEncode(AsBytes(h.validators_hash()))},
      {"results_hash", HexEncode(AsBytes(h.results_hash()))},
      {"evidence_hash", HexEncode(AsBytes(h.evidence_hash()))},
      {"vrf_output", HexEncode(AsBytes(h.vrf_output()))},
      {"evidence", block->evidence_size()},
      {"txs", std::move(txs)},
  };
  if (commit.ok() && *commit) {
    o["commit"] =
        json::object{{"round", (*commit)->round()}, {"signatures", (*commit)->signatures_size()}};
  }
  return json::value(std::move(o));
}

Result<json::value> Node::Impl::TxLookup(const Hash256& id) {
  AGORA_ASSIGN_OR_RETURN(std::optional<consensus::TxLocation> where, blocks_->FindTx(id));
  if (!where) {
    if (mempool_->Contains(id)) {
      return json::value(json::object{{"hash", id.ToHex()}, {"status", "pending"}});
    }
    return Status::NotFound("transaction " + id.ToHex() + " is not known to this node");
  }
  AGORA_ASSIGN_OR_RETURN(std::optional<proto::Block> block, blocks_->BlockAt(where->height));
  if (!block || where->index >= static_cast<uint32_t>(block->txs_size())) {
    return Status::Corruption("transaction index points at a missing block");
  }
  AGORA_ASSIGN_OR_RETURN(Tx tx,
                         consensus::DecodeTx(AsBytes(block->txs(where->index)), genesis_.chain_id));
  json::object o = TxJson(tx);
  o["status"] = "committed";
  o["height"] = where->height;
  o["index"] = where->index;
  o["code"] = static_cast<uint32_t>(where->code);
  o["result"] = consensus::TxCodeName(where->code);
  return json::value(std::move(o));
}

namespace detail {


Status KnownKeys(const json::object& o, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : o) {
    bool ok = false;
    for (std::string_view k : known) ok |= key == k;
    if (!ok) return Status::InvalidArgument("unknown parameter '" + std::string(key) + "'");
  }
  return Status::Ok();
}

Result<const json::object*> ParamsObject(const json::value& params) {
  if (!params.is_object()) return Status::InvalidArgument("params must be an object");
  return &params.as_object();
}

Result<std::string> StringParam(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    return Status::InvalidArgument("params." + std::string(key) + " must be a string");
  }
  return std::string(v->as_string());
}

Result<uint64_t> U64Param(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v != nullptr && v->is_uint64()) return v->as_uint64();
  if (v != nullptr && v->is_int64() && v->as_int64() >= 0) return uint64_t(v->as_int64());
  return Status::InvalidArgument("params." + std::string(key) + " must be a non-negative integer");
}

}  // namespace detail

namespace {

Result<Bytes> TxParam(const json::object& o) {
  AGORA_ASSIGN_OR_RETURN(std::string text, StringParam(o, "tx"));
  if (text.size() > consensus::kTxBytesMax * 2) {
    return Status::InvalidArgument("params.tx is larger than a transaction can be");
  }
  auto raw = Base64Decode(text);
  if (!raw.ok())
    return Status::InvalidArgument("params.tx must be base64: " + raw.status().message());
  return *raw;
}

}  // namespace

void Node::Impl::RegisterRpc() {
  rpc_->AddTopic("new_block");
  rpc_->AddTopic("tx_result");
  rpc_->RegisterSync("status",
                     [this](const json::value&) -> Result<json::value> { return StatusJson(); });
  rpc_->RegisterSync("block", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
    AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"hash", "height"}));
    if (o->if_contains("hash") && o->if_contains("height")) {
      return Status::InvalidArgument("give params.hash or params.height, not both");
    }
    if (o->if_contains("hash")) {
      AGORA_ASSIGN_OR_RETURN(std::string hex, StringParam(*o, "hash"));
      AGORA_ASSIGN_OR_RETURN(Hash256 hash, HashFromHex(hex));
      AGORA_ASSIGN_OR_RETURN(std::optional<uint64_t> height, blocks_->HeightOf(hash));
      if (!height) return Status::NotFound("no block with hash " + hex);
      return BlockJson(*height);
    }
    if (o->if_contains("height")) {
      AGORA_ASSIGN_OR_RETURN(uint64_t height, U64Param(*o, "height"));
      return BlockJson(height);
    }
    if (blocks_->height() == 0) return Status::NotFound("no block committed yet");
    return BlockJson(blocks_->height());
  });
  // What a block did: each transaction's code, log and events, and the
  // events of EndBlock (slashes, verdicts resolved, validator set changes).
  rpc_->RegisterSync("block_results", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
    AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"height"}));
    uint64_t height = blocks_->height();
    if (o->if_contains("height")) {
      AGORA_ASSIGN_OR_RETURN(height, U64Param(*o, "height"));
    }
    if (height == 0 || height > blocks_->height()) {
      return Status::NotFound("no block at height " + std::to_string(height) +
                              "; this node's last block is " + std::to_string(blocks_->height()));
    }
    AGORA_ASSIGN_OR_RETURN(std::optional<proto::BlockResults> results, blocks_->ResultsAt(height));
    if (!results) {
      return Status::NotFound("this node keeps no results for height " + std::to_string(height) +
                              " (committed by a version that did not store them)");
    }
    auto events = [](const auto& list) {
      json::array out;
      for (const proto::StoredEvent& e : list) {
        json::object attributes;
        for (int i = 0; i < e.keys_size() && i < e.values_size(); ++i) {
          attributes[e.keys(i)] = e.values(i);
        }
        out.push_back(json::object{{"type", e.type()}, {"attributes", std::move(attributes)}});
      }
      return out;
    };
    json::array txs;
    for (const proto::StoredTxResult& t : results->txs()) {
      const auto code = static_cast<consensus::TxCode>(t.code());
      json::object r{{"hash", HexEncode(AsBytes(t.hash()))},
                     {"code", t.code()},
                     {"result", consensus::TxCodeName(code)},
                     {"events", events(t.events())}};
      if (!t.log().empty()) r["log"] = t.log();
      txs.push_back(std::move(r));
    }
    return json::value(json::object{{"height", height},
                                    {"txs", std::move(txs)},
                                    {"end_events", events(results->end_events())}});
  });
  rpc_->RegisterSync("tx", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
    AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"hash"}));
    AGORA_ASSIGN_OR_RETURN(std::string hex, StringParam(*o, "hash"));
    AGORA_ASSIGN_OR_RETURN(Hash256 id, HashFromHex(hex));
    return TxLookup(id);
  });
  rpc_->RegisterSync("account", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
    AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"address"}));
    AGORA_ASSIGN_OR_RETURN(std::string text, StringParam(*o, "address"));
    auto address = Address::Parse(text);
    if (!address.ok()) return Status::InvalidArgument("address: " + address.status().message());
    const consensus::AccountState a = app_->Account(*address);
    json::object out{{"address", address->ToString()},
                     {"balance_uagr", a.balance_uagr},
                     {"nonce", a.nonce},
                     {"next_nonce", mempool_->NextNonce(*address, a.nonce)},
                     {"stake_uagr", consensus::staking::GetStake(app_->committed(), *address)},
                     {"unbonding_uagr",
                      consensus::staking::UnbondingOf(app_->committed(), *address)},
                     {"height", blocks_->height()}};
    if (auto v = consensus::staking::GetValidator(app_->committed(), *address)) {
      out["validator"] = ValidatorJson(app_->committed(), *v, blocks_->height() + 1);
    }
    return json::value(std::move(out));
  });
  rpc_->RegisterSync("tx_submit", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
    AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"tx"}));
    AGORA_ASSIGN_OR_RETURN(Bytes raw, TxParam(*o));
    AGORA_ASSIGN_OR_RETURN(Hash256 id, AdmitTx(raw, /*from_peer=*/false));
    return json::value(json::object{{"hash", id.ToHex()}, {"status", "pending"}});
  });
  rpc_->Register("tx_submit_wait", [this](const json::value& params, rpc::Reply reply) {
    auto o = ParamsObject(params);
    if (!o.ok()) return reply(o.status());
    if (Status known = KnownKeys(**o, {"tx", "timeout_ms"}); !known.ok()) return reply(known);
    auto raw = TxParam(**o);
    if (!raw.ok()) return reply(raw.status());
    std::chrono::milliseconds wait = kSubmitWaitDefault;
    if ((*o)->if_contains("timeout_ms")) {
      auto ms = U64Param(**o, "timeout_ms");
      if (!ms.ok()) return reply(ms.status());
      // Compared as integers: a huge value must not turn negative as a duration.
      wait = std::chrono::milliseconds(
          std::min<uint64_t>(*ms, static_cast<uint64_t>(kSubmitWaitMax.count())));
    }
    if (waiters_.size() >= kWaitersMax) {
      return reply(Status::ResourceExhausted("too many clients waiting; use tx_submit"));
    }
    auto id = AdmitTx(*raw, /*from_peer=*/false);
    if (!id.ok()) return reply(id.status());
    const auto now = Clock::now();
    waiters_.emplace(*id, Waiter{std::move(reply), now + wait, now});
  });
  rpc_->RegisterSync("validators", [this](const json::value& params) -> Result<json::value> {
    uint64_t height = blocks_->height() + 1;
    if (!params.is_null()) {
      AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
      AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"height"}));
    }
    if (params.is_object() && params.as_object().if_contains("height")) {
      AGORA_ASSIGN_OR_RETURN(height, U64Param(params.as_object(), "height"));
      const uint64_t top = blocks_->height() + 1;
      // Older sets would be rebuilt from genesis on the node's one thread.
      const uint64_t reach = consensus::kValidatorSetsKept / 2;
      const uint64_t lowest = top > reach ? top - reach : 1;
      if (height < lowest || height > top) {
        return Status::InvalidArgument("height must be " + std::to_string(lowest) + ".." +
                                       std::to_string(top));
      }
    }
    const consensus::ValidatorSet& set = chain_->ValidatorsAt(height);
    json::array list;
    for (size_t i = 0; i < set.size(); ++i) {
      const auto& v = set.at(static_cast<consensus::ValidatorIndex>(i));
      json::object entry{{"index", i},
                         {"address", Address::FromPublicKey(v.key).ToString()},
                         {"public_key", v.key.ToHex()},
                         {"power", v.power},
                         {"proposer_priority", v.priority}};
      if (auto r = consensus::staking::GetValidatorByKey(app_->committed(), v.key)) {
        for (auto& [k, value] : ValidatorJson(app_->committed(), *r, blocks_->height() + 1)) entry[k] = value;
      }
      list.push_back(std::move(entry));
    }
    // Candidates: every validator record, in or out of this set.
    json::array candidates;
    for (const auto& r : consensus::staking::AllValidators(app_->committed())) {
      candidates.push_back(ValidatorJson(app_->committed(), r, blocks_->height() + 1));
    }
    json::array schedule;
    for (const consensus::SetChange& c : app_->ValidatorScheduleFrom(blocks_->height() + 1)) {
      schedule.push_back(json::object{{"height", c.height}, {"validators", c.validators.size()}});
    }
    return json::value(json::object{{"height", height},
                                    {"proposer", set.Proposer()},
                                    {"total_power", set.total_power()},
                                    {"validators", std::move(list)},
                                    {"candidates", std::move(candidates)},
                                    {"schedule", std::move(schedule)}});
  });
  RegisterLedgerRpc();
  RegisterGovRpc();
  RegisterMarketRpc();
  RegisterVerifyRpc();
  RegisterDisputeRpc();
  RegisterBlobRpc();
  RegisterRolesRpc();
  rpc_->RegisterSync("net_info", [this](const json::value&) -> Result<json::value> {
    json::array list;
    for (const p2p::PeerInfo& p : peers_->Peers()) {
      auto h = peer_heights_.find(p.id);
      list.push_back(json::object{{"id", p.id.ToHex()},
                                  {"address", p.remote_address},
                                  {"listen_port", p.listen_port},
                                  {"outbound", p.outbound},
                                  {"height", h == peer_heights_.end() ? 0 : h->second},
                                  {"bytes_sent", p.bytes_sent},
                                  {"bytes_received", p.bytes_received},
                                  {"messages_sent", p.messages_sent},
                                  {"messages_received", p.messages_received}});
    }
    // Why peers left (bans included) and which peers are failing block
    // requests: what an operator asks first, and what tests read instead of
    // the log.
    json::array disconnects;
    for (const p2p::Disconnection& d : peers_->RecentDisconnects()) {
      disconnects.push_back(json::object{
          {"id", d.id.ToHex()},
          {"address", d.remote_address},
          {"reason", d.reason},
          {"banned", d.banned},
          {"at_unix_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                             d.at.time_since_epoch())
                             .count()}});
    }
    json::array bans;
    for (const p2p::BanInfo& b : peers_->Bans()) {
      bans.push_back(json::object{
          {"id", b.id.ToHex()}, {"reason", b.reason}, {"remaining_ms", b.remaining.count()}});
    }
    json::array strikes;
    for (const auto& [peer, record] : sync_strikes_) {
      strikes.push_back(json::object{{"id", peer.ToHex()}, {"strikes", record.count}});
    }
    return json::value(json::object{{"listen_port", peers_->listen_port()},
                                    {"peers", std::move(list)},
                                    {"recent_disconnects", std::move(disconnects)},
                                    {"bans", std::move(bans)},
                                    {"sync_strikes", std::move(strikes)}});
  });

  rpc::MetricsRegistry& m = rpc_->metrics();
  m.AddGaugeFunction("agora_height", "Last committed height",
                     [this] { return static_cast<double>(blocks_->height()); });
  m.AddGaugeFunction("agora_round", "Consensus round at the current height",
                     [this] { return static_cast<double>(core_->round()); });
  m.AddGaugeFunction("agora_peers", "Connected peers",
                     [this] { return static_cast<double>(peers_->Peers().size()); });
  m.AddGaugeFunction("agora_mempool_txs", "Transactions in the mempool",
                     [this] { return static_cast<double>(mempool_->size()); });
  committed_txs_ = &m.AddCounter("agora_committed_txs_total", "Transactions committed");
  evidence_ = &m.AddCounter("agora_evidence_total", "Equivocations seen");
  inbox_dropped_ = &m.AddCounter("agora_p2p_txs_dropped_total",
                                 "Gossiped transactions dropped because the inbox was full");
  m.AddGaugeFunction("agora_p2p_tx_inbox", "Gossiped transactions waiting for admission",
                     [this] { return static_cast<double>(tx_inbox_.size()); });
  commit_latency_ = &m.AddHistogram("agora_commit_latency_seconds",
                                    "Time from entering a height to committing it",
                                    {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30});
  tx_latency_ = &m.AddHistogram("agora_tx_submit_to_commit_seconds",
                                "Time from RPC submission to commit, on this node",
                                {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30});
  // The web page (docs/web.md): read-only, scripts only from this node, data
  // only through its public RPC; GET / is its index.
  constexpr std::string_view kPagePolicy =
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
      "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  for (const web::Asset& asset : web::Assets()) {
    const bool html = asset.content_type.starts_with("text/html");
    const std::string policy = html ? std::string(kPagePolicy) : "";
    rpc_->AddStaticFile(std::string(asset.path), std::string(asset.content_type),
                        std::string(asset.body), policy);
    if (asset.path == "/index.html") {
      rpc_->AddStaticFile("/", std::string(asset.content_type), std::string(asset.body), policy);
    }
  }
}

}  // namespace agora::node
