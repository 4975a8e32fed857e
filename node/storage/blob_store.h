// BlobStore: the node's content-addressed files (datasets, checkpoints,
// pseudo-gradients, models), each named by the BLAKE2b-256 of all its bytes.
//
//   <dir>/<first 2 hex digits>/<64 hex digits>   a blob
//   <dir>/tmp/                                   writes in progress; emptied by Open
//   <dir>/partial/<64 hex digits>                an interrupted fetch (BlobFetcher
//                                                resumes it); kept across restarts
//   <dir>/manifests/<64 hex digits>              a task's checkpoint hashes, by root
//   <dir>/models/<job id>                        the hash of a finished job's model
//
// A blob enters the store only whole: it is written under tmp/, hashed,
// fsynced and renamed into place, and the directory is fsynced, so after a
// crash a name either holds its full content or does not exist. Two limits
// bound what untrusted peers and clients can make a node keep: the size of
// one blob and the total bytes of all blobs (the quota). Collect removes the
// blobs nothing live needs, after a grace period that protects blobs just
// uploaded for a job not yet posted.
//
// docs/blobs.md describes the store, the HTTP endpoints and the fetcher.
//
// Thread safety: thread-safe. Several threads may put, read and collect at
// once; a blob being read while Collect removes it stays readable through a
// file opened before the removal.
#ifndef AGORA_NODE_STORAGE_BLOB_STORE_H_
#define AGORA_NODE_STORAGE_BLOB_STORE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/status.h"

namespace agora::node::storage {

struct BlobStoreOptions {
  uint64_t blob_bytes_max = uint64_t{4} << 30;  // one blob (a small model's checkpoint is ~MBs)
  uint64_t quota_bytes = uint64_t{64} << 30;    // all blobs together
};

// What a collection keeps whatever its age (BlobStore::Collect).
struct BlobLive {
  std::function<bool(const Hash256&)> blob;      // by content hash
  std::function<bool(const Hash256&)> manifest;  // by Merkle root
  std::chrono::seconds model_keep{0};            // a model note's life; 0: forever
};

struct BlobInfo {
  Hash256 hash;
  uint64_t size = 0;
};

struct BlobGcReport {
  uint64_t removed_blobs = 0;
  uint64_t removed_bytes = 0;
  uint64_t kept_blobs = 0;
  uint64_t kept_bytes = 0;
  uint64_t removed_partials = 0;  // abandoned fetches past the grace period
  uint64_t removed_manifests = 0;
  uint64_t kept_manifests = 0;
  uint64_t removed_models = 0;  // model notes past the keep period
};

class BlobStore {
 public:
  // Creates `dir` if needed, empties tmp/ and indexes the blobs present
  // (their sizes; contents are checked by whoever fetches them). A file
  // whose name is not a hash is left alone and not counted.
  static Result<std::unique_ptr<BlobStore>> Open(const std::filesystem::path& dir,
                                                 BlobStoreOptions options = {});

  BlobStore(const BlobStore&) = delete;
  BlobStore& operator=(const BlobStore&) = delete;

  // Stores `data` under its hash and returns the hash. Storing a blob already
  // present is a no-op. ResourceExhausted over the size limit or the quota,
  // with what to change; IoError (the disk is full, ...) leaves nothing behind.
  Result<Hash256> Put(ByteSpan data);
  // Put for a caller that has just hashed `data` itself (a checkpoint's file
  // and identity from one SerializeCheckpoint pass): the bytes are not
  // hashed again. REQUIRES: hash == Blake2b256(data), unchecked; a wrong one
  // stores a blob that every fetcher refuses and Verify removes.
  Status PutHashed(ByteSpan data, const Hash256& hash);

  // Moves a finished file into the store: hashes it, refuses it if
  // `expected` is given and differs (Corruption) or if it breaks a limit,
  // fsyncs and renames it into place. The file is gone afterwards whatever
  // the outcome (a file that fails its hash must not be used). `file` must be
  // on the store's filesystem: a NewTempPath() or a PartialPath().
  class Reservation;
  // With `reservation`, the room it holds is given up as the file is
  // installed (or refused), so the file is not counted twice.
  Result<Hash256> Adopt(const std::filesystem::path& file,
                        const std::optional<Hash256>& expected = std::nullopt,
                        Reservation* reservation = nullptr);

