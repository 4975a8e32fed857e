// The KvStore contract, checked on both implementations (LevelDB on disk and
// the in-memory store), plus what only a disk store can show: durability
// across reopen, atomic batches across a kill -9, lock and corruption errors.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <tuple>
#include <thread>

#include "common/kv.h"
#include "node/storage/leveldb_store.h"
#include "tests/test_util.h"

extern char** environ;

namespace agora::node {
namespace {

using testing::TempDir;

Bytes U64Key(uint64_t v) {
  Bytes b;
  PutU64BigEndian(b, v);
  return b;
}

struct StoreFactory {
  std::string name;
  std::function<std::unique_ptr<KvStore>(const std::filesystem::path&)> open;
};

void PrintTo(const StoreFactory& factory, std::ostream* os) { *os << factory.name; }

class KvContractTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override { store_ = GetParam().open(dir_.path() / "db"); }
  TempDir dir_;
  std::unique_ptr<KvStore> store_;
};

TEST_P(KvContractTest, PutGetDelete) {
  WriteBatch batch;
  batch.Put(KeyPrefix::kTest, AsBytes("a"), AsBytes("1"));
  batch.Put(KeyPrefix::kState, AsBytes("a"), AsBytes("2"));  // same suffix, other family
  ASSERT_TRUE(store_->Write(batch, Durability::kSynced).ok());
  EXPECT_EQ(ToString(**store_->Get(KeyPrefix::kTest, AsBytes("a"))), "1");
  EXPECT_EQ(ToString(**store_->Get(KeyPrefix::kState, AsBytes("a"))), "2");
  EXPECT_FALSE(store_->Get(KeyPrefix::kTest, AsBytes("b"))->has_value());

  WriteBatch del;
  del.Delete(KeyPrefix::kTest, AsBytes("a"));
  ASSERT_TRUE(store_->Write(del, Durability::kBuffered).ok());
  EXPECT_FALSE(store_->Get(KeyPrefix::kTest, AsBytes("a"))->has_value());
  EXPECT_TRUE(store_->Get(KeyPrefix::kState, AsBytes("a"))->has_value());
}

TEST_P(KvContractTest, LaterOperationsInABatchWin) {
  WriteBatch batch;
  batch.Put(KeyPrefix::kTest, AsBytes("k"), AsBytes("first"));
  batch.Put(KeyPrefix::kTest, AsBytes("k"), AsBytes("second"));
  batch.Put(KeyPrefix::kTest, AsBytes("gone"), AsBytes("x"));
  batch.Delete(KeyPrefix::kTest, AsBytes("gone"));
  ASSERT_TRUE(store_->Write(batch, Durability::kBuffered).ok());
  EXPECT_EQ(ToString(**store_->Get(KeyPrefix::kTest, AsBytes("k"))), "second");
  EXPECT_FALSE(store_->Get(KeyPrefix::kTest, AsBytes("gone"))->has_value());
}

// Batches built apart (a parallel state tree Stage builds one per subtree)
// and appended apply as one batch in the appended order; empty values and
// the largest key survive the packing.
TEST_P(KvContractTest, AppendedBatchesApplyInOrder) {
  WriteBatch first, second, third;
  first.Put(KeyPrefix::kTest, AsBytes("k"), AsBytes("first"));
  first.Put(KeyPrefix::kTest, AsBytes("gone"), AsBytes("x"));
  second.Delete(KeyPrefix::kTest, AsBytes("gone"));
  second.Put(KeyPrefix::kTest, AsBytes("k"), AsBytes("second"));
  second.Put(KeyPrefix::kTest, AsBytes("empty"), {});
  const Bytes big_key(kKeyBytesMax - 1, 0xab);
  third.Put(KeyPrefix::kTest, big_key, AsBytes("big"));
  first.Append(std::move(second));
  first.Append(WriteBatch());
  first.Append(std::move(third));
  EXPECT_EQ(second.count(), 0u);
  EXPECT_EQ(first.count(), 6u);
  EXPECT_EQ(first.bytes(), (1 + 1 + 5) + (1 + 4 + 1) + (1 + 4) + (1 + 1 + 6) + (1 + 5) +
                               (1 + big_key.size() + 3));
  ASSERT_TRUE(store_->Write(first, Durability::kSynced).ok());
  EXPECT_EQ(ToString(**store_->Get(KeyPrefix::kTest, AsBytes("k"))), "second");
  EXPECT_FALSE(store_->Get(KeyPrefix::kTest, AsBytes("gone"))->has_value());
  EXPECT_EQ(**store_->Get(KeyPrefix::kTest, AsBytes("empty")), Bytes{});
  EXPECT_EQ(ToString(**store_->Get(KeyPrefix::kTest, big_key)), "big");
}

TEST_P(KvContractTest, ScanIsOrderedAndStaysInItsPrefix) {
  const uint64_t seed = agora::testing::TestSeed(11);
  SCOPED_TRACE(agora::testing::ReproduceLine(seed));
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> heights;
  WriteBatch batch;
  for (int i = 0; i < 300; ++i) {
    uint64_t h = rng() % 100000;
    heights.push_back(h);
    batch.Put(KeyPrefix::kBlock, U64Key(h), U64Key(h * 2));
  }
  batch.Put(KeyPrefix::kMeta, AsBytes("before"), AsBytes("x"));
  batch.Put(KeyPrefix::kBlockByHash, AsBytes("after"), AsBytes("x"));
  ASSERT_TRUE(store_->Write(batch, Durability::kBuffered).ok());
  std::sort(heights.begin(), heights.end());
  heights.erase(std::unique(heights.begin(), heights.end()), heights.end());

  std::vector<uint64_t> seen;
  for (auto it = store_->Scan(KeyPrefix::kBlock); it->Valid(); it->Next()) {
    uint64_t h = GetU64BigEndian(it->key());
    EXPECT_EQ(GetU64BigEndian(it->value()), h * 2);
    seen.push_back(h);
  }
  EXPECT_EQ(seen, heights);

  // From a start key: the first key >= start.
  uint64_t start = heights[heights.size() / 2] + 1;
  auto it = store_->Scan(KeyPrefix::kBlock, U64Key(start));
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(GetU64BigEndian(it->key()),
            *std::lower_bound(heights.begin(), heights.end(), start));
  EXPECT_TRUE(it->status().ok());
}

TEST_P(KvContractTest, ScanSeesASnapshot) {
  WriteBatch batch;
  for (uint64_t i = 0; i < 10; ++i) batch.Put(KeyPrefix::kTest, U64Key(i), AsBytes("v"));
  ASSERT_TRUE(store_->Write(batch, Durability::kBuffered).ok());
  auto it = store_->Scan(KeyPrefix::kTest);
  WriteBatch more;
  for (uint64_t i = 10; i < 20; ++i) more.Put(KeyPrefix::kTest, U64Key(i), AsBytes("v"));
  more.Delete(KeyPrefix::kTest, U64Key(5));
  ASSERT_TRUE(store_->Write(more, Durability::kBuffered).ok());
  int count = 0;
  for (; it->Valid(); it->Next()) ++count;
  EXPECT_EQ(count, 10);
}

// A scan keeps its snapshot when the store changes halfway through it: rows
// it has passed, the one it stands on and the ones ahead (changed, deleted,
// added) all read as they were; a second scan opened after the change sees
// the new rows; a scan ends at its own family; a scan dropped early leaves
// the store usable.
TEST_P(KvContractTest, ScanKeepsItsSnapshotAcrossWritesMidway) {
  WriteBatch batch;
  for (uint64_t i = 0; i < 10; ++i) {
    batch.Put(KeyPrefix::kTest, U64Key(i), AsBytes("old" + std::to_string(i)));
  }
  batch.Put(KeyPrefix::kState, U64Key(0), AsBytes("next family"));
  ASSERT_TRUE(store_->Write(batch, Durability::kBuffered).ok());
  auto early = store_->Scan(KeyPrefix::kTest, U64Key(8));  // dropped before the end
  auto it = store_->Scan(KeyPrefix::kTest, U64Key(2));
  std::vector<std::string> seen;
  for (int i = 0; i < 3; ++i, it->Next()) {
    ASSERT_TRUE(it->Valid());
    seen.push_back(ToString(it->value()));
  }
  ASSERT_EQ(GetU64BigEndian(it->key()), 5u);
  early.reset();
  WriteBatch change;
  change.Put(KeyPrefix::kTest, U64Key(5), AsBytes("new5"));    // the current row
  change.Put(KeyPrefix::kTest, U64Key(7), AsBytes("new7"));    // ahead
  change.Delete(KeyPrefix::kTest, U64Key(8));                  // ahead
  change.Put(KeyPrefix::kTest, U64Key(6), AsBytes("old6"));    // the same value again
  change.Put(KeyPrefix::kTest, U64Key(20), AsBytes("added"));  // ahead, new
  change.Delete(KeyPrefix::kTest, U64Key(3));                  // passed
  ASSERT_TRUE(store_->Write(change, Durability::kBuffered).ok());
  auto after = store_->Scan(KeyPrefix::kTest, U64Key(5));
  for (; it->Valid(); it->Next()) seen.push_back(ToString(it->value()));
  EXPECT_TRUE(it->status().ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"old2", "old3", "old4", "old5", "old6", "old7", "old8",
                                            "old9"}));
  std::vector<std::string> now;
  for (; after->Valid(); after->Next()) now.push_back(ToString(after->value()));
  EXPECT_EQ(now, (std::vector<std::string>{"new5", "old6", "new7", "old9", "added"}));
}

