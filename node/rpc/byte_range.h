// The one Range form the blob endpoint serves (RFC 9110 §14): a single byte
// range, "bytes=A-B", "bytes=A-" or "bytes=-N" (the last N bytes).
//
// Thread safety: a pure function.
#ifndef AGORA_NODE_RPC_BYTE_RANGE_H_
#define AGORA_NODE_RPC_BYTE_RANGE_H_

#include <cstdint>
#include <string_view>

namespace agora::node::rpc {

struct ByteRange {
  enum class Kind : uint8_t {
    kWhole,          // no range, or one the server may ignore: 200 with every byte
    kPart,           // 206 with bytes [offset, offset + length)
    kUnsatisfiable,  // 416: the range starts at or past the end
  };
  Kind kind = Kind::kWhole;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// `header` is the Range field's value; `size` the resource's length. A
// malformed field, another unit or several ranges are ignored (kWhole), as
// the RFC allows; an end past the last byte is cut to it.
ByteRange ParseByteRange(std::string_view header, uint64_t size);

}  // namespace agora::node::rpc

#endif  // AGORA_NODE_RPC_BYTE_RANGE_H_
