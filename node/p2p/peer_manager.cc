#include "node/p2p/peer_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <unordered_set>
#include <utility>

#include "common/encoding.h"
#include "common/sodium.h"

namespace agora::node::p2p {
namespace {

namespace asio = boost::asio;
using Tcp = asio::ip::tcp;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

// Pause before accepting again after accept() failed (out of descriptors,
// say), so the loop does not spin.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
// A gather write takes queued frames up to this many bytes.
constexpr size_t kWriteBatchBytesMax = 256 * 1024;
// Ban and disconnect reasons kept for net_info, cut between characters.
constexpr size_t kReasonBytesMax = 256;

std::string ShortId(const PeerId& id) { return id.ToHex().substr(0, 12); }

// A bounded set of hashes that forgets the oldest first.
class HashCache {
 public:
  explicit HashCache(size_t entries_max)
      : entries_max_(entries_max), set_(/*bucket_count=*/16, KeyedHash256Hasher()) {}

  bool Contains(const Hash256& h) const { return set_.contains(h); }

  // Returns true iff `h` was not present.
  bool Insert(const Hash256& h) {
    if (!set_.insert(h).second) return false;
    order_.push_back(h);
    while (order_.size() > entries_max_) {
      set_.erase(order_.front());
      order_.pop_front();
    }
    return true;
  }

 private:
  size_t entries_max_;
  std::unordered_set<Hash256, KeyedHash256Hasher> set_;
  std::deque<Hash256> order_;
};

// Refills at `rate` per second up to `burst`; Take fails rather than go negative.
class TokenBucket {
 public:
  TokenBucket(double rate_per_second, double burst, SteadyClock::time_point now)
      : rate_(rate_per_second), burst_(burst), tokens_(burst), last_(now) {}

  bool Take(double amount, SteadyClock::time_point now) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    if (tokens_ < amount) return false;
    tokens_ -= amount;
    return true;
  }

 private:
  double rate_;
  double burst_;
  double tokens_;
  SteadyClock::time_point last_;
};

Hash256 GossipHash(uint8_t channel, ByteSpan payload) {
  Blake2b256Hasher hasher;
  const uint8_t channel_byte[1] = {channel};
  hasher.Update(channel_byte).Update(payload);
  return hasher.Finish();
}

// Whether a failed read is the peer's fault (garbage, oversize, tampering)
// rather than a network event; only the former earns a ban.
bool IsPeerMisbehaviour(const Status& status) {
  return status.code() == StatusCode::kCorruption ||
         status.code() == StatusCode::kResourceExhausted;
}

}  // namespace

Result<PeerAddress> PeerAddress::Parse(std::string_view text) {
  PeerAddress out;
  const std::string original(text);
  if (const size_t at = text.find('@'); at != std::string_view::npos) {
    auto id = PublicKey::FromHex(text.substr(0, at));
    if (!id.ok()) {
      return Status::InvalidArgument("peer address '" + original +
                                     "': the part before '@' must be 64 hex digits of an "
                                     "ed25519 public key");
    }
    out.id = *id;
    text.remove_prefix(at + 1);
  }
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Status::InvalidArgument("peer address '" + original + "': expected [v6addr]:port");
    }
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return Status::InvalidArgument("peer address '" + original + "': expected host:port");
    }
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (out.host.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port == 0 || port > 65535) {
    return Status::InvalidArgument("peer address '" + original +
                                   "': needs a host and a port in 1..65535");
  }
  out.port = static_cast<uint16_t>(port);
  return out;
}

std::string PeerAddress::ToString() const {
  std::string out = id ? id->ToHex() + "@" : "";
  if (host.find(':') != std::string::npos) {
    out += "[" + host + "]";
  } else {
    out += host;
  }
  return out + ":" + std::to_string(port);
}

