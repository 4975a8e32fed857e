// Tests of the blob store (files on disk under a temporary directory), the
// blob endpoints of a real RPC server on 127.0.0.1:0 and the fetcher, which
// talks to such servers and to raw sockets that hang, break off or lie.
// GCC 12 with -fsanitize=address reports a false -Wmaybe-uninitialized in
// Beast's HTTP response parser (see rpc_test.cc).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "common/file_util.h"
#include "common/hash.h"
#include "common/merkle.h"
#include "market/pricing.h"
#include "node/blob_gc.h"
#include "node/rpc/blob_fetch.h"
#include "node/rpc/byte_range.h"
#include "node/rpc/server.h"
#include "node/storage/blob_store.h"
#include "tests/consensus/market_harness.h"
#include "tests/test_util.h"
#include "trainer/checkpoint.h"
#include "trainer/train_state.h"

namespace agora::node {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using rpc::ByteRange;
using storage::BlobStore;
using storage::BlobStoreOptions;
using namespace std::chrono_literals;

Bytes Pattern(size_t n, uint8_t salt) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>((i * 131 + salt) ^ (i >> 8));
  return out;
}

std::unique_ptr<BlobStore> OpenStore(const fs::path& dir, BlobStoreOptions options = {}) {
  auto store = BlobStore::Open(dir, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

// ---------------------------------------------------------------- the store

TEST(BlobStoreTest, StoresUnderTheHashOfTheBytesAndReadsBack) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  const Bytes data = Pattern(100'000, 1);
  auto hash = store->Put(data);
  ASSERT_TRUE(hash.ok()) << hash.status().ToString();
  EXPECT_EQ(*hash, Blake2b256(data));
  EXPECT_TRUE(store->Has(*hash));
  EXPECT_EQ(*store->Size(*hash), data.size());
  EXPECT_EQ(*store->Read(*hash, data.size()), data);
  auto part = store->ReadRange(*hash, 99'990, 10);
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(*part, Bytes(data.begin() + 99'990, data.end()));
  EXPECT_EQ(store->ReadRange(*hash, 99'995, 10).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(store->Read(*hash, data.size() - 1).status().code(), StatusCode::kResourceExhausted);
  // The file is where the layout says, with exactly the bytes.
  EXPECT_EQ(ReadFile(dir.path() / hash->ToHex().substr(0, 2) / hash->ToHex(), 1 << 20).value(),
            std::string(data.begin(), data.end()));
  // Storing it again changes nothing.
  ASSERT_TRUE(store->Put(data).ok());
  EXPECT_EQ(store->used_bytes(), data.size());
  EXPECT_EQ(store->blob_count(), 1u);
  EXPECT_EQ(store->Size(Blake2b256("absent")).status().code(), StatusCode::kNotFound);
}

TEST(BlobStoreTest, LimitsRefuseWithoutKeepingAnything) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path(), {.blob_bytes_max = 1000, .quota_bytes = 2500});
  auto too_big = store->Put(Pattern(1001, 2));
  EXPECT_EQ(too_big.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(too_big.status().message().find("blob_bytes_max"), std::string::npos);
  ASSERT_TRUE(store->Put(Pattern(1000, 3)).ok());
  ASSERT_TRUE(store->Put(Pattern(1000, 4)).ok());
  auto full = store->Put(Pattern(600, 5));
  EXPECT_EQ(full.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(full.status().message().find("agora blob gc"), std::string::npos);
  EXPECT_EQ(store->used_bytes(), 2000u);
  EXPECT_EQ(store->blob_count(), 2u);
  EXPECT_TRUE(fs::is_empty(dir.path() / "tmp"));
  EXPECT_TRUE(store->Put(Pattern(500, 6)).ok());  // what fits still goes in
  EXPECT_EQ(BlobStore::Open(dir.path(), {.blob_bytes_max = 10, .quota_bytes = 5}).status().code(),
            StatusCode::kInvalidArgument);
}

// Room held for writes in progress counts against the quota until it is
// given back or the write is installed, and an installed write is not
// counted twice.
TEST(BlobStoreTest, ReservedRoomCountsUntilGivenBackOrInstalled) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path(), {.blob_bytes_max = 1000, .quota_bytes = 2500});
  Result<BlobStore::Reservation> a = store->Reserve(1000);
  ASSERT_TRUE(a.ok());
  Result<BlobStore::Reservation> b = store->Reserve(1000);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(store->reserved_bytes(), 2000u);
  Result<BlobStore::Reservation> c = store->Reserve(600);
  EXPECT_EQ(c.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(c.status().message().find("held for uploads in progress"), std::string::npos)
      << c.status().message();
  EXPECT_EQ(store->Put(Pattern(600, 1)).status().code(), StatusCode::kResourceExhausted);
  b->Release();
  EXPECT_EQ(store->reserved_bytes(), 1000u);
  // A write of 1000 bytes installed with its reservation: counted once.
  const Bytes data = Pattern(1000, 2);
  const fs::path temp = store->NewTempPath();
  agora::testing::WriteTextFile(temp, std::string(data.begin(), data.end()));
  Result<Hash256> adopted = store->Adopt(temp, std::nullopt, &*a);
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  EXPECT_EQ(a->bytes(), 0u) << "handed over";
  EXPECT_EQ(store->reserved_bytes(), 0u);
  EXPECT_EQ(store->used_bytes(), 1000u);
  EXPECT_TRUE(store->Reserve(1000).ok());
  EXPECT_EQ(store->reserved_bytes(), 0u) << "given back when destroyed";
  EXPECT_EQ(store->reserved_bytes(), 0u);
}

// A disk that fills up fails a write part of the way through a blob. The
// file-size limit fails it the same way (EFBIG instead of ENOSPC) without
// the privileges that mounting a small filesystem needs: a clear error,
// nothing left under tmp/ or counted, and the store takes the next blob once
// there is room again.
TEST(BlobStoreTest, AWriteThatFailsMidwayLeavesNothingAndTheStoreGoesOn) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path(), {.blob_bytes_max = 1 << 20, .quota_bytes = 4 << 20});
  ASSERT_TRUE(store->Put(Pattern(1000, 1)).ok());
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < (1 << 20)) {
    GTEST_SKIP() << "the file-size limit is already below 1 MiB";
  }
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 64 << 10;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  const Bytes big = Pattern(200 << 10, 2);
  auto failed = store->Put(big);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(failed.status().code(), StatusCode::kIoError) << failed.status().ToString();
  EXPECT_NE(failed.status().message().find("cannot write"), std::string::npos)
      << failed.status().ToString();
  EXPECT_TRUE(fs::is_empty(dir.path() / "tmp"));
  EXPECT_FALSE(store->Has(Blake2b256(big)));
  EXPECT_EQ(store->used_bytes(), 1000u);
  EXPECT_EQ(store->blob_count(), 1u);
  auto later = store->Put(big);
  ASSERT_TRUE(later.ok()) << later.status().ToString();
  EXPECT_EQ(*later, Blake2b256(big));
  EXPECT_EQ(store->used_bytes(), 1000u + (200u << 10));
}

TEST(BlobStoreTest, AdoptRefusesAFileThatIsNotWhatItIsNamed) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  const fs::path temp = store->NewTempPath();
  testing::WriteTextFile(temp, "not the blob you asked for");
  auto adopted = store->Adopt(temp, Blake2b256("the blob you asked for"));
  EXPECT_EQ(adopted.status().code(), StatusCode::kCorruption);
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(store->blob_count(), 0u);
  // Named rightly, it goes in.
  const fs::path again = store->NewTempPath();
  testing::WriteTextFile(again, "the blob you asked for");
  EXPECT_EQ(*store->Adopt(again, Blake2b256("the blob you asked for")),
            Blake2b256("the blob you asked for"));
}

TEST(BlobStoreTest, ReopenIndexesBlobsAndDropsUnfinishedWrites) {
  testing::TempDir dir;
  Hash256 kept;
  {
    auto store = OpenStore(dir.path());
    kept = *store->Put(Pattern(4096, 7));
    // A write the process died in the middle of, and a stray file.
    testing::WriteTextFile(store->NewTempPath(), "half a blo");
    fs::create_directories(dir.path() / "ab");
    testing::WriteTextFile(dir.path() / "ab" / "README", "not a blob");
  }
  auto store = OpenStore(dir.path());
  EXPECT_TRUE(store->Has(kept));
  EXPECT_EQ(store->blob_count(), 1u);
  EXPECT_EQ(store->used_bytes(), 4096u);
  EXPECT_TRUE(fs::is_empty(dir.path() / "tmp"));
}

TEST(BlobStoreTest, VerifyRemovesABlobDamagedOnDisk) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  const Hash256 hash = *store->Put(Pattern(5000, 8));
  EXPECT_TRUE(store->Verify(hash).ok());
  Bytes damaged = Pattern(5000, 8);
  damaged[77] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(store->PathOf(hash), damaged, 0644).ok());
  const Status verified = store->Verify(hash);
  EXPECT_EQ(verified.code(), StatusCode::kCorruption);
  EXPECT_FALSE(store->Has(hash));
  EXPECT_FALSE(fs::exists(store->PathOf(hash)));
  EXPECT_EQ(store->used_bytes(), 0u);
}

