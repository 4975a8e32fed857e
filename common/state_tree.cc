#include "common/state_tree.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstring>
#include <new>
#include <thread>
#include <type_traits>
#include <utility>

#include "common/merkle.h"

namespace agora {
namespace state_tree_internal {

struct ChildRef {
  enum class Kind : uint8_t { kEmpty = 0, kLeaf = 1, kNode = 2 };
  Kind kind = Kind::kEmpty;
  // kLeaf: the version that wrote the key's value (its value record is under
  // it); kNode: the version that wrote the node (its storage key).
  uint64_t version = 0;
  Hash256 hash;    // the leaf's or the node's hash; zeros when empty
  StateLeaf leaf;  // kLeaf only
};

class Node {
 public:
  struct Child {
    uint64_t version;
    Hash256 hash;
  };

  // Room for the children of `present_bits` and the leaves of `leaf_bits`,
  // all zero, in one allocation (a node is made and freed for every path a
  // commit rewrites).
  Node(uint16_t present_bits, uint16_t leaf_bits)
      : present_mask_(present_bits),
        leaf_mask_(leaf_bits),
        storage_(new std::byte[ChildCount() * sizeof(Child) + LeafCount() * sizeof(StateLeaf)]) {
    for (size_t i = 0; i < ChildCount(); ++i) new (&children()[i]) Child{};
    for (size_t i = 0; i < LeafCount(); ++i) new (&leaves()[i]) StateLeaf{};
  }

  uint16_t present_mask() const { return present_mask_; }  // bit n: child n exists
  uint16_t leaf_mask() const { return leaf_mask_; }  // bit n: child n is a leaf
  size_t ChildCount() const { return static_cast<size_t>(std::popcount(present_mask_)); }
  size_t LeafCount() const { return static_cast<size_t>(std::popcount(leaf_mask_)); }
  // The present children, in nibble order.
  Child* children() { return std::launder(reinterpret_cast<Child*>(storage_.get())); }
  const Child* children() const {
    return std::launder(reinterpret_cast<const Child*>(storage_.get()));
  }
  // The leaf children's contents, in nibble order.
  StateLeaf* leaves() {
    return std::launder(
        reinterpret_cast<StateLeaf*>(storage_.get() + ChildCount() * sizeof(Child)));
  }
  const StateLeaf* leaves() const {
    return std::launder(
        reinterpret_cast<const StateLeaf*>(storage_.get() + ChildCount() * sizeof(Child)));
  }
  size_t StorageBytes() const {
    return ChildCount() * sizeof(Child) + LeafCount() * sizeof(StateLeaf);
  }

 private:
  static_assert(std::is_trivially_destructible_v<Child> &&
                std::is_trivially_destructible_v<StateLeaf>);
  static_assert(sizeof(Child) % alignof(StateLeaf) == 0);
  uint16_t present_mask_;
  uint16_t leaf_mask_;
  std::unique_ptr<std::byte[]> storage_;
};

struct Change {
  Hash256 key_hash;
  const Bytes* key;
  const std::optional<Bytes>* value;
  Hash256 value_hash;  // of *value, when it has one
};

struct StageRun {
  uint64_t version = 0;
  WriteBatch* batch = nullptr;
  ChildRef root;
  // kStateTree suffixes of the records this version replaced, packed as
  // repeated (u8 length, suffix): one buffer instead of one allocation each.
  Bytes stale;
  // The nodes this version wrote, children before parents (for the cache).
  std::vector<std::pair<NodeId, std::shared_ptr<const Node>>> new_nodes;
  Bytes prune_cursor;
};

}  // namespace state_tree_internal

namespace {

using state_tree_internal::ChildRef;
using state_tree_internal::Node;
using state_tree_internal::NodeId;
using Children = std::array<ChildRef, 16>;
using Kind = ChildRef::Kind;

// Domain separation of the two kinds of hashed tree objects (docs/state.md).

// Record families inside KeyPrefix::kStateTree: the first byte of a suffix.
constexpr uint8_t kLatestRecord = 0x00;  // [00] -> latest committed version
constexpr uint8_t kRootRecord = 0x01;    // [01][version] -> the version's root
constexpr uint8_t kNodeRecord = 0x02;    // [02][version][depth][path] -> node
constexpr uint8_t kValueRecord = 0x03;   // [03][key hash][version] -> value

constexpr size_t kNibblesMax = 2 * Hash256::kSize;
// One stale-index record holds at most this many bytes of keys, so a big
// version's list is split instead of making one huge value.
constexpr size_t kStaleChunkBytesMax = 256u << 10;
// Stale-index records one Stage deletes at most, so a lowered versions_kept
// (or a long pause) is caught up over several versions instead of in one
// unbounded batch.
constexpr size_t kPruneChunksPerStageMax = 64;
// Per-entry bookkeeping of the node cache: list node and hash node (each
// holding a NodeId), bucket slot, shared_ptr control block.
constexpr size_t kCacheEntryOverheadBytes = 160;

Hash256 HashLeaf(const StateLeaf& leaf) { return merkle::HashLeaf(leaf.key_hash, leaf.value_hash); }

using merkle::HashNode;

// Nibble `depth` of a key hash, high nibble of each byte first.
unsigned Nibble(const Hash256& h, size_t depth) {
  const uint8_t b = h.bytes[depth / 2];
  return depth % 2 == 0 ? b >> 4 : b & 0x0f;
}

// Bit `i` of a key hash, most significant bit of each byte first.
unsigned Bit(const Hash256& h, size_t i) { return (h.bytes[i / 8] >> (7 - i % 8)) & 1; }

// Runs fn(i) once for each i in [0, n), on up to `threads` threads: the
// caller's and threads - 1 of its own, which have ended when it returns.
template <typename Fn>
void ParallelFor(unsigned threads, size_t n, const Fn& fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::jthread> pool;
  for (size_t t = 1; t < std::min<size_t>(threads, n); ++t) pool.emplace_back(work);
  work();
}

// A record's kStateTree suffix built on the stack: the commit path makes
// several per changed key, and each Bytes would be an allocation.
class SuffixBuffer {
 public:
  void Push(uint8_t b) { bytes_[size_++] = b; }
  void PushU64(uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) Push(static_cast<uint8_t>(v >> shift));
  }
  void Append(ByteSpan b) {
    std::memcpy(&bytes_[size_], b.data(), b.size());
    size_ += b.size();
  }
  ByteSpan span() const { return {bytes_.data(), size_}; }