Status PeerManagerConfig::Validate() const {
  if (Status s = ValidateChainId(chain_id); !s.ok()) return s.WithContext("chain_id");
  if (frame_bytes_max < kFrameBytesMaxLowest || frame_bytes_max > kFrameBytesMaxHighest) {
    return Status::InvalidArgument("frame_bytes_max must be in " +
                                   std::to_string(kFrameBytesMaxLowest) + ".." +
                                   std::to_string(kFrameBytesMaxHighest));
  }
  if (send_queue_bytes_max < frame_bytes_max + kFrameLengthBytes) {
    return Status::InvalidArgument("send_queue_bytes_max must hold at least one full frame");
  }
  if (send_queue_messages_max == 0) {
    return Status::InvalidArgument("send_queue_messages_max must be positive");
  }
  if (recv_messages_per_second == 0 || recv_messages_burst == 0 || recv_bytes_per_second == 0) {
    return Status::InvalidArgument("receive rates and bursts must be positive");
  }
  if (recv_bytes_burst < frame_bytes_max) {
    return Status::InvalidArgument("recv_bytes_burst must hold at least one full frame");
  }
  if (reconnect_delay_min.count() <= 0 || reconnect_delay_max < reconnect_delay_min) {
    return Status::InvalidArgument("need 0 < reconnect_delay_min <= reconnect_delay_max");
  }
  if (ping_interval.count() <= 0 || idle_timeout < 3 * ping_interval) {
    return Status::InvalidArgument("need 0 < ping_interval and idle_timeout >= 3 * ping_interval");
  }
  if (handshake_timeout.count() <= 0) {
    return Status::InvalidArgument("handshake_timeout must be positive");
  }
  if (seen_hashes_max == 0 || peer_known_hashes_max == 0) {
    return Status::InvalidArgument("seen_hashes_max and peer_known_hashes_max must be positive");
  }
  for (const PeerAddress& peer : persistent_peers) {
    if (peer.host.empty() || peer.port == 0) {
      return Status::InvalidArgument("persistent peer '" + peer.ToString() + "' has no host/port");
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------

class PeerManager::Impl : public std::enable_shared_from_this<PeerManager::Impl> {
 public:
  Impl(asio::io_context& io, Config config, SecretKey node_key, Handler& handler)
      : io_(io),
        config_(std::move(config)),
        key_(std::move(node_key)),
        handler_(&handler),
        acceptor_(io),
        accept_retry_timer_(io),
        seen_(std::max<size_t>(config_.seen_hashes_max, 1)) {}

  Status Start();
  void Stop();
  uint16_t listen_port() const { return listen_port_; }
  const PeerId& id() const { return key_.public_key(); }
  size_t payload_bytes_max() const {
    return config_.frame_bytes_max - kFrameTagBytes - kMessageHeaderBytes;
  }
  void Broadcast(uint8_t channel, ByteSpan payload);
  void Send(const PeerId& peer, uint8_t channel, ByteSpan payload);
  void Disconnect(const PeerId& peer, std::string reason, bool ban);
  std::vector<PeerInfo> Peers() const;
  std::vector<Disconnection> RecentDisconnects() const {
    return {recent_disconnects_.begin(), recent_disconnects_.end()};
  }
  std::vector<BanInfo> Bans() const;

 private:
  struct Peer {
    Peer(std::shared_ptr<SecretConnection> c, PeerInfo i, const Config& config,
         SteadyClock::time_point now)
        : conn(std::move(c)),
          info(std::move(i)),
          known(config.peer_known_hashes_max),
          message_bucket(config.recv_messages_per_second, config.recv_messages_burst, now),
          byte_bucket(static_cast<double>(config.recv_bytes_per_second),
                      static_cast<double>(config.recv_bytes_burst), now),
          keepalive_timer(conn->socket().get_executor()),
          last_received(now) {}

    std::shared_ptr<SecretConnection> conn;
    PeerInfo info;
    HashCache known;  // gossip this peer has: it sent it to us, or we sent it
    TokenBucket message_bucket;
    TokenBucket byte_bucket;
    boost::asio::steady_timer keepalive_timer;
    SteadyClock::time_point last_received;  // when the last whole frame arrived
    bool sent_since_tick = false;           // anything queued since the last keepalive tick
    // Unsealed messages (kind, channel, payload): frames are sealed in the
    // order they are written, urgent ones first. Bounded by the config.
    std::deque<Bytes> urgent_queue;
    std::deque<Bytes> bulk_queue;
    size_t queued_messages = 0;
    size_t queued_frame_bytes = 0;
    Bytes write_buffer;  // the sealed frames of the write in flight
    bool writing = false;
    bool closed = false;
  };
  using PeerPtr = std::shared_ptr<Peer>;

  struct Pending {
    std::shared_ptr<SecretConnection> conn;
    bool outbound = false;
  };

  struct Persistent {
    Persistent(asio::io_context& io, PeerAddress a)
        : address(std::move(a)), timer(io), resolver(io) {}
    PeerAddress address;
    std::optional<PeerId> learned_id;  // from the last handshake, when the address had none
    uint32_t attempts = 0;             // failures since the last successful handshake
    bool busy = false;                 // a dial or its timer is under way
    bool disabled = false;             // it turned out to be ourselves
    asio::steady_timer timer;          // backoff, then connect timeout
    Tcp::resolver resolver;
    std::optional<PeerId> id() const { return address.id ? address.id : learned_id; }
    std::set<asio::ip::address> ips;  // its host as an address, and as last resolved
  };

  void DoAccept();
  void OnAccept(const error_code& ec, Tcp::socket socket);
  void StartHandshake(Tcp::socket socket, bool outbound, std::optional<size_t> persistent);
  void OnHandshakeDone(const std::shared_ptr<SecretConnection>& conn, bool outbound,
                       std::optional<size_t> persistent, Status status);
  void Admit(const std::shared_ptr<SecretConnection>& conn, bool outbound,
             std::optional<size_t> persistent);
  void RejectConnection(const std::shared_ptr<SecretConnection>& conn, const Status& reason,
                        std::optional<size_t> persistent);
  bool IsBanned(const PeerId& id);
  void Ban(const PeerId& id, const std::string& reason);

  void StartRead(const PeerPtr& peer);
  void ScheduleKeepalive(const PeerPtr& peer);
  void OnKeepalive(const PeerPtr& peer);
  void OnFrame(const PeerPtr& peer, Result<Bytes> frame);
  void Enqueue(const PeerPtr& peer, MessageKind kind, uint8_t channel, ByteSpan payload);
  void DoWrite(const PeerPtr& peer);
  // How RemovePeer tells the handler: at once from inside our own I/O
  // handlers; posted when reached from a public method, so that the caller
  // never sees a callback from inside its own Broadcast/Send/Disconnect call.
  enum class Notify : uint8_t { kNow, kPosted };
  void RemovePeer(const PeerPtr& peer, const std::string& reason, bool ban,
                  Notify notify = Notify::kNow);

  void Dial(size_t index);
  void ScheduleDial(size_t index);
  void OnDialFailed(size_t index, const std::string& reason);
  void RedialPersistentFor(const PeerId& id);

  size_t CountPeers(bool outbound) const;
  // Inbound peers and inbound handshakes from `ip`.
  size_t CountInboundFrom(const asio::ip::address& ip) const;
  // Whether `ip` is a persistent peer's address.
  bool IsPersistentAddress(const asio::ip::address& ip) const;
  // Whether a peer with `id` connecting from `ip` is a persistent peer: its
  // configured or learned identity, or its address when it has neither.
  bool IsPersistentPeer(const PeerId& id, const asio::ip::address& ip) const;

  asio::io_context& io_;
  Config config_;
  SecretKey key_;
  Handler* handler_;  // null after Stop()
  Tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_timer_;
  uint16_t listen_port_ = 0;
  bool started_ = false;
  bool stopped_ = false;
  std::mt19937_64 rng_;

  std::map<PeerId, PeerPtr> peers_;  // ordered: Broadcast visits peers in a fixed order
  std::map<SecretConnection*, Pending> pending_;  // in handshake; bounded by the peer limits
  std::vector<std::unique_ptr<Persistent>> persistent_;
  struct BanEntry {
    SteadyClock::time_point until;
    std::string reason;
  };
  std::map<PeerId, BanEntry> banned_until_;  // at most kBannedPeersMax
  std::deque<Disconnection> recent_disconnects_;  // at most kRecentDisconnectsMax
  HashCache seen_;
};

Status PeerManager::Impl::Start() {
  AGORA_CHECK(!started_);
  started_ = true;
  AGORA_RETURN_IF_ERROR(config_.Validate());
  EnsureSodium();
  rng_.seed(config_.random_seed != 0 ? config_.random_seed : std::random_device{}());

  error_code ec;
  const auto address = asio::ip::make_address(config_.listen_host, ec);
  if (ec) {
    return Status::InvalidArgument("listen_host '" + config_.listen_host +
                                   "' is not an IP address: " + ec.message());
  }
  const Tcp::endpoint endpoint(address, config_.listen_port);
  // Each step can fail (port taken, no permission); report which.
  if (acceptor_.open(endpoint.protocol(), ec); !ec) {
    acceptor_.set_option(Tcp::acceptor::reuse_address(true), ec);
  }
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error_code ignored;
    acceptor_.close(ignored);
    return Status::IoError("cannot listen on " + config_.listen_host + ":" +
                           std::to_string(config_.listen_port) + ": " + ec.message());
  }
  listen_port_ = acceptor_.local_endpoint().port();
  spdlog::info("p2p: node {} listening on {}:{}", ShortId(id()), config_.listen_host, listen_port_);
  DoAccept();
  for (const PeerAddress& address_of_peer : config_.persistent_peers) {
    persistent_.push_back(std::make_unique<Persistent>(io_, address_of_peer));
    error_code not_an_address;
    const asio::ip::address ip = asio::ip::make_address(address_of_peer.host, not_an_address);
    if (!not_an_address) persistent_.back()->ips.insert(ip);
  }
  for (size_t i = 0; i < persistent_.size(); ++i) Dial(i);
  return Status::Ok();
}

void PeerManager::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  handler_ = nullptr;
  error_code ignored;  // Closing can only fail for an already broken socket.
  acceptor_.close(ignored);
  accept_retry_timer_.cancel();
  for (auto& persistent : persistent_) {
    persistent->timer.cancel();
    persistent->resolver.cancel();
  }
  for (auto& [raw, pending] : pending_) pending.conn->Close();
  for (auto& [id, peer] : peers_) {
    peer->closed = true;
    peer->keepalive_timer.cancel();
    peer->conn->Close();
  }
  pending_.clear();
  peers_.clear();
  // persistent_ stays: a pending dial may still hold an index into it until
  // its cancelled handler runs (and sees stopped_).
}

// --- accepting ---------------------------------------------------------------

void PeerManager::Impl::DoAccept() {
  acceptor_.async_accept([weak = weak_from_this()](const error_code& ec, Tcp::socket socket) {
    auto self = weak.lock();
    if (!self || self->stopped_) return;
    self->OnAccept(ec, std::move(socket));
  });
}

void PeerManager::Impl::OnAccept(const error_code& ec, Tcp::socket socket) {
  if (ec) {
    spdlog::warn("p2p: accept failed: {}; retrying in {} ms", ec.message(),
                 kAcceptRetryDelay.count());
    accept_retry_timer_.expires_after(kAcceptRetryDelay);
    accept_retry_timer_.async_wait([weak = weak_from_this()](const error_code& wait_ec) {
      auto self = weak.lock();
      if (!wait_ec && self && !self->stopped_) self->DoAccept();
    });
    return;
  }
  error_code ignored;
  const auto remote = socket.remote_endpoint(ignored);
  const asio::ip::address ip = remote.address();
  const bool persistent = IsPersistentAddress(ip);
  const size_t inbound = CountPeers(/*outbound=*/false);
  const size_t room = config_.inbound_peers_max + (persistent ? kPersistentInboundSlack : 0);
  if (inbound >= room) {
    spdlog::info("p2p: refusing inbound connection from {}: {} inbound peers already",
                 ip.to_string(), config_.inbound_peers_max);
    socket.close(ignored);  // Refused on purpose; nothing to report.
  } else if (config_.inbound_peers_per_ip_max > 0 && !persistent &&
             (!ip.is_loopback() || config_.limit_loopback_per_ip) &&
             CountInboundFrom(ip) >= config_.inbound_peers_per_ip_max) {
    spdlog::info("p2p: refusing inbound connection from {}: {} inbound peers from that address "
                 "already",
                 ip.to_string(), config_.inbound_peers_per_ip_max);
    socket.close(ignored);
  } else {
    StartHandshake(std::move(socket), /*outbound=*/false, std::nullopt);
  }
  DoAccept();
}

// --- handshakes ----------------------------------------------------------------

void PeerManager::Impl::StartHandshake(Tcp::socket socket, bool outbound,
                                       std::optional<size_t> persistent) {
  HandshakeParams params;
  params.chain_id = config_.chain_id;
  params.genesis_hash = config_.genesis_hash;
  params.listen_port = listen_port_;
  params.frame_bytes_max = config_.frame_bytes_max;
  params.timeout = config_.handshake_timeout;
  if (persistent) params.expected_peer = persistent_[*persistent]->address.id;
  auto conn = SecretConnection::Create(std::move(socket), key_, std::move(params));
  pending_[conn.get()] = Pending{conn, outbound};
  conn->AsyncHandshake([weak = weak_from_this(), weak_conn = std::weak_ptr(conn), outbound,
                        persistent](Status status) {
    auto self = weak.lock();
    auto done_conn = weak_conn.lock();  // alive: the handshake's last handler holds it
    if (!self || self->stopped_ || !done_conn) return;
    self->OnHandshakeDone(done_conn, outbound, persistent, std::move(status));
  });
}

void PeerManager::Impl::OnHandshakeDone(const std::shared_ptr<SecretConnection>& conn,
                                        bool outbound, std::optional<size_t> persistent,
                                        Status status) {
  pending_.erase(conn.get());
  if (!status.ok()) {
    RejectConnection(conn, status, persistent);
    return;
  }
  Admit(conn, outbound, persistent);
}

void PeerManager::Impl::RejectConnection(const std::shared_ptr<SecretConnection>& conn,
                                         const Status& reason, std::optional<size_t> persistent) {
  conn->Close();
  spdlog::info("p2p: connection with {} refused: {}", conn->remote_address(), reason.ToString());
  if (persistent) {
    Persistent& entry = *persistent_[*persistent];
    if (reason.code() == StatusCode::kFailedPrecondition &&
        reason.message() == kSelfConnectionMessage) {
      spdlog::warn("p2p: persistent peer {} is this node; not dialling it again",
                   entry.address.ToString());
      entry.disabled = true;
      entry.busy = false;
    } else {
      ++entry.attempts;
      ScheduleDial(*persistent);
    }
  }
  if (handler_) handler_->OnHandshakeFailed(conn->remote_address(), reason);
}

bool PeerManager::Impl::IsBanned(const PeerId& id) {
  auto it = banned_until_.find(id);
  if (it == banned_until_.end()) return false;
  if (SteadyClock::now() < it->second.until) return true;
  banned_until_.erase(it);
  return false;
}

void PeerManager::Impl::Ban(const PeerId& id, const std::string& reason) {
  const auto now = SteadyClock::now();
  if (banned_until_.size() >= kBannedPeersMax) {
    std::erase_if(banned_until_, [now](const auto& entry) { return entry.second.until <= now; });
  }
  if (banned_until_.size() >= kBannedPeersMax) {
    // Still full of live bans: forget the one that ends soonest.
    auto soonest =
        std::min_element(banned_until_.begin(), banned_until_.end(),
                         [](const auto& a, const auto& b) { return a.second.until < b.second.until; });
    banned_until_.erase(soonest);
  }
  banned_until_[id] = BanEntry{now + config_.ban_duration, TruncateUtf8(reason, kReasonBytesMax)};
}

std::vector<BanInfo> PeerManager::Impl::Bans() const {
  const auto now = SteadyClock::now();
  std::vector<BanInfo> out;
  for (const auto& [id, entry] : banned_until_) {
    if (entry.until <= now) continue;
    out.push_back({id, entry.reason,
                   std::chrono::duration_cast<std::chrono::milliseconds>(entry.until - now)});
  }
  return out;
}

// Decides whether an authenticated connection becomes the peer's connection.
// Only one connection per identity is kept. When both nodes dial each other
// at once, each ends up with two; both sides keep the one dialled by the node
// with the lower public key, so they agree without talking. Two connections
// in the same direction mean the peer reconnected: the newer one wins.
void PeerManager::Impl::Admit(const std::shared_ptr<SecretConnection>& conn, bool outbound,
                              std::optional<size_t> persistent) {
  const PeerIdentity& identity = conn->peer();
  if (IsBanned(identity.id)) {
    RejectConnection(conn, Status::PermissionDenied("peer " + ShortId(identity.id) + " is banned"),
                     persistent);
    return;
  }
  if (persistent) {
    Persistent& entry = *persistent_[*persistent];
    entry.learned_id = identity.id;
    entry.attempts = 0;
    entry.busy = false;
  }
  if (auto it = peers_.find(identity.id); it != peers_.end()) {
    const PeerPtr existing = it->second;
    bool keep_new = true;
    if (existing->info.outbound != outbound) {
      const bool new_dialled_by_lower = outbound ? id() < identity.id : identity.id < id();
      keep_new = new_dialled_by_lower;
    }
    if (!keep_new) {
      spdlog::debug("p2p: dropping duplicate connection to {}", ShortId(identity.id));
      conn->Close();
      return;
    }
    RemovePeer(existing, "replaced by a newer connection from the same peer", /*ban=*/false);
    if (stopped_) return;  // the handler stopped us
  }
  if (!outbound) {
    // Handshakes from a persistent peer's address may have gone past the
    // bound: only a persistent peer is admitted past it, in the place of
    // the newest inbound peer that is not persistent.
    size_t inbound = 0;
    PeerPtr newest;
    for (const auto& [peer_id, p] : peers_) {
      if (p->info.outbound) continue;
      ++inbound;
      error_code ec;
      const auto at = p->conn->socket().remote_endpoint(ec);
      if (!ec && IsPersistentPeer(peer_id, at.address())) continue;
      if (!newest || p->info.connected_since > newest->info.connected_since) newest = p;
    }
    if (inbound >= config_.inbound_peers_max) {
      error_code ec;
      const auto at = conn->socket().remote_endpoint(ec);
      if (ec || !IsPersistentPeer(identity.id, at.address()) || !newest) {
        RejectConnection(conn,
                         Status::ResourceExhausted(std::to_string(config_.inbound_peers_max) +
                                                   " inbound peers already"),
                         persistent);
        return;
      }
      RemovePeer(newest, "its inbound slot went to a persistent peer", /*ban=*/false);
      if (stopped_) return;
    }
  }

  PeerInfo info;
  info.id = identity.id;
  info.remote_address = conn->remote_address();
  info.listen_port = identity.listen_port;
  info.outbound = outbound;
  info.connected_since = std::chrono::system_clock::now();
  auto peer = std::make_shared<Peer>(conn, std::move(info), config_, SteadyClock::now());
  peers_[identity.id] = peer;
  spdlog::info("p2p: connected to {} at {} ({})", ShortId(identity.id), conn->remote_address(),
               outbound ? "outbound" : "inbound");
  if (handler_) handler_->OnPeerConnected(peer->info);
  if (!peer->closed && !stopped_) {
    StartRead(peer);
    ScheduleKeepalive(peer);
  }
}

// --- reading -------------------------------------------------------------------

void PeerManager::Impl::StartRead(const PeerPtr& peer) {
  peer->conn->AsyncReadFrame([weak = weak_from_this(), peer](Result<Bytes> frame) {
    auto self = weak.lock();
    if (!self || self->stopped_ || peer->closed) return;
    self->OnFrame(peer, std::move(frame));
  });
}

void PeerManager::Impl::OnFrame(const PeerPtr& peer, Result<Bytes> frame) {
  if (!frame.ok()) {
    RemovePeer(peer, frame.status().ToString(), IsPeerMisbehaviour(frame.status()));
    return;
  }
  const Bytes& plaintext = *frame;
  const auto now = SteadyClock::now();
  const size_t frame_bytes = plaintext.size() + kFrameTagBytes + kFrameLengthBytes;
  if (!peer->message_bucket.Take(1, now)) {
    RemovePeer(peer,
               "rate limit exceeded: more than " +
                   std::to_string(config_.recv_messages_per_second) + " messages/s",
               /*ban=*/true);
    return;
  }
  if (!peer->byte_bucket.Take(static_cast<double>(frame_bytes), now)) {
    RemovePeer(peer,
               "rate limit exceeded: more than " + std::to_string(config_.recv_bytes_per_second) +
                   " bytes/s",
               /*ban=*/true);
    return;
  }
  const bool known_kind = plaintext.size() >= kMessageHeaderBytes &&
                          (plaintext[0] == static_cast<uint8_t>(MessageKind::kGossip) ||
                           plaintext[0] == static_cast<uint8_t>(MessageKind::kDirect) ||
                           plaintext[0] == static_cast<uint8_t>(MessageKind::kPing));
  if (!known_kind) {
    RemovePeer(peer, "corruption: malformed message header", /*ban=*/true);
    return;
  }
  peer->last_received = now;
  peer->info.bytes_received += frame_bytes;
  if (plaintext[0] == static_cast<uint8_t>(MessageKind::kPing)) {
    StartRead(peer);
    return;
  }
  ++peer->info.messages_received;
  const uint8_t channel = plaintext[1];
  const ByteSpan payload = ByteSpan(plaintext).subspan(kMessageHeaderBytes);
  bool deliver = true;
  if (plaintext[0] == static_cast<uint8_t>(MessageKind::kGossip)) {
    const Hash256 hash = GossipHash(channel, payload);
    peer->known.Insert(hash);
    deliver = seen_.Insert(hash);
  }
  if (deliver && handler_) handler_->OnMessage(peer->info.id, channel, payload);
  // The handler may have disconnected this peer or stopped the manager.
  if (!peer->closed && !stopped_) StartRead(peer);
}

// --- keepalive -----------------------------------------------------------------

void PeerManager::Impl::ScheduleKeepalive(const PeerPtr& peer) {
  peer->keepalive_timer.expires_after(config_.ping_interval);
  // A weak reference: the timer belongs to the peer and must not keep it alive.
  peer->keepalive_timer.async_wait(
      [weak = weak_from_this(), weak_peer = std::weak_ptr(peer)](const error_code& ec) {
        auto self = weak.lock();
        auto peer_now = weak_peer.lock();
        if (ec || !self || self->stopped_ || !peer_now || peer_now->closed) return;
        self->OnKeepalive(peer_now);
      });
}

void PeerManager::Impl::OnKeepalive(const PeerPtr& peer) {
  const auto silent = SteadyClock::now() - peer->last_received;
  if (silent >= config_.idle_timeout) {
    RemovePeer(
        peer,
        "no frame received for " +
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(silent).count()) +
            " ms",
        /*ban=*/false);
    return;
  }
  if (!peer->sent_since_tick) Enqueue(peer, MessageKind::kPing, /*channel=*/0, {});
  peer->sent_since_tick = false;
  if (!peer->closed) ScheduleKeepalive(peer);
}

