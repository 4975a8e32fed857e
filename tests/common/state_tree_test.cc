// StateTree against a plain reference: the collapsed binary sparse Merkle
// tree computed from scratch with the byte layouts of docs/state.md, and a
// std::map for values. Randomized tests read AGORA_TEST_SEED and print the
// command that reproduces a failure.
#include "common/state_tree.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "common/kv.h"
#include "tests/test_util.h"

namespace agora {
namespace {

using Changes = std::map<Bytes, std::optional<Bytes>>;
using Model = std::map<Bytes, Bytes>;

// --- The specification, written out with plain recursion. ---

Hash256 SpecLeaf(const Hash256& key_hash, const Hash256& value_hash) {
  Bytes b{0x00};
  Append(b, key_hash.span());
  Append(b, value_hash.span());
  return Blake2b256(b);
}

Hash256 SpecNode(const Hash256& left, const Hash256& right) {
  Bytes b{0x01};
  Append(b, left.span());
  Append(b, right.span());
  return Blake2b256(b);
}

unsigned SpecBit(const Hash256& h, size_t i) { return (h.bytes[i / 8] >> (7 - i % 8)) & 1; }

// Root of the leaves [begin, end), sorted by key hash, that share `bit` bits.
Hash256 SpecRoot(const std::vector<std::pair<Hash256, Hash256>>& leaves, size_t begin, size_t end,
                 size_t bit) {
  if (begin == end) return Hash256{};
  if (end - begin == 1) return SpecLeaf(leaves[begin].first, leaves[begin].second);
  size_t mid = begin;
  while (mid < end && SpecBit(leaves[mid].first, bit) == 0) ++mid;
  return SpecNode(SpecRoot(leaves, begin, mid, bit + 1), SpecRoot(leaves, mid, end, bit + 1));
}

Hash256 SpecRootOf(const Model& model) {
  std::vector<std::pair<Hash256, Hash256>> leaves;
  for (const auto& [k, v] : model) leaves.emplace_back(Blake2b256(k), Blake2b256(v));
  std::sort(leaves.begin(), leaves.end());
  return SpecRoot(leaves, 0, leaves.size(), 0);
}

// --- Helpers. ---

uint64_t TestSeed() { return agora::testing::TestSeed(20240601); }

std::string ReproduceLine(uint64_t seed) { return agora::testing::ReproduceLine(seed); }

Bytes RandomBytes(std::mt19937_64& rng, size_t size) {
  Bytes b(size);
  for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

Bytes U64Value(uint64_t v) {
  Bytes b;
  PutU64BigEndian(b, v);
  return b;
}

void ApplyToModel(const Changes& changes, Model& model) {
  for (const auto& [k, v] : changes) {
    if (v) {
      model[k] = *v;
    } else {
      model.erase(k);
    }
  }
}

std::unique_ptr<StateTree> OpenTree(KvStore* store, StateTree::Options options = {}) {
  auto tree = StateTree::Open(store, options);
  EXPECT_TRUE(tree.ok()) << tree.status().ToString();
  return std::move(tree).value();
}

// Stages, writes and commits one version; returns its root.
Hash256 CommitVersion(StateTree& tree, KvStore& store, uint64_t version, const Changes& changes) {
  WriteBatch batch;
  auto root = tree.Stage(version, changes, &batch);
  EXPECT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_TRUE(store.Write(batch, Durability::kSynced).ok());
  tree.Commit();
  return *root;
}

// Checks the value and both kinds of proof of `key` at `version`.
void ExpectProven(StateTree& tree, uint64_t version, const Bytes& key,
                  const std::optional<Bytes>& expected) {
  auto root = tree.RootAt(version);
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  auto proven = tree.Prove(key, version);
  ASSERT_TRUE(proven.ok()) << proven.status().ToString();
  EXPECT_EQ(proven->value, expected);
  EXPECT_TRUE(VerifyStateProof(*root, key, expected, proven->proof).ok());
  auto decoded = StateProof::Decode(proven->proof.Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, proven->proof);
  // The same proof must not also prove the opposite.
  const std::optional<Bytes> other = expected ? std::nullopt : std::optional<Bytes>(Bytes{1});
  EXPECT_EQ(VerifyStateProof(*root, key, other, proven->proof).code(),
            StatusCode::kUnauthenticated);
}

Model RandomModel(std::mt19937_64& rng, size_t count) {
  Model model;
  while (model.size() < count)
    model[RandomBytes(rng, 1 + rng() % 40)] = RandomBytes(rng, rng() % 50);
  return model;
}

Changes AsChanges(const Model& model) {
  Changes c;
  for (const auto& [k, v] : model) c[k] = v;
  return c;
}

// Counts the records of each kStateTree family (first suffix byte).
std::map<uint8_t, size_t> CountTreeRecords(KvStore& store) {
  std::map<uint8_t, size_t> counts;
  for (auto it = store.Scan(KeyPrefix::kStateTree); it->Valid(); it->Next()) ++counts[it->key()[0]];
  return counts;
}

// --- Tests. ---

TEST(StateTreeTest, EmptyTreeHasZeroRootAndNoVersion) {
  MemKvStore store;
  auto tree = OpenTree(&store);
  EXPECT_EQ(StateTree::EmptyRoot(), Hash256{});
  EXPECT_FALSE(tree->version().has_value());
  EXPECT_EQ(tree->root(), StateTree::EmptyRoot());
  EXPECT_EQ(tree->RootAt(0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(tree->Prove(ToBytes("k"), 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(CommitVersion(*tree, store, 5, {}), StateTree::EmptyRoot());
  EXPECT_EQ(tree->version(), 5u);
  ExpectProven(*tree, 5, ToBytes("absent"), std::nullopt);
}

TEST(StateTreeTest, SingleKeyRootIsItsLeafHash) {
  MemKvStore store;
  auto tree = OpenTree(&store);
  const Hash256 root = CommitVersion(*tree, store, 1, {{ToBytes("bank/a"), ToBytes("v")}});
  EXPECT_EQ(root, SpecLeaf(Blake2b256("bank/a"), Blake2b256("v")));
  auto proven = tree->Prove(ToBytes("bank/a"), 1);
  ASSERT_TRUE(proven.ok());
  EXPECT_TRUE(proven->proof.siblings.empty());
}

TEST(StateTreeTest, RootMatchesSpecAndIgnoresOrderAndSplitting) {
  std::mt19937_64 rng(7);
  const Model model = RandomModel(rng, 600);
  MemKvStore whole_store;
  auto whole = OpenTree(&whole_store);
  const Hash256 expected = SpecRootOf(model);
  EXPECT_EQ(CommitVersion(*whole, whole_store, 1, AsChanges(model)), expected);

  // Same keys in a shuffled order over versions of uneven size, with some
  // written twice (first with another value).
  std::vector<std::pair<Bytes, Bytes>> entries(model.begin(), model.end());
  std::shuffle(entries.begin(), entries.end(), rng);
  MemKvStore split_store;
  auto split = OpenTree(&split_store);
  uint64_t version = 10;
  for (size_t i = 0; i < entries.size();) {
    const size_t n = std::min<size_t>(1 + rng() % 90, entries.size() - i);
    Changes c;
    for (size_t j = i; j < i + n; ++j) c[entries[j].first] = entries[j].second;
    if (i + n < entries.size()) c[entries[i + n].first] = ToBytes("earlier value");
    CommitVersion(*split, split_store, version++, c);
    i += n;
  }
  EXPECT_EQ(split->root(), expected);
  EXPECT_EQ(whole->root(), expected);
}

TEST(StateTreeTest, DeletesRestoreEarlierRootsExactly) {
  std::mt19937_64 rng(11);
  MemKvStore store;
  auto tree = OpenTree(&store);
  const Model first = RandomModel(rng, 200);
  const Hash256 first_root = CommitVersion(*tree, store, 1, AsChanges(first));
  const Model second = RandomModel(rng, 150);
  const Hash256 both_root = CommitVersion(*tree, store, 2, AsChanges(second));
  EXPECT_NE(both_root, first_root);

  Changes remove_second;
  for (const auto& [k, v] : second) remove_second[k] = std::nullopt;
  EXPECT_EQ(CommitVersion(*tree, store, 3, remove_second), first_root);
  // Deleting absent keys changes nothing.
  EXPECT_EQ(CommitVersion(*tree, store, 4, remove_second), first_root);

  Changes remove_all;
  for (const auto& [k, v] : first) remove_all[k] = std::nullopt;
  EXPECT_EQ(CommitVersion(*tree, store, 5, remove_all), StateTree::EmptyRoot());
  EXPECT_FALSE(tree->Get(first.begin()->first)->has_value());
  // Nothing of the old keys is left reachable: one key in, one key out.
  EXPECT_EQ(CommitVersion(*tree, store, 6, {{ToBytes("x"), ToBytes("1")}}),
            SpecLeaf(Blake2b256("x"), Blake2b256("1")));
  EXPECT_EQ(CommitVersion(*tree, store, 7, {{ToBytes("x"), std::nullopt}}), StateTree::EmptyRoot());
}

TEST(StateTreeTest, ProofsVerifyForEveryKeyAtEveryKeptVersion) {
  std::mt19937_64 rng(13);
  MemKvStore store;
  auto tree = OpenTree(&store);
  std::vector<Model> models;
  Model model;
  for (uint64_t version = 1; version <= 4; ++version) {
    Changes c = AsChanges(RandomModel(rng, 120));
    size_t deletes = 0;
    for (const auto& [k, v] : model) {
      if (deletes++ % 3 == 0) c[k] = std::nullopt;
    }
    ApplyToModel(c, model);
    CommitVersion(*tree, store, version, c);
    models.push_back(model);
  }
  for (uint64_t version = 1; version <= 4; ++version) {
    const Model& at = models[version - 1];
    EXPECT_EQ(*tree->RootAt(version), SpecRootOf(at));
    for (const auto& [k, v] : models.back()) {
      auto it = at.find(k);
      ExpectProven(*tree, version, k,
                   it == at.end() ? std::nullopt : std::optional<Bytes>(it->second));
    }
    for (int i = 0; i < 50; ++i) ExpectProven(*tree, version, RandomBytes(rng, 20), std::nullopt);
  }
}

TEST(StateTreeTest, TamperedProofsAreRejected) {
  std::mt19937_64 rng(17);
  MemKvStore store;
  auto tree = OpenTree(&store);
  const Model model = RandomModel(rng, 300);
  const Hash256 root = CommitVersion(*tree, store, 1, AsChanges(model));
  const Bytes present_key = model.begin()->first;
  const Bytes present_value = model.begin()->second;
  // An absent key whose path ends at another key's leaf, and one whose path
  // ends at an empty subtree: both kinds of absence are covered.
  std::vector<Bytes> absent_keys;
  bool leaf_end = false;
  bool empty_end = false;
  for (uint64_t i = 0; !(leaf_end && empty_end) && i < 100000; ++i) {
    Bytes key = U64Value(i);
    auto p = tree->Prove(key, 1);
    ASSERT_TRUE(p.ok());
    bool& seen = p->proof.leaf ? leaf_end : empty_end;
    if (!seen) absent_keys.push_back(key);
    seen = true;
  }
  ASSERT_TRUE(leaf_end && empty_end);

  struct Case {
    Bytes key;
    std::optional<Bytes> value;
  };
  std::vector<Case> cases{{present_key, present_value}};
  for (const Bytes& k : absent_keys) cases.push_back({k, std::nullopt});
  for (const Case& c : cases) {
    auto proven = tree->Prove(c.key, 1);
    ASSERT_TRUE(proven.ok());
    const Bytes encoded = proven->proof.Encode();
    ASSERT_TRUE(VerifyStateProof(root, c.key, c.value, proven->proof).ok());
    for (size_t i = 0; i < encoded.size(); ++i) {
      for (uint8_t flip : {0x01, 0x80, 0xff}) {
        Bytes bad = encoded;
        bad[i] ^= flip;
        auto decoded = StateProof::Decode(bad);
        if (!decoded.ok()) continue;
        EXPECT_FALSE(VerifyStateProof(root, c.key, c.value, *decoded).ok())
            << "byte " << i << " xor " << int{flip} << " still verifies";
      }
    }
    for (size_t n = 0; n < encoded.size(); ++n) {
      auto decoded = StateProof::Decode(ByteSpan(encoded).first(n));
      if (decoded.ok()) {
        EXPECT_FALSE(VerifyStateProof(root, c.key, c.value, *decoded).ok()) << "truncated to " << n;
      }
    }
    Bytes longer = encoded;
    longer.push_back(0);
    EXPECT_FALSE(StateProof::Decode(longer).ok());
    Hash256 other_root = root;
    other_root.bytes[31] ^= 1;
    EXPECT_EQ(VerifyStateProof(other_root, c.key, c.value, proven->proof).code(),
              StatusCode::kUnauthenticated);
    EXPECT_EQ(VerifyStateProof(root, c.key, ToBytes("wrong value"), proven->proof).code(),
              StatusCode::kUnauthenticated);
    Bytes other_key = c.key;
    other_key.push_back('!');
    EXPECT_EQ(VerifyStateProof(root, other_key, c.value, proven->proof).code(),
              StatusCode::kUnauthenticated);
  }
  // A key's proof, a sibling at a time, replaced by the empty hash.
  auto proven = tree->Prove(present_key, 1);
  ASSERT_TRUE(proven.ok());
  for (size_t i = 0; i < proven->proof.siblings.size(); ++i) {
    if (proven->proof.siblings[i].IsZero()) continue;
    StateProof bad = proven->proof;
    bad.siblings[i] = Hash256{};
    EXPECT_FALSE(VerifyStateProof(root, present_key, present_value, bad).ok());
  }
}

TEST(StateTreeTest, DecodeNeverCrashesOnRandomBytes) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(ReproduceLine(seed));
  std::mt19937_64 rng(seed);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes b = RandomBytes(rng, rng() % 400);
    // Half the inputs start like a proof, so the parser gets past the header.
    if (i % 2 == 0 && b.size() > 3) {
      b[0] = static_cast<uint8_t>(rng() % 2);
      const size_t count_at = b[0] == 1 ? 65 : 1;
      if (b.size() > count_at + 1) {
        b[count_at] = 0;
        b[count_at + 1] = static_cast<uint8_t>(rng() % 12);
      }
    }
    auto decoded = StateProof::Decode(b);
    if (!decoded.ok()) {
      EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption);
      continue;
    }
    ++accepted;
    EXPECT_EQ(decoded->Encode(), b) << "two encodings of one proof";
    EXPECT_FALSE(VerifyStateProof(Hash256{}, ToBytes("k"), ToBytes("v"), *decoded).ok());
  }
  EXPECT_GT(accepted, 0);
  EXPECT_FALSE(StateProof::Decode(Bytes(kStateProofBytesMax + 1, 0)).ok());
  // The largest proof fits the bound.
  StateProof largest;
  largest.leaf = StateLeaf{Blake2b256("a"), Blake2b256("b")};
  largest.siblings.assign(kStateTreeDepthBitsMax, Blake2b256("s"));
  EXPECT_EQ(largest.Encode().size(), kStateProofBytesMax);
  EXPECT_EQ(*StateProof::Decode(largest.Encode()), largest);
}

TEST(StateTreeTest, StageWithoutCommitChangesNothingAndAbandonDropsIt) {
  MemKvStore store;
  auto tree = OpenTree(&store);
  const Hash256 root1 = CommitVersion(*tree, store, 1, {{ToBytes("a"), ToBytes("1")}});
  WriteBatch batch;
  auto staged =
      tree->Stage(2, {{ToBytes("a"), ToBytes("2")}, {ToBytes("b"), ToBytes("3")}}, &batch);
  ASSERT_TRUE(staged.ok());
  EXPECT_NE(*staged, root1);
  EXPECT_GT(batch.count(), 0u);
  EXPECT_EQ(tree->root(), root1);
  EXPECT_EQ(tree->version(), 1u);
  EXPECT_EQ(**tree->Get(ToBytes("a")), ToBytes("1"));
  EXPECT_EQ(tree->RootAt(2).status().code(), StatusCode::kNotFound);
  tree->Abandon();

  const Model expected{{ToBytes("a"), ToBytes("1")}, {ToBytes("c"), ToBytes("4")}};
  EXPECT_EQ(CommitVersion(*tree, store, 2, {{ToBytes("c"), ToBytes("4")}}), SpecRootOf(expected));
  EXPECT_FALSE(tree->Get(ToBytes("b"))->has_value());
  ExpectProven(*tree, 2, ToBytes("b"), std::nullopt);
  ExpectProven(*tree, 2, ToBytes("c"), ToBytes("4"));
}

TEST(StateTreeTest, RejectsBadKeysAndValuesWithoutWriting) {
  MemKvStore store;
  auto tree = OpenTree(&store);
  const std::vector<Changes> bad{
      {{Bytes{}, ToBytes("v")}},
      {{Bytes(kStateKeyBytesMax + 1, 'k'), ToBytes("v")}},
      {{ToBytes("k"), Bytes(kStateValueBytesMax + 1, 'v')}},
  };
  for (const Changes& c : bad) {
    WriteBatch batch;
    EXPECT_EQ(tree->Stage(1, c, &batch).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(batch.count(), 0u);
  }
  EXPECT_EQ(tree->Get(Bytes{}).status().code(), StatusCode::kInvalidArgument);
  // Largest key and value are accepted; an empty value is a value.
  const Changes edge{{Bytes(kStateKeyBytesMax, 'k'), Bytes(kStateValueBytesMax, 'v')},
                     {ToBytes("empty"), Bytes{}}};
  CommitVersion(*tree, store, 1, edge);
  ExpectProven(*tree, 1, ToBytes("empty"), Bytes{});
  ExpectProven(*tree, 1, Bytes(kStateKeyBytesMax, 'k'), Bytes(kStateValueBytesMax, 'v'));
  EXPECT_EQ(StateTree::Open(&store, {.cache_bytes_max = 0, .versions_kept = 0}).status().code(),
            StatusCode::kInvalidArgument);
  for (unsigned threads : {0u, 17u}) {
    auto opened = StateTree::Open(&store, {.stage_threads = threads});
    EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument) << threads;
    EXPECT_NE(opened.status().message().find("stage_threads"), std::string::npos);
  }
}

TEST(StateTreeTest, ReopenGivesSameRootValuesAndFuture) {
  std::mt19937_64 rng(19);
  MemKvStore store;
  const Model first = RandomModel(rng, 50);
  const Model second = RandomModel(rng, 300);
  const Model third = RandomModel(rng, 100);
  Hash256 root;
  {
    auto tree = OpenTree(&store);
    CommitVersion(*tree, store, 3, AsChanges(first));
    root = CommitVersion(*tree, store, 4, AsChanges(second));
  }
  // A tiny cache makes every read after the reopen go to the store.
  auto tree = OpenTree(&store, {.cache_bytes_max = 4096, .versions_kept = 1000});
  EXPECT_EQ(tree->version(), 4u);
  EXPECT_EQ(tree->root(), root);
  for (const auto& [k, v] : second) EXPECT_EQ(**tree->Get(k), v);
  ExpectProven(*tree, 4, second.begin()->first, second.begin()->second);
  ExpectProven(*tree, 3, second.begin()->first, std::nullopt);
  ExpectProven(*tree, 3, first.begin()->first, first.begin()->second);
  // Carrying on from the reopened tree gives the root of the whole state.
  Model all = first;
  ApplyToModel(AsChanges(second), all);
  ApplyToModel(AsChanges(third), all);
  EXPECT_EQ(CommitVersion(*tree, store, 5, AsChanges(third)), SpecRootOf(all));
}

TEST(StateTreeTest, PruningDropsOldVersionsAndTheirRecords) {
  std::mt19937_64 rng(23);
  MemKvStore store;
  constexpr uint64_t kKept = 3;
  auto tree = OpenTree(&store, {.cache_bytes_max = 1u << 20, .versions_kept = kKept});
  Model model;
  std::vector<Hash256> roots;
  for (uint64_t version = 1; version <= 12; ++version) {
    Changes c = AsChanges(RandomModel(rng, 40));
    size_t i = 0;
    for (const auto& [k, v] : model) {
      if (i++ % 4 == 0) c[k] = version % 2 ? std::nullopt : std::optional<Bytes>(U64Value(version));
    }
    ApplyToModel(c, model);
    roots.push_back(CommitVersion(*tree, store, version, c));
  }
  for (uint64_t version = 1; version <= 12; ++version) {
    if (version + kKept <= 12) {
      EXPECT_EQ(tree->RootAt(version).status().code(), StatusCode::kNotFound) << version;
      EXPECT_EQ(tree->Prove(model.begin()->first, version).status().code(), StatusCode::kNotFound);
      continue;
    }
    EXPECT_EQ(*tree->RootAt(version), roots[version - 1]);
    for (const auto& [k, v] : model) {
      auto proven = tree->Prove(k, version);
      ASSERT_TRUE(proven.ok()) << proven.status().ToString();
      EXPECT_TRUE(VerifyStateProof(roots[version - 1], k, proven->value, proven->proof).ok());
    }
  }
  // After kKept - 1 versions without changes, everything the last change
  // replaced is gone: the store holds exactly what a fresh tree of the same
  // state holds, plus one root record per kept version.
  CommitVersion(*tree, store, 13, {});
  CommitVersion(*tree, store, 14, {});
  MemKvStore fresh_store;
  auto fresh = OpenTree(&fresh_store);
  EXPECT_EQ(CommitVersion(*fresh, fresh_store, 1, AsChanges(model)), tree->root());
  auto counts = CountTreeRecords(store);
  auto fresh_counts = CountTreeRecords(fresh_store);
  EXPECT_EQ(counts[0x00], 1u);                  // latest version
  EXPECT_EQ(counts[0x01], kKept);               // version roots
  EXPECT_EQ(counts[0x02], fresh_counts[0x02]);  // nodes
  EXPECT_EQ(counts[0x03], model.size());        // versioned values
  EXPECT_EQ(fresh_counts[0x03], model.size());
  // Versions_kept = 1 deletes what a version replaces in the same batch.
  auto single = OpenTree(&store, {.cache_bytes_max = 1u << 20, .versions_kept = 1});
  Changes c;
  for (const auto& [k, v] : model) c[k] = U64Value(99);
  CommitVersion(*single, store, 15, c);
  CommitVersion(*single, store, 16, {});
  CommitVersion(*single, store, 17, {});
  counts = CountTreeRecords(store);
  EXPECT_EQ(counts[0x01], 1u);
  EXPECT_EQ(counts[0x02], fresh_counts[0x02]);
  EXPECT_EQ(counts[0x03], model.size());
  size_t stale_records = 0;
  for (auto it = store.Scan(KeyPrefix::kStateStale, {}); it->Valid(); it->Next()) ++stale_records;
  EXPECT_EQ(stale_records, 0u);
}

// A version that replaces more than kStaleChunkBytesMax (256 KiB) of records
// splits its stale index into several chunks; pruning must still delete every
// record the version replaced, from every chunk.
TEST(StateTreeTest, LargeStaleIndexIsChunkedAndFullyPruned) {
  MemKvStore store;
  constexpr uint64_t kKept = 2;
  auto tree = OpenTree(&store, {.cache_bytes_max = 1u << 20, .versions_kept = kKept});
  Model model;
  // 8,000 value records of 42 index bytes each (length byte, 41-byte
  // suffix) are about 330 KiB, before counting the nodes.
  for (uint64_t i = 0; i < 8000; ++i) model[U64Value(i)] = U64Value(i);
  CommitVersion(*tree, store, 1, AsChanges(model));
  for (auto& [k, v] : model) v = ToBytes("new");
  CommitVersion(*tree, store, 2, AsChanges(model));
  size_t chunks_of_2 = 0;
  for (auto it = store.Scan(KeyPrefix::kStateStale, {}); it->Valid(); it->Next()) {
    if (GetU64BigEndian(it->key()) == 2) ++chunks_of_2;
  }
  EXPECT_GE(chunks_of_2, 2u);
  CommitVersion(*tree, store, 3, {});
  CommitVersion(*tree, store, 4, {});
  MemKvStore fresh_store;
  auto fresh = OpenTree(&fresh_store);
  EXPECT_EQ(CommitVersion(*fresh, fresh_store, 1, AsChanges(model)), tree->root());
  auto counts = CountTreeRecords(store);
  EXPECT_EQ(counts[0x01], kKept);
  EXPECT_EQ(counts[0x02], CountTreeRecords(fresh_store)[0x02]);
  EXPECT_EQ(counts[0x03], model.size());
  ExpectProven(*tree, 4, U64Value(7), ToBytes("new"));
}

// Random puts, deletes, abandoned stages and reopens against a std::map,
// checking values, roots (against the specification) and proofs.
// Every operation of a batch, in order, as plain bytes.
std::vector<std::tuple<bool, Bytes, Bytes>> BatchOps(const WriteBatch& batch) {
  std::vector<std::tuple<bool, Bytes, Bytes>> ops;
  for (const WriteBatch::Op op : batch) {
    ops.emplace_back(op.is_delete, Bytes(op.key.begin(), op.key.end()),
                     Bytes(op.value.begin(), op.value.end()));
  }
  return ops;
}

// A Stage on many threads must give what a Stage on one gives, root and
// batch alike, byte for byte: same history, two stores, two trees, one of
// them parallel, under a node cache small enough to miss.
TEST(StateTreeTest, ParallelStageWritesExactlyTheSequentialBatch) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(ReproduceLine(seed));
  std::mt19937_64 rng(seed);
  MemKvStore one_store, many_store;
  const StateTree::Options one_options{.cache_bytes_max = 256u << 10, .versions_kept = 3};
  StateTree::Options many_options = one_options;
  many_options.stage_threads = 4;
  auto one = OpenTree(&one_store, one_options);
  auto many = OpenTree(&many_store, many_options);
  std::vector<Bytes> key_pool;
  for (int i = 0; i < 3000; ++i) key_pool.push_back(RandomBytes(rng, 1 + rng() % 20));
  Model model;
  size_t parallel_sized = 0;
  for (uint64_t version = 1; version <= 14; ++version) {
    Changes c;
    // The first versions are small (the root is empty, then a leaf, then a
    // small node: the sequential path); the rest are big enough for threads.
    const size_t n = version <= 3 ? version : StateTree::kParallelStageChangesMin + rng() % 1200;
    while (c.size() < n) {
      const Bytes& k = key_pool[rng() % key_pool.size()];
      c[k] = rng() % 4 == 0 ? std::nullopt : std::optional<Bytes>(RandomBytes(rng, rng() % 3));
    }
    if (n >= StateTree::kParallelStageChangesMin) ++parallel_sized;
    WriteBatch one_batch, many_batch;
    auto one_root = one->Stage(version, c, &one_batch);
    auto many_root = many->Stage(version, c, &many_batch);
    ASSERT_TRUE(one_root.ok()) << one_root.status().ToString();
    ASSERT_TRUE(many_root.ok()) << many_root.status().ToString();
    ApplyToModel(c, model);
    ASSERT_EQ(*many_root, *one_root) << "version " << version;
    ASSERT_EQ(*many_root, SpecRootOf(model)) << "version " << version;
    ASSERT_EQ(many_batch.count(), one_batch.count()) << "version " << version;
    ASSERT_EQ(many_batch.bytes(), one_batch.bytes()) << "version " << version;
    ASSERT_TRUE(BatchOps(many_batch) == BatchOps(one_batch)) << "version " << version;
    ASSERT_TRUE(one_store.Write(one_batch, Durability::kSynced).ok());
    ASSERT_TRUE(many_store.Write(many_batch, Durability::kSynced).ok());
    one->Commit();
    many->Commit();
    for (int i = 0; i < 20; ++i) {
      const Bytes& k = key_pool[rng() % key_pool.size()];
      auto it = model.find(k);
      ExpectProven(*many, version, k,
                   it == model.end() ? std::nullopt : std::optional<Bytes>(it->second));
    }
  }
  EXPECT_EQ(parallel_sized, 11u);
}

TEST(StateTreeTest, DifferentialAgainstMapModel) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(ReproduceLine(seed));
  std::mt19937_64 rng(seed);
  MemKvStore store;
  constexpr uint64_t kKept = 8;
  const StateTree::Options options{.cache_bytes_max = 64u << 10, .versions_kept = kKept};
  auto tree = OpenTree(&store, options);
  Model model;
  std::map<uint64_t, std::pair<Hash256, Model>> history;
  std::vector<Bytes> key_pool;
  for (int i = 0; i < 400; ++i) key_pool.push_back(RandomBytes(rng, 1 + rng() % 12));
  uint64_t version = 0;
  for (int step = 0; step < 120; ++step) {
    version += 1 + rng() % 3;
    Changes c;
    const size_t n = rng() % 40;
    for (size_t i = 0; i < n; ++i) {
      const Bytes& k = key_pool[rng() % key_pool.size()];
      if (rng() % 3 == 0) {
        c[k] = std::nullopt;
      } else {
        c[k] = RandomBytes(rng, rng() % 4);  // small values repeat, so no-op puts happen
      }
    }
    if (rng() % 6 == 0) {
      WriteBatch dropped;
      ASSERT_TRUE(tree->Stage(version, c, &dropped).ok());
      tree->Abandon();
      ASSERT_EQ(tree->root(),
                history.empty() ? StateTree::EmptyRoot() : history.rbegin()->second.first);
      continue;
    }
    ApplyToModel(c, model);
    const Hash256 root = CommitVersion(*tree, store, version, c);
    ASSERT_EQ(root, SpecRootOf(model)) << "version " << version;
    history[version] = {root, model};
    if (rng() % 10 == 0) tree = OpenTree(&store, options);
    ASSERT_EQ(tree->root(), root);
    for (int i = 0; i < 10; ++i) {
      const Bytes& k = key_pool[rng() % key_pool.size()];
      auto it = model.find(k);
      const std::optional<Bytes> expected =
          it == model.end() ? std::nullopt : std::optional<Bytes>(it->second);
      ASSERT_EQ(*tree->Get(k), expected);
      // A kept version picked at random, proven against its recorded root.
      auto h = history.lower_bound(version + 1 > kKept ? version + 1 - kKept : 0);
      std::advance(h, rng() % std::distance(h, history.end()));
      auto old = h->second.second.find(k);
      ExpectProven(
          *tree, h->first, k,
          old == h->second.second.end() ? std::nullopt : std::optional<Bytes>(old->second));
      ASSERT_EQ(*tree->RootAt(h->first), h->second.first);
    }
  }
  for (const auto& [v, entry] : history) {
    if (v + kKept <= version) {
      EXPECT_EQ(tree->RootAt(v).status().code(), StatusCode::kNotFound);
    }
  }
}

}  // namespace
}  // namespace agora
