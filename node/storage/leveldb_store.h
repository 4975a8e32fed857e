// KvStore on LevelDB: the node's blocks, ledger state and consensus record on
// disk.
//
// Batches map onto leveldb::WriteBatch, which LevelDB applies atomically
// through its log; Durability::kSynced maps onto WriteOptions::sync. Every
// LevelDB error becomes a Status whose message says what to do.
//
// Thread safety: safe for concurrent use (LevelDB's own guarantee). One
// process at a time may open a directory; a second gets FailedPrecondition.
#ifndef AGORA_NODE_STORAGE_LEVELDB_STORE_H_
#define AGORA_NODE_STORAGE_LEVELDB_STORE_H_

#include <filesystem>
#include <memory>

#include "common/kv.h"

namespace leveldb {
class DB;
class Cache;
class FilterPolicy;
}  // namespace leveldb

namespace agora::node {

class LevelDbStore final : public KvStore {
 public:
  struct Options {
    bool create_if_missing = true;
    size_t block_cache_bytes = 64u << 20;
  };

  static Result<std::unique_ptr<LevelDbStore>> Open(const std::filesystem::path& dir,
                                                    const Options& options);
  static Result<std::unique_ptr<LevelDbStore>> Open(const std::filesystem::path& dir) {
    return Open(dir, Options());
  }
  ~LevelDbStore() override;

  Result<std::optional<Bytes>> Get(KeyPrefix prefix, ByteSpan suffix) override;
  Status Write(const WriteBatch& batch, Durability durability) override;
  std::unique_ptr<KvIterator> Scan(KeyPrefix prefix, ByteSpan start) override;

 private:
  LevelDbStore() = default;

  std::filesystem::path dir_;
  std::unique_ptr<leveldb::Cache> cache_;
  std::unique_ptr<const leveldb::FilterPolicy> filter_;
  std::unique_ptr<leveldb::DB> db_;  // destroyed first: it uses cache_ and filter_
};

}  // namespace agora::node

#endif  // AGORA_NODE_STORAGE_LEVELDB_STORE_H_