// --- writing -------------------------------------------------------------------

void PeerManager::Impl::Broadcast(uint8_t channel, ByteSpan payload) {
  if (stopped_ || !started_) return;
  if (payload.size() > payload_bytes_max()) {
    spdlog::error("p2p: dropping a {}-byte broadcast on channel {}: the limit is {} bytes",
                  payload.size(), channel, payload_bytes_max());
    return;
  }
  const Hash256 hash = GossipHash(channel, payload);
  seen_.Insert(hash);  // so that it is dropped when it comes back to us
  // Copy first: Enqueue may remove a peer whose queue overflows.
  std::vector<PeerPtr> targets;
  for (const auto& [peer_id, peer] : peers_) {
    if (!peer->known.Contains(hash)) targets.push_back(peer);
  }
  for (const PeerPtr& peer : targets) {
    peer->known.Insert(hash);
    Enqueue(peer, MessageKind::kGossip, channel, payload);
  }
}

void PeerManager::Impl::Send(const PeerId& peer_id, uint8_t channel, ByteSpan payload) {
  if (stopped_ || !started_) return;
  if (payload.size() > payload_bytes_max()) {
    spdlog::error("p2p: dropping a {}-byte message on channel {}: the limit is {} bytes",
                  payload.size(), channel, payload_bytes_max());
    return;
  }
  auto it = peers_.find(peer_id);
  if (it == peers_.end()) return;
  const PeerPtr peer = it->second;
  Enqueue(peer, MessageKind::kDirect, channel, payload);
}

