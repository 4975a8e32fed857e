// DisputeWork: what the provider and validator roles do in disputes
// (docs/dispute.md, docs/roles.md), on a thread of its own so that a task
// in training or a replay never makes a party miss its move.
//
// Every poll, for each open dispute naming this account:
//   * as its provider or its validator, when it is this account's turn, it
//     answers from its own replay of the segment (the segment's start
//     checkpoint, fetched by hash, and C steps with the deterministic
//     kernels): the state hash at the midpoint, agree or disagree with the
//     other side's, the trace-chain leaf at the midpoint (the step traced
//     with its blobs), then its record of the disputed operator, whose
//     input blobs it stores for the referees;
//   * as a drawn referee that has not voted, it recomputes: the operator
//     from its inputs (fetched by hash from the nodes it knows and the
//     provider's endpoint) with the reference kernels, or the step's two
//     states by replaying from the segment's start, and votes the digest.
//   * as a referee of a disputed fail for the losses, it replays the
//     segment and votes its losses' digest; for the delta, it recomputes
//     the delta from the task's checkpoint 0 and final checkpoint.
// And, for a provider (defend_own_tasks), every poll looks at each of its
// tasks being verified, in every job not closed: a standing fail verdict is
// disputed when its own work contradicts it (its replay of the segment
// reaches the end and the losses it committed; its checkpoints give the
// delta it committed). The provider's training thread has no part in it: a
// provider training a long task (capacity 2 or more) still opens its
// disputes within the window (until 2026-12-03 the training loop found the
// fails, and a fail that came while it trained went undisputed).
//
// Both parties run the same honest algorithm; the game decides who is right.
//
// Thread safety: Start and Stop from one thread; counts from any.
#ifndef AGORA_NODE_ROLES_DISPUTE_WORK_H_
#define AGORA_NODE_ROLES_DISPUTE_WORK_H_

#include <atomic>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/address.h"
#include "common/keys.h"
#include "common/status.h"
#include "kernels/backend.h"
#include "kernels/trace.h"
#include "node/roles/role_util.h"
#include "node/rpc/client.h"
#include "node/storage/blob_store.h"
#include "trainer/data.h"
#include "trainer/train_state.h"

namespace agora::node::roles {

struct DisputeWorkOptions {
  std::string node_url;              // this node's RPC
  std::vector<std::string> sources;  // other nodes' RPC URLs, for blobs
  // What it trains and replays on; each job's backend is BackendForJob's.
  RoleDevice device;
  std::chrono::milliseconds poll_interval{300};
  std::string who = "dispute";  // the role, in log lines
  // Fault injection for tests (ValidatorRoleOptions::lie_file): while it
  // exists, disagree with everything and reveal made-up outputs.
  std::filesystem::path lie_file;
  // The provider role: dispute the false fails on this account's tasks.
  bool defend_own_tasks = false;
};

struct DisputeCounts {
  uint64_t opened = 0;
  uint64_t moves = 0;
  uint64_t votes = 0;
};

class DisputeWork {
 public:
  DisputeWork(DisputeWorkOptions options, const SecretKey& key, storage::BlobStore& blobs);
  ~DisputeWork();  // Stop()
  DisputeWork(const DisputeWork&) = delete;
  DisputeWork& operator=(const DisputeWork&) = delete;

  void Start();
  void Stop();

  DisputeCounts counts() const;

