#include "consensus/ledger/marketplace.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/check.h"
#include "common/proto_codec.h"
#include "consensus/ledger/records.h"
#include "consensus/ledger/bank.h"
#include "consensus/ledger/staking.h"
#include "market/pricing.h"
#include "market/scheduler.h"
#include "proto/state.pb.h"
#include "proto/tx.pb.h"

namespace agora::consensus::marketplace {
namespace {

constexpr std::string_view kProviderPrefix = "market/prov/";
constexpr std::string_view kFreePrefix = "market/free/";
constexpr std::string_view kNextJobKey = "market/next_job";
constexpr std::string_view kTaskPrefix = "market/task/";
constexpr std::string_view kOpenPrefix = "market/open/";
constexpr std::string_view kTenantPrefix = "market/tenant/";
constexpr std::string_view kDeadlinePrefix = "market/deadline/";
constexpr std::string_view kCursorKey = "market/cursor";
constexpr std::string_view kExpirePrefix = "market/expire/";
constexpr std::string_view kRepPrefix = "market/rep/";
constexpr std::string_view kSkipPrefix = "market/skip/";
// Deadlines due at one height: an assignment whose deadline height is full
// moves to the next one with room, so one EndBlock handles at most this
// many misses.
constexpr size_t kDeadlinesPerHeightMax = 1'024;

std::string WithAddress(std::string s, const Address& a) { return WithBytes(std::move(s), a.bytes()); }
std::string TaskSuffix(const TaskId& t) { return WithU32(WithU32(WithU64("", t.job), t.round), t.worker); }
std::string ProviderKey(const Address& a) { return WithAddress(std::string(kProviderPrefix), a); }
std::string FreeKey(const Address& a) { return WithAddress(std::string(kFreePrefix), a); }
std::string JobKey(uint64_t id) { return WithU64(std::string(kJobPrefix), id); }
std::string TaskKey(const TaskId& t) { return std::string(kTaskPrefix) + TaskSuffix(t); }
std::string OpenKey(const Address& client, const TaskId& t) {
  return WithAddress(std::string(kOpenPrefix), client) + TaskSuffix(t);
}
std::string TenantKey(const Address& client) { return WithAddress(std::string(kTenantPrefix), client); }
std::string ExpireKey(uint64_t height, uint64_t job) {
  return WithU64(WithU64(std::string(kExpirePrefix), height), job);
}
std::string RepKey(const Address& a) { return WithAddress(std::string(kRepPrefix), a); }
std::string SkipKey(const Address& client) { return WithAddress(std::string(kSkipPrefix), client); }
std::string DeadlineKey(uint64_t height, const TaskId& t) {
  return WithU64(std::string(kDeadlinePrefix), height) + TaskSuffix(t);
}
TaskId TaskIdAt(ByteSpan b) {
  AGORA_CHECK(b.size() >= 16);
  const auto u32 = [&](size_t o) {
    return static_cast<uint32_t>(b[o]) << 24 | static_cast<uint32_t>(b[o + 1]) << 16 |
           static_cast<uint32_t>(b[o + 2]) << 8 | static_cast<uint32_t>(b[o + 3]);
  };
  return {ReadU64(b, 0), u32(8), u32(12)};
}
std::string TaskName(const TaskId& t) {
  return std::to_string(t.job) + "/" + std::to_string(t.round) + "/" + std::to_string(t.worker);
}


// ---------------------------------------------------------------- records

Provider DecodeProvider(const Address& a, ByteSpan bytes) {
  auto r = DecodeStateRecord<proto::ProviderRecord>(bytes, "provider");
  Provider p;
  p.address = a;
  p.offer = {static_cast<market::HardwareClass>(r.hardware_class()), r.speed_wu_per_s(),
             r.capacity_tasks(), r.ask_uagr_per_wu(), r.blob_endpoint()};
  p.reputation_ppm = r.reputation_ppm();
  p.running = r.running();
  p.registered_height = r.registered_height();
  p.tasks_passed = r.tasks_passed();
  p.tasks_late = r.tasks_late();
  p.tasks_failed = r.tasks_failed();
  return p;
}

void PutProvider(StateBuffer& state, const Provider& p) {
  proto::ProviderRecord r;
  r.set_hardware_class(static_cast<uint32_t>(p.offer.hardware));
  r.set_speed_wu_per_s(p.offer.speed_wu_per_s);
  r.set_capacity_tasks(p.offer.capacity_tasks);
  r.set_ask_uagr_per_wu(p.offer.ask_uagr_per_wu);
  r.set_blob_endpoint(p.offer.blob_endpoint);
  r.set_reputation_ppm(p.reputation_ppm);
  r.set_running(p.running);
  r.set_registered_height(p.registered_height);
  r.set_tasks_passed(p.tasks_passed);
  r.set_tasks_late(p.tasks_late);
  r.set_tasks_failed(p.tasks_failed);
  state.Set(ProviderKey(p.address), EncodeDeterministic(r));
  // The scheduler reads only providers with a free slot.
  if (p.running < p.offer.capacity_tasks) {
    state.Set(FreeKey(p.address), Bytes{});
  } else {
    state.Delete(FreeKey(p.address));
  }
}

void PutJob(StateBuffer& state, const Job& j, uint64_t round_speed) {
  proto::JobRecord r;
  r.set_id(j.id);
  r.set_client(std::string(j.client.bytes().begin(), j.client.bytes().end()));
  EncodeJobSpec(j.spec, r.mutable_spec());
  r.set_budget_uagr(j.budget_uagr);
  r.set_price_max_uagr_per_wu(j.price_max_uagr_per_wu);
  r.set_deadline_blocks_max(j.deadline_blocks_max);
  r.set_escrow_uagr(j.escrow_uagr);
  r.set_locked_uagr(j.locked_uagr);
  r.set_status(static_cast<uint32_t>(j.status));
  r.set_round(j.round);
  r.set_round_passed(j.round_passed);
  r.set_running(j.running);
  r.set_work_wu(j.work_wu);
  r.set_posted_height(j.posted_height);
  r.set_ended_height(j.ended_height);
  r.set_paid_uagr(j.paid_uagr);
  r.set_refunded_uagr(j.refunded_uagr);
  r.set_aggregation_fee_uagr(j.aggregation_fee_uagr);
  r.set_outcome(j.outcome);
  r.set_title(j.title);
  r.set_round_speed_wu_per_s(round_speed);
  state.Set(JobKey(j.id), EncodeDeterministic(r));
}

struct JobWithSpeed {
  Job job;
  uint64_t round_speed = 0;
};

JobWithSpeed DecodeJob(ByteSpan bytes) {
  auto r = DecodeStateRecord<proto::JobRecord>(bytes, "job");
  JobWithSpeed out;
  Job& j = out.job;
  j.id = r.id();
  j.client = Address::FromBytes(AsBytes(r.client())).value();
  Result<market::JobSpec> spec = DecodeJobSpec(r.spec());
  AGORA_CHECK_MSG(spec.ok(), "malformed job spec in state: " + spec.status().message());
  j.spec = *spec;
  j.budget_uagr = r.budget_uagr();
  j.price_max_uagr_per_wu = r.price_max_uagr_per_wu();
  j.deadline_blocks_max = r.deadline_blocks_max();
  j.escrow_uagr = r.escrow_uagr();
  j.locked_uagr = r.locked_uagr();
  j.status = static_cast<JobStatus>(r.status());
  j.round = r.round();
  j.round_passed = r.round_passed();
  j.running = r.running();
  j.work_wu = r.work_wu();
  j.posted_height = r.posted_height();
  j.ended_height = r.ended_height();
  j.paid_uagr = r.paid_uagr();
  j.refunded_uagr = r.refunded_uagr();
  j.aggregation_fee_uagr = r.aggregation_fee_uagr();
  j.outcome = r.outcome();
  j.title = r.title();
  out.round_speed = r.round_speed_wu_per_s();
  return out;
}

std::optional<JobWithSpeed> LoadJob(StateReader& state, uint64_t id) {
  std::optional<Bytes> v = state.Get(JobKey(id));
  if (!v) return std::nullopt;
  return DecodeJob(*v);
}

void PutTask(StateBuffer& state, const TaskId& id, const Task& t) {
  proto::TaskRecord r;
  r.set_status(static_cast<uint32_t>(t.status));
  if (t.provider) r.set_provider(std::string(t.provider->bytes().begin(), t.provider->bytes().end()));
  r.set_price_uagr(t.price_uagr);
  r.set_collateral_uagr(t.collateral_uagr);
  r.set_assigned_height(t.assigned_height);
  r.set_deadline_height(t.deadline_height);
  r.set_attempts(t.attempts);
  for (const Address& a : t.excluded) r.add_excluded(std::string(a.bytes().begin(), a.bytes().end()));
  r.set_reopened_height(t.reopened_height);
  state.Set(TaskKey(id), EncodeDeterministic(r));
}

Task DecodeTask(ByteSpan bytes) {
  auto r = DecodeStateRecord<proto::TaskRecord>(bytes, "task");
  Task t;
  t.status = static_cast<TaskStatus>(r.status());
  if (!r.provider().empty()) t.provider = Address::FromBytes(AsBytes(r.provider())).value();
  t.price_uagr = r.price_uagr();
  t.collateral_uagr = r.collateral_uagr();
  t.assigned_height = r.assigned_height();
  t.deadline_height = r.deadline_height();
  t.attempts = r.attempts();
  for (const std::string& a : r.excluded()) t.excluded.push_back(Address::FromBytes(AsBytes(a)).value());
  t.reopened_height = r.reopened_height();
  return t;
}


void AddEscrow(StateBuffer& state, int64_t sign, uint64_t amount) {
  const uint64_t held = state.GetU64(kTotalEscrowKey);
  if (sign > 0) {
    state.SetU64(kTotalEscrowKey, held + amount);
  } else {
    AGORA_CHECK(held >= amount);
    state.SetU64(kTotalEscrowKey, held - amount);
  }
}

void OpenRound(StateBuffer& state, const Job& j) {
  for (uint32_t w = 0; w < j.spec.workers; ++w) {
    const TaskId id{j.id, j.round, w};
    PutTask(state, id, Task{});
    state.Set(OpenKey(j.client, id), Bytes{});
  }
}

// Refunds what is left in escrow and ends the job. REQUIRES: nothing runs.
void Close(StateBuffer& state, Job& j, JobStatus status, uint64_t height, std::string outcome,
           std::vector<Event>* events) {
  AGORA_CHECK(j.running == 0 && j.locked_uagr == 0);
  const uint64_t refund = j.escrow_uagr;
  if (refund > 0) {
    AGORA_CHECK(bank::Credit(state, j.client, refund) == TxCode::kOk);
    AddEscrow(state, -1, refund);
  }
  j.escrow_uagr = 0;
  j.refunded_uagr += refund;
  // The fee set aside for a round record that will never open.
  const uint64_t aggregation = j.aggregation_fee_uagr;
  PayValidatorFees(state, aggregation, {&j.client, 1});
  j.aggregation_fee_uagr = 0;
  const std::string active = ClientJobsKey(j.client);
  const uint64_t n = state.GetU64(active);
  AGORA_CHECK(n > 0);
  if (n == 1) {
    state.Delete(active);
  } else {
    state.SetU64(active, n - 1);
  }
  j.status = status;
  j.ended_height = height;
  j.outcome = std::move(outcome);
  events->push_back({"job_ended",
                     {{"job_id", std::to_string(j.id)},
                      {"status", std::string(JobStatusName(status))},
                      {"paid_uagr", std::to_string(j.paid_uagr)},
                      {"refunded_uagr", std::to_string(refund)},
                      {"aggregation_fee_refunded_uagr", std::to_string(aggregation)}}});
}

// Cancels the open tasks of the job's current round.
void CancelOpen(StateBuffer& state, const Job& j, TaskStatus as) {
  for (uint32_t w = 0; w < j.spec.workers; ++w) {
    const TaskId id{j.id, j.round, w};
    std::optional<Bytes> v = state.Get(TaskKey(id));
    if (!v) continue;
    Task t = DecodeTask(*v);
    if (t.status != TaskStatus::kOpen && t.status != TaskStatus::kReassigned) continue;
    t.status = as;
    PutTask(state, id, t);
    state.Delete(OpenKey(j.client, id));
  }
  // A tenant left with no open task needs no window position (TenantWindow).
  if (state.Get(SkipKey(j.client))) {
    Bytes tenant(kOpenPrefix.begin(), kOpenPrefix.end());
    tenant.insert(tenant.end(), j.client.bytes().begin(), j.client.bytes().end());
    if (state.ScanPrefix(tenant, 1).empty()) state.Delete(SkipKey(j.client));
  }
}

// Undoes an assignment's locks: the provider's slot and collateral, the
// job's and the tenant's running counts, the job's locked price.
void Release(StateBuffer& state, Job& j, const TaskId& id, const Task& t, Provider& p) {
  AGORA_CHECK(p.running > 0 && j.running > 0 && j.locked_uagr >= t.price_uagr);
  --p.running;
  --j.running;
  j.locked_uagr -= t.price_uagr;
  const uint64_t locked = staking::GetLocked(state, p.address);
  AGORA_CHECK(locked >= t.collateral_uagr);
  staking::SetLocked(state, p.address, locked - t.collateral_uagr);
  const std::string tenant = TenantKey(j.client);
  const uint64_t running = state.GetU64(tenant);
  AGORA_CHECK(running > 0);
  if (running == 1) {
    state.Delete(tenant);
  } else {
    state.SetU64(tenant, running - 1);
  }
  state.Delete(DeadlineKey(t.deadline_height, id));
}

bool Active(JobStatus s) { return s == JobStatus::kOpen || s == JobStatus::kRunning; }

// After a miss or a failed check: the task is open again, or its job fails
// when the task has used every attempt.
void Reopen(StateBuffer& state, const Params& params, uint64_t height, Job& j, const TaskId& id,
            Task& t, std::vector<Event>* events) {
  if (t.provider) t.excluded.push_back(*t.provider);
  t.provider.reset();
  t.price_uagr = t.collateral_uagr = 0;
  t.assigned_height = t.deadline_height = 0;
  if (!Active(j.status)) {
    t.status = TaskStatus::kCancelled;
  } else if (t.attempts >= params.task_attempts_max) {
    t.status = TaskStatus::kFailed;
    j.status = JobStatus::kFailed;
    j.outcome = "task " + TaskName(id) + " failed " + std::to_string(t.attempts) + " times";
    CancelOpen(state, j, TaskStatus::kFailed);
  } else {
    t.status = TaskStatus::kReassigned;
    t.reopened_height = height;
    state.Set(OpenKey(j.client, id), Bytes{});
    events->push_back({"task_reopened",
                       {{"job_id", std::to_string(j.id)},
                        {"task", TaskName(id)},
                        {"attempts", std::to_string(t.attempts)}}});
  }
  PutTask(state, id, t);
  if (!Active(j.status) && j.running == 0 && j.ended_height == 0) {
    const JobStatus end = j.status;
    Close(state, j, end, height, j.outcome.empty() ? "cancelled" : j.outcome, events);
  }
}

struct Settling {
  JobWithSpeed job;
  Task task;
  Provider provider;
};

Result<Settling> LoadSettling(StateBuffer& state, const TaskId& id) {
  std::optional<Bytes> tv = state.Get(TaskKey(id));
  if (!tv) return Status::NotFound("no task " + TaskName(id));
  Task t = DecodeTask(*tv);
  if (t.status != TaskStatus::kAssigned && t.status != TaskStatus::kCommitted &&
      t.status != TaskStatus::kVerifying) {
    return Status::FailedPrecondition("task " + TaskName(id) + " is " +
                                      std::string(TaskStatusName(t.status)));
  }
  AGORA_CHECK(t.provider.has_value());
  std::optional<JobWithSpeed> j = LoadJob(state, id.job);
  std::optional<Provider> p = GetProvider(state, *t.provider);
  AGORA_CHECK(j && p);
  return Settling{std::move(*j), std::move(t), std::move(*p)};
}

}  // namespace

market::DeadlineRule DeadlineRuleOf(const Params& params) {
  return {params.deadline_slack_ppm, params.block_time_ms, params.deadline_min_blocks};
}

namespace {

market::ReputationRule ReputationRuleOf(const Params& params) {
  return {params.reputation_alpha_ppm, std::max<uint64_t>(params.reputation_alpha_ppm, 500'000)};
}

void Miss(StateBuffer& state, const Params& params, uint64_t height, const TaskId& id,
          std::vector<Event>* events) {
  Result<Settling> s = LoadSettling(state, id);
  AGORA_CHECK_MSG(s.ok(), "deadline index names task " + TaskName(id) + ": " + s.status().message());
  Job& j = s->job.job;
  Provider& p = s->provider;
  const uint64_t penalty = std::min(market::PartPpm(s->task.collateral_uagr, params.slash_late_ppm),
                                    staking::GetStake(state, p.address));
  staking::BurnStake(state, p.address, penalty);
  Release(state, j, id, s->task, p);
  p.reputation_ppm =
      market::UpdateReputation(p.reputation_ppm, market::Outcome::kLate, ReputationRuleOf(params));
  ++p.tasks_late;
  PutProvider(state, p);
  events->push_back({"task_missed",
                     {{"job_id", std::to_string(j.id)},
                      {"task", TaskName(id)},
                      {"provider", p.address.ToString()},
                      {"burned_uagr", std::to_string(penalty)},
                      {"reputation_ppm", std::to_string(p.reputation_ppm)}}});
  Reopen(state, params, height, j, id, s->task, events);
  PutJob(state, j, s->job.round_speed);
}

// ------------------------------------------------------------- scheduling

struct Candidate {
  Address client;
  TaskId id;
};

// The open tasks of `client` the scheduler reads this block, at most
// `per_tenant`: its first ones, oldest job first; or, after a full window
// whose every task the scheduler looked at and could not place (SkipKey
// holds its last task), the ones after it, wrapping round to the first.
// A window that gets a task goes back to the first ones. Without
// the skip, a tenant's oldest tasks that no provider can take (their job
// asks for hardware nobody offers, its maximum price is below every ask,
// the only cheap provider missed them and is passed over) filled the window
// every block and held back that tenant's later jobs for as long as they
// stayed open (found in review, 2026-12-03).
std::vector<TaskId> TenantWindow(StateBuffer& state, const Address& client, size_t per_tenant) {
  Bytes tenant(kOpenPrefix.begin(), kOpenPrefix.end());
  tenant.insert(tenant.end(), client.bytes().begin(), client.bytes().end());
  std::vector<TaskId> ids;
  auto take = [&](const Bytes& from, size_t n, const std::optional<Bytes>& before) {
    for (const auto& [key, value] : state.ScanFrom(tenant, from, n)) {
      if (before && !(key < *before)) break;
      ids.push_back(TaskIdAt(ByteSpan(key).subspan(tenant.size())));
    }
  };
  std::optional<Bytes> skip = state.Get(SkipKey(client));
  if (!skip) {
    take(tenant, per_tenant, std::nullopt);
    return ids;
  }
  Bytes after = tenant;
  after.insert(after.end(), skip->begin(), skip->end());
  after.push_back(0x00);  // the least key past the skipped task's
  take(after, per_tenant, std::nullopt);
  if (ids.size() < per_tenant) take(tenant, per_tenant - ids.size(), after);
  return ids;
}

// Open tasks of up to kTenantsPerBlockMax tenants, at most `per_tenant`
// each (TenantWindow), starting after the tenant the last block stopped at.
std::vector<std::pair<Address, std::vector<TaskId>>> GatherTenants(StateBuffer& state,
                                                                    size_t per_tenant) {
  std::vector<std::pair<Address, std::vector<TaskId>>> out;
  const Bytes prefix(kOpenPrefix.begin(), kOpenPrefix.end());
  std::optional<Bytes> cursor = state.Get(kCursorKey);
  auto after = [&](const Address& a) {
    Bytes k = prefix;
    k.insert(k.end(), a.bytes().begin(), a.bytes().end());
    k.insert(k.end(), 17, 0xff);  // past every task key of this tenant
    return k;
  };
  Bytes start = cursor ? after(Address::FromBytes(*cursor).value()) : prefix;
  bool wrapped = !cursor.has_value();
  std::optional<Address> first;
  while (out.size() < kTenantsPerBlockMax) {
    std::map<Bytes, Bytes> keys = state.ScanFrom(prefix, start, 1);
    if (keys.empty()) {
      if (wrapped) break;
      wrapped = true;
      start = prefix;
      continue;
    }
    const ByteSpan k0 = keys.begin()->first;
    const Address client = Address::FromBytes(k0.subspan(prefix.size(), Address::kSize)).value();
    if (first && client == *first) break;  // around once
    if (!first) first = client;
    out.emplace_back(client, TenantWindow(state, client, per_tenant));
    start = after(client);
  }
  return out;
}

void Schedule(StateBuffer& state, const Params& params, uint64_t height, const Hash256& beacon,
              std::vector<Event>* events) {
  market::ScheduleInput in;
  in.beacon = beacon;
  in.assignments_max = params.assignments_per_block_max;
  in.collateral_ppm = params.collateral_ppm;
  in.reputation_min_ppm = params.reputation_min_ppm;
  in.deadline_rule = DeadlineRuleOf(params);
  std::vector<Provider> providers;
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(kFreePrefix), kProvidersScanMax)) {
    const Address a = Address::FromBytes(ByteSpan(key).subspan(kFreePrefix.size())).value();
    Provider p = GetProvider(state, a).value();
    const uint64_t stake = staking::GetStake(state, a);
    const uint64_t locked = staking::GetLocked(state, a);
    if (stake < params.provider_stake_min_uagr || p.running >= p.offer.capacity_tasks) continue;
    market::ProviderOffer o;
    o.id.assign(a.bytes().begin(), a.bytes().end());
    o.hardware = p.offer.hardware;
    o.speed_wu_per_s = p.offer.speed_wu_per_s;
    o.free_slots = p.offer.capacity_tasks - p.running;
    o.ask_uagr_per_wu = p.offer.ask_uagr_per_wu;
    o.reputation_ppm = p.reputation_ppm;
    o.collateral_free_uagr = stake > locked ? stake - locked : 0;
    in.providers.push_back(std::move(o));
    providers.push_back(std::move(p));
  }
  if (in.providers.empty()) return;
  const auto tenants = GatherTenants(state, in.assignments_max);
  if (tenants.empty()) return;
  std::map<uint64_t, JobWithSpeed> jobs;
  for (const auto& [client, ids] : tenants) {
    market::TenantQueue q;
    q.id.assign(client.bytes().begin(), client.bytes().end());
    q.running = state.GetU64(TenantKey(client));
    for (const TaskId& id : ids) {
      auto it = jobs.find(id.job);
      if (it == jobs.end()) it = jobs.emplace(id.job, LoadJob(state, id.job).value()).first;
      const Job& j = it->second.job;
      market::OpenTask t;
      t.job = id.job;
      t.round = id.round;
      t.worker = id.worker;
      t.work_wu = j.work_wu;
      t.price_max_per_wu = j.price_max_uagr_per_wu;
      t.deadline_blocks_max = j.deadline_blocks_max;
      t.tier = j.spec.tier;
      t.hardware = j.spec.hardware;
      t.round_speed_wu_per_s = it->second.round_speed;
      // Providers that missed or failed it are passed over for a while, so
      // a dead one's freed slot does not take the next attempt too.
      const Task task = DecodeTask(state.Get(TaskKey(id)).value());
      if (height < task.reopened_height + params.exclusion_blocks) {
        for (const Address& a : task.excluded) t.excluded.emplace_back(a.bytes().begin(), a.bytes().end());
      }
      q.open.push_back(t);
    }
    in.tenants.push_back(std::move(q));
  }
  state.Set(kCursorKey, tenants.back().first.bytes());
  const market::DeadlineRule& rule = in.deadline_rule;
  std::set<size_t> touched_providers;
  std::set<uint64_t> touched_jobs;
  bool examined_all = false;
  const std::vector<market::Assignment> assignments = market::Schedule(in, &examined_all);
  // A full window whose every task was looked at and none could be placed
  // is skipped next block (TenantWindow); a window that got a task, or that
  // holds all of the tenant's open tasks, starts from the tenant's first
  // again (oldest job first). When the call stopped at its bounds, some
  // windows were not looked at: nothing changes.
  std::vector<bool> served(tenants.size(), false);
  for (const market::Assignment& a : assignments) served[a.tenant] = true;
  for (size_t t = 0; t < tenants.size(); ++t) {
    const auto& [client, ids] = tenants[t];
    const std::string skip = SkipKey(client);
    const std::optional<Bytes> held = state.Get(skip);
    if (served[t] || ids.size() < in.assignments_max) {
      if (held) state.Delete(skip);
    } else if (examined_all) {
      const std::string suffix = TaskSuffix(ids.back());
      const Bytes last(suffix.begin(), suffix.end());
      if (held != last) state.Set(skip, last);
    }
  }
  for (const market::Assignment& a : assignments) {
    touched_providers.insert(a.provider);
    const market::OpenTask& ot = in.tenants[a.tenant].open[a.task];
    const TaskId id{ot.job, ot.round, ot.worker};
    const Address client = tenants[a.tenant].first;
    JobWithSpeed& js = jobs.at(ot.job);
    touched_jobs.insert(ot.job);
    Job& j = js.job;
    Provider& p = providers[a.provider];
    Task t = DecodeTask(state.Get(TaskKey(id)).value());
    AGORA_CHECK(t.status == TaskStatus::kOpen || t.status == TaskStatus::kReassigned);
    // Admission made the budget cover every task at the maximum price,
    // and a task is never priced above it.
    AGORA_CHECK(j.escrow_uagr - j.locked_uagr >= a.price_uagr);
    t.status = TaskStatus::kAssigned;
    t.provider = p.address;
    t.price_uagr = a.price_uagr;
    t.collateral_uagr = a.collateral_uagr;
    t.assigned_height = height;
    t.deadline_height = height + market::DeadlineBlocks(j.work_wu, p.offer.speed_wu_per_s, rule);
    while (state.ScanPrefix(AsBytes(WithU64(std::string(kDeadlinePrefix), t.deadline_height)),
                            kDeadlinesPerHeightMax)
               .size() >= kDeadlinesPerHeightMax) {
      ++t.deadline_height;
    }
    ++t.attempts;
    PutTask(state, id, t);
    state.Delete(OpenKey(client, id));
    state.Set(DeadlineKey(t.deadline_height, id), Bytes{});
    j.locked_uagr += a.price_uagr;
    ++j.running;
    j.status = JobStatus::kRunning;
    if (js.round_speed == 0) js.round_speed = p.offer.speed_wu_per_s;
    ++p.running;
    staking::SetLocked(state, p.address, staking::GetLocked(state, p.address) + a.collateral_uagr);
    state.SetU64(TenantKey(client), state.GetU64(TenantKey(client)) + 1);
    events->push_back({"task_assigned",
                       {{"job_id", std::to_string(j.id)},
                        {"task", TaskName(id)},
                        {"provider", p.address.ToString()},
                        {"price_uagr", std::to_string(a.price_uagr)},
                        {"collateral_uagr", std::to_string(a.collateral_uagr)},
                        {"deadline_height", std::to_string(t.deadline_height)}}});
  }
  // Only what changed is written: the tree's cost is per changed key.
  for (uint64_t job_id : touched_jobs) PutJob(state, jobs.at(job_id).job, jobs.at(job_id).round_speed);
  for (size_t i : touched_providers) PutProvider(state, providers[i]);
}

}  // namespace

std::string_view JobStatusName(JobStatus s) {
  switch (s) {
    case JobStatus::kOpen: return "open";
    case JobStatus::kRunning: return "running";
    case JobStatus::kFinished: return "finished";
    case JobStatus::kCancelled: return "cancelled";
    case JobStatus::kFailed: return "failed";
  }
  return "unknown";
}

std::string_view TaskStatusName(TaskStatus s) {
  switch (s) {
    case TaskStatus::kOpen: return "open";
    case TaskStatus::kAssigned: return "assigned";
    case TaskStatus::kCommitted: return "committed";
    case TaskStatus::kVerifying: return "verifying";
    case TaskStatus::kPassed: return "passed";
    case TaskStatus::kFailed: return "failed";
    case TaskStatus::kReassigned: return "reassigned";
    case TaskStatus::kCancelled: return "cancelled";
  }
  return "unknown";
}

std::optional<Provider> GetProvider(StateReader& state, const Address& address) {
  std::optional<Bytes> v = state.Get(ProviderKey(address));
  if (!v) return std::nullopt;
  return DecodeProvider(address, *v);
}

bool IsProvider(StateReader& state, const Address& address) {
  return state.Get(ProviderKey(address)).has_value();
}

std::vector<Provider> ListProviders(StateReader& state, size_t limit) {
  std::vector<Provider> out;
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(kProviderPrefix), limit)) {
    out.push_back(DecodeProvider(
        Address::FromBytes(ByteSpan(key).subspan(kProviderPrefix.size())).value(), value));
  }
  return out;
}