void PeerManager::Impl::Enqueue(const PeerPtr& peer, MessageKind kind, uint8_t channel,
                                ByteSpan payload) {
  if (peer->closed) return;
  const size_t frame_bytes =
      kFrameLengthBytes + kFrameTagBytes + kMessageHeaderBytes + payload.size();
  if (peer->queued_messages >= config_.send_queue_messages_max ||
      peer->queued_frame_bytes + frame_bytes > config_.send_queue_bytes_max) {
    RemovePeer(peer,
               "send queue full (" + std::to_string(peer->queued_messages) + " messages, " +
                   std::to_string(peer->queued_frame_bytes) +
                   " bytes): the peer reads too slowly",
               /*ban=*/false, Notify::kPosted);
    return;
  }
  Bytes plaintext;
  plaintext.reserve(kMessageHeaderBytes + payload.size());
  plaintext.push_back(static_cast<uint8_t>(kind));
  plaintext.push_back(channel);
  Append(plaintext, payload);
  const bool bulk = kind == MessageKind::kGossip && config_.bulk_channels.test(channel);
  (bulk ? peer->bulk_queue : peer->urgent_queue).push_back(std::move(plaintext));
  ++peer->queued_messages;
  peer->queued_frame_bytes += frame_bytes;
  peer->info.bytes_sent += frame_bytes;
  if (kind != MessageKind::kPing) ++peer->info.messages_sent;
  peer->sent_since_tick = true;
  if (!peer->writing) DoWrite(peer);
}

