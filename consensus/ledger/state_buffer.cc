#include "consensus/ledger/state_buffer.h"

#include <algorithm>

#include "common/check.h"

namespace agora::consensus {

Bytes U64Bytes(uint64_t v) {
  Bytes out;
  PutU64BigEndian(out, v);
  return out;
}

uint64_t ReadU64(ByteSpan b, size_t offset) {
  AGORA_CHECK(offset + 8 <= b.size());
  return GetU64BigEndian(b.subspan(offset, 8));
}

uint64_t StateReader::GetU64(std::string_view key) {
  std::optional<Bytes> v = Get(AsBytes(key));
  if (!v) return 0;
  AGORA_CHECK_MSG(v->size() == 8, "state value of " + std::string(key) + " is not a u64");
  return ReadU64(*v, 0);
}

std::optional<Bytes> CommittedState::Get(ByteSpan key) {
  Result<std::optional<Bytes>> v = tree_->Get(key);
  AGORA_CHECK_MSG(v.ok(), "cannot read ledger state: " + v.status().message());
  return std::move(*v);
}

std::map<Bytes, Bytes> CommittedState::ScanFrom(ByteSpan prefix, ByteSpan start, size_t limit) {
  std::map<Bytes, Bytes> out;
  const bool after_prefix = std::lexicographical_compare(prefix.begin(), prefix.end(),
                                                         start.begin(), start.end());
  auto it = store_->Scan(KeyPrefix::kState, after_prefix ? start : prefix);
  for (; it->Valid() && out.size() < limit; it->Next()) {
    ByteSpan key = it->key();
    if (key.size() < prefix.size() || !std::equal(prefix.begin(), prefix.end(), key.begin())) {
      break;
    }
    out.emplace(Bytes(key.begin(), key.end()), Bytes(it->value().begin(), it->value().end()));
  }
  AGORA_CHECK_MSG(it->status().ok(), "cannot scan ledger state: " + it->status().message());
  return out;
}

std::optional<Bytes> StateBuffer::Get(ByteSpan key) {
  auto it = changes_.find(Bytes(key.begin(), key.end()));
  if (it != changes_.end()) return it->second;
  return base_->Get(key);
}

std::map<Bytes, Bytes> StateBuffer::ScanFrom(ByteSpan prefix, ByteSpan from, size_t limit) {
  // Deleted keys may hide some of the base's: ask it for enough more.
  size_t deleted = 0;
  const Bytes start = std::lexicographical_compare(prefix.begin(), prefix.end(), from.begin(),
                                                   from.end())
                          ? Bytes(from.begin(), from.end())
                          : Bytes(prefix.begin(), prefix.end());
  auto in_prefix = [&](const Bytes& key) {
    return key.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), key.begin());
  };
  for (auto it = changes_.lower_bound(start); it != changes_.end() && in_prefix(it->first); ++it) {
    if (!it->second) ++deleted;
  }
  // Saturating: SIZE_MAX means "all".
  const size_t wanted = limit > SIZE_MAX - deleted ? SIZE_MAX : limit + deleted;
  std::map<Bytes, Bytes> out = base_->ScanFrom(prefix, start, wanted);
  for (auto it = changes_.lower_bound(start); it != changes_.end() && in_prefix(it->first); ++it) {
    if (it->second) {
      out[it->first] = *it->second;
    } else {
      out.erase(it->first);
    }
  }
  while (out.size() > limit) out.erase(std::prev(out.end()));
  return out;
}

void StateBuffer::Set(std::string_view key, ByteSpan value) {
  changes_[Bytes(key.begin(), key.end())] = Bytes(value.begin(), value.end());
}

void StateBuffer::SetU64(std::string_view key, uint64_t value) { Set(key, U64Bytes(value)); }

void StateBuffer::Delete(std::string_view key) {
  changes_[Bytes(key.begin(), key.end())] = std::nullopt;
}

void StateBuffer::MergeInto(StateBuffer* parent) const {
  AGORA_CHECK(parent == base_);
  for (const auto& [key, value] : changes_) parent->changes_[key] = value;
}

std::string WithBytes(std::string prefix, ByteSpan b) {
  prefix.append(b.begin(), b.end());
  return prefix;
}

std::string WithU64(std::string prefix, uint64_t v) { return WithBytes(std::move(prefix), U64Bytes(v)); }

std::string WithU32(std::string prefix, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) prefix.push_back(static_cast<char>(v >> shift));
  return prefix;
}

}  // namespace agora::consensus