TEST(BlobStoreTest, CollectRemovesOnlyWhatNothingNeedsAfterTheGracePeriod) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  const Hash256 live = *store->Put(Pattern(100, 9));
  const Hash256 dead = *store->Put(Pattern(200, 10));
  testing::WriteTextFile(store->PartialPath(Blake2b256("abandoned")), "partial");
  storage::BlobLive is_live;
  is_live.blob = [&](const Hash256& h) { return h == live; };
  is_live.manifest = [](const Hash256&) { return false; };
  // Within the grace period nothing goes: the dead blob may be a dataset
  // uploaded for a job about to be posted.
  storage::BlobGcReport young = store->Collect(is_live, 3600s);
  EXPECT_EQ(young.removed_blobs, 0u);
  EXPECT_EQ(young.kept_blobs, 2u);
  EXPECT_EQ(young.removed_partials, 0u);
  storage::BlobGcReport old = store->Collect(is_live, 0s);
  EXPECT_EQ(old.removed_blobs, 1u);
  EXPECT_EQ(old.removed_bytes, 200u);
  EXPECT_EQ(old.kept_bytes, 100u);
  EXPECT_EQ(old.removed_partials, 1u);
  EXPECT_TRUE(store->Has(live));
  EXPECT_FALSE(store->Has(dead));
  EXPECT_FALSE(fs::exists(store->PathOf(dead)));
  EXPECT_EQ(store->used_bytes(), 100u);
}

// Manifests go like blobs (live, or younger than the grace period, stay) and
// give their bytes back to the quota; model notes go once older than the
// keep period, whatever `live` says, and never with a keep period of zero.
TEST(BlobStoreTest, CollectRemovesDeadManifestsAndOldModelNotes) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  std::vector<Hash256> live_list, dead_list;
  for (int i = 0; i < 3; ++i) live_list.push_back(*store->Put(Pattern(50 + i, 20 + i)));
  for (int i = 0; i < 5; ++i) dead_list.push_back(*store->Put(Pattern(60 + i, 30 + i)));
  const Hash256 live_root = merkle::Root(live_list);
  const Hash256 dead_root = merkle::Root(dead_list);
  ASSERT_TRUE(store->PutManifest(live_root, live_list).ok());
  ASSERT_TRUE(store->PutManifest(dead_root, dead_list).ok());
  const uint64_t with_manifests = store->used_bytes();
  ASSERT_TRUE(store->SetModel(7, live_list[0]).ok());
  ASSERT_TRUE(store->SetModel(8, live_list[1]).ok());
  // Note 7 was written two hours ago, note 8 just now.
  const fs::path note7 = dir.path() / "models" / "7";
  fs::last_write_time(note7, fs::last_write_time(note7) - 2h);

  storage::BlobLive keep;
  keep.blob = [](const Hash256&) { return true; };
  keep.manifest = [&](const Hash256& root) { return root == live_root; };
  storage::BlobGcReport young = store->Collect(keep, 3600s);  // model_keep 0: forever
  EXPECT_EQ(young.removed_manifests, 0u);
  EXPECT_EQ(young.kept_manifests, 2u);
  EXPECT_EQ(young.removed_models, 0u);
  EXPECT_TRUE(store->GetModel(7).ok());

  keep.model_keep = 3600s;
  storage::BlobGcReport old = store->Collect(keep, 0s);
  EXPECT_EQ(old.removed_manifests, 1u);
  EXPECT_EQ(old.kept_manifests, 1u);
  EXPECT_EQ(old.removed_models, 1u);
  EXPECT_EQ(old.removed_blobs, 0u);
  EXPECT_TRUE(store->GetManifest(live_root).ok());
  EXPECT_EQ(store->GetManifest(dead_root).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->used_bytes(), with_manifests - dead_list.size() * Hash256::kSize);
  EXPECT_EQ(store->GetModel(7).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*store->GetModel(8), live_list[1]);

  // The quota counts what is left after a restart the same way.
  store.reset();
  store = OpenStore(dir.path());
  EXPECT_EQ(store->used_bytes(), with_manifests - dead_list.size() * Hash256::kSize);
}