// Everything queued so far, urgent messages first, is sealed into one buffer
// (up to kWriteBatchBytesMax) and goes out in one write, so a burst of small
// frames costs one system call. Sealing at write time rather than at
// Enqueue is what lets an urgent message overtake queued bulk ones: the
// stream cipher fixes the order of frames once they are sealed.
void PeerManager::Impl::DoWrite(const PeerPtr& peer) {
  peer->writing = true;
  // A block response can make the buffer large: do not keep that per peer.
  if (peer->write_buffer.capacity() > 2 * kWriteBatchBytesMax) Bytes().swap(peer->write_buffer);
  peer->write_buffer.clear();
  while (peer->write_buffer.empty() || peer->write_buffer.size() < kWriteBatchBytesMax) {
    std::deque<Bytes>& queue =
        !peer->urgent_queue.empty() ? peer->urgent_queue : peer->bulk_queue;
    if (queue.empty()) break;
    const Bytes& plaintext = queue.front();
    if (!peer->write_buffer.empty() &&
        peer->write_buffer.size() + kFrameLengthBytes + kFrameTagBytes + plaintext.size() >
            kWriteBatchBytesMax) {
      break;
    }
    peer->conn->SealFrameInto(plaintext, &peer->write_buffer);
    --peer->queued_messages;
    peer->queued_frame_bytes -= kFrameLengthBytes + kFrameTagBytes + plaintext.size();
    queue.pop_front();
  }
  asio::async_write(peer->conn->socket(), asio::buffer(peer->write_buffer),
                    [weak = weak_from_this(), peer](const error_code& ec, size_t) {
                      auto self = weak.lock();
                      if (!self || self->stopped_ || peer->closed) return;
                      if (ec) {
                        self->RemovePeer(peer, "write failed: " + ec.message(), /*ban=*/false);
                        return;
                      }
                      if (peer->urgent_queue.empty() && peer->bulk_queue.empty()) {
                        peer->writing = false;
                      } else {
                        self->DoWrite(peer);
                      }
                    });
}