 private:
  // The longest suffix: a node key, [02][version][depth][32-byte path].
  std::array<uint8_t, 2 + 8 + Hash256::kSize> bytes_;
  size_t size_ = 0;
};

Bytes LatestKey() { return Bytes{kLatestRecord}; }

Bytes RootKey(uint64_t version) {
  Bytes k{kRootRecord};
  PutU64BigEndian(k, version);
  return k;
}

// The node at the first `depth` nibbles of `path`, written by `version`.
NodeId MakeNodeId(uint64_t version, const Hash256& path, size_t depth) {
  NodeId id;
  id.version = version;
  id.depth = static_cast<uint8_t>(depth);
  const size_t bytes = (depth + 1) / 2;
  std::memcpy(id.path.data(), path.bytes.data(), bytes);
  if (depth % 2 == 1) id.path[bytes - 1] &= 0xf0;  // an odd path pads with a zero nibble
  return id;
}

SuffixBuffer NodeKey(const NodeId& id) {
  SuffixBuffer k;
  k.Push(kNodeRecord);
  k.PushU64(id.version);
  k.Push(id.depth);
  k.Append(ByteSpan(id.path).first((id.depth + 1u) / 2));
  return k;
}

SuffixBuffer ValueKey(const Hash256& key_hash, uint64_t version) {
  SuffixBuffer k;
  k.Push(kValueRecord);
  k.Append(key_hash.span());
  k.PushU64(version);
  return k;
}

// The root record: kind (1), then for a leaf version (8), key hash, value
// hash; for a node version (8), node hash.
Bytes EncodeRootRef(const ChildRef& ref) {
  Bytes out{static_cast<uint8_t>(ref.kind)};
  if (ref.kind == Kind::kEmpty) return out;
  PutU64BigEndian(out, ref.version);
  if (ref.kind == Kind::kLeaf) {
    Append(out, ref.leaf.key_hash.span());
    Append(out, ref.leaf.value_hash.span());
  } else {
    Append(out, ref.hash.span());
  }
  return out;
}

Result<ChildRef> DecodeRootRef(ByteSpan b) {
  ChildRef ref;
  if (b.size() == 1 && b[0] == static_cast<uint8_t>(Kind::kEmpty)) return ref;
  if (b.size() == 1 + 8 + 2 * Hash256::kSize && b[0] == static_cast<uint8_t>(Kind::kLeaf)) {
    ref.kind = Kind::kLeaf;
    ref.version = GetU64BigEndian(b.subspan(1));
    ref.leaf.key_hash = Hash256::FromBytes(b.subspan(9, Hash256::kSize));
    ref.leaf.value_hash = Hash256::FromBytes(b.subspan(9 + Hash256::kSize, Hash256::kSize));
    ref.hash = HashLeaf(ref.leaf);
    return ref;
  }
  if (b.size() == 1 + 8 + Hash256::kSize && b[0] == static_cast<uint8_t>(Kind::kNode)) {
    ref.kind = Kind::kNode;
    ref.version = GetU64BigEndian(b.subspan(1));
    ref.hash = Hash256::FromBytes(b.subspan(9, Hash256::kSize));
    return ref;
  }
  return Status::Corruption("state tree root record is malformed; the store is damaged");
}

// Node record: present mask (u16 BE), leaf mask (u16 BE), then per present
// child in nibble order its version (u64 BE) and either its node hash or,
// for a leaf, its key hash and value hash.
// The largest node record: sixteen leaf children.
constexpr size_t kNodeRecordBytesMax = 4 + 16 * (8 + 2 * Hash256::kSize);

// Writes the record into `out` (a stack buffer: one is written for every
// node a commit rewrites) and returns its length.
size_t EncodeNode(const Node& node, std::array<uint8_t, kNodeRecordBytesMax>& out) {
  size_t at = 0;
  auto put = [&](const void* p, size_t size) {
    std::memcpy(&out[at], p, size);
    at += size;
  };
  out[at++] = static_cast<uint8_t>(node.present_mask() >> 8);
  out[at++] = static_cast<uint8_t>(node.present_mask());
  out[at++] = static_cast<uint8_t>(node.leaf_mask() >> 8);
  out[at++] = static_cast<uint8_t>(node.leaf_mask());
  size_t child = 0;
  size_t leaf = 0;
  for (unsigned n = 0; n < 16; ++n) {
    if (!(node.present_mask() >> n & 1)) continue;
    const uint64_t version = node.children()[child].version;
    for (int shift = 56; shift >= 0; shift -= 8) out[at++] = static_cast<uint8_t>(version >> shift);
    if (node.leaf_mask() >> n & 1) {
      put(node.leaves()[leaf].key_hash.bytes.data(), Hash256::kSize);
      put(node.leaves()[leaf].value_hash.bytes.data(), Hash256::kSize);
      ++leaf;
    } else {
      put(node.children()[child].hash.bytes.data(), Hash256::kSize);
    }
    ++child;
  }
  return at;
}

Result<Node> DecodeNode(ByteSpan b) {
  const Status corrupt =
      Status::Corruption("state tree node record is malformed; the store is damaged");
  if (b.size() < 4) return corrupt;
  const uint16_t present_mask = static_cast<uint16_t>(b[0] << 8 | b[1]);
  const uint16_t leaf_mask = static_cast<uint16_t>(b[2] << 8 | b[3]);
  const int present = std::popcount(present_mask);
  const int leaves = std::popcount(leaf_mask);
  if ((leaf_mask & ~present_mask) != 0 || present < 1) return corrupt;
  if (b.size() != 4 + static_cast<size_t>(present) * (8 + Hash256::kSize) +
                      static_cast<size_t>(leaves) * Hash256::kSize) {
    return corrupt;
  }
  Node node(present_mask, leaf_mask);
  size_t at = 4;
  size_t child = 0;
  size_t leaf = 0;
  for (unsigned n = 0; n < 16; ++n) {
    if (!(present_mask >> n & 1)) continue;
    Node::Child& c = node.children()[child++];
    c.version = GetU64BigEndian(b.subspan(at));
    at += 8;
    if (leaf_mask >> n & 1) {
      StateLeaf& l = node.leaves()[leaf++];
      l.key_hash = Hash256::FromBytes(b.subspan(at, Hash256::kSize));
      l.value_hash = Hash256::FromBytes(b.subspan(at + Hash256::kSize, Hash256::kSize));
      at += 2 * Hash256::kSize;
      c.hash = HashLeaf(l);
    } else {
      c.hash = Hash256::FromBytes(b.subspan(at, Hash256::kSize));
      at += Hash256::kSize;
    }
  }
  return node;
}

size_t NodeMemoryBytes(const Node& node) {
  return sizeof(Node) + node.StorageBytes() + kCacheEntryOverheadBytes;
}

Children Expand(const Node& node) {
  Children out;
  size_t child = 0;
  size_t leaf = 0;
  for (unsigned n = 0; n < 16; ++n) {
    if (!(node.present_mask() >> n & 1)) continue;
    ChildRef& ref = out[n];
    ref.version = node.children()[child].version;
    ref.hash = node.children()[child].hash;
    ++child;
    if (node.leaf_mask() >> n & 1) {
      ref.kind = Kind::kLeaf;
      ref.leaf = node.leaves()[leaf++];
    } else {
      ref.kind = Kind::kNode;
    }
  }
  return out;
}

struct Masks {
  uint16_t present = 0;
  uint16_t leaves = 0;
};

Masks MasksOf(const Children& c) {
  Masks m;
  for (unsigned n = 0; n < 16; ++n) {
    if (c[n].kind != Kind::kEmpty) m.present |= static_cast<uint16_t>(1u << n);
    if (c[n].kind == Kind::kLeaf) m.leaves |= static_cast<uint16_t>(1u << n);
  }
  return m;
}

Node Compact(const Children& children, const Masks& m) {
  Node node(m.present, m.leaves);
  size_t child = 0;
  size_t leaf = 0;
  for (unsigned n = 0; n < 16; ++n) {
    const ChildRef& ref = children[n];
    if (ref.kind == Kind::kEmpty) continue;
    node.children()[child++] = {ref.version, ref.hash};
    if (ref.kind == Kind::kLeaf) node.leaves()[leaf++] = ref.leaf;
  }
  return node;
}

uint16_t RangeMask(unsigned lo, unsigned width) {
  return static_cast<uint16_t>(((1u << width) - 1) << lo);
}

// The hash of the binary subtree over children [lo, lo + width) of a node
// (width a power of two): empty ranges hash to zeros and a range holding a
// single leaf is that leaf, exactly as the collapsed binary tree defines.
Hash256 HashRange(const Children& c, uint16_t present, uint16_t leaves, unsigned lo,
                  unsigned width) {
  const uint16_t mask = RangeMask(lo, width);
  const int count = std::popcount(static_cast<uint16_t>(present & mask));
  if (count == 0) return StateTree::EmptyRoot();
  if (count == 1 && (leaves & mask) != 0)
    return c[std::countr_zero(static_cast<uint16_t>(present & mask))].hash;
  if (width == 1) return c[lo].hash;
  const unsigned half = width / 2;
  return HashNode(HashRange(c, present, leaves, lo, half),
                  HashRange(c, present, leaves, lo + half, half));
}

Status CheckKey(ByteSpan key) {
  if (key.empty()) return Status::InvalidArgument("state key is empty");
  if (key.size() > kStateKeyBytesMax) {
    return Status::InvalidArgument("state key has " + std::to_string(key.size()) +
                                   " bytes; the limit is " + std::to_string(kStateKeyBytesMax));
  }
  return Status::Ok();
}

Status CheckValue(ByteSpan value) {
  if (value.size() > kStateValueBytesMax) {
    return Status::InvalidArgument("state value has " + std::to_string(value.size()) +
                                   " bytes; the limit is " + std::to_string(kStateValueBytesMax));
  }
  return Status::Ok();
}

void AddStale(state_tree_internal::StageRun& run, ByteSpan suffix) {
  run.stale.push_back(static_cast<uint8_t>(suffix.size()));
  Append(run.stale, suffix);
}

// Appends one stale-index record per kStaleChunkBytesMax of keys: suffix
// [version][chunk u32 BE], value = repeated (u8 length, kStateTree suffix),
// cut out of `stale` (packed the same way) between entries.
void WriteStaleIndex(uint64_t version, ByteSpan stale, WriteBatch* batch) {
  uint32_t chunk = 0;
  size_t chunk_begin = 0;
  auto flush = [&](size_t chunk_end) {
    Bytes key;
    PutU64BigEndian(key, version);
    for (int shift = 24; shift >= 0; shift -= 8)
      key.push_back(static_cast<uint8_t>(chunk >> shift));
    batch->Put(KeyPrefix::kStateStale, key, stale.subspan(chunk_begin, chunk_end - chunk_begin));
    chunk_begin = chunk_end;
    ++chunk;
  };
  for (size_t at = 0; at < stale.size(); at += 1 + stale[at]) {
    if (at + 1 + stale[at] - chunk_begin > kStaleChunkBytesMax) flush(at);
  }
  if (chunk_begin < stale.size()) flush(stale.size());
}

}  // namespace

