// agorad: the Agora node. One binary plays every role (validator, provider,
// client gateway, full node).
//
// This build has no node roles yet: the consensus engine and the networked
// node are the next pieces of work. It reports its version and build, and
// says so plainly when asked to run.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "common/log.h"
#include "node/build_info.h"

namespace agora::node {
namespace {

int Run(int argc, char** argv) {
  CLI::App app{"agorad: the Agora node (validator, provider, client gateway, full node)"};
  app.footer("\n" + BuildInfo("agorad", /*probe_gpus=*/false));
  bool version = false;
  std::string home, log_level = "info";
  app.add_flag("--version", version, "Print the version and the build's CUDA state, then exit");
  app.add_option("--home", home, "Node home directory (default: $AGORA_HOME or ~/.agora)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off");
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
  spdlog::error(
      "this build of agorad cannot run a node yet: consensus and networking are not built. "
      "`agorad --version` shows the build; `agora keys new NAME` makes a key.");
  return 1;
}

}  // namespace
}  // namespace agora::node

int main(int argc, char** argv) { return agora::node::Run(argc, argv); }