// A blob or manifest stored again counts as new: a collection beside the
// put that found it present does not take it for unused.
TEST(BlobStoreTest, StoringAgainProtectsAnOldBlobOrManifest) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  const Hash256 blob = *store->Put(Pattern(300, 11));
  const std::vector<Hash256> list = {blob};
  const Hash256 root = merkle::Root(list);
  ASSERT_TRUE(store->PutManifest(root, list).ok());
  const fs::path manifest = dir.path() / "manifests" / root.ToHex();
  auto age = [&] {
    for (const fs::path& p : {store->PathOf(blob), manifest}) {
      fs::last_write_time(p, fs::file_time_type::clock::now() - 2h);
    }
  };
  storage::BlobLive dead;
  dead.blob = [](const Hash256&) { return false; };
  dead.manifest = [](const Hash256&) { return false; };
  age();
  ASSERT_TRUE(store->Put(Pattern(300, 11)).ok());
  ASSERT_TRUE(store->PutManifest(root, list).ok());
  storage::BlobGcReport kept = store->Collect(dead, 3600s);
  EXPECT_EQ(kept.kept_blobs, 1u);
  EXPECT_EQ(kept.kept_manifests, 1u);
  age();
  storage::BlobGcReport removed = store->Collect(dead, 3600s);
  EXPECT_EQ(removed.removed_blobs, 1u);
  EXPECT_EQ(removed.removed_manifests, 1u);
  EXPECT_EQ(store->used_bytes(), 0u);
}

// What gc keeps follows a task through the ledger: while it is being
// checked, its manifest and every checkpoint listed; once it has passed, what
// its open job still needs (its delta, the rounds' starts, the dataset); once
// the job has ended, nothing.
TEST(BlobGcTest, ATaskBeingCheckedKeepsItsManifestAndCheckpoints) {
  namespace ct = consensus::testing;
  using consensus::marketplace::TaskStatus;
  ct::Market m;
  m.Provider(1, /*ask=*/1000);
  const market::JobSpec spec = ct::TinySpec(/*rounds=*/2, /*workers=*/1);
  const uint64_t job = m.Post(4, spec, 10 * market::TaskWorkWu(spec) * 1500, 1500);
  ASSERT_EQ(job, 1u);
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  auto live = [&] { return LiveBlobs(m.h().ledger().committed(), *store, 100); };

  auto commit = [&](uint32_t round) {
    std::vector<Hash256> checkpoints = {ct::StartHash(job, round, 0)};
    for (uint32_t i = 1; i <= spec.inner_steps / spec.checkpoint_interval; ++i) {
      checkpoints.push_back(Blake2b256("checkpoint " + std::to_string(round) + " " +
                                       std::to_string(i)));
    }
    const Hash256 root = merkle::Root(checkpoints);
    EXPECT_TRUE(store->PutManifest(root, checkpoints).ok());
    const Hash256 delta = Blake2b256("delta " + std::to_string(round));
    const consensus::TxResult r =
        m.Send(1, consensus::MsgCommitTask{job, round, 0, root, delta,
                                           std::vector<uint32_t>(spec.inner_steps, 0x40000000u),
                                           merkle::Prove(checkpoints, 0).siblings});
    EXPECT_EQ(r.code, consensus::TxCode::kOk) << r.log;
    return std::make_tuple(checkpoints, root, delta);
  };

  const auto [checkpoints0, root0, delta0] = commit(0);
  const ct::TaskId task0{job, 0, 0};
  ASSERT_EQ(m.Task(task0).status, TaskStatus::kCommitted);
  LiveBlobSet checked = live();
  EXPECT_EQ(checked.manifests, std::set<Hash256>{root0});
  std::set<Hash256> expected(checkpoints0.begin(), checkpoints0.end());
  expected.insert(delta0);
  expected.insert(spec.dataset_hash);
  EXPECT_EQ(checked.blobs, expected);
  EXPECT_FALSE(checked.keep_all_blobs);

  // Passed: the checkpoints go, but for checkpoint 0, which is round 0's
  // recorded start; round 1's start is kept.
  m.Verdict(task0, true);
  ASSERT_EQ(m.Task(task0).status, TaskStatus::kPassed);
  LiveBlobSet passed = live();
  EXPECT_TRUE(passed.manifests.empty());
  EXPECT_EQ(passed.blobs, (std::set<Hash256>{spec.dataset_hash, ct::StartHash(job, 0, 0),
                                             ct::StartHash(job, 1, 0), delta0}));

  // The last round passes and the job ends: nothing is live.
  const auto [checkpoints1, root1, delta1] = commit(1);
  EXPECT_EQ(live().manifests, std::set<Hash256>{root1});
  m.Verdict(ct::TaskId{job, 1, 0}, true);
  ASSERT_NE(m.Job(job).ended_height, 0u);
  LiveBlobSet ended = live();
  EXPECT_TRUE(ended.manifests.empty());
  EXPECT_TRUE(ended.blobs.empty());
}

TEST(BlobStoreTest, ACheckpointIsStoredUnderItsCommittedHash) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  trainer::TrainConfig config;
  config.model = {.vocab = 256, .context = 16, .layers = 2, .heads = 2, .width = 16};
  config.batch = 2;
  config.optimizer.warmup_steps = 2;
  config.optimizer.total_steps = 20;
  const trainer::TrainState state = trainer::TrainState::Fresh(config, Blake2b256("corpus"));
  auto hash = store->Put(trainer::SerializeCheckpoint(state));
  ASSERT_TRUE(hash.ok()) << hash.status().ToString();
  EXPECT_EQ(*hash, trainer::CheckpointHash(state));
  auto loaded = trainer::ParseCheckpoint(*store->Read(*hash, 1 << 30));
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->hash, *hash);

  // The provider's way: file and identity from one pass, stored as given.
  trainer::TrainState next = state;
  next.step = 1;
  Hash256 identity;
  const Bytes file = trainer::SerializeCheckpoint(next, &identity);
  ASSERT_TRUE(store->PutHashed(file, identity).ok());
  EXPECT_EQ(*store->Size(identity), file.size());
  EXPECT_TRUE(store->Verify(identity).ok());  // the bytes hash to their name
  EXPECT_EQ(store->used_bytes(), 2 * file.size());
  ASSERT_TRUE(store->PutHashed(file, identity).ok());  // again: a no-op
  EXPECT_EQ(store->blob_count(), 2u);
  EXPECT_EQ(store->used_bytes(), 2 * file.size());
}

// ------------------------------------------------------------------- ranges

