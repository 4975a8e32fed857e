// JSON-RPC methods over verification (docs/rpc.md, docs/verify.md):
// task (commitment, sampled slots, verdicts), verdicts, round_results (the
// job's verified loss curve). Commits, verdicts and round results are
// transactions and go through tx_submit.
#include <bit>
#include <cmath>
#include <cstring>
#include <initializer_list>

#include "consensus/ledger/marketplace.h"
#include "consensus/ledger/verification.h"
#include "node/node_impl.h"

namespace agora::node {
namespace {

namespace mp = consensus::marketplace;
namespace vf = consensus::verification;

// A loss as a JSON number, or null when the bits are not a finite float
// (a provider chooses its losses; JSON has no NaN or infinity).
json::value LossJson(uint32_t bits) {
  const float f = std::bit_cast<float>(bits);
  if (!std::isfinite(f)) return nullptr;
  return static_cast<double>(f);
}

std::string_view OutcomeName(consensus::VerdictOutcome o) {
  switch (o) {
    case consensus::VerdictOutcome::kPass: return "pass";
    case consensus::VerdictOutcome::kFail: return "fail";
    case consensus::VerdictOutcome::kUnavailable: return "unavailable";
  }
  return "unknown";
}

std::string_view ReasonName(consensus::FailReason r) {
  switch (r) {
    case consensus::FailReason::kNone: return "";
    case consensus::FailReason::kEndState: return "end_state";
    case consensus::FailReason::kLosses: return "losses";
    case consensus::FailReason::kDelta: return "delta";
  }
  return "unknown";
}

std::string_view SlotStateName(vf::SlotState s) {
  switch (s) {
    case vf::SlotState::kPending: return "pending";
    case vf::SlotState::kPassed: return "passed";
    case vf::SlotState::kFailed: return "failed";
  }
  return "unknown";
}

// `sealed`: its witness hash is a seal (vf::SealedWitnesses), not the
// witness in the clear.
json::object VerdictJson(const vf::VerdictRecord& v, bool sealed) {
  json::object o{{"validator", v.validator.ToString()},
                 {"outcome", OutcomeName(v.outcome)},
                 {"height", v.height}};
  if (v.reason != consensus::FailReason::kNone) o["reason"] = ReasonName(v.reason);
  if (v.overturned) o["overturned"] = true;  // lost, or undecided, in a dispute
  if (v.outcome != consensus::VerdictOutcome::kUnavailable) {
    o["replayed_end"] = v.replayed_end.ToHex();
    o["witness_hash"] = v.witness_hash.ToHex();
    o["witness_sealed"] = sealed && !v.witness_hash.IsZero();
  }
  return o;
}

json::object SlotJson(uint32_t index, const vf::Slot& s) {
  json::object o{{"slot", index}, {"state", SlotStateName(s.state)}, {"draws", s.draws}};
  if (s.chosen) {
    o["segment"] = s.segment;
    o["witness_step"] = s.witness_step;
  }
  if (s.assignee) {
    o["awaiting"] = s.assignee->ToString();
    o["due_height"] = s.due_height;
  }
  json::array verdicts;
  const std::vector<bool> sealed = vf::SealedWitnesses(s);
  for (size_t i = 0; i < s.verdicts.size(); ++i) {
    verdicts.push_back(VerdictJson(s.verdicts[i], sealed[i]));
  }
  o["verdicts"] = std::move(verdicts);
  json::array missed;
  for (const Address& a : s.missed) missed.push_back(json::value(a.ToString()));
  o["missed"] = std::move(missed);
  if (s.dispute != 0) o["dispute"] = s.dispute;  // the slot waits for it
  return o;
}

json::object RoundJson(const vf::RoundRecord& r) {
  json::object o{{"round", r.round}, {"recorded", r.recorded}};
  if (r.recorded) {
    o["params_hash"] = r.params_hash.ToHex();
    o["validation_loss"] = LossJson(r.validation_loss);
    o["validation_loss_bits"] = r.validation_loss;
    o["recorded_height"] = r.recorded_height;
    json::array starts;
    for (const Hash256& h : r.start_hashes) starts.push_back(json::value(h.ToHex()));
    o["start_hashes"] = std::move(starts);
  }
  o["abandoned"] = r.abandoned;
  o["fee_uagr"] = r.fee_uagr;
  json::array awaiting;
  for (const Address& a : r.assignees) awaiting.push_back(json::value(a.ToString()));
  o["awaiting"] = std::move(awaiting);
  if (!r.recorded && !r.abandoned) o["due_height"] = r.due_height;
  json::array results;
  for (const vf::RoundResultRecord& x : r.results) {
    json::object e{{"validator", x.validator.ToString()}, {"height", x.height}};
    if (x.unavailable) {
      e["unavailable"] = x.unavailable->ToHex();
    } else if (x.commitment) {
      e["commitment"] = x.commitment->ToHex();
    } else {
      e["params_hash"] = x.params_hash.ToHex();
      e["validation_loss"] = LossJson(x.validation_loss);
    }
    results.push_back(std::move(e));
  }
  o["results"] = std::move(results);
  return o;
}

Result<mp::TaskId> TaskParam(const json::value& params) {
  AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
  AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"job", "round", "worker"}));
  AGORA_ASSIGN_OR_RETURN(uint64_t job, U64Param(*o, "job"));
  AGORA_ASSIGN_OR_RETURN(uint64_t round, U64Param(*o, "round"));
  AGORA_ASSIGN_OR_RETURN(uint64_t worker, U64Param(*o, "worker"));
  if (round > UINT32_MAX || worker > UINT32_MAX) {
    return Status::InvalidArgument("params.round and params.worker are 32-bit");
  }
  return mp::TaskId{job, static_cast<uint32_t>(round), static_cast<uint32_t>(worker)};
}