std::optional<Job> GetJob(StateReader& state, uint64_t id) {
  std::optional<JobWithSpeed> j = LoadJob(state, id);
  if (!j) return std::nullopt;
  return std::move(j->job);
}

std::vector<Job> ListJobs(StateReader& state, uint64_t before, size_t limit) {
  const uint64_t next = state.GetU64(kNextJobKey);
  uint64_t id = next == 0 ? 0 : next - 1;
  if (before != 0 && before < id) id = before;
  std::vector<Job> out;
  for (; id >= 1 && out.size() < limit; --id) {
    if (std::optional<Job> j = GetJob(state, id)) out.push_back(std::move(*j));
  }
  return out;
}

std::optional<Task> GetTask(StateReader& state, const TaskId& id) {
  std::optional<Bytes> v = state.Get(TaskKey(id));
  if (!v) return std::nullopt;
  return DecodeTask(*v);
}

std::vector<std::pair<TaskId, Task>> TasksOf(StateReader& state, uint64_t job, size_t limit) {
  std::vector<std::pair<TaskId, Task>> out;
  const std::string prefix = WithU64(std::string(kTaskPrefix), job);
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(prefix), limit)) {
    out.emplace_back(TaskIdAt(ByteSpan(key).subspan(kTaskPrefix.size())), DecodeTask(value));
  }
  return out;
}

