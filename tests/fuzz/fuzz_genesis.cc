// genesis.json as an operator downloads it. Property: a genesis that parses
// renders to text that parses to the same genesis (same rendering).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/fuzz_util.h"
#include "node/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  agora::Result<agora::node::Genesis> g = agora::node::ParseGenesis(text);
  if (!g.ok()) return 0;
  AGORA_FUZZ_ACCEPTED();
  const std::string rendered = agora::node::RenderGenesis(*g);
  agora::Result<agora::node::Genesis> back = agora::node::ParseGenesis(rendered);
  AGORA_FUZZ_EXPECT(back.ok());
  AGORA_FUZZ_EXPECT(agora::node::RenderGenesis(*back) == rendered);
  return 0;
}
