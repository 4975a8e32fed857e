#include "node/roles/provider.h"

#include <sys/resource.h>

#include <bit>
#include <sstream>
#include <boost/json.hpp>
#include <utility>

#include "common/encoding.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/merkle.h"
#include "common/proto_codec.h"
#include "consensus/ledger/tx.h"
#include "kernels/parallel.h"
#include "node/roles/role_util.h"
#include "node/rpc/blob_fetch.h"
#include "node/rpc/client.h"
#include "proto/tx.pb.h"
#include "trainer/checkpoint.h"
#include "trainer/data.h"
#include "verify/task.h"

namespace agora::node::roles {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// What the ledger says task (job, round, worker) is now: its status and
// provider.
struct TaskView {
  std::string status;
  std::string provider;
  uint32_t attempts = 0;
};

Result<TaskView> FetchTask(rpc::RpcClient& client, uint64_t job, uint32_t round, uint32_t worker) {
  AGORA_ASSIGN_OR_RETURN(json::value answer,
                         client.Call("tasks", json::object{{"id", job}, {"from_round", round}}));
  AGORA_ASSIGN_OR_RETURN(const json::value* tasks, Member(answer, "tasks"));
  if (tasks->is_array()) {
    for (const json::value& t : tasks->as_array()) {
      AGORA_ASSIGN_OR_RETURN(uint64_t r, U64Member(t, "round"));
      AGORA_ASSIGN_OR_RETURN(uint64_t w, U64Member(t, "worker"));
      if (r != round || w != worker) continue;
      TaskView view;
      AGORA_ASSIGN_OR_RETURN(view.status, StringMember(t, "status"));
      if (t.as_object().contains("provider")) {
        AGORA_ASSIGN_OR_RETURN(view.provider, StringMember(t, "provider"));
      }
      AGORA_ASSIGN_OR_RETURN(uint64_t attempts, U64Member(t, "attempts"));
      view.attempts = static_cast<uint32_t>(attempts);
      return view;
    }
  }
  return Status::NotFound("task " + TaskName(job, round, worker) + " is not on the ledger");
}

// User plus system CPU time of the whole process so far.
double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The progress file: {"checkpoints": [hex, ...], "losses_bits": [u32, ...]}.
std::string RenderProgress(const std::vector<Hash256>& checkpoints,
                           const std::vector<float>& losses) {
  json::array hashes, bits;
  for (const Hash256& h : checkpoints) hashes.push_back(json::value(h.ToHex()));
  for (float loss : losses) bits.push_back(trainer::FloatBits(loss));
  return json::serialize(json::object{{"checkpoints", std::move(hashes)},
                                      {"losses_bits", std::move(bits)}});
}

// The resume point a progress file describes, with the state of its last
// checkpoint from the blob store; nullopt (and the reason logged) when the
// file is missing, damaged or its checkpoint is gone.
std::optional<verify::TaskResume> LoadProgress(const std::filesystem::path& path,
                                               storage::BlobStore& blobs) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  auto fail = [&](const std::string& why) -> std::optional<verify::TaskResume> {
    spdlog::warn("provider role: not resuming from {}: {}; training from the start",
                 path.string(), why);
    return std::nullopt;
  };
  Result<std::string> text = ReadFile(path, 1 << 22);
  if (!text.ok()) return fail(text.status().message());
  boost::system::error_code parse_error;
  const json::value v = json::parse(*text, parse_error);
  if (parse_error || !v.is_object()) return fail("not JSON");
  const json::value* hashes = v.as_object().if_contains("checkpoints");
  const json::value* bits = v.as_object().if_contains("losses_bits");
  if (hashes == nullptr || !hashes->is_array() || hashes->as_array().empty() ||
      bits == nullptr || !bits->is_array()) {
    return fail("no checkpoints or losses");
  }
  verify::TaskResume resume;
  for (const json::value& h : hashes->as_array()) {
    if (!h.is_string()) return fail("a checkpoint hash is not a string");
    Result<Hash256> hash = Hash256::FromHex(h.as_string());
    if (!hash.ok()) return fail(hash.status().message());
    resume.checkpoint_hashes.push_back(*hash);
  }
  for (const json::value& b : bits->as_array()) {
    if (!b.is_number()) return fail("a loss is not a number");
    boost::system::error_code number_error;
    const uint32_t u = b.to_number<uint32_t>(number_error);
    if (number_error) return fail("a loss is not a 32-bit pattern");
    resume.losses.push_back(std::bit_cast<float>(u));
  }
  // Every checkpoint must still be here: a validator may ask for any.
  for (const Hash256& h : resume.checkpoint_hashes) {
    if (!blobs.Has(h)) return fail("its checkpoint " + h.ToHex() + " is no longer stored");
  }
  Result<Bytes> bytes =
      blobs.Read(resume.checkpoint_hashes.back(), blobs.options().blob_bytes_max);
  if (!bytes.ok()) return fail("its last checkpoint: " + bytes.status().message());
  Result<trainer::LoadedCheckpoint> loaded = trainer::ParseCheckpoint(*bytes);
  if (!loaded.ok()) return fail("its last checkpoint: " + loaded.status().message());
  resume.state = std::move(loaded->state);
  return resume;
}

}  // namespace

