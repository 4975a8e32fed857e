// What blob gc keeps, read from committed state (docs/blobs.md).
#include "node/blob_gc.h"

#include <spdlog/spdlog.h>

#include "consensus/ledger/marketplace.h"
#include "consensus/ledger/verification.h"

namespace agora::node {
namespace {

namespace mp = consensus::marketplace;
namespace vf = consensus::verification;

}  // namespace

LiveBlobSet LiveBlobs(consensus::StateReader& state, const storage::BlobStore& blobs,
                      size_t jobs_max) {
  LiveBlobSet live;
  for (const mp::Job& job : mp::ListJobs(state, 0, jobs_max)) {
    if (Result<Hash256> model = blobs.GetModel(job.id); model.ok()) live.blobs.insert(*model);
    const bool open = job.ended_height == 0;
    if (open) {
      live.blobs.insert(job.spec.dataset_hash);
      for (const vf::RoundRecord& record : vf::RoundsOf(state, job.id, job.spec.rounds + 1)) {
        live.blobs.insert(record.start_hashes.begin(), record.start_hashes.end());
      }
    }
    for (const auto& [id, task] :
         mp::TasksOf(state, job.id, size_t{job.spec.rounds} * job.spec.workers)) {
      const bool checking =
          task.status == mp::TaskStatus::kCommitted || task.status == mp::TaskStatus::kVerifying;
      if (!open && !checking) continue;
      std::optional<vf::Commitment> c = vf::GetCommitment(state, id);
      if (!c) continue;
      live.blobs.insert(c->delta_hash);
      if (!checking) continue;
      live.manifests.insert(c->checkpoint_root);
      Result<std::vector<Hash256>> listed = blobs.GetManifest(c->checkpoint_root);
      if (listed.ok()) {
        live.blobs.insert(listed->begin(), listed->end());
      } else if (listed.status().code() != StatusCode::kNotFound) {
        // The checkpoints it lists cannot be named: keep every blob this
        // time rather than remove one a validator may still ask for.
        spdlog::warn("blobs: cannot read the manifest {} of a task being checked ({}); "
                     "no blob is collected this time",
                     c->checkpoint_root.ToHex(), listed.status().ToString());
        live.keep_all_blobs = true;
      }
    }
  }
  return live;
}

}  // namespace agora::node
