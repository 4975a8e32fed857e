// PeerManager: the node's P2P transport (docs/p2p.md).
//
// It listens for and dials TCP connections, authenticates and encrypts each
// with a SecretConnection, keeps one connection per peer identity, redials
// persistent peers with backoff, bounds every peer's send queue and inbound
// rate, and carries (channel, payload) messages. Channels are the caller's:
// the manager only carries the byte. Gossip (Broadcast) is deduplicated by a
// bounded cache of BLAKE2b(channel || payload); direct messages (Send) are not.
// Validation and relay decisions are the caller's: it calls Broadcast again
// for what it wants relayed.
//
// Thread safety: not thread-safe. The manager runs on a caller-supplied
// io_context that must be run by exactly one thread; every public method must
// be called from that thread (from a Handler callback, or from a handler the
// caller posted), and every Handler callback runs there. Stop() closes
// everything without calling the Handler; afterwards the manager may be
// destroyed even while the io_context still holds its cancelled operations.
#ifndef AGORA_NODE_P2P_PEER_MANAGER_H_
#define AGORA_NODE_P2P_PEER_MANAGER_H_

#include <boost/asio/io_context.hpp>
#include <bitset>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/keys.h"
#include "common/status.h"
#include "node/p2p/secret_connection.h"

namespace agora::node::p2p {

// A peer is named by its ed25519 node identity.
using PeerId = PublicKey;

// Where to dial a peer: "host:port", "[v6addr]:port", optionally prefixed by
// "<64 hex digits of its public key>@", in which case the peer must prove that
// identity in the handshake.
struct PeerAddress {
  std::optional<PeerId> id;
  std::string host;
  uint16_t port = 0;

