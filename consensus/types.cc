#include "consensus/types.h"

namespace agora::consensus {
namespace {

void PutU32(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

uint32_t GetU32(ByteSpan b) {
  return static_cast<uint32_t>(b[0]) << 24 | static_cast<uint32_t>(b[1]) << 16 |
         static_cast<uint32_t>(b[2]) << 8 | b[3];
}

}  // namespace

std::optional<Proposal> Proposal::FromSignBytes(ByteSpan b) {
  if (b.size() != 8 + 4 + 4 + Hash256::kSize) return std::nullopt;
  Proposal p;
  p.height = GetU64BigEndian(b);
  p.round = GetU32(b.subspan(8));
  p.valid_round = static_cast<int32_t>(GetU32(b.subspan(12)));
  p.block = Hash256::FromBytes(b.subspan(16));
  return p;
}

std::optional<Vote> Vote::FromSignBytes(ByteSpan b) {
  if (b.size() < 14 || (b[0] != 1 && b[0] != 2) || b[13] > 1) return std::nullopt;
  if (b.size() != (b[13] ? 14 + Hash256::kSize : 14)) return std::nullopt;
  Vote v;
  v.type = static_cast<VoteType>(b[0]);
  v.height = GetU64BigEndian(b.subspan(1));
  v.round = GetU32(b.subspan(9));
  if (b[13]) v.block = Hash256::FromBytes(b.subspan(14));
  return v;
}

std::string_view StepName(Step step) {
  switch (step) {
    case Step::kPropose: return "propose";
    case Step::kPrevote: return "prevote";
    case Step::kPrecommit: return "precommit";
  }
  return "unknown";
}

Bytes Proposal::SignBytes() const {
  Bytes out;
  PutU64BigEndian(out, height);
  PutU32(out, round);
  PutU32(out, static_cast<uint32_t>(valid_round));
  Append(out, block.bytes);
  return out;
}

Bytes Vote::SignBytes() const {
  Bytes out;
  out.push_back(static_cast<uint8_t>(type));
  PutU64BigEndian(out, height);
  PutU32(out, round);
  out.push_back(block.has_value() ? 1 : 0);
  if (block) Append(out, block->bytes);
  return out;
}

std::string Vote::ToString() const {
  return std::string(type == VoteType::kPrevote ? "prevote" : "precommit") + "(h=" +
         std::to_string(height) + " r=" + std::to_string(round) + " v=" +
         std::to_string(validator) + " " + (block ? block->ToHex().substr(0, 8) : "nil") + ")";
}

}  // namespace agora::consensus
