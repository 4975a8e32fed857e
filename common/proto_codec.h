// Strict decoding of Protobuf messages that arrive from untrusted parties.
//
// Protobuf's own parser is lenient: it keeps unknown fields, accepts fields
// in any order, repeated scalars packed or not, and the same field twice.
// Two nodes that accept different byte strings for "the same" message can
// disagree about hashes, so every decoder of network or ledger bytes goes
// through DecodeStrict, which accepts exactly one encoding per value: the one
// that deterministic serialization produces.
//
// Thread safety: functions are thread-safe.
#ifndef AGORA_COMMON_PROTO_CODEC_H_
#define AGORA_COMMON_PROTO_CODEC_H_

#include <google/protobuf/message.h>

#include <string>

#include "common/bytes.h"
#include "common/status.h"

namespace agora {

// Serializes with deterministic field order.
Bytes EncodeDeterministic(const google::protobuf::Message& message);

// Parses `bytes` into `out` (cleared first). Errors:
//   ResourceExhausted  more than `bytes_max` bytes;
//   Corruption         not a valid encoding, unknown fields anywhere inside,
//                      or not the canonical encoding of what it decodes to.
Status DecodeStrict(ByteSpan bytes, size_t bytes_max, google::protobuf::Message& out);

}  // namespace agora

#endif  // AGORA_COMMON_PROTO_CODEC_H_