// --- disconnecting ---------------------------------------------------------------

void PeerManager::Impl::Disconnect(const PeerId& peer_id, std::string reason, bool ban) {
  if (stopped_) return;
  if (ban) Ban(peer_id, reason);
  if (auto it = peers_.find(peer_id); it != peers_.end()) {
    const PeerPtr peer = it->second;
    RemovePeer(peer, reason, ban, Notify::kPosted);
  }
}

void PeerManager::Impl::RemovePeer(const PeerPtr& peer, const std::string& reason, bool ban,
                                   Notify notify) {
  if (peer->closed) return;
  peer->closed = true;
  peer->keepalive_timer.cancel();
  // The queues are freed with the peer, once the write in flight (which
  // still points into its write buffer) has completed with an error.
  peer->conn->Close();
  const PeerId peer_id = peer->info.id;
  if (auto it = peers_.find(peer_id); it != peers_.end() && it->second == peer) {
    peers_.erase(it);
  }
  if (ban) Ban(peer_id, reason);
  if (recent_disconnects_.size() >= kRecentDisconnectsMax) recent_disconnects_.pop_front();
  recent_disconnects_.push_back({peer_id, peer->info.remote_address,
                                 TruncateUtf8(reason, kReasonBytesMax), ban,
                                 std::chrono::system_clock::now()});
  spdlog::info("p2p: disconnected {} at {}: {}{}", ShortId(peer_id), peer->info.remote_address,
               reason, ban ? " (banned)" : "");
  if (notify == Notify::kNow) {
    if (handler_) handler_->OnPeerDisconnected(peer_id, reason);
  } else {
    asio::post(io_, [weak = weak_from_this(), peer_id, reason] {
      auto self = weak.lock();
      if (self && !self->stopped_ && self->handler_) {
        self->handler_->OnPeerDisconnected(peer_id, reason);
      }
    });
  }
  if (!stopped_) RedialPersistentFor(peer_id);
}

