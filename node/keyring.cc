#include "node/keyring.h"

#include <algorithm>

#include "node/home.h"

namespace agora::node {

std::filesystem::path Keyring::PathOf(std::string_view name) const {
  return dir_ / (std::string(name) + ".json");
}

Status Keyring::CheckExists(std::string_view name) const {
  // Key names are validated when created; a name with a '/' could escape the
  // directory, so refuse it here too.
  if (name.empty() || name.find('/') != std::string_view::npos || name[0] == '.') {
    return Status::InvalidArgument("'" + std::string(name) + "' is not a valid key name");
  }
  if (std::filesystem::exists(PathOf(name))) return Status::Ok();
  return Status::NotFound("no key named '" + std::string(name) + "' in " + dir_.string() +
                          "; `agora keys list` shows the keys, `agora keys new NAME` makes one");
}

Result<KeystoreInfo> Keyring::Create(std::string_view name, std::string_view password) {
  AGORA_RETURN_IF_ERROR(EnsurePrivateDirectory(dir_));
  SecretKey key = SecretKey::Generate();
  Status status = WriteKeystore(PathOf(name), name, key, password, params_);
  if (status.code() == StatusCode::kAlreadyExists) {
    return Status::AlreadyExists("a key named '" + std::string(name) +
                                 "' already exists; choose another name");
  }
  AGORA_RETURN_IF_ERROR(status);
  return KeystoreInfo{std::string(name), key.public_key(), Address::FromPublicKey(key.public_key())};
}

Result<std::vector<KeystoreInfo>> Keyring::List() const {
  std::vector<KeystoreInfo> keys;
  std::error_code ec;
  if (!std::filesystem::exists(dir_, ec)) return keys;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const auto& path = entry.path();
    if (path.extension() != ".json" || !entry.is_regular_file()) continue;
    AGORA_ASSIGN_OR_RETURN(KeystoreInfo info, ReadKeystoreInfo(path));
    keys.push_back(std::move(info));
  }
  if (ec) return Status::IoError("cannot list '" + dir_.string() + "': " + ec.message());
  std::sort(keys.begin(), keys.end(),
            [](const KeystoreInfo& a, const KeystoreInfo& b) { return a.name < b.name; });
  return keys;
}

Result<KeystoreInfo> Keyring::Show(std::string_view name) const {
  AGORA_RETURN_IF_ERROR(CheckExists(name));
  return ReadKeystoreInfo(PathOf(name));
}

Result<SecretKey> Keyring::Unlock(std::string_view name, std::string_view password) const {
  AGORA_RETURN_IF_ERROR(CheckExists(name));
  return ReadKeystore(PathOf(name), password);
}

}  // namespace agora::node
