// Committed blocks on disk: block, commit, id -> height and transaction
// index, written in the same batch as the ledger state so a crash leaves
// either all of a block or none of it.
//
// Keys: kBlock height(8) 0x00 -> Block, kBlock height(8) 0x01 -> Commit,
// kBlock height(8) 0x02 -> BlockResults (what the block did: codes, logs and
// events, for the block_results RPC; stores written before it have none),
// kBlockByHash hash -> height(8), kTransaction id -> height(8) index(4)
// code(4), kMeta "height" -> height(8).
//
// Thread safety: not thread-safe; the node calls it from its one thread.
#ifndef AGORA_CONSENSUS_CHAIN_BLOCK_STORE_H_
#define AGORA_CONSENSUS_CHAIN_BLOCK_STORE_H_

#include <optional>

#include "common/hash.h"
#include "common/kv.h"
#include "consensus/ledger/application.h"
#include "proto/block.pb.h"

namespace agora::consensus {

struct TxLocation {
  uint64_t height = 0;
  uint32_t index = 0;
  TxCode code = TxCode::kOk;
};

class BlockStore {
 public:
  explicit BlockStore(KvStore* store) : store_(store) {}

  // Reads the committed height and the last block's header.
  Status Load();

  uint64_t height() const { return height_; }
  const Hash256& last_block_hash() const { return last_hash_; }
  // REQUIRES: height() > 0
  const proto::BlockHeader& last_header() const { return last_header_; }

  // Adds the block, its commit, its results and its transaction index
  // (transactions that paid their fee) to `batch`.
  void Add(const proto::Block& block, const Hash256& hash, const proto::Commit& commit,
           const std::vector<TxResult>& outcomes, const std::vector<Event>& end_events,
           WriteBatch* batch) const;
  // Call once the batch from Add is durable.
  void Committed(const proto::Block& block, const Hash256& hash);

  Result<std::optional<proto::Block>> BlockAt(uint64_t height);
  Result<std::optional<proto::Commit>> CommitAt(uint64_t height);
  Result<std::optional<uint64_t>> HeightOf(const Hash256& block_hash);
  Result<std::optional<TxLocation>> FindTx(const Hash256& id);
  // Empty for a height not committed here, or committed by a node version
  // that did not keep results.
  Result<std::optional<proto::BlockResults>> ResultsAt(uint64_t height);

 private:
  KvStore* store_;
  uint64_t height_ = 0;
  Hash256 last_hash_;
  proto::BlockHeader last_header_;
};

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_CHAIN_BLOCK_STORE_H_
