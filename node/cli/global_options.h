// Options every `agora` subcommand shares.
#ifndef AGORA_NODE_CLI_GLOBAL_OPTIONS_H_
#define AGORA_NODE_CLI_GLOBAL_OPTIONS_H_

#include <string>

namespace agora::node {

struct GlobalOptions {
  std::string home;  // empty: $AGORA_HOME or ~/.agora
  bool json = false;
  std::string node_url;  // empty: $AGORA_NODE or http://127.0.0.1:26657
};

}  // namespace agora::node

#endif  // AGORA_NODE_CLI_GLOBAL_OPTIONS_H_
