// SecretConnection: one authenticated, encrypted TCP connection between two
// Agora nodes (docs/p2p.md).
//
// It runs the handshake over an already connected socket and afterwards seals
// and opens frames:
//   1. both sides send a plaintext hello: "agora-p2p-v1" || ephemeral crypto_kx key;
//   2. the side with the lower ephemeral key takes the crypto_kx client role,
//      both derive rx/tx session keys and open one crypto_secretstream per
//      direction, sending the 24-byte stream header;
//   3. each side sends, as the first sealed frame, a HandshakeAuth
//      (proto/p2p.proto) signed by its ed25519 node identity over a transcript
//      hash that binds both ephemeral keys, its chain id, genesis hash,
//      protocol version and listen port;
//   4. each side checks the other's auth; any failure closes the socket.
// A frame is a 4-byte big-endian length followed by that many bytes of
// secretstream ciphertext; the length is checked against its bound before a
// byte of the body is allocated or read.
//
// Thread safety: not thread-safe. Every method must be called from the thread
// that runs the socket's io_context, and every callback runs there. Keep the
// object in a std::shared_ptr (use Create): pending operations hold a
// reference, so it stays alive until its last callback has run.
#ifndef AGORA_NODE_P2P_SECRET_CONNECTION_H_
#define AGORA_NODE_P2P_SECRET_CONNECTION_H_

#include <sodium.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/keys.h"
#include "common/status.h"

namespace agora::node::p2p {

// The version this build speaks; a peer with another version is refused.
inline constexpr uint32_t kProtocolVersion = 1;
// Default bound on one frame's ciphertext (the value of its length prefix).
inline constexpr size_t kFrameBytesMaxDefault = size_t{4} << 20;
// Allowed range for a configured frame bound.
inline constexpr size_t kFrameBytesMaxLowest = 1024;
inline constexpr size_t kFrameBytesMaxHighest = size_t{64} << 20;
// Bound on the sealed HandshakeAuth frame; a real one is about 200 bytes.
inline constexpr size_t kAuthFrameBytesMax = 1024;
// Bytes a frame adds to its plaintext: the length prefix and the secretstream tag.
inline constexpr size_t kFrameLengthBytes = 4;
inline constexpr size_t kFrameTagBytes = crypto_secretstream_xchacha20poly1305_ABYTES;
inline constexpr std::chrono::milliseconds kHandshakeTimeoutDefault{5000};
// The FailedPrecondition message of a handshake that reached this node itself.
inline constexpr std::string_view kSelfConnectionMessage = "connected to ourselves";

struct HandshakeParams {
  std::string chain_id;  // REQUIRES: ValidateChainId(chain_id).ok()
  Hash256 genesis_hash;
  uint16_t listen_port = 0;  // advertised to the peer; 0 when not listening
  // When set, the peer must prove this identity (a persistent peer given as
  // <pubkey-hex>@host:port).
  std::optional<PublicKey> expected_peer;
  // Bound on the ciphertext of one frame after the handshake.
  size_t frame_bytes_max = kFrameBytesMaxDefault;
  std::chrono::milliseconds timeout = kHandshakeTimeoutDefault;
};

// What the peer proved and declared in its handshake.
struct PeerIdentity {
  PublicKey id;
  uint16_t listen_port = 0;
};

// The HandshakeAuth (proto/p2p.proto) that `identity` sends in a session
// whose transcript hash is `transcript`.
Bytes BuildHandshakeAuth(const SecretKey& identity, const HandshakeParams& params,
                         const Hash256& transcript);
// Checks the peer's HandshakeAuth (untrusted bytes, any length) against this
// session's transcript hash, `params` and this node's own key `self`. Errors
// as AsyncHandshake describes.
Result<PeerIdentity> VerifyHandshakeAuth(ByteSpan plaintext, const HandshakeParams& params,
                                         const Hash256& transcript, const PublicKey& self);

class SecretConnection : public std::enable_shared_from_this<SecretConnection> {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  using HandshakeCallback = std::function<void(Status)>;
  using ReadCallback = std::function<void(Result<Bytes>)>;

  static std::shared_ptr<SecretConnection> Create(Socket socket, SecretKey identity,
                                                  HandshakeParams params);
  ~SecretConnection();
  SecretConnection(const SecretConnection&) = delete;
  SecretConnection& operator=(const SecretConnection&) = delete;