// --- persistent peers ------------------------------------------------------------

void PeerManager::Impl::RedialPersistentFor(const PeerId& peer_id) {
  for (size_t i = 0; i < persistent_.size(); ++i) {
    Persistent& entry = *persistent_[i];
    if (entry.disabled || entry.busy || entry.id() != peer_id) continue;
    entry.busy = true;
    ScheduleDial(i);
  }
}

void PeerManager::Impl::ScheduleDial(size_t index) {
  Persistent& entry = *persistent_[index];
  const auto delay_min = config_.reconnect_delay_min.count();
  const auto delay_max = config_.reconnect_delay_max.count();
  // min * 2^attempts without overflow, then capped.
  int64_t delay = delay_min;
  for (uint32_t i = 0; i < entry.attempts && delay < delay_max; ++i) delay *= 2;
  delay = std::min<int64_t>(delay, delay_max);
  std::uniform_int_distribution<int64_t> jitter(delay / 2, delay);
  const std::chrono::milliseconds wait(jitter(rng_));
  spdlog::debug("p2p: dialling {} in {} ms", entry.address.ToString(), wait.count());
  entry.timer.expires_after(wait);
  entry.timer.async_wait([weak = weak_from_this(), index](const error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->stopped_) return;
    self->Dial(index);
  });
}

