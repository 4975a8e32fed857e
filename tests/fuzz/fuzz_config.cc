// config.toml as an operator edits it. Properties: settings that parse
// render (RenderConfig, what `agorad init` writes) to text that parses to
// the same settings; parsing is deterministic.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "node/config.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  agora::Result<agora::node::NodeConfig> c = agora::node::ParseConfig(text, "config.toml");
  if (!c.ok()) return 0;
  AGORA_FUZZ_ACCEPTED();
  const std::string rendered = agora::node::RenderConfig(*c);
  agora::Result<agora::node::NodeConfig> back = agora::node::ParseConfig(rendered, "rendered");
  if (!back.ok()) {
    std::fprintf(stderr, "rendered config does not parse: %s\n%s\n",
                 back.status().ToString().c_str(), rendered.c_str());
  }
  AGORA_FUZZ_EXPECT(back.ok());
  AGORA_FUZZ_EXPECT(agora::node::RenderConfig(*back) == rendered);
  return 0;
}
