#include "node/p2p/secret_connection.h"

#include <algorithm>
#include <cstring>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <string_view>
#include <utility>

#include "common/encoding.h"
#include "common/proto_codec.h"
#include "common/sodium.h"
#include "proto/p2p.pb.h"

namespace agora::node::p2p {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

constexpr std::string_view kHelloMagic = "agora-p2p-v1";
constexpr size_t kHelloBytes = kHelloMagic.size() + crypto_kx_PUBLICKEYBYTES;
constexpr std::string_view kTranscriptTag = "agora-p2p-v1 transcript";
constexpr size_t kStreamHeaderBytes = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
// Bytes asked of the socket per read once established.
constexpr size_t kReadChunkBytes = 64 * 1024;
// An input buffer that grew past this for one large frame is released once
// drained, so an idle peer does not pin frame_bytes_max of memory.
constexpr size_t kReadBufferKeepBytes = 2 * kReadChunkBytes;

void PutU32BigEndian(uint8_t* out, uint32_t v) {
  out[0] = static_cast<uint8_t>(v >> 24);
  out[1] = static_cast<uint8_t>(v >> 16);
  out[2] = static_cast<uint8_t>(v >> 8);
  out[3] = static_cast<uint8_t>(v);
}

uint32_t GetU32BigEndian(const uint8_t* in) {
  return (uint32_t{in[0]} << 24) | (uint32_t{in[1]} << 16) | (uint32_t{in[2]} << 8) |
         uint32_t{in[3]};
}

Status SocketError(std::string_view during, const error_code& ec) {
  if (ec == asio::error::eof) {
    return Status::Unavailable(std::string(during) + ": the peer closed the connection");
  }
  return Status::Unavailable(std::string(during) + ": " + ec.message());
}

}  // namespace

Bytes BuildHandshakeAuth(const SecretKey& identity, const HandshakeParams& params,
                         const Hash256& transcript) {
  proto::HandshakeAuthBody body;
  body.set_transcript_hash(ToString(transcript.span()));
  body.set_chain_id(params.chain_id);
  body.set_genesis_hash(ToString(params.genesis_hash.span()));
  body.set_protocol_version(kProtocolVersion);
  body.set_listen_port(params.listen_port);
  const Bytes body_bytes = EncodeDeterministic(body);
  const Signature signature =
      identity.Sign(SignDomain{params.chain_id, SignKind::kHandshake}, body_bytes);

  proto::HandshakeAuth auth;
  auth.set_body(ToString(body_bytes));
  auth.set_public_key(ToString(identity.public_key().bytes));
  auth.set_signature(ToString(signature.bytes));
  return EncodeDeterministic(auth);
}

Result<PeerIdentity> VerifyHandshakeAuth(ByteSpan plaintext, const HandshakeParams& params,
                                         const Hash256& transcript, const PublicKey& self) {
  proto::HandshakeAuth auth;
  AGORA_RETURN_IF_ERROR(
      DecodeStrict(plaintext, kAuthFrameBytesMax, auth).WithContext("handshake auth"));
  AGORA_ASSIGN_OR_RETURN(const PublicKey key, PublicKey::Parse(AsBytes(auth.public_key())));
  AGORA_ASSIGN_OR_RETURN(const Signature signature, Signature::Parse(AsBytes(auth.signature())));
  proto::HandshakeAuthBody body;
  AGORA_RETURN_IF_ERROR(
      DecodeStrict(AsBytes(auth.body()), kAuthFrameBytesMax, body).WithContext("handshake body"));

  // The plain mismatches come first so that an operator sees "wrong chain"
  // rather than "bad signature" (the signature domain includes the chain id).
  if (body.protocol_version() != kProtocolVersion) {
    return Status::FailedPrecondition("peer speaks protocol version " +
                                      std::to_string(body.protocol_version()) + ", we speak " +
                                      std::to_string(kProtocolVersion));
  }
  if (body.chain_id() != params.chain_id) {
    return Status::FailedPrecondition("peer is on chain '" + body.chain_id().substr(0, 64) +
                                      "', we are on '" + params.chain_id + "'");
  }
  if (body.genesis_hash() != ToString(params.genesis_hash.span())) {
    return Status::FailedPrecondition(
        "peer has genesis hash " +
        HexEncode(
            AsBytes(body.genesis_hash()).first(std::min<size_t>(body.genesis_hash().size(), 32))) +
        ", ours is " + params.genesis_hash.ToHex());
  }
  if (body.transcript_hash() != ToString(transcript.span())) {
    return Status::Unauthenticated(
        "handshake transcript mismatch: the auth was made for another session "
        "(replay or man in the middle)");
  }
  if (body.listen_port() > 65535) {
    return Status::Corruption("listen port " + std::to_string(body.listen_port()) +
                              " is out of range");
  }
  if (!Verify(key, SignDomain{params.chain_id, SignKind::kHandshake}, AsBytes(auth.body()),
              signature)) {
    return Status::Unauthenticated("bad handshake signature for identity " + key.ToHex());
  }
  if (key == self) {
    return Status::FailedPrecondition(std::string(kSelfConnectionMessage));
  }
  if (params.expected_peer && key != *params.expected_peer) {
    return Status::Unauthenticated("peer identity is " + key.ToHex() + ", expected " +
                                   params.expected_peer->ToHex());
  }
  return PeerIdentity{key, static_cast<uint16_t>(body.listen_port())};
}