StateTree::StateTree(KvStore* store, Options options)
    : store_(store), options_(options), root_ref_(std::make_unique<ChildRef>()) {
  for (CacheShard& shard : cache_) shard.bytes_max = options_.cache_bytes_max / kCacheShards;
}

StateTree::~StateTree() = default;

Result<std::unique_ptr<StateTree>> StateTree::Open(KvStore* store, Options options) {
  if (options.versions_kept < 1) {
    return Status::InvalidArgument("state tree versions_kept must be at least 1");
  }
  if (options.stage_threads < 1 || options.stage_threads > 16) {
    return Status::InvalidArgument("state tree stage_threads must be 1 to 16, not " +
                                   std::to_string(options.stage_threads));
  }
  std::unique_ptr<StateTree> tree(new StateTree(store, options));
  AGORA_ASSIGN_OR_RETURN(std::optional<Bytes> latest,
                         store->Get(KeyPrefix::kStateTree, LatestKey()));
  if (!latest) return tree;
  if (latest->size() != 8) {
    return Status::Corruption(
        "state tree latest-version record is malformed; the store is damaged");
  }
  const uint64_t version = GetU64BigEndian(*latest);
  AGORA_ASSIGN_OR_RETURN(ChildRef root, tree->ReadRootRef(version));
  tree->version_ = version;
  *tree->root_ref_ = root;
  return tree;
}