std::vector<std::pair<TaskId, Task>> RoundTasks(StateReader& state, uint64_t job, uint32_t round) {
  std::vector<std::pair<TaskId, Task>> out;
  const std::string prefix = WithU32(WithU64(std::string(kTaskPrefix), job), round);
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(prefix), market::kWorkersMax)) {
    out.emplace_back(TaskIdAt(ByteSpan(key).subspan(kTaskPrefix.size())), DecodeTask(value));
  }
  return out;
}

TxResult HandleRegisterProvider(StateBuffer& state, const Params& params, uint64_t height,
                                const Address& sender, const MsgRegisterProvider& msg) {
  if (IsProvider(state, sender)) {
    return Refuse(TxCode::kAlreadyExists,
                "this account is already a provider; change its offer with `agora provider update`");
  }
  if (staking::GetValidator(state, sender)) {
    return Refuse(TxCode::kInvalidMessage,
                "this account operates a validator; a provider needs an account of its own");
  }
  if (state.GetU64(ClientJobsKey(sender)) > 0) {
    return Refuse(TxCode::kInvalidMessage,
                "this account has jobs that have not ended; a provider needs an account of its "
                "own (one account, one role)");
  }
  const uint64_t stake = staking::GetStake(state, sender);
  if (stake < params.provider_stake_min_uagr) {
    return Refuse(TxCode::kStakeTooLow, "stake " + std::to_string(stake) +
                                          " uagr is below market.provider_stake_min_uagr of " +
                                          std::to_string(params.provider_stake_min_uagr) +
                                          "; stake first with `agora tx stake`");
  }
  Provider p;
  p.address = sender;
  p.offer = msg.offer;
  // A provider that left keeps its reputation: leaving and coming back
  // never raises it.
  p.reputation_ppm = params.reputation_start_ppm;
  if (std::optional<Bytes> kept = state.Get(RepKey(sender))) {
    p.reputation_ppm = std::min(p.reputation_ppm, ReadU64(*kept, 0));
  }
  p.registered_height = height;
  PutProvider(state, p);
  TxResult r;
  r.events.push_back({"provider_registered",
                      {{"provider", sender.ToString()},
                       {"hardware_class", std::string(market::HardwareClassName(msg.offer.hardware))},
                       {"capacity_tasks", std::to_string(msg.offer.capacity_tasks)},
                       {"ask_uagr_per_wu", std::to_string(msg.offer.ask_uagr_per_wu)}}});
  return r;
}

