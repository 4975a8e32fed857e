#include "node/storage/leveldb_store.h"

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>

#include <unistd.h>

#include <array>
#include <charconv>
#include <cstring>
#include <functional>
#include <optional>

#include "common/file_util.h"
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

// CRC-32C (Castagnoli), as LevelDB's log records carry it.
uint32_t Crc32c(uint32_t crc, const uint8_t* data, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

// Where a LevelDB write-ahead log stops being whole. The log is 32 KiB
// blocks of records: masked CRC-32C of type and data (4 bytes, little
// endian), data length (2), type (1: full, 2: first, 3: middle, 4: last
// fragment), data; a block's last < 7 bytes are zeros.
struct LogDamage {
  uint64_t first_bad = 0;        // offset of the first record that fails
  bool new_record_after = false;  // a whole record or a first fragment after it checks out
};
std::optional<LogDamage> FindLogDamage(const std::string& log) {
  constexpr size_t kBlock = 32768;
  constexpr size_t kHeader = 7;
  auto u8 = [&](size_t at) { return static_cast<uint8_t>(log[at]); };
  // The record at `at`: 0 when it checks out (type in *type, its size in
  // *size), 1 when it is damaged, 2 at the end of the file (a record cut
  // short there is what LevelDB reads as the end, not as damage).
  auto parse = [&](size_t at, uint8_t* type, size_t* size) -> int {
    const size_t left = kBlock - at % kBlock;
    if (at + kHeader > log.size()) return 2;
    const uint32_t masked = u8(at) | u8(at + 1) << 8 | u8(at + 2) << 16 | uint32_t{u8(at + 3)} << 24;
    const size_t length = u8(at + 4) | u8(at + 5) << 8;
    *type = u8(at + 6);
    if (at + kHeader + length > log.size()) return 2;
    if (kHeader + length > left || *type < 1 || *type > 4) return 1;
    const uint32_t rotated = masked - 0xa282ead8u;
    const uint32_t expected = (rotated >> 17) | (rotated << 15);
    const uint32_t actual =
        Crc32c(0, reinterpret_cast<const uint8_t*>(log.data()) + at + 6, length + 1);
    *size = kHeader + length;
    return actual == expected ? 0 : 1;
  };
  // Walks from `at` to the end; returns the first damaged offset, or
  // nullopt. `on_good` sees each record that checks out.
  auto walk = [&](size_t at, const std::function<void(uint8_t)>& on_good) -> std::optional<size_t> {
    while (at < log.size()) {
      const size_t left = kBlock - at % kBlock;
      if (left < kHeader) {
        at += left;
        continue;
      }
      // A record of type 0 and length 0, whatever its checksum, is padding
      // LevelDB skips with the rest of its block (as LevelDB's reader does).
      if (at + kHeader <= log.size() && u8(at + 4) == 0 && u8(at + 5) == 0 && u8(at + 6) == 0) {
        at += left;
        continue;
      }
      uint8_t type = 0;
      size_t size = 0;
      const int r = parse(at, &type, &size);
      if (r == 2) return std::nullopt;
      if (r == 1) return at;
      on_good(type);
      at += size;
    }
    return std::nullopt;
  };
  const std::optional<size_t> bad = walk(0, [](uint8_t) {});
  if (!bad) return std::nullopt;
  LogDamage damage{*bad, false};
  // A damaged record's length cannot be trusted: a later record in the same
  // block is looked for at every offset (its checksum makes a false find
  // unlikely). Only at recovery, so the cost does not matter.
  const size_t block_end = std::min(log.size(), (*bad / kBlock + 1) * kBlock);
  for (size_t at = *bad + 1; at + kHeader <= block_end && !damage.new_record_after; ++at) {
    uint8_t type = 0;
    size_t size = 0;
    damage.new_record_after = parse(at, &type, &size) == 0 && (type == 1 || type == 2);
  }
  // After damage LevelDB resumes at the next block. Fragments there may be
  // the rest of the damaged write (its pages reached the disk out of
  // order); a whole record or a first fragment is a later write.
  for (size_t block = (*bad / kBlock + 1) * kBlock;
       block < log.size() && !damage.new_record_after; block += kBlock) {
    walk(block, [&](uint8_t type) { damage.new_record_after |= type == 1 || type == 2; });
    if (damage.new_record_after) break;
  }
  return damage;
}

// A crash in the middle of a synced write can leave the newest log ending
// in a damaged record (and fragments of that same write after it). That
// tail was never synced: every write before it was (the node writes only
// synced, one at a time, and a sync covers all bytes written before it).
// Such a tail is cut off, so that LevelDB's paranoid recovery, which
// refuses any damaged record, opens the store. Damage followed by a later
// write is not a crash's doing: it is left for the open to refuse.
Status CutTornLogTail(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::path newest;
  uint64_t newest_number = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".log")) continue;
    uint64_t number = 0;
    const auto [end, err] = std::from_chars(name.data(), name.data() + name.size() - 4, number);
    if (err != std::errc() || end != name.data() + name.size() - 4) continue;
    if (newest.empty() || number > newest_number) {
      newest = entry.path();
      newest_number = number;
    }
  }
  if (ec || newest.empty()) return Status::Ok();
  Result<std::string> log = ReadFile(newest, uint64_t{1} << 32);
  if (!log.ok()) return log.status();
  const std::optional<LogDamage> damage = FindLogDamage(*log);
  if (!damage || damage->new_record_after) return Status::Ok();
  spdlog::warn("database '{}': the write-ahead log {} ends in a torn write at byte {} of {} (a "
               "crash during a write; never synced): cutting it off",
               dir.string(), newest.filename().string(), damage->first_bad, log->size());
  if (::truncate(newest.c_str(), static_cast<off_t>(damage->first_bad)) != 0) {
    return Status::IoError("cannot cut the torn end of " + newest.string() + ": " +
                           std::strerror(errno));
  }
  return Status::Ok();
}

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
    // write is torn, which a crash (power lost during a write) leaves
    // behind: the node then could not start at all (found in review,
    // 2026-12-03). Such a tail is cut off and the store opened again;
    // damage anywhere else still refuses.
    AGORA_RETURN_IF_ERROR(CutTornLogTail(dir));
    s = leveldb::DB::Open(db_options, dir.string(), &db);
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
  for (const WriteBatch::Op op : batch) {
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
