// ed25519 keys, and signatures that are always bound to a domain.
//
// Every signature in Agora covers
//     SigningBytes(domain, payload) = "agora-sig-v1" 0x00
//                                     len(chain_id) chain_id
//                                     len(kind) kind
//                                     payload
// where the payload is the exact byte string that travels (docs/signing.md).
// Binding the chain id and the message kind means a signature made for one
// chain or one kind of message never verifies as another.
//
// Thread safety: values; a SecretKey wipes its bytes on destruction and may be
// shared read-only between threads.
#ifndef AGORA_COMMON_KEYS_H_
#define AGORA_COMMON_KEYS_H_

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"

namespace agora {

// What a signature is for. Appending a kind is fine; renaming one changes
// the bytes every existing signature covers, so never do it.
enum class SignKind : uint8_t {
  kTransaction,
  kBlockHeader,
  kProposal,
  kPrevote,
  kPrecommit,
  kHandshake,
  kVerdict,
  kValidatorKey,  // a consensus key proving it belongs to an operator
};
std::string_view SignKindName(SignKind kind);

// Chain ids are 1..64 characters of [a-z0-9._-]; they appear in every
// signed message.
inline constexpr size_t kChainIdBytesMax = 64;
Status ValidateChainId(std::string_view chain_id);

struct SignDomain {
  std::string chain_id;  // REQUIRES: ValidateChainId(chain_id).ok()
  SignKind kind;
};

Bytes SigningBytes(const SignDomain& domain, ByteSpan payload);

struct PublicKey {
  static constexpr size_t kSize = 32;
  std::array<uint8_t, kSize> bytes{};

  std::string ToHex() const;
  // For untrusted input: returns Corruption unless b is 32 bytes.
  static Result<PublicKey> Parse(ByteSpan b);
  static Result<PublicKey> FromHex(std::string_view hex);
  friend auto operator<=>(const PublicKey&, const PublicKey&) = default;
};

struct Signature {
  static constexpr size_t kSize = 64;
  std::array<uint8_t, kSize> bytes{};

  std::string ToHex() const;
  static Result<Signature> Parse(ByteSpan b);
  friend bool operator==(const Signature&, const Signature&) = default;
};

class SecretKey {
 public:
  static constexpr size_t kSeedSize = 32;

  // A fresh key from the operating system's entropy source.
  static SecretKey Generate();
  // The key that RFC 8032 derives from a 32-byte seed.
  static Result<SecretKey> FromSeed(ByteSpan seed);

  SecretKey(const SecretKey& other) = default;
  SecretKey& operator=(const SecretKey& other) = default;
  ~SecretKey();

  const PublicKey& public_key() const { return public_key_; }
  // The 32-byte seed; treat the returned bytes as secret.
  std::array<uint8_t, kSeedSize> seed() const;

  Signature Sign(const SignDomain& domain, ByteSpan payload) const;
  // Plain ed25519 over `message` with no domain. Only for test vectors and
  // for protocols that build their own domain bytes; prefer Sign().
  Signature SignRaw(ByteSpan message) const;

 private:
  SecretKey() = default;
  std::array<uint8_t, 64> secret_{};  // libsodium layout: seed || public key
  PublicKey public_key_;
};

// Returns true iff `signature` is a valid, canonical ed25519 signature by
// `key` over SigningBytes(domain, payload).
bool Verify(const PublicKey& key, const SignDomain& domain, ByteSpan payload,
            const Signature& signature);
bool VerifyRaw(const PublicKey& key, ByteSpan message, const Signature& signature);

}  // namespace agora

#endif  // AGORA_COMMON_KEYS_H_