// A scan reads the in-memory store lazily and takes its lock even once a
// write has made it copy its rows: one that outlives the store is a bug,
// caught when the store goes, not a read of freed memory later.
TEST(WriteBatchTest, IteratesEveryOperationInOrder) {
  WriteBatch batch;
  EXPECT_TRUE(batch.begin() == batch.end());
  batch.Put(KeyPrefix::kState, AsBytes("a"), AsBytes("1"));
  batch.Delete(KeyPrefix::kBlock, AsBytes("bb"));
  batch.Put(KeyPrefix::kTest, AsBytes("c"), {});
  std::vector<std::tuple<bool, Bytes, Bytes>> seen;
  for (const WriteBatch::Op op : batch) {
    seen.emplace_back(op.is_delete, Bytes(op.key.begin(), op.key.end()),
                      Bytes(op.value.begin(), op.value.end()));
  }
  const std::vector<std::tuple<bool, Bytes, Bytes>> expected{
      {false, MakeKey(KeyPrefix::kState, AsBytes("a")), ToBytes("1")},
      {true, MakeKey(KeyPrefix::kBlock, AsBytes("bb")), Bytes{}},
      {false, MakeKey(KeyPrefix::kTest, AsBytes("c")), Bytes{}},
  };
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(batch.count(), 3u);
  EXPECT_EQ(batch.bytes(), 3u + 3u + 2u);
  batch.Clear();
  EXPECT_EQ(batch.count(), 0u);
  EXPECT_EQ(batch.bytes(), 0u);
  EXPECT_TRUE(batch.begin() == batch.end());
}

