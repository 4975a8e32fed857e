// Account addresses: "agora1" followed by 38 characters.
//
// An address is the 20-byte BLAKE2b-160 of an ed25519 public key, written in
// bech32m (BIP 350) with the human-readable part "agora". The BCH checksum
// detects every error that touches up to four characters, so any one-character
// typo (and any insertion, deletion or case change) is rejected, never
// silently sent to someone else's account.
//
// Thread safety: values.
#ifndef AGORA_COMMON_ADDRESS_H_
#define AGORA_COMMON_ADDRESS_H_

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/keys.h"
#include "common/status.h"

namespace agora {

class Address {
 public:
  static constexpr size_t kSize = 20;
  static constexpr std::string_view kHumanPart = "agora";

  Address() = default;
  static Address FromPublicKey(const PublicKey& key);
  // For untrusted bytes (a transaction's recipient): Corruption unless 20 bytes.
  static Result<Address> FromBytes(ByteSpan b);
  // Parses the text form; every typo is an InvalidArgument naming the problem.
  static Result<Address> Parse(std::string_view text);

  std::string ToString() const;
  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }
  ByteSpan span() const { return bytes_; }

  friend auto operator<=>(const Address&, const Address&) = default;

 private:
  std::array<uint8_t, kSize> bytes_{};
};

}  // namespace agora

#endif  // AGORA_COMMON_ADDRESS_H_
