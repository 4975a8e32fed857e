// agorad: the Agora node. One binary plays every role (validator, provider,
// client gateway, full node).
//
// `agorad --home DIR` runs a node in the foreground from a home that
// `agora init` or `agora testnet` wrote, until SIGINT or SIGTERM; then it
// closes its connections and its store cleanly. kill -9 is safe too: every
// block is written in one synced batch, so a restart recovers from disk.
#include <CLI/CLI.hpp>

#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "common/log.h"
#include "node/build_info.h"
#include "node/config.h"
#include "node/home.h"
#include "node/node.h"

namespace agora::node {
namespace {

int Run(int argc, char** argv) {
  CLI::App app{"agorad: the Agora node (validator, provider, client gateway, full node)"};
  app.footer("\n" + BuildInfo("agorad", /*probe_gpus=*/false));
  bool version = false;
  std::string home, log_level = "info";
  app.add_flag("--version", version, "Print the version and the build's CUDA state, then exit");
  std::vector<std::string> roles;
  auto* role_option =
      app.add_option("--role", roles,
                     "Roles besides consensus: provider, validator (comma-separated; replaces "
                     "[roles] of config.toml; docs/roles.md)")
          ->delimiter(',');
  app.add_option("--home", home, "Node home directory (default: $AGORA_HOME or ~/.agora)");
  auto* log_option = app.add_option("--log-level", log_level,
                                    "trace, debug, info, warn, error, critical or off "
                                    "(default: [node] log_level of config.toml)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (version) {
    std::printf("%s", BuildInfo("agorad", /*probe_gpus=*/true).c_str());
    return 0;
  }
  if (Status status = InitLogging(log_level); !status.ok()) {
    std::fprintf(stderr, "error: %s\n", status.message().c_str());
    return 2;
  }
  std::filesystem::path home_dir;
  if (!home.empty()) {
    home_dir = home;
  } else {
    auto h = DefaultHome();
    if (!h.ok()) {
      spdlog::error("{}", h.status().message());
      return 1;
    }
    home_dir = *h;
  }
  if (log_option->count() == 0 && std::filesystem::exists(ConfigPath(home_dir))) {
    // The config's level applies unless the command line names one.
    if (auto config = LoadConfig(ConfigPath(home_dir)); config.ok()) {
      if (Status s = InitLogging(config->log_level); !s.ok()) {
        spdlog::error("config.toml: {}", s.message());
        return 1;
      }
    }
  }
  if (!std::filesystem::exists(ConfigPath(home_dir))) {
    spdlog::error("no node in {}: create one with `agora init --home {}` or a local network "
                  "with `agora testnet --validators 4 --dir DIR`",
                  home_dir.string(), home_dir.string());
    return 1;
  }
  std::optional<std::vector<std::string>> chosen_roles;
  if (role_option->count() > 0) chosen_roles = roles;
  auto node = Node::Open(home_dir, chosen_roles);
  if (!node.ok()) {
    spdlog::error("cannot open the node in {}: {}", home_dir.string(), node.status().message());
    return 1;
  }
  if (Status s = (*node)->Start(); !s.ok()) {
    spdlog::error("cannot start: {}", s.message());
    return 1;
  }
  boost::asio::signal_set signals((*node)->io(), SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", signal);
    (*node)->Stop();
  });
  (*node)->Run();
  spdlog::info("stopped");
  return 0;
}

}  // namespace
}  // namespace agora::node

int main(int argc, char** argv) { return agora::node::Run(argc, argv); }
