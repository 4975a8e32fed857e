// Byte buffers and the fixed-width integer encodings used in keys and
// signed messages.
//
// Big-endian is used wherever bytes are compared or sorted (storage keys), so
// that byte order equals numeric order.
#ifndef AGORA_COMMON_BYTES_H_
#define AGORA_COMMON_BYTES_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace agora {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

inline ByteSpan AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline std::string ToString(ByteSpan b) { return std::string(b.begin(), b.end()); }

inline void Append(Bytes& out, ByteSpan b) { out.insert(out.end(), b.begin(), b.end()); }

inline void PutU64BigEndian(Bytes& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}
// REQUIRES: b.size() >= 8
inline uint64_t GetU64BigEndian(ByteSpan b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | b[i];
  return v;
}

inline void PutU64LittleEndian(Bytes& out, uint64_t v) {
  for (int shift = 0; shift < 64; shift += 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

}  // namespace agora

#endif  // AGORA_COMMON_BYTES_H_