std::string Name(const mp::TaskId& id) {
  return std::to_string(id.job) + "/" + std::to_string(id.round) + "/" + std::to_string(id.worker);
}

}  // namespace

void Node::Impl::RegisterVerifyRpc() {
  // One task: its market record, its commitment and its sampled slots.
  rpc_->RegisterSync("task", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(mp::TaskId id, TaskParam(params));
    consensus::StateReader& state = app_->committed();
    std::optional<mp::Task> t = mp::GetTask(state, id);
    if (!t) {
      return Status::NotFound("no task " + Name(id) + "; `agora job status ID` lists a job's tasks");
    }
    json::object out{{"height", blocks_->height()},
                     {"task", Name(id)},
                     {"status", mp::TaskStatusName(t->status)},
                     {"attempts", t->attempts}};
    if (t->provider) {
      out["provider"] = t->provider->ToString();
      out["price_uagr"] = t->price_uagr;
      out["collateral_uagr"] = t->collateral_uagr;
      out["deadline_height"] = t->deadline_height;
    }
    if (!t->excluded.empty()) {
      json::array excluded;
      for (const Address& a : t->excluded) excluded.push_back(json::value(a.ToString()));
      out["excluded"] = std::move(excluded);
    }
    std::optional<vf::Commitment> c = vf::GetCommitment(state, id);
    if (c) {
      json::array losses, losses_bits;
      for (uint32_t l : c->losses) {
        losses.push_back(LossJson(l));
        losses_bits.push_back(l);
      }
      out["commitment"] = json::object{{"provider", c->provider.ToString()},
                                       {"checkpoint_root", c->checkpoint_root.ToHex()},
                                       {"delta_hash", c->delta_hash.ToHex()},
                                       {"height", c->height},
                                       {"losses", std::move(losses)},
                                       {"losses_bits", std::move(losses_bits)},
                                       {"slots", c->slots},
                                       {"slots_passed", c->slots_passed},
                                       {"settle_height", c->settle_height}};
      json::array slots;
      const std::vector<vf::Slot> list = vf::GetSlots(state, id, c->slots);
      for (uint32_t k = 0; k < list.size(); ++k) slots.push_back(SlotJson(k, list[k]));
      out["slots"] = std::move(slots);
    }
    return json::value(std::move(out));
  });
  // Every verdict on a task's current commitment, in slot then arrival order.
  rpc_->RegisterSync("verdicts", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(mp::TaskId id, TaskParam(params));
    consensus::StateReader& state = app_->committed();
    std::optional<vf::Commitment> c = vf::GetCommitment(state, id);
    if (!c) return Status::NotFound("task " + Name(id) + " has no commitment yet");
    json::array list;
    const std::vector<vf::Slot> slots = vf::GetSlots(state, id, c->slots);
    for (uint32_t k = 0; k < slots.size(); ++k) {
      const std::vector<bool> sealed = vf::SealedWitnesses(slots[k]);
      for (size_t i = 0; i < slots[k].verdicts.size(); ++i) {
        json::object o = VerdictJson(slots[k].verdicts[i], sealed[i]);
        o["slot"] = k;
        o["segment"] = slots[k].segment;
        list.push_back(std::move(o));
      }
    }
    return json::value(
        json::object{{"height", blocks_->height()}, {"task", Name(id)}, {"verdicts", std::move(list)}});
  });
  // The job's rounds as verification recorded them: the verified loss curve.
  rpc_->RegisterSync("round_results", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
    AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"job"}));
    AGORA_ASSIGN_OR_RETURN(uint64_t job, U64Param(*o, "job"));
    if (!mp::GetJob(app_->committed(), job)) {
      return Status::NotFound("no job " + std::to_string(job) + "; `agora job list` lists them");
    }
    json::array rounds;
    for (const vf::RoundRecord& r : vf::RoundsOf(app_->committed(), job, 10'000)) {
      rounds.push_back(RoundJson(r));
    }
    return json::value(
        json::object{{"height", blocks_->height()}, {"job", job}, {"rounds", std::move(rounds)}});
  });
}

}  // namespace agora::node
