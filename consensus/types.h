// The messages of Tendermint consensus (Buchman, Kwon, Milosevic 2018,
// Algorithm 1) and the bytes each one signs.
//
// Thread safety: values.
#ifndef AGORA_CONSENSUS_TYPES_H_
#define AGORA_CONSENSUS_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/keys.h"

namespace agora::consensus {

// Steps in protocol order; the signer uses the order to refuse regressions.
enum class Step : uint8_t { kPropose = 0, kPrevote = 1, kPrecommit = 2 };
std::string_view StepName(Step step);

enum class VoteType : uint8_t { kPrevote = 1, kPrecommit = 2 };
inline Step StepOf(VoteType type) {
  return type == VoteType::kPrevote ? Step::kPrevote : Step::kPrecommit;
}

using ValidatorIndex = uint32_t;

struct Proposal {
  uint64_t height = 0;
  uint32_t round = 0;
  int32_t valid_round = -1;  // -1: a fresh value; else the round of its polka
  Hash256 block;
  ValidatorIndex proposer = 0;
  Signature signature;

  // height(8) round(4) valid_round(4) block(32), big-endian.
  Bytes SignBytes() const;
  // The inverse of SignBytes (proposer and signature are not in the bytes).
  static std::optional<Proposal> FromSignBytes(ByteSpan bytes);
};

struct Vote {
  VoteType type = VoteType::kPrevote;
  uint64_t height = 0;
  uint32_t round = 0;
  std::optional<Hash256> block;  // nullopt is a vote for nil
  ValidatorIndex validator = 0;
  Signature signature;

  // type(1) height(8) round(4) has_block(1) [block(32)], big-endian.
  Bytes SignBytes() const;
  // The inverse of SignBytes (validator and signature are not in the bytes).
  static std::optional<Vote> FromSignBytes(ByteSpan bytes);
  SignKind Kind() const {
    return type == VoteType::kPrevote ? SignKind::kPrevote : SignKind::kPrecommit;
  }
  std::string ToString() const;
};

// Two votes by one validator for the same height, round and type but
// different blocks. Anyone can check it with the validator's public key.
struct Evidence {
  PublicKey validator;
  Vote first;
  Vote second;
};

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_TYPES_H_