ProviderRole::ProviderRole(ProviderRoleOptions options, const SecretKey& key,
                           storage::BlobStore& blobs)
    : options_(std::move(options)),
      key_(key),
      blobs_(blobs),
      address_(Address::FromPublicKey(key.public_key())),
      disputes_({options_.node_url, options_.sources, options_.device, options_.poll_interval,
                 "provider", {}, /*defend_own_tasks=*/true},
                key, blobs) {}

ProviderRole::~ProviderRole() { Stop(); }

void ProviderRole::Start() {
  if (options_.threads > 0) kernels::SetThreadCount(options_.threads);
  spdlog::info("provider role: account {}, blobs served from this node's /blob",
               address_.ToString());
  loop_.Start(options_.poll_interval, [this] {
    if (Status polled = Poll(); !polled.ok()) Fail(polled);
  });
  disputes_.Start();
}

void ProviderRole::Stop() {
  disputes_.Stop();
  loop_.Stop();
}

ProviderProgress ProviderRole::progress() const {
  std::lock_guard lock(progress_mu_);
  ProviderProgress p = progress_;
  p.disputes = disputes_.counts();
  return p;
}

std::vector<Hash256> ProviderRole::TrainingBlobs() const {
  std::lock_guard lock(progress_mu_);
  std::vector<Hash256> out;
  for (const auto& [task, hashes] : training_blobs_) {
    out.insert(out.end(), hashes.begin(), hashes.end());
  }
  return out;
}

void ProviderRole::SetCurrent(std::string current) {
  std::lock_guard lock(progress_mu_);
  progress_.current = std::move(current);
  progress_.step = progress_.steps = progress_.resumed_from = 0;
}

std::filesystem::path ProviderRole::ProgressPath(uint64_t job, uint32_t round,
                                                 uint32_t worker) const {
  return options_.state_dir / ("task-" + std::to_string(job) + "-" + std::to_string(round) + "-" +
                               std::to_string(worker) + ".json");
}