  // Runs the handshake; `done` gets OK once both sides are authenticated and
  // every check passed, or the reason it failed (the socket is then closed):
  //   Unavailable         socket error, peer closed, or timeout;
  //   Corruption          bad hello, bad stream header, undecodable auth;
  //   ResourceExhausted   auth frame above kAuthFrameBytesMax;
  //   Unauthenticated     bad signature, transcript mismatch, or not the expected identity;
  //   FailedPrecondition  other chain id, genesis hash or protocol version, or ourselves.
  // REQUIRES: called once, before anything else.
  void AsyncHandshake(HandshakeCallback done);

  // Reads and opens one frame; `done` gets its plaintext, or
  //   Unavailable        socket error or peer closed;
  //   ResourceExhausted  length prefix above frame_bytes_max;
  //   Corruption         too short, failed authentication, or a final/unknown tag.
  // REQUIRES: the handshake succeeded and no other read is outstanding.
  void AsyncReadFrame(ReadCallback done);

  // Seals `plaintext` into one frame (length prefix || ciphertext). Frames
  // must be written to socket() in the order they were sealed.
  // REQUIRES: the handshake succeeded; plaintext.size() <= plaintext_bytes_max().
  Bytes SealFrame(ByteSpan plaintext);
  // The same, appended to *out.
  void SealFrameInto(ByteSpan plaintext, Bytes* out);

  // The largest plaintext one frame can carry.
  size_t plaintext_bytes_max() const { return params_.frame_bytes_max - kFrameTagBytes; }
  // REQUIRES: the handshake succeeded.
  const PeerIdentity& peer() const;
  // "ip:port" of the remote end, as seen when the object was made.
  const std::string& remote_address() const { return remote_address_; }
  Socket& socket() { return socket_; }
  // Closes the socket; outstanding operations complete with an error.
  void Close();

 private:
  enum class State : uint8_t { kNew, kHandshaking, kEstablished, kClosed };

  SecretConnection(Socket socket, SecretKey identity, HandshakeParams params);

  void ReadHello(HandshakeCallback done);
  Status OnHello();
  void ReadStreamHeader(HandshakeCallback done);
  void FinishHandshake(Status status, HandshakeCallback done);
  void ReadFrame(size_t ciphertext_bytes_max, ReadCallback done);
  void ContinueRead(size_t ciphertext_bytes_max, ReadCallback done, bool from_completion);
  // True when the buffer holds a whole frame (or a bad length): *frame is it,
  // consumed from the buffer.
  bool TryCutFrame(size_t ciphertext_bytes_max, Result<Bytes>* frame);
  void Deliver(Result<Bytes> frame, ReadCallback done, bool from_completion);
  void DeliverRun(Result<Bytes> frame, ReadCallback done);
  Result<Bytes> OpenFrame(ByteSpan ciphertext);

  Socket socket_;
  SecretKey identity_;
  HandshakeParams params_;
  std::string remote_address_;
  boost::asio::steady_timer handshake_timer_;
  State state_ = State::kNew;
  bool timed_out_ = false;
  bool reading_ = false;
  // Inside DeliverRun's call of a read callback: a read asked for there is
  // parked in pending_read_ and served by DeliverRun's loop, not by recursion.
  bool delivering_ = false;
  struct PendingRead {
    size_t ciphertext_bytes_max = 0;
    ReadCallback done;
  };
  std::optional<PendingRead> pending_read_;

  std::array<uint8_t, crypto_kx_PUBLICKEYBYTES> ephemeral_public_{};
  std::array<uint8_t, crypto_kx_SECRETKEYBYTES> ephemeral_secret_{};
  std::array<uint8_t, crypto_kx_PUBLICKEYBYTES> peer_ephemeral_public_{};
  Hash256 transcript_hash_;
  crypto_secretstream_xchacha20poly1305_state push_state_{};
  crypto_secretstream_xchacha20poly1305_state pull_state_{};
  std::array<uint8_t, crypto_kx_SESSIONKEYBYTES> rx_key_{};

  PeerIdentity peer_;
  Bytes write_buffer_;  // handshake writes only; later frames are written by the owner
  Bytes read_buffer_;   // hello and stream header
  // Frames: bytes [in_begin_, in_end_) of in_ are received and not yet
  // consumed; in_ never grows past one frame_bytes_max frame plus a chunk.
  Bytes in_;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
};

}  // namespace agora::node::p2p

#endif  // AGORA_NODE_P2P_SECRET_CONNECTION_H_
