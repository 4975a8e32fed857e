#include "common/merkle.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace agora::merkle {
namespace {

std::vector<Hash256> Items(size_t n) {
  std::vector<Hash256> items;
  for (size_t i = 0; i < n; ++i) items.push_back(Blake2b256("item " + std::to_string(i)));
  return items;
}

Hash256 Tagged(uint8_t tag, ByteSpan a, ByteSpan b = {}) {
  Bytes buf{tag};
  buf.insert(buf.end(), a.begin(), a.end());
  buf.insert(buf.end(), b.begin(), b.end());
  return Blake2b256(buf);
}

// RFC 9162 §2.1.1 written the direct way, independently of merkle.cc.
Hash256 Reference(std::span<const Hash256> items) {
  if (items.size() == 1) return Tagged(0x00, items[0].span());
  size_t k = 1;
  while (k * 2 < items.size()) k *= 2;
  const Hash256 l = Reference(items.first(k)), r = Reference(items.subspan(k));
  return Tagged(0x01, l.span(), r.span());
}

TEST(MerkleTest, EmptyTreeIsZero) {
  EXPECT_TRUE(Root({}).IsZero());
  Proof p;
  EXPECT_FALSE(Verify(Hash256{}, Blake2b256("x"), p));  // no leaf can be in it
}

TEST(MerkleTest, ShapesOfSmallTrees) {
  const std::vector<Hash256> it = Items(5);
  auto L = [&](int i) { return Tagged(0x00, it[i].span()); };
  auto N = [](const Hash256& a, const Hash256& b) { return Tagged(0x01, a.span(), b.span()); };
  EXPECT_EQ(Root(std::span(it).first(1)), L(0));
  EXPECT_EQ(Root(std::span(it).first(2)), N(L(0), L(1)));
  EXPECT_EQ(Root(std::span(it).first(3)), N(N(L(0), L(1)), L(2)));
  EXPECT_EQ(Root(std::span(it).first(5)), N(N(N(L(0), L(1)), N(L(2), L(3))), L(4)));
  EXPECT_EQ(HashLeaf(it[0], it[1]), Tagged(0x00, it[0].span(), it[1].span()));
  EXPECT_EQ(HashNode(it[0], it[1]), Tagged(0x01, it[0].span(), it[1].span()));
  // The tags separate leaves from nodes over the same 64 bytes.
  EXPECT_NE(HashLeaf(it[0], it[1]), HashNode(it[0], it[1]));
}

TEST(MerkleTest, RootEqualsTheRecursiveDefinitionAndDependsOnOrder) {
  for (size_t n = 1; n <= 130; ++n) {
    std::vector<Hash256> items = Items(n);
    const Hash256 root = Root(items);
    ASSERT_EQ(root, Reference(items)) << "n=" << n;
    if (n >= 2) {
      std::swap(items[0], items[n - 1]);
      EXPECT_NE(Root(items), root) << "n=" << n;
    }
  }
}

TEST(MerkleTest, EveryLeafProvesAndNothingElseDoes) {
  for (size_t n = 1; n <= 70; ++n) {
    const std::vector<Hash256> items = Items(n);
    const Hash256 root = Root(items);
    for (uint64_t i = 0; i < n; ++i) {
      const Proof p = Prove(items, i);
      ASSERT_EQ(p.index, i);
      ASSERT_EQ(p.size, n);
      ASSERT_TRUE(Verify(root, items[i], p)) << "n=" << n << " i=" << i;
      // Another item at the same place.
      EXPECT_FALSE(Verify(root, Blake2b256("not an item"), p)) << n << " " << i;
      // The same path claimed for another index or tree size.
      Proof q = p;
      q.index = (i + 1) % n;
      if (n > 1) {
        EXPECT_FALSE(Verify(root, items[i], q)) << n << " " << i;
      }
      // (The root does not commit to the size: a path can also fit a
      // larger tree with the same shape above the leaf, so callers pass the
      // size they know, as the ledger does with H/C + 1.)
      q = p;
      q.index = n;  // out of range
      EXPECT_FALSE(Verify(root, items[i], q));
      // A sibling too many, one too few, one changed.
      q = p;
      q.siblings.push_back(root);
      EXPECT_FALSE(Verify(root, items[i], q));
      if (!p.siblings.empty()) {
        q = p;
        q.siblings.pop_back();
        EXPECT_FALSE(Verify(root, items[i], q));
        q = p;
        q.siblings[0].bytes[7] ^= 1;
        EXPECT_FALSE(Verify(root, items[i], q));
      }
      // Against another root.
      EXPECT_FALSE(Verify(Blake2b256("other"), items[i], p));
    }
  }
}

TEST(MerkleTest, ProofDepthIsTheTreeHeight) {
  const std::vector<Hash256> items = Items(51);  // H/C + 1 checkpoints at the defaults
  EXPECT_EQ(Prove(items, 0).siblings.size(), 6u);
  EXPECT_EQ(Prove(items, 50).siblings.size(), 3u);  // 32 | (16 | (2 | 1))
}

TEST(MerkleTest, SiblingsRoundTripAndMalformedBytesAreRefused) {
  const std::vector<Hash256> items = Items(9);
  const Proof p = Prove(items, 4);
  const Bytes encoded = EncodeSiblings(p.siblings);
  EXPECT_EQ(encoded.size(), p.siblings.size() * 32);
  Result<std::vector<Hash256>> back = DecodeSiblings(encoded);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, p.siblings);
  Bytes odd = encoded;
  odd.pop_back();
  EXPECT_EQ(DecodeSiblings(odd).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeSiblings(Bytes(65 * 32, 0)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(DecodeSiblings(Bytes(64 * 32, 0)).ok());
  EXPECT_TRUE(DecodeSiblings({})->empty());
}

}  // namespace
}  // namespace agora::merkle
