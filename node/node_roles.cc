// The roles agorad plays beside consensus (docs/roles.md): their keys,
// read at Open so a wrong password file stops the node before it starts,
// and their workers, started after the RPC server they talk to.
#include <cstdlib>

#include "common/file_util.h"
#include "common/keystore.h"
#include "node/node_impl.h"
#include "node/roles/provider.h"
#include "node/roles/validator.h"

namespace agora::node {
namespace {

std::filesystem::path FromHome(const std::filesystem::path& home, const std::string& path) {
  const std::filesystem::path p(path);
  return p.is_absolute() ? p : home / p;
}

// A keystore (with its password file) or a node key file.
Result<SecretKey> LoadRoleKey(const std::filesystem::path& home, const std::string& key_file,
                              const std::string& password_file, std::string_view role) {
  const std::filesystem::path key_path = FromHome(home, key_file);
  const std::string where = "[" + std::string(role) + "] key_file " + key_path.string();
  if (ReadKeystoreInfo(key_path).ok()) {
    if (password_file.empty()) {
      return Status::InvalidArgument(where + " is a keystore: name its password file in [" +
                                     std::string(role) + "] password_file");
    }
    const std::filesystem::path password_path = FromHome(home, password_file);
    Result<std::string> password = ReadFile(password_path, 4096);
    if (!password.ok()) {
      return Status(
          password.status().code(),
          "cannot read [" + std::string(role) + "] password_file: " + password.status().message());
    }
    std::string text = *password;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    Result<SecretKey> key = ReadKeystore(key_path, text);
    if (!key.ok()) {
      return Status(key.status().code(), "cannot unlock " + where + " with the password in " +
                                             password_path.string() + ": " +
                                             key.status().message());
    }
    return key;
  }
  Result<SecretKey> key = LoadNodeKey(key_path);
  if (!key.ok()) {
    return Status(key.status().code(),
                  where + " is neither a keystore nor a node key file: " + key.status().message());
  }
  return key;
}

}  // namespace

Status Node::Impl::OpenRoles(const std::filesystem::path& home,
                             const std::optional<std::vector<std::string>>& roles) {
  home_ = home;
  if (roles) {
    config_.role_provider = config_.role_validator = false;
    for (const std::string& role : *roles) {
      if (role == "provider") {
        config_.role_provider = true;
      } else if (role == "validator") {
        config_.role_validator = true;
      } else if (role != "none") {
        return Status::InvalidArgument("unknown role '" + role +
                                       "'; the roles are provider and validator (or none)");
      }
    }
  }
  if (config_.role_provider && config_.provider_key_file.empty()) {
    return Status::InvalidArgument(
        "the provider role needs [provider] key_file in config.toml: the provider account's key "
        "(a keystore from `agora keys new` with password_file, or a node key file)");
  }
  if (config_.role_provider) {
    AGORA_ASSIGN_OR_RETURN(SecretKey key, LoadRoleKey(home, config_.provider_key_file,
                                                      config_.provider_password_file, "provider"));
    provider_key_ = key;
    provider_state_dir_ = home / "provider";
  }
  if (config_.role_provider || config_.role_validator) {
    Result<roles::RoleDevice> device = roles::OpenRoleDevice(config_.role_device);
    if (!device.ok()) return device.status();
    role_device_ = *std::move(device);
    spdlog::info("roles train and replay on {}", role_device_.description);
  }
  return Status::Ok();
}

void Node::Impl::StartRoles() {
  // The roles are clients of this node's RPC, on the loopback address
  // whatever address the server listens on.
  const std::string url = "http://127.0.0.1:" + std::to_string(rpc_->port());
  if (provider_key_) {
    roles::ProviderRoleOptions options;
    options.node_url = url;
    options.sources = config_.role_sources;
    options.threads = static_cast<int>(config_.provider_threads);
    options.device = role_device_;
    options.state_dir = provider_state_dir_;
    // Fault injection for tests only (docs/roles.md); relative to state_dir.
    if (const char* hold = std::getenv("AGORA_FAULT_PROVIDER_HOLD"); hold != nullptr && *hold) {
      options.hold_file = provider_state_dir_ / hold;
    }
    provider_ = std::make_unique<roles::ProviderRole>(std::move(options), *provider_key_, *blobs_);
    provider_->Start();
  }
  if (config_.role_validator) {
    roles::ValidatorRoleOptions options;
    options.node_url = url;
    options.sources = config_.role_sources;
    options.device = role_device_;
    // Fault injection for tests only (docs/roles.md); relative to the home.
    if (const char* lie = std::getenv("AGORA_FAULT_VALIDATOR_LIE"); lie != nullptr && *lie) {
      options.lie_file = home_ / lie;
    }
    validator_ = std::make_unique<roles::ValidatorRole>(std::move(options), *node_key_, *blobs_);
    validator_->Start();
  }
}

void Node::Impl::RegisterRolesRpc() {
  // What the roles are doing: counts, the task in training, the last error.
  rpc_->RegisterSync("roles", [this](const json::value&) -> Result<json::value> {
    json::object out;
    if (provider_) {
      const roles::ProviderProgress p = provider_->progress();
      out["provider"] = json::object{{"address", provider_->address().ToString()},
                                     {"tasks_committed", p.tasks_committed},
                                     {"tasks_resumed", p.tasks_resumed},
                                     {"training", p.current},
                                     {"step", p.step},
                                     {"steps", p.steps},
                                     {"resumed_from_step", p.resumed_from},
                                     {"held", p.held},
                                     {"training_wall_s", p.training_wall_s},
                                     {"training_cpu_s", p.training_cpu_s},
                                     {"disputes_opened", p.disputes.opened},
                                     {"dispute_moves", p.disputes.moves},
                                     {"last_error", p.last_error}};
      if (!p.offer_problem.empty()) out["provider"].as_object()["offer_problem"] = p.offer_problem;
    }
    if (validator_) {
      const roles::ValidatorProgress v = validator_->progress();
      out["validator"] = json::object{{"address", validator_->address().ToString()},
                                      {"verdicts", v.verdicts},
                                      {"round_results", v.round_results},
                                      {"dispute_moves", v.disputes.moves},
                                      {"referee_votes", v.disputes.votes},
                                      {"last_error", v.last_error}};
      if (!v.profile_problem.empty()) {
        out["validator"].as_object()["profile_problem"] = v.profile_problem;
      }
    }
    return json::value(std::move(out));
  });
}

void Node::Impl::StopRoles() {
  if (provider_) provider_->Stop();
  if (validator_) validator_->Stop();
}

}  // namespace agora::node