TxResult HandleUpdateProvider(StateBuffer& state, const Address& sender,
                              const MsgUpdateProvider& msg) {
  std::optional<Provider> p = GetProvider(state, sender);
  if (!p) {
    return Refuse(TxCode::kNotFound, "this account is not a provider; `agora provider register`");
  }
  // Running tasks keep the price, collateral and deadline they were
  // assigned with; the new offer applies to the next assignments.
  p->offer = msg.offer;
  PutProvider(state, *p);
  TxResult r;
  r.events.push_back({"provider_updated",
                      {{"provider", sender.ToString()},
                       {"capacity_tasks", std::to_string(msg.offer.capacity_tasks)},
                       {"ask_uagr_per_wu", std::to_string(msg.offer.ask_uagr_per_wu)}}});
  return r;
}

TxResult HandleDeregisterProvider(StateBuffer& state, const Address& sender) {
  std::optional<Provider> p = GetProvider(state, sender);
  if (!p) return Refuse(TxCode::kNotFound, "this account is not a provider");
  if (p->running > 0) {
    return Refuse(TxCode::kWrongPhase, std::to_string(p->running) +
                                         " task(s) still run on this provider; deregister after "
                                         "they end (lower its capacity to take no new ones)");
  }
  AGORA_CHECK(staking::GetLocked(state, sender) == 0);
  state.SetU64(RepKey(sender), p->reputation_ppm);
  state.Delete(ProviderKey(sender));
  state.Delete(FreeKey(sender));
  TxResult r;
  r.events.push_back({"provider_deregistered", {{"provider", sender.ToString()}}});
  return r;
}

