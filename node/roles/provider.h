// ProviderRole: the provider's worker inside agorad (docs/roles.md).
//
// It follows committed state through the node's own JSON-RPC, as any client
// would, so it never touches the consensus thread's data: every poll it
// looks for tasks assigned to its account that it has not committed yet,
// and for each one
//
//   1. gets the job's exact spec (the `job` method's "spec_pb") and the
//      dataset blob (from its own store, else from the configured sources);
//   2. gets the round's start: for round 0 the seed's initialization, for a
//      later round the checkpoint the ledger recorded for this worker,
//      fetched by its hash (the fetch checks it);
//   3. runs verify::RunTask on its own thread, storing every checkpoint and
//      the int8 delta in the blob store, where validators fetch them;
//   4. if the task is still its own, signs and submits CommitTask with the
//      proof that checkpoint 0 is the recorded start, and waits for it to be
//      committed.
//
// After each checkpoint it writes the task's progress (checkpoint hashes and
// losses so far) under `state_dir`; a provider killed mid-task (kill -9)
// and started again resumes from its last stored checkpoint, as long as the
// task is still assigned to it (PROTOCOL.md's deadline); the result is bit
// for bit the uninterrupted one (verify::RunTaskOptions::resume).
//
// A failure (a blob nobody serves, a refused commit) is logged and shown in
// progress(); the task is tried again at the next poll while it stays
// assigned. Thread safety: Start and Stop from one thread; progress() from
// any.
#ifndef AGORA_NODE_ROLES_PROVIDER_H_
#define AGORA_NODE_ROLES_PROVIDER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "common/address.h"
#include "common/hash.h"
#include "common/keys.h"
#include "common/status.h"
#include "kernels/backend.h"
#include "node/roles/dispute_work.h"
#include "node/roles/role_util.h"
#include "node/storage/blob_store.h"

namespace agora::node::roles {

struct ProviderRoleOptions {
  std::string node_url;  // this node's RPC, "http://127.0.0.1:PORT"
  // Other nodes' RPC URLs to fetch datasets and start checkpoints from; the
  // node itself is always asked first.
  std::vector<std::string> sources;
  int threads = 0;  // kernel threads; 0 keeps the kernels' default
  // What it trains and replays on; each job's backend is BackendForJob's.
  RoleDevice device;
  std::chrono::milliseconds poll_interval{300};
  // Where the progress of the task being trained is kept (a file per task,
  // rewritten after each checkpoint) so that a provider killed mid-task
  // resumes from its last checkpoint; empty: never resume.
  std::filesystem::path state_dir;
  // Fault injection for tests (AGORA_FAULT_PROVIDER_HOLD, docs/roles.md):
  // while this file exists and reads "PREFIX STEP", training of a task whose
  // name starts with PREFIX stops at its first checkpoint at or after STEP,
  // that checkpoint stored and the progress saved, until the file is gone
  // or says otherwise. Empty: never held.
  std::filesystem::path hold_file;
};

struct ProviderProgress {
  uint64_t tasks_committed = 0;
  uint64_t tasks_resumed = 0;  // tasks continued from a checkpoint after a restart
  std::string current;         // "job/round/worker" being trained, or empty
  uint32_t step = 0;           // of `current`: inner steps done, of `steps`
  uint32_t steps = 0;
  uint32_t resumed_from = 0;   // of `current`: the step it resumed at, 0 if fresh
  bool held = false;           // stopped at a checkpoint by options.hold_file
  DisputeCounts disputes;      // disputes it opened, its moves in them
  std::string last_error;      // the last failure, kept until a task succeeds
  // Empty, or why the offer on the ledger names a class this machine does
  // not run (DeclaredClassesProblem), checked at every poll.
  std::string offer_problem;
  // Time inside verify::RunTask, summed over tasks: wall seconds, and the
  // process's CPU seconds over those windows (the kernels' threads and,
  // meanwhile, the node's other threads), for bench/job's share of the
  // provider's CPU spent training.
  double training_wall_s = 0;
  double training_cpu_s = 0;
};

class ProviderRole {
 public:
  // `key` is the provider account's.
  ProviderRole(ProviderRoleOptions options, const SecretKey& key, storage::BlobStore& blobs);
  ~ProviderRole();  // Stop()
  ProviderRole(const ProviderRole&) = delete;
  ProviderRole& operator=(const ProviderRole&) = delete;

  void Start();
  // Asks the worker to stop and joins it; a task being trained finishes its
  // current step first (RunTask has no cancellation), so this may wait for it.
  void Stop();

  ProviderProgress progress() const;
  const Address& address() const { return address_; }
  // The blobs of the tasks in training that no ledger names yet (round
  // start, checkpoints so far, delta, and the manifest's root): blob gc
  // keeps them (as blobs and as manifests) whatever their age. Any thread.
  std::vector<Hash256> TrainingBlobs() const;

 private:
  using TaskKey =
      std::tuple<uint64_t, uint32_t, uint32_t, uint32_t>;  // job, round, worker, attempts
  Status Poll();
  // Reads this account's offer and sets progress_.offer_problem (logged
  // when it changes to a problem).
  void CheckOffer(rpc::RpcClient& client);
  Status Work(uint64_t job, uint32_t round, uint32_t worker);
  void SetCurrent(std::string current);
  std::filesystem::path ProgressPath(uint64_t job, uint32_t round, uint32_t worker) const;
  void Fail(const Status& status);
  // Waits while options_.hold_file holds task `name` at `step` (a checkpoint).
  void HoldIfAsked(const std::string& name, uint32_t step);

  const ProviderRoleOptions options_;
  const SecretKey key_;
  storage::BlobStore& blobs_;
  const Address address_;
  PollLoop loop_;
  DisputeWork disputes_;
  mutable std::mutex progress_mu_;
  ProviderProgress progress_;    // guarded by progress_mu_
  // By task name, until the task is committed or no longer this provider's.
  std::map<std::string, std::set<Hash256>> training_blobs_;  // guarded by progress_mu_
  std::set<TaskKey> committed_;  // worker thread only
};

}  // namespace agora::node::roles

#endif  // AGORA_NODE_ROLES_PROVIDER_H_
