#include "verify/dispute.h"

#include <bit>
#include <cstring>

#include "common/check.h"
#include "trainer/model.h"

namespace agora::verify {
namespace {

Hash256 Tagged(std::string_view tag, const Hash256& a, const Hash256* b) {
  Bytes in(tag.begin(), tag.end());
  in.insert(in.end(), a.span().begin(), a.span().end());
  if (b != nullptr) in.insert(in.end(), b->span().begin(), b->span().end());
  return Blake2b256(in);
}

}  // namespace

Hash256 TraceChainStart(const Hash256& state_before) {
  return Tagged("agora-trace-chain-start-v1", state_before, nullptr);
}

Hash256 TraceChainLink(const Hash256& previous_leaf, const Hash256& record_hash) {
  return Tagged("agora-trace-chain-link-v1", previous_leaf, &record_hash);
}

Hash256 TraceChainEnd(const Hash256& last_leaf, const Hash256& state_after) {
  return Tagged("agora-trace-chain-end-v1", last_leaf, &state_after);
}

std::vector<Hash256> TraceChainLeaves(const Hash256& state_before,
                                      std::span<const kernels::OpRecord> records,
                                      const Hash256& state_after) {
  std::vector<Hash256> leaves;
  leaves.reserve(records.size() + 2);
  leaves.push_back(TraceChainStart(state_before));
  for (const kernels::OpRecord& r : records) {
    leaves.push_back(TraceChainLink(leaves.back(), kernels::OpRecordHash(r)));
  }
  leaves.push_back(TraceChainEnd(leaves.back(), state_after));
  return leaves;
}

Hash256 OutputsDigest(std::span<const Hash256> outputs) {
  constexpr std::string_view kTag = "agora-dispute-outputs-v1";
  Bytes in(kTag.begin(), kTag.end());
  for (const Hash256& h : outputs) in.insert(in.end(), h.span().begin(), h.span().end());
  return Blake2b256(in);
}

Hash256 StepDigest(const Hash256& state_before, const Hash256& state_after) {
  return Tagged("agora-dispute-step-v1", state_before, &state_after);
}

Hash256 LossesDigest(const Hash256& segment_start, std::span<const uint32_t> loss_bits) {
  constexpr std::string_view kTag = "agora-dispute-losses-v1";
  Bytes in(kTag.begin(), kTag.end());
  in.insert(in.end(), segment_start.span().begin(), segment_start.span().end());
  auto put_u32 = [&in](uint32_t x) {
    for (int shift = 24; shift >= 0; shift -= 8) in.push_back(static_cast<uint8_t>(x >> shift));
  };
  put_u32(static_cast<uint32_t>(loss_bits.size()));
  for (uint32_t bits : loss_bits) put_u32(bits);
  return Blake2b256(in);
}

Hash256 DeltaDigest(const Hash256& delta_hash) {
  return Tagged("agora-dispute-delta-v1", delta_hash, nullptr);
}

Hash256 RefereeWitness(uint64_t dispute_id, uint32_t draw, const Hash256& secret) {
  Bytes b;
  PutU64BigEndian(b, dispute_id);
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(draw >> shift));
  Blake2b256Hasher h;
  h.Update(AsBytes(std::string_view("agora-referee-witness-v1")));
  h.Update(b);
  h.Update(secret.bytes);
  return h.Finish();
}

Hash256 RefereeSecret(std::span<const ByteSpan> parts) {
  Blake2b256Hasher h;
  h.Update(AsBytes(std::string_view("agora-referee-secret-v1")));
  for (ByteSpan part : parts) {
    Bytes length;
    PutU64BigEndian(length, part.size());
    h.Update(length);
    h.Update(part);
  }
  return h.Finish();
}

Hash256 DeltaRefereeSecret(std::span<const float> round_params,
                           std::span<const float> final_params) {
  AGORA_CHECK(round_params.size() == final_params.size());
  static_assert(std::endian::native == std::endian::little, "float bytes are little-endian");
  std::vector<float> difference(round_params.size());
  for (size_t i = 0; i < difference.size(); ++i) difference[i] = round_params[i] - final_params[i];
  const ByteSpan parts[] = {
      ByteSpan(reinterpret_cast<const uint8_t*>(difference.data()), difference.size() * 4)};
  return RefereeSecret(parts);
}

bool SameCall(const kernels::OpRecord& a, const kernels::OpRecord& b) {
  if (a.kind != b.kind || a.ints != b.ints || a.inputs != b.inputs) return false;
  if (a.floats.size() != b.floats.size()) return false;
  for (size_t i = 0; i < a.floats.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a.floats[i], 4);
    std::memcpy(&y, &b.floats[i], 4);
    if (x != y) return false;
  }
  return true;
}

uint64_t RecordsPerStep(const trainer::ModelConfig& model) {
  const uint64_t layers = static_cast<uint64_t>(model.layers);
  return (5 + 10 * layers) + (4 + 10 * layers) + 1 +
         trainer::ParameterLayout(model).tensors.size();
}

}  // namespace agora::verify
