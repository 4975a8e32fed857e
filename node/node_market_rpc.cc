// JSON-RPC methods over the market: providers, provider, jobs, job, tasks
// (docs/rpc.md, docs/market.md). Registering, posting and cancelling are
// transactions and go through tx_submit.
#include <bit>
#include <initializer_list>

#include "consensus/ledger/marketplace.h"
#include "consensus/ledger/staking.h"
#include "consensus/ledger/verification.h"
#include "market/pricing.h"
#include "node/node_impl.h"
#include "proto/tx.pb.h"

namespace agora::node {
namespace {

namespace mp = consensus::marketplace;

json::object ProviderJson(consensus::StateReader& state, const mp::Provider& p) {
  return json::object{
      {"address", p.address.ToString()},
      {"hardware_class", market::HardwareClassName(p.offer.hardware)},
      {"speed_wu_per_s", p.offer.speed_wu_per_s},
      {"capacity_tasks", p.offer.capacity_tasks},
      {"running", p.running},
      {"ask_uagr_per_wu", p.offer.ask_uagr_per_wu},
      {"blob_endpoint", p.offer.blob_endpoint},
      {"reputation_ppm", p.reputation_ppm},
      {"stake_uagr", consensus::staking::GetStake(state, p.address)},
      {"collateral_locked_uagr", consensus::staking::GetLocked(state, p.address)},
      {"registered_height", p.registered_height},
      {"tasks_passed", p.tasks_passed},
      {"tasks_late", p.tasks_late},
      {"tasks_failed", p.tasks_failed},
  };
}

json::object TaskJson(const mp::TaskId& id, const mp::Task& t) {
  json::object o{{"round", id.round},
                 {"worker", id.worker},
                 {"status", mp::TaskStatusName(t.status)},
                 {"attempts", t.attempts}};
  if (!t.excluded.empty()) {
    json::array excluded;
    for (const Address& a : t.excluded) excluded.push_back(json::value(a.ToString()));
    o["excluded"] = std::move(excluded);
  }
  if (t.provider) {
    o["provider"] = t.provider->ToString();
    o["price_uagr"] = t.price_uagr;
    o["collateral_uagr"] = t.collateral_uagr;
    o["assigned_height"] = t.assigned_height;
    o["deadline_height"] = t.deadline_height;
  }
  return o;
}

// The spec's canonical encoding (proto::JobSpec), hex: what a provider or
// validator decodes to run exactly the job the ledger holds, optimizer
// settings included.
std::string SpecPb(const market::JobSpec& spec) {
  proto::JobSpec p;
  consensus::EncodeJobSpec(spec, &p);
  return HexEncode(AsBytes(p.SerializeAsString()));
}

json::object JobJson(const mp::Job& j) {
  const market::JobSpec& s = j.spec;
  return json::object{
      {"spec_pb", SpecPb(s)},
      {"id", j.id},
      {"client", j.client.ToString()},
      {"title", j.title},
      {"status", mp::JobStatusName(j.status)},
      {"round", j.round},
      {"rounds", s.rounds},
      {"workers", s.workers},
      {"round_passed", j.round_passed},
      {"running", j.running},
      {"work_wu_per_task", j.work_wu},
      {"price_max_uagr_per_wu", j.price_max_uagr_per_wu},
      {"deadline_blocks_max", j.deadline_blocks_max},
      {"budget_uagr", j.budget_uagr},
      {"escrow_uagr", j.escrow_uagr},
      {"locked_uagr", j.locked_uagr},
      {"paid_uagr", j.paid_uagr},
      {"refunded_uagr", j.refunded_uagr},
      {"aggregation_fee_uagr", j.aggregation_fee_uagr},
      {"posted_height", j.posted_height},
      {"ended_height", j.ended_height},
      {"outcome", j.outcome},
      {"spec",
       json::object{{"vocab", s.vocab},
                    {"context", s.context},
                    {"layers", s.layers},
                    {"heads", s.heads},
                    {"width", s.width},
                    {"batch", s.batch},
                    {"dataset_hash", s.dataset_hash.ToHex()},
                    {"dataset_bytes", s.dataset_bytes},
                    {"seed", s.seed},
                    {"inner_steps", s.inner_steps},
                    {"checkpoint_interval", s.checkpoint_interval},
                    {"tier", market::TierName(s.tier)},
                    {"hardware_class", market::HardwareClassName(s.hardware)},
                    {"spot_checks", s.spot_checks}}},
  };
}

Result<uint64_t> JobId(const json::value& params) {
  AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
  AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"id"}));
  return U64Param(*o, "id");
}

}  // namespace

