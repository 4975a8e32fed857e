// Hex and base64 text encodings of bytes.
//
// Decoders are strict: any character outside the alphabet, odd length,
// wrong padding or trailing garbage is an error, so one value has exactly one
// accepted text form.
#ifndef AGORA_COMMON_ENCODING_H_
#define AGORA_COMMON_ENCODING_H_

#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"

namespace agora {

// Lower-case hex.
std::string HexEncode(ByteSpan bytes);
// Accepts lower- and upper-case digits; nothing else.
Result<Bytes> HexDecode(std::string_view text);

// Standard base64 (RFC 4648 section 4) with '=' padding.
std::string Base64Encode(ByteSpan bytes);
Result<Bytes> Base64Decode(std::string_view text);

// The longest prefix of `text` of at most `max_bytes` bytes that does not
// end inside a UTF-8 sequence: the cut backs up over continuation bytes, so
// truncating valid UTF-8 (a reason shown by net_info, say) keeps it valid.
std::string TruncateUtf8(std::string_view text, size_t max_bytes);

}  // namespace agora

#endif  // AGORA_COMMON_ENCODING_H_
