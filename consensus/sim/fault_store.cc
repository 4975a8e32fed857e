#include "consensus/sim/fault_store.h"

#include "common/check.h"

namespace agora::consensus::sim {
namespace {

KeyPrefix PrefixOf(const Bytes& key) { return static_cast<KeyPrefix>(key.at(0)); }
ByteSpan SuffixOf(const Bytes& key) { return ByteSpan(key).subspan(1); }

}  // namespace

Result<std::optional<Bytes>> FaultKvStore::Get(KeyPrefix prefix, ByteSpan suffix) {
  return live_.Get(prefix, suffix);
}

Status FaultKvStore::Write(const WriteBatch& batch, Durability durability) {
  if (durability == Durability::kSynced) {
    // The sync flushes the whole log: earlier buffered writes are durable now.
    undo_.clear();
    return live_.Write(batch, durability);
  }
  for (const WriteBatch::Op op : batch) {
    Bytes key(op.key.begin(), op.key.end());
    AGORA_ASSIGN_OR_RETURN(std::optional<Bytes> previous,
                           live_.Get(PrefixOf(key), SuffixOf(key)));
    undo_.emplace_back(std::move(key), std::move(previous));
  }
  return live_.Write(batch, durability);
}

std::unique_ptr<KvIterator> FaultKvStore::Scan(KeyPrefix prefix, ByteSpan start) {
  return live_.Scan(prefix, start);
}

uint64_t FaultKvStore::Crash() {
  const uint64_t lost = undo_.size();
  // Newest first, so a key written twice ends at its value before the first.
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
    WriteBatch batch;
    if (it->second) {
      batch.Put(PrefixOf(it->first), SuffixOf(it->first), *it->second);
    } else {
      batch.Delete(PrefixOf(it->first), SuffixOf(it->first));
    }
    Status s = live_.Write(batch, Durability::kSynced);
    AGORA_CHECK_MSG(s.ok(), "the in-memory store refused a write: " + s.message());
  }
  undo_.clear();
  writes_lost_ += lost;
  return lost;
}

}  // namespace agora::consensus::sim
