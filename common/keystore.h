// An ed25519 secret key kept in a password-protected file.
//
// The file is JSON so an operator can read who it belongs to without the
// password. The seed is sealed with XChaCha20-Poly1305 under a key that
// Argon2id derives from the password; the header (public key, KDF
// parameters, salt) is bound as associated data, so editing any of it breaks
// the seal. A short password check (a hash of more Argon2id output) lets a
// wrong password be told apart from a damaged file, at no loss of security:
// testing a guess still costs one Argon2id run.
//
// Files are written atomically with mode 0600 and never silently replaced.
//
// Thread safety: functions are thread-safe.
#ifndef AGORA_COMMON_KEYSTORE_H_
#define AGORA_COMMON_KEYSTORE_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/address.h"
#include "common/keys.h"
#include "common/status.h"

namespace agora {

struct KdfParams {
  uint64_t opslimit;
  uint64_t memlimit_bytes;

  // libsodium's "moderate" setting: 3 passes over 256 MiB, about a second.
  static KdfParams Default();
  // The smallest setting libsodium accepts; for tests only.
  static KdfParams Fast();
};

struct KeystoreInfo {
  std::string name;
  PublicKey public_key;
  Address address;
};

inline constexpr size_t kKeystoreFileBytesMax = 64 * 1024;

// Creates `path`; AlreadyExists if it is there.
Status WriteKeystore(const std::filesystem::path& path, std::string_view name,
                     const SecretKey& key, std::string_view password,
                     const KdfParams& params = KdfParams::Default());

// Reads the public part of a keystore; needs no password.
Result<KeystoreInfo> ReadKeystoreInfo(const std::filesystem::path& path);

// Decrypts the key. Errors:
//   Unauthenticated  the password is wrong;
//   Corruption       the file is truncated, not a keystore, or was modified;
//   NotFound / IoError / PermissionDenied  the file cannot be read.
Result<SecretKey> ReadKeystore(const std::filesystem::path& path, std::string_view password);

}  // namespace agora

#endif  // AGORA_COMMON_KEYSTORE_H_
