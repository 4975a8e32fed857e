// Test helper for kv_store_test: opens a LevelDbStore and applies numbered
// batches until it is killed. Batch n writes 64 keys (n, j) and sets
// meta/last_batch = n, all in one WriteBatch. After the first batches it
// creates the file named by argv[2] so the test knows it is running.
#include <cstdio>
#include <fstream>

#include "node/storage/leveldb_store.h"

int main(int argc, char** argv) {
  using namespace agora;
  if (argc != 3) {
    std::fprintf(stderr, "usage: kv_crash_writer DB_DIR READY_FILE\n");
    return 2;
  }
  auto store = node::LevelDbStore::Open(argv[1]);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  uint64_t next = 0;
  if (auto last = (*store)->Get(KeyPrefix::kMeta, AsBytes("last_batch")); last.ok() && *last) {
    next = GetU64BigEndian(**last) + 1;
  }
  for (uint64_t n = next;; ++n) {
    WriteBatch batch;
    for (uint64_t j = 0; j < 64; ++j) {
      Bytes key, value;
      PutU64BigEndian(key, n);
      PutU64BigEndian(key, j);
      PutU64BigEndian(value, n);
      batch.Put(KeyPrefix::kTest, key, value);
    }
    Bytes counter;
    PutU64BigEndian(counter, n);
    batch.Put(KeyPrefix::kMeta, AsBytes("last_batch"), counter);
    Status s = (*store)->Write(batch, Durability::kBuffered);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    if (n == next + 20) std::ofstream(argv[2]) << "ready\n";
  }
}
