// ledger_bench: what the authenticated state tree costs a block commit.
//
// On LevelDB in a temporary directory it builds a state of N accounts
// ("bank/acct/" + 20 bytes -> 16 bytes) through the tree, in versions of
// --chunk keys, then times committing M changed accounts (Stage + synced
// Write + Commit) against its peer measured in the same run: a plain
// LevelDB synced batch writing the same number of key/values into a second
// store that holds the same N accounts flat. Runs alternate between the two
// and each side reports its median; the ratio is tree / plain (goal <= 3x).
// It also prints proof size and verify time, and the process's resident
// memory after the build (goal under 1 GiB).
//
//   build/default/bench/ledger/ledger_bench [--quick] [--accounts N] [--changed M]
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/state_tree.h"
#include "node/storage/leveldb_store.h"

namespace {

using agora::Bytes;
using agora::ByteSpan;
using agora::Durability;
using agora::KeyPrefix;
using agora::StateTree;
using agora::WriteBatch;
using Changes = std::map<Bytes, std::optional<Bytes>>;
namespace fs = std::filesystem;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// VmRSS of this process in MiB, from /proc/self/status (0 if unreadable).
double ResidentMiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

Bytes AccountKey(uint64_t index) {
  Bytes key = agora::ToBytes("bank/acct/");
  Bytes seed;
  agora::PutU64BigEndian(seed, index);
  const agora::Hash256 h = agora::Blake2b256(seed);
  key.insert(key.end(), h.bytes.begin(), h.bytes.begin() + 20);
  return key;
}

Bytes AccountValue(uint64_t balance, uint64_t nonce) {
  Bytes v;
  agora::PutU64BigEndian(v, balance);
  agora::PutU64BigEndian(v, nonce);
  return v;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void Die(const agora::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "ledger_bench: %s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

struct Config {
  uint64_t accounts = 1'000'000;
  uint64_t changed = 10'000;
  uint64_t chunk = 100'000;
  int runs = 15;
  int proofs = 2000;
  size_t cache_mib = StateTree::Options().cache_bytes_max >> 20;
  unsigned threads = std::min(16u, std::max(1u, std::thread::hardware_concurrency()));
  std::string dir;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ledger_bench: state tree commit cost against plain LevelDB"};
  Config c;
  bool quick = false;
  app.add_option("--accounts", c.accounts, "Accounts in the state");
  app.add_option("--changed", c.changed, "Accounts changed per timed commit");
  app.add_option("--chunk", c.chunk, "Accounts per version while building the state");
  app.add_option("--runs", c.runs, "Timed commits on each side");
  app.add_option("--proofs", c.proofs, "Proofs made and verified");
  app.add_option("--cache-mib", c.cache_mib, "State tree node cache (Options::cache_bytes_max)");
  app.add_option("--threads", c.threads, "Threads a Stage uses (Options::stage_threads, 1-16)");
  app.add_option("--dir", c.dir, "Directory for the two stores (default: a new temp dir)");
  app.add_flag("--quick", quick, "Small run: 50,000 accounts, 2,000 changed, 5 runs");
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    c.accounts = 50'000;
    c.changed = 2'000;
    c.chunk = 10'000;
    c.runs = 5;
    c.proofs = 500;
  }
  if (c.accounts == 0 || c.changed == 0 || c.chunk == 0 || c.runs < 1 || c.changed > c.accounts) {
    std::fprintf(stderr, "ledger_bench: counts must be positive, --changed <= --accounts\n");
    return 2;
  }
  const fs::path root =
      c.dir.empty() ? fs::temp_directory_path() / ("agora-ledger-bench-" + std::to_string(getpid()))
                    : fs::path(c.dir);
  fs::create_directories(root);
  int exit_code = 0;
  {
    auto tree_store = agora::node::LevelDbStore::Open(root / "tree");
    auto plain_store = agora::node::LevelDbStore::Open(root / "plain");
    Die(tree_store.status(), "open tree store");
    Die(plain_store.status(), "open plain store");
    StateTree::Options options;
    options.cache_bytes_max = c.cache_mib << 20;
    options.stage_threads = c.threads;
    auto opened = StateTree::Open(tree_store->get(), options);
    Die(opened.status(), "open state tree");
    StateTree& tree = **opened;

    // Build the state, and the same accounts flat in the peer's store.
    const double build_start = Now();
    uint64_t version = 0;
    for (uint64_t first = 0; first < c.accounts; first += c.chunk) {
      Changes changes;
      WriteBatch plain;
      for (uint64_t i = first; i < std::min(c.accounts, first + c.chunk); ++i) {
        const Bytes key = AccountKey(i);
        const Bytes value = AccountValue(1'000'000 + i, 0);
        plain.Put(KeyPrefix::kState, key, value);
        changes.emplace(key, value);
      }
      WriteBatch batch;
      auto staged = tree.Stage(++version, changes, &batch);
      Die(staged.status(), "stage");
      Die((*tree_store)->Write(batch, Durability::kSynced), "write tree batch");
      tree.Commit();
      Die((*plain_store)->Write(plain, Durability::kSynced), "write plain batch");
    }
    const double build_s = Now() - build_start;
    const double rss_built = ResidentMiB();
    std::printf("state: %llu accounts in %llu versions, built in %.1f s (both stores)\n",
                static_cast<unsigned long long>(c.accounts),
                static_cast<unsigned long long>(version), build_s);
    std::printf("root %s\n", tree.root().ToHex().c_str());
    std::printf("resident memory after build: %.0f MiB (goal < 1024 MiB)\n\n", rss_built);

    // Timed commits, alternating tree and plain, each on fresh random accounts.
    std::mt19937_64 rng(42);
    std::vector<double> tree_s, stage_s, write_s, commit_s, plain_s;
    size_t tree_ops = 0, tree_bytes = 0, plain_ops = 0, plain_bytes = 0;
    for (int run = 0; run < c.runs; ++run) {
      Changes changes;
      while (changes.size() < c.changed) {
        changes.emplace(AccountKey(rng() % c.accounts), AccountValue(rng(), run + 1));
      }
      const double t0 = Now();
      WriteBatch batch;
      auto staged = tree.Stage(++version, changes, &batch);
      Die(staged.status(), "stage");
      const double t1 = Now();
      Die((*tree_store)->Write(batch, Durability::kSynced), "write tree batch");
      const double t_written = Now();
      tree.Commit();
      const double t2 = Now();
      tree_s.push_back(t2 - t0);
      stage_s.push_back(t1 - t0);
      write_s.push_back(t_written - t1);
      commit_s.push_back(t2 - t_written);
      tree_ops = batch.count();
      tree_bytes = batch.bytes();

      WriteBatch plain;
      for (const auto& [key, value] : changes) plain.Put(KeyPrefix::kState, key, *value);
      const double t3 = Now();
      Die((*plain_store)->Write(plain, Durability::kSynced), "write plain batch");
      plain_s.push_back(Now() - t3);
      plain_ops = plain.count();
      plain_bytes = plain.bytes();
    }
    const double ratio = Median(tree_s) / Median(plain_s);
    std::printf("commit of %llu changed accounts, median of %d runs each (alternating):\n",
                static_cast<unsigned long long>(c.changed), c.runs);
    std::printf("  %-34s %9.1f ms  (stage %.1f ms, synced write %.1f ms, commit %.1f ms)\n",
                "state tree (Stage+Write+Commit)", Median(tree_s) * 1e3, Median(stage_s) * 1e3,
                Median(write_s) * 1e3, Median(commit_s) * 1e3);
    std::printf("  %-34s %9.1f ms\n", "plain LevelDB synced batch", Median(plain_s) * 1e3);
    std::printf("  batch: tree %zu ops / %.1f MiB, plain %zu ops / %.2f MiB\n", tree_ops,
                tree_bytes / 1048576.0, plain_ops, plain_bytes / 1048576.0);
    std::printf("  ratio tree / plain: %.2fx (goal <= 3x)\n\n", ratio);

    // Proofs at the latest version: present accounts and absent keys.
    std::vector<Bytes> keys;
    for (int i = 0; i < c.proofs; ++i) {
      keys.push_back(i % 2 == 0 ? AccountKey(rng() % c.accounts) : AccountKey(c.accounts + rng()));
    }
    std::vector<agora::ProvenValue> proven;
    const double p0 = Now();
    for (const Bytes& key : keys) {
      auto p = tree.Prove(key, version);
      Die(p.status(), "prove");
      proven.push_back(std::move(*p));
    }
    const double prove_s = Now() - p0;
    size_t bytes_present = 0, bytes_absent = 0, max_bytes = 0;
    for (size_t i = 0; i < proven.size(); ++i) {
      const size_t size = proven[i].proof.Encode().size();
      (i % 2 == 0 ? bytes_present : bytes_absent) += size;
      max_bytes = std::max(max_bytes, size);
    }
    const agora::Hash256 root_hash = tree.root();
    int failures = 0;
    const double v0 = Now();
    for (size_t i = 0; i < proven.size(); ++i) {
      if (!agora::VerifyStateProof(root_hash, keys[i], proven[i].value, proven[i].proof).ok()) {
        ++failures;
      }
    }
    const double verify_s = Now() - v0;
    const double half = std::max<size_t>(1, proven.size() / 2);
    std::printf("proofs (%zu, half present, half absent):\n", proven.size());
    std::printf("  size: present %.0f B, absent %.0f B on average, largest %zu B\n",
                bytes_present / half, bytes_absent / half, max_bytes);
    std::printf("  make %.1f us, verify %.1f us per proof; %d failed to verify\n",
                prove_s / proven.size() * 1e6, verify_s / proven.size() * 1e6, failures);
    std::printf("\nresident memory at the end: %.0f MiB\n", ResidentMiB());
    if (failures != 0) exit_code = 1;
  }
  if (c.dir.empty()) fs::remove_all(root);
  return exit_code;
}