Hash256 StateTree::root() const { return root_ref_->hash; }

Result<ChildRef> StateTree::ReadRootRef(uint64_t version) {
  AGORA_ASSIGN_OR_RETURN(std::optional<Bytes> record,
                         store_->Get(KeyPrefix::kStateTree, RootKey(version)));
  if (!record) return Status::NotFound("state version " + std::to_string(version) + " not stored");
  return DecodeRootRef(*record);
}

Result<std::optional<Bytes>> StateTree::Get(ByteSpan key) {
  AGORA_RETURN_IF_ERROR(CheckKey(key));
  return store_->Get(KeyPrefix::kState, key);
}

size_t state_tree_internal::NodeIdHash::operator()(const NodeId& id) const {
  std::array<uint64_t, 4> words;
  std::memcpy(words.data(), id.path.data(), sizeof(words));
  uint64_t h = (id.version * 0x9e3779b97f4a7c15ull) ^ (static_cast<uint64_t>(id.depth) << 56);
  for (uint64_t w : words) h = (h ^ w) * 0xff51afd7ed558ccdull;
  return static_cast<size_t>(h ^ h >> 33);
}

size_t StateTree::ShardOf(const NodeId& id) {
  return id.depth == 0 ? kCacheShards - 1 : id.path[0] >> 4;
}

Result<std::shared_ptr<const Node>> StateTree::LoadNode(const NodeId& id) {
  CacheShard& shard = cache_[ShardOf(id)];
  auto it = shard.index.find(id);
  if (it != shard.index.end()) {
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    return it->second->node;
  }
  AGORA_ASSIGN_OR_RETURN(std::optional<Bytes> record,
                         store_->Get(KeyPrefix::kStateTree, NodeKey(id).span()));
  if (!record) {
    return Status::Corruption("state tree node of version " + std::to_string(id.version) +
                              " at depth " + std::to_string(id.depth) +
                              " is missing; the store is damaged");
  }
  AGORA_ASSIGN_OR_RETURN(Node node, DecodeNode(*record));
  auto shared = std::make_shared<const Node>(std::move(node));
  CacheInsert(id, shared);
  return shared;
}

void StateTree::CacheErase(const NodeId& id) {
  CacheShard& shard = cache_[ShardOf(id)];
  auto it = shard.index.find(id);
  if (it == shard.index.end()) return;
  shard.bytes -= it->second->bytes;
  shard.lru.erase(it->second);
  shard.index.erase(it);
}

void StateTree::CacheInsert(const NodeId& id, std::shared_ptr<const Node> node) {
  CacheShard& shard = cache_[ShardOf(id)];
  const size_t bytes = NodeMemoryBytes(*node);
  if (bytes > shard.bytes_max) return;
  CacheErase(id);
  shard.lru.push_front({id, std::move(node), bytes});
  shard.index.emplace(id, shard.lru.begin());
  shard.bytes += bytes;
  while (shard.bytes > shard.bytes_max) {
    shard.bytes -= shard.lru.back().bytes;
    shard.index.erase(shard.lru.back().id);
    shard.lru.pop_back();
  }
}