  static Result<PeerAddress> Parse(std::string_view text);
  std::string ToString() const;
};

// What a wire message is. Gossip is deduplicated; direct messages are not;
// a ping (empty, channel 0) only proves the connection is alive and never
// reaches the handler.
enum class MessageKind : uint8_t { kGossip = 1, kDirect = 2, kPing = 3 };
// Plaintext of a frame after the handshake: kind (1 byte) || channel (1 byte) || payload.
inline constexpr size_t kMessageHeaderBytes = 2;

// Defaults (docs/p2p.md lists them with their reasons).
inline constexpr size_t kSendQueueBytesMaxDefault = size_t{16} << 20;
inline constexpr size_t kSendQueueMessagesMaxDefault = 32768;
inline constexpr uint32_t kRecvMessagesPerSecondDefault = 20000;
inline constexpr uint32_t kRecvMessagesBurstDefault = 40000;
inline constexpr uint64_t kRecvBytesPerSecondDefault = uint64_t{8} << 20;
inline constexpr uint64_t kRecvBytesBurstDefault = uint64_t{16} << 20;
inline constexpr size_t kInboundPeersMaxDefault = 40;
inline constexpr size_t kOutboundPeersMaxDefault = 10;
inline constexpr size_t kInboundPeersPerIpMaxDefault = 8;
// Handshakes from a persistent peer's address may go this far past
// inbound_peers_max, so a crowd of other peers cannot keep it out.
inline constexpr size_t kPersistentInboundSlack = 4;
inline constexpr size_t kSeenHashesMaxDefault = 100'000;
inline constexpr size_t kPeerKnownHashesMaxDefault = 10'000;
inline constexpr size_t kBannedPeersMax = 10'000;
inline constexpr std::chrono::milliseconds kBanDurationDefault{60'000};
inline constexpr std::chrono::milliseconds kReconnectDelayMinDefault{100};
inline constexpr std::chrono::milliseconds kReconnectDelayMaxDefault{5'000};
inline constexpr std::chrono::milliseconds kPingIntervalDefault{10'000};
inline constexpr std::chrono::milliseconds kIdleTimeoutDefault{60'000};

struct PeerManagerConfig {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;  // 0: an ephemeral port; see PeerManager::listen_port()
  std::vector<PeerAddress> persistent_peers;
  std::string chain_id;
  Hash256 genesis_hash;

  size_t frame_bytes_max = kFrameBytesMaxDefault;
  std::chrono::milliseconds handshake_timeout = kHandshakeTimeoutDefault;
  // A peer whose queue of unwritten messages would exceed either bound is
  // disconnected (not banned); it never slows the others down.
  size_t send_queue_bytes_max = kSendQueueBytesMaxDefault;
  size_t send_queue_messages_max = kSendQueueMessagesMaxDefault;
  // Channels whose messages go out only when nothing else is queued for the
  // peer (bulk: transactions), so that a backlog of them never delays a
  // consensus message behind it on the connection. Order within a channel
  // is kept.
  std::bitset<256> bulk_channels;
  // Token buckets on what each peer sends us; overrunning either disconnects
  // and bans the peer. The byte burst must hold at least one full frame.
  uint32_t recv_messages_per_second = kRecvMessagesPerSecondDefault;
  uint32_t recv_messages_burst = kRecvMessagesBurstDefault;
  uint64_t recv_bytes_per_second = kRecvBytesPerSecondDefault;
  uint64_t recv_bytes_burst = kRecvBytesBurstDefault;
  std::chrono::milliseconds ban_duration = kBanDurationDefault;
  // Every ping_interval we send a ping to a peer we sent nothing to since the
  // last tick; a peer from which no whole frame arrived for idle_timeout is
  // disconnected (not banned). This finds dead TCP connections, and peers that
  // stall in the middle of a frame. REQUIRES: idle_timeout >= 3 * ping_interval.
  std::chrono::milliseconds ping_interval = kPingIntervalDefault;
  std::chrono::milliseconds idle_timeout = kIdleTimeoutDefault;
  // Inbound counts connections still in their handshake, so a crowd of
  // half-open connections cannot exceed it either.
  size_t inbound_peers_max = kInboundPeersMaxDefault;
  size_t outbound_peers_max = kOutboundPeersMaxDefault;
  // Inbound peers (handshakes included) from one IP address at most (0: no
  // bound), so one host cannot take every inbound slot with made-up
  // identities. A persistent peer's address is not bounded, and neither is
  // loopback unless limit_loopback_per_ip (a devnet runs every node on one
  // host; tests set it to exercise the bound).
  size_t inbound_peers_per_ip_max = kInboundPeersPerIpMaxDefault;
  bool limit_loopback_per_ip = false;
  // When inbound peers are full, a persistent peer connecting in (from its
  // address, with its identity when one is configured) takes the place of
  // the newest inbound peer that is not persistent.
  // Gossip dedup: hashes seen from anyone, and per peer the hashes it is
  // known to have (sent to us or by us). Oldest entries are evicted first.
  size_t seen_hashes_max = kSeenHashesMaxDefault;
  size_t peer_known_hashes_max = kPeerKnownHashesMaxDefault;
  // Persistent peers are redialled after min * 2^attempts (capped at max),
  // with the delay drawn uniformly from [delay/2, delay].
  std::chrono::milliseconds reconnect_delay_min = kReconnectDelayMinDefault;
  std::chrono::milliseconds reconnect_delay_max = kReconnectDelayMaxDefault;
  // Seeds the jitter; 0 draws a seed from std::random_device.
  uint64_t random_seed = 0;

  // Returns InvalidArgument naming the first bad field.
  Status Validate() const;
};

struct PeerInfo {
  PeerId id;
  std::string remote_address;  // "ip:port" of the TCP connection
  uint16_t listen_port = 0;    // where the peer says it accepts connections; 0 if nowhere
  bool outbound = false;       // true iff we dialled it
  uint64_t bytes_sent = 0;     // frame bytes handed to the socket queue
  uint64_t bytes_received = 0;
  uint64_t messages_sent = 0;      // pings not included
  uint64_t messages_received = 0;  // including duplicates dropped by the seen cache; not pings
  std::chrono::system_clock::time_point connected_since;
};

// A connection that ended, as net_info reports it (docs/p2p.md).
struct Disconnection {
  PeerId id;
  std::string remote_address;
  std::string reason;
  bool banned = false;
  std::chrono::system_clock::time_point at;
};
inline constexpr size_t kRecentDisconnectsMax = 32;

// A live ban: the reason of the disconnection that earned it.
struct BanInfo {
  PeerId id;
  std::string reason;
  std::chrono::milliseconds remaining{0};
};

// Callbacks from the manager; all run on the io_context's thread. They may
// call the manager's methods (Broadcast, Send, Disconnect, Stop), but must not
// destroy it.
class PeerManagerHandler {
 public:
  virtual ~PeerManagerHandler() = default;
  // An authenticated peer is ready for messages.
  virtual void OnPeerConnected(const PeerInfo& /*peer*/) {}
  // A peer reported by OnPeerConnected is gone; `reason` says why.
  virtual void OnPeerDisconnected(const PeerId& /*peer*/, std::string_view /*reason*/) {}
  // A message from a connected peer. Gossip seen before (from anyone) is
  // dropped before it gets here; direct messages always arrive.
  virtual void OnMessage(const PeerId& from, uint8_t channel, ByteSpan payload) = 0;
  // A connection that never became a peer (handshake failure, ban, limit).
  virtual void OnHandshakeFailed(std::string_view /*remote_address*/, const Status& /*reason*/) {}
};

class PeerManager {
 public:
  using Handler = PeerManagerHandler;
  using Config = PeerManagerConfig;

  // `handler` must outlive the manager (or the call to Stop()).
  PeerManager(boost::asio::io_context& io, Config config, SecretKey node_key, Handler& handler);
  // Calls Stop().
  ~PeerManager();
  PeerManager(const PeerManager&) = delete;
  PeerManager& operator=(const PeerManager&) = delete;

  // Validates the config, starts listening and dials the persistent peers.
  // Errors: InvalidArgument (config), IoError (cannot listen).
  // REQUIRES: called once.
  Status Start();
  // Closes the listener and every connection, cancels every timer. The
  // handler is not called from here on. Idempotent.
  void Stop();

  // The port actually bound (useful with listen_port = 0). REQUIRES: Start() succeeded.
  uint16_t listen_port() const;
  const PeerId& id() const;
  // The largest payload one message can carry.
  size_t payload_bytes_max() const;

  // Gossips to every connected peer not known to have this message already
  // (it sent it to us, or we sent it to it). A payload above
  // payload_bytes_max() is logged and dropped. A peer whose send queue
  // overflows is disconnected; its OnPeerDisconnected is posted, never called
  // from inside Broadcast, Send or Disconnect.
  void Broadcast(uint8_t channel, ByteSpan payload);
  // Sends one direct message; dropped when `peer` is not connected.
  void Send(const PeerId& peer, uint8_t channel, ByteSpan payload);
  // Closes the connection to `peer` (if any) and, if `ban`, refuses it for
  // config.ban_duration.
  void Disconnect(const PeerId& peer, std::string reason, bool ban);

  // The connected peers, ordered by id.
  std::vector<PeerInfo> Peers() const;
  // The last kRecentDisconnectsMax disconnections of peers, oldest first.
  std::vector<Disconnection> RecentDisconnects() const;
  // The bans in force, ordered by id.
  std::vector<BanInfo> Bans() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;  // shared so that pending operations can tell it is gone
};

}  // namespace agora::node::p2p

#endif  // AGORA_NODE_P2P_PEER_MANAGER_H_
