// A KvStore that loses, on a simulated power failure, what a real disk could
// lose: every write made with Durability::kBuffered since the last write made
// with Durability::kSynced. A synced write makes every earlier write durable
// too (LevelDB's semantics within one log file: the sync flushes all of it),
// so only the buffered tail after the last sync is lost. Across a log switch
// LevelDB is weaker (a full memtable starts a new log without syncing the
// old one), which this store does not model: the node syncs every write it
// depends on rather than count on an earlier one's sync.
//
// It keeps an undo record (the previous value of each key) for buffered
// writes only, so code that syncs every write pays nothing for it.
//
// Thread safety: not thread-safe; the simulator drives one store per node
// from its one thread.
#ifndef AGORA_CONSENSUS_SIM_FAULT_STORE_H_
#define AGORA_CONSENSUS_SIM_FAULT_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "common/kv.h"

namespace agora::consensus::sim {

class FaultKvStore final : public KvStore {
 public:
  Result<std::optional<Bytes>> Get(KeyPrefix prefix, ByteSpan suffix) override;
  Status Write(const WriteBatch& batch, Durability durability) override;
  std::unique_ptr<KvIterator> Scan(KeyPrefix prefix, ByteSpan start) override;

  // The machine lost power: every buffered write since the last synced one
  // is undone. Returns how many key writes were lost.
  uint64_t Crash();

  // Key writes made with kBuffered and not yet made durable by a sync.
  size_t unsynced_writes() const { return undo_.size(); }
  uint64_t writes_lost() const { return writes_lost_; }

 private:
  MemKvStore live_;
  // Full key -> its value before a buffered write (nullopt: absent), oldest
  // first; cleared by every synced write.
  std::vector<std::pair<Bytes, std::optional<Bytes>>> undo_;
  uint64_t writes_lost_ = 0;
};

}  // namespace agora::consensus::sim

#endif  // AGORA_CONSENSUS_SIM_FAULT_STORE_H_
