// BLAKE2b hashing (libsodium's crypto_generichash) and the 32-byte Hash256
// that names blocks, transactions, blobs and checkpoints.
//
// Thread safety: free functions are thread-safe; a Blake2b256Hasher is not.
#ifndef AGORA_COMMON_HASH_H_
#define AGORA_COMMON_HASH_H_

#include <sodium.h>

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "common/bytes.h"
#include "common/status.h"

namespace agora {

struct Hash256 {
  static constexpr size_t kSize = 32;
  std::array<uint8_t, kSize> bytes{};

  ByteSpan span() const { return bytes; }
  std::string ToHex() const;
  // Accepts exactly 64 hex digits.
  static Result<Hash256> FromHex(std::string_view hex);
  // REQUIRES: b.size() == kSize
  static Hash256 FromBytes(ByteSpan b);
  // Returns Corruption if b is not exactly 32 bytes (for untrusted input).
  static Result<Hash256> Parse(ByteSpan b);
  bool IsZero() const;

  friend auto operator<=>(const Hash256&, const Hash256&) = default;
};

Hash256 Blake2b256(ByteSpan data);
inline Hash256 Blake2b256(std::string_view data) { return Blake2b256(AsBytes(data)); }

// Hashes a Hash256 for unordered containers with SipHash under a random key
// drawn per instance: whoever chooses the hashes (peers, transaction
// senders) cannot grind them into one bucket. Copies share the key.
class KeyedHash256Hasher {
 public:
  KeyedHash256Hasher();
  size_t operator()(const Hash256& h) const;

 private:
  std::array<uint8_t, crypto_shorthash_KEYBYTES> key_;
};

// BLAKE2b with any output length from 16 to 64 bytes.
// REQUIRES: 16 <= out_len <= 64
Bytes Blake2b(ByteSpan data, size_t out_len);

// Incremental BLAKE2b-256 for data that arrives in pieces.
// Copyable: a copy goes on from the same prefix (CheckpointHash finishes one
// copy at the end of a body and the original after more bytes).
class Blake2b256Hasher {
 public:
  Blake2b256Hasher();
  Blake2b256Hasher& Update(ByteSpan data);
  Blake2b256Hasher& Update(std::string_view data) { return Update(AsBytes(data)); }
  // May be called once.
  Hash256 Finish();

 private:
  crypto_generichash_state state_;
  bool finished_ = false;
};
static_assert(std::is_trivially_copyable_v<crypto_generichash_state>,
              "Blake2b256Hasher copies libsodium's state by value");

}  // namespace agora

#endif  // AGORA_COMMON_HASH_H_