TxResult HandlePostJob(StateBuffer& state, const Params& params, uint64_t height,
                       const Address& sender, const MsgPostJob& msg, uint64_t* posted_id) {
  if (IsProvider(state, sender) || staking::GetValidator(state, sender)) {
    return Refuse(TxCode::kInvalidMessage,
                "providers and validators cannot post jobs (one account, one role); post from "
                "a plain account");
  }
  const uint64_t work = market::TaskWorkWu(msg.spec);
  const uint64_t tasks = market::TaskCount(msg.spec);
  // The fastest provider a speed can declare still gets this many blocks: a
  // shorter bound could never be met, and the job would only wait to expire.
  const uint64_t soonest = market::DeadlineBlocks(work, market::kAmountMax, DeadlineRuleOf(params));
  if (msg.deadline_blocks_max != 0 && msg.deadline_blocks_max < soonest) {
    return Refuse(TxCode::kInvalidMessage,
                  "deadline_blocks_max " + std::to_string(msg.deadline_blocks_max) +
                      " is below the shortest deadline any provider gets (" +
                      std::to_string(soonest) + " blocks: market.deadline_min_blocks " +
                      std::to_string(params.deadline_min_blocks) +
                      " plus the work at the highest speed); raise it or set 0 for no bound");
  }
  // A job that fewer than two validators can replay (by their replay
  // profiles in force) could not be verified: its round records need two
  // agreeing validators. (With fewer drawable validators than that, it
  // needs them all; with none, the draws wait, as before.)
  const std::vector<staking::ValidatorRecord> drawable = staking::DrawableValidators(state, height);
  uint64_t params_max = 0;
  size_t fitting = 0;
  for (const staking::ValidatorRecord& v : drawable) {
    const std::optional<staking::ReplayProfile> p =
        staking::GetReplayProfile(state, v.operator_address, height);
    if (staking::CanReplay(p, msg.spec, params.verify_replay_params_floor)) {
      ++fitting;
    } else if (p && (msg.spec.tier == market::Tier::kExact ||
                     (p->classes_mask >> static_cast<unsigned>(msg.spec.hardware) & 1) != 0)) {
      // (A profile counts as taking at least the floor.)
      params_max = std::max({params_max, p->params_max, params.verify_replay_params_floor});
    }
  }
  const size_t fitting_min = std::min<size_t>(2, drawable.size());
  if (fitting < fitting_min) {
    return Refuse(TxCode::kInvalidMessage,
                  std::to_string(fitting) + " validator(s) can replay this job, " +
                      std::to_string(fitting_min) + " needed: its model has " +
                      std::to_string(market::ParamCount(msg.spec)) + " parameters" +
                      (msg.spec.tier == market::Tier::kNative
                           ? " on " + std::string(market::HardwareClassName(msg.spec.hardware))
                           : std::string()) +
                      (params_max > 0 ? " and the largest other replay profile for it takes " +
                                            std::to_string(params_max)
                                      : std::string()) +
                      (msg.spec.tier == market::Tier::kNative &&
                               msg.spec.hardware != market::HardwareClass::kCpu
                           ? " (agora query validators: a validator replays a GPU class once its "
                             "replay profile names it); post it in the exact tier or wait for "
                             "validators of the class"
                           : " (agora query validators); post a smaller model or wait for "
                             "validators"));
  }
  Result<uint64_t> need = market::BudgetNeeded(tasks, work, msg.price_max_uagr_per_wu);
  if (!need.ok()) return Refuse(TxCode::kInvalidMessage, need.status().message());
  if (msg.budget_uagr < *need) {
    return Refuse(TxCode::kInsufficientFunds,
                "budget " + std::to_string(msg.budget_uagr) + " uagr cannot pay " +
                    std::to_string(tasks) + " task(s) of " + std::to_string(work) +
                    " wu at the maximum price of " + std::to_string(msg.price_max_uagr_per_wu) +
                    " uagr/wu: it needs " + std::to_string(*need) +
                    " uagr (raise the budget or lower the maximum price)");
  }
  if (bank::Debit(state, sender, msg.budget_uagr) != TxCode::kOk) {
    return Refuse(TxCode::kInsufficientFunds, "balance does not cover the budget of " +
                                                std::to_string(msg.budget_uagr) + " uagr");
  }
  Job j;
  j.id = std::max<uint64_t>(state.GetU64(kNextJobKey), 1);
  j.client = sender;
  j.spec = msg.spec;
  j.title = msg.title;
  j.budget_uagr = j.escrow_uagr = msg.budget_uagr;
  j.price_max_uagr_per_wu = msg.price_max_uagr_per_wu;
  j.deadline_blocks_max = msg.deadline_blocks_max;
  j.work_wu = work;
  j.posted_height = height;
  state.SetU64(kNextJobKey, j.id + 1);
  AddEscrow(state, +1, msg.budget_uagr);
  state.Set(ExpireKey(height + params.job_open_blocks_max, j.id), Bytes{});
  state.SetU64(ClientJobsKey(sender), state.GetU64(ClientJobsKey(sender)) + 1);
  // Round 0's tasks open when verification has recorded the job's initial
  // weights and the start hash of each task (StartRound).
  PutJob(state, j, 0);
  if (posted_id != nullptr) *posted_id = j.id;
  TxResult r;
  r.events.push_back({"job_posted",
                      {{"job_id", std::to_string(j.id)},
                       {"client", sender.ToString()},
                       {"tasks", std::to_string(tasks)},
                       {"work_wu_per_task", std::to_string(work)},
                       {"budget_uagr", std::to_string(msg.budget_uagr)},
                       {"needed_uagr", std::to_string(*need)}}});
  return r;
}