std::shared_ptr<SecretConnection> SecretConnection::Create(Socket socket, SecretKey identity,
                                                           HandshakeParams params) {
  return std::shared_ptr<SecretConnection>(
      new SecretConnection(std::move(socket), std::move(identity), std::move(params)));
}

SecretConnection::SecretConnection(Socket socket, SecretKey identity, HandshakeParams params)
    : socket_(std::move(socket)),
      identity_(std::move(identity)),
      params_(std::move(params)),
      handshake_timer_(socket_.get_executor()) {
  EnsureSodium();
  error_code ec;
  auto endpoint = socket_.remote_endpoint(ec);
  if (ec) {
    remote_address_ = "(unknown)";
  } else if (endpoint.address().is_v6()) {
    remote_address_ = "[" + endpoint.address().to_string() + "]:" + std::to_string(endpoint.port());
  } else {
    remote_address_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }
}

SecretConnection::~SecretConnection() {
  sodium_memzero(ephemeral_secret_.data(), ephemeral_secret_.size());
  sodium_memzero(rx_key_.data(), rx_key_.size());
  sodium_memzero(&push_state_, sizeof(push_state_));
  sodium_memzero(&pull_state_, sizeof(pull_state_));
}

const PeerIdentity& SecretConnection::peer() const {
  AGORA_CHECK(state_ == State::kEstablished || state_ == State::kClosed);
  return peer_;
}

void SecretConnection::Close() {
  state_ = State::kClosed;
  error_code ignored;  // Closing an already closed or broken socket is fine.
  socket_.close(ignored);
  handshake_timer_.cancel();
}

void SecretConnection::AsyncHandshake(HandshakeCallback done) {
  AGORA_CHECK(state_ == State::kNew);
  state_ = State::kHandshaking;
  if (Status s = ValidateChainId(params_.chain_id); !s.ok()) {
    FinishHandshake(Status::InvalidArgument("bad chain id: " + s.message()), std::move(done));
    return;
  }
  AGORA_CHECK(params_.frame_bytes_max >= kFrameBytesMaxLowest &&
              params_.frame_bytes_max <= kFrameBytesMaxHighest);
  crypto_kx_keypair(ephemeral_public_.data(), ephemeral_secret_.data());

  // The timer only closes the socket; the step that was waiting then fails
  // and FinishHandshake reports the timeout. It holds a weak reference so a
  // finished connection is not kept alive by its timer.
  handshake_timer_.expires_after(params_.timeout);
  handshake_timer_.async_wait([weak = weak_from_this()](const error_code& ec) {
    if (ec) return;  // cancelled: the handshake finished first
    if (auto self = weak.lock(); self && self->state_ == State::kHandshaking) {
      self->timed_out_ = true;
      error_code ignored;
      self->socket_.close(ignored);
    }
  });

  write_buffer_.clear();
  Append(write_buffer_, AsBytes(kHelloMagic));
  Append(write_buffer_, ephemeral_public_);
  // Both sides write their hello before reading the other's; 44 bytes always
  // fit in the socket buffer, so this cannot deadlock.
  asio::async_write(
      socket_, asio::buffer(write_buffer_),
      [self = shared_from_this(), done = std::move(done)](const error_code& ec, size_t) mutable {
        if (ec) {
          self->FinishHandshake(SocketError("sending hello", ec), std::move(done));
          return;
        }
        self->ReadHello(std::move(done));
      });
}