 private:
  // A segment replayed: the states at its C + 1 checkpoints' steps and the
  // traces of the steps asked for.
  struct Replay {
    trainer::TrainConfig config;
    kernels::Backend backend = kernels::Backend::kCpu;  // BackendForJob
    const trainer::Corpus* corpus = nullptr;
    std::vector<trainer::TrainState> states;  // steps base .. base + C
    std::vector<Hash256> hashes;
    std::vector<uint32_t> loss_bits;  // the C steps' losses, float32 bits
    std::map<uint64_t, std::unique_ptr<kernels::OpTrace>> traces;  // by step within the segment
  };
  Status Poll();
  // Provider side: each of this account's tasks being verified.
  Status DefendOwnTasks(rpc::RpcClient& client);
  // Those of one job (an entry of the `jobs` answer).
  Status DefendTasksOf(rpc::RpcClient& client, const boost::json::value& job);
  // Disputes each standing fail on task (job, round, worker) that this
  // account's own work contradicts: for the end state, its replay of the
  // segment reaches the committed end; for the losses, it gives the
  // committed losses; for the delta, its checkpoint 0 and final checkpoint
  // give the committed delta hash. `task` is the node's `task` answer.
  Status OpenWhereWrong(rpc::RpcClient& client, uint64_t job, uint32_t round, uint32_t worker,
                        const boost::json::value& task);
  Status Answer(rpc::RpcClient& client, const boost::json::value& d);
  // A drawn referee's vote: its digest, its witness sealed.
  Status Vote(rpc::RpcClient& client, const boost::json::value& d);
  // Once every referee has voted: the witness it sealed.
  Status Reveal(rpc::RpcClient& client, const boost::json::value& d);
  Result<std::pair<Hash256, Hash256>> Recompute(rpc::RpcClient& client,
                                               const boost::json::value& d);
  // The witness for dispute `d`'s current draw (kept, or recomputed after a
  // restart); its digest into `*digest` when set.
  Result<Hash256> WitnessFor(rpc::RpcClient& client, const boost::json::value& d,
                             Hash256* digest);
  // (job, round, worker, segment, start checkpoint): a segment replayed.
  using SegmentKey = std::tuple<uint64_t, uint32_t, uint32_t, uint32_t, Hash256>;
  static Result<SegmentKey> SegmentOf(const boost::json::value& dispute);
  // The segment replayed once and kept.
  Result<Replay*> ReplayOf(rpc::RpcClient& client, const SegmentKey& key,
                           const std::vector<std::string>& sources);
  Result<const kernels::OpTrace*> TraceOf(Replay& replay, uint64_t step);
  // The hash of the delta that checkpoints `first` and `last` (fetched by
  // hash) give for `job`, or 32 zero bytes when either is not a state of
  // the job's model (verify::DeltaDigest). With `secret`, also a referee's
  // verify::DeltaRefereeSecret of the two (left as is for no delta).
  Result<Hash256> DeltaHashFrom(rpc::RpcClient& client, uint64_t job, const Hash256& first,
                                const Hash256& last, const std::vector<std::string>& sources,
                                Hash256* secret = nullptr);
  Result<std::vector<std::string>> SourcesFor(rpc::RpcClient& client, const std::string& provider);
  Result<const trainer::Corpus*> CorpusOf(const Hash256& dataset,
                                          const std::vector<std::string>& sources);

  const DisputeWorkOptions options_;
  const SecretKey key_;
  storage::BlobStore& blobs_;
  const Address address_;
  PollLoop loop_;
  // Worker thread only. A replay is kept while an open dispute names its
  // segment (then dropped); the corpora while this process runs.
  std::map<SegmentKey, std::unique_ptr<Replay>> replays_;
  std::map<Hash256, std::unique_ptr<trainer::Corpus>> corpora_;
  // "task/root/slot/verdict" this provider decided on (disputed, or its
  // replay did not reach its commitment either); a failure is retried.
  std::set<std::string> decided_;
  // Native-tier jobs whose disputes the ledger refused for want of
  // referees of their class: their later fails are not replayed to open
  // another that would be refused too (each refusal pays a fee). Kept in
  // memory: after a restart one more is tried.
  std::set<uint64_t> undisputable_jobs_;
  std::atomic<uint64_t> opened_{0}, moves_{0}, votes_{0};
  struct KeptWitness {
    uint64_t draw = 0;
    Hash256 digest, witness;
  };
  std::map<uint64_t, KeptWitness> witnesses_;  // by dispute id
};

}  // namespace agora::node::roles

#endif  // AGORA_NODE_ROLES_DISPUTE_WORK_H_