void Node::Impl::RegisterMarketRpc() {
  rpc_->RegisterSync("providers", [this](const json::value& params) -> Result<json::value> {
    uint64_t limit = 100;
    if (!params.is_null()) {
      AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
      AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"limit"}));
      if (o->if_contains("limit")) {
        AGORA_ASSIGN_OR_RETURN(limit, U64Param(*o, "limit"));
      }
      if (limit == 0 || limit > 1000) return Status::InvalidArgument("params.limit must be 1..1000");
    }
    json::array list;
    for (const mp::Provider& p : mp::ListProviders(app_->committed(), limit)) {
      list.push_back(ProviderJson(app_->committed(), p));
    }
    return json::value(json::object{{"height", blocks_->height()}, {"providers", std::move(list)}});
  });
  rpc_->RegisterSync("provider", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
    AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"address"}));
    AGORA_ASSIGN_OR_RETURN(std::string text, StringParam(*o, "address"));
    auto address = Address::Parse(text);
    if (!address.ok()) return Status::InvalidArgument("address: " + address.status().message());
    std::optional<mp::Provider> p = mp::GetProvider(app_->committed(), *address);
    if (!p) {
      return Status::NotFound(text + " is not a provider; `agora provider register` makes one");
    }
    json::object out = ProviderJson(app_->committed(), *p);
    out["height"] = blocks_->height();
    return json::value(std::move(out));
  });
  rpc_->RegisterSync("jobs", [this](const json::value& params) -> Result<json::value> {
    uint64_t before = 0, limit = 50;
    std::string status, client;
    // {"ended": false}: the jobs not closed yet, whatever their status: open,
    // running, and cancelled or failed ones whose running tasks still train
    // and get verified (the roles read these).
    std::optional<bool> ended;
    if (!params.is_null()) {
      AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
      AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"before", "limit", "status", "client", "ended"}));
      if (const json::value* e = o->if_contains("ended")) {
        if (!e->is_bool()) return Status::InvalidArgument("params.ended must be true or false");
        ended = e->as_bool();
      }
      if (o->if_contains("before")) {
        AGORA_ASSIGN_OR_RETURN(before, U64Param(*o, "before"));
      }
      if (o->if_contains("limit")) {
        AGORA_ASSIGN_OR_RETURN(limit, U64Param(*o, "limit"));
      }
      if (o->if_contains("status")) {
        AGORA_ASSIGN_OR_RETURN(status, StringParam(*o, "status"));
        bool known = false;
        for (uint32_t s = 1; s <= 5; ++s) known |= mp::JobStatusName(static_cast<mp::JobStatus>(s)) == status;
        if (!known) {
          return Status::InvalidArgument(
              "params.status must be open, running, finished, cancelled or failed");
        }
      }
      if (o->if_contains("client")) {
        AGORA_ASSIGN_OR_RETURN(client, StringParam(*o, "client"));
        auto parsed = Address::Parse(client);
        if (!parsed.ok()) return Status::InvalidArgument("params.client: not an address");
        client = parsed->ToString();  // canonical form
      }
      if (limit == 0 || limit > 100) return Status::InvalidArgument("params.limit must be 1..100");
    }
    // Filters read further back, within a bound.
    constexpr size_t kScanMax = 1000;
    const bool filtered = !status.empty() || !client.empty() || ended.has_value();
    const size_t scan = filtered ? kScanMax : limit;
    const std::vector<mp::Job> scanned = mp::ListJobs(app_->committed(), before, scan);
    json::array list;
    // Where a next call goes on (`before` is inclusive), when this one
    // stopped before the oldest job: a page filled up, or the scan bound.
    uint64_t next_before = 0;
    for (const mp::Job& j : scanned) {
      if (!status.empty() && mp::JobStatusName(j.status) != status) continue;
      if (!client.empty() && j.client.ToString() != client) continue;
      if (ended && (j.ended_height != 0) != *ended) continue;
      if (list.size() >= limit) {
        next_before = j.id;
        break;
      }
      json::object o = JobJson(j);
      o.erase("spec");
      list.push_back(std::move(o));
    }
    if (next_before == 0 && scanned.size() == scan && scanned.back().id > 1) {
      next_before = scanned.back().id - 1;
    }
    json::object out{{"height", blocks_->height()}, {"jobs", std::move(list)}};
    if (next_before != 0) out["next_before"] = next_before;
    return json::value(std::move(out));
  });
  rpc_->RegisterSync("job", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(uint64_t id, JobId(params));
    std::optional<mp::Job> j = mp::GetJob(app_->committed(), id);
    if (!j) return Status::NotFound("no job " + std::to_string(id) + "; `agora job list` lists them");
    json::object out = JobJson(*j);
    json::array tasks;
    for (const auto& [tid, t] : mp::RoundTasks(app_->committed(), id, j->round)) {
      tasks.push_back(TaskJson(tid, t));
    }
    out["current_round_tasks"] = std::move(tasks);
    // The verified loss curve: each round's validation loss as two sampled
    // validators recorded it (round_results has the details).
    json::array curve;
    for (const consensus::verification::RoundRecord& r :
         consensus::verification::RoundsOf(app_->committed(), id, 10'000)) {
      if (!r.recorded && !r.abandoned) {
        // Between rounds the job waits for this record (round_results).
        json::array awaiting;
        for (const Address& a : r.assignees) awaiting.push_back(json::value(a.ToString()));
        out["recording"] = json::object{{"round", r.round},
                                        {"results", r.results.size()},
                                        {"awaiting", std::move(awaiting)}};
      }
      if (!r.recorded) continue;
      curve.push_back(json::object{
          {"round", r.round},
          {"validation_loss", static_cast<double>(std::bit_cast<float>(r.validation_loss))},
          {"params_hash", r.params_hash.ToHex()}});
    }
    out["verified_rounds"] = std::move(curve);
    out["height"] = blocks_->height();
    return json::value(std::move(out));
  });
  // Every task of a job so far, a round at a time: {id, round?} (default:
  // every round up to the current one, at most 100 rounds per call).
  rpc_->RegisterSync("tasks", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
    AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"id", "from_round"}));
    AGORA_ASSIGN_OR_RETURN(uint64_t id, U64Param(*o, "id"));
    uint64_t from = 0;
    if (o->if_contains("from_round")) {
      AGORA_ASSIGN_OR_RETURN(from, U64Param(*o, "from_round"));
    }
    std::optional<mp::Job> j = mp::GetJob(app_->committed(), id);
    if (!j) return Status::NotFound("no job " + std::to_string(id));
    constexpr uint64_t kRoundsPerCall = 100;
    json::array tasks;
    uint64_t r = from;
    for (; r <= j->round && r < from + kRoundsPerCall; ++r) {
      for (const auto& [tid, t] : mp::RoundTasks(app_->committed(), id, static_cast<uint32_t>(r))) {
        tasks.push_back(TaskJson(tid, t));
      }
    }
    json::object out{{"height", blocks_->height()}, {"job", id}, {"tasks", std::move(tasks)}};
    if (r <= j->round) out["next_round"] = r;  // call again with from_round
    return json::value(std::move(out));
  });
}

}  // namespace agora::node
