// A signed transaction as a peer or an RPC client sends it: envelope, body
// and every message the ledger knows (DecodeTx checks them in full, the
// proof of possession of CreateValidator included). Property: a decoded
// transaction's bytes are canonical (DecodeStrict accepts one encoding per
// value), so re-encoding gives them back, and decoding is deterministic.
#include <cstddef>
#include <cstdint>

#include "common/proto_codec.h"
#include "consensus/ledger/tx.h"
#include "tests/fuzz/fuzz_util.h"
#include "proto/tx.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const agora::ByteSpan raw(data, size);
  agora::Result<agora::consensus::Tx> tx = agora::consensus::DecodeTx(raw, "fuzz-chain");
  if (!tx.ok()) return 0;
  AGORA_FUZZ_ACCEPTED();
  agora::proto::SignedTx envelope;
  AGORA_FUZZ_EXPECT(envelope.ParseFromArray(data, static_cast<int>(size)));
  const agora::Bytes again = agora::EncodeDeterministic(envelope);
  AGORA_FUZZ_EXPECT(again.size() == size && std::equal(again.begin(), again.end(), data));
  agora::Result<agora::consensus::Tx> twice = agora::consensus::DecodeTx(raw, "fuzz-chain");
  AGORA_FUZZ_EXPECT(twice.ok() && twice->hash == tx->hash && twice->sender == tx->sender &&
                    twice->msg.index() == tx->msg.index());
  return 0;
}
