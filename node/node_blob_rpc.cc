// The node's blob store (docs/blobs.md): opening it, its RPC methods
// (blob_status, blob_gc) and the periodic collection of blobs that no open
// job needs. GET/HEAD/POST /blob are served by the RPC server itself.
#include <set>

#include "consensus/ledger/marketplace.h"
#include "consensus/ledger/verification.h"
#include "node/blob_gc.h"
#include "node/node_impl.h"

namespace agora::node {
namespace {

namespace mp = consensus::marketplace;
namespace vf = consensus::verification;

// Jobs looked at per collection, newest first; older ones have long ended.
constexpr size_t kGcJobsScanMax = 10'000;

json::object GcJson(const storage::BlobGcReport& r) {
  return {{"removed_blobs", r.removed_blobs},
          {"removed_bytes", r.removed_bytes},
          {"kept_blobs", r.kept_blobs},
          {"kept_bytes", r.kept_bytes},
          {"removed_partials", r.removed_partials},
          {"removed_manifests", r.removed_manifests},
          {"kept_manifests", r.kept_manifests},
          {"removed_models", r.removed_models}};
}

}  // namespace

Status Node::Impl::OpenBlobs(const std::filesystem::path& home) {
  storage::BlobStoreOptions options;
  options.blob_bytes_max = config_.blob_bytes_max;
  options.quota_bytes = config_.blob_quota_bytes;
  AGORA_ASSIGN_OR_RETURN(blobs_, storage::BlobStore::Open(BlobsPath(home), options));
  rpc_->SetBlobStore(blobs_.get(), config_.blob_uploads);
  return Status::Ok();
}

storage::BlobGcReport Node::Impl::CollectBlobs(std::chrono::seconds grace) {
  LiveBlobSet live = LiveBlobs(app_->committed(), *blobs_, kGcJobsScanMax);
  if (provider_) {
    for (const Hash256& h : provider_->TrainingBlobs()) {
      live.blobs.insert(h);
      live.manifests.insert(h);  // the root of a manifest not committed yet
    }
  }
  storage::BlobLive keep;
  keep.blob = [&](const Hash256& h) { return live.keep_all_blobs || live.blobs.contains(h); };
  keep.manifest = [&](const Hash256& root) { return live.manifests.contains(root); };
  keep.model_keep = std::chrono::seconds(config_.blob_model_keep_s);
  storage::BlobGcReport report = blobs_->Collect(keep, grace);
  if (report.removed_blobs > 0 || report.removed_partials > 0 || report.removed_manifests > 0 ||
      report.removed_models > 0) {
    spdlog::info(
        "blobs: removed {} blob(s), {} bytes, {} manifest(s), {} model note(s) and {} abandoned "
        "fetch(es); {} blob(s) kept",
        report.removed_blobs, report.removed_bytes, report.removed_manifests,
        report.removed_models, report.removed_partials, report.kept_blobs);
  }
  return report;
}

void Node::Impl::ScheduleBlobGc() {
  if (config_.blob_gc_interval_s == 0 || stopped_) return;
  blob_gc_timer_.expires_after(std::chrono::seconds(config_.blob_gc_interval_s));
  blob_gc_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    CollectBlobs(std::chrono::seconds(config_.blob_gc_grace_s));
    ScheduleBlobGc();
  });
}

void Node::Impl::RegisterBlobRpc() {
  rpc_->RegisterSync("blob_status", [this](const json::value&) -> Result<json::value> {
    const storage::BlobStoreOptions& o = blobs_->options();
    return json::value(json::object{{"blobs", blobs_->blob_count()},
                                    {"used_bytes", blobs_->used_bytes()},
                                    {"quota_bytes", o.quota_bytes},
                                    {"blob_bytes_max", o.blob_bytes_max},
                                    {"uploads", config_.blob_uploads},
                                    {"gc_grace_s", config_.blob_gc_grace_s},
                                    {"gc_interval_s", config_.blob_gc_interval_s},
                                    {"model_keep_s", config_.blob_model_keep_s}});
  });
  // The blob holding a finished job's final weights, if this node keeps it,
  // with the ledger's record of them to check it against.
  rpc_->RegisterSync("job_model", [this](const json::value& params) -> Result<json::value> {
    AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
    AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"id"}));
    AGORA_ASSIGN_OR_RETURN(uint64_t id, U64Param(*o, "id"));
    consensus::StateReader& state = app_->committed();
    std::optional<mp::Job> job = mp::GetJob(state, id);
    if (!job) return Status::NotFound("no job " + std::to_string(id));
    if (job->status != mp::JobStatus::kFinished) {
      return Status::FailedPrecondition("job " + std::to_string(id) + " is " +
                                        std::string(mp::JobStatusName(job->status)) +
                                        "; its model exists once it has finished");
    }
    std::optional<vf::RoundRecord> record = vf::GetRound(state, id, job->spec.rounds);
    if (!record || !record->recorded) {
      return Status::Internal("finished job " + std::to_string(id) + " has no final record");
    }
    Result<Hash256> model = blobs_->GetModel(id);
    if (!model.ok()) {
      return Status::NotFound("this node keeps no model of job " + std::to_string(id) +
                              "; ask a node that runs the validator role (`--role validator`)");
    }
    AGORA_ASSIGN_OR_RETURN(uint64_t size, blobs_->Size(*model));
    return json::value(json::object{{"job", id},
                                    {"model_hash", model->ToHex()},
                                    {"size", size},
                                    {"round", job->spec.rounds},
                                    {"params_hash", record->params_hash.ToHex()},
                                    {"validation_loss_bits", record->validation_loss}});
  });
  // params: {"grace_s": N} (optional; default [blobs] gc_grace_s): blobs
  // nothing needs go once this many seconds old; 0 removes them all now.
  // Only for a client on this machine: the RPC port is public (it serves
  // /blob), and a remote caller could otherwise delete the checkpoints a
  // provider has not committed yet (grace 0) and make it look unavailable.
  rpc_->RegisterLocalOnly("blob_gc", [this](const json::value& params) -> Result<json::value> {
    uint64_t grace_s = config_.blob_gc_grace_s;
    if (!params.is_null()) {
      AGORA_ASSIGN_OR_RETURN(const json::object* o, ParamsObject(params));
      AGORA_RETURN_IF_ERROR(KnownKeys(*o, {"grace_s"}));
      if (o->contains("grace_s")) {
        AGORA_ASSIGN_OR_RETURN(grace_s, U64Param(*o, "grace_s"));
      }
    }
    if (grace_s > 365 * 86'400) {
      return Status::InvalidArgument("grace_s is at most a year (31536000 seconds)");
    }
    return json::value(GcJson(CollectBlobs(std::chrono::seconds(grace_s))));
  });
}

}  // namespace agora::node
