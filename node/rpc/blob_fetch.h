// Fetching a blob by hash from other nodes' blob endpoints
// (`GET <source>/blob/<hash>`), trusting none of them.
//
// The bytes go to a partial file first. Nothing is used or kept until the
// whole file hashes to the name asked for; a source whose bytes fail that
// check is reported as lying and the next one is tried from byte 0. An
// interrupted transfer (a source that hangs past idle_timeout, drops the
// connection, or a killed process) leaves its partial file, and the next
// attempt, to the same source or another, asks for the rest with a Range
// request. Sources are tried in order, `rounds` times over.
//
// Thread safety: free functions; thread-safe as long as two calls do not
// fetch the same hash into the same place at once.
#ifndef AGORA_NODE_RPC_BLOB_FETCH_H_
#define AGORA_NODE_RPC_BLOB_FETCH_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/hash.h"
#include "common/status.h"
#include "node/storage/blob_store.h"

namespace agora::node::rpc {

using storage::BlobStore;

struct BlobFetchOptions {
  std::chrono::milliseconds connect_timeout{5'000};
  // A source that sends nothing for this long is left for the next.
  std::chrono::milliseconds idle_timeout{15'000};
  int rounds = 2;                          // passes over the source list
  uint64_t bytes_max = uint64_t{4} << 30;  // a source announcing more is refused
  // One attempt at one source may take at most this long in all (0: no
  // bound), so a source that trickles a byte at a time is left too.
  std::chrono::milliseconds attempt_timeout{0};
  // Checked between pieces: true ends the fetch (Unavailable, partial kept).
  std::function<bool()> cancelled;
  // The whole fetch, every source and round, ends by then
  // (ResourceExhausted, partial kept: running out of time is the fetcher's
  // bound, not a source's fault): each wait (connect, send, read) is cut to
  // what is left.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // A source that has sent less than min_bytes_per_second × (time since
  // its answer's header − rate_grace) is left as too slow (its fault:
  // Unavailable). 0: no bound. A validator bounds both, so a provider that
  // trickles its bytes, never idle long enough to be left, is found
  // unavailable in time, while a validator that is itself short of time
  // sends nothing rather than blame the provider.
  uint64_t min_bytes_per_second = 0;
  std::chrono::milliseconds rate_grace{0};
  // Called as bytes arrive: (bytes held so far, total or 0 when unknown).
  std::function<void(uint64_t, uint64_t)> progress;
};

struct BlobFetchReport {
  std::string source;                 // the one that finished the transfer
  uint64_t size = 0;                  // bytes of the blob
  uint64_t bytes_received = 0;        // over the network, this call (less than size after a resume)
  bool resumed = false;               // started from an earlier partial file
  bool already_held = false;          // the store had it; nothing was fetched
  std::vector<std::string> failures;  // "<source>: <what went wrong>", in order
  std::vector<std::string> liars;     // sources whose bytes failed the hash
};

// Fetches `hash` into `store` (no-op when held) from `sources`, base URLs
// such as "http://127.0.0.1:26657". The partial file lives in the store.
// On failure: Unavailable naming every source and what each did; IoError or
// PermissionDenied when this node's own partial file cannot be written or
// read (no source is blamed, none is tried further); the report (if given)
// is filled either way.
Status FetchBlob(BlobStore& store, const Hash256& hash, const std::vector<std::string>& sources,
                 const BlobFetchOptions& options, BlobFetchReport* report = nullptr);

// The same into a plain file `out` (the CLI's `agora blob get`), with the
// partial bytes in "<out>.part". `out` is replaced only by verified bytes.
Status FetchBlobToFile(const Hash256& hash, const std::vector<std::string>& sources,
                       const std::filesystem::path& out, const BlobFetchOptions& options,
                       BlobFetchReport* report = nullptr);

// Fetches the checkpoint hashes a task committed to from `sources`
// (GET /manifest/<root>), checking their Merkle root; Unavailable naming
// each source's failure when none serves a list with that root.
Result<std::vector<Hash256>> FetchManifest(
    const Hash256& root, const std::vector<std::string>& sources,
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Asks `node` (an RPC base URL) for the size of blob `hash` with a HEAD
// request: NotFound when it does not hold it.
Result<uint64_t> BlobSizeAt(std::string_view node, const Hash256& hash,
                            std::chrono::milliseconds timeout = std::chrono::seconds(10));

struct BlobUploadReport {
  Hash256 hash;
  uint64_t size = 0;
  bool already_held = false;  // the node had it; nothing was sent
};

// Stores `file` on `node` (POST /blob?hash=<its hash>, the body streamed
// from the file) unless the node already holds it. The node checks the hash
// and its limits; its refusal comes back as the error, with its reason.
// The timeout grows with the file: `timeout` plus a second per MiB.
Result<BlobUploadReport> UploadBlob(std::string_view node, const std::filesystem::path& file,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Publishes a checkpoint manifest on `node` (POST /manifest/<root>, root =
// merkle::Root(hashes)); the node keeps it only if the hashes make
// that root. For a provider whose own node cannot serve validators.
Status UploadManifest(std::string_view node, const std::vector<Hash256>& hashes,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace agora::node::rpc

#endif  // AGORA_NODE_RPC_BLOB_FETCH_H_