void SecretConnection::ReadHello(HandshakeCallback done) {
  read_buffer_.resize(kHelloBytes);
  asio::async_read(
      socket_, asio::buffer(read_buffer_),
      [self = shared_from_this(), done = std::move(done)](const error_code& ec, size_t) mutable {
        if (ec) {
          self->FinishHandshake(SocketError("reading hello", ec), std::move(done));
          return;
        }
        if (Status s = self->OnHello(); !s.ok()) {
          self->FinishHandshake(std::move(s), std::move(done));
          return;
        }
        self->write_buffer_.clear();
        Append(self->write_buffer_, self->read_buffer_);  // OnHello left the stream header here
        Append(self->write_buffer_, self->SealFrame(BuildHandshakeAuth(self->identity_, self->params_, self->transcript_hash_)));
        asio::async_write(self->socket_, asio::buffer(self->write_buffer_),
                          [self, done = std::move(done)](const error_code& ec2, size_t) mutable {
                            if (ec2) {
                              self->FinishHandshake(SocketError("sending auth", ec2),
                                                    std::move(done));
                              return;
                            }
                            self->ReadStreamHeader(std::move(done));
                          });
      });
}

// Checks the peer's hello, derives the session keys and opens the push
// stream. On success read_buffer_ holds our stream header, to be sent.
Status SecretConnection::OnHello() {
  ByteSpan hello = read_buffer_;
  if (!std::equal(kHelloMagic.begin(), kHelloMagic.end(), hello.begin())) {
    return Status::Corruption("bad hello: not an Agora P2P peer, or another protocol version");
  }
  std::copy(hello.begin() + kHelloMagic.size(), hello.end(), peer_ephemeral_public_.begin());
  // Equal keys mean our own hello came back (a reflecting middlebox or
  // attacker); there would be no client/server role to pick.
  const int order = sodium_compare(ephemeral_public_.data(), peer_ephemeral_public_.data(),
                                   crypto_kx_PUBLICKEYBYTES);
  if (order == 0) return Status::Unauthenticated("the peer echoed our own ephemeral key");
  const bool we_are_client = order < 0;

  std::array<uint8_t, crypto_kx_SESSIONKEYBYTES> tx_key{};
  const int kx_result =
      we_are_client
          ? crypto_kx_client_session_keys(rx_key_.data(), tx_key.data(), ephemeral_public_.data(),
                                          ephemeral_secret_.data(), peer_ephemeral_public_.data())
          : crypto_kx_server_session_keys(rx_key_.data(), tx_key.data(), ephemeral_public_.data(),
                                          ephemeral_secret_.data(), peer_ephemeral_public_.data());
  sodium_memzero(ephemeral_secret_.data(), ephemeral_secret_.size());
  if (kx_result != 0) {
    sodium_memzero(tx_key.data(), tx_key.size());
    return Status::Unauthenticated("the peer's ephemeral key is not a valid X25519 key");
  }

  // The transcript names both ephemeral keys in a canonical order, so both
  // sides compute the same hash and a signature made for one session never
  // verifies in another (docs/p2p.md).
  const auto& lower = we_are_client ? ephemeral_public_ : peer_ephemeral_public_;
  const auto& higher = we_are_client ? peer_ephemeral_public_ : ephemeral_public_;
  Blake2b256Hasher transcript;
  transcript.Update(kTranscriptTag).Update(lower).Update(higher);
  transcript_hash_ = transcript.Finish();

  read_buffer_.assign(kStreamHeaderBytes, 0);
  crypto_secretstream_xchacha20poly1305_init_push(&push_state_, read_buffer_.data(), tx_key.data());
  sodium_memzero(tx_key.data(), tx_key.size());
  return Status::Ok();
}

