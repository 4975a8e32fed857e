// An ordered key-value store: the one storage interface below node/.
//
// The ledger, the chain and the consensus write-ahead record see storage only
// through KvStore, so the node can hand them LevelDB on disk
// (node/storage/leveldb_store.h) and the simulator an in-memory store
// (MemKvStore below) or one that injects faults.
//
// Keys are typed: every key starts with one KeyPrefix byte, so the families
// of keys never collide and each can be scanned in order on its own. All
// writes go through a WriteBatch, which is applied atomically: after a crash
// either every operation of a batch is visible or none is.
//
// Thread safety: implementations are safe for concurrent use; an iterator
// and a WriteBatch are not.
#ifndef AGORA_COMMON_KV_H_
#define AGORA_COMMON_KV_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace agora {

// The registry of key families. A value never changes meaning once used;
// add new ones at the end.
enum class KeyPrefix : uint8_t {
  kMeta = 0x01,           // store format version, chain id, genesis hash
  kBlock = 0x02,          // height (u64 big-endian) -> block
  kBlockByHash = 0x03,    // block hash -> height
  kTransaction = 0x04,    // tx hash -> (height, index)
  kState = 0x05,          // ledger state
  kConsensusWal = 0x06,   // last signed (height, round, step) and its record
  kStateTree = 0x07,      // state tree nodes, version roots, versioned values
  kStateStale = 0x08,     // state tree records each version replaced (pruning)
  kTest = 0x7f,           // reserved for tests
};

inline constexpr size_t kKeyBytesMax = 1024;
inline constexpr size_t kValueBytesMax = 64u << 20;

// Whether Write returns only after the data is on stable storage.
enum class Durability : uint8_t {
  kBuffered,  // survives a process crash, may be lost on power failure
  kSynced,    // fsync'd before returning; survives power failure
};

class WriteBatch {
 public:
  // One operation, as iteration yields it: views into the batch, valid
  // until the batch next changes.
  struct Op {
    bool is_delete;
    ByteSpan key;  // full key: prefix byte, then the suffix
    ByteSpan value;
  };

  // Walks the operations in the order they were added.
  class Iterator {
   public:
    Op operator*() const;
    Iterator& operator++();
    friend bool operator==(const Iterator& a, const Iterator& b) { return a.at_ == b.at_; }

   private:
    friend class WriteBatch;
    explicit Iterator(const uint8_t* at) : at_(at) {}
    const uint8_t* at_;
  };

  // REQUIRES: suffix.size() < kKeyBytesMax, value.size() <= kValueBytesMax
  void Put(KeyPrefix prefix, ByteSpan suffix, ByteSpan value);
  void Delete(KeyPrefix prefix, ByteSpan suffix);
  void Clear() {
    rep_.clear();
    count_ = 0;
    bytes_ = 0;
  }
  // Appends `other`'s operations after this batch's, in their order, and
  // leaves `other` empty. REQUIRES: &other != this
  void Append(WriteBatch&& other);

  Iterator begin() const { return Iterator(rep_.data()); }
  Iterator end() const { return Iterator(rep_.data() + rep_.size()); }
  size_t count() const { return count_; }
  // The keys' and values' bytes.
  size_t bytes() const { return bytes_; }

 private:
  // The operations packed in one buffer, so that a batch of many small
  // writes (a block's state tree nodes) costs no allocation per write:
  // repeated kind (1: 0 put, 1 delete), key length (u16), value length
  // (u32; puts only), key, value; lengths in host byte order. In memory only.
  Bytes rep_;
  size_t count_ = 0;
  size_t bytes_ = 0;
};

// Walks the keys of one prefix in ascending byte order.
class KvIterator {
 public:
  virtual ~KvIterator() = default;
  virtual bool Valid() const = 0;
  virtual void Next() = 0;
  // The key without its prefix byte. REQUIRES: Valid()
  virtual ByteSpan key() const = 0;
  virtual ByteSpan value() const = 0;
  // Non-OK if iteration stopped because of an error rather than the end.
  virtual Status status() const = 0;
};

class KvStore {
 public:
  virtual ~KvStore() = default;
  // Returns nullopt when the key is absent.
  virtual Result<std::optional<Bytes>> Get(KeyPrefix prefix, ByteSpan suffix) = 0;
  virtual Status Write(const WriteBatch& batch, Durability durability) = 0;
  // Iterates the keys of `prefix` that are >= `start`, in order. The iterator
  // sees a consistent snapshot taken when it was created.
  virtual std::unique_ptr<KvIterator> Scan(KeyPrefix prefix, ByteSpan start = {}) = 0;
};

Bytes MakeKey(KeyPrefix prefix, ByteSpan suffix);

// Keeps everything in memory, in order. For tests and the simulator.
//
// Scan is lazy: an iterator reads the map one row at a time, so a scan that
// stops early costs what it read, not the rest of the prefix. Its snapshot is
// kept by copy-on-write: before a Write changes the map, every open iterator
// copies the rows it has not reached yet. Iterators must be destroyed before
// the store (as with LevelDB).
class MemKvStore final : public KvStore {
 public:
  MemKvStore() = default;
  MemKvStore(const MemKvStore&) = delete;
  MemKvStore& operator=(const MemKvStore&) = delete;
  ~MemKvStore() override;

  Result<std::optional<Bytes>> Get(KeyPrefix prefix, ByteSpan suffix) override;
  Status Write(const WriteBatch& batch, Durability durability) override;
  std::unique_ptr<KvIterator> Scan(KeyPrefix prefix, ByteSpan start) override;

 private:
  class Iterator;

  std::mutex mu_;
  std::map<Bytes, Bytes> map_;        // guarded by mu_
  std::vector<Iterator*> iterators_;  // open and still reading map_; guarded by mu_
  size_t open_iterators_ = 0;         // every one not yet destroyed; guarded by mu_
};

}  // namespace agora

#endif  // AGORA_COMMON_KV_H_