TxResult HandleCancelJob(StateBuffer& state, uint64_t height, const Address& sender,
                         const MsgCancelJob& msg) {
  std::optional<JobWithSpeed> js = LoadJob(state, msg.job_id);
  if (!js) return Refuse(TxCode::kNotFound, "no job " + std::to_string(msg.job_id));
  Job& j = js->job;
  if (j.client != sender) {
    return Refuse(TxCode::kInvalidMessage,
                "only the client that posted job " + std::to_string(j.id) + " may cancel it");
  }
  if (!Active(j.status)) {
    return Refuse(TxCode::kWrongPhase, "job " + std::to_string(j.id) + " already ended (" +
                                         std::string(JobStatusName(j.status)) + ")");
  }
  CancelOpen(state, j, TaskStatus::kCancelled);
  j.status = JobStatus::kCancelled;
  j.outcome = "cancelled by its client at height " + std::to_string(height);
  TxResult r;
  if (j.running == 0) Close(state, j, JobStatus::kCancelled, height, j.outcome, &r.events);
  PutJob(state, j, js->round_speed);
  r.events.push_back({"job_cancelled",
                      {{"job_id", std::to_string(j.id)},
                       {"running", std::to_string(j.running)}}});
  return r;
}

void EndBlock(StateBuffer& state, const Params& params, uint64_t height, const Hash256& beacon,
              std::vector<Event>* events) {
  // Deadlines first, so a missed task can be reassigned in this very block.
  const std::string due = WithU64(std::string(kDeadlinePrefix), height);
  // Assignment keeps at most kDeadlinesPerHeightMax entries per height.
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(due), kDeadlinesPerHeightMax)) {
    Miss(state, params, height, TaskIdAt(ByteSpan(key).subspan(due.size())), events);
  }
  // Jobs that no provider has taken for market.job_open_blocks_max blocks
  // are refunded: an unassignable job must not hold its escrow forever.
  const std::string expiring = WithU64(std::string(kExpirePrefix), height);
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(expiring), 1'000'000)) {
    const uint64_t id = ReadU64(key, expiring.size());
    state.Delete(std::string(key.begin(), key.end()));
    std::optional<JobWithSpeed> js = LoadJob(state, id);
    AGORA_CHECK(js.has_value());
    Job& j = js->job;
    if (j.status != JobStatus::kOpen) continue;  // assigned once: it runs its course
    CancelOpen(state, j, TaskStatus::kCancelled);
    Close(state, j, JobStatus::kCancelled, height,
          "expired: no provider took a task within " + std::to_string(params.job_open_blocks_max) +
              " blocks",
          events);
    PutJob(state, j, js->round_speed);
  }
  Schedule(state, params, height, beacon, events);
}

