#include "node/storage/leveldb_store.h"

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>

#include "common/log.h"

namespace agora::node {
namespace {

leveldb::Slice ToSlice(ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

ByteSpan ToSpan(const leveldb::Slice& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Status FromLevelDb(const leveldb::Status& s, const std::filesystem::path& dir) {
  if (s.ok()) return Status::Ok();
  std::string message = "database '" + dir.string() + "': " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(message);
  if (s.IsCorruption()) {
    return Status::Corruption(message + "; the store is damaged: restore the node's data "
                                        "directory from a backup or resync it from peers");
  }
  if (s.IsInvalidArgument()) return Status::InvalidArgument(message);
  if (s.IsNotSupportedError()) return Status::FailedPrecondition(message);
  // LevelDB reports a held lock as an I/O error; name the likely cause.
  if (s.ToString().find("lock") != std::string::npos) {
    return Status::FailedPrecondition(message + "; is another agorad using this home?");
  }
  return Status::IoError(message);
}

class LevelDbIterator final : public KvIterator {
 public:
  LevelDbIterator(leveldb::DB* db, const leveldb::Snapshot* snapshot, KeyPrefix prefix,
                  ByteSpan start, std::filesystem::path dir)
      : db_(db), snapshot_(snapshot), prefix_(static_cast<uint8_t>(prefix)), dir_(std::move(dir)) {
    leveldb::ReadOptions options;
    options.snapshot = snapshot_;
    options.verify_checksums = true;
    options.fill_cache = false;  // scans should not evict the hot set
    it_.reset(db_->NewIterator(options));
    Bytes first = MakeKey(prefix, start);
    it_->Seek(ToSlice(first));
  }
  ~LevelDbIterator() override {
    it_.reset();  // before the snapshot it reads
    db_->ReleaseSnapshot(snapshot_);
  }

  bool Valid() const override {
    return it_->Valid() && !it_->key().empty() &&
           static_cast<uint8_t>(it_->key()[0]) == prefix_;
  }
  void Next() override {
    AGORA_CHECK(Valid());
    it_->Next();
  }
  ByteSpan key() const override {
    AGORA_CHECK(Valid());
    return ToSpan(it_->key()).subspan(1);
  }
  ByteSpan value() const override {
    AGORA_CHECK(Valid());
    return ToSpan(it_->value());
  }
  Status status() const override { return FromLevelDb(it_->status(), dir_); }

 private:
  leveldb::DB* db_;
  const leveldb::Snapshot* snapshot_;
  uint8_t prefix_;
  std::filesystem::path dir_;
  std::unique_ptr<leveldb::Iterator> it_;
};

}  // namespace

Result<std::unique_ptr<LevelDbStore>> LevelDbStore::Open(const std::filesystem::path& dir,
                                                         const Options& options) {
  std::unique_ptr<LevelDbStore> store(new LevelDbStore());
  store->dir_ = dir;
  store->cache_.reset(leveldb::NewLRUCache(options.block_cache_bytes));
  store->filter_.reset(leveldb::NewBloomFilterPolicy(10));
  leveldb::Options db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.paranoid_checks = true;
  db_options.block_cache = store->cache_.get();
  db_options.filter_policy = store->filter_.get();
  leveldb::DB* db = nullptr;
  leveldb::Status s = leveldb::DB::Open(db_options, dir.string(), &db);
  if (s.IsCorruption()) {
    // With paranoid checks, recovery refuses a write-ahead log whose last
    // record is torn, which a crash (power lost during a write) leaves
    // behind: the node then could not start at all (found in review,
    // 2026-12-03). Only the log's recovery is less strict without them (the
    // MANIFEST is checked either way), and nothing in a torn tail was
    // synced: a sync covers every byte written before it, so a record that
    // fails its checksum has no synced record after it. Recover without
    // them once (the log is then rewritten into a table and a fresh log),
    // then open again with them.
    leveldb::Options lenient = db_options;
    lenient.paranoid_checks = false;
    leveldb::Status recovered = leveldb::DB::Open(lenient, dir.string(), &db);
    if (recovered.ok()) {
      spdlog::warn("database '{}': {}; recovered without the damaged part of its write-ahead "
                   "log (writes a crash interrupted, never synced)",
                   dir.string(), s.ToString());
      delete db;
      db = nullptr;
      s = leveldb::DB::Open(db_options, dir.string(), &db);
    }
  }
  if (!s.ok()) {
    if (s.IsInvalidArgument() && !options.create_if_missing) {
      return Status::NotFound("no database at '" + dir.string() + "'; run `agora init` first");
    }
    return FromLevelDb(s, dir);
  }
  store->db_.reset(db);
  return store;
}

LevelDbStore::~LevelDbStore() = default;

Result<std::optional<Bytes>> LevelDbStore::Get(KeyPrefix prefix, ByteSpan suffix) {
  Bytes key = MakeKey(prefix, suffix);
  leveldb::ReadOptions options;
  options.verify_checksums = true;
  std::string value;
  leveldb::Status s = db_->Get(options, ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<Bytes>();
  AGORA_RETURN_IF_ERROR(FromLevelDb(s, dir_));
  return std::optional<Bytes>(Bytes(value.begin(), value.end()));
}

Status LevelDbStore::Write(const WriteBatch& batch, Durability durability) {
  leveldb::WriteBatch lbatch;
  for (const WriteBatch::Op& op : batch.ops()) {
    if (op.is_delete) {
      lbatch.Delete(ToSlice(op.key));
    } else {
      lbatch.Put(ToSlice(op.key), ToSlice(op.value));
    }
  }
  leveldb::WriteOptions options;
  options.sync = durability == Durability::kSynced;
  return FromLevelDb(db_->Write(options, &lbatch), dir_);
}

std::unique_ptr<KvIterator> LevelDbStore::Scan(KeyPrefix prefix, ByteSpan start) {
  return std::make_unique<LevelDbIterator>(db_.get(), db_->GetSnapshot(), prefix, start, dir_);
}

}  // namespace agora::node
