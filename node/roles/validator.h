// ValidatorRole: a validator's verification work inside agorad
// (docs/roles.md). Like the provider role it reads committed state through
// the node's own JSON-RPC and sends transactions like any client; the
// consensus thread never waits for it.
//
// Every poll it answers what the ledger has drawn its account for:
//
//   Spot checks. For each pending slot of a task awaiting it, it fetches the
//   provider's checkpoint list by the committed root (GET /manifest) and the
//   checkpoints and delta it needs (GET /blob) from the provider's
//   registered endpoint, picks the segment with its VRF if it is the slot's
//   first verdict, replays the segment with the deterministic kernels,
//   checks the delta against the final checkpoint, and sends the Verdict
//   (pass, fail with the reason, or unavailable when the provider does not
//   serve what it committed).
//
//   Round records. For each round record awaiting it, it computes the
//   weights at the start of the round: the seed's initialization for round
//   0, else the outer step over the passed tasks' deltas of the round before
//   (recomputed from round 0 when it has not followed the job), their
//   validation loss (kValidationBatches batches of the held-out slice), and
//   checkpoint 0 of each task of the round, which it stores as blobs for
//   the providers. It sends a commitment when it is the round's first
//   result, else the values.
//
//   Finished jobs. It stores the final weights as a checkpoint blob and
//   notes it (BlobStore::SetModel) for `agora job fetch`.
//
// Thread safety: Start and Stop from one thread; progress() from any.
#ifndef AGORA_NODE_ROLES_VALIDATOR_H_
#define AGORA_NODE_ROLES_VALIDATOR_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/address.h"
#include "common/keys.h"
#include "common/status.h"
#include "kernels/backend.h"
#include "market/job_spec.h"
#include "node/roles/dispute_work.h"
#include "node/roles/role_util.h"
#include "node/rpc/client.h"
#include "node/storage/blob_store.h"
#include "verify/task.h"
#include "trainer/config.h"
#include "trainer/data.h"

namespace agora::node::roles {

// Validation batches every validator evaluates a round's weights on: two
// results match only if they agree on this.
inline constexpr int kValidationBatches = 4;

struct ValidatorRoleOptions {
  std::string node_url;              // this node's RPC
  std::vector<std::string> sources;  // other nodes' RPC URLs, for datasets and starts
  // What it trains and replays on; each job's backend is BackendForJob's.
  RoleDevice device;
  std::chrono::milliseconds poll_interval{300};
  // Fault injection for tests (AGORA_FAULT_VALIDATOR_LIE, docs/roles.md):
  // while this file exists the validator fails every segment it replays
  // with an end state it made up (or, when the file's first word is
  // "losses" or "delta", with a loss one bit off or a claimed bad delta),
  // and in its disputes disagrees with every hash and reveals a record with
  // made-up outputs. Empty: never.
  std::filesystem::path lie_file;
};

struct ValidatorProgress {
  uint64_t verdicts = 0;
  uint64_t round_results = 0;
  DisputeCounts disputes;  // its moves as a challenged validator, its votes as a referee
  std::string last_error;
  // Empty, or why its replay profile on the ledger names a class this
  // machine does not run (DeclaredClassesProblem), checked at every poll.
  std::string profile_problem;
};

class ValidatorRole {
 public:
  // `key` signs verdicts and round results and proves segment choices: the
  // validator's operator and consensus key (the node key on a devnet).
  ValidatorRole(ValidatorRoleOptions options, const SecretKey& key, storage::BlobStore& blobs);
  ~ValidatorRole();
  ValidatorRole(const ValidatorRole&) = delete;
  ValidatorRole& operator=(const ValidatorRole&) = delete;

  void Start();
  void Stop();
  ValidatorProgress progress() const;
  const Address& address() const { return address_; }

 private:
  // What the role keeps of a job it works on.
  struct JobState {
    market::JobSpec spec;
    trainer::TrainConfig config;
    std::optional<trainer::Corpus> corpus;
    // Weights and outer momentum at the start of each round computed so far.
    std::map<uint32_t, std::vector<float>> params, momentum;
  };

  // A blob that no source served, for the sources' reasons (absent, wrong
  // bytes, too slow), not this node's: what a round result names as
  // unavailable.
  struct MissingBlob {
    Hash256 hash;
    uint32_t round = 0, worker = 0;  // the passed task whose delta it is; 0, 0: the dataset
  };

  Status Poll();
  // Reads this validator's replay profile and sets
  // progress_.profile_problem (logged when it changes to a problem).
  void CheckProfile(rpc::RpcClient& client);
  Status PollJob(rpc::RpcClient& client, const boost::json::value& job);
  Result<JobState*> Job(rpc::RpcClient& client, uint64_t id);
  // The job's dataset, from this node, the configured sources and
  // `extra_sources`, kept for the job. Sets *missing when the sources failed
  // to serve it. No deadline (a large dataset may take longer than one
  // verdict's time, and is fetched once), but a source below
  // kServeBytesPerSecondMin counts as failing.
  Result<const trainer::Corpus*> Corpus(JobState& job,
                                        const std::vector<std::string>& extra_sources = {},
                                        std::optional<MissingBlob>* missing = nullptr);
  // The weights at the start of `round`, recomputing earlier rounds if
  // needed; sets *missing when a delta's sources failed to serve it.
  Status EnsureRound(rpc::RpcClient& client, uint64_t id, JobState& job, uint32_t round,
                     const rpc::BlobFetchOptions& fetch,
                     std::optional<MissingBlob>* missing = nullptr);
  Status AnswerRound(rpc::RpcClient& client, uint64_t id, JobState& job,
                     const boost::json::value& record);
  // `due_height`: the slot's deadline, which bounds the time given to
  // fetching what the provider must serve.
  Status AnswerSlot(rpc::RpcClient& client, uint64_t id, JobState& job, uint32_t round,
                    uint32_t worker, uint32_t slot, uint64_t due_height,
                    const boost::json::value& task);
  // Stores a finished job's final weights as a checkpoint blob and notes it.
  Status KeepModel(rpc::RpcClient& client, uint64_t id);
  void Fail(const Status& status);

  const ValidatorRoleOptions options_;
  const SecretKey key_;
  storage::BlobStore& blobs_;
  const Address address_;
  PollLoop loop_;
  DisputeWork disputes_;
  mutable std::mutex progress_mu_;
  ValidatorProgress progress_;  // guarded by progress_mu_
  // Worker thread only.
  std::map<uint64_t, std::unique_ptr<JobState>> jobs_;
  std::set<std::string> sent_;  // what was answered, so a poll does not send it twice
  verify::SegmentReplayer replayer_;  // keeps the model's buffers between spot checks
};

}  // namespace agora::node::roles

#endif  // AGORA_NODE_ROLES_VALIDATOR_H_
