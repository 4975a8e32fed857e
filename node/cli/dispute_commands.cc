#include "node/cli/dispute_commands.h"

#include <algorithm>

#include <boost/json.hpp>

#include "node/cli/cli_util.h"
#include "node/rpc/client.h"

namespace agora::node {
namespace {

namespace json = boost::json;

// One line: id, task and slot, the parties, where it stands.
std::string Line(const json::value& d) {
  std::string s = "#" + Str(d, "id") + "  task " + Str(d, "task") + " slot " + Str(d, "slot") +
                  "  " + Str(d, "phase");
  if (Str(d, "phase") == "closed") {
    s += " (" + Str(d, "outcome") + ")";
  } else if (d.at("turn").is_string()) {
    s += ", the " + Str(d, "turn") + "'s move by height " + Str(d, "due_height");
  }
  return s + "  moves " + Str(d, "moves") + ", " + Str(d, "bytes") + " bytes\n";
}

Status ListCmd(const GlobalOptions& g, bool open, const std::string& account, uint64_t from) {
  json::object params{{"open", open}};
  if (from != 0) params["from"] = from;
  if (!account.empty()) {
    AGORA_ASSIGN_OR_RETURN(Address a, ResolveAddress(g, account));
    params["account"] = a.ToString();
  }
  AGORA_ASSIGN_OR_RETURN(json::value v, rpc::RpcClient(NodeUrl(g)).Call("disputes", params));
  std::string human;
  for (const json::value& d : v.at("disputes").as_array()) human += Line(d);
  if (human.empty()) human = open ? "no open disputes\n" : "no disputes\n";
  if (const json::value* next = v.as_object().if_contains("next_from")) {
    human += "more: agora dispute list --from " + json::serialize(*next) +
             (account.empty() ? "" : " --account " + account) + "\n";
  }
  Print(g, v, human);
  return Status::Ok();
}

Status ShowCmd(const GlobalOptions& g, uint64_t id) {
  AGORA_ASSIGN_OR_RETURN(json::value d,
                         rpc::RpcClient(NodeUrl(g)).Call("dispute", json::object{{"id", id}}));
  std::string human = Line(d);
  human += "  provider  " + Str(d, "provider") + "\n  validator " + Str(d, "validator") +
           "  (opened by the " +
           std::string(Str(d, "opener") == Str(d, "provider") ? "provider" : "validator") +
           " at height " + Str(d, "opened_height") + ")\n";
  human += "  segment " + Str(d, "segment") + ": steps " + Str(d, "step_lo") + ".." +
           Str(d, "step_hi") + " in dispute";
  if (Str(d, "phase") != "steps") {
    human += "; operator records " + Str(d, "op_lo") + ".." + Str(d, "op_hi") + " of " +
             Str(d, "records");
  }
  human += "\n";
  if (d.as_object().contains("referee_kind")) {
    human += "  referees (" + Str(d, "referee_kind") + "):";
    for (const json::value& r : d.at("referees").as_array()) {
      human += " " + std::string(r.as_string());
    }
    const json::array& votes = d.at("votes").as_array();
    const auto shown = std::count_if(votes.begin(), votes.end(), [](const json::value& v) {
      return v.as_object().contains("witness");
    });
    human += "\n  votes " + std::to_string(votes.size()) + ", witnesses revealed " +
             std::to_string(shown) + "\n";
  }
  if (d.as_object().contains("reason")) human += "  " + Str(d, "reason") + "\n";
  Print(g, d, human);
  return Status::Ok();
}

}  // namespace

void AddDisputeCommands(CLI::App& app, GlobalOptions& global, std::function<Status()>& action) {
  CLI::App* dispute = app.add_subcommand(
      "dispute", "Disputes over a segment: bisection to one operator, settled by referees");
  dispute->require_subcommand(1);
  static bool open = false;
  static std::string account;
  static uint64_t id = 0;
  static uint64_t from = 0;
  auto* list = dispute->add_subcommand("list", "Disputes, oldest first");
  list->add_flag("--open", open, "Only those not closed");
  list->add_option("--account", account, "Only those naming this account (address or key name)");
  list->add_option("--from", from, "Start at this dispute id (a page holds 10,000)");
  list->callback([&] { action = [&] { return ListCmd(global, open, account, from); }; });
  auto* show = dispute->add_subcommand("show", "One dispute: the range in dispute, referees, outcome");
  show->add_option("id", id, "Dispute id")->required();
  show->callback([&] { action = [&] { return ShowCmd(global, id); }; });
}

}  // namespace agora::node
