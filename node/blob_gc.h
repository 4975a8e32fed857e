// What a blob collection keeps, whatever its age, read from the ledger's
// committed state (docs/blobs.md, "Garbage collection"):
// - a finished job's model, while its note lasts ([blobs] model_keep_s);
// - for a job not yet closed (`ended_height` 0; a cancelled or failed job
//   stays open while its running tasks finish): its dataset, its rounds'
//   starts and every committed task's delta (a round record aggregates them);
// - for a task being checked (committed or verifying), whatever its job's
//   status: its delta, its checkpoint manifest and every checkpoint the
//   manifest lists, which a replay, an audit or a dispute may ask for.
// A passed task's checkpoints are needed no more and go after the grace
// period, so a provider's store does not grow with the rounds of a long job.
// What the provider role of this node trains and has not committed is on
// no ledger: the node adds it (ProviderRole::TrainingBlobs).
#ifndef AGORA_NODE_BLOB_GC_H_
#define AGORA_NODE_BLOB_GC_H_

#include <cstddef>
#include <set>

#include "common/hash.h"
#include "consensus/ledger/state_buffer.h"
#include "node/storage/blob_store.h"

namespace agora::node {

struct LiveBlobSet {
  std::set<Hash256> blobs;      // by content hash
  std::set<Hash256> manifests;  // by Merkle root
  // A manifest of a task being checked could not be read (other than
  // absent): the checkpoints it lists are unknown, so no blob may go.
  bool keep_all_blobs = false;
};

// Reads the newest `jobs_max` jobs of `state` and the manifests `blobs`
// holds for their tasks being checked.
LiveBlobSet LiveBlobs(consensus::StateReader& state, const storage::BlobStore& blobs,
                      size_t jobs_max);

}  // namespace agora::node

#endif  // AGORA_NODE_BLOB_GC_H_
