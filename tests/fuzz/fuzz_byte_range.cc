// The Range header of a GET /blob/<hash> (node/rpc/byte_range.h), against
// a resource whose size the first 8 input bytes give. Properties: a part
// lies inside the resource and is not empty ([offset, offset + length)
// within [0, size), no overflow); an unsatisfiable range only for a start
// at or past the end; parsing is deterministic.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "node/rpc/byte_range.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using agora::node::rpc::ByteRange;
  if (size < 8) return 0;
  uint64_t resource = 0;
  std::memcpy(&resource, data, 8);
  resource >>= (data[0] & 63);  // small sizes too, not only huge ones
  const std::string_view header(reinterpret_cast<const char*>(data + 8), size - 8);
  const ByteRange r = agora::node::rpc::ParseByteRange(header, resource);
  const ByteRange again = agora::node::rpc::ParseByteRange(header, resource);
  AGORA_FUZZ_EXPECT(r.kind == again.kind && r.offset == again.offset && r.length == again.length);
  if (r.kind == ByteRange::Kind::kPart) {
    AGORA_FUZZ_ACCEPTED();
    AGORA_FUZZ_EXPECT(r.length > 0);
    AGORA_FUZZ_EXPECT(r.offset < resource);
    AGORA_FUZZ_EXPECT(r.length <= resource - r.offset);
  }
  return 0;
}
