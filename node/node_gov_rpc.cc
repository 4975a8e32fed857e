// JSON-RPC methods over governance: proposals, proposal, tally
// (docs/rpc.md, docs/governance.md). Proposals, deposits and votes are
// transactions and go through tx_submit.
#include <initializer_list>

#include "consensus/ledger/gov.h"
#include "node/node_impl.h"

namespace agora::node {
namespace {

namespace gov = consensus::gov;

json::object TallyJson(const gov::Tally& t, const consensus::Params& p) {
  const gov::Verdict v = gov::Judge(t, p);
  return json::object{
      {"yes_uagr", t.yes},
      {"no_uagr", t.no},
      {"abstain_uagr", t.abstain},
      {"veto_uagr", t.veto},
      {"bonded_uagr", t.bonded},
      {"turnout_ppm", v.turnout_ppm},
      {"quorum_ppm", p.gov_quorum_ppm},
      {"quorum_met", v.quorum_met},
      {"yes_ppm", v.yes_ppm},
      {"no_ppm", v.no_ppm},
      {"threshold_ppm", p.gov_threshold_ppm},
      {"threshold_met", v.threshold_met},
      {"veto_ppm", v.veto_ppm},
      {"veto_threshold_ppm", p.gov_veto_ppm},
      {"vetoed", v.vetoed},
      {"outcome", gov::StatusName(v.status)},
  };
}

json::object ProposalJson(const gov::Proposal& p, const consensus::Params& params,
                          bool with_text) {
  json::array changes;
  for (const consensus::ParamChange& c : p.changes) {
    json::object change{{"name", c.name}, {"value", c.value}};
    if (std::optional<uint64_t> now = consensus::ParamValue(params, c.name)) change["current"] = *now;
    changes.push_back(std::move(change));
  }
  json::object out{
      {"id", p.id},
      {"title", p.title},
      {"status", gov::StatusName(p.status)},
      {"proposer", p.proposer.ToString()},
      {"changes", std::move(changes)},
      {"effective_height", p.effective_height},
      {"submit_height", p.submit_height},
      {"total_deposit_uagr", p.total_deposit_uagr},
      {"depositors", p.depositors},
      {"voters", p.voters},
  };
  if (with_text) out["text"] = p.text;
  if (p.status == gov::ProposalStatus::kDeposit) {
    out["deposit_end_height"] = p.deposit_end_height;
    out["deposit_min_uagr"] = params.gov_deposit_min_uagr;
  }
  if (p.voting_start_height != 0) {
    out["voting_start_height"] = p.voting_start_height;
    out["voting_end_height"] = p.voting_end_height;
  }
  if (!p.outcome.empty()) out["outcome"] = p.outcome;
  return out;
}

}  // namespace

void Node::Impl::RegisterGovRpc() {
  rpc_->RegisterSync("proposals", [this](const json::value& params) -> Result<json::value> {
    uint64_t before = 0, limit = 50;
    std::string status;
    if (!params.is_null()) {
      AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
      AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"before", "limit", "status"}));
      if (o->if_contains("before")) {
        AGORA_ASSIGN_OR_RETURN(before, U64Param(*o, "before"));
      }
      if (o->if_contains("limit")) {
        AGORA_ASSIGN_OR_RETURN(limit, U64Param(*o, "limit"));
      }
      if (o->if_contains("status")) {
        AGORA_ASSIGN_OR_RETURN(status, StringParam(*o, "status"));
      }
      if (limit == 0 || limit > 100) {
        return Status::InvalidArgument("params.limit must be 1..100");
      }
    }
    const consensus::Params p = app_->CurrentParams();
    // Filtering by status reads further back, within a bound.
    constexpr size_t kScanMax = 1000;
    json::array list;
    for (const gov::Proposal& prop :
         gov::ListProposals(app_->committed(), before, status.empty() ? limit : kScanMax)) {
      if (!status.empty() && gov::StatusName(prop.status) != status) continue;
      if (list.size() >= limit) break;
      list.push_back(ProposalJson(prop, p, /*with_text=*/false));
    }
    return json::value(json::object{{"height", blocks_->height()}, {"proposals", std::move(list)}});
  });
  rpc_->RegisterSync("proposal", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
    AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"id"}));
    AGORA_ASSIGN_OR_RETURN(uint64_t id, U64Param(*o, "id"));
    std::optional<gov::Proposal> prop = gov::GetProposal(app_->committed(), id);
    if (!prop) {
      return Status::NotFound("no proposal " + std::to_string(id) +
                              "; `agora query proposals` lists them");
    }
    json::object out = ProposalJson(*prop, app_->CurrentParams(), /*with_text=*/true);
    out["height"] = blocks_->height();
    return json::value(std::move(out));
  });
  rpc_->RegisterSync("tally", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
    AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"id"}));
    AGORA_ASSIGN_OR_RETURN(uint64_t id, U64Param(*o, "id"));
    std::optional<gov::Proposal> prop = gov::GetProposal(app_->committed(), id);
    if (!prop) {
      return Status::NotFound("no proposal " + std::to_string(id) +
                              "; `agora query proposals` lists them");
    }
    const uint64_t height = blocks_->height();
    const consensus::Params p = app_->CurrentParams();
    json::object out{{"id", id}, {"height", height}, {"status", gov::StatusName(prop->status)}};
    switch (prop->status) {
      case gov::ProposalStatus::kDeposit:
        out["final"] = false;
        out["note"] = "voting has not started: deposits " +
                      std::to_string(prop->total_deposit_uagr) + " of " +
                      std::to_string(p.gov_deposit_min_uagr) + " uagr";
        out["deposit_blocks_left"] =
            prop->deposit_end_height >= height ? prop->deposit_end_height - height : 0;
        break;
      case gov::ProposalStatus::kVoting:
        // The tally as it would be if voting ended now, with stakes as they
        // are now; the real one weighs stakes at the end.
        out["final"] = false;
        out["tally"] = TallyJson(gov::CurrentTally(app_->committed(), id), p);
        out["voters"] = prop->voters;
        out["voters_max"] = gov::kVotersMax;
        {
          // Votes a new voter may evict once the proposal is full.
          json::array below;
          for (const Address& a : gov::VotersBelowMinimum(app_->committed(), id, 16)) {
            below.push_back(json::value(a.ToString()));
          }
          out["voters_below_minimum"] = std::move(below);
        }
        out["voting_end_height"] = prop->voting_end_height;
        out["blocks_left"] =
            prop->voting_end_height >= height ? prop->voting_end_height - height : 0;
        break;
      case gov::ProposalStatus::kExpired:
        out["final"] = true;
        out["note"] = "never reached voting";
        break;
      default: {
        out["final"] = true;
        // Judged by the thresholds in force at the tally, not today's.
        consensus::Params then = p;
        then.gov_quorum_ppm = prop->quorum_ppm;
        then.gov_threshold_ppm = prop->threshold_ppm;
        then.gov_veto_ppm = prop->veto_ppm;
        json::object tally = TallyJson(prop->tally, then);
        const bool passed = prop->status == gov::ProposalStatus::kPassed ||
                            prop->status == gov::ProposalStatus::kApplied ||
                            prop->status == gov::ProposalStatus::kApplyFailed;
        tally["outcome"] = passed ? "passed" : gov::StatusName(prop->status);
        out["tally"] = std::move(tally);
        out["voting_end_height"] = prop->voting_end_height;
        out["blocks_left"] = 0;
        break;
      }
    }
    return json::value(std::move(out));
  });
}

}  // namespace agora::node
