// The named keys of one home: <home>/keys/<name>.json, one keystore each.
//
// Thread safety: not thread-safe; the CLI uses it from one thread.
#ifndef AGORA_NODE_KEYRING_H_
#define AGORA_NODE_KEYRING_H_

#include <filesystem>
#include <string_view>
#include <vector>

#include "common/keystore.h"

namespace agora::node {

class Keyring {
 public:
  explicit Keyring(std::filesystem::path home, KdfParams params = KdfParams::Default())
      : dir_(std::move(home) / "keys"), params_(params) {}

  const std::filesystem::path& dir() const { return dir_; }

  // Makes a new random key named `name`; AlreadyExists if the name is taken.
  Result<KeystoreInfo> Create(std::string_view name, std::string_view password);
  // All keys, sorted by name. A damaged file is reported, not skipped.
  Result<std::vector<KeystoreInfo>> List() const;
  // The public part of one key; NotFound names the keys that do exist.
  Result<KeystoreInfo> Show(std::string_view name) const;
  Result<SecretKey> Unlock(std::string_view name, std::string_view password) const;

 private:
  std::filesystem::path PathOf(std::string_view name) const;
  Status CheckExists(std::string_view name) const;

  std::filesystem::path dir_;
  KdfParams params_;
};

}  // namespace agora::node

#endif  // AGORA_NODE_KEYRING_H_
