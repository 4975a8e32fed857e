#include "consensus/chain/block_store.h"

#include "common/proto_codec.h"
#include "consensus/chain/block.h"

namespace agora::consensus {
namespace {

constexpr std::string_view kHeightKey = "height";

Bytes BlockKey(uint64_t height, uint8_t part) {
  Bytes key;
  PutU64BigEndian(key, height);
  key.push_back(part);
  return key;
}

uint32_t ReadU32(ByteSpan b, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | b[at + i];
  return v;
}

proto::StoredEvent EventProto(const Event& e) {
  proto::StoredEvent out;
  out.set_type(e.type);
  for (const auto& [key, value] : e.attributes) {
    out.add_keys(key);
    out.add_values(value);
  }
  return out;
}

template <typename Message>
Result<std::optional<Message>> GetMessage(KvStore* store, KeyPrefix prefix, ByteSpan key) {
  AGORA_ASSIGN_OR_RETURN(std::optional<Bytes> bytes, store->Get(prefix, key));
  if (!bytes) return std::optional<Message>();
  Message m;
  Status s = DecodeStrict(*bytes, kValueBytesMax, m);
  if (!s.ok()) return Status::Corruption("stored block data: " + s.message());
  return std::optional<Message>(std::move(m));
}

}  // namespace

Status BlockStore::Load() {
  AGORA_ASSIGN_OR_RETURN(std::optional<Bytes> h,
                         store_->Get(KeyPrefix::kMeta, AsBytes(kHeightKey)));
  if (!h) {
    height_ = 0;
    return Status::Ok();
  }
  if (h->size() != 8) return Status::Corruption("stored height is not 8 bytes");
  height_ = GetU64BigEndian(*h);
  AGORA_ASSIGN_OR_RETURN(std::optional<proto::Block> block, BlockAt(height_));
  if (!block) {
    return Status::Corruption("block " + std::to_string(height_) +
                              " is missing from the store; restore it or resync from genesis");
  }
  last_header_ = block->header();
  last_hash_ = HeaderHash(last_header_);
  return Status::Ok();
}

void BlockStore::Add(const proto::Block& block, const Hash256& hash, const proto::Commit& commit,
                     const std::vector<TxResult>& outcomes, const std::vector<Event>& end_events,
                     WriteBatch* batch) const {
  const uint64_t height = block.header().height();
  batch->Put(KeyPrefix::kBlock, BlockKey(height, 0), EncodeDeterministic(block));
  batch->Put(KeyPrefix::kBlock, BlockKey(height, 1), EncodeDeterministic(commit));
  proto::BlockResults results;
  for (const TxResult& r : outcomes) {
    proto::StoredTxResult* t = results.add_txs();
    t->set_hash(std::string(r.hash.bytes.begin(), r.hash.bytes.end()));
    t->set_code(static_cast<uint32_t>(r.code));
    t->set_log(r.log);
    for (const Event& e : r.events) *t->add_events() = EventProto(e);
    t->set_charged(r.charged);
  }
  for (const Event& e : end_events) *results.add_end_events() = EventProto(e);
  batch->Put(KeyPrefix::kBlock, BlockKey(height, 2), EncodeDeterministic(results));
  Bytes h;
  PutU64BigEndian(h, height);
  batch->Put(KeyPrefix::kBlockByHash, hash.bytes, h);
  for (uint32_t i = 0; i < outcomes.size(); ++i) {
    // A transaction that did not pay its fee (its nonce or fee was wrong
    // when it ran) used nothing: it may still run later, so it is not
    // indexed as committed. Otherwise a proposer could cancel anyone's
    // pending transaction for free by putting it in a block out of order.
    if (!outcomes[i].charged) continue;
    Bytes location;
    PutU64BigEndian(location, height);
    for (int shift : {24, 16, 8, 0}) location.push_back(static_cast<uint8_t>(i >> shift));
    const uint32_t code = static_cast<uint32_t>(outcomes[i].code);
    for (int shift : {24, 16, 8, 0}) location.push_back(static_cast<uint8_t>(code >> shift));
    batch->Put(KeyPrefix::kTransaction, outcomes[i].hash.bytes, location);
  }
  batch->Put(KeyPrefix::kMeta, AsBytes(kHeightKey), h);
}

void BlockStore::Committed(const proto::Block& block, const Hash256& hash) {
  height_ = block.header().height();
  last_header_ = block.header();
  last_hash_ = hash;
}

Result<std::optional<proto::Block>> BlockStore::BlockAt(uint64_t height) {
  return GetMessage<proto::Block>(store_, KeyPrefix::kBlock, BlockKey(height, 0));
}

Result<std::optional<proto::Commit>> BlockStore::CommitAt(uint64_t height) {
  return GetMessage<proto::Commit>(store_, KeyPrefix::kBlock, BlockKey(height, 1));
}

Result<std::optional<proto::BlockResults>> BlockStore::ResultsAt(uint64_t height) {
  return GetMessage<proto::BlockResults>(store_, KeyPrefix::kBlock, BlockKey(height, 2));
}

Result<std::optional<uint64_t>> BlockStore::HeightOf(const Hash256& block_hash) {
  AGORA_ASSIGN_OR_RETURN(std::optional<Bytes> h,
                         store_->Get(KeyPrefix::kBlockByHash, block_hash.bytes));
  if (!h) return std::optional<uint64_t>();
  if (h->size() != 8) return Status::Corruption("stored block index entry is not 8 bytes");
  return std::optional<uint64_t>(GetU64BigEndian(*h));
}

Result<std::optional<TxLocation>> BlockStore::FindTx(const Hash256& id) {
  AGORA_ASSIGN_OR_RETURN(std::optional<Bytes> v, store_->Get(KeyPrefix::kTransaction, id.bytes));
  if (!v) return std::optional<TxLocation>();
  if (v->size() != 16) return Status::Corruption("stored transaction index entry is not 16 bytes");
  return std::optional<TxLocation>(
      TxLocation{GetU64BigEndian(*v), ReadU32(*v, 8), static_cast<TxCode>(ReadU32(*v, 12))});
}

}  // namespace agora::consensus
