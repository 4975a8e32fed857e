#include "consensus/types.h"

namespace agora::consensus {
namespace {

void PutU32(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

}  // namespace

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
