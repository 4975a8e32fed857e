#include "common/hash.h"

#include <algorithm>

#include "common/encoding.h"
#include "common/sodium.h"

namespace agora {

std::string Hash256::ToHex() const { return HexEncode(bytes); }

Result<Hash256> Hash256::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kSize) {
    return Status::InvalidArgument("a hash is 64 hex digits, got " + std::to_string(hex.size()));
  }
  AGORA_ASSIGN_OR_RETURN(Bytes raw, HexDecode(hex));
  return FromBytes(raw);
}

Hash256 Hash256::FromBytes(ByteSpan b) {
  AGORA_CHECK(b.size() == kSize);
  Hash256 h;
  std::copy(b.begin(), b.end(), h.bytes.begin());
  return h;
}

Result<Hash256> Hash256::Parse(ByteSpan b) {
  if (b.size() != kSize) {
    return Status::Corruption("a hash is 32 bytes, got " + std::to_string(b.size()));
  }
  return FromBytes(b);
}

bool Hash256::IsZero() const {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t x) { return x == 0; });
}

KeyedHash256Hasher::KeyedHash256Hasher() {
  EnsureSodium();
  crypto_shorthash_keygen(key_.data());
}

size_t KeyedHash256Hasher::operator()(const Hash256& h) const {
  uint64_t out = 0;
  crypto_shorthash(reinterpret_cast<uint8_t*>(&out), h.bytes.data(), h.bytes.size(), key_.data());
  return static_cast<size_t>(out);
}

Hash256 Blake2b256(ByteSpan data) {
  EnsureSodium();
  Hash256 h;
  crypto_generichash(h.bytes.data(), h.bytes.size(), data.data(), data.size(), nullptr, 0);
  return h;
}

Bytes Blake2b(ByteSpan data, size_t out_len) {
  AGORA_CHECK(out_len >= crypto_generichash_BYTES_MIN && out_len <= crypto_generichash_BYTES_MAX);
  EnsureSodium();
  Bytes out(out_len);
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), nullptr, 0);
  return out;
}

Blake2b256Hasher::Blake2b256Hasher() {
  EnsureSodium();
  crypto_generichash_init(&state_, nullptr, 0, Hash256::kSize);
}

Blake2b256Hasher& Blake2b256Hasher::Update(ByteSpan data) {
  AGORA_CHECK(!finished_);
  crypto_generichash_update(&state_, data.data(), data.size());
  return *this;
}

Hash256 Blake2b256Hasher::Finish() {
  AGORA_CHECK(!finished_);
  finished_ = true;
  Hash256 h;
  crypto_generichash_final(&state_, h.bytes.data(), h.bytes.size());
  return h;
}

}  // namespace agora
