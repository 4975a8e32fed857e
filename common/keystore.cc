#include "common/keystore.h"

#include <sodium.h>

#include <array>
#include <boost/json.hpp>

#include "common/encoding.h"
#include "common/file_util.h"
#include "common/hash.h"
#include "common/sodium.h"

namespace agora {
namespace {

namespace json = boost::json;

constexpr std::string_view kFormat = "agora-keystore";
constexpr int64_t kVersion = 1;
constexpr std::string_view kKdfName = "argon2id13";
constexpr std::string_view kCipherName = "xchacha20poly1305-ietf";
constexpr size_t kKeyBytes = crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
constexpr size_t kCheckBytes = 32;
// Bounds on parameters read back from a file, so a hostile keystore cannot
// make us spend an hour or all memory before failing.
constexpr uint64_t kOpslimitMax = 16;
constexpr uint64_t kMemlimitBytesMax = 1ull << 30;
constexpr size_t kNameBytesMax = 64;

// Wipes its bytes on destruction.
template <size_t N>
struct SecretBytes {
  std::array<uint8_t, N> bytes{};
  ~SecretBytes() { sodium_memzero(bytes.data(), bytes.size()); }
};

struct Parsed {
  KeystoreInfo info;
  KdfParams params{};
  Bytes salt, nonce, ciphertext, password_check;
};

Status Corrupt(const std::filesystem::path& path, const std::string& why) {
  return Status::Corruption("keystore '" + path.string() + "' is damaged: " + why +
                            "; restore it from your backup");
}

// Derives the sealing key and the password check from the password.
Status DeriveKeys(std::string_view password, ByteSpan salt, const KdfParams& params,
                  SecretBytes<kKeyBytes>& key, Hash256& check) {
  SecretBytes<kKeyBytes + kCheckBytes> out;
  if (crypto_pwhash(out.bytes.data(), out.bytes.size(), password.data(), password.size(),
                    salt.data(), params.opslimit, params.memlimit_bytes,
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::ResourceExhausted("argon2id could not allocate " +
                                     std::to_string(params.memlimit_bytes) + " bytes");
  }
  std::copy_n(out.bytes.begin(), kKeyBytes, key.bytes.begin());
  check = Blake2b256(ByteSpan(out.bytes).subspan(kKeyBytes));
  return Status::Ok();
}

// Everything outside the ciphertext that must not change.
Bytes AssociatedData(const PublicKey& public_key, const KdfParams& params, ByteSpan salt) {
  Bytes ad = ToBytes(kFormat);
  ad.push_back(static_cast<uint8_t>(kVersion));
  Append(ad, public_key.bytes);
  PutU64LittleEndian(ad, params.opslimit);
  PutU64LittleEndian(ad, params.memlimit_bytes);
  Append(ad, salt);
  return ad;
}

Status ValidateName(std::string_view name) {
  if (name.empty() || name.size() > kNameBytesMax) {
    return Status::InvalidArgument("a key name is 1 to 64 characters");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) {
      return Status::InvalidArgument("key name '" + std::string(name) +
                                     "' may only use letters, digits, '-', '_' and '.'");
    }
  }
  return Status::Ok();
}

Result<Bytes> HexField(const json::object& o, std::string_view key, size_t size) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return Status::Corruption(std::string(key) + " missing");
  auto decoded = HexDecode(std::string_view(v->as_string()));
  if (!decoded.ok() || (size != 0 && decoded->size() != size)) {
    return Status::Corruption(std::string(key) + " is not " +
                              (size ? std::to_string(size) + " bytes of hex" : "hex"));
  }
  return decoded;
}

Result<uint64_t> UintField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !(v->is_uint64() || (v->is_int64() && v->as_int64() >= 0))) {
    return Status::Corruption(std::string(key) + " missing or not a non-negative integer");
  }
  return v->is_uint64() ? v->as_uint64() : static_cast<uint64_t>(v->as_int64());
}