TEST(ByteRangeTest, ParsesTheSingleRangeForms) {
  using K = ByteRange::Kind;
  auto check = [](std::string_view header, uint64_t size, K kind, uint64_t offset,
                  uint64_t length) {
    const ByteRange r = rpc::ParseByteRange(header, size);
    EXPECT_EQ(r.kind, kind) << header;
    EXPECT_EQ(r.offset, offset) << header;
    EXPECT_EQ(r.length, length) << header;
  };
  check("bytes=0-9", 100, K::kPart, 0, 10);
  check("bytes=90-", 100, K::kPart, 90, 10);
  check("bytes=90-1000", 100, K::kPart, 90, 10);  // the end is cut to the last byte
  check("bytes=-5", 100, K::kPart, 95, 5);
  check("bytes=-500", 100, K::kPart, 0, 100);
  check("bytes=100-", 100, K::kUnsatisfiable, 0, 0);
  check("bytes=-0", 100, K::kUnsatisfiable, 0, 0);
  check("bytes=0-", 0, K::kUnsatisfiable, 0, 0);
  // Ignored: the whole resource.
  check("bytes=0-1,5-6", 100, K::kWhole, 0, 100);
  check("bytes=9-1", 100, K::kWhole, 0, 100);
  check("bytes=a-b", 100, K::kWhole, 0, 100);
  check("bytes=+1-2", 100, K::kWhole, 0, 100);
  check("items=0-1", 100, K::kWhole, 0, 100);
  check("bytes=99999999999999999999-", 100, K::kWhole, 0, 100);
}

// ------------------------------------------------------- the HTTP endpoints

// A real RPC server serving one blob store, on its own thread.
class BlobServer {
 public:
  explicit BlobServer(const fs::path& dir, BlobStoreOptions options = {}, bool uploads = true,
                      rpc::RpcConfig config = {})
      : store_(OpenStore(dir, options)) {
    config.port = 0;
    server_ = std::make_unique<rpc::RpcServer>(io_, config);
    server_->SetBlobStore(store_.get(), uploads);
    const Status started = server_->Start();
    EXPECT_TRUE(started.ok()) << started.ToString();
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
    thread_ = std::thread([this] { io_.run(); });
  }
  ~BlobServer() {
    std::promise<void> stopped;
    asio::post(io_, [&] {
      server_->Stop();
      stopped.set_value();
    });
    stopped.get_future().wait();
    work_.reset();
    thread_.join();
  }
  BlobStore& store() { return *store_; }
  const std::string& url() const { return url_; }
  uint16_t port() const { return server_->port(); }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<BlobStore> store_;
  std::unique_ptr<rpc::RpcServer> server_;
  std::string url_;
  std::thread thread_;
};

struct Reply {
  unsigned status = 0;
  std::string body;
  std::string content_range;
  std::string content_length;
};

Reply Request(uint16_t port, http::verb verb, const std::string& target, std::string body = {},
              std::string range = {}) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  http::request<http::string_body> request{verb, target, 11};
  request.set(http::field::host, "127.0.0.1");
  if (!range.empty()) request.set(http::field::range, range);
  if (verb == http::verb::post) request.set(http::field::content_type, "application/octet-stream");
  request.body() = std::move(body);
  request.keep_alive(false);
  request.prepare_payload();
  http::write(socket, request);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  if (verb == http::verb::head) parser.skip(true);
  beast::error_code ec;
  http::read(socket, buffer, parser, ec);
  EXPECT_FALSE(ec) << ec.message();
  const auto& response = parser.get();
  Reply reply;
  reply.status = response.result_int();
  reply.body = response.body();
  if (auto f = response.find(http::field::content_range); f != response.end()) {
    reply.content_range = std::string(f->value());
  }
  if (auto f = response.find(http::field::content_length); f != response.end()) {
    reply.content_length = std::string(f->value());
  }
  return reply;
}

std::string AsString(const Bytes& b) { return std::string(b.begin(), b.end()); }

