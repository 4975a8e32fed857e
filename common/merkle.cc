#include "common/merkle.h"

#include <array>
#include <bit>
#include <cstring>

#include "common/check.h"

namespace agora::merkle {
namespace {

// The largest power of two strictly below n. REQUIRES: n >= 2
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

Hash256 RootOfLeaves(std::span<const Hash256> leaves) {
  if (leaves.size() == 1) return leaves[0];
  const uint64_t k = SplitPoint(leaves.size());
  return HashNode(RootOfLeaves(leaves.first(k)), RootOfLeaves(leaves.subspan(k)));
}

void PathOf(std::span<const Hash256> leaves, uint64_t index, std::vector<Hash256>* out) {
  if (leaves.size() <= 1) return;
  const uint64_t k = SplitPoint(leaves.size());
  if (index < k) {
    PathOf(leaves.first(k), index, out);
    out->push_back(RootOfLeaves(leaves.subspan(k)));
  } else {
    PathOf(leaves.subspan(k), index - k, out);
    out->push_back(RootOfLeaves(leaves.first(k)));
  }
}

std::vector<Hash256> LeavesOf(std::span<const Hash256> items) {
  std::vector<Hash256> leaves;
  leaves.reserve(items.size());
  for (const Hash256& item : items) leaves.push_back(HashLeaf(item.span()));
  return leaves;
}

}  // namespace

Hash256 HashLeaf(ByteSpan data) {
  Blake2b256Hasher h;
  h.Update(ByteSpan(&kLeafTag, 1)).Update(data);
  return h.Finish();
}

Hash256 HashLeaf(const Hash256& a, const Hash256& b) {
  std::array<uint8_t, 1 + 2 * Hash256::kSize> buf;
  buf[0] = kLeafTag;
  std::memcpy(&buf[1], a.bytes.data(), Hash256::kSize);
  std::memcpy(&buf[1 + Hash256::kSize], b.bytes.data(), Hash256::kSize);
  return Blake2b256(buf);
}

Hash256 HashNode(const Hash256& left, const Hash256& right) {
  std::array<uint8_t, 1 + 2 * Hash256::kSize> buf;
  buf[0] = kNodeTag;
  std::memcpy(&buf[1], left.bytes.data(), Hash256::kSize);
  std::memcpy(&buf[1 + Hash256::kSize], right.bytes.data(), Hash256::kSize);
  return Blake2b256(buf);
}

Hash256 Root(std::span<const Hash256> items) {
  if (items.empty()) return Hash256{};
  // Pair each level, carrying an odd last node up: the same tree as the
  // recursive split, without recursion.
  std::vector<Hash256> level = LeavesOf(items);
  while (level.size() > 1) {
    size_t out = 0;
    for (size_t i = 0; i + 1 < level.size(); i += 2) level[out++] = HashNode(level[i], level[i + 1]);
    if (level.size() % 2 == 1) level[out++] = level.back();
    level.resize(out);
  }
  return level[0];
}

Proof Prove(std::span<const Hash256> items, uint64_t index) {
  AGORA_CHECK(index < items.size());
  Proof proof;
  proof.index = index;
  proof.size = items.size();
  const std::vector<Hash256> leaves = LeavesOf(items);
  PathOf(leaves, index, &proof.siblings);
  return proof;
}

bool Verify(const Hash256& root, const Hash256& item, const Proof& proof) {
  // RFC 9162 §2.1.3.2.
  if (proof.index >= proof.size || proof.siblings.size() > kProofDepthMax) return false;
  uint64_t fn = proof.index, sn = proof.size - 1;
  Hash256 r = HashLeaf(item.span());
  for (const Hash256& p : proof.siblings) {
    if (sn == 0) return false;
    if ((fn & 1) == 1 || fn == sn) {
      r = HashNode(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = HashNode(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

Bytes EncodeSiblings(std::span<const Hash256> siblings) {
  Bytes out;
  out.reserve(siblings.size() * Hash256::kSize);
  for (const Hash256& h : siblings) out.insert(out.end(), h.bytes.begin(), h.bytes.end());
  return out;
}

Result<std::vector<Hash256>> DecodeSiblings(ByteSpan bytes) {
  if (bytes.size() % Hash256::kSize != 0 || bytes.size() / Hash256::kSize > kProofDepthMax) {
    return Status::InvalidArgument("a Merkle proof is a list of at most 64 hashes of 32 bytes; got " +
                                   std::to_string(bytes.size()) + " bytes");
  }
  std::vector<Hash256> out;
  for (size_t at = 0; at < bytes.size(); at += Hash256::kSize) {
    out.push_back(Hash256::FromBytes(bytes.subspan(at, Hash256::kSize)));
  }
  return out;
}

}  // namespace agora::merkle