TEST(WriteBatchDeathTest, AppendingABatchToItselfIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  WriteBatch batch;
  batch.Put(KeyPrefix::kTest, AsBytes("a"), AsBytes("1"));
  EXPECT_DEATH(batch.Append(std::move(batch)), "to itself");
}

TEST(MemKvStoreTest, AScanOutlivingItsStoreIsCaught) {
  EXPECT_DEATH(
      {
        auto store = std::make_unique<MemKvStore>();
        WriteBatch batch;
        batch.Put(KeyPrefix::kTest, U64Key(1), AsBytes("v"));
        batch.Put(KeyPrefix::kTest, U64Key(2), AsBytes("v"));
        AGORA_CHECK(store->Write(batch, Durability::kBuffered).ok());
        auto it = store->Scan(KeyPrefix::kTest, {});
        AGORA_CHECK(store->Write(batch, Durability::kBuffered).ok());  // detaches it
        store.reset();
      },
      "outlived its store");
}

std::unique_ptr<KvStore> OpenLevelDb(const std::filesystem::path& dir) {
  auto store = LevelDbStore::Open(dir);
  AGORA_CHECK_MSG(store.ok(), store.status().ToString());
  return std::move(store).value();
}

INSTANTIATE_TEST_SUITE_P(
    Stores, KvContractTest,
    ::testing::Values(
        StoreFactory{"leveldb", OpenLevelDb},
        StoreFactory{"memory",
                     [](const std::filesystem::path&) -> std::unique_ptr<KvStore> {
                       return std::make_unique<MemKvStore>();
                     }}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(LevelDbStoreTest, BatchSurvivesCloseAndReopenWhole) {
  TempDir dir;
  {
    auto store = OpenLevelDb(dir.path());
    WriteBatch batch;
    for (uint64_t i = 0; i < 1000; ++i) batch.Put(KeyPrefix::kState, U64Key(i), U64Key(i + 1));
    ASSERT_TRUE(store->Write(batch, Durability::kSynced).ok());
    WriteBatch second;
    for (uint64_t i = 0; i < 1000; i += 2) second.Delete(KeyPrefix::kState, U64Key(i));
    second.Put(KeyPrefix::kMeta, AsBytes("applied"), AsBytes("2"));
    ASSERT_TRUE(store->Write(second, Durability::kSynced).ok());
  }
  auto store = OpenLevelDb(dir.path());
  EXPECT_EQ(ToString(**store->Get(KeyPrefix::kMeta, AsBytes("applied"))), "2");
  uint64_t expected = 1;
  for (auto it = store->Scan(KeyPrefix::kState); it->Valid(); it->Next()) {
    EXPECT_EQ(GetU64BigEndian(it->key()), expected);
    EXPECT_EQ(GetU64BigEndian(it->value()), expected + 1);
    expected += 2;
  }
  EXPECT_EQ(expected, 1001u);
}

// A writer process applies batches in a loop and is killed with SIGKILL at
// a random moment. Every batch must then be visible whole or not at all.
TEST(LevelDbStoreTest, BatchesAreAtomicAcrossKill9) {
  TempDir dir;
  // The kill delays come from the seed: a fresh one each run unless
  // AGORA_TEST_SEED names one (the reproduce line).
  const uint64_t seed = agora::testing::TestSeed(std::random_device()());
  std::mt19937_64 rng(seed);
  SCOPED_TRACE(agora::testing::ReproduceLine(seed));
  constexpr uint64_t kKeysPerBatch = 64;
  for (int round = 0; round < 3; ++round) {
    std::filesystem::remove(dir.path() / "ready");
    pid_t pid = 0;
    std::string writer = AGORA_KV_CRASH_WRITER_PATH;
    std::string db = (dir.path() / "db").string();
    std::string ready = (dir.path() / "ready").string();
    char* argv[] = {writer.data(), db.data(), ready.data(), nullptr};
    ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv, environ), 0);
    for (int i = 0; i < 1000 && !std::filesystem::exists(dir.path() / "ready"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(std::filesystem::exists(dir.path() / "ready")) << "writer never got going";
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 200));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "writer exited before it was killed";

    auto store = OpenLevelDb(dir.path() / "db");
    auto counter = store->Get(KeyPrefix::kMeta, AsBytes("last_batch"));
    ASSERT_TRUE(counter.ok() && counter->has_value());
    uint64_t last = GetU64BigEndian(**counter);
    // Count the keys of each batch: full for batches <= last, absent after.
    std::map<uint64_t, uint64_t> keys_per_batch;
    for (auto it = store->Scan(KeyPrefix::kTest); it->Valid(); it->Next()) {
      keys_per_batch[GetU64BigEndian(it->key())]++;
      EXPECT_EQ(GetU64BigEndian(it->value()), GetU64BigEndian(it->key()));
    }
    EXPECT_GT(last, 10u);
    for (const auto& [batch, count] : keys_per_batch) {
      EXPECT_LE(batch, last) << "batch " << batch << " visible but counter says " << last;
      EXPECT_EQ(count, kKeysPerBatch) << "batch " << batch << " is torn";
    }
    EXPECT_EQ(keys_per_batch.size(), last + 1);
  }
}