TEST(BlobHttpTest, ServesWholeBlobsRangesAndSizes) {
  testing::TempDir dir;
  BlobServer server(dir.path());
  const Bytes data = Pattern(300'000, 11);  // several 64 KiB chunks
  const Hash256 hash = *server.store().Put(data);
  const std::string target = "/blob/" + hash.ToHex();

  Reply whole = Request(server.port(), http::verb::get, target);
  EXPECT_EQ(whole.status, 200u);
  EXPECT_EQ(whole.body, AsString(data));

  Reply part = Request(server.port(), http::verb::get, target, {}, "bytes=70000-70009");
  EXPECT_EQ(part.status, 206u);
  EXPECT_EQ(part.body, AsString(data).substr(70000, 10));
  EXPECT_EQ(part.content_range, "bytes 70000-70009/300000");

  Reply tail = Request(server.port(), http::verb::get, target, {}, "bytes=-3");
  EXPECT_EQ(tail.status, 206u);
  EXPECT_EQ(tail.body, AsString(data).substr(299'997));

  Reply past = Request(server.port(), http::verb::get, target, {}, "bytes=300000-");
  EXPECT_EQ(past.status, 416u);
  EXPECT_EQ(past.content_range, "bytes */300000");

  Reply head = Request(server.port(), http::verb::head, target);
  EXPECT_EQ(head.status, 200u);
  EXPECT_EQ(head.content_length, "300000");
  EXPECT_TRUE(head.body.empty());

  Reply absent = Request(server.port(), http::verb::get, "/blob/" + Blake2b256("x").ToHex());
  EXPECT_EQ(absent.status, 404u);
  EXPECT_NE(absent.body.find("agora blob put"), std::string::npos);
  EXPECT_EQ(Request(server.port(), http::verb::get, "/blob/xyz").status, 400u);
  EXPECT_EQ(Request(server.port(), http::verb::delete_, target).status, 405u);
}

TEST(BlobHttpTest, UploadsAreHashedCheckedAndBounded) {
  testing::TempDir dir;
  // Past the RPC body limit (1 MiB): uploads have their own.
  BlobServer server(dir.path(), {.blob_bytes_max = 2'000'000, .quota_bytes = 3'000'000});
  const Bytes data = Pattern(1'500'000, 12);
  Reply stored = Request(server.port(), http::verb::post, "/blob", AsString(data));
  ASSERT_EQ(stored.status, 200u) << stored.body;
  const boost::json::value answer = boost::json::parse(stored.body);
  EXPECT_EQ(answer.at("hash").as_string(), Blake2b256(data).ToHex());
  EXPECT_EQ(answer.at("size").as_int64(), 1'500'000);
  EXPECT_EQ(*server.store().Read(Blake2b256(data), 1 << 21), data);

  // Named wrongly: refused, nothing kept.
  const Bytes other = Pattern(1000, 13);
  Reply misnamed = Request(server.port(), http::verb::post,
                           "/blob?hash=" + Blake2b256("something else").ToHex(), AsString(other));
  EXPECT_EQ(misnamed.status, 400u);
  EXPECT_FALSE(server.store().Has(Blake2b256(other)));
  EXPECT_EQ(Request(server.port(), http::verb::post, "/blob?hash=12", AsString(other)).status,
            400u);
  // Named rightly: kept.
  EXPECT_EQ(Request(server.port(), http::verb::post, "/blob?hash=" + Blake2b256(other).ToHex(),
                    AsString(other))
                .status,
            200u);
  // Over the per-blob limit (refused from Content-Length) and over the quota.
  EXPECT_EQ(
      Request(server.port(), http::verb::post, "/blob", AsString(Pattern(2'000'001, 14))).status,
      413u);
  EXPECT_EQ(
      Request(server.port(), http::verb::post, "/blob", AsString(Pattern(1'600'000, 15))).status,
      507u);
  EXPECT_EQ(server.store().blob_count(), 2u);
  EXPECT_EQ(server.store().used_bytes(), 1'501'000u);
  EXPECT_EQ(Request(server.port(), http::verb::put, "/blob", AsString(other)).status, 405u);
  // The RPC keeps its own, smaller body limit.
  EXPECT_EQ(Request(server.port(), http::verb::post, "/rpc", std::string(1'100'000, ' ')).status,
            413u);
  EXPECT_TRUE(fs::is_empty(dir.path() / "tmp"));
}

// Found in review (2026-12-03): a finished upload was hashed on the node's
// loop, which also runs consensus, so a 4 GiB blob held block production
// for seconds. It is hashed on the server's own thread now: with the hash
// held, the loop still answers another client.
TEST(BlobHttpTest, TheLoopKeepsServingWhileAnUploadIsHashed) {
  testing::TempDir dir;
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  rpc::RpcConfig config;
  config.before_upload_hashed = [&entered, released] {
    entered.set_value();
    released.wait();
  };
  BlobServer server(dir.path(), {}, /*uploads=*/true, config);
  const Hash256 held = *server.store().Put(Pattern(1000, 22));
  const Bytes data = Pattern(300'000, 21);
  std::future<Reply> upload = std::async(std::launch::async, [&] {
    return Request(server.port(), http::verb::post, "/blob", AsString(data));
  });
  // Failure bounds, not measures: each waits for a condition.
  ASSERT_EQ(entered.get_future().wait_for(120s), std::future_status::ready)
      << "the upload never reached its hash";
  std::future<Reply> get = std::async(std::launch::async, [&] {
    return Request(server.port(), http::verb::get, "/blob/" + held.ToHex());
  });
  const bool answered = get.wait_for(120s) == std::future_status::ready;
  release.set_value();  // whatever happened, let the hash go on
  EXPECT_TRUE(answered) << "the loop did not answer while an upload was being hashed";
  const Reply got = get.get();
  EXPECT_EQ(got.status, 200u);
  EXPECT_EQ(got.body, AsString(Pattern(1000, 22)));
  const Reply stored = upload.get();
  ASSERT_EQ(stored.status, 200u) << stored.body;
  EXPECT_EQ(boost::json::parse(stored.body).at("hash").as_string(), Blake2b256(data).ToHex());
  EXPECT_TRUE(server.store().Has(Blake2b256(data)));
}

// Waits (at most `bound`, a failure bound, not a measure) for the server to
// close `socket`; true when it did. Whatever arrives first is read and
// dropped.
bool ClosedByServer(tcp::socket& socket, std::chrono::seconds bound) {
  socket.non_blocking(false);
  const int fd = socket.native_handle();
  timeval tv{static_cast<time_t>(bound.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::array<char, 1 << 16> sink;
  for (;;) {
    const ssize_t n = ::recv(fd, sink.data(), sink.size(), 0);
    if (n == 0) return true;  // EOF: the server closed it
    if (n < 0) return errno == ECONNRESET;
  }
}

// Found in review (2026-12-03): an upload's deadline came from the size it
// announced (or the store's limit, 4 GiB, when chunked) at the minimum
// rate, about an hour; 256 silent clients held every connection slot that
// long. The deadline now follows the bytes that arrived.
TEST(BlobHttpTest, AStalledUploadIsCutOffWhateverSizeItAnnounced) {
  testing::TempDir dir;
  rpc::RpcConfig config;
  config.request_timeout = std::chrono::milliseconds(300);
  BlobServer server(dir.path(), {}, /*uploads=*/true, config);
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), server.port()});
  const std::string head =
      "POST /blob HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
      "Content-Length: 4000000000\r\n\r\n0123456789";
  asio::write(socket, asio::buffer(head));
  EXPECT_TRUE(ClosedByServer(socket, std::chrono::seconds(60)))
      << "a silent upload of a 4 GB announced blob was still open after 60 s";
}

// Found in review (2026-12-03): each upload checked the quota alone at its
// start, so uploads in progress together could write far past it under
// tmp/ before any was installed. An upload now holds its announced length
// (or blob_bytes_max, announcing none) until it ends.
TEST(BlobHttpTest, AnUploadInProgressHoldsItsRoomUnderTheQuota) {
  testing::TempDir dir;
  BlobServer server(dir.path(), {.blob_bytes_max = 2'000'000, .quota_bytes = 3'000'000});
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), server.port()});
  const std::string head =
      "POST /blob HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
      "Content-Length: 1600000\r\n\r\n0123456789";
  asio::write(socket, asio::buffer(head));
  const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (server.store().reserved_bytes() == 0 && std::chrono::steady_clock::now() < bound) {
    std::this_thread::yield();
  }
  ASSERT_EQ(server.store().reserved_bytes(), 1'600'000u);
  // 1.6 MB more would fit the quota alone, not beside the upload's room.
  const Reply second =
      Request(server.port(), http::verb::post, "/blob", AsString(Pattern(1'600'000, 21)));
  EXPECT_EQ(second.status, 507u) << second.body;
  EXPECT_NE(second.body.find("held for uploads in progress"), std::string::npos) << second.body;
  EXPECT_EQ(Request(server.port(), http::verb::post, "/blob", AsString(Pattern(1'000'000, 22)))
                .status,
            200u)
      << "what fits beside it still goes in";
  // The first client leaves: its room comes back.
  socket.close();
  while (server.store().reserved_bytes() != 0 && std::chrono::steady_clock::now() < bound) {
    std::this_thread::yield();
  }
  EXPECT_EQ(server.store().reserved_bytes(), 0u);
  EXPECT_EQ(Request(server.port(), http::verb::post, "/blob", AsString(Pattern(1'600'000, 23)))
                .status,
            200u);
  EXPECT_EQ(server.store().used_bytes(), 2'600'000u);
}

// The server's count of open RPC connections, read from GET /metrics (the
// connection that asks counts itself).
int OpenConnections(uint16_t port) {
  const Reply r = Request(port, http::verb::get, "/metrics");
  const std::string key = "\nagora_rpc_connections ";
  const size_t at = r.body.find(key);
  if (at == std::string::npos) return -1;
  return std::stoi(r.body.substr(at + key.size()));
}

