#include "node/rpc/byte_range.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <system_error>

namespace agora::node::rpc {

namespace {

// Digits only (no sign, no spaces): the whole of `text`.
std::optional<uint64_t> Number(std::string_view text) {
  uint64_t value = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

ByteRange ParseByteRange(std::string_view header, uint64_t size) {
  ByteRange whole;
  whole.length = size;
  if (!header.starts_with("bytes=")) return whole;
  header.remove_prefix(6);
  if (header.find(',') != std::string_view::npos) return whole;
  const size_t dash = header.find('-');
  if (dash == std::string_view::npos) return whole;
  const std::string_view first_text = header.substr(0, dash);
  const std::string_view last_text = header.substr(dash + 1);
  ByteRange out;
  out.kind = ByteRange::Kind::kPart;
  if (first_text.empty()) {  // the last N bytes
    std::optional<uint64_t> n = Number(last_text);
    if (!n) return whole;
    if (*n == 0 || size == 0) return {ByteRange::Kind::kUnsatisfiable, 0, 0};
    out.length = std::min(*n, size);
    out.offset = size - out.length;
    return out;
  }
  std::optional<uint64_t> first = Number(first_text);
  if (!first) return whole;
  uint64_t last = size == 0 ? 0 : size - 1;
  if (!last_text.empty()) {
    std::optional<uint64_t> given = Number(last_text);
    if (!given || *given < *first) return whole;
    last = std::min(*given, last);
  }
  if (*first >= size) return {ByteRange::Kind::kUnsatisfiable, 0, 0};
  out.offset = *first;
  out.length = last - *first + 1;
  return out;
}

}  // namespace agora::node::rpc