namespace {

// Writes the node over `children` at the first `depth` nibbles of `path`, or
// collapses it: no children is the empty subtree and a lone leaf moves up
// to take the node's place, so a node always holds two keys or more.
ChildRef FinishNode(const Children& children, const Hash256& path, size_t depth,
                    state_tree_internal::StageRun& run) {
  const Masks m = MasksOf(children);
  if (m.present == 0) return ChildRef{};
  if (std::popcount(m.present) == 1 && m.leaves != 0) return children[std::countr_zero(m.present)];
  ChildRef ref;
  ref.kind = Kind::kNode;
  ref.version = run.version;
  ref.hash = HashRange(children, m.present, m.leaves, 0, 16);
  auto node = std::make_shared<const Node>(Compact(children, m));
  const NodeId id = MakeNodeId(run.version, path, depth);
  std::array<uint8_t, kNodeRecordBytesMax> record;
  const size_t record_size = EncodeNode(*node, record);
  run.batch->Put(KeyPrefix::kStateTree, NodeKey(id).span(), ByteSpan(record.data(), record_size));
  run.new_nodes.emplace_back(id, std::move(node));
  return ref;
}

// Builds the subtree at depth `depth` over `leaves` (sorted by key hash, at
// least two, all sharing the first `depth` nibbles).
ChildRef BuildSubtree(const std::vector<ChildRef>& leaves, size_t begin, size_t end, size_t depth,
                      state_tree_internal::StageRun& run) {
  AGORA_CHECK(end - begin >= 2 && depth < kNibblesMax);
  Children children;
  size_t i = begin;
  while (i < end) {
    const unsigned n = Nibble(leaves[i].leaf.key_hash, depth);
    size_t j = i + 1;
    while (j < end && Nibble(leaves[j].leaf.key_hash, depth) == n) ++j;
    children[n] = j - i == 1 ? leaves[i] : BuildSubtree(leaves, i, j, depth + 1, run);
    i = j;
  }
  return FinishNode(children, leaves[begin].leaf.key_hash, depth, run);
}

}  // namespace

Result<std::optional<ChildRef>> StateTree::UpdateSubtree(const ChildRef& ref, size_t depth,
                                                         const Change* begin, const Change* end,
                                                         StageRun& run) {
  if (begin == end) return std::optional<ChildRef>();
  if (ref.kind != Kind::kNode) return UpdateLeafOrEmpty(ref, depth, begin, end, run);
  if (depth >= kNibblesMax) {
    return Status::Corruption("state tree is deeper than 64 nibbles; the store is damaged");
  }
  const NodeId id = MakeNodeId(ref.version, begin->key_hash, depth);
  AGORA_ASSIGN_OR_RETURN(std::shared_ptr<const Node> node, LoadNode(id));
  Children children = Expand(*node);
  bool changed = false;
  for (const Change* i = begin; i != end;) {
    const unsigned n = Nibble(i->key_hash, depth);
    const Change* j = i + 1;
    while (j != end && Nibble(j->key_hash, depth) == n) ++j;
    AGORA_ASSIGN_OR_RETURN(std::optional<ChildRef> child,
                           UpdateSubtree(children[n], depth + 1, i, j, run));
    if (child) {
      children[n] = *child;
      changed = true;
    }
    i = j;
  }
  if (!changed) return std::optional<ChildRef>();
  DropReplaced(id, run);
  return std::optional<ChildRef>(FinishNode(children, begin->key_hash, depth, run));
}

void StateTree::DropReplaced(const NodeId& id, StageRun& run) {
  AddStale(run, NodeKey(id).span());
  // Only older versions read the node now replaced: out of the cache with
  // it while it is still hot, or it would crowd out the nodes that every
  // later version reads. (Abandon only costs a reload.)
  CacheErase(id);
}

// Below a leaf or an empty position the subtree holds at most one key, so
// the new subtree is built from scratch over that key and the puts.
Result<std::optional<ChildRef>> StateTree::UpdateLeafOrEmpty(const ChildRef& ref, size_t depth,
                                                             const Change* begin, const Change* end,
                                                             StageRun& run) {
  std::optional<ChildRef> existing;
  if (ref.kind == Kind::kLeaf) existing = ref;
  std::vector<ChildRef> leaves;
  bool changed = false;
  for (const Change* c = begin; c != end; ++c) {
    const bool is_existing = existing && existing->leaf.key_hash == c->key_hash;
    if (!c->value->has_value()) {
      if (!is_existing) continue;  // deleting an absent key is a no-op
      run.batch->Delete(KeyPrefix::kState, *c->key);
    } else {
      if (is_existing && existing->leaf.value_hash == c->value_hash) continue;  // same value
      ChildRef leaf;
      leaf.kind = Kind::kLeaf;
      leaf.version = run.version;
      leaf.leaf = {c->key_hash, c->value_hash};
      leaf.hash = HashLeaf(leaf.leaf);
      leaves.push_back(leaf);
      run.batch->Put(KeyPrefix::kState, *c->key, **c->value);
      run.batch->Put(KeyPrefix::kStateTree, ValueKey(c->key_hash, run.version).span(), **c->value);
    }
    if (is_existing) {
      AddStale(run, ValueKey(existing->leaf.key_hash, existing->version).span());
      existing.reset();
    }
    changed = true;
  }
  if (!changed) return std::optional<ChildRef>();
  if (existing) {
    leaves.push_back(*existing);
    std::sort(leaves.begin(), leaves.end(), [](const ChildRef& a, const ChildRef& b) {
      return a.leaf.key_hash < b.leaf.key_hash;
    });
  }
  if (leaves.empty()) return std::optional<ChildRef>(ChildRef{});
  if (leaves.size() == 1) return std::optional<ChildRef>(leaves[0]);
  return std::optional<ChildRef>(BuildSubtree(leaves, 0, leaves.size(), depth, run));
}