Result<Parsed> ParseFields(const json::value& doc) {
  const json::object* o = doc.if_object();
  if (o == nullptr) return Status::Corruption("not a JSON object");
  const json::value* format = o->if_contains("format");
  const json::value* version = o->if_contains("version");
  if (format == nullptr || !format->is_string() || format->as_string() != kFormat) {
    return Status::Corruption("not an Agora keystore");
  }
  if (version == nullptr || !version->is_int64() || version->as_int64() != kVersion) {
    return Status::FailedPrecondition("unsupported keystore version; this build reads version " +
                                      std::to_string(kVersion));
  }
  Parsed p;
  const json::value* name = o->if_contains("name");
  if (name == nullptr || !name->is_string()) return Status::Corruption("name missing");
  p.info.name = std::string(name->as_string());
  AGORA_ASSIGN_OR_RETURN(Bytes public_key, HexField(*o, "public_key", PublicKey::kSize));
  p.info.public_key = PublicKey::Parse(public_key).value();
  p.info.address = Address::FromPublicKey(p.info.public_key);
  const json::value* address = o->if_contains("address");
  if (address == nullptr || !address->is_string() ||
      address->as_string() != p.info.address.ToString()) {
    return Status::Corruption("the address does not belong to the public key");
  }
  const json::value* kdf = o->if_contains("kdf");
  const json::value* cipher = o->if_contains("cipher");
  if (kdf == nullptr || !kdf->is_object() || cipher == nullptr || !cipher->is_object()) {
    return Status::Corruption("kdf or cipher section missing");
  }
  const json::object& k = kdf->as_object();
  const json::object& c = cipher->as_object();
  const json::value* kdf_name = k.if_contains("algorithm");
  const json::value* cipher_name = c.if_contains("algorithm");
  if (kdf_name == nullptr || !kdf_name->is_string() || kdf_name->as_string() != kKdfName ||
      cipher_name == nullptr || !cipher_name->is_string() ||
      cipher_name->as_string() != kCipherName) {
    return Status::Corruption("unknown kdf or cipher algorithm");
  }
  AGORA_ASSIGN_OR_RETURN(p.params.opslimit, UintField(k, "opslimit"));
  AGORA_ASSIGN_OR_RETURN(p.params.memlimit_bytes, UintField(k, "memlimit_bytes"));
  if (p.params.opslimit < crypto_pwhash_OPSLIMIT_MIN || p.params.opslimit > kOpslimitMax ||
      p.params.memlimit_bytes < crypto_pwhash_MEMLIMIT_MIN ||
      p.params.memlimit_bytes > kMemlimitBytesMax) {
    return Status::Corruption("kdf parameters out of range");
  }
  AGORA_ASSIGN_OR_RETURN(p.salt, HexField(k, "salt", crypto_pwhash_SALTBYTES));
  AGORA_ASSIGN_OR_RETURN(p.nonce,
                         HexField(c, "nonce", crypto_aead_xchacha20poly1305_ietf_NPUBBYTES));
  AGORA_ASSIGN_OR_RETURN(p.ciphertext,
                         HexField(c, "ciphertext",
                                  SecretKey::kSeedSize + crypto_aead_xchacha20poly1305_ietf_ABYTES));
  AGORA_ASSIGN_OR_RETURN(p.password_check, HexField(*o, "password_check", kCheckBytes));
  return p;
}

Result<Parsed> Load(const std::filesystem::path& path) {
  AGORA_ASSIGN_OR_RETURN(std::string text, ReadFile(path, kKeystoreFileBytesMax));
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) {
    return Corrupt(path, "it is truncated or not valid JSON (" + std::to_string(text.size()) +
                             " bytes, " + ec.message() + ")");
  }
  auto parsed = ParseFields(doc);
  if (!parsed.ok()) {
    if (parsed.status().code() != StatusCode::kCorruption) {
      return parsed.status().WithContext("keystore '" + path.string() + "'");
    }
    return Corrupt(path, parsed.status().message());
  }
  return parsed;
}

}  // namespace