// A crash in the middle of a write leaves the write-ahead log ending in a
// record that fails its checksum. The store still opens, with every write
// synced before it and without the torn one (before 2026-12-03 paranoid
// checks refused the whole store, and the node could not start).
TEST(LevelDbStoreTest, ATornLastLogRecordIsDroppedAndTheStoreOpens) {
  TempDir dir;
  auto log_file = [&] {
    std::filesystem::path log;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      if (e.path().extension() == ".log") log = e.path();
    }
    return log;
  };
  uint64_t synced_end = 0;
  {
    auto store = OpenLevelDb(dir.path());
    WriteBatch first;
    for (uint64_t i = 0; i < 100; ++i) first.Put(KeyPrefix::kTest, U64Key(i), U64Key(i));
    ASSERT_TRUE(store->Write(first, Durability::kSynced).ok());
    ASSERT_FALSE(log_file().empty());
    synced_end = std::filesystem::file_size(log_file());
    WriteBatch torn;
    for (uint64_t i = 100; i < 1000; ++i) torn.Put(KeyPrefix::kTest, U64Key(i), U64Key(i));
    torn.Put(KeyPrefix::kMeta, AsBytes("torn"), AsBytes("yes"));
    ASSERT_TRUE(store->Write(torn, Durability::kSynced).ok());
  }
  // The second record's bytes, as a crash before its pages reached the disk
  // would leave them.
  const std::filesystem::path log = log_file();
  ASSERT_GT(std::filesystem::file_size(log), synced_end + 4096);
  {
    std::fstream f(log, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(synced_end + 1000));
    const std::string zeros(2048, '\0');
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  auto store = LevelDbStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  KvStore* kv = store->get();
  EXPECT_FALSE(kv->Get(KeyPrefix::kMeta, AsBytes("torn")).value().has_value());
  uint64_t count = 0;
  for (auto it = kv->Scan(KeyPrefix::kTest); it->Valid(); it->Next()) {
    EXPECT_EQ(GetU64BigEndian(it->key()), count);
    ++count;
  }
  EXPECT_EQ(count, 100u) << "the synced write is whole, the torn one gone";
  // And it goes on: a write after the recovery survives a reopen.
  WriteBatch after;
  after.Put(KeyPrefix::kMeta, AsBytes("after"), AsBytes("1"));
  ASSERT_TRUE(kv->Write(after, Durability::kSynced).ok());
  store->reset();
  auto again = OpenLevelDb(dir.path());
  EXPECT_TRUE(again->Get(KeyPrefix::kMeta, AsBytes("after")).value().has_value());
}