// The same for downloads: a client that asks for a large blob and reads
// nothing is cut off once it falls behind the minimum rate, not after the
// blob's whole allowance (here 128 s at 1 MiB/s).
TEST(BlobHttpTest, AStalledDownloadIsCutOff) {
  testing::TempDir dir;
  rpc::RpcConfig config;
  config.write_timeout = std::chrono::milliseconds(300);
  BlobServer server(dir.path(), {}, /*uploads=*/true, config);
  const Bytes big(128u << 20, 0x5a);
  Result<Hash256> hash = server.store().Put(big);
  ASSERT_TRUE(hash.ok()) << hash.status().ToString();
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), server.port()});
  const std::string request = "GET /blob/" + hash->ToHex() +
                              " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  asio::write(socket, asio::buffer(request));
  // This client reads nothing. The server holds it (1 of the 2 connections
  // counted while /metrics is asked) until it gives up; the wait is bounded
  // only so that a regression fails instead of hanging.
  ASSERT_EQ(OpenConnections(server.port()), 2);
  const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int open = 2;
  while ((open = OpenConnections(server.port())) != 1 && std::chrono::steady_clock::now() < bound) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling a condition
  }
  EXPECT_EQ(open, 1) << "a client reading nothing still held its download after 60 s";
}

TEST(BlobHttpTest, UploadsCanBeTurnedOff) {
  testing::TempDir dir;
  BlobServer server(dir.path(), {}, /*uploads=*/false);
  Reply refused = Request(server.port(), http::verb::post, "/blob", "data");
  EXPECT_EQ(refused.status, 403u);
  EXPECT_NE(refused.body.find("uploads = false"), std::string::npos);
  EXPECT_EQ(server.store().blob_count(), 0u);
}

// A manifest published on another node (POST /manifest/<root>) is kept
// only if its hashes make the root it is posted under, and is then served
// and fetched like one the node made itself.
TEST(BlobHttpTest, ManifestsArePublishedOnlyUnderTheirOwnRoot) {
  testing::TempDir dir;
  BlobServer server(dir.path());
  std::vector<Hash256> hashes;
  for (const char* c : {"c0", "c1", "c2"}) hashes.push_back(*server.store().Put(AsBytes(c)));
  const Hash256 root = merkle::Root(hashes);
  // Only beside its blobs: one the node lacks makes it refuse (409).
  std::vector<Hash256> unheld = hashes;
  unheld.push_back(Blake2b256(AsBytes("never stored")));
  const Status missing = rpc::UploadManifest(server.url(), unheld);
  EXPECT_NE(missing.message().find("HTTP 409"), std::string::npos) << missing.message();
  EXPECT_NE(missing.message().find("upload the checkpoints first"), std::string::npos);
  const uint64_t used = server.store().used_bytes();
  ASSERT_TRUE(rpc::UploadManifest(server.url(), hashes).ok());
  EXPECT_EQ(server.store().used_bytes(), used + hashes.size() * Hash256::kSize)
      << "manifests count against the quota";
  ASSERT_TRUE(rpc::UploadManifest(server.url(), hashes).ok()) << "the same one again";
  EXPECT_EQ(server.store().used_bytes(), used + hashes.size() * Hash256::kSize);
  EXPECT_EQ(rpc::FetchManifest(root, {server.url()}).value(), hashes);
  // Under another root: refused, nothing kept.
  const Hash256 other = Blake2b256(AsBytes("not the root"));
  Reply wrong = Request(server.port(), http::verb::post, "/manifest/" + other.ToHex(),
                        AsString(storage::EncodeManifest(hashes)));
  EXPECT_EQ(wrong.status, 400u) << wrong.body;
  EXPECT_EQ(server.store().GetManifest(other).status().code(), StatusCode::kNotFound);
  Reply garbage = Request(server.port(), http::verb::post, "/manifest/" + root.ToHex(), "abc");
  EXPECT_EQ(garbage.status, 400u) << garbage.body;
  Reply bad_name = Request(server.port(), http::verb::post, "/manifest/xyz", "abc");
  EXPECT_EQ(bad_name.status, 400u);
  EXPECT_EQ(Request(server.port(), http::verb::put, "/manifest/" + root.ToHex()).status, 405u);
  // A node that takes no uploads takes no manifests either.
  testing::TempDir closed_dir;
  BlobServer closed(closed_dir.path(), {}, /*uploads=*/false);
  const Status refused = rpc::UploadManifest(closed.url(), hashes);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("HTTP 403"), std::string::npos) << refused.message();
  EXPECT_EQ(closed.store().GetManifest(root).status().code(), StatusCode::kNotFound);
}

// ------------------------------------------------------------- the fetcher

// A raw TCP server for misbehaving sources: each connection is handed to
// `serve` on the server's thread.
class RawServer {
 public:
  explicit RawServer(std::function<void(tcp::socket&)> serve)
      : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}), serve_(std::move(serve)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        tcp::socket socket(io_);
        beast::error_code ec;
        acceptor_.accept(socket, ec);
        if (ec || stop_) return;
        serve_(socket);
        sockets_.push_back(std::move(socket));  // held open until the end
      }
    });
  }
  ~RawServer() {
    stop_ = true;
    beast::error_code ec;
    // Wake the blocked accept with a connection of our own.
    tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::function<void(tcp::socket&)> serve_;
  std::vector<tcp::socket> sockets_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void ReadRequestHeader(tcp::socket& socket) {
  beast::flat_buffer buffer;
  http::request_parser<http::empty_body> parser;
  beast::error_code ec;
  http::read_header(socket, buffer, parser, ec);
}

rpc::BlobFetchOptions QuickOptions() {
  rpc::BlobFetchOptions options;
  options.connect_timeout = 2s;
  options.idle_timeout = 300ms;  // only the hanging source waits this long
  options.rounds = 1;
  return options;
}

TEST(BlobFetchTest, TakesTheBlobFromTheSourceThatHasIt) {
  testing::TempDir a, b, mine;
  BlobServer without(a.path());
  BlobServer with(b.path());
  const Bytes data = Pattern(700'000, 16);
  const Hash256 hash = *with.store().Put(data);
  auto store = OpenStore(mine.path());
  std::vector<uint64_t> progress;
  rpc::BlobFetchOptions options = QuickOptions();
  options.progress = [&](uint64_t done, uint64_t total) {
    EXPECT_EQ(total, data.size());
    progress.push_back(done);
  };
  rpc::BlobFetchReport report;
  const Status fetched =
      rpc::FetchBlob(*store, hash, {without.url(), with.url()}, options, &report);
  ASSERT_TRUE(fetched.ok()) << fetched.ToString();
  EXPECT_EQ(*store->Read(hash, 1 << 20), data);
  EXPECT_EQ(report.source, with.url());
  EXPECT_EQ(report.size, data.size());
  EXPECT_EQ(report.bytes_received, data.size());
  ASSERT_EQ(report.failures.size(), 1u);
  EXPECT_NE(report.failures[0].find("does not have the blob"), std::string::npos);
  EXPECT_TRUE(report.liars.empty());
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), data.size());
  // Held now: a second fetch asks nobody.
  ASSERT_TRUE(rpc::FetchBlob(*store, hash, {"http://127.0.0.1:1"}, options, &report).ok());
  EXPECT_TRUE(report.already_held);
}

