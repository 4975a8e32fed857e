#include "node/roles/validator.h"

#include <algorithm>
#include <bit>
#include <boost/json.hpp>
#include <fstream>
#include <optional>
#include <utility>

#include "common/log.h"
#include "common/merkle.h"
#include "common/vrf.h"
#include "consensus/ledger/verification.h"
#include "node/roles/role_util.h"
#include "node/rpc/blob_fetch.h"
#include "trainer/checkpoint.h"
#include "trainer/diloco.h"
#include "verify/sampling.h"
#include "verify/task.h"

namespace agora::node::roles {

namespace json = boost::json;
namespace vf = consensus::verification;

namespace {

bool Contains(const json::array& list, const std::string& text) {
  for (const json::value& v : list) {
    if (v.is_string() && v.as_string() == text) return true;
  }
  return false;
}

// The provider's registered blob endpoint.
Result<std::string> EndpointOf(rpc::RpcClient& client, const std::string& provider) {
  AGORA_ASSIGN_OR_RETURN(json::value p,
                         client.Call("provider", json::object{{"address", provider}}));
  return StringMember(p, "blob_endpoint");
}

// A checkpoint blob from `sources`, parsed (the fetch checked its name).
Result<trainer::LoadedCheckpoint> FetchCheckpoint(storage::BlobStore& blobs, const Hash256& hash,
                                                  const std::vector<std::string>& sources,
                                                  const rpc::BlobFetchOptions& fetch) {
  AGORA_RETURN_IF_ERROR(rpc::FetchBlob(blobs, hash, sources, fetch));
  AGORA_ASSIGN_OR_RETURN(Bytes bytes, blobs.Read(hash, blobs.options().blob_bytes_max));
  Result<trainer::LoadedCheckpoint> parsed = trainer::ParseCheckpoint(bytes);
  // The bytes are what the provider committed (their hash checked): a file
  // that is not a checkpoint this build reads, whatever the reason (an
  // unknown version included), is the provider's, so it counts as
  // unavailable rather than stop this validator from answering at all
  // (found in review, 2026-12-03: a version it did not read was retried
  // until the deadline, and the validator slashed for missing).
  if (!parsed.ok()) {
    return Status::Corruption("checkpoint " + hash.ToHex() + " does not parse: " +
                              parsed.status().message());
  }
  return parsed;
}

// What a provider must at least serve a validator, after a grace for the
// connection to get going: 256 KiB/s, a 100 MB checkpoint in under 7
// minutes.
constexpr uint64_t kServeBytesPerSecondMin = 256 << 10;
constexpr std::chrono::milliseconds kServeRateGrace{3'000};

// When a spot check's fetches must be done: half the time left to the
// slot's due height at the chain's expected block time
// (market.block_time_ms), and at least one block's time.
Result<std::chrono::steady_clock::time_point> FetchDeadline(rpc::RpcClient& client,
                                                            uint64_t due_height) {
  AGORA_ASSIGN_OR_RETURN(json::value answer, client.Call("params"));
  AGORA_ASSIGN_OR_RETURN(uint64_t height, U64Member(answer, "height"));
  AGORA_ASSIGN_OR_RETURN(const json::array* params, ArrayMember(answer, "params"));
  std::optional<uint64_t> block_ms;
  for (const json::value& p : *params) {
    AGORA_ASSIGN_OR_RETURN(std::string name, StringMember(p, "name"));
    if (name != "market.block_time_ms") continue;
    AGORA_ASSIGN_OR_RETURN(block_ms, U64Member(p, "value"));
  }
  if (!block_ms) return Status::Internal("the node's params lack market.block_time_ms");
  const uint64_t blocks_left = due_height > height ? due_height - height : 0;
  // Both bounded by the params' limits (10^5 blocks, 600,000 ms): no overflow.
  const uint64_t ms = std::max(blocks_left * *block_ms / 2, *block_ms);
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
}

// Whether a failed fetch is the sources' fault (nothing served, bytes that
// are not the blob, a source below the minimum rate) rather than this
// node's (a full disk, its own deadline, a stop).
bool SourcesFailed(const Status& why) {
  return why.code() == StatusCode::kUnavailable || why.code() == StatusCode::kNotFound ||
         why.code() == StatusCode::kCorruption;
}

// The fetch options of a verdict or round result due at `due_height`
// (FetchDeadline, kServeBytesPerSecondMin).
Result<rpc::BlobFetchOptions> DueFetchOptions(rpc::RpcClient& client,
                                              const storage::BlobStore& blobs,
                                              const PollLoop& loop, uint64_t due_height) {
  AGORA_ASSIGN_OR_RETURN(const auto fetch_by, FetchDeadline(client, due_height));
  rpc::BlobFetchOptions fetch = RoleFetchOptions(blobs, loop);
  fetch.deadline = fetch_by;
  fetch.min_bytes_per_second = kServeBytesPerSecondMin;
  fetch.rate_grace = kServeRateGrace;
  return fetch;
}

}  // namespace

ValidatorRole::ValidatorRole(ValidatorRoleOptions options, const SecretKey& key,
                             storage::BlobStore& blobs)
    : options_(std::move(options)),
      key_(key),
      blobs_(blobs),
      address_(Address::FromPublicKey(key.public_key())),
      disputes_({options_.node_url, options_.sources, options_.device, options_.poll_interval,
                 "validator", options_.lie_file},
                key, blobs) {}

ValidatorRole::~ValidatorRole() { Stop(); }

void ValidatorRole::Start() {
  spdlog::info("validator role: account {}", address_.ToString());
  loop_.Start(options_.poll_interval, [this] {
    if (Status polled = Poll(); !polled.ok()) Fail(polled);
  });
  disputes_.Start();
}

void ValidatorRole::Stop() {
  disputes_.Stop();
  loop_.Stop();
}

ValidatorProgress ValidatorRole::progress() const {
  std::lock_guard lock(progress_mu_);
  ValidatorProgress p = progress_;
  p.disputes = disputes_.counts();
  return p;
}

void ValidatorRole::Fail(const Status& status) {
  spdlog::warn("validator role: {}", status.ToString());
  std::lock_guard lock(progress_mu_);
  progress_.last_error = status.ToString();
}

Result<ValidatorRole::JobState*> ValidatorRole::Job(rpc::RpcClient& client, uint64_t id) {
  auto it = jobs_.find(id);
  if (it != jobs_.end()) return it->second.get();
  auto job = std::make_unique<JobState>();
  AGORA_ASSIGN_OR_RETURN(job->spec, FetchSpec(client, id));
  AGORA_ASSIGN_OR_RETURN(job->config, verify::TrainConfigOf(job->spec));
  return jobs_.emplace(id, std::move(job)).first->second.get();
}

Result<const trainer::Corpus*> ValidatorRole::Corpus(JobState& job,
                                                     const std::vector<std::string>& extra_sources,
                                                     std::optional<MissingBlob>* missing) {
  if (job.corpus) return &*job.corpus;
  rpc::BlobFetchOptions fetch = RoleFetchOptions(blobs_, loop_);
  fetch.min_bytes_per_second = kServeBytesPerSecondMin;
  fetch.rate_grace = kServeRateGrace;
  std::vector<std::string> sources = {options_.node_url};
  sources.insert(sources.end(), options_.sources.begin(), options_.sources.end());
  sources.insert(sources.end(), extra_sources.begin(), extra_sources.end());
  if (Status got = rpc::FetchBlob(blobs_, job.spec.dataset_hash, sources, fetch); !got.ok()) {
    if (missing != nullptr && SourcesFailed(got)) *missing = MissingBlob{job.spec.dataset_hash};
    return Status(got.code(), "dataset " + job.spec.dataset_hash.ToHex() + ": " + got.message());
  }
  Result<trainer::Corpus> corpus = trainer::Corpus::Load(blobs_.PathOf(job.spec.dataset_hash));
  if (!corpus.ok()) {
    const StatusCode code = corpus.status().code();
    if (code != StatusCode::kInvalidArgument && code != StatusCode::kResourceExhausted) {
      return corpus.status();  // a read error here is this node's, not the dataset's
    }
    // The bytes are the dataset the client named (their hash checked), and
    // no validator can use them (shorter or longer than a corpus may be):
    // the record cannot be made, which a claim of "unavailable" says,
    // rather than have each validator drawn miss in turn (found in review,
    // 2026-12-03).
    if (missing != nullptr) *missing = MissingBlob{job.spec.dataset_hash};
    return Status::Corruption("dataset " + job.spec.dataset_hash.ToHex() +
                              " does not load: " + corpus.status().message());
  }
  job.corpus = std::move(*corpus);
  return &*job.corpus;
}

void ValidatorRole::CheckProfile(rpc::RpcClient& client) {
  Result<json::value> list = client.Call("validators", json::object{});
  if (!list.ok()) return;  // the node busy: next poll
  const json::value* validators = list->as_object().if_contains("validators");
  if (validators == nullptr || !validators->is_array()) return;
  std::vector<std::string> classes;
  for (const json::value& v : validators->as_array()) {
    Result<std::string> op = StringMember(v, "operator");
    if (!op.ok() || *op != address_.ToString()) continue;
    // The profile sent last, whether or not it is in effect yet.
    const json::object& o = v.as_object();
    const json::value* profile = o.if_contains("replay_profile_next");
    if (profile == nullptr || !profile->is_object()) profile = o.if_contains("replay_profile");
    if (profile == nullptr || !profile->is_object()) break;  // none: drawn for what a CPU replays
    const json::value* hw = profile->as_object().if_contains("hardware_classes");
    if (hw == nullptr || !hw->is_array()) break;
    for (const json::value& c : hw->as_array()) {
      if (c.is_string()) classes.emplace_back(c.as_string());
    }
  }
  const std::string problem = DeclaredClassesProblem(options_.device, classes,
                                                     "the validator's replay profile",
                                                     "agora tx replay-profile --classes");
  std::lock_guard lock(progress_mu_);
  if (!problem.empty() && problem != progress_.profile_problem) {
    spdlog::error("validator role: {}", problem);
  }
  progress_.profile_problem = problem;
}

Status ValidatorRole::Poll() {
  rpc::RpcClient client(options_.node_url);
  // The ledger cannot check hardware: this role checks its own profile.
  CheckProfile(client);
  // Every job not closed (the slots and round records of open and running
  // ones, the slots of cancelled and failed ones whose tasks still run), and
  // the newest finished ones (their models, kept once).
  AGORA_ASSIGN_OR_RETURN(json::array all, UnendedJobs(client));
  std::set<uint64_t> unended;
  for (const json::value& j : all) {
    AGORA_ASSIGN_OR_RETURN(uint64_t id, U64Member(j, "id"));
    unended.insert(id);
  }
  AGORA_ASSIGN_OR_RETURN(json::value finished,
                         client.Call("jobs", json::object{{"status", "finished"}, {"limit", 100}}));
  AGORA_ASSIGN_OR_RETURN(const json::array* newest_finished, ArrayMember(finished, "jobs"));
  std::set<uint64_t> finished_ids;
  for (const json::value& j : *newest_finished) {
    AGORA_ASSIGN_OR_RETURN(uint64_t id, U64Member(j, "id"));
    finished_ids.insert(id);
    all.push_back(j);
  }
  for (const json::value& j : all) {
    if (loop_.stopping()) break;
    // One job's trouble (a malformed answer, a source that fails) must not
    // keep the others waiting.
    if (Status polled = PollJob(client, j); !polled.ok()) Fail(polled);
  }
  // What was kept for jobs that closed (weights of every round, the corpus)
  // is of no more use once a finished job's model is kept: a validator that
  // ran for months kept them all.
  std::erase_if(jobs_, [&](const auto& entry) {
    const uint64_t id = entry.first;
    if (unended.contains(id)) return false;
    return !finished_ids.contains(id) || sent_.contains("model " + std::to_string(id));
  });
  return Status::Ok();
}

Status ValidatorRole::PollJob(rpc::RpcClient& client, const json::value& j) {
  const std::string me = address_.ToString();
  {
    AGORA_ASSIGN_OR_RETURN(std::string status, StringMember(j, "status"));
    AGORA_ASSIGN_OR_RETURN(uint64_t id, U64Member(j, "id"));
    if (status == "finished" && !sent_.contains("model " + std::to_string(id))) {
      // The final weights, for clients to fetch (`agora job fetch`).
      if (Status kept = KeepModel(client, id); !kept.ok()) {
        Fail(Status(kept.code(), "model of job " + std::to_string(id) + ": " + kept.message()));
      } else {
        sent_.insert("model " + std::to_string(id));
      }
      return Status::Ok();
    }
    AGORA_ASSIGN_OR_RETURN(uint64_t ended_height, U64Member(j, "ended_height"));
    if (ended_height != 0) return Status::Ok();
    AGORA_ASSIGN_OR_RETURN(uint64_t current, U64Member(j, "round"));
    AGORA_ASSIGN_OR_RETURN(JobState * job, Job(client, id));

    // Round records awaiting this validator; the ledger refuses results for
    // a cancelled or failed job (nobody needs its weights).
    const bool active = status == "open" || status == "running";
    AGORA_ASSIGN_OR_RETURN(json::value rounds,
                           client.Call("round_results", json::object{{"job", id}}));
    AGORA_ASSIGN_OR_RETURN(const json::array* records, ArrayMember(rounds, "rounds"));
    const json::array none;
    for (const json::value& record : active ? *records : none) {
      const json::value* recorded = record.as_object().if_contains("recorded");
      const json::value* abandoned = record.as_object().if_contains("abandoned");
      if ((recorded && recorded->is_bool() && recorded->as_bool()) ||
          (abandoned && abandoned->is_bool() && abandoned->as_bool())) {
        continue;
      }
      AGORA_ASSIGN_OR_RETURN(const json::array* awaiting, ArrayMember(record, "awaiting"));
      if (!Contains(*awaiting, me)) continue;
      AGORA_ASSIGN_OR_RETURN(uint64_t round, U64Member(record, "round"));
      AGORA_ASSIGN_OR_RETURN(const json::array* results, ArrayMember(record, "results"));
      const std::string key = "round " + std::to_string(id) + "/" + std::to_string(round) + " " +
                              std::to_string(results->size());
      if (sent_.contains(key)) continue;
      if (Status answered = AnswerRound(client, id, *job, record); !answered.ok()) {
        Fail(Status(answered.code(), "round " + std::to_string(round) + " of job " +
                                         std::to_string(id) + ": " + answered.message()));
        continue;
      }
      sent_.insert(key);
      std::lock_guard lock(progress_mu_);
      ++progress_.round_results;
    }

    // Spot checks awaiting this validator: in a cancelled or failed job too,
    // whose running tasks are still verified and paid.
    if (status == "open") return Status::Ok();
    AGORA_ASSIGN_OR_RETURN(json::value answer,
                           client.Call("tasks", json::object{{"id", id}, {"from_round", current}}));
    AGORA_ASSIGN_OR_RETURN(const json::array* tasks, ArrayMember(answer, "tasks"));
    for (const json::value& t : *tasks) {
      AGORA_ASSIGN_OR_RETURN(std::string task_status, StringMember(t, "status"));
      if (task_status != "verifying") continue;
      AGORA_ASSIGN_OR_RETURN(uint64_t round, U64Member(t, "round"));
      AGORA_ASSIGN_OR_RETURN(uint64_t worker, U64Member(t, "worker"));
      AGORA_ASSIGN_OR_RETURN(uint64_t attempts, U64Member(t, "attempts"));
      AGORA_ASSIGN_OR_RETURN(
          json::value task,
          client.Call("task", json::object{{"job", id}, {"round", round}, {"worker", worker}}));
      const json::value* slots = task.as_object().if_contains("slots");
      if (slots == nullptr || !slots->is_array()) continue;
      for (const json::value& slot : slots->as_array()) {
        AGORA_ASSIGN_OR_RETURN(std::string slot_state, StringMember(slot, "state"));
        const json::value* awaiting = slot.as_object().if_contains("awaiting");
        if (slot_state != "pending" || awaiting == nullptr || !awaiting->is_string() ||
            awaiting->as_string() != me) {
          continue;
        }
        AGORA_ASSIGN_OR_RETURN(uint64_t k, U64Member(slot, "slot"));
        AGORA_ASSIGN_OR_RETURN(uint64_t due, U64Member(slot, "due_height"));
        const std::string key =
            "slot " + TaskName(id, static_cast<uint32_t>(round), static_cast<uint32_t>(worker)) +
            " " + std::to_string(attempts) + " " + std::to_string(k) + " " + std::to_string(due);
        if (sent_.contains(key)) continue;
        const Status answered =
            AnswerSlot(client, id, *job, static_cast<uint32_t>(round),
                       static_cast<uint32_t>(worker), static_cast<uint32_t>(k), due, task);
        if (!answered.ok()) {
          Fail(Status(
              answered.code(),
              "task " + TaskName(id, static_cast<uint32_t>(round), static_cast<uint32_t>(worker)) +
                  " slot " + std::to_string(k) + ": " + answered.message()));
          continue;
        }
        sent_.insert(key);
        std::lock_guard lock(progress_mu_);
        ++progress_.verdicts;
      }
    }
  }
  return Status::Ok();
}

Status ValidatorRole::EnsureRound(rpc::RpcClient& client, uint64_t id, JobState& job,
                                  uint32_t round, const rpc::BlobFetchOptions& fetch,
                                  std::optional<MissingBlob>* missing) {
  if (job.params.contains(round)) return Status::Ok();
  if (round == 0) {
    job.params[0] = trainer::TrainState::Fresh(job.config, job.spec.dataset_hash).params;
    job.momentum[0].assign(job.params[0].size(), 0.0f);
    return Status::Ok();
  }
  AGORA_RETURN_IF_ERROR(EnsureRound(client, id, job, round - 1, fetch, missing));
  // The passed tasks' deltas of the round before, in worker order, from
  // their providers.
  std::vector<Bytes> deltas;
  for (uint32_t k = 0; k < job.spec.workers; ++k) {
    AGORA_ASSIGN_OR_RETURN(
        json::value task,
        client.Call("task", json::object{{"job", id}, {"round", round - 1}, {"worker", k}}));
    AGORA_ASSIGN_OR_RETURN(std::string status, StringMember(task, "status"));
    if (status != "passed") {
      return Status::FailedPrecondition("task " + TaskName(id, round - 1, k) + " is " + status +
                                        ", not passed");
    }
    AGORA_ASSIGN_OR_RETURN(const json::value* commitment, Member(task, "commitment"));
    AGORA_ASSIGN_OR_RETURN(Hash256 delta, HashMember(*commitment, "delta_hash"));
    AGORA_ASSIGN_OR_RETURN(std::string provider, StringMember(*commitment, "provider"));
    AGORA_ASSIGN_OR_RETURN(std::string endpoint, EndpointOf(client, provider));
    std::vector<std::string> sources = {endpoint, options_.node_url};
    sources.insert(sources.end(), options_.sources.begin(), options_.sources.end());
    if (Status got = rpc::FetchBlob(blobs_, delta, sources, fetch); !got.ok()) {
      if (missing != nullptr && SourcesFailed(got)) *missing = MissingBlob{delta, round - 1, k};
      return Status(got.code(),
                    "delta of task " + TaskName(id, round - 1, k) + ": " + got.message());
    }
    AGORA_ASSIGN_OR_RETURN(Bytes bytes, blobs_.Read(delta, blobs_.options().blob_bytes_max));
    deltas.push_back(std::move(bytes));
  }
  AGORA_ASSIGN_OR_RETURN(
      verify::RoundAggregate aggregate,
      verify::AggregateRound(job.params[round - 1], job.momentum[round - 1], deltas));
  job.params[round] = std::move(aggregate.params);
  job.momentum[round] = std::move(aggregate.momentum);
  // Rounds go forward: the weights of the rounds before the one before are
  // needed no more (a long job kept every round's).
  std::erase_if(job.params, [&](const auto& e) { return e.first + 1 < round; });
  std::erase_if(job.momentum, [&](const auto& e) { return e.first + 1 < round; });
  return Status::Ok();
}

Status ValidatorRole::KeepModel(rpc::RpcClient& client, uint64_t id) {
  if (blobs_.GetModel(id).ok()) return Status::Ok();
  AGORA_ASSIGN_OR_RETURN(JobState * job, Job(client, id));
  AGORA_RETURN_IF_ERROR(
      EnsureRound(client, id, *job, job->spec.rounds, RoleFetchOptions(blobs_, loop_)));
  // A checkpoint holding the final weights (zero moments), which `agora
  // generate` reads like any other.
  trainer::TrainState model =
      verify::TaskStartState(job->config, job->spec.dataset_hash, job->spec.inner_steps,
                             job->spec.rounds, 0, job->params[job->spec.rounds]);
  AGORA_ASSIGN_OR_RETURN(Hash256 hash, blobs_.Put(trainer::SerializeCheckpoint(model)));
  AGORA_RETURN_IF_ERROR(blobs_.SetModel(id, hash));
  spdlog::info("validator role: job {} finished; its model is blob {}", id, hash.ToHex());
  jobs_.erase(id);  // nothing more to do for it
  return Status::Ok();
}

Status ValidatorRole::AnswerRound(rpc::RpcClient& client, uint64_t id, JobState& job,
                                  const json::value& record) {
  // Before any fetch: a job this machine cannot evaluate (a native job of
  // another class; its replay profile should not have named it).
  AGORA_ASSIGN_OR_RETURN(const kernels::Backend backend, BackendForJob(options_.device, job.spec));
  AGORA_ASSIGN_OR_RETURN(uint64_t round64, U64Member(record, "round"));
  const uint32_t round = static_cast<uint32_t>(round64);
  AGORA_ASSIGN_OR_RETURN(const json::array* results, ArrayMember(record, "results"));
  AGORA_ASSIGN_OR_RETURN(uint64_t due_height, U64Member(record, "due_height"));
  consensus::MsgRoundResult m;
  m.job_id = id;
  m.round = round;
  // What the record needs that its sources fail to serve (a dataset its
  // client withholds, a delta its provider no longer serves) is named
  // instead of the values: nobody could compute them, and without this
  // answer every validator drawn in turn would miss and be fined.
  // The fetches end at half the time left to the due height, as a slot's.
  AGORA_ASSIGN_OR_RETURN(const rpc::BlobFetchOptions fetch,
                         DueFetchOptions(client, blobs_, loop_, due_height));
  std::optional<MissingBlob> missing;
  auto unavailable = [&](const Status& why) -> Status {
    if (!missing) return why;
    spdlog::info("validator role: round {} of job {}: blob {} is unavailable: {}", round, id,
                 missing->hash.ToHex(), why.message());
    m.unavailable = missing->hash;
    m.unavailable_round = missing->round;
    m.unavailable_worker = missing->worker;
    return SubmitAndWait(client, key_, m);
  };
  if (Status ensured = EnsureRound(client, id, job, round, fetch, &missing); !ensured.ok()) {
    return unavailable(ensured);
  }
  Result<const trainer::Corpus*> corpus = Corpus(job, {}, &missing);
  if (!corpus.ok()) return unavailable(corpus.status());
  const std::vector<float>& params = job.params[round];
  AGORA_ASSIGN_OR_RETURN(
      const float loss,
      verify::ValidationLoss(job.spec, params, **corpus, backend, kValidationBatches));
  m.params_hash = trainer::HashFloats(params);
  m.validation_loss = trainer::FloatBits(loss);
  if (round < job.spec.rounds) {
    // Checkpoint 0 of each task of the round, stored for its provider.
    for (uint32_t k = 0; k < job.spec.workers; ++k) {
      const trainer::TrainState start = verify::TaskStartState(
          job.config, job.spec.dataset_hash, job.spec.inner_steps, round, k, params);
      AGORA_ASSIGN_OR_RETURN(Hash256 hash, blobs_.Put(trainer::SerializeCheckpoint(start)));
      m.start_hashes.push_back(hash);
    }
  }
  // The values go in the clear only to open an earlier result's
  // commitment (they then record the round); otherwise only their
  // commitment is sent, so nothing can be copied from the chain.
  const Hash256 digest = vf::RoundResultDigest(m.params_hash, m.validation_loss, m.start_hashes);
  bool opens = false;
  for (const json::value& x : *results) {
    if (!x.is_object() || !x.as_object().contains("commitment")) continue;
    AGORA_ASSIGN_OR_RETURN(std::string who, StringMember(x, "validator"));
    AGORA_ASSIGN_OR_RETURN(Address other, Address::Parse(who));
    AGORA_ASSIGN_OR_RETURN(Hash256 sealed, HashMember(x, "commitment"));
    opens |= sealed == vf::RoundResultCommitment(digest, other);
  }
  if (!opens) {
    m.commitment = vf::RoundResultCommitment(digest, address_);
    m.params_hash = Hash256{};
    m.validation_loss = 0;
    m.start_hashes.clear();
  }
  AGORA_RETURN_IF_ERROR(SubmitAndWait(client, key_, m));
  spdlog::info("validator role: round {} of job {}: sent {} (validation loss {:.4f})", round, id,
               m.commitment ? "a commitment" : "the values", loss);
  return Status::Ok();
}

Status ValidatorRole::AnswerSlot(rpc::RpcClient& client, uint64_t id, JobState& job, uint32_t round,
                                 uint32_t worker, uint32_t slot, uint64_t due_height,
                                 const json::value& task) {
  const market::JobSpec& spec = job.spec;
  AGORA_ASSIGN_OR_RETURN(const kernels::Backend backend, BackendForJob(options_.device, spec));
  const uint32_t c = spec.checkpoint_interval;
  const uint32_t segments = spec.inner_steps / c;
  AGORA_ASSIGN_OR_RETURN(const json::value* commitment, Member(task, "commitment"));
  AGORA_ASSIGN_OR_RETURN(Hash256 root, HashMember(*commitment, "checkpoint_root"));
  AGORA_ASSIGN_OR_RETURN(Hash256 delta_hash, HashMember(*commitment, "delta_hash"));
  AGORA_ASSIGN_OR_RETURN(std::string provider, StringMember(*commitment, "provider"));
  AGORA_ASSIGN_OR_RETURN(const json::array* committed_losses,
                         ArrayMember(*commitment, "losses_bits"));
  AGORA_ASSIGN_OR_RETURN(const json::array* slots, ArrayMember(task, "slots"));
  if (slot >= slots->size()) return Status::Internal("slot out of range");
  const json::value& s = (*slots)[slot];

  const consensus::marketplace::TaskId tid{id, round, worker};
  consensus::MsgVerdict v;
  v.job_id = id;
  v.round = round;
  v.worker = worker;
  v.slot = slot;
  verify::SegmentChoice choice;
  if (s.as_object().contains("segment")) {
    AGORA_ASSIGN_OR_RETURN(uint64_t segment, U64Member(s, "segment"));
    AGORA_ASSIGN_OR_RETURN(uint64_t witness, U64Member(s, "witness_step"));
    choice = {static_cast<uint32_t>(segment), static_cast<uint32_t>(witness)};
  } else {
    const VrfProof proof = VrfProve(key_, vf::SegmentVrfInput(tid, root, slot));
    choice = verify::SegmentFromVrf(VrfProofToHash(proof).bytes, vf::TaskBytes(tid), segments, c);
    v.vrf_proof = proof;
  }
  if (choice.segment >= segments) return Status::Internal("segment out of range");

  // What the provider must serve: the checkpoint list and the blobs. A
  // source under kServeBytesPerSecondMin (after a grace) is the provider's
  // fault: unavailable. The fetches also end at half the time left to the
  // slot's deadline (the rest is for the replay and the verdict's way into
  // a block); running out of that time is this validator's, and it sends
  // nothing. Without these bounds a provider that trickled its bytes kept
  // the validator fetching past the deadline, and the validator, not the
  // provider, was fined for missing (found in review, 2026-12-03).
  AGORA_ASSIGN_OR_RETURN(std::string endpoint, EndpointOf(client, provider));
  const std::vector<std::string> from_provider = {endpoint};
  AGORA_ASSIGN_OR_RETURN(const rpc::BlobFetchOptions fetch,
                         DueFetchOptions(client, blobs_, loop_, due_height));
  auto unavailable = [&](const Status& why) -> Status {
    // Only what the provider failed to serve counts against it: a full disk
    // or a read error here is this node's problem, and no verdict is sent.
    if (!SourcesFailed(why)) return why;
    spdlog::info("validator role: task {} is unavailable from {}: {}", TaskName(id, round, worker),
                 endpoint, why.message());
    v.outcome = consensus::VerdictOutcome::kUnavailable;
    v.start_proof.clear();
    v.end_proof.clear();
    v.final_proof.clear();
    return SubmitAndWait(client, key_, v);
  };
  Result<std::vector<Hash256>> list = rpc::FetchManifest(root, from_provider);
  if (!list.ok()) return unavailable(list.status());
  if (list->size() != segments + 1) {
    return unavailable(Status::Corruption("the manifest lists " + std::to_string(list->size()) +
                                          " checkpoints, not " + std::to_string(segments + 1)));
  }
  const uint32_t j = choice.segment;
  auto path = [&](uint64_t i) { return merkle::Prove(*list, i).siblings; };
  v.start_hash = (*list)[j];
  v.start_proof = path(j);
  v.committed_end = (*list)[j + 1];
  v.end_proof = path(j + 1);
  v.final_hash = (*list)[segments];
  v.final_proof = path(segments);

  Result<trainer::LoadedCheckpoint> first =
      FetchCheckpoint(blobs_, (*list)[0], from_provider, fetch);
  if (!first.ok()) return unavailable(first.status());
  Result<trainer::LoadedCheckpoint> start =
      FetchCheckpoint(blobs_, v.start_hash, from_provider, fetch);
  if (!start.ok()) return unavailable(start.status());
  Result<trainer::LoadedCheckpoint> final_state =
      FetchCheckpoint(blobs_, v.final_hash, from_provider, fetch);
  if (!final_state.ok()) return unavailable(final_state.status());
  if (Status got = rpc::FetchBlob(blobs_, delta_hash, from_provider, fetch); !got.ok()) {
    return unavailable(got);
  }
  AGORA_ASSIGN_OR_RETURN(Bytes delta, blobs_.Read(delta_hash, blobs_.options().blob_bytes_max));

  // The dataset, which the provider trained on and serves too: a task whose
  // data nobody serves cannot be checked, and counts against its provider
  // rather than have each validator drawn for it miss in turn.
  Result<const trainer::Corpus*> corpus_or = Corpus(job, from_provider);
  if (!corpus_or.ok()) return unavailable(corpus_or.status());
  const trainer::Corpus* corpus = *corpus_or;
  // The provider's checkpoint j gives the tensors; what the state is (the
  // job's config and data, this task's round and worker, its step) comes
  // from the ledger. A checkpoint whose own fields say otherwise (copied
  // from another worker or job) is replayed as the state it should be, and
  // fails: its hash is not the hash of that state.
  trainer::TrainState from = std::move(start->state);
  const int64_t at = int64_t{j} * c;
  const int64_t step = int64_t{round} * spec.inner_steps + at;
  const bool start_true = from.config == job.config && from.data_hash == spec.dataset_hash &&
                          from.round == round && from.worker == worker && from.round_step == at &&
                          from.step == step;
  // Every tensor the replay and the delta check read must have the job's
  // parameter count, whatever the provider's checkpoints say of their model.
  const size_t count = static_cast<size_t>(job.config.model.ParameterCount());
  for (const auto& [name, state] :
       {std::pair{std::to_string(j), &from}, std::pair{std::string("0"), &first->state},
        std::pair{std::to_string(segments), &final_state->state}}) {
    if (state->params.size() != count || state->m.size() != count || state->v.size() != count) {
      return unavailable(Status::Corruption("checkpoint " + name +
                                            " is not a state of this job's model"));
    }
  }
  from.config = job.config;
  from.data_hash = spec.dataset_hash;
  from.round = round;
  from.worker = worker;
  from.round_step = at;
  from.step = step;
  AGORA_ASSIGN_OR_RETURN(
      verify::SegmentReplay replay,
      replayer_.Replay(std::move(from), c, choice.witness_step, *corpus, backend,
                       /*hash_start=*/false));
  v.replayed_end = replay.end_hash;
  v.witness_hash = replay.witness_hash;
  bool losses_ok = committed_losses->size() == spec.inner_steps;
  for (uint32_t i = 0; i < c; ++i) {
    const uint32_t bits = trainer::FloatBits(replay.losses[i]);
    v.losses.push_back(bits);
    if (!losses_ok) continue;
    const json::value& committed = (*committed_losses)[size_t{j} * c + i];
    losses_ok = committed.is_number() && committed.to_number<uint64_t>() == bits;
  }
  if (!start_true && v.replayed_end == v.committed_end) {
    // The start file says it is another state (another job, worker or
    // step) though its tensors replay to the committed end: it is not the
    // checkpoint the commitment needs, and a fail for the end state would
    // be refused (the end matches). Count it against the provider.
    return unavailable(Status::Corruption("checkpoint " + std::to_string(j) +
                                          " names another state than this task's"));
  }
  const bool end_ok = start_true && v.replayed_end == v.committed_end;
  const bool delta_ok =
      verify::CheckDelta(first->state.params, final_state->state, delta, delta_hash).ok();
  if (end_ok && losses_ok && delta_ok) {
    v.outcome = consensus::VerdictOutcome::kPass;
  } else {
    v.outcome = consensus::VerdictOutcome::kFail;
    v.reason = !end_ok      ? consensus::FailReason::kEndState
               : !losses_ok ? consensus::FailReason::kLosses
                            : consensus::FailReason::kDelta;
  }
  if (!options_.lie_file.empty() && std::filesystem::exists(options_.lie_file)) {
    // What it lies about is the file's first word: "losses", "delta", or
    // anything else for the end state.
    std::string what;
    std::ifstream(options_.lie_file) >> what;
    spdlog::warn("validator role: LYING ({}) about task {} segment {} ({} exists)",
                 what.empty() ? "end state" : what, TaskName(id, round, worker), j,
                 options_.lie_file.string());
    v.outcome = consensus::VerdictOutcome::kFail;
    if (what == "losses") {
      v.reason = consensus::FailReason::kLosses;
      v.losses.back() ^= 1;  // the last step's loss, one bit off
    } else if (what == "delta") {
      v.reason = consensus::FailReason::kDelta;
    } else {
      v.reason = consensus::FailReason::kEndState;
      v.replayed_end = Blake2b256(AsBytes("a made-up end state " + v.replayed_end.ToHex()));
    }
  }
  // The witness goes in the clear only to open an earlier sealed pass
  // with the same end (the two then agree); otherwise it is sealed
  // (WitnessCommitment), so nobody can copy it from the chain
  // (vf::WitnessToSend, on the slot as the node shows it).
  bool opens = false;
  if (const json::object* so = s.if_object(); so != nullptr && so->contains("verdicts")) {
    if (const json::array* verdicts = so->at("verdicts").if_array(); verdicts != nullptr) {
      for (const json::value& x : *verdicts) {
        const json::object* xo = x.if_object();
        if (xo == nullptr || xo->if_contains("outcome") == nullptr ||
            xo->at("outcome") != "pass" || xo->contains("overturned")) {
          continue;
        }
        const json::value* sealed = xo->if_contains("witness_sealed");
        if (sealed == nullptr || !sealed->is_bool() || !sealed->as_bool()) continue;
        AGORA_ASSIGN_OR_RETURN(Hash256 end, HashMember(x, "replayed_end"));
        AGORA_ASSIGN_OR_RETURN(Hash256 seal, HashMember(x, "witness_hash"));
        AGORA_ASSIGN_OR_RETURN(std::string who, StringMember(x, "validator"));
        AGORA_ASSIGN_OR_RETURN(Address other, Address::Parse(who));
        opens |= end == v.replayed_end && seal == vf::WitnessCommitment(v.witness_hash, other);
      }
    }
  }
  if (!opens) v.witness_hash = vf::WitnessCommitment(v.witness_hash, address_);
  AGORA_RETURN_IF_ERROR(SubmitAndWait(client, key_, v));
  spdlog::info("validator role: task {} segment {}: {}", TaskName(id, round, worker), j,
               v.outcome == consensus::VerdictOutcome::kPass ? "pass" : "FAIL");
  return Status::Ok();
}

}  // namespace agora::node::roles