// The same work as UpdateSubtree(*root_ref_, 0, ...), with each of the
// root's sixteen subtrees updated by a task of its own. A task writes only
// to its own StageRun and reads only its own cache shard (ShardOf) and the
// store, which takes concurrent reads (common/kv.h). The tasks' writes are
// then appended in nibble order, followed by the root's, which is the order
// UpdateSubtree appends them in: the batch is the same byte for byte.
Result<std::optional<ChildRef>> StateTree::UpdateRootInParallel(const Change* begin,
                                                                const Change* end,
                                                                StageRun& run) {
  const NodeId id = MakeNodeId(root_ref_->version, begin->key_hash, 0);
  AGORA_ASSIGN_OR_RETURN(std::shared_ptr<const Node> node, LoadNode(id));
  Children children = Expand(*node);
  struct Task {
    const Change* begin = nullptr;
    const Change* end = nullptr;
    WriteBatch batch;
    StageRun run;
    Result<std::optional<ChildRef>> result = std::optional<ChildRef>();
  };
  std::array<Task, 16> tasks;
  for (const Change* i = begin; i != end;) {
    const unsigned n = Nibble(i->key_hash, 0);
    const Change* j = i + 1;
    while (j != end && Nibble(j->key_hash, 0) == n) ++j;
    Task& task = tasks[n];
    task.begin = i;
    task.end = j;
    task.run.version = run.version;
    task.run.batch = &task.batch;
    i = j;
  }
  ParallelFor(options_.stage_threads, tasks.size(), [&](size_t n) {
    Task& task = tasks[n];
    if (task.begin == task.end) return;
    task.result = UpdateSubtree(children[n], 1, task.begin, task.end, task.run);
  });
  bool changed = false;
  for (unsigned n = 0; n < 16; ++n) {
    Task& task = tasks[n];
    if (!task.result.ok()) return task.result.status();
    if (!task.result->has_value()) continue;
    children[n] = **task.result;
    changed = true;
    run.batch->Append(std::move(task.batch));
    Append(run.stale, task.run.stale);
    for (auto& created : task.run.new_nodes) run.new_nodes.push_back(std::move(created));
  }
  if (!changed) return std::optional<ChildRef>();
  DropReplaced(id, run);
  return std::optional<ChildRef>(FinishNode(children, begin->key_hash, 0, run));
}

