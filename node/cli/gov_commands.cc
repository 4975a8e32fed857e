#include "node/cli/gov_commands.h"

#include <boost/json.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/encoding.h"
#include "consensus/ledger/params.h"
#include "node/cli/cli_util.h"
#include "node/rpc/client.h"

namespace agora::node {
namespace {

namespace json = boost::json;

std::string Percent(uint64_t ppm) {
  std::string frac = std::to_string(ppm % 10'000 / 100);
  frac.insert(0, 2 - frac.size(), '0');
  return std::to_string(ppm / 10'000) + "." + frac + "%";
}

uint64_t U64(const json::value& v, std::string_view key) {
  const json::value* x = v.as_object().if_contains(key);
  return x == nullptr ? 0 : x->to_number<uint64_t>();
}

// "consensus.timeout_propose_ms=800"
Result<consensus::ParamChange> ParseChange(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    return Status::InvalidArgument("--change '" + text +
                                   "': write NAME=VALUE, e.g. consensus.timeout_propose_ms=800 "
                                   "(`agora query params` lists the names)");
  }
  const std::string value = text.substr(eq + 1);
  uint64_t v = 0;
  size_t used = 0;
  try {
    if (value.find_first_not_of("0123456789") != std::string::npos) throw std::invalid_argument("");
    v = std::stoull(value, &used);
  } catch (const std::exception&) {
    return Status::InvalidArgument("--change '" + text + "': the value must be a whole number");
  }
  return consensus::ParamChange{text.substr(0, eq), v};
}

Status Propose(const GlobalOptions& g, const TxOptions& t, const std::vector<std::string>& changes,
               const std::string& title, std::string text, const std::string& text_file,
               uint64_t deposit, uint64_t effective_height) {
  consensus::MsgSubmitProposal msg;
  for (const std::string& c : changes) {
    AGORA_ASSIGN_OR_RETURN(consensus::ParamChange change, ParseChange(c));
    msg.changes.push_back(std::move(change));
  }
  if (!text_file.empty()) {
    std::ifstream in(text_file, std::ios::binary);
    if (!in) return Status::NotFound("cannot read --text-file " + text_file);
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  msg.title = title;
  msg.text = std::move(text);
  msg.deposit_uagr = deposit;
  rpc::RpcClient client(NodeUrl(g));
  if (effective_height == 0) {
    // Soon after the earliest end of voting (if the deposit starts voting
    // now), with room for the transaction to be included.
    AGORA_ASSIGN_OR_RETURN(json::value status, client.Call("status"));
    AGORA_ASSIGN_OR_RETURN(json::value params, client.Call("params"));
    uint64_t voting_blocks = 0;
    for (const json::value& p : params.at("params").as_array()) {
      if (p.at("name").as_string() == "gov.voting_blocks") voting_blocks = U64(p, "value");
    }
    effective_height = U64(status, "height") + voting_blocks + 10;
    if (!g.json) {
      std::cerr << "effective height not given: using " << effective_height
                << " (now + gov.voting_blocks + 10)\n";
    }
  }
  msg.effective_height = effective_height;
  // The node checks all of it again; checking here gives the error before
  // a fee is spent.
  for (const consensus::ParamChange& c : msg.changes) {
    Status s = consensus::ValidateParam(c.name, c.value);
    if (!s.ok()) return s;
  }
  return SendTx(g, t, msg);
}

Result<consensus::VoteOption> ParseOption(const std::string& s) {
  if (s == "yes") return consensus::VoteOption::kYes;
  if (s == "no") return consensus::VoteOption::kNo;
  if (s == "abstain") return consensus::VoteOption::kAbstain;
  if (s == "veto" || s == "no_with_veto") return consensus::VoteOption::kVeto;
  return Status::InvalidArgument("vote '" + s + "': choose yes, no, abstain or veto");
}

std::string ChangesText(const json::value& p) {
  std::string out;
  for (const json::value& c : p.at("changes").as_array()) {
    out += "    " + Str(c, "name") + " = " + Str(c, "value") + "  (now " + Str(c, "current") + ")\n";
  }
  return out;
}

Status QueryProposals(const GlobalOptions& g, const std::string& status, uint64_t limit) {
  json::object params{{"limit", limit}};
  if (!status.empty()) params["status"] = status;
  AGORA_ASSIGN_OR_RETURN(json::value v, rpc::RpcClient(NodeUrl(g)).Call("proposals", params));
  std::string human;
  for (const json::value& p : v.at("proposals").as_array()) {
    human += "#" + Str(p, "id") + "  " + Str(p, "status") + "  effective at " +
             Str(p, "effective_height") + "  \"" + Str(p, "title") + "\"\n" + ChangesText(p);
  }
  if (human.empty()) human = "no proposals" + (status.empty() ? "" : " with status " + status) + "\n";
  Print(g, v, human);
  return Status::Ok();
}

Status QueryProposal(const GlobalOptions& g, uint64_t id) {
  AGORA_ASSIGN_OR_RETURN(json::value v,
                         rpc::RpcClient(NodeUrl(g)).Call("proposal", json::object{{"id", id}}));
  std::string human = "proposal #" + Str(v, "id") + ": " + Str(v, "title") + "\n" +
                      "  status     " + Str(v, "status") + "\n" + "  proposer   " +
                      Str(v, "proposer") + "\n" + "  changes\n" + ChangesText(v) +
                      "  effective  height " + Str(v, "effective_height") + "\n" +
                      "  submitted  height " + Str(v, "submit_height") + "\n" + "  deposits   " +
                      Str(v, "total_deposit_uagr") + " uagr from " + Str(v, "depositors") +
                      " account(s)";
  if (v.as_object().if_contains("deposit_min_uagr")) {
    human += " (voting starts at " + Str(v, "deposit_min_uagr") + "; deposit period ends at height " +
             Str(v, "deposit_end_height") + ")";
  }
  human += "\n";
  if (v.as_object().if_contains("voting_end_height")) {
    human += "  voting     heights " + Str(v, "voting_start_height") + " to " +
             Str(v, "voting_end_height") + ", " + Str(v, "voters") + " voter(s)\n";
  }
  if (v.as_object().if_contains("outcome")) human += "  outcome    " + Str(v, "outcome") + "\n";
  if (!Str(v, "text").empty() && Str(v, "text") != "-") human += "\n" + Str(v, "text") + "\n";
  Print(g, v, human);
  return Status::Ok();
}

Status QueryTally(const GlobalOptions& g, uint64_t id) {
  AGORA_ASSIGN_OR_RETURN(json::value v,
                         rpc::RpcClient(NodeUrl(g)).Call("tally", json::object{{"id", id}}));
  std::string human = "proposal #" + Str(v, "id") + ": " + Str(v, "status");
  const json::object& o = v.as_object();
  if (o.if_contains("note")) human += " (" + Str(v, "note") + ")";
  if (o.if_contains("deposit_blocks_left")) {
    human += ", deposit period ends in " + Str(v, "deposit_blocks_left") + " blocks";
  }
  if (o.if_contains("blocks_left") && !v.at("final").as_bool()) {
    human += ", voting ends at height " + Str(v, "voting_end_height") + " (" +
             Str(v, "blocks_left") + " blocks left)";
  }
  human += "\n";
  if (o.if_contains("voters")) {
    human += "  voters   " + Str(v, "voters") + " of at most " + Str(v, "voters_max") + "\n";
    for (const json::value& a : v.at("voters_below_minimum").as_array()) {
      human += "  below the voter minimum now (a new voter may --evict it): " +
               std::string(a.as_string()) + "\n";
    }
  }
  if (const json::value* t = o.if_contains("tally")) {
    auto met = [&](std::string_view key) { return t->at(key).as_bool() ? "met" : "not met"; };
    human += "  turnout  " + Percent(U64(*t, "turnout_ppm")) + " of bonded stake (quorum " +
             Percent(U64(*t, "quorum_ppm")) + ": " + met("quorum_met") + ")\n";
    human += "  yes      " + Percent(U64(*t, "yes_ppm")) + " of yes/no/veto (must exceed " +
             Percent(U64(*t, "threshold_ppm")) + ": " + met("threshold_met") + ")\n";
    human += "  no       " + Percent(U64(*t, "no_ppm")) + " of yes/no/veto\n";
    human += "  veto     " + Percent(U64(*t, "veto_ppm")) + " of all votes (vetoed at " +
             Percent(U64(*t, "veto_threshold_ppm")) + ": " +
             (t->at("vetoed").as_bool() ? "vetoed" : "not vetoed") + ")\n";
    human += "  stake    yes " + Str(*t, "yes_uagr") + ", no " + Str(*t, "no_uagr") + ", abstain " +
             Str(*t, "abstain_uagr") + ", veto " + Str(*t, "veto_uagr") + " of " +
             Str(*t, "bonded_uagr") + " uagr bonded\n";
    human += std::string(v.at("final").as_bool() ? "  result   " : "  if voting ended now: ") +
             Str(*t, "outcome") + "\n";
  }
  Print(g, v, human);
  return Status::Ok();
}

}  // namespace

void AddGovCommands(CLI::App& app, GlobalOptions& global, std::function<Status()>& action) {
  static TxOptions tx_options;
  static std::vector<std::string> changes;
  static std::string title, text, text_file, option, status;
  static uint64_t deposit = 0, effective_height = 0, id = 0, amount = 0, limit = 50;

  CLI::App* gov = app.add_subcommand("gov", "Governance: propose parameter changes, deposit, vote");
  gov->require_subcommand(1);
  auto* propose = gov->add_subcommand(
      "propose", "Propose parameter changes (`agora query params` lists names and bounds)");
  propose->add_option("--change", changes, "NAME=VALUE, e.g. consensus.timeout_propose_ms=800")
      ->required();
  propose->add_option("--title", title, "One line, 1..140 characters")->required();
  auto* text_opt = propose->add_option("--text", text, "The case for it (up to 2000 characters)");
  propose->add_option("--text-file", text_file, "Read the text from FILE")->excludes(text_opt);
  propose->add_option("--deposit", deposit,
                      "First deposit in uagr; voting starts once deposits reach "
                      "gov.deposit_min_uagr")
      ->required();
  propose->add_option("--effective-height", effective_height,
                      "Height at which the changes apply if it passes (at least the end of "
                      "voting; default: now + gov.voting_blocks + 10)");
  AddSignerOptions(propose, tx_options);
  propose->callback([&] {
    action = [&] {
      return Propose(global, tx_options, changes, title, text, text_file, deposit,
                     effective_height);
    };
  });
  auto* dep = gov->add_subcommand("deposit", "Add to a proposal's deposit");
  dep->add_option("id", id, "Proposal id")->required();
  dep->add_option("amount", amount, "Amount in uagr")->required();
  AddSignerOptions(dep, tx_options);
  dep->callback([&] {
    action = [&] { return SendTx(global, tx_options, consensus::MsgDeposit{id, amount}); };
  });
  auto* vote = gov->add_subcommand("vote", "Vote with your bonded stake (a new vote replaces the last)");
  vote->add_option("id", id, "Proposal id")->required();
  vote->add_option("option", option, "yes, no, abstain or veto")->required();
  static std::string evict;
  vote->add_option("--evict", evict,
                   "A voter of the proposal now below the voter minimum whose slot this vote "
                   "takes, when the proposal is full (`agora query tally ID` lists them)");
  AddSignerOptions(vote, tx_options);
  vote->callback([&] {
    action = [&]() -> Status {
      AGORA_ASSIGN_OR_RETURN(consensus::VoteOption o, ParseOption(option));
      consensus::MsgVote m{id, o};
      if (!evict.empty()) {
        AGORA_ASSIGN_OR_RETURN(Address a, ResolveAddress(global, evict));
        m.evict = a;
      }
      return SendTx(global, tx_options, m);
    };
  });

  CLI::App* query = app.get_subcommand("query");
  auto* proposals = query->add_subcommand("proposals", "Proposals, newest first");
  proposals->add_option("--status", status,
                        "Only deposit, voting, passed, rejected, vetoed, no_quorum, expired, "
                        "applied or apply_failed");
  proposals->add_option("--limit", limit, "At most this many (1..100)")->capture_default_str();
  proposals->callback([&] { action = [&] { return QueryProposals(global, status, limit); }; });
  auto* proposal = query->add_subcommand("proposal", "One proposal in full");
  proposal->add_option("id", id, "Proposal id")->required();
  proposal->callback([&] { action = [&] { return QueryProposal(global, id); }; });
  auto* tally = query->add_subcommand(
      "tally", "Turnout and yes/no/veto shares against the thresholds, and blocks left");
  tally->add_option("id", id, "Proposal id")->required();
  tally->callback([&] { action = [&] { return QueryTally(global, id); }; });
}

}  // namespace agora::node
