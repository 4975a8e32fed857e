// StateTree: the ledger's authenticated state, one sparse Merkle tree over
// every module's keys, whose root is the block's app hash.
//
// Shape (docs/state.md has the byte layouts): a binary sparse Merkle tree over
// the 256-bit BLAKE2b-256 hash of each key, in which every subtree that holds
// a single key is collapsed to that key's leaf and every empty subtree hashes
// to 32 zero bytes (the Jellyfish Merkle tree of Diem/Aptos, with BLAKE2b).
// Storage packs four binary levels into one 16-ary node, so a path through a
// million keys costs about six KV entries. Nodes are stored under
// (version, nibble path): a commit writes new nodes next to the old ones, so
// every version still kept can be read and proven while newer ones are
// written. Each version also records which older nodes it replaced (the
// stale index); the write of version V deletes the nodes that only versions
// older than V - versions_kept + 1 needed, so the last `versions_kept`
// versions stay readable and the store does not grow with history.
//
// The latest value of every key is also kept flat under KeyPrefix::kState
// (suffix = the key), so Get is one KV read; the tree keeps its own copy of
// each value under (key hash, version) for proofs of older versions.
//
// Writes are two-phase so that the tree, the blocks and the rest of the
// ledger land in one atomic batch: Stage computes a version and appends its
// writes to the caller's WriteBatch; the caller writes the batch, then calls
// Commit (or Abandon if it did not write it). Internal nodes are read through
// a cache bounded by Options::cache_bytes_max. A commit writes about 1 KB of
// nodes per changed key (docs/state.md, "Costs" and "Benchmark").
//
// Thread safety: not thread-safe. One thread (the node's) is the single
// writer and makes every call, reads included, or the caller serializes
// them: reads move entries in the node cache. A Stage may run threads of
// its own (Options::stage_threads), which read the store concurrently; they
// have ended when Stage returns.
#ifndef AGORA_COMMON_STATE_TREE_H_
#define AGORA_COMMON_STATE_TREE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/kv.h"
#include "common/status.h"

namespace agora {

namespace state_tree_internal {
// Defined in state_tree.cc; declared here only so StateTree can hold them.
struct ChildRef;  // one position of the tree: empty, a leaf or a node
class Node;       // a decoded 16-ary internal node
struct Change;    // one entry of a Stage's changes, by key hash
struct StageRun;  // what one Stage accumulates until Commit or Abandon

// Names one stored node without allocating: the version that wrote it and
// the first `depth` nibbles of its path (the rest of `path` is zero). The
// node cache is keyed by it.
struct NodeId {
  uint64_t version = 0;
  uint8_t depth = 0;
  std::array<uint8_t, Hash256::kSize> path{};
  friend bool operator==(const NodeId&, const NodeId&) = default;
};
struct NodeIdHash {
  size_t operator()(const NodeId& id) const;
};
}  // namespace state_tree_internal

inline constexpr size_t kStateKeyBytesMax = 256;
inline constexpr size_t kStateValueBytesMax = 1u << 20;
// The tree is at most 256 binary levels deep (one per bit of a key hash), so
// a proof has at most that many siblings.
inline constexpr size_t kStateTreeDepthBitsMax = 256;
// flags (1) + leaf (64) + sibling count (2) + bitmap (32) + siblings.
inline constexpr size_t kStateProofBytesMax = 1 + 2 * Hash256::kSize + 2 +
                                              kStateTreeDepthBitsMax / 8 +
                                              kStateTreeDepthBitsMax * Hash256::kSize;

// A leaf of the tree: the hash of a key and the hash of its value.
struct StateLeaf {
  Hash256 key_hash;
  Hash256 value_hash;
  friend bool operator==(const StateLeaf&, const StateLeaf&) = default;
};

// Proof that a key holds a value, or that it is absent, under one root.
// The key's path from the root ends either at an empty subtree (leaf is
// nullopt: absent) or at a leaf: the key's own (present) or another key's
// whose hash shares the path (absent).
struct StateProof {
  std::optional<StateLeaf> leaf;
  // The sibling hashes along the key's path, root first: siblings[i] is the
  // subtree next to the path at depth i + 1. At most kStateTreeDepthBitsMax.
  std::vector<Hash256> siblings;

  // Canonical bytes, at most kStateProofBytesMax (docs/state.md, "Proofs").
  // REQUIRES: siblings.size() <= kStateTreeDepthBitsMax
  Bytes Encode() const;
  // Strict: accepts exactly the bytes Encode produces (Corruption otherwise).
  // Safe on untrusted input.
  static Result<StateProof> Decode(ByteSpan bytes);

  friend bool operator==(const StateProof&, const StateProof&) = default;
};

struct ProvenValue {
  std::optional<Bytes> value;
  StateProof proof;
};

class StateTree {
 public:
  struct Options {
    // Bound on the memory of cached internal nodes (decoded), in bytes. The
    // default holds the nodes of about a million accounts (docs/state.md).
    size_t cache_bytes_max = 256u << 20;
    // Versions v with v + versions_kept > version() stay readable
    // (RootAt, Prove); older ones are pruned. At least 1.
    uint64_t versions_kept = 1000;
    // Threads a Stage of at least kParallelStageChangesMin changes uses: the
    // sixteen subtrees under the root are independent, so each is updated
    // on a thread of its own (at most this many at once). 1: the caller's
    // thread only. The result, and every byte of the batch, is the same for
    // any value. At least 1, at most 16.
    unsigned stage_threads = 1;
  };
  // Fewer changes than this are staged on the caller's thread alone: the
  // threads would cost more than they save.
  static constexpr size_t kParallelStageChangesMin = 256;

