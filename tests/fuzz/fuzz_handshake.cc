// The first sealed frame of a P2P session, a HandshakeAuth (proto/p2p.proto)
// after decryption, checked as node/p2p/secret_connection.cc checks it:
// protocol version, chain id, genesis hash, the session's transcript hash,
// listen port, signature, not ourselves. Properties: an auth that passes
// names the key that signed it, re-encodes to the input, and is refused when
// the same bytes arrive in another session (another transcript hash).
#include <cstddef>
#include <cstdint>

#include "common/proto_codec.h"
#include "node/p2p/secret_connection.h"
#include "proto/p2p.pb.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace agora;
  static const node::p2p::HandshakeParams params{
      "fuzz-chain", Blake2b256(AsBytes("genesis")), 26656, std::nullopt,
      node::p2p::kFrameBytesMaxDefault, node::p2p::kHandshakeTimeoutDefault};
  static const Hash256 transcript = Blake2b256(AsBytes("transcript"));
  static const PublicKey self = SecretKey::FromSeed(Bytes(32, 9)).value().public_key();
  const ByteSpan plaintext(data, size);
  Result<node::p2p::PeerIdentity> peer =
      node::p2p::VerifyHandshakeAuth(plaintext, params, transcript, self);
  if (!peer.ok()) return 0;
  AGORA_FUZZ_ACCEPTED();
  proto::HandshakeAuth auth;
  AGORA_FUZZ_EXPECT(auth.ParseFromArray(data, static_cast<int>(size)));
  AGORA_FUZZ_EXPECT(auth.public_key() == ToString(peer->id.bytes));
  AGORA_FUZZ_EXPECT(!(peer->id == self));
  const Bytes again = EncodeDeterministic(auth);
  AGORA_FUZZ_EXPECT(again.size() == size && std::equal(again.begin(), again.end(), data));
  AGORA_FUZZ_EXPECT(!node::p2p::VerifyHandshakeAuth(plaintext, params,
                                                    Blake2b256(AsBytes("another session")), self)
                         .ok());
  return 0;
}
