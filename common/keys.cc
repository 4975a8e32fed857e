#include "common/keys.h"

#include <sodium.h>

#include <algorithm>

#include "common/encoding.h"
#include "common/sodium.h"

namespace agora {
namespace {

constexpr std::string_view kSignaturePrefix = "agora-sig-v1";

template <size_t N>
Result<std::array<uint8_t, N>> FixedBytes(ByteSpan b, std::string_view what) {
  if (b.size() != N) {
    return Status::Corruption(std::string(what) + " must be " + std::to_string(N) +
                              " bytes, got " + std::to_string(b.size()));
  }
  std::array<uint8_t, N> out;
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}

}  // namespace

std::string_view SignKindName(SignKind kind) {
  switch (kind) {
    case SignKind::kTransaction: return "transaction";
    case SignKind::kBlockHeader: return "block_header";
    case SignKind::kProposal: return "proposal";
    case SignKind::kPrevote: return "prevote";
    case SignKind::kPrecommit: return "precommit";
    case SignKind::kHandshake: return "handshake";
    case SignKind::kVerdict: return "verdict";
    case SignKind::kValidatorKey: return "validator_key";
  }
  CheckFailed(__FILE__, __LINE__, "known SignKind", std::to_string(static_cast<int>(kind)));
}

Status ValidateChainId(std::string_view chain_id) {
  if (chain_id.empty() || chain_id.size() > kChainIdBytesMax) {
    return Status::InvalidArgument("chain id must be 1 to 64 characters, got " +
                                   std::to_string(chain_id.size()));
  }
  for (char c : chain_id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Status::InvalidArgument("chain id '" + std::string(chain_id) +
                                     "' may only use a-z, 0-9, '.', '_' and '-'");
    }
  }
  return Status::Ok();
}

Bytes SigningBytes(const SignDomain& domain, ByteSpan payload) {
  AGORA_CHECK_MSG(ValidateChainId(domain.chain_id).ok(), domain.chain_id);
  std::string_view kind = SignKindName(domain.kind);
  Bytes out;
  out.reserve(kSignaturePrefix.size() + 3 + domain.chain_id.size() + kind.size() + payload.size());
  Append(out, AsBytes(kSignaturePrefix));
  out.push_back(0);
  out.push_back(static_cast<uint8_t>(domain.chain_id.size()));
  Append(out, AsBytes(domain.chain_id));
  out.push_back(static_cast<uint8_t>(kind.size()));
  Append(out, AsBytes(kind));
  Append(out, payload);
  return out;
}

std::string PublicKey::ToHex() const { return HexEncode(bytes); }

Result<PublicKey> PublicKey::Parse(ByteSpan b) {
  AGORA_ASSIGN_OR_RETURN(auto raw, FixedBytes<kSize>(b, "an ed25519 public key"));
  return PublicKey{raw};
}

Result<PublicKey> PublicKey::FromHex(std::string_view hex) {
  AGORA_ASSIGN_OR_RETURN(Bytes raw, HexDecode(hex));
  return Parse(raw);
}

std::string Signature::ToHex() const { return HexEncode(bytes); }

Result<Signature> Signature::Parse(ByteSpan b) {
  AGORA_ASSIGN_OR_RETURN(auto raw, FixedBytes<kSize>(b, "an ed25519 signature"));
  return Signature{raw};
}

SecretKey SecretKey::Generate() {
  EnsureSodium();
  std::array<uint8_t, kSeedSize> seed;
  randombytes_buf(seed.data(), seed.size());
  SecretKey key = FromSeed(seed).value();
  sodium_memzero(seed.data(), seed.size());
  return key;
}

Result<SecretKey> SecretKey::FromSeed(ByteSpan seed) {
  if (seed.size() != kSeedSize) {
    return Status::InvalidArgument("an ed25519 seed is 32 bytes, got " +
                                   std::to_string(seed.size()));
  }
  EnsureSodium();
  SecretKey key;
  crypto_sign_seed_keypair(key.public_key_.bytes.data(), key.secret_.data(), seed.data());
  return key;
}

SecretKey::~SecretKey() { sodium_memzero(secret_.data(), secret_.size()); }

std::array<uint8_t, SecretKey::kSeedSize> SecretKey::seed() const {
  std::array<uint8_t, kSeedSize> out;
  crypto_sign_ed25519_sk_to_seed(out.data(), secret_.data());
  return out;
}

Signature SecretKey::SignRaw(ByteSpan message) const {
  Signature sig;
  crypto_sign_detached(sig.bytes.data(), nullptr, message.data(), message.size(), secret_.data());
  return sig;
}

Signature SecretKey::Sign(const SignDomain& domain, ByteSpan payload) const {
  return SignRaw(SigningBytes(domain, payload));
}

bool VerifyRaw(const PublicKey& key, ByteSpan message, const Signature& signature) {
  EnsureSodium();
  return crypto_sign_verify_detached(signature.bytes.data(), message.data(), message.size(),
                                     key.bytes.data()) == 0;
}

bool Verify(const PublicKey& key, const SignDomain& domain, ByteSpan payload,
            const Signature& signature) {
  return VerifyRaw(key, SigningBytes(domain, payload), signature);
}

}  // namespace agora