void SecretConnection::ReadStreamHeader(HandshakeCallback done) {
  read_buffer_.resize(kStreamHeaderBytes);
  asio::async_read(
      socket_, asio::buffer(read_buffer_),
      [self = shared_from_this(), done = std::move(done)](const error_code& ec, size_t) mutable {
        if (ec) {
          self->FinishHandshake(SocketError("reading stream header", ec), std::move(done));
          return;
        }
        const int init = crypto_secretstream_xchacha20poly1305_init_pull(
            &self->pull_state_, self->read_buffer_.data(), self->rx_key_.data());
        sodium_memzero(self->rx_key_.data(), self->rx_key_.size());
        if (init != 0) {
          self->FinishHandshake(Status::Corruption("bad secretstream header"), std::move(done));
          return;
        }
        self->ReadFrame(
            kAuthFrameBytesMax, [self, done = std::move(done)](Result<Bytes> plaintext) mutable {
              if (!plaintext.ok()) {
                self->FinishHandshake(plaintext.status().WithContext("reading auth"),
                                      std::move(done));
                return;
              }
              Result<PeerIdentity> peer = VerifyHandshakeAuth(
                  *plaintext, self->params_, self->transcript_hash_, self->identity_.public_key());
              if (peer.ok()) self->peer_ = *peer;
              self->FinishHandshake(peer.status(), std::move(done));
            });
      });
}

void SecretConnection::FinishHandshake(Status status, HandshakeCallback done) {
  handshake_timer_.cancel();
  sodium_memzero(ephemeral_secret_.data(), ephemeral_secret_.size());
  if (state_ != State::kHandshaking) {
    // Close() was called while the handshake ran.
    if (status.ok()) status = Status::Unavailable("connection closed during the handshake");
  }
  if (!status.ok()) {
    if (timed_out_) {
      status = Status::Unavailable("handshake timed out after " +
                                   std::to_string(params_.timeout.count()) + " ms");
    }
    Close();
  } else {
    state_ = State::kEstablished;
  }
  read_buffer_.clear();
  write_buffer_.clear();
  done(std::move(status));
}


Bytes SecretConnection::SealFrame(ByteSpan plaintext) {
  Bytes frame;
  SealFrameInto(plaintext, &frame);
  return frame;
}

void SecretConnection::SealFrameInto(ByteSpan plaintext, Bytes* out) {
  AGORA_CHECK(state_ == State::kHandshaking || state_ == State::kEstablished ||
              state_ == State::kClosed);
  AGORA_CHECK(plaintext.size() <= plaintext_bytes_max());
  const size_t ciphertext_bytes = plaintext.size() + kFrameTagBytes;
  const size_t at = out->size();
  out->resize(at + kFrameLengthBytes + ciphertext_bytes);
  uint8_t* frame = out->data() + at;
  PutU32BigEndian(frame, static_cast<uint32_t>(ciphertext_bytes));
  crypto_secretstream_xchacha20poly1305_push(&push_state_, frame + kFrameLengthBytes, nullptr,
                                             plaintext.data(), plaintext.size(), nullptr, 0,
                                             crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
}

void SecretConnection::AsyncReadFrame(ReadCallback done) {
  AGORA_CHECK(state_ == State::kEstablished || state_ == State::kClosed);
  ReadFrame(params_.frame_bytes_max, std::move(done));
}

void SecretConnection::ReadFrame(size_t ciphertext_bytes_max, ReadCallback done) {
  AGORA_CHECK(!reading_);
  reading_ = true;
  if (delivering_) {
    pending_read_ = PendingRead{ciphertext_bytes_max, std::move(done)};
    return;
  }
  ContinueRead(ciphertext_bytes_max, std::move(done), /*from_completion=*/false);
}

bool SecretConnection::TryCutFrame(size_t ciphertext_bytes_max, Result<Bytes>* frame) {
  const size_t available = in_end_ - in_begin_;
  if (available < kFrameLengthBytes) return false;
  // Checked before anything is allocated: a hostile length costs us nothing.
  const uint32_t length = GetU32BigEndian(in_.data() + in_begin_);
  if (length > ciphertext_bytes_max) {
    *frame = Status::ResourceExhausted("frame of " + std::to_string(length) +
                                       " bytes exceeds the limit of " +
                                       std::to_string(ciphertext_bytes_max));
    return true;
  }
  if (length < kFrameTagBytes) {
    *frame = Status::Corruption("frame of " + std::to_string(length) +
                                " bytes is shorter than its authentication tag");
    return true;
  }
  if (available < kFrameLengthBytes + length) return false;
  *frame = OpenFrame(ByteSpan(in_.data() + in_begin_ + kFrameLengthBytes, length));
  in_begin_ += kFrameLengthBytes + length;
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
    if (in_.size() > kReadBufferKeepBytes) Bytes().swap(in_);
  }
  return true;
}