// Two roles of one node fetching the same dataset at once: one transfer,
// the others wait for it and find the blob held, none blames the source.
TEST(BlobFetchTest, ConcurrentFetchesOfOneBlobShareOneTransfer) {
  testing::TempDir a, mine;
  BlobServer with(a.path());
  const Bytes data = Pattern(3'000'000, 23);
  const Hash256 hash = *with.store().Put(data);
  auto store = OpenStore(mine.path());
  constexpr int kFetchers = 4;
  std::vector<rpc::BlobFetchReport> reports(kFetchers);
  std::vector<Status> results(kFetchers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kFetchers; ++i) {
    threads.emplace_back([&, i] {
      results[i] = rpc::FetchBlob(*store, hash, {with.url()}, QuickOptions(), &reports[i]);
    });
  }
  for (auto& t : threads) t.join();
  uint64_t received = 0;
  int transfers = 0;
  for (int i = 0; i < kFetchers; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].ToString();
    EXPECT_TRUE(reports[i].liars.empty()) << i;
    received += reports[i].bytes_received;
    transfers += reports[i].already_held ? 0 : 1;
  }
  EXPECT_EQ(transfers, 1);
  EXPECT_EQ(received, data.size());
  EXPECT_EQ(*store->Read(hash, 4 << 20), data);
}

