// Blocks and commits: hashes, the transaction Merkle root, and commit
// verification. A block's hash is BLAKE2b-256 of its header's canonical
// bytes; a commit proves a block by more than 2/3 of the voting power of
// the validator set at its height precommitting its hash in one round.
//
// Thread safety: free functions, thread-safe.
#ifndef AGORA_CONSENSUS_CHAIN_BLOCK_H_
#define AGORA_CONSENSUS_CHAIN_BLOCK_H_

#include <string_view>
#include <vector>

#include "common/hash.h"
#include "common/status.h"
#include "consensus/types.h"
#include "consensus/validator_set.h"
#include "proto/block.pb.h"

namespace agora::consensus {

class SignatureCache;  // consensus/ledger/tx.h

inline constexpr size_t kBlockTxsMax = 5'000;
inline constexpr size_t kBlockBytesMax = 8u << 20;

Hash256 HeaderHash(const proto::BlockHeader& header);

// merkle::Root (common/merkle.h) over the leaves the chain passes: the
// BLAKE2b-256 of each transaction's raw SignedTx bytes, signature included
// (not the tx id, which covers the body only), so the header commits to
// the exact bytes and signatures of the block; the zero hash for a block
// without transactions. Known-answer vectors: docs/vectors.md.
Hash256 TxRoot(const std::vector<Hash256>& leaves);

Hash256 CommitHash(const proto::Commit& commit);
Hash256 ValidatorsHash(const ValidatorSet& set);

// The commit for `decide`'s precommits, signatures in validator order.
proto::Commit MakeCommit(uint64_t height, uint32_t round, const Hash256& block,
                         const std::vector<Vote>& precommits);

// OK iff `commit` is for (height, block_hash), names each validator at most
// once, every signature is a valid precommit of that validator for that
// block and round, and the signers hold more than 2/3 of the power.
// Errors name what failed (Unauthenticated for a bad signature,
// InvalidArgument for the rest): whoever sent it is faulty. With `cache`,
// signatures it already holds (precommits the node checked as votes) are not
// verified again, and those that verify are added.
Status VerifyCommit(const proto::Commit& commit, const ValidatorSet& set, std::string_view chain_id,
                    uint64_t height, const Hash256& block_hash,
                    SignatureCache* cache = nullptr);

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_CHAIN_BLOCK_H_
