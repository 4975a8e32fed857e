#include "common/encoding.h"

#include <sodium.h>

#include "common/sodium.h"

namespace agora {

// libsodium declares its buffer arguments non-null, and an empty span or
// vector may hold a null pointer, so empty input returns early everywhere.

std::string HexEncode(ByteSpan bytes) {
  if (bytes.empty()) return {};
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();  // the terminating NUL that libsodium writes
  return out;
}

Result<Bytes> HexDecode(std::string_view text) {
  if (text.size() % 2 != 0) {
    return Status::InvalidArgument("hex text has an odd number of digits (" +
                                   std::to_string(text.size()) + ")");
  }
  if (text.empty()) return Bytes{};
  Bytes out(text.size() / 2);
  size_t written = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), text.data(), text.size(), /*ignore=*/nullptr,
                     &written, &end) != 0 ||
      end != text.data() + text.size() || written != out.size()) {
    size_t at = end == nullptr ? 0 : static_cast<size_t>(end - text.data());
    return Status::InvalidArgument("not a hex digit at offset " + std::to_string(at));
  }
  return out;
}

std::string Base64Encode(ByteSpan bytes) {
  if (bytes.empty()) return {};
  const size_t len = sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string out(len, '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.pop_back();  // NUL
  return out;
}

Result<Bytes> Base64Decode(std::string_view text) {
  if (text.empty()) return Bytes{};
  EnsureSodium();
  Bytes out(text.size() / 4 * 3 + 3);
  size_t written = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), /*ignore=*/nullptr,
                        &written, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    size_t at = end == nullptr ? 0 : static_cast<size_t>(end - text.data());
    return Status::InvalidArgument("invalid base64 at offset " + std::to_string(at) +
                                   " (standard alphabet with '=' padding expected)");
  }
  out.resize(written);
  return out;
}

std::string TruncateUtf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t cut = max_bytes;
  // text[cut] is the first byte left out; while it continues a sequence,
  // that sequence's first bytes must go too. A sequence is at most 4 bytes:
  // more continuation bytes than 3 are not UTF-8, and the cut stays put.
  for (int back = 0; back < 3 && cut > 0; ++back) {
    if ((static_cast<uint8_t>(text[cut]) & 0xC0) != 0x80) break;
    --cut;
  }
  if ((static_cast<uint8_t>(text[cut]) & 0xC0) == 0x80) cut = max_bytes;
  return std::string(text.substr(0, cut));
}

}  // namespace agora