void ProviderRole::HoldIfAsked(const std::string& name, uint32_t step) {
  if (options_.hold_file.empty()) return;
  auto asked = [&] {
    Result<std::string> text = ReadFile(options_.hold_file, 256);
    if (!text.ok()) return false;
    std::istringstream in(*text);
    std::string prefix;
    uint32_t at = 0;
    return static_cast<bool>(in >> prefix >> at) && name.starts_with(prefix) && step >= at;
  };
  if (!asked()) return;
  spdlog::info("provider role: task {} held at step {} by {}", name, step,
               options_.hold_file.string());
  {
    std::lock_guard lock(progress_mu_);
    progress_.held = true;
  }
  while (!loop_.stopping() && asked()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::lock_guard lock(progress_mu_);
  progress_.held = false;
}

void ProviderRole::Fail(const Status& status) {
  spdlog::warn("provider role: {}", status.ToString());
  std::lock_guard lock(progress_mu_);
  progress_.last_error = status.ToString();
}

void ProviderRole::CheckOffer(rpc::RpcClient& client) {
  Result<json::value> p = client.Call("provider", json::object{{"address", address_.ToString()}});
  if (!p.ok()) return;  // not registered (yet), or the node busy: nothing to check
  Result<std::string> offered = StringMember(*p, "hardware_class");
  if (!offered.ok()) return;
  const std::string problem = DeclaredClassesProblem(options_.device, {*offered},
                                                     "the provider's offer",
                                                     "agora provider update --hardware");
  std::lock_guard lock(progress_mu_);
  if (!problem.empty() && problem != progress_.offer_problem) {
    spdlog::error("provider role: {}", problem);
  }
  progress_.offer_problem = problem;
}

Status ProviderRole::Poll() {
  rpc::RpcClient client(options_.node_url);
  // The ledger cannot check hardware: this role checks its own offer.
  CheckOffer(client);
  // Cancelled and failed jobs included: their running tasks still train and
  // are paid (docs/market.md).
  AGORA_ASSIGN_OR_RETURN(const json::array unended, UnendedJobs(client));
  const std::string me = address_.ToString();
  std::set<std::filesystem::path> mine;  // progress files of tasks assigned to this account
  std::set<std::string> assigned_names;    // and their names
  for (const json::value& j : unended) {
    AGORA_ASSIGN_OR_RETURN(std::string job_status, StringMember(j, "status"));
    if (job_status == "open") continue;  // nothing assigned yet
    AGORA_ASSIGN_OR_RETURN(uint64_t job, U64Member(j, "id"));
    AGORA_ASSIGN_OR_RETURN(uint64_t round, U64Member(j, "round"));
    AGORA_ASSIGN_OR_RETURN(json::value answer,
                           client.Call("tasks", json::object{{"id", job}, {"from_round", round}}));
    AGORA_ASSIGN_OR_RETURN(const json::value* tasks, Member(answer, "tasks"));
    if (!tasks->is_array()) continue;
    for (const json::value& t : tasks->as_array()) {
      const json::value* provider = t.as_object().if_contains("provider");
      if (provider == nullptr || !provider->is_string() || provider->as_string() != me) continue;
      AGORA_ASSIGN_OR_RETURN(std::string status, StringMember(t, "status"));
      AGORA_ASSIGN_OR_RETURN(uint64_t r, U64Member(t, "round"));
      AGORA_ASSIGN_OR_RETURN(uint64_t w, U64Member(t, "worker"));
      // A task being verified is defended by the dispute thread, which looks
      // for its fails itself: not from here, where training another task
      // would keep it waiting past the dispute window.
      if (status != "assigned") continue;
      AGORA_ASSIGN_OR_RETURN(uint64_t attempts, U64Member(t, "attempts"));
      mine.insert(ProgressPath(job, static_cast<uint32_t>(r), static_cast<uint32_t>(w)));
      assigned_names.insert(TaskName(job, static_cast<uint32_t>(r), static_cast<uint32_t>(w)));
      const TaskKey key{job, static_cast<uint32_t>(r), static_cast<uint32_t>(w),
                        static_cast<uint32_t>(attempts)};
      if (committed_.contains(key)) continue;  // sent; the ledger has not moved on yet
      if (loop_.stopping()) return Status::Ok();
      const Status worked = Work(job, static_cast<uint32_t>(r), static_cast<uint32_t>(w));
      SetCurrent("");
      if (!worked.ok()) {
        Fail(Status(worked.code(),
                    "task " + TaskName(job, static_cast<uint32_t>(r), static_cast<uint32_t>(w)) +
                        ": " + worked.message()));
        continue;
      }
      committed_.insert(key);
      std::lock_guard lock(progress_mu_);
      ++progress_.tasks_committed;
      progress_.last_error.clear();
    }
  }
  // The pins of tasks no longer ours are dropped.
  {
    std::lock_guard lock(progress_mu_);
    std::erase_if(training_blobs_,
                  [&](const auto& entry) { return !assigned_names.contains(entry.first); });
  }
  // The progress of tasks no longer ours (committed, reassigned while this
  // node was down, cancelled) is of no use: remove it.
  std::error_code ec;
  if (!options_.state_dir.empty() && std::filesystem::is_directory(options_.state_dir, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(options_.state_dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with("task-") && name.ends_with(".json") && !mine.contains(entry.path())) {
        std::error_code removed;
        std::filesystem::remove(entry.path(), removed);
      }
    }
  }
  return Status::Ok();
}

Status ProviderRole::Work(uint64_t job, uint32_t round, uint32_t worker) {
  const std::string name = TaskName(job, round, worker);
  SetCurrent(name);
  // What this task stores before its commitment names it is kept from blob
  // gc until the task is done with: committed, or no longer this
  // provider's (a failed attempt keeps them for the next). Until 2026-12-03
  // a task training longer than [blobs] gc_grace_s lost its first
  // checkpoints to gc and committed a list its validators could not fetch.
  auto pin = [&](const Hash256& h) {
    std::lock_guard lock(progress_mu_);
    training_blobs_[name].insert(h);
  };
  auto unpin = [&] {
    std::lock_guard lock(progress_mu_);
    training_blobs_.erase(name);
  };
  rpc::RpcClient client(options_.node_url);
  AGORA_ASSIGN_OR_RETURN(market::JobSpec spec, FetchSpec(client, job));
  AGORA_ASSIGN_OR_RETURN(trainer::TrainConfig config, verify::TrainConfigOf(spec));
  // A native job of a class this machine is not: the offer's class is wrong,
  // and training it on other kernels would commit hashes no validator of
  // the class replays. The error says what to change; the task misses.
  AGORA_ASSIGN_OR_RETURN(const kernels::Backend backend, BackendForJob(options_.device, spec));

  std::vector<std::string> sources = {options_.node_url};
  sources.insert(sources.end(), options_.sources.begin(), options_.sources.end());
  const rpc::BlobFetchOptions fetch = RoleFetchOptions(blobs_, loop_);

  // The dataset.
  AGORA_RETURN_IF_ERROR(rpc::FetchBlob(blobs_, spec.dataset_hash, sources, fetch));
  AGORA_ASSIGN_OR_RETURN(trainer::Corpus corpus,
                         trainer::Corpus::Load(blobs_.PathOf(spec.dataset_hash)));

  // The round's start: the seed's initialization, or the recorded checkpoint.
  std::vector<float> round_params;
  if (round == 0) {
    round_params = trainer::TrainState::Fresh(config, spec.dataset_hash).params;
  } else {
    AGORA_ASSIGN_OR_RETURN(json::value rounds,
                           client.Call("round_results", json::object{{"job", job}}));
    AGORA_ASSIGN_OR_RETURN(const json::value* list, Member(rounds, "rounds"));
    std::optional<Hash256> start;
    for (const json::value& r : list->as_array()) {
      AGORA_ASSIGN_OR_RETURN(uint64_t number, U64Member(r, "round"));
      if (number != round) continue;
      AGORA_ASSIGN_OR_RETURN(const json::value* starts, Member(r, "start_hashes"));
      if (!starts->is_array() || starts->as_array().size() <= worker) break;
      AGORA_ASSIGN_OR_RETURN(start, Hash256::FromHex(starts->as_array()[worker].as_string()));
    }
    if (!start)
      return Status::FailedPrecondition("round " + std::to_string(round) +
                                        " has no recorded start");
    pin(*start);
    AGORA_RETURN_IF_ERROR(rpc::FetchBlob(blobs_, *start, sources, fetch));
    AGORA_ASSIGN_OR_RETURN(Bytes bytes, blobs_.Read(*start, blobs_.options().blob_bytes_max));
    AGORA_ASSIGN_OR_RETURN(trainer::LoadedCheckpoint loaded, trainer::ParseCheckpoint(bytes));
    round_params = std::move(loaded.state.params);
  }

  // Training, every checkpoint into the blob store for the validators and
  // the progress beside it, so that a crash loses at most one segment.
  const std::filesystem::path progress_path = ProgressPath(job, round, worker);
  std::optional<verify::TaskResume> resume;
  if (!options_.state_dir.empty()) {
    std::error_code made;
    std::filesystem::create_directories(options_.state_dir, made);
    if (made) {
      return Status::IoError("cannot make " + options_.state_dir.string() + ": " + made.message());
    }
    resume = LoadProgress(progress_path, blobs_);
  }
  std::vector<Hash256> hashes;
  std::vector<float> losses;
  if (resume) {
    hashes = resume->checkpoint_hashes;
    losses = resume->losses;
    for (const Hash256& h : hashes) pin(h);
  }
  {
    std::lock_guard lock(progress_mu_);
    progress_.steps = spec.inner_steps;
    progress_.step = progress_.resumed_from = static_cast<uint32_t>(losses.size());
    if (resume) ++progress_.tasks_resumed;
  }
  if (resume) {
    spdlog::info("provider role: resuming task {} at step {} of {} from its checkpoint {}", name,
                 losses.size(), spec.inner_steps, hashes.back().ToHex());
  } else {
    spdlog::info("provider role: training task {} ({} inner steps, a checkpoint every {})", name,
                 spec.inner_steps, spec.checkpoint_interval);
  }
  Status stored;
  verify::RunTaskOptions run;
  run.resume = resume ? &*resume : nullptr;
  run.on_step = [&](uint32_t step, float loss) {
    losses.push_back(loss);
    std::lock_guard lock(progress_mu_);
    progress_.step = step;
  };
  // Each checkpoint's file and hash come from one pass over the state, and
  // the store does not hash the file again.
  run.on_checkpoint_file = [&](Bytes file, const Hash256& hash) {
    if (!stored.ok()) return;
    pin(hash);
    if (Status put = blobs_.PutHashed(file, hash); !put.ok()) {
      stored = put;
      return;
    }
    hashes.push_back(hash);
    if (!options_.state_dir.empty()) {
      if (Status saved =
              WriteFileAtomic(progress_path, AsBytes(RenderProgress(hashes, losses)), 0600);
          !saved.ok()) {
        spdlog::warn("provider role: cannot save the progress of task {}: {}", name,
                     saved.message());
      }
    }
    HoldIfAsked(name, static_cast<uint32_t>(losses.size()));
  };
  const double cpu_before = ProcessCpuSeconds();
  const auto wall_before = std::chrono::steady_clock::now();
  Result<verify::TaskResult> ran =
      verify::RunTask(spec, round, worker, round_params, corpus, backend, run);
  if (!ran.ok() && resume && ran.status().code() == StatusCode::kInvalidArgument) {
    // Progress that is not this task's (written by another version, or
    // damaged): train from the start rather than stay stuck.
    spdlog::warn("provider role: cannot resume task {}: {}; training from the start", name,
                 ran.status().message());
    std::error_code ignored;
    std::filesystem::remove(progress_path, ignored);
    hashes.clear();
    losses.clear();
    run.resume = nullptr;
    {
      std::lock_guard lock(progress_mu_);
      progress_.step = progress_.resumed_from = 0;
    }
    ran = verify::RunTask(spec, round, worker, round_params, corpus, backend, run);
  }
  {
    std::lock_guard lock(progress_mu_);
    progress_.training_cpu_s += ProcessCpuSeconds() - cpu_before;
    progress_.training_wall_s +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
  }
  AGORA_ASSIGN_OR_RETURN(verify::TaskResult result, std::move(ran));
  AGORA_RETURN_IF_ERROR(stored);
  pin(result.delta_hash);
  pin(result.checkpoint_root);  // the manifest below, by its root
  AGORA_RETURN_IF_ERROR(blobs_.Put(result.delta).status());

  // Still ours? A missed deadline gives the task to someone else.
  AGORA_ASSIGN_OR_RETURN(TaskView now, FetchTask(client, job, round, worker));
  if (now.status != "assigned" || now.provider != address_.ToString()) {
    unpin();
    std::error_code ignored;
    std::filesystem::remove(progress_path, ignored);
    return Status::FailedPrecondition("the task is no longer assigned to this provider (" +
                                      now.status + "); the work is dropped");
  }

  consensus::MsgCommitTask m;
  m.job_id = job;
  m.round = round;
  m.worker = worker;
  m.checkpoint_root = result.checkpoint_root;
  m.delta_hash = result.delta_hash;
  for (float loss : result.losses) m.losses.push_back(trainer::FloatBits(loss));
  m.start_proof = merkle::Prove(result.checkpoint_hashes, 0).siblings;

  // Validators ask for the list of checkpoint hashes by the committed root.
  AGORA_RETURN_IF_ERROR(blobs_.PutManifest(result.checkpoint_root, result.checkpoint_hashes));
  AGORA_RETURN_IF_ERROR(SubmitAndWait(client, key_, m));
  unpin();  // the commitment names them now
  std::error_code ignored;
  std::filesystem::remove(progress_path, ignored);
  spdlog::info("provider role: committed task {} (root {}, final loss {:.4f})", name,
               result.checkpoint_root.ToHex(), result.losses.empty() ? 0.0 : result.losses.back());
  return Status::Ok();
}

}  // namespace agora::node::roles