void PeerManager::Impl::Dial(size_t index) {
  Persistent& entry = *persistent_[index];
  if (entry.disabled) return;
  if (auto known = entry.id(); known && peers_.contains(*known)) {
    entry.busy = false;  // already connected (it dialled us); redialled when it goes
    entry.attempts = 0;
    return;
  }
  entry.busy = true;
  if (CountPeers(/*outbound=*/true) >= config_.outbound_peers_max) {
    ++entry.attempts;  // back off instead of polling for a free slot
    ScheduleDial(index);
    return;
  }
  entry.resolver.async_resolve(
      entry.address.host, std::to_string(entry.address.port),
      [weak = weak_from_this(), index](const error_code& ec, Tcp::resolver::results_type results) {
        auto self = weak.lock();
        if (!self || self->stopped_) return;
        if (ec) {
          self->OnDialFailed(index, "cannot resolve: " + ec.message());
          return;
        }
        Persistent& resolved = *self->persistent_[index];
        for (const auto& result : results) resolved.ips.insert(result.endpoint().address());
        auto socket = std::make_shared<Tcp::socket>(self->io_);
        // A dial that hangs (a host that drops SYNs) is cut off like a handshake.
        resolved.timer.expires_after(self->config_.handshake_timeout);
        resolved.timer.async_wait([weak_socket = std::weak_ptr(socket)](const error_code& wait_ec) {
          if (wait_ec) return;
          if (auto s = weak_socket.lock()) {
            error_code ignored;  // Closing makes the connect fail, which is the point.
            s->close(ignored);
          }
        });
        asio::async_connect(
            *socket, results,
            [weak, index, socket](const error_code& connect_ec, const Tcp::endpoint&) {
              auto self2 = weak.lock();
              if (!self2 || self2->stopped_) return;
              self2->persistent_[index]->timer.cancel();
              if (connect_ec) {
                self2->OnDialFailed(index, "cannot connect: " + connect_ec.message());
                return;
              }
              self2->StartHandshake(std::move(*socket), /*outbound=*/true, index);
            });
      });
}

void PeerManager::Impl::OnDialFailed(size_t index, const std::string& reason) {
  Persistent& entry = *persistent_[index];
  ++entry.attempts;
  spdlog::debug("p2p: dialling {} failed ({} in a row): {}", entry.address.ToString(),
                entry.attempts, reason);
  ScheduleDial(index);
}

size_t PeerManager::Impl::CountInboundFrom(const asio::ip::address& ip) const {
  auto from = [&](const std::shared_ptr<SecretConnection>& conn) {
    error_code ec;
    const auto at = conn->socket().remote_endpoint(ec);
    return !ec && at.address() == ip;
  };
  size_t count = 0;
  for (const auto& [peer_id, peer] : peers_) count += !peer->info.outbound && from(peer->conn);
  for (const auto& [raw, pending] : pending_) count += !pending.outbound && from(pending.conn);
  return count;
}

bool PeerManager::Impl::IsPersistentAddress(const asio::ip::address& ip) const {
  for (const auto& entry : persistent_) {
    if (entry->ips.contains(ip)) return true;
  }
  return false;
}

bool PeerManager::Impl::IsPersistentPeer(const PeerId& peer, const asio::ip::address& ip) const {
  for (const auto& entry : persistent_) {
    const std::optional<PeerId> known = entry->id();
    if (known ? *known == peer : entry->ips.contains(ip)) return true;
  }
  return false;
}

size_t PeerManager::Impl::CountPeers(bool outbound) const {
  size_t count = 0;
  for (const auto& [peer_id, peer] : peers_) count += peer->info.outbound == outbound ? 1 : 0;
  for (const auto& [raw, pending] : pending_) count += pending.outbound == outbound ? 1 : 0;
  return count;
}

std::vector<PeerInfo> PeerManager::Impl::Peers() const {
  std::vector<PeerInfo> out;
  out.reserve(peers_.size());
  for (const auto& [peer_id, peer] : peers_) out.push_back(peer->info);
  return out;
}

// ---------------------------------------------------------------------------

PeerManager::PeerManager(asio::io_context& io, Config config, SecretKey node_key, Handler& handler)
    : impl_(std::make_shared<Impl>(io, std::move(config), std::move(node_key), handler)) {}

PeerManager::~PeerManager() { impl_->Stop(); }

Status PeerManager::Start() { return impl_->Start(); }
void PeerManager::Stop() { impl_->Stop(); }
uint16_t PeerManager::listen_port() const { return impl_->listen_port(); }
const PeerId& PeerManager::id() const { return impl_->id(); }
size_t PeerManager::payload_bytes_max() const { return impl_->payload_bytes_max(); }
void PeerManager::Broadcast(uint8_t channel, ByteSpan payload) {
  impl_->Broadcast(channel, payload);
}
void PeerManager::Send(const PeerId& peer, uint8_t channel, ByteSpan payload) {
  impl_->Send(peer, channel, payload);
}
void PeerManager::Disconnect(const PeerId& peer, std::string reason, bool ban) {
  impl_->Disconnect(peer, std::move(reason), ban);
}
std::vector<PeerInfo> PeerManager::Peers() const { return impl_->Peers(); }
std::vector<Disconnection> PeerManager::RecentDisconnects() const {
  return impl_->RecentDisconnects();
}
std::vector<BanInfo> PeerManager::Bans() const { return impl_->Bans(); }

}  // namespace agora::node::p2p
