// The one binary Merkle tree of Agora: the block's transaction root, a
// task's checkpoint commitment and the nodes of the state tree all hash the
// same way (docs/merkle.md).
//
//   leaf  = BLAKE2b-256(0x00 || data)
//   node  = BLAKE2b-256(0x01 || left || right)
//   empty = 32 zero bytes
//
// A list of n items is split as RFC 9162 §2.1.1 splits it: the left subtree
// holds the largest power of two below n (the same tree as pairing each
// level and carrying an odd last node up unchanged). The 0x00 / 0x01 tags
// keep a leaf from ever being read as a node (the second-preimage attack on
// untagged trees). The state tree (common/state_tree.h) uses HashLeaf over
// (key hash || value hash) and HashNode for its binary levels, with the
// same empty hash.
//
// An inclusion proof is RFC 9162's audit path: the sibling hashes from the
// leaf up, checked with the index and the tree size it was made for.
//
// Thread safety: free functions.
#ifndef AGORA_COMMON_MERKLE_H_
#define AGORA_COMMON_MERKLE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/status.h"

namespace agora::merkle {

inline constexpr uint8_t kLeafTag = 0x00;
inline constexpr uint8_t kNodeTag = 0x01;
// Deepest proof of any tree this code builds (2^64 leaves).
inline constexpr size_t kProofDepthMax = 64;

Hash256 HashLeaf(ByteSpan data);
// HashLeaf(a || b) without building the concatenation.
Hash256 HashLeaf(const Hash256& a, const Hash256& b);
Hash256 HashNode(const Hash256& left, const Hash256& right);

// Root over items, each hashed as a leaf (HashLeaf(item.span())); the zero
// hash for none.
Hash256 Root(std::span<const Hash256> items);

struct Proof {
  uint64_t index = 0;  // of the leaf
  uint64_t size = 0;   // leaves in the tree
  std::vector<Hash256> siblings;  // from the leaf's sibling up to the root's child
};

// The audit path of items[index]. REQUIRES: index < items.size()
Proof Prove(std::span<const Hash256> items, uint64_t index);

// True iff `item` is at `proof.index` of a tree of `proof.size` leaves
// whose root is `root`. Never reads past the proof; any malformed proof
// (index out of range, too few or too many siblings) is simply false. The
// root does not commit to the size: the caller passes the size it knows
// (the ledger: H/C + 1 checkpoints from the job's spec).
bool Verify(const Hash256& root, const Hash256& item, const Proof& proof);

// Siblings as 32-byte words, concatenated (how messages carry a proof).
Bytes EncodeSiblings(std::span<const Hash256> siblings);
// InvalidArgument unless the length is a multiple of 32 and at most
// kProofDepthMax hashes.
Result<std::vector<Hash256>> DecodeSiblings(ByteSpan bytes);

}  // namespace agora::merkle

#endif  // AGORA_COMMON_MERKLE_H_
