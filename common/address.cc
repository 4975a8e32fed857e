#include "common/address.h"

#include <algorithm>
#include <vector>

#include "common/hash.h"

namespace agora {
namespace {

// bech32m, written from BIP 173 (the code) and BIP 350 (the new constant).
constexpr std::string_view kCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr uint32_t kBech32mConstant = 0x2bc830a3;
constexpr size_t kChecksumChars = 6;
constexpr size_t kTextCharsMax = 90;

uint32_t Polymod(const std::vector<uint8_t>& values) {
  constexpr uint32_t kGenerator[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
                                      0x2a1462b3};
  uint32_t chk = 1;
  for (uint8_t v : values) {
    uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (int i = 0; i < 5; ++i) {
      if ((top >> i) & 1) chk ^= kGenerator[i];
    }
  }
  return chk;
}

std::vector<uint8_t> ExpandHumanPart(std::string_view hrp) {
  std::vector<uint8_t> out;
  for (char c : hrp) out.push_back(static_cast<uint8_t>(c) >> 5);
  out.push_back(0);
  for (char c : hrp) out.push_back(static_cast<uint8_t>(c) & 31);
  return out;
}

// Regroups bits from `from_bits`-wide to `to_bits`-wide values. When `pad` is
// false the leftover bits must be fewer than from_bits and all zero.
bool ConvertBits(ByteSpan in, int from_bits, int to_bits, bool pad, std::vector<uint8_t>& out) {
  uint32_t acc = 0;
  int bits = 0;
  const uint32_t max_value = (1u << to_bits) - 1;
  for (uint8_t v : in) {
    if ((v >> from_bits) != 0) return false;
    acc = (acc << from_bits) | v;
    bits += from_bits;
    while (bits >= to_bits) {
      bits -= to_bits;
      out.push_back(static_cast<uint8_t>((acc >> bits) & max_value));
    }
  }
  if (pad) {
    if (bits > 0) out.push_back(static_cast<uint8_t>((acc << (to_bits - bits)) & max_value));
  } else if (bits >= from_bits || ((acc << (to_bits - bits)) & max_value) != 0) {
    return false;
  }
  return true;
}

}  // namespace

Address Address::FromPublicKey(const PublicKey& key) {
  Bytes digest = Blake2b(key.bytes, kSize);
  Address a;
  std::copy(digest.begin(), digest.end(), a.bytes_.begin());
  return a;
}

Result<Address> Address::FromBytes(ByteSpan b) {
  if (b.size() != kSize) {
    return Status::Corruption("an address is 20 bytes, got " + std::to_string(b.size()));
  }
  Address a;
  std::copy(b.begin(), b.end(), a.bytes_.begin());
  return a;
}

std::string Address::ToString() const {
  std::vector<uint8_t> data;
  ConvertBits(bytes_, 8, 5, /*pad=*/true, data);
  std::vector<uint8_t> values = ExpandHumanPart(kHumanPart);
  values.insert(values.end(), data.begin(), data.end());
  values.insert(values.end(), kChecksumChars, 0);
  uint32_t checksum = Polymod(values) ^ kBech32mConstant;
  std::string out(kHumanPart);
  out += '1';
  for (uint8_t v : data) out += kCharset[v];
  for (size_t i = 0; i < kChecksumChars; ++i) {
    out += kCharset[(checksum >> (5 * (kChecksumChars - 1 - i))) & 31];
  }
  return out;
}

Result<Address> Address::Parse(std::string_view text) {
  auto invalid = [&](const std::string& why) {
    return Status::InvalidArgument("'" + std::string(text) + "' is not an Agora address: " + why);
  };
  if (text.size() > kTextCharsMax) return invalid("too long");
  bool has_lower = false;
  bool has_upper = false;
  for (char c : text) {
    if (c < 33 || c > 126) return invalid("contains a character outside printable ASCII");
    has_lower |= (c >= 'a' && c <= 'z');
    has_upper |= (c >= 'A' && c <= 'Z');
  }
  if (has_lower && has_upper) return invalid("mixes upper and lower case");
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
  size_t separator = lower.rfind('1');
  if (separator == std::string::npos) return invalid("no '1' separator");
  if (lower.substr(0, separator) != kHumanPart) return invalid("does not start with 'agora1'");
  std::string_view data_text = std::string_view(lower).substr(separator + 1);
  if (data_text.size() < kChecksumChars) return invalid("too short");
  std::vector<uint8_t> values = ExpandHumanPart(kHumanPart);
  std::vector<uint8_t> data;
  for (char c : data_text) {
    size_t v = kCharset.find(c);
    if (v == std::string_view::npos) {
      return invalid(std::string("'") + c + "' is not a bech32 character");
    }
    data.push_back(static_cast<uint8_t>(v));
  }
  values.insert(values.end(), data.begin(), data.end());
  if (Polymod(values) != kBech32mConstant) {
    return invalid("checksum mismatch (a character is mistyped)");
  }
  data.resize(data.size() - kChecksumChars);
  std::vector<uint8_t> raw;
  if (!ConvertBits(data, 5, 8, /*pad=*/false, raw) || raw.size() != kSize) {
    return invalid("wrong length for a 20-byte account");
  }
  return FromBytes(raw).value();
}

}  // namespace agora