Status TaskPassed(StateBuffer& state, const Params& params, uint64_t height, const TaskId& id,
                  std::vector<Event>* events) {
  AGORA_ASSIGN_OR_RETURN(Settling s, LoadSettling(state, id));
  Job& j = s.job.job;
  Provider& p = s.provider;
  const market::Payout pay = market::SplitPayment(s.task.price_uagr, params.validator_fee_ppm);
  Release(state, j, id, s.task, p);
  AGORA_CHECK(j.escrow_uagr >= s.task.price_uagr);
  j.escrow_uagr -= s.task.price_uagr;
  j.paid_uagr += s.task.price_uagr;
  AddEscrow(state, -1, s.task.price_uagr);
  AGORA_CHECK(bank::Credit(state, p.address, pay.provider_uagr) == TxCode::kOk);
  state.SetU64(kValidatorFeesKey, state.GetU64(kValidatorFeesKey) + pay.validators_uagr);
  // Part of it waits for those who record the next round's start.
  j.aggregation_fee_uagr +=
      market::PartPpm(pay.validators_uagr, params.verify_aggregation_fee_ppm);
  p.reputation_ppm =
      market::UpdateReputation(p.reputation_ppm, market::Outcome::kPass, ReputationRuleOf(params));
  ++p.tasks_passed;
  PutProvider(state, p);
  s.task.status = TaskStatus::kPassed;
  PutTask(state, id, s.task);
  events->push_back({"task_passed",
                     {{"job_id", std::to_string(j.id)},
                      {"task", TaskName(id)},
                      {"provider", p.address.ToString()},
                      {"paid_uagr", std::to_string(pay.provider_uagr)},
                      {"validator_fee_uagr", std::to_string(pay.validators_uagr)}}});
  if (Active(j.status) && id.round == j.round) {
    // The round's last task: the job waits for verification to record the
    // round's aggregation, which opens the next round (StartRound).
    ++j.round_passed;
  } else if (!Active(j.status) && j.running == 0 && j.ended_height == 0) {
    const JobStatus end = j.status;
    Close(state, j, end, height, j.outcome, events);
  }
  PutJob(state, j, s.job.round_speed);
  return Status::Ok();
}