Result<Hash256> StateTree::Stage(uint64_t version,
                                 const std::map<Bytes, std::optional<Bytes>>& changes,
                                 WriteBatch* batch) {
  AGORA_CHECK_MSG(staged_ == nullptr, "StateTree::Stage while another Stage is pending");
  AGORA_CHECK_MSG(!version_ || version > *version_, "StateTree::Stage of an old version");
  std::vector<Change> sorted;
  sorted.reserve(changes.size());
  for (const auto& [key, value] : changes) {
    AGORA_RETURN_IF_ERROR(CheckKey(key));
    if (value) AGORA_RETURN_IF_ERROR(CheckValue(*value));
    sorted.push_back(Change{{}, &key, &value, {}});
  }
  const bool parallel = options_.stage_threads > 1 && sorted.size() >= kParallelStageChangesMin;
  constexpr size_t kHashChunk = 512;
  ParallelFor(parallel ? options_.stage_threads : 1, (sorted.size() + kHashChunk - 1) / kHashChunk,
              [&](size_t chunk) {
                const size_t last = std::min(sorted.size(), (chunk + 1) * kHashChunk);
                for (size_t i = chunk * kHashChunk; i < last; ++i) {
                  Change& c = sorted[i];
                  c.key_hash = Blake2b256(*c.key);
                  if (c.value->has_value()) c.value_hash = Blake2b256(**c.value);
                }
              });
  std::sort(sorted.begin(), sorted.end(),
            [](const Change& a, const Change& b) { return a.key_hash < b.key_hash; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    // Two keys with one BLAKE2b-256 hash would be a break of the hash.
    if (sorted[i].key_hash == sorted[i - 1].key_hash) {
      return Status::InvalidArgument("two state keys have the same BLAKE2b-256 hash");
    }
  }

  auto run = std::make_unique<StageRun>();
  run->version = version;
  run->batch = batch;
  run->prune_cursor = prune_cursor_;
  run->new_nodes.reserve(2 * sorted.size() + 64);
  const Change* begin = sorted.data();
  const Change* end = begin + sorted.size();
  AGORA_ASSIGN_OR_RETURN(std::optional<ChildRef> root,
                         parallel && root_ref_->kind == Kind::kNode
                             ? UpdateRootInParallel(begin, end, *run)
                                  : UpdateSubtree(*root_ref_, 0, begin, end, *run));
  run->root = root ? *root : *root_ref_;
  if (version_) AddStale(*run, RootKey(*version_));

  Bytes latest;
  PutU64BigEndian(latest, version);
  batch->Put(KeyPrefix::kStateTree, LatestKey(), latest);
  batch->Put(KeyPrefix::kStateTree, RootKey(version), EncodeRootRef(run->root));
  AGORA_RETURN_IF_ERROR(Prune(version, *run));
  const Hash256 new_root = run->root.hash;
  staged_ = std::move(run);
  return new_root;
}

// A record that version V replaced is needed only by versions below V, and
// those are all pruned once V <= version - versions_kept + 1.
Status StateTree::Prune(uint64_t version, StageRun& run) {
  if (options_.versions_kept <= 1) {
    // Nothing but `version` stays readable: what it replaced goes at once.
    const ByteSpan stale(run.stale);
    for (size_t at = 0; at < stale.size(); at += 1 + stale[at]) {
      run.batch->Delete(KeyPrefix::kStateTree, stale.subspan(at + 1, stale[at]));
    }
  } else {
    WriteStaleIndex(version, run.stale, run.batch);
  }
  if (version + 1 < options_.versions_kept) return Status::Ok();
  const uint64_t through = version + 1 - options_.versions_kept;
  std::unique_ptr<KvIterator> it = store_->Scan(KeyPrefix::kStateStale, run.prune_cursor);
  for (size_t chunks = 0; chunks < kPruneChunksPerStageMax && it->Valid(); ++chunks, it->Next()) {
    const ByteSpan key = it->key();
    if (key.size() != 12) {
      return Status::Corruption("state stale-index key is malformed; the store is damaged");
    }
    if (GetU64BigEndian(key) > through) break;
    const ByteSpan value = it->value();
    for (size_t at = 0; at < value.size();) {
      const size_t length = value[at];
      if (length == 0 || at + 1 + length > value.size()) {
        return Status::Corruption("state stale-index record is malformed; the store is damaged");
      }
      run.batch->Delete(KeyPrefix::kStateTree, value.subspan(at + 1, length));
      at += 1 + length;
    }
    run.batch->Delete(KeyPrefix::kStateStale, key);
    run.prune_cursor.assign(key.begin(), key.end());
    run.prune_cursor.push_back(0);  // the smallest key after this one
  }
  return it->status();
}

void StateTree::Commit() {
  AGORA_CHECK_MSG(staged_ != nullptr, "StateTree::Commit without a Stage");
  version_ = staged_->version;
  *root_ref_ = staged_->root;
  prune_cursor_ = std::move(staged_->prune_cursor);
  // Children were written before parents; inserting in that order leaves
  // the upper levels, which every later path crosses, the most recent.
  // Each shard takes its own nodes, the shards on the Stage's threads.
  std::array<std::vector<size_t>, kCacheShards> by_shard;
  for (size_t i = 0; i < staged_->new_nodes.size(); ++i) {
    by_shard[ShardOf(staged_->new_nodes[i].first)].push_back(i);
  }
  const bool parallel = options_.stage_threads > 1 &&
                        staged_->new_nodes.size() >= kParallelStageChangesMin;
  ParallelFor(parallel ? options_.stage_threads : 1, kCacheShards, [&](size_t shard) {
    for (size_t i : by_shard[shard]) {
      auto& [id, node] = staged_->new_nodes[i];
      CacheInsert(id, std::move(node));
    }
  });
  staged_.reset();
}

void StateTree::Abandon() { staged_.reset(); }

Result<Hash256> StateTree::RootAt(uint64_t version) {
  if (!version_ || version > *version_) {
    return Status::NotFound("state version " + std::to_string(version) + " is not committed");
  }
  if (version + options_.versions_kept <= *version_) {
    return Status::NotFound("state version " + std::to_string(version) +
                            " was pruned; only the last " + std::to_string(options_.versions_kept) +
                            " versions are kept");
  }
  if (version == *version_) return root_ref_->hash;
  AGORA_ASSIGN_OR_RETURN(ChildRef ref, ReadRootRef(version));
  return ref.hash;
}

Result<ProvenValue> StateTree::Prove(ByteSpan key, uint64_t version) {
  AGORA_RETURN_IF_ERROR(CheckKey(key));
  AGORA_RETURN_IF_ERROR(RootAt(version).status());
  ChildRef ref = *root_ref_;
  if (version != *version_) {
    AGORA_ASSIGN_OR_RETURN(ref, ReadRootRef(version));
  }
  const Hash256 key_hash = Blake2b256(key);
  ProvenValue out;
  for (size_t depth = 0; ref.kind == Kind::kNode; ++depth) {
    if (depth >= kNibblesMax) {
      return Status::Corruption("state tree is deeper than 64 nibbles; the store is damaged");
    }
    AGORA_ASSIGN_OR_RETURN(std::shared_ptr<const Node> node,
                           LoadNode(MakeNodeId(ref.version, key_hash, depth)));
    const Children children = Expand(*node);
    const unsigned n = Nibble(key_hash, depth);
    // Walk the node's four binary levels until the path ends at an empty
    // range, a lone leaf, or a child node.
    unsigned lo = 0;
    unsigned width = 16;
    while (true) {
      const uint16_t mask = RangeMask(lo, width);
      const uint16_t present = node->present_mask() & mask;
      if (present == 0) {
        ref = ChildRef{};
        break;
      }
      if (std::popcount(present) == 1 && (node->leaf_mask() & mask) != 0) {
        ref = children[std::countr_zero(present)];
        break;
      }
      if (width == 1) {
        ref = children[lo];
        break;
      }
      width /= 2;
      if (n < lo + width) {
        out.proof.siblings.push_back(
            HashRange(children, node->present_mask(), node->leaf_mask(), lo + width, width));
      } else {
        out.proof.siblings.push_back(
            HashRange(children, node->present_mask(), node->leaf_mask(), lo, width));
        lo += width;
      }
    }
  }
  if (ref.kind != Kind::kLeaf) return out;
  out.proof.leaf = ref.leaf;
  if (ref.leaf.key_hash != key_hash) return out;
  AGORA_ASSIGN_OR_RETURN(
      std::optional<Bytes> value,
      store_->Get(KeyPrefix::kStateTree, ValueKey(key_hash, ref.version).span()));
  if (!value) {
    return Status::Corruption("state value record of version " + std::to_string(ref.version) +
                              " is missing; the store is damaged");
  }
  out.value = std::move(value);
  return out;
}

// Proof bytes: flags (1: 0x00 no leaf, 0x01 leaf); the leaf's key hash and
// value hash when present; sibling count (u16 BE); a bitmap of
// ceil(count / 8) bytes, bit i (MSB first) set iff sibling i is not the
// empty hash; then the non-empty siblings in order.
Bytes StateProof::Encode() const {
  AGORA_CHECK(siblings.size() <= kStateTreeDepthBitsMax);
  Bytes out;
  out.push_back(leaf ? 0x01 : 0x00);
  if (leaf) {
    Append(out, leaf->key_hash.span());
    Append(out, leaf->value_hash.span());
  }
  out.push_back(static_cast<uint8_t>(siblings.size() >> 8));
  out.push_back(static_cast<uint8_t>(siblings.size()));
  const size_t bitmap_at = out.size();
  out.resize(out.size() + (siblings.size() + 7) / 8, 0);
  for (size_t i = 0; i < siblings.size(); ++i) {
    if (siblings[i].IsZero()) continue;
    out[bitmap_at + i / 8] |= static_cast<uint8_t>(0x80 >> (i % 8));
    Append(out, siblings[i].span());
  }
  return out;
}

Result<StateProof> StateProof::Decode(ByteSpan bytes) {
  auto bad = [](const std::string& why) { return Status::Corruption("state proof: " + why); };
  if (bytes.size() > kStateProofBytesMax) return bad("longer than the largest proof");
  if (bytes.empty()) return bad("empty");
  StateProof proof;
  size_t at = 1;
  if (bytes[0] > 0x01) return bad("unknown flags");
  if (bytes[0] == 0x01) {
    if (bytes.size() < at + 2 * Hash256::kSize) return bad("truncated leaf");
    proof.leaf = StateLeaf{Hash256::FromBytes(bytes.subspan(at, Hash256::kSize)),
                           Hash256::FromBytes(bytes.subspan(at + Hash256::kSize, Hash256::kSize))};
    at += 2 * Hash256::kSize;
  }
  if (bytes.size() < at + 2) return bad("truncated sibling count");
  const size_t count = static_cast<size_t>(bytes[at]) << 8 | bytes[at + 1];
  at += 2;
  if (count > kStateTreeDepthBitsMax) return bad("more siblings than the tree has levels");
  const size_t bitmap_bytes = (count + 7) / 8;
  if (bytes.size() < at + bitmap_bytes) return bad("truncated bitmap");
  const ByteSpan bitmap = bytes.subspan(at, bitmap_bytes);
  at += bitmap_bytes;
  if (count % 8 != 0 && (bitmap.back() & (0xff >> (count % 8))) != 0) {
    return bad("bitmap bits past the last sibling are set");
  }
  proof.siblings.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    if (!(bitmap[i / 8] & (0x80 >> (i % 8)))) {
      proof.siblings.emplace_back();
      continue;
    }
    if (bytes.size() < at + Hash256::kSize) return bad("truncated siblings");
    proof.siblings.push_back(Hash256::FromBytes(bytes.subspan(at, Hash256::kSize)));
    at += Hash256::kSize;
    // An empty sibling has one encoding: a clear bit.
    if (proof.siblings.back().IsZero()) return bad("empty sibling written out");
  }
  if (at != bytes.size()) return bad("trailing bytes");
  return proof;
}

