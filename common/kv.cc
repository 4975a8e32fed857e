#include "common/kv.h"

namespace agora {

Bytes MakeKey(KeyPrefix prefix, ByteSpan suffix) {
  Bytes key;
  key.reserve(1 + suffix.size());
  key.push_back(static_cast<uint8_t>(prefix));
  Append(key, suffix);
  return key;
}

void WriteBatch::Put(KeyPrefix prefix, ByteSpan suffix, ByteSpan value) {
  AGORA_CHECK(suffix.size() < kKeyBytesMax);
  AGORA_CHECK(value.size() <= kValueBytesMax);
  ops_.push_back({false, MakeKey(prefix, suffix), Bytes(value.begin(), value.end())});
  bytes_ += 1 + suffix.size() + value.size();
}

void WriteBatch::Delete(KeyPrefix prefix, ByteSpan suffix) {
  AGORA_CHECK(suffix.size() < kKeyBytesMax);
  ops_.push_back({true, MakeKey(prefix, suffix), {}});
  bytes_ += 1 + suffix.size();
}

namespace {

// Owns a copy of the range it walks, which makes it a snapshot.
class MemIterator final : public KvIterator {
 public:
  explicit MemIterator(std::vector<std::pair<Bytes, Bytes>> rows) : rows_(std::move(rows)) {}
  bool Valid() const override { return index_ < rows_.size(); }
  void Next() override {
    AGORA_CHECK(Valid());
    ++index_;
  }
  ByteSpan key() const override {
    AGORA_CHECK(Valid());
    return ByteSpan(rows_[index_].first).subspan(1);
  }
  ByteSpan value() const override {
    AGORA_CHECK(Valid());
    return rows_[index_].second;
  }
  Status status() const override { return Status::Ok(); }

 private:
  std::vector<std::pair<Bytes, Bytes>> rows_;
  size_t index_ = 0;
};

}  // namespace

Result<std::optional<Bytes>> MemKvStore::Get(KeyPrefix prefix, ByteSpan suffix) {
  std::lock_guard lock(mu_);
  auto it = map_.find(MakeKey(prefix, suffix));
  if (it == map_.end()) return std::optional<Bytes>();
  return std::optional<Bytes>(it->second);
}

Status MemKvStore::Write(const WriteBatch& batch, Durability /*durability*/) {
  std::lock_guard lock(mu_);
  for (const WriteBatch::Op& op : batch.ops()) {
    if (op.is_delete) {
      map_.erase(op.key);
    } else {
      map_[op.key] = op.value;
    }
  }
  return Status::Ok();
}

std::unique_ptr<KvIterator> MemKvStore::Scan(KeyPrefix prefix, ByteSpan start) {
  std::lock_guard lock(mu_);
  std::vector<std::pair<Bytes, Bytes>> rows;
  const uint8_t tag = static_cast<uint8_t>(prefix);
  for (auto it = map_.lower_bound(MakeKey(prefix, start)); it != map_.end() && it->first[0] == tag;
       ++it) {
    rows.emplace_back(it->first, it->second);
  }
  return std::make_unique<MemIterator>(std::move(rows));
}

}  // namespace agora