// Damage with a later write after it is no crash's doing (a crash tears
// only the write in flight): the store is refused, not cut short, so that
// no synced write is lost without a word.
TEST(LevelDbStoreTest, DamageInTheMiddleOfTheLogIsRefused) {
  TempDir dir;
  uint64_t first_end = 0;
  std::filesystem::path log;
  {
    auto store = OpenLevelDb(dir.path());
    for (uint64_t b = 0; b < 3; ++b) {
      WriteBatch batch;
      for (uint64_t i = 0; i < 20; ++i) batch.Put(KeyPrefix::kTest, U64Key(b * 100 + i), U64Key(i));
      ASSERT_TRUE(store->Write(batch, Durability::kSynced).ok());
      for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        if (e.path().extension() == ".log") log = e.path();
      }
      if (b == 0) first_end = std::filesystem::file_size(log);
    }
  }
  {
    std::fstream f(log, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(first_end + 20));  // inside the second write
    const std::string junk(16, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  const uint64_t size = std::filesystem::file_size(log);
  auto store = LevelDbStore::Open(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kCorruption) << store.status().ToString();
  EXPECT_EQ(std::filesystem::file_size(log), size) << "nothing was cut";
}

TEST(LevelDbStoreTest, SecondOpenOfAHomeIsRefused) {
  TempDir dir;
  auto first = OpenLevelDb(dir.path());
  auto second = LevelDbStore::Open(dir.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("another agorad"), std::string::npos);
}

TEST(LevelDbStoreTest, MissingDatabaseIsNotFound) {
  TempDir dir;
  LevelDbStore::Options options;
  options.create_if_missing = false;
  auto store = LevelDbStore::Open(dir.path() / "nothing", options);
  EXPECT_EQ(store.status().code(), StatusCode::kNotFound);
}

TEST(LevelDbStoreTest, DamagedTableIsCorruption) {
  TempDir dir;
  const std::string value(1000, 'v');
  {
    auto store = OpenLevelDb(dir.path());
    WriteBatch batch;
    for (uint64_t i = 0; i < 2000; ++i) batch.Put(KeyPrefix::kTest, U64Key(i), AsBytes(value));
    ASSERT_TRUE(store->Write(batch, Durability::kSynced).ok());
  }
  OpenLevelDb(dir.path()).reset();  // reopening moves the log into a table file
  std::filesystem::path table;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    if (e.path().extension() == ".ldb") table = e.path();
  }
  ASSERT_FALSE(table.empty()) << "no table file to damage";
  {
    std::fstream f(table, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(table) / 3));
    std::string junk(4096, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto store = LevelDbStore::Open(dir.path());
  if (!store.ok()) {
    EXPECT_EQ(store.status().code(), StatusCode::kCorruption);
    return;
  }
  bool saw_corruption = false;
  for (uint64_t i = 0; i < 2000 && !saw_corruption; ++i) {
    auto got = (*store)->Get(KeyPrefix::kTest, U64Key(i));
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), StatusCode::kCorruption);
      EXPECT_NE(got.status().message().find("resync"), std::string::npos);
      saw_corruption = true;
    }
  }
  EXPECT_TRUE(saw_corruption);
}

}  // namespace
}  // namespace agora::node