  // Reads the latest committed version from the store (empty store: no
  // version yet, root = the empty root). `store` must outlive the tree.
  // Errors: InvalidArgument for bad options, Corruption for damaged records.
  static Result<std::unique_ptr<StateTree>> Open(KvStore* store, Options options);
  ~StateTree();
  StateTree(const StateTree&) = delete;
  StateTree& operator=(const StateTree&) = delete;

  // The latest committed version, nullopt if none.
  std::optional<uint64_t> version() const { return version_; }
  // The root of version() (EmptyRoot() if none).
  Hash256 root() const;
  // The root of a tree with no keys: 32 zero bytes.
  static Hash256 EmptyRoot() { return Hash256{}; }

  // The latest committed value of `key` (one flat kState read).
  Result<std::optional<Bytes>> Get(ByteSpan key);

  // Computes the tree of `version` = the latest committed one plus `changes`
  // (value = put, nullopt = delete; deleting an absent key and putting the
  // value a key already holds are no-ops; an empty value is a value) and
  // appends every write (nodes, flat values, stale index, version root,
  // pruning deletes) to *batch. Nothing that readers see changes until
  // Commit. Returns the new root.
  // REQUIRES: version > version() (or any if none); no Stage pending.
  // Errors: InvalidArgument for an empty or oversized key or an oversized
  // value (nothing appended); Corruption or IoError from the store, after
  // which *batch holds part of the writes and must be discarded.
  Result<Hash256> Stage(uint64_t version, const std::map<Bytes, std::optional<Bytes>>& changes,
                        WriteBatch* batch);
  // Called after the batch of the last Stage has been written: that version
  // becomes current and its new nodes enter the cache.
  // REQUIRES: a Stage pending.
  void Commit();
  // Drops what the last Stage computed (its batch was not written). A no-op
  // when none is pending.
  void Abandon();

  // NotFound if `version` was pruned, never committed, or is in the future.
  Result<Hash256> RootAt(uint64_t version);
  // The value of `key` at `version` and its proof against RootAt(version).
  // NotFound as RootAt; InvalidArgument for a bad key.
  Result<ProvenValue> Prove(ByteSpan key, uint64_t version);

 private:
  using ChildRef = state_tree_internal::ChildRef;
  using Node = state_tree_internal::Node;
  using Change = state_tree_internal::Change;
  using StageRun = state_tree_internal::StageRun;
  using NodeId = state_tree_internal::NodeId;
  using NodeIdHash = state_tree_internal::NodeIdHash;
  struct CacheEntry {
    NodeId id;
    std::shared_ptr<const Node> node;
    size_t bytes;
  };

  StateTree(KvStore* store, Options options);

  // One part of the node cache: an LRU list of decoded nodes, front =
  // newest, holding at most `bytes_max` bytes.
  struct CacheShard {
    std::list<CacheEntry> lru;
    std::unordered_map<NodeId, std::list<CacheEntry>::iterator, NodeIdHash> index;
    size_t bytes = 0;
    size_t bytes_max = 0;
  };
  // The root nodes (depth 0) are in shard 16; a deeper node is in the shard
  // of its path's first nibble, so the threads of a parallel Stage, each in
  // its own subtree of the root, never share a shard.
  static constexpr size_t kCacheShards = 17;
  static size_t ShardOf(const NodeId& id);

  Result<std::shared_ptr<const Node>> LoadNode(const NodeId& id);
  void CacheInsert(const NodeId& id, std::shared_ptr<const Node> node);
  void CacheErase(const NodeId& id);
  // Records that the Stage replaced node `id` (stale index) and drops it
  // from the cache.
  void DropReplaced(const NodeId& id, StageRun& run);
  Result<ChildRef> ReadRootRef(uint64_t version);
  Result<std::optional<ChildRef>> UpdateSubtree(const ChildRef& ref, size_t depth,
                                                const Change* begin, const Change* end,
                                                StageRun& run);
  // UpdateSubtree of the root node, its sixteen subtrees updated on up to
  // options_.stage_threads threads.
  Result<std::optional<ChildRef>> UpdateRootInParallel(const Change* begin, const Change* end,
                                                       StageRun& run);
  Result<std::optional<ChildRef>> UpdateLeafOrEmpty(const ChildRef& ref, size_t depth,
                                                    const Change* begin, const Change* end,
                                                    StageRun& run);
  Status Prune(uint64_t version, StageRun& run);

  KvStore* store_;
  Options options_;
  std::optional<uint64_t> version_;
  std::unique_ptr<ChildRef> root_ref_;  // of version_; empty when none
  // Where the next scan of the stale index starts, so that scans skip the
  // deleted entries in front instead of walking their tombstones.
  Bytes prune_cursor_;
  std::unique_ptr<StageRun> staged_;  // set between Stage and Commit/Abandon

  // Cache of decoded internal nodes by storage key; options_.cache_bytes_max
  // is shared evenly among the shards.
  std::array<CacheShard, kCacheShards> cache_;
};

// OK iff `proof` shows that under `root`, `key` holds `value` (or is absent
// when value is nullopt). Unauthenticated, with the reason, otherwise;
// InvalidArgument for an empty or oversized key or value. Safe on hostile
// proofs.
Status VerifyStateProof(const Hash256& root, ByteSpan key, const std::optional<Bytes>& value,
                        const StateProof& proof);

}  // namespace agora

#endif  // AGORA_COMMON_STATE_TREE_H_
