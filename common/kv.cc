#include "common/kv.h"

#include <algorithm>
#include <cstring>

namespace agora {

Bytes MakeKey(KeyPrefix prefix, ByteSpan suffix) {
  Bytes key;
  key.reserve(1 + suffix.size());
  key.push_back(static_cast<uint8_t>(prefix));
  Append(key, suffix);
  return key;
}

namespace {

constexpr uint8_t kPutOp = 0;
constexpr uint8_t kDeleteOp = 1;

template <typename T>
void PutRaw(Bytes& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

template <typename T>
T GetRaw(const uint8_t* at) {
  T v;
  std::memcpy(&v, at, sizeof(T));
  return v;
}

}  // namespace

void WriteBatch::Put(KeyPrefix prefix, ByteSpan suffix, ByteSpan value) {
  AGORA_CHECK(suffix.size() < kKeyBytesMax);
  AGORA_CHECK(value.size() <= kValueBytesMax);
  rep_.push_back(kPutOp);
  PutRaw(rep_, static_cast<uint16_t>(1 + suffix.size()));
  PutRaw(rep_, static_cast<uint32_t>(value.size()));
  rep_.push_back(static_cast<uint8_t>(prefix));
  agora::Append(rep_, suffix);
  agora::Append(rep_, value);
  ++count_;
  bytes_ += 1 + suffix.size() + value.size();
}

void WriteBatch::Delete(KeyPrefix prefix, ByteSpan suffix) {
  AGORA_CHECK(suffix.size() < kKeyBytesMax);
  rep_.push_back(kDeleteOp);
  PutRaw(rep_, static_cast<uint16_t>(1 + suffix.size()));
  rep_.push_back(static_cast<uint8_t>(prefix));
  agora::Append(rep_, suffix);
  ++count_;
  bytes_ += 1 + suffix.size();
}

void WriteBatch::Append(WriteBatch&& other) {
  AGORA_CHECK_MSG(&other != this, "WriteBatch::Append of a batch to itself");
  if (rep_.empty()) {
    rep_ = std::move(other.rep_);
  } else {
    agora::Append(rep_, other.rep_);
  }
  count_ += other.count_;
  bytes_ += other.bytes_;
  other.Clear();
}

WriteBatch::Op WriteBatch::Iterator::operator*() const {
  const bool is_delete = at_[0] == kDeleteOp;
  const size_t key_size = GetRaw<uint16_t>(at_ + 1);
  if (is_delete) return {true, ByteSpan(at_ + 3, key_size), {}};
  const size_t value_size = GetRaw<uint32_t>(at_ + 3);
  return {false, ByteSpan(at_ + 7, key_size), ByteSpan(at_ + 7 + key_size, value_size)};
}

WriteBatch::Iterator& WriteBatch::Iterator::operator++() {
  const size_t key_size = GetRaw<uint16_t>(at_ + 1);
  at_ += at_[0] == kDeleteOp ? 3 + key_size : 7 + key_size + GetRaw<uint32_t>(at_ + 3);
  return *this;
}

// Reads the store's map row by row (under the store's lock) until the store
// is about to change, then walks its own copy of the rows it had not reached.
class MemKvStore::Iterator final : public KvIterator {
 public:
  // REQUIRES: store->mu_ held.
  Iterator(MemKvStore* store, uint8_t tag, std::map<Bytes, Bytes>::const_iterator first)
      : store_(store), tag_(tag) {
    ++store_->open_iterators_;
    Load(first);
    if (valid_) store_->iterators_.push_back(this);
  }
  // A detached iterator still takes the store's lock: none may outlive it.
  ~Iterator() override {
    std::lock_guard lock(store_->mu_);
    Unregister();
    --store_->open_iterators_;
  }

  bool Valid() const override { return valid_; }
  void Next() override {
    AGORA_CHECK(valid_);
    std::lock_guard lock(store_->mu_);
    if (live_) {
      Load(store_->map_.upper_bound(row_.first));
      if (!valid_) Unregister();
      return;
    }
    valid_ = next_ < rest_.size();
    if (valid_) row_ = std::move(rest_[next_++]);
  }
  ByteSpan key() const override {
    AGORA_CHECK(valid_);
    return ByteSpan(row_.first).subspan(1);
  }
  ByteSpan value() const override {
    AGORA_CHECK(valid_);
    return row_.second;
  }
  Status status() const override { return Status::Ok(); }

  // The map is about to change: copy the rows after the current one.
  // REQUIRES: store_->mu_ held, live_.
  void Detach() {
    const auto& map = store_->map_;
    for (auto it = map.upper_bound(row_.first); it != map.end() && it->first[0] == tag_; ++it) {
      rest_.push_back(*it);
    }
    live_ = false;
  }

 private:
  // REQUIRES: store_->mu_ held.
  void Load(std::map<Bytes, Bytes>::const_iterator it) {
    valid_ = it != store_->map_.end() && it->first[0] == tag_;
    if (valid_) row_ = *it;
  }
  // REQUIRES: store_->mu_ held.
  void Unregister() {
    if (!live_) return;
    auto& open = store_->iterators_;
    open.erase(std::remove(open.begin(), open.end(), this), open.end());
    live_ = false;
  }

  MemKvStore* const store_;
  const uint8_t tag_;
  bool valid_ = false;
  bool live_ = true;             // reading store_->map_; else rest_
  std::pair<Bytes, Bytes> row_;  // the current row, full key
  std::vector<std::pair<Bytes, Bytes>> rest_;
  size_t next_ = 0;  // into rest_
};

MemKvStore::~MemKvStore() {
  AGORA_CHECK_MSG(open_iterators_ == 0, "a MemKvStore iterator outlived its store");
}

Result<std::optional<Bytes>> MemKvStore::Get(KeyPrefix prefix, ByteSpan suffix) {
  std::lock_guard lock(mu_);
  auto it = map_.find(MakeKey(prefix, suffix));
  if (it == map_.end()) return std::optional<Bytes>();
  return std::optional<Bytes>(it->second);
}

Status MemKvStore::Write(const WriteBatch& batch, Durability /*durability*/) {
  std::lock_guard lock(mu_);
  for (Iterator* it : iterators_) it->Detach();
  iterators_.clear();
  for (const WriteBatch::Op op : batch) {
    Bytes key(op.key.begin(), op.key.end());
    if (op.is_delete) {
      map_.erase(key);
    } else {
      map_[std::move(key)].assign(op.value.begin(), op.value.end());
    }
  }
  return Status::Ok();
}

std::unique_ptr<KvIterator> MemKvStore::Scan(KeyPrefix prefix, ByteSpan start) {
  std::lock_guard lock(mu_);
  return std::make_unique<Iterator>(this, static_cast<uint8_t>(prefix),
                                    map_.lower_bound(MakeKey(prefix, start)));
}

}  // namespace agora