// Frames are cut out of one input buffer filled by async_read_some, so a
// burst of small frames (gossiped transactions, votes) costs one read system
// call instead of two per frame. A frame already in the buffer is delivered
// through a post, never from inside the caller's own call.
void SecretConnection::ContinueRead(size_t ciphertext_bytes_max, ReadCallback done,
                                    bool from_completion) {
  Result<Bytes> frame = Status::Unavailable("no frame");
  if (TryCutFrame(ciphertext_bytes_max, &frame)) {
    Deliver(std::move(frame), std::move(done), from_completion);
    return;
  }
  const size_t available = in_end_ - in_begin_;
  const size_t needed = available >= kFrameLengthBytes
                            ? kFrameLengthBytes + GetU32BigEndian(in_.data() + in_begin_)
                            : kFrameLengthBytes;
  // Make room for the rest of this frame (at least) at the end of the buffer.
  if (in_begin_ > 0) {
    std::memmove(in_.data(), in_.data() + in_begin_, available);
    in_begin_ = 0;
    in_end_ = available;
  }
  if (in_.size() < needed || in_.size() - in_end_ < kReadChunkBytes / 4) {
    in_.resize(std::max({needed, kReadChunkBytes, in_end_ + kReadChunkBytes / 4}));
  }
  socket_.async_read_some(
      asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
      [self = shared_from_this(), ciphertext_bytes_max, done = std::move(done)](
          const error_code& ec, size_t n) mutable {
        if (ec) {
          self->reading_ = false;
          const bool mid_frame = self->in_end_ > self->in_begin_;
          done(SocketError(mid_frame ? "reading a frame body" : "reading a frame length", ec));
          return;
        }
        self->in_end_ += n;
        self->ContinueRead(ciphertext_bytes_max, std::move(done), /*from_completion=*/true);
      });
}

void SecretConnection::Deliver(Result<Bytes> frame, ReadCallback done, bool from_completion) {
  if (from_completion) {
    DeliverRun(std::move(frame), std::move(done));
    return;
  }
  asio::post(socket_.get_executor(), [self = shared_from_this(), frame = std::move(frame),
                                      done = std::move(done)]() mutable {
    self->DeliverRun(std::move(frame), std::move(done));
  });
}

// Delivers `frame`, then, as long as the reader asks for the next frame from
// inside its callback and the buffer already holds it, that one too, up to
// kDeliverRunMax frames in this one handler. One handler per frame would
// put every frame of a burst behind all other work queued on the executor:
// a proposal behind thousands of gossiped transactions waits that many
// trips through the queue. The cap keeps one busy peer from starving the
// rest.
void SecretConnection::DeliverRun(Result<Bytes> frame, ReadCallback done) {
  constexpr int kDeliverRunMax = 256;
  for (int delivered = 1;; ++delivered) {
    reading_ = false;
    delivering_ = true;
    done(std::move(frame));
    delivering_ = false;
    if (!pending_read_) return;  // the reader asked for nothing more (yet)
    PendingRead next = std::move(*pending_read_);
    pending_read_.reset();
    if (delivered >= kDeliverRunMax || !TryCutFrame(next.ciphertext_bytes_max, &frame)) {
      ContinueRead(next.ciphertext_bytes_max, std::move(next.done), /*from_completion=*/false);
      return;
    }
    done = std::move(next.done);
  }
}

Result<Bytes> SecretConnection::OpenFrame(ByteSpan ciphertext) {
  Bytes plaintext(ciphertext.size() - kFrameTagBytes);
  unsigned long long plaintext_bytes = 0;
  unsigned char tag = 0;
  const int result = crypto_secretstream_xchacha20poly1305_pull(
      &pull_state_, plaintext.data(), &plaintext_bytes, &tag, ciphertext.data(), ciphertext.size(),
      nullptr, 0);
  if (result != 0) {
    return Status::Corruption("frame failed authentication (tampered, reordered or replayed)");
  }
  if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
    return Status::Corruption("frame carries secretstream tag " + std::to_string(tag) +
                              ", only plain messages are allowed");
  }
  plaintext.resize(static_cast<size_t>(plaintext_bytes));
  return plaintext;
}

}  // namespace agora::node::p2p