TEST(BlobFetchTest, ALyingSourceIsNamedAndTheNextOneUsed) {
  testing::TempDir a, b, mine;
  BlobServer liar(a.path());
  BlobServer honest(b.path());
  const Bytes data = Pattern(50'000, 17);
  const Hash256 hash = *honest.store().Put(data);
  // The liar holds other bytes of the same length under the blob's name.
  {
    ASSERT_TRUE(liar.store().Put(Pattern(50'000, 18)).ok());
    const Hash256 wrong = Blake2b256(Pattern(50'000, 18));
    fs::create_directories(liar.store().PathOf(hash).parent_path());
    fs::copy_file(liar.store().PathOf(wrong), liar.store().PathOf(hash));
  }
  BlobServer liar_reopened(a.path());  // indexes the planted file
  auto store = OpenStore(mine.path());
  rpc::BlobFetchReport report;
  ASSERT_TRUE(
      rpc::FetchBlob(*store, hash, {liar_reopened.url(), honest.url()}, QuickOptions(), &report)
          .ok());
  EXPECT_EQ(*store->Read(hash, 1 << 20), data);
  ASSERT_EQ(report.liars.size(), 1u);
  EXPECT_EQ(report.liars[0], liar_reopened.url());
  EXPECT_EQ(report.source, honest.url());
  // Only a liar: nothing is kept and the error says why.
  testing::TempDir other;
  auto empty = OpenStore(other.path());
  const Status failed = rpc::FetchBlob(*empty, hash, {liar_reopened.url()}, QuickOptions());
  EXPECT_EQ(failed.code(), StatusCode::kUnavailable);
  EXPECT_NE(failed.message().find("do not hash to the blob's name"), std::string::npos);
  EXPECT_FALSE(empty->Has(hash));
  EXPECT_FALSE(fs::exists(empty->PartialPath(hash)));
}

TEST(BlobFetchTest, AHangingSourceIsLeftAndABrokenTransferResumed) {
  testing::TempDir b, mine;
  const Bytes data = Pattern(400'000, 19);
  const Hash256 hash = Blake2b256(data);
  RawServer hangs([](tcp::socket& socket) { ReadRequestHeader(socket); });  // never answers
  // Sends the header and the first 100,000 bytes, then hangs up.
  RawServer breaks_off([&](tcp::socket& socket) {
    ReadRequestHeader(socket);
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(data.size()) +
                             "\r\nConnection: close\r\n\r\n";
    beast::error_code ec;
    asio::write(socket, asio::buffer(head), ec);
    asio::write(socket, asio::buffer(data.data(), 100'000), ec);
    socket.close(ec);
  });
  BlobServer honest(b.path());
  ASSERT_TRUE(honest.store().Put(data).ok());
  auto store = OpenStore(mine.path());

  rpc::BlobFetchReport first;
  const Status failed =
      rpc::FetchBlob(*store, hash, {hangs.url(), breaks_off.url()}, QuickOptions(), &first);
  EXPECT_EQ(failed.code(), StatusCode::kUnavailable);
  ASSERT_EQ(first.failures.size(), 2u);
  EXPECT_NE(first.failures[0].find("sent nothing"), std::string::npos) << first.failures[0];
  EXPECT_NE(first.failures[1].find("broke off"), std::string::npos) << first.failures[1];
  EXPECT_EQ(fs::file_size(store->PartialPath(hash)), 100'000u);
  EXPECT_FALSE(store->Has(hash));

  // The next attempt asks another source for the rest only.
  rpc::BlobFetchReport second;
  ASSERT_TRUE(rpc::FetchBlob(*store, hash, {honest.url()}, QuickOptions(), &second).ok());
  EXPECT_TRUE(second.resumed);
  EXPECT_EQ(second.bytes_received, data.size() - 100'000);
  EXPECT_EQ(*store->Read(hash, 1 << 20), data);
  EXPECT_FALSE(fs::exists(store->PartialPath(hash)));
}

// A source that trickles its bytes (never idle long enough to be left)
// holds a fetch only until the fetch's deadline, and no source is tried
// after it; with a minimum rate it is left as too slow. A validator's spot
// check sets both: the provider is found unavailable for the rate, and the
// validator's own lack of time blames nobody.
TEST(BlobFetchTest, ATricklingSourceHoldsTheFetchOnlyUntilItsDeadline) {
  testing::TempDir b, mine;
  const Bytes data = Pattern(100'000, 23);
  const Hash256 hash = Blake2b256(data);
  std::atomic<bool> done{false};
  RawServer trickles([&](tcp::socket& socket) {
    ReadRequestHeader(socket);
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(data.size()) +
                             "\r\nConnection: close\r\n\r\n";
    beast::error_code ec;
    asio::write(socket, asio::buffer(head), ec);
    // A byte every 20 ms (the source's pace, not a wait on a condition),
    // until the client hangs up.
    for (size_t i = 0; i < data.size() && !ec && !done; ++i) {
      asio::write(socket, asio::buffer(&data[i], 1), ec);
      std::this_thread::sleep_for(20ms);
    }
  });
  BlobServer honest(b.path());
  ASSERT_TRUE(honest.store().Put(data).ok());
  auto store = OpenStore(mine.path());
  rpc::BlobFetchOptions options = QuickOptions();
  options.idle_timeout = 10s;  // the trickle is never idle that long
  options.rounds = 2;
  options.deadline = std::chrono::steady_clock::now() + 500ms;
  rpc::BlobFetchReport report;
  const Status failed =
      rpc::FetchBlob(*store, hash, {trickles.url(), honest.url()}, options, &report);
  // Out of time is the fetcher's bound, not a source's fault.
  EXPECT_EQ(failed.code(), StatusCode::kResourceExhausted) << failed.ToString();
  ASSERT_EQ(report.failures.size(), 2u) << failed.ToString();
  EXPECT_NE(report.failures[0].find(trickles.url() + ": not done by the fetch's deadline"),
            std::string::npos)
      << report.failures[0];
  EXPECT_EQ(report.failures[1], "the fetch's deadline passed");
  EXPECT_FALSE(store->Has(hash)) << "the honest source after it was not asked";
  EXPECT_GT(fs::file_size(store->PartialPath(hash)), 0u) << "what arrived is kept to resume";

  // A minimum rate: the trickling source is left as too slow, its fault.
  rpc::BlobFetchOptions rated = QuickOptions();
  rated.idle_timeout = 10s;
  rated.min_bytes_per_second = 10'000;
  rated.rate_grace = 200ms;
  rpc::BlobFetchReport slow;
  const Status too_slow = rpc::FetchBlob(*store, hash, {trickles.url()}, rated, &slow);
  done = true;
  EXPECT_EQ(too_slow.code(), StatusCode::kUnavailable) << too_slow.ToString();
  ASSERT_EQ(slow.failures.size(), 1u) << too_slow.ToString();
  EXPECT_NE(slow.failures[0].find("too slow"), std::string::npos) << slow.failures[0];
  // Without a deadline the next source is asked and the rest fetched.
  ASSERT_TRUE(rpc::FetchBlob(*store, hash, {honest.url()}, QuickOptions()).ok());
  EXPECT_EQ(*store->Read(hash, 1 << 20), data);
}

TEST(BlobFetchTest, AWrongPartialFileIsThrownAwayNotBlamedOnTheSource) {
  testing::TempDir b, mine;
  BlobServer honest(b.path());
  const Bytes data = Pattern(90'000, 20);
  const Hash256 hash = *honest.store().Put(data);
  auto store = OpenStore(mine.path());
  testing::WriteTextFile(store->PartialPath(hash), std::string(1000, 'x'));  // not its bytes
  rpc::BlobFetchOptions options = QuickOptions();
  options.rounds = 2;
  rpc::BlobFetchReport report;
  ASSERT_TRUE(rpc::FetchBlob(*store, hash, {honest.url()}, options, &report).ok());
  EXPECT_TRUE(report.liars.empty());
  ASSERT_EQ(report.failures.size(), 1u);
  EXPECT_NE(report.failures[0].find("starting over"), std::string::npos);
  EXPECT_EQ(*store->Read(hash, 1 << 20), data);
}

// Found in review (2026-12-03): this node failing to write its own partial
// file (a full disk, a permission) came back as "unavailable", which the
// validator role holds against the provider. It is this node's IoError now.
TEST(BlobFetchTest, ALocalWriteFailureIsNotBlamedOnTheSource) {
  testing::TempDir b, mine;
  BlobServer honest(b.path());
  const Hash256 hash = *honest.store().Put(Pattern(90'000, 23));
  auto store = OpenStore(mine.path());
  fs::create_directories(store->PartialPath(hash));  // cannot be opened for writing
  rpc::BlobFetchReport report;
  const Status s = rpc::FetchBlob(*store, hash, {honest.url()}, QuickOptions(), &report);
  EXPECT_EQ(s.code(), StatusCode::kIoError) << s.ToString();
  EXPECT_TRUE(report.liars.empty());
  EXPECT_FALSE(store->Has(hash));
}

// Found in review (2026-12-03): a source that answers 200 with the right
// length, sends all but the last byte in garbage and hangs up was never
// blamed; the honest source after it resumed for the last byte, the hash
// failed, nobody was named, and every round went the same way, so a fetch
// that listed the liar first never succeeded. Now the honest source is
// asked for the whole blob and the source whose bytes differ is named.
TEST(BlobFetchTest, ASourceThatBreaksOffWithWrongBytesIsNamedAndTheBlobStillFetched) {
  testing::TempDir b, mine;
  const Bytes data = Pattern(200'000, 22);
  const Hash256 hash = Blake2b256(data);
  const Bytes garbage = Pattern(data.size(), 23);
  RawServer liar([&](tcp::socket& socket) {
    ReadRequestHeader(socket);
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " +
                             std::to_string(data.size()) + "\r\nConnection: close\r\n\r\n";
    beast::error_code ec;
    asio::write(socket, asio::buffer(head), ec);
    asio::write(socket, asio::buffer(garbage.data(), garbage.size() - 1), ec);
    socket.close(ec);
  });
  BlobServer honest(b.path());
  ASSERT_TRUE(honest.store().Put(data).ok());
  auto store = OpenStore(mine.path());
  rpc::BlobFetchReport report;
  const Status fetched =
      rpc::FetchBlob(*store, hash, {liar.url(), honest.url()}, QuickOptions(), &report);
  ASSERT_TRUE(fetched.ok()) << fetched.ToString();
  EXPECT_EQ(*store->Read(hash, 1 << 20), data);
  EXPECT_EQ(report.source, honest.url());
  ASSERT_EQ(report.liars.size(), 1u);
  EXPECT_EQ(report.liars[0], liar.url());
  EXPECT_FALSE(fs::exists(store->PartialPath(hash)));
  EXPECT_FALSE(fs::exists(fs::path(store->PartialPath(hash).string() + ".wrong")));
}

TEST(BlobFetchTest, ToAFileReplacesItOnlyWithVerifiedBytes) {
  testing::TempDir b, out;
  BlobServer honest(b.path());
  const Bytes data = Pattern(10'000, 21);
  const Hash256 hash = *honest.store().Put(data);
  const fs::path target = out.path() / "model.ckpt";
  testing::WriteTextFile(target, "old");
  const Status absent =
      rpc::FetchBlobToFile(Blake2b256("nobody has this"), {honest.url()}, target, QuickOptions());
  EXPECT_EQ(absent.code(), StatusCode::kUnavailable);
  EXPECT_EQ(testing::ReadTextFile(target), "old");
  ASSERT_TRUE(rpc::FetchBlobToFile(hash, {honest.url()}, target, QuickOptions()).ok());
  EXPECT_EQ(testing::ReadTextFile(target), AsString(data));
  EXPECT_FALSE(fs::exists(out.path() / "model.ckpt.part"));
}

}  // namespace
}  // namespace agora::node