Status VerifyStateProof(const Hash256& root, ByteSpan key, const std::optional<Bytes>& value,
                        const StateProof& proof) {
  AGORA_RETURN_IF_ERROR(CheckKey(key));
  if (value) AGORA_RETURN_IF_ERROR(CheckValue(*value));
  const size_t depth = proof.siblings.size();
  if (depth > kStateTreeDepthBitsMax) {
    return Status::Unauthenticated("state proof has more siblings than the tree has levels");
  }
  const Hash256 key_hash = Blake2b256(key);
  if (value) {
    if (!proof.leaf) return Status::Unauthenticated("state proof shows the key absent");
    if (proof.leaf->key_hash != key_hash) {
      return Status::Unauthenticated("state proof is for another key");
    }
    if (proof.leaf->value_hash != Blake2b256(*value)) {
      return Status::Unauthenticated("state proof is for another value");
    }
  } else if (proof.leaf) {
    if (proof.leaf->key_hash == key_hash) {
      return Status::Unauthenticated("state proof shows the key present");
    }
    // Another key's leaf proves absence only where the key's path would be.
    for (size_t i = 0; i < depth; ++i) {
      if (Bit(proof.leaf->key_hash, i) != Bit(key_hash, i)) {
        return Status::Unauthenticated("state proof's leaf is off the key's path");
      }
    }
  }
  Hash256 current = proof.leaf ? HashLeaf(*proof.leaf) : StateTree::EmptyRoot();
  for (size_t i = depth; i-- > 0;) {
    current = Bit(key_hash, i) ? HashNode(proof.siblings[i], current)
                               : HashNode(current, proof.siblings[i]);
  }
  if (current != root) return Status::Unauthenticated("state proof does not lead to the root");
  return Status::Ok();
}

}  // namespace agora
