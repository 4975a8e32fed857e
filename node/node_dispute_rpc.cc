// JSON-RPC methods over disputes (docs/dispute.md, docs/rpc.md): dispute
// (one, every field of the game) and disputes (a list, optionally only the
// open ones or those naming an account). Opening, moves and referee votes
// are transactions and go through tx_submit; the roles send them.
#include "consensus/ledger/dispute.h"
#include "common/encoding.h"
#include "node/node_impl.h"

namespace agora::node {
namespace {

namespace dp = consensus::dispute;

// A list is bounded; the open ones come from an index, so the roles' poll
// never scans closed disputes.
constexpr size_t kDisputesScannedMax = 10'000;

std::string_view KindName(dp::RefereeKind k) {
  switch (k) {
    case dp::RefereeKind::kNone: return "";
    case dp::RefereeKind::kOperator: return "operator";
    case dp::RefereeKind::kStep: return "step";
    case dp::RefereeKind::kLosses: return "losses";
    case dp::RefereeKind::kDelta: return "delta";
  }
  return "unknown";
}

json::object DisputeJson(const dp::Dispute& d) {
  json::object o{{"id", d.id},
                 {"task", std::to_string(d.task.job) + "/" + std::to_string(d.task.round) + "/" +
                              std::to_string(d.task.worker)},
                 {"job", d.task.job},
                 {"round", d.task.round},
                 {"worker", d.task.worker},
                 {"slot", d.slot},
                 {"verdict", d.verdict},
                 {"provider", d.provider.ToString()},
                 {"validator", d.validator.ToString()},
                 {"opener", d.opener.ToString()},
                 {"segment", d.segment},
                 {"segment_start", d.segment_start.ToHex()},
                 {"checkpoint_root", d.checkpoint_root.ToHex()},
                 {"phase", dp::PhaseName(d.phase)},
                 {"outcome", dp::OutcomeName(d.outcome)},
                 {"step_lo", d.step_lo},
                 {"step_hi", d.step_hi},
                 {"step_mid", d.step_mid()},
                 {"lo_hash", d.lo_hash.ToHex()},
                 {"hi_hash", d.hi_hash.ToHex()},
                 {"records", d.records},
                 {"op_lo", d.op_lo},
                 {"op_hi", d.op_hi},
                 {"op_mid", d.op_mid()},
                 {"op_lo_leaf", d.op_lo_leaf.ToHex()},
                 {"due_height", d.due_height},
                 {"opened_height", d.opened_height},
                 {"moves", d.moves},
                 {"bytes", d.bytes_moved}};
  if (std::optional<Address> t = d.turn()) {
    o["turn"] = *t == d.provider ? "provider" : "validator";
  } else {
    o["turn"] = nullptr;
  }
  if (d.pending) o["pending"] = d.pending->ToHex();
  if (d.op_hi_leaf) o["op_hi_leaf"] = d.op_hi_leaf->ToHex();
  if (!d.record_provider.empty()) o["record_provider"] = HexEncode(d.record_provider);
  if (!d.record_validator.empty()) o["record_validator"] = HexEncode(d.record_validator);
  if (d.referee_kind != dp::RefereeKind::kNone) {
    o["referee_kind"] = KindName(d.referee_kind);
    o["digest_provider"] = d.digest_provider.ToHex();
    o["digest_validator"] = d.digest_validator.ToHex();
    o["referee_draws"] = d.referee_draws;
    json::array referees, votes;
    for (const Address& a : d.referees) referees.push_back(json::value(a.ToString()));
    for (const dp::RefereeVoteRecord& v : d.votes) {
      json::object vote{{"referee", v.referee.ToString()},
                        {"digest", v.digest.ToHex()},
                        {"seal", v.seal.ToHex()},
                        {"height", v.height}};
      if (v.witness) vote["witness"] = v.witness->ToHex();
      votes.push_back(std::move(vote));
    }
    o["referees"] = std::move(referees);
    o["votes"] = std::move(votes);
  }
  if (d.phase == dp::Phase::kClosed) {
    o["closed_height"] = d.closed_height;
    o["reason"] = d.reason;
  }
  return o;
}

}  // namespace

void Node::Impl::RegisterDisputeRpc() {
  rpc_->RegisterSync("dispute", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
    AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"id"}));
    AGORA_ASSIGN_OR_RETURN(uint64_t id, U64Param(*o, "id"));
    std::optional<dp::Dispute> d = dp::GetDispute(app_->committed(), id);
    if (!d) {
      return Status::NotFound("no dispute " + std::to_string(id) +
                              "; `agora dispute list` lists them");
    }
    json::object out = DisputeJson(*d);
    out["height"] = blocks_->height();
    return json::value(std::move(out));
  });
  // {"open": true} only those not closed; {"account": ADDR} only those
  // where it is a party or a drawn referee.
  rpc_->RegisterSync("disputes", [this](const json::value& params) -> Result<json::value> {
    bool open_only = false;
    std::optional<Address> account;
    // All disputes are listed from id `from` on, oldest first, up to the
    // scan bound; `next_from` says where the next page starts. (Before
    // 2026-12-03 ids past the first 10,000 could not be listed at all.)
    uint64_t from = 1;
    if (!params.is_null()) {
      AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
      AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"open", "account", "from"}));
      if (o->if_contains("from")) {
        AGORA_ASSIGN_OR_RETURN(from, U64Param(*o, "from"));
        if (from == 0) return Status::InvalidArgument("params.from: dispute ids start at 1");
      }
      if (const json::value* v = o->if_contains("open")) {
        if (!v->is_bool()) return Status::InvalidArgument("params.open must be true or false");
        open_only = v->as_bool();
      }
      if (o->if_contains("account")) {
        AGORA_ASSIGN_OR_RETURN(std::string text, StringParam(*o, "account"));
        Result<Address> a = Address::Parse(text);
        if (!a.ok()) return Status::InvalidArgument("params.account: " + a.status().message());
        account = *a;
      }
    }
    if (open_only && from != 1) {
      return Status::InvalidArgument(
          "params.from pages through all disputes; the open ones are listed whole");
    }
    json::array list;
    const std::vector<dp::Dispute> found =
        open_only ? dp::OpenDisputes(app_->committed(), kDisputesScannedMax)
                  : dp::Disputes(app_->committed(), from, kDisputesScannedMax);
    for (const dp::Dispute& d : found) {
      if (account && d.provider != *account && d.validator != *account &&
          std::find(d.referees.begin(), d.referees.end(), *account) == d.referees.end()) {
        continue;
      }
      list.push_back(DisputeJson(d));
    }
    json::object out{{"height", blocks_->height()}, {"disputes", std::move(list)}};
    if (!open_only && found.size() == kDisputesScannedMax) out["next_from"] = found.back().id + 1;
    return json::value(std::move(out));
  });
}

}  // namespace agora::node
