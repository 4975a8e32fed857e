// A block for the next height as a proposal or a sync response carries it:
// decoded strictly, then every check a node makes before voting (header
// fields and sizes, proposer, time, VRF proof, last commit, evidence,
// transactions and their signatures, the byte limit), against a real chain
// at height 1. Properties: a block that validates is canonical (re-encodes
// to the input) and its body matches its header; judging is deterministic.
#include <cstddef>
#include <cstdint>

#include "common/proto_codec.h"
#include "tests/fuzz/fixtures.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static agora::fuzz::FuzzChain* fixture = new agora::fuzz::FuzzChain();
  agora::consensus::Chain& chain = fixture->chain();
  agora::proto::Block block;
  if (!agora::DecodeStrict(agora::ByteSpan(data, size), agora::consensus::kBlockBytesMax, block)
           .ok()) {
    return 0;
  }
  std::vector<agora::consensus::Tx> txs;
  const agora::Status valid = chain.ValidateBlock(block, fixture->now_ms() + 1000, &txs);
  const agora::Status again = chain.ValidateBlock(block, fixture->now_ms() + 1000, nullptr);
  AGORA_FUZZ_EXPECT(valid.code() == again.code() && valid.message() == again.message());
  (void)agora::consensus::HeaderHash(block.header());
  (void)agora::consensus::EvidenceHash(block);
  if (!valid.ok()) {
    (void)chain.BodyMatchesHeader(block);
    return 0;
  }
  AGORA_FUZZ_ACCEPTED();
  AGORA_FUZZ_EXPECT(chain.BodyMatchesHeader(block).ok());
  AGORA_FUZZ_EXPECT(static_cast<int>(txs.size()) == block.txs_size());
  const agora::Bytes bytes = agora::EncodeDeterministic(block);
  AGORA_FUZZ_EXPECT(bytes.size() == size && std::equal(bytes.begin(), bytes.end(), data));
  return 0;
}
