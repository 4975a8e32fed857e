// What the provider and validator roles share: reading the node's JSON-RPC
// answers without trusting their shape, the job's exact spec, and signing
// and submitting a message from the role's account.
//
// Thread safety: free functions; an RpcClient per thread.
#ifndef AGORA_NODE_ROLES_ROLE_UTIL_H_
#define AGORA_NODE_ROLES_ROLE_UTIL_H_

#include <boost/json/value.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/keys.h"
#include "common/status.h"
#include "consensus/ledger/tx.h"
#include "kernels/backend.h"
#include "market/job_spec.h"
#include "node/rpc/blob_fetch.h"
#include "node/rpc/client.h"
#include "node/storage/blob_store.h"

namespace agora::node::roles {

// A role's worker: calls `poll` every `interval` on its own thread until
// Stop. Stop is idempotent and joins (a poll under way finishes first).
class PollLoop {
 public:
  PollLoop() = default;
  ~PollLoop() { Stop(); }
  PollLoop(const PollLoop&) = delete;
  PollLoop& operator=(const PollLoop&) = delete;

  void Start(std::chrono::milliseconds interval, std::function<void()> poll);
  void Stop();
  // Whether Stop was called: a long poll checks it between pieces of work.
  bool stopping() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

// How a role fetches blobs: every attempt bounded (a source that trickles
// bytes is left), the fetch cancelled when `loop` stops.
rpc::BlobFetchOptions RoleFetchOptions(const storage::BlobStore& blobs, const PollLoop& loop);

// A member of a JSON object; Internal when absent or of another type (the
// node's answers are well-formed, but a role must not crash on one that is not).
Result<const boost::json::value*> Member(const boost::json::value& v, std::string_view key);
Result<uint64_t> U64Member(const boost::json::value& v, std::string_view key);
Result<std::string> StringMember(const boost::json::value& v, std::string_view key);
Result<const boost::json::array*> ArrayMember(const boost::json::value& v, std::string_view key);
Result<Hash256> HashMember(const boost::json::value& v, std::string_view key);

// "job/round/worker".
std::string TaskName(uint64_t job, uint32_t round, uint32_t worker);

// What a role trains and replays on ([roles] device in config.toml).
struct RoleDevice {
  // The exact tier's backend: kCpu, or kCuda on GPU 0.
  kernels::Backend exact = kernels::Backend::kCpu;
  // The class of GPU 0 when it is one of the market's and cuBLAS is built:
  // native-tier jobs of this class run here on kCudaNative.
  std::optional<market::HardwareClass> gpu_class;
  std::string description;  // for the log: "cpu", "cuda: NVIDIA H200 (gpu-sm90, ...)"
};

// "cpu", or "cuda" for GPU 0: FailedPrecondition saying what is missing when
// CUDA cannot run here; InvalidArgument for another name.
Result<RoleDevice> OpenRoleDevice(std::string_view device);

// The backend that trains or replays `spec` here (docs/roles.md): an exact
// job on device.exact; a native job of the cpu class on kCpu (the CPU has
// no faster kernels than its exact ones); a native job of a GPU class on
// kCudaNative when GPU 0 is of that class. FailedPrecondition otherwise,
// saying what the operator should change.
Result<kernels::Backend> BackendForJob(const RoleDevice& device, const market::JobSpec& spec);

// What the ledger cannot check, the roles check of themselves: empty when
// this machine (`device`) runs the native jobs of every class in `classes`
// (market class names: "cpu" always; a GPU class only on a GPU of that
// class); else what is wrong, what it costs and what to change. `whose`
// names the declaration ("the provider's offer", "the validator's replay
// profile") and `fix` the command that changes it.
std::string DeclaredClassesProblem(const RoleDevice& device,
                                   const std::vector<std::string>& classes,
                                   std::string_view whose, std::string_view fix);

// The job's spec exactly as the ledger holds it (the `job` method's spec_pb).
Result<market::JobSpec> FetchSpec(rpc::RpcClient& client, uint64_t job);

// Every job the `jobs` RPC lists with `filter` (its params, without
// `before` and `limit`), newest first, paging through it (its
// `next_before`) up to `jobs_max`. A role that read one page saw only the
// newest jobs: 100 jobs posted after a long one (posting and cancelling
// cheap ones would do) hid it, and its drawn validators were slashed for
// missing (found in review, 2026-12-03).
Result<boost::json::array> ListJobs(rpc::RpcClient& client, const boost::json::object& filter,
                                    size_t jobs_max = 100'000);
// The jobs not closed yet (`{"ended": false}`): open and running ones, and
// cancelled or failed ones whose running tasks still train and are checked.
// A role that read only the running ones stopped training and checking a
// job's tasks when its client cancelled it; its provider was then fined
// for lateness and its validators for missed verdicts (found in review,
// 2026-12-03).
Result<boost::json::array> UnendedJobs(rpc::RpcClient& client);

// Signs `msg` with `key` (the next nonce, the chain's minimum fee) and waits
// until it is committed; FailedPrecondition with the ledger's log if it was
// committed with an error code.
Status SubmitAndWait(rpc::RpcClient& client, const SecretKey& key, const consensus::Msg& msg);

}  // namespace agora::node::roles

#endif  // AGORA_NODE_ROLES_ROLE_UTIL_H_