  // Room under the quota held for a write in progress (an upload: its
  // announced length, or blob_bytes_max when it announces none), so that
  // concurrent uploads cannot together write past the quota under tmp/
  // before any of them is installed (found in review, 2026-12-03: each
  // checked the quota alone at its start). Given back when destroyed, or
  // when handed to Adopt. The store must outlive it.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept
        : store_(std::exchange(other.store_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
    Reservation& operator=(Reservation&& other) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation() { Release(); }
    uint64_t bytes() const { return bytes_; }
    void Release();

   private:
    friend class BlobStore;
    Reservation(BlobStore* store, uint64_t bytes) : store_(store), bytes_(bytes) {}
    BlobStore* store_ = nullptr;
    uint64_t bytes_ = 0;
  };
  // ResourceExhausted, as CheckRoom, when `bytes` do not fit beside what is
  // kept and already reserved.
  Result<Reservation> Reserve(uint64_t bytes);

  // Copies a file from anywhere into the store (the CLI's `blob put` on the
  // node's own machine, tests).
  Result<Hash256> Import(const std::filesystem::path& file);

  // One fetch of a blob at a time in this process: the provider and the
  // validator role may want the same dataset at once, and two fetchers
  // appending to one PartialPath would corrupt it. The first caller holds
  // the guard; a second waits until it is released, then finds the blob
  // held (or fetches it itself if the first failed).
  class FetchGuard {
   public:
    FetchGuard(FetchGuard&& other) noexcept : store_(other.store_), hash_(other.hash_) {
      other.store_ = nullptr;
    }
    FetchGuard(const FetchGuard&) = delete;
    FetchGuard& operator=(const FetchGuard&) = delete;
    FetchGuard& operator=(FetchGuard&&) = delete;
    ~FetchGuard();

   private:
    friend class BlobStore;
    FetchGuard(BlobStore* store, const Hash256& hash) : store_(store), hash_(hash) {}
    BlobStore* store_;
    Hash256 hash_;
  };
  // Unavailable (and no guard) if `cancelled` returns true while waiting.
  Result<FetchGuard> LockFetch(const Hash256& hash,
                               const std::function<bool()>& cancelled = nullptr);

  // A fresh path under tmp/ for a write in progress, removed by the next Open.
  std::filesystem::path NewTempPath();
  // Where an interrupted fetch of `hash` keeps its bytes.
  std::filesystem::path PartialPath(const Hash256& hash) const;
  // Where the blob lives (it may not exist).
  std::filesystem::path PathOf(const Hash256& hash) const;

  bool Has(const Hash256& hash) const;
  // NotFound (with the hash) when absent.
  Result<uint64_t> Size(const Hash256& hash) const;
  // The whole blob; ResourceExhausted if it is larger than `bytes_max`.
  Result<Bytes> Read(const Hash256& hash, uint64_t bytes_max) const;
  // `length` bytes from `offset`; OutOfRange past the end.
  Result<Bytes> ReadRange(const Hash256& hash, uint64_t offset, uint64_t length) const;
  // Reads the blob back and checks that it hashes to its name; Corruption if
  // not (the file is then removed, so a peer is never served damaged bytes).
  Status Verify(const Hash256& hash);
  Status Remove(const Hash256& hash);

  // Manifests: the list of checkpoint hashes a task committed to, kept
  // under its Merkle root (the ledger records only the root) so validators
  // can prove any checkpoint against it. Self-certifying: PutManifest
  // refuses a list whose root is not `root`, and a reader checks it again.
  // <dir>/manifests/<root hex>, the hashes concatenated.
  Status PutManifest(const Hash256& root, const std::vector<Hash256>& hashes);
  // NotFound when absent; Corruption if the file does not match its root.
  Result<std::vector<Hash256>> GetManifest(const Hash256& root) const;

  // Finished models: the blob holding job `job`'s final weights, noted by the
  // validator role that computed them (<dir>/models/<job>, its hash in hex).
  // The note is a pointer, not proof: whoever fetches the model checks its
  // weights against the ledger's record.
  Status SetModel(uint64_t job, const Hash256& hash);
  Result<Hash256> GetModel(uint64_t job) const;  // NotFound when not noted

  // Removes every blob for which `live.blob` returns false and every
  // manifest for which `live.manifest` returns false, once its file is older
  // than `grace`; partial fetches untouched for `grace`; and model notes
  // older than `live.model_keep` (zero: kept forever). A blob named by a
  // removed note is live no longer for the next collection, not this one.
  // Files in manifests/ not named by a root are left alone.
  // REQUIRES: live.blob and live.manifest are set.
  BlobGcReport Collect(const BlobLive& live, std::chrono::seconds grace);

  // Whether `bytes` more would fit under the quota now, beside what is kept
  // and reserved; ResourceExhausted saying how full the store is when not.
  Status CheckRoom(uint64_t bytes) const;
  uint64_t reserved_bytes() const;

  std::vector<BlobInfo> List() const;
  uint64_t used_bytes() const;
  uint64_t blob_count() const;
  const BlobStoreOptions& options() const { return options_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  BlobStore(std::filesystem::path dir, BlobStoreOptions options);
  Status LimitError(uint64_t size) const;  // REQUIRES: mu_ held
  // Remove, unless `cutoff` is given and the file was written after it.
  Status RemoveIfWrittenBy(const Hash256& hash,
                           std::optional<std::filesystem::file_time_type> cutoff);
  // Renames a synced `file` of `size` bytes hashing to `hash` into place
  // (Put and Adopt have checked both); removes it on any failure.
  // With `reservation`, its room is given up first, under the same lock.
  Result<Hash256> Install(const std::filesystem::path& file, const Hash256& hash, uint64_t size,
                          Reservation* reservation = nullptr);

  const std::filesystem::path dir_;
  const BlobStoreOptions options_;
  mutable std::mutex mu_;
  std::map<Hash256, uint64_t> sizes_;  // guarded by mu_
  uint64_t used_bytes_ = 0;            // guarded by mu_
  uint64_t reserved_bytes_ = 0;        // guarded by mu_: held by Reservations
  uint64_t next_temp_ = 0;             // guarded by mu_
  std::mutex fetch_mu_;
  std::condition_variable fetch_cv_;
  std::set<Hash256> fetching_;  // guarded by fetch_mu_
};

// A manifest's bytes: the hashes concatenated. Decoding checks the length
// (1..kManifestHashesMax hashes) and that their Merkle root is `root`.
inline constexpr size_t kManifestHashesMax = 8'193;  // H / C + 1 with H <= 8192
Bytes EncodeManifest(const std::vector<Hash256>& hashes);
Result<std::vector<Hash256>> DecodeManifest(const Hash256& root, ByteSpan bytes);

// BLAKE2b-256 of a file's bytes, read in pieces; ResourceExhausted past
// `bytes_max`. Sets *size when given.
Result<Hash256> HashFile(const std::filesystem::path& file, uint64_t bytes_max,
                         uint64_t* size = nullptr);

}  // namespace agora::node::storage

#endif  // AGORA_NODE_STORAGE_BLOB_STORE_H_
