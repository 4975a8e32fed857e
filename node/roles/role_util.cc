#include "node/roles/role_util.h"

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>

#include "common/address.h"
#include "common/encoding.h"
#include "common/log.h"
#include "common/proto_codec.h"
#include "kernels/device.h"
#include "proto/tx.pb.h"

namespace agora::node::roles {

namespace json = boost::json;

void PollLoop::Start(std::chrono::milliseconds interval, std::function<void()> poll) {
  thread_ = std::thread([this, interval, poll = std::move(poll)] {
    while (true) {
      {
        std::unique_lock lock(mu_);
        if (wake_.wait_for(lock, interval, [this] { return stop_; })) return;
      }
      try {
        poll();
      } catch (const std::exception& e) {
        // A malformed answer the helpers did not catch: log it, poll again.
        spdlog::error("role: a poll failed: {}", e.what());
      }
    }
  });
}

void PollLoop::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool PollLoop::stopping() const {
  std::lock_guard lock(mu_);
  return stop_;
}

rpc::BlobFetchOptions RoleFetchOptions(const storage::BlobStore& blobs, const PollLoop& loop) {
  rpc::BlobFetchOptions fetch;
  fetch.bytes_max = blobs.options().blob_bytes_max;
  fetch.attempt_timeout = std::chrono::minutes(5);
  fetch.cancelled = [&loop] { return loop.stopping(); };
  return fetch;
}

Result<const json::value*> Member(const json::value& v, std::string_view key) {
  const json::value* m = v.is_object() ? v.as_object().if_contains(key) : nullptr;
  if (m == nullptr) return Status::Internal("the node's answer lacks \"" + std::string(key) + "\"");
  return m;
}

Result<uint64_t> U64Member(const json::value& v, std::string_view key) {
  AGORA_ASSIGN_OR_RETURN(const json::value* m, Member(v, key));
  if (m->is_uint64()) return m->as_uint64();
  if (m->is_int64() && m->as_int64() >= 0) return static_cast<uint64_t>(m->as_int64());
  return Status::Internal("\"" + std::string(key) + "\" is not a number");
}

Result<std::string> StringMember(const json::value& v, std::string_view key) {
  AGORA_ASSIGN_OR_RETURN(const json::value* m, Member(v, key));
  if (!m->is_string()) return Status::Internal("\"" + std::string(key) + "\" is not a string");
  return std::string(m->as_string());
}

Result<const json::array*> ArrayMember(const json::value& v, std::string_view key) {
  AGORA_ASSIGN_OR_RETURN(const json::value* m, Member(v, key));
  if (!m->is_array()) return Status::Internal("\"" + std::string(key) + "\" is not a list");
  return &m->as_array();
}

Result<Hash256> HashMember(const json::value& v, std::string_view key) {
  AGORA_ASSIGN_OR_RETURN(std::string hex, StringMember(v, key));
  return Hash256::FromHex(hex);
}

std::string TaskName(uint64_t job, uint32_t round, uint32_t worker) {
  return std::to_string(job) + "/" + std::to_string(round) + "/" + std::to_string(worker);
}

Result<json::array> ListJobs(rpc::RpcClient& client, const json::object& filter,
                             size_t jobs_max) {
  json::array out;
  uint64_t before = 0;
  while (out.size() < jobs_max) {
    json::object params = filter;
    params["limit"] = 100;
    if (before != 0) params["before"] = before;
    AGORA_ASSIGN_OR_RETURN(json::value page, client.Call("jobs", params));
    AGORA_ASSIGN_OR_RETURN(const json::array* jobs, ArrayMember(page, "jobs"));
    for (const json::value& j : *jobs) out.push_back(j);
    const json::value* next = page.is_object() ? page.as_object().if_contains("next_before") : nullptr;
    if (next == nullptr) break;
    AGORA_ASSIGN_OR_RETURN(uint64_t n, U64Member(page, "next_before"));
    if (n == 0 || (before != 0 && n >= before)) break;  // no progress: stop rather than loop
    before = n;
  }
  return out;
}

Result<json::array> UnendedJobs(rpc::RpcClient& client) {
  return ListJobs(client, json::object{{"ended", false}});
}

Result<RoleDevice> OpenRoleDevice(std::string_view device) {
  RoleDevice out;
  if (device == "cpu") {
    out.description = "cpu";
    return out;
  }
  if (device != "cuda") {
    return Status::InvalidArgument("unknown role device '" + std::string(device) +
                                   "': cpu or cuda");
  }
  if (Status ready = kernels::CudaOpsReady(); !ready.ok()) {
    return Status::FailedPrecondition("[roles] device = \"cuda\": " + ready.message() +
                                      " (or set device = \"cpu\")");
  }
  AGORA_ASSIGN_OR_RETURN(kernels::CudaDeviceInfo gpu, kernels::CudaDevice0Info());
  out.exact = kernels::Backend::kCuda;
  out.description = "cuda: " + gpu.name + " (compute capability " + std::to_string(gpu.major) +
                    "." + std::to_string(gpu.minor) + ", " +
                    std::to_string(gpu.multiprocessors) + " SMs";
  const std::optional<market::HardwareClass> c = market::HardwareClassOfGpu(gpu.major, gpu.minor);
  if (!c) {
    out.description += "; no market class: exact-tier jobs only)";
  } else if (Status native = kernels::CudaNativeReady(); !native.ok()) {
    out.description += "; native tier off: " + native.message() + ")";
  } else {
    out.gpu_class = c;
    out.description += "; native tier for " + std::string(market::HardwareClassName(*c)) + ")";
  }
  return out;
}

Result<kernels::Backend> BackendForJob(const RoleDevice& device, const market::JobSpec& spec) {
  if (spec.tier == market::Tier::kExact) return device.exact;
  if (spec.hardware == market::HardwareClass::kCpu) return kernels::Backend::kCpu;
  if (device.gpu_class == spec.hardware) return kernels::Backend::kCudaNative;
  const std::string want(market::HardwareClassName(spec.hardware));
  return Status::FailedPrecondition(
      "the job is in the native tier on " + want + ", whose bits only a " + want +
      " GPU repeats, and this role runs on " + device.description +
      ": set [roles] device = \"cuda\" on a " + want +
      " machine, or declare only the classes this machine has (agora provider update "
      "--hardware, agora tx replay-profile)");
}

std::string DeclaredClassesProblem(const RoleDevice& device,
                                   const std::vector<std::string>& classes,
                                   std::string_view whose, std::string_view fix) {
  std::vector<std::string> foreign;
  for (const std::string& name : classes) {
    Result<market::HardwareClass> c = market::ParseHardwareClass(name);
    if (c.ok() && (*c == market::HardwareClass::kCpu || device.gpu_class == *c)) continue;
    foreign.push_back(name);
  }
  if (foreign.empty()) return "";
  std::string names;
  for (const std::string& f : foreign) names += (names.empty() ? "" : ", ") + f;
  const std::string here =
      device.gpu_class ? std::string(market::HardwareClassName(*device.gpu_class)) : "cpu";
  return std::string(whose) + " names " + names + ", but this node's [roles] device is " +
         device.description + ": every native job of " +
         (foreign.size() == 1 ? "that class" : "those classes") +
         " given to it fails here (a provider misses the deadline and pays "
         "market.slash_late_ppm of the collateral; a validator misses its draw and pays "
         "verify.slash_missed_ppm). Declare only " + here + " (" + std::string(fix) +
         "), or run this role with [roles] device = \"cuda\" on a GPU of that class";
}

Result<market::JobSpec> FetchSpec(rpc::RpcClient& client, uint64_t job) {
  AGORA_ASSIGN_OR_RETURN(json::value j, client.Call("job", json::object{{"id", job}}));
  AGORA_ASSIGN_OR_RETURN(std::string hex, StringMember(j, "spec_pb"));
  AGORA_ASSIGN_OR_RETURN(Bytes bytes, HexDecode(hex));
  proto::JobSpec p;
  AGORA_RETURN_IF_ERROR(DecodeStrict(bytes, 1 << 16, p));
  return consensus::DecodeJobSpec(p);
}

namespace {

// One transaction at a time per account in this process: a role's threads
// (its work, its disputes) read the same next nonce otherwise.
std::mutex& SubmitLock(const Address& address) {
  static std::mutex mu;
  static std::map<Address, std::unique_ptr<std::mutex>> locks;
  std::lock_guard lock(mu);
  std::unique_ptr<std::mutex>& m = locks[address];
  if (!m) m = std::make_unique<std::mutex>();
  return *m;
}

}  // namespace

Status SubmitAndWait(rpc::RpcClient& client, const SecretKey& key, const consensus::Msg& msg) {
  const Address address = Address::FromPublicKey(key.public_key());
  std::lock_guard submitting(SubmitLock(address));
  AGORA_ASSIGN_OR_RETURN(json::value status, client.Call("status"));
  AGORA_ASSIGN_OR_RETURN(std::string chain_id, StringMember(status, "chain_id"));
  AGORA_ASSIGN_OR_RETURN(json::value account,
                         client.Call("account", json::object{{"address", address.ToString()}}));
  AGORA_ASSIGN_OR_RETURN(uint64_t nonce, U64Member(account, "next_nonce"));
  uint64_t fee = 0;
  AGORA_ASSIGN_OR_RETURN(json::value params, client.Call("params"));
  AGORA_ASSIGN_OR_RETURN(const json::array* list, ArrayMember(params, "params"));
  for (const json::value& p : *list) {
    AGORA_ASSIGN_OR_RETURN(std::string name, StringMember(p, "name"));
    if (name != "bank.min_fee_uagr") continue;
    AGORA_ASSIGN_OR_RETURN(fee, U64Member(p, "value"));
  }
  const Bytes raw = consensus::MakeTx(key, chain_id, nonce, fee, msg);
  AGORA_ASSIGN_OR_RETURN(json::value committed,
                         client.Call("tx_submit_wait", json::object{{"tx", Base64Encode(raw)}},
                                     std::chrono::seconds(40)));
  AGORA_ASSIGN_OR_RETURN(uint64_t code, U64Member(committed, "code"));
  if (code == 0) return Status::Ok();
  std::string why = "code " + std::to_string(code);
  if (const json::value* log = committed.as_object().if_contains("log"); log && log->is_string()) {
    why = std::string(log->as_string());
  }
  return Status::FailedPrecondition(std::string(consensus::MsgName(msg)) + " was refused: " + why);
}

}  // namespace agora::node::roles