KdfParams KdfParams::Default() {
  return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
}

KdfParams KdfParams::Fast() { return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN}; }

Status WriteKeystore(const std::filesystem::path& path, std::string_view name,
                     const SecretKey& key, std::string_view password, const KdfParams& params) {
  AGORA_RETURN_IF_ERROR(ValidateName(name));
  if (password.empty()) return Status::InvalidArgument("the password must not be empty");
  EnsureSodium();
  Bytes salt(crypto_pwhash_SALTBYTES);
  Bytes nonce(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  randombytes_buf(salt.data(), salt.size());
  randombytes_buf(nonce.data(), nonce.size());

  SecretBytes<kKeyBytes> seal_key;
  Hash256 check;
  AGORA_RETURN_IF_ERROR(DeriveKeys(password, salt, params, seal_key, check));

  SecretBytes<SecretKey::kSeedSize> seed;
  seed.bytes = key.seed();
  Bytes ad = AssociatedData(key.public_key(), params, salt);
  Bytes ciphertext(seed.bytes.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  unsigned long long ciphertext_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(ciphertext.data(), &ciphertext_len,
                                             seed.bytes.data(), seed.bytes.size(), ad.data(),
                                             ad.size(), nullptr, nonce.data(),
                                             seal_key.bytes.data());
  AGORA_CHECK(ciphertext_len == ciphertext.size());

  json::object doc;
  doc["format"] = kFormat;
  doc["version"] = kVersion;
  doc["name"] = name;
  doc["address"] = Address::FromPublicKey(key.public_key()).ToString();
  doc["public_key"] = key.public_key().ToHex();
  doc["kdf"] = json::object{{"algorithm", kKdfName},
                            {"opslimit", params.opslimit},
                            {"memlimit_bytes", params.memlimit_bytes},
                            {"salt", HexEncode(salt)}};
  doc["cipher"] = json::object{{"algorithm", kCipherName},
                               {"nonce", HexEncode(nonce)},
                               {"ciphertext", HexEncode(ciphertext)}};
  doc["password_check"] = check.ToHex();
  std::string text = json::serialize(doc) + "\n";
  return WriteFileAtomic(path, AsBytes(text), 0600, Overwrite::kRefuse);
}

Result<KeystoreInfo> ReadKeystoreInfo(const std::filesystem::path& path) {
  AGORA_ASSIGN_OR_RETURN(Parsed parsed, Load(path));
  return parsed.info;
}

Result<SecretKey> ReadKeystore(const std::filesystem::path& path, std::string_view password) {
  AGORA_ASSIGN_OR_RETURN(Parsed p, Load(path));
  SecretBytes<kKeyBytes> seal_key;
  Hash256 check;
  AGORA_RETURN_IF_ERROR(DeriveKeys(password, p.salt, p.params, seal_key, check));
  if (sodium_memcmp(check.bytes.data(), p.password_check.data(), kCheckBytes) != 0) {
    return Status::Unauthenticated("wrong password for keystore '" + path.string() + "'");
  }
  SecretBytes<SecretKey::kSeedSize> seed;
  unsigned long long seed_len = 0;
  Bytes ad = AssociatedData(p.info.public_key, p.params, p.salt);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(seed.bytes.data(), &seed_len, nullptr,
                                                 p.ciphertext.data(), p.ciphertext.size(),
                                                 ad.data(), ad.size(), p.nonce.data(),
                                                 seal_key.bytes.data()) != 0) {
    return Corrupt(path, "the encrypted key or its header was modified (integrity check failed)");
  }
  AGORA_ASSIGN_OR_RETURN(SecretKey key, SecretKey::FromSeed(seed.bytes));
  if (key.public_key() != p.info.public_key) {
    return Corrupt(path, "the decrypted key does not match the stored public key");
  }
  return key;
}

}  // namespace agora
