// The ledger's view of state while it executes a block: the committed
// values (read from the state tree's flat index) under the changes made so
// far. A Branch holds one transaction's changes so a failed message leaves
// nothing behind; Merge() keeps them.
//
// Keys are "<module>/<kind>/<bytes>" (docs/ledger.md lists them); values are
// the module's own fixed encodings. Reading committed state is a storage
// read: an I/O error there cannot be turned into a deterministic result, so
// it stops the node (AGORA_CHECK) and a restart recovers from the store.
//
// Thread safety: not thread-safe.
#ifndef AGORA_CONSENSUS_LEDGER_STATE_BUFFER_H_
#define AGORA_CONSENSUS_LEDGER_STATE_BUFFER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/kv.h"
#include "common/state_tree.h"

namespace agora::consensus {

using StateChanges = std::map<Bytes, std::optional<Bytes>>;

class StateReader {
 public:
  virtual ~StateReader() = default;
  virtual std::optional<Bytes> Get(ByteSpan key) = 0;
  // Every key starting with `prefix`, in key order, with its value; stops
  // after `limit` keys.
  std::map<Bytes, Bytes> ScanPrefix(ByteSpan prefix, size_t limit) {
    return ScanFrom(prefix, prefix, limit);
  }
  // As ScanPrefix, from the first key >= `start` (which starts with
  // `prefix` or sorts before every key that does).
  virtual std::map<Bytes, Bytes> ScanFrom(ByteSpan prefix, ByteSpan start, size_t limit) = 0;

  // Typed helpers: a missing key reads as 0.
  uint64_t GetU64(std::string_view key);
  std::optional<Bytes> Get(std::string_view key) { return Get(AsBytes(key)); }
};

// Committed state: the tree's flat values in the store.
class CommittedState final : public StateReader {
 public:
  CommittedState(KvStore* store, StateTree* tree) : store_(store), tree_(tree) {}
  using StateReader::Get;
  std::optional<Bytes> Get(ByteSpan key) override;
  std::map<Bytes, Bytes> ScanFrom(ByteSpan prefix, ByteSpan start, size_t limit) override;

 private:
  KvStore* store_;
  StateTree* tree_;
};

// Changes over a reader (committed state or another buffer).
class StateBuffer final : public StateReader {
 public:
  explicit StateBuffer(StateReader* base) : base_(base) {}
  using StateReader::Get;
  std::optional<Bytes> Get(ByteSpan key) override;
  std::map<Bytes, Bytes> ScanFrom(ByteSpan prefix, ByteSpan start, size_t limit) override;

  void Set(std::string_view key, ByteSpan value);
  void SetU64(std::string_view key, uint64_t value);
  void Delete(std::string_view key);

  // Writes this buffer's changes into `parent` (the reader it was made over).
  void MergeInto(StateBuffer* parent) const;
  const StateChanges& changes() const { return changes_; }
  void Clear() { changes_.clear(); }

 private:
  StateReader* base_;
  StateChanges changes_;
};

// Big-endian fixed-width integers, the encoding of every number in state.
Bytes U64Bytes(uint64_t v);
uint64_t ReadU64(ByteSpan b, size_t offset);

// State keys: a prefix followed by fixed-width parts, numbers big-endian so
// that keys sort in numeric order ("gov/q/voting/" + height + id).
std::string WithBytes(std::string prefix, ByteSpan b);
std::string WithU64(std::string prefix, uint64_t v);
std::string WithU32(std::string prefix, uint32_t v);

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_LEDGER_STATE_BUFFER_H_