Status StartRound(StateBuffer& state, uint64_t height, uint64_t job, uint32_t round,
                  std::vector<Event>* events) {
  std::optional<JobWithSpeed> js = LoadJob(state, job);
  if (!js) return Status::NotFound("no job " + std::to_string(job));
  Job& j = js->job;
  if (!Active(j.status)) return Status::Ok();  // cancelled or failed meanwhile: nothing opens
  const bool first = round == 0 && j.round == 0 && j.round_passed == 0 &&
                     RoundTasks(state, job, 0).empty();
  const bool next = round == j.round + 1 && j.round_passed == j.spec.workers;
  if (!first && !next) {
    return Status::FailedPrecondition("job " + std::to_string(job) + " is in round " +
                                      std::to_string(j.round) + " with " +
                                      std::to_string(j.round_passed) + " tasks passed; round " +
                                      std::to_string(round) + " cannot start");
  }
  uint64_t round_speed = js->round_speed;
  if (round == j.spec.rounds) {
    Close(state, j, JobStatus::kFinished, height,
          "every round passed and its final weights are recorded", events);
  } else {
    j.round = round;
    j.round_passed = 0;
    round_speed = 0;
    OpenRound(state, j);
    events->push_back({"round_opened",
                       {{"job_id", std::to_string(j.id)}, {"round", std::to_string(round)}}});
  }
  PutJob(state, j, round_speed);
  return Status::Ok();
}

Status AbandonJob(StateBuffer& state, uint64_t height, uint64_t job, const std::string& reason,
                  std::vector<Event>* events) {
  std::optional<JobWithSpeed> js = LoadJob(state, job);
  if (!js) return Status::NotFound("no job " + std::to_string(job));
  Job& j = js->job;
  if (!Active(j.status)) return Status::Ok();
  CancelOpen(state, j, TaskStatus::kCancelled);
  j.status = JobStatus::kFailed;
  j.outcome = reason;
  if (j.running == 0) Close(state, j, JobStatus::kFailed, height, reason, events);
  PutJob(state, j, js->round_speed);
  return Status::Ok();
}

bool IsActive(JobStatus s) { return Active(s); }

void PayValidatorFees(StateBuffer& state, uint64_t amount, std::span<const Address> to) {
  if (amount == 0) return;
  AGORA_CHECK(!to.empty());
  const uint64_t fees = state.GetU64(kValidatorFeesKey);
  AGORA_CHECK(fees >= amount);
  state.SetU64(kValidatorFeesKey, fees - amount);
  const uint64_t share = amount / to.size();
  for (size_t i = 0; i < to.size(); ++i) {
    const uint64_t paid = share + (i == 0 ? amount % to.size() : 0);
    AGORA_CHECK(bank::Credit(state, to[i], paid) == TxCode::kOk);
  }
}

uint64_t TakeAggregationFee(StateBuffer& state, uint64_t job) {
  std::optional<JobWithSpeed> js = LoadJob(state, job);
  AGORA_CHECK(js.has_value());
  const uint64_t fee = js->job.aggregation_fee_uagr;
  js->job.aggregation_fee_uagr = 0;
  PutJob(state, js->job, js->round_speed);
  return fee;
}

Status TaskFailed(StateBuffer& state, const Params& params, uint64_t height, const TaskId& id,
                  std::vector<Event>* events, const std::optional<Address>& reward_to) {
  AGORA_ASSIGN_OR_RETURN(Settling s, LoadSettling(state, id));
  Job& j = s.job.job;
  Provider& p = s.provider;
  const uint64_t stake = staking::GetStake(state, p.address);
  const uint64_t taken = std::min(s.task.collateral_uagr, stake);
  const uint64_t reward = reward_to ? taken / 2 : 0;
  if (reward > 0) {
    staking::SetStake(state, p.address, stake - reward);
    AGORA_CHECK(bank::Credit(state, *reward_to, reward) == TxCode::kOk);
  }
  staking::BurnStake(state, p.address, taken - reward);
  Release(state, j, id, s.task, p);
  // A failed check moves reputation max(alpha, 50%) of the way to 0 and at
  // most to the floor (market.reputation_min_ppm), never up: a provider a
  // late task had already put under the floor stays there, out of the
  // scheduler's reach. (Until 2026-12-03 it was set to the floor, which
  // made such a provider eligible again; found in review.)
  p.reputation_ppm = std::min(
      market::UpdateReputation(p.reputation_ppm, market::Outcome::kFraud, ReputationRuleOf(params)),
      params.reputation_min_ppm);
  ++p.tasks_failed;
  PutProvider(state, p);
  Event e{"task_failed",
          {{"job_id", std::to_string(j.id)},
           {"task", TaskName(id)},
           {"provider", p.address.ToString()},
           {"burned_uagr", std::to_string(taken - reward)}}};
  if (reward_to) {
    e.attributes.push_back({"rewarded", reward_to->ToString()});
    e.attributes.push_back({"reward_uagr", std::to_string(reward)});
  }
  events->push_back(std::move(e));
  Reopen(state, params, height, j, id, s.task, events);
  PutJob(state, j, s.job.round_speed);
  return Status::Ok();
}

namespace {

Status MoveTask(StateBuffer& state, const TaskId& id, TaskStatus from, TaskStatus to) {
  std::optional<Bytes> v = state.Get(TaskKey(id));
  if (!v) return Status::NotFound("no task " + TaskName(id));
  Task t = DecodeTask(*v);
  if (t.status != from) {
    return Status::FailedPrecondition("task " + TaskName(id) + " is " +
                                      std::string(TaskStatusName(t.status)) + ", not " +
                                      std::string(TaskStatusName(from)));
  }
  if (to == TaskStatus::kCommitted) state.Delete(DeadlineKey(t.deadline_height, id));
  t.status = to;
  PutTask(state, id, t);
  return Status::Ok();
}

}  // namespace

Status TaskCommitted(StateBuffer& state, const TaskId& id) {
  return MoveTask(state, id, TaskStatus::kAssigned, TaskStatus::kCommitted);
}

Status TaskVerifying(StateBuffer& state, const TaskId& id) {
  return MoveTask(state, id, TaskStatus::kCommitted, TaskStatus::kVerifying);
}

}  // namespace agora::consensus::marketplace
