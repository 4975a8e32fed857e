// P2P transport tests over real sockets on 127.0.0.1 with ephemeral ports.
// Every wait runs the io_context under a deadline (RunUntil) so a broken
// build fails instead of hanging; assertions are on counts and reasons, never
// on how long something took.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/hash.h"
#include "common/keys.h"
#include "node/p2p/peer_manager.h"
#include "node/p2p/secret_connection.h"

namespace agora::node::p2p {
namespace {

namespace asio = boost::asio;
using Tcp = asio::ip::tcp;
using std::chrono::milliseconds;

constexpr char kChainId[] = "agora-p2p-test";
constexpr milliseconds kDeadline{10'000};
// Time given to in-flight messages before counting that nothing more arrives.
constexpr milliseconds kSettle{300};
constexpr uint8_t kChannelTx = 1;
constexpr uint8_t kChannelVote = 3;

Hash256 Genesis(std::string_view name = "genesis") { return Blake2b256(name); }

SecretKey KeyFromSeed(uint8_t seed) {
  std::array<uint8_t, SecretKey::kSeedSize> bytes{};
  bytes.fill(seed);
  return *SecretKey::FromSeed(bytes);
}

// Runs `io` until `done()` or the deadline; returns done().
bool RunUntil(asio::io_context& io, const std::function<bool()>& done,
              milliseconds deadline = kDeadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    io.restart();
    io.run_for(milliseconds(5));
  }
  return true;
}

void RunFor(asio::io_context& io, milliseconds duration) {
  const auto until = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < until) {
    io.restart();
    io.run_for(milliseconds(5));
  }
}

// A port that was free a moment ago, for tests that must name a port before
// the node that will listen on it exists.
uint16_t ReservePort() {
  asio::io_context io;
  Tcp::acceptor acceptor(io, Tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

Bytes Payload(std::string_view text) { return ToBytes(text); }

struct Delivery {
  PeerId from;
  uint8_t channel = 0;
  Bytes payload;
};

class Recorder : public PeerManagerHandler {
 public:
  void OnPeerConnected(const PeerInfo& peer) override { connected.push_back(peer.id); }
  void OnPeerDisconnected(const PeerId& peer, std::string_view reason) override {
    disconnected.emplace_back(peer, std::string(reason));
  }
  void OnMessage(const PeerId& from, uint8_t channel, ByteSpan payload) override {
    messages.push_back({from, channel, Bytes(payload.begin(), payload.end())});
    if (on_message) on_message(from, channel, payload);
  }
  void OnHandshakeFailed(std::string_view, const Status& reason) override {
    failures.push_back(reason);
  }

  bool WasConnected(const PeerId& id) const {
    return std::find(connected.begin(), connected.end(), id) != connected.end();
  }
  // The reason `id` was disconnected, or "" if it was not.
  std::string DisconnectReason(const PeerId& id) const {
    for (const auto& [peer, reason] : disconnected) {
      if (peer == id) return reason;
    }
    return "";
  }
  size_t CountFrom(const PeerId& id) const {
    size_t count = 0;
    for (const Delivery& d : messages) count += d.from == id ? 1 : 0;
    return count;
  }

  std::vector<PeerId> connected;
  std::vector<std::pair<PeerId, std::string>> disconnected;
  std::vector<Delivery> messages;
  std::vector<Status> failures;
  std::function<void(const PeerId&, uint8_t, ByteSpan)> on_message;
};

PeerManagerConfig BaseConfig(uint8_t seed) {
  PeerManagerConfig config;
  config.chain_id = kChainId;
  config.genesis_hash = Genesis();
  config.random_seed = seed;
  // Short backoff keeps the reconnect tests quick.
  config.reconnect_delay_min = milliseconds(20);
  config.reconnect_delay_max = milliseconds(200);
  return config;
}

// One PeerManager with its key and a recorder.
struct TestNode {
  TestNode(asio::io_context& io, uint8_t seed, PeerManagerConfig c)
      : key(KeyFromSeed(seed)), config(std::move(c)) {
    manager = std::make_unique<PeerManager>(io, config, key, recorder);
    Status s = manager->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  TestNode(asio::io_context& io, uint8_t seed) : TestNode(io, seed, BaseConfig(seed)) {}

  const PeerId& id() const { return key.public_key(); }
  PeerAddress address() const { return PeerAddress{id(), "127.0.0.1", manager->listen_port()}; }
  size_t peer_count() const { return manager->Peers().size(); }

  SecretKey key;
  PeerManagerConfig config;
  Recorder recorder;
  std::unique_ptr<PeerManager> manager;
};

// Config for a node that dials `peers` at start.
PeerManagerConfig Dialling(uint8_t seed, std::vector<PeerAddress> peers) {
  PeerManagerConfig config = BaseConfig(seed);
  config.persistent_peers = std::move(peers);
  return config;
}

HandshakeParams DefaultParams() {
  HandshakeParams params;
  params.chain_id = kChainId;
  params.genesis_hash = Genesis();
  params.timeout = milliseconds(5000);
  return params;
}

// Two SecretConnections over a loopback socket, handshaken with default
// parameters (identities 1 and 2).
void HandshakenPair(asio::io_context& io, std::shared_ptr<SecretConnection>* client,
                    std::shared_ptr<SecretConnection>* server) {
  Tcp::acceptor acceptor(io, Tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  Tcp::socket client_socket(io);
  client_socket.connect(acceptor.local_endpoint());
  Tcp::socket server_socket = acceptor.accept();
  *client = SecretConnection::Create(std::move(client_socket), KeyFromSeed(1), DefaultParams());
  *server = SecretConnection::Create(std::move(server_socket), KeyFromSeed(2), DefaultParams());
  std::optional<Status> client_done, server_done;
  (*client)->AsyncHandshake([&](Status s) { client_done = std::move(s); });
  (*server)->AsyncHandshake([&](Status s) { server_done = std::move(s); });
  ASSERT_TRUE(RunUntil(io, [&] { return client_done && server_done; }));
  ASSERT_TRUE(client_done->ok() && server_done->ok());
}

// A hand-driven peer: a SecretConnection used directly, so a test can send
// exactly the bytes it wants (garbage, bad lengths, tampered frames).
class RawPeer {
 public:
  RawPeer(asio::io_context& io, uint16_t port, uint8_t seed,
          HandshakeParams params = DefaultParams())
      : io_(io), key_(KeyFromSeed(seed)) {
    Tcp::socket socket(io);
    socket.connect(Tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    conn_ = SecretConnection::Create(std::move(socket), key_, std::move(params));
  }

  Status Handshake() {
    auto result = std::make_shared<std::optional<Status>>();
    conn_->AsyncHandshake([result](Status s) { *result = std::move(s); });
    if (!RunUntil(io_, [&] { return result->has_value(); })) {
      return Status::Internal("handshake did not finish");
    }
    return **result;
  }

  Bytes Frame(MessageKind kind, uint8_t channel, ByteSpan payload) {
    Bytes plaintext = {static_cast<uint8_t>(kind), channel};
    Append(plaintext, payload);
    return conn_->SealFrame(plaintext);
  }
  void Write(ByteSpan bytes) {
    asio::write(conn_->socket(), asio::buffer(bytes.data(), bytes.size()));
  }

  // Runs `io` until the other side closes the connection.
  bool WaitUntilClosedByPeer() {
    auto closed = std::make_shared<bool>(false);
    auto buffer = std::make_shared<std::array<uint8_t, 4096>>();
    std::function<void()> read_more;  // reads and discards until an error
    auto conn = conn_;
    read_more = [conn, closed, buffer, &read_more] {
      conn->socket().async_read_some(
          asio::buffer(*buffer), [closed, &read_more](const boost::system::error_code& ec, size_t) {
            if (ec) {
              *closed = true;
            } else {
              read_more();
            }
          });
    };
    read_more();
    const bool ok = RunUntil(io_, [&] { return *closed; });
    conn_->Close();
    RunFor(io_, milliseconds(1));  // let the cancelled read finish while read_more exists
    return ok;
  }

  const PeerId& id() const { return key_.public_key(); }
  SecretConnection& conn() { return *conn_; }

 private:
  asio::io_context& io_;
  SecretKey key_;
  std::shared_ptr<SecretConnection> conn_;
};

// A good peer still gets through to `node` after something bad happened.
void ExpectStillServes(asio::io_context& io, TestNode& node, TestNode& good) {
  const size_t before = good.recorder.CountFrom(node.id());
  node.manager->Send(good.id(), kChannelTx, Payload("still here"));
  ASSERT_TRUE(RunUntil(io, [&] { return good.recorder.CountFrom(node.id()) == before + 1; }));
  EXPECT_EQ(good.recorder.messages.back().payload, Payload("still here"));
}

// ---------------------------------------------------------------------------

TEST(PeerAddressTest, ParsesWithAndWithoutIdentity) {
  const PeerId id = KeyFromSeed(7).public_key();
  auto with_id = PeerAddress::Parse(id.ToHex() + "@127.0.0.1:26656");
  ASSERT_TRUE(with_id.ok()) << with_id.status().ToString();
  EXPECT_EQ(with_id->id, id);
  EXPECT_EQ(with_id->host, "127.0.0.1");
  EXPECT_EQ(with_id->port, 26656);
  EXPECT_EQ(with_id->ToString(), id.ToHex() + "@127.0.0.1:26656");

  auto plain = PeerAddress::Parse("node-1.example:9");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->id.has_value());
  EXPECT_EQ(plain->host, "node-1.example");

  auto v6 = PeerAddress::Parse("[::1]:443");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "[::1]:443");
}

TEST(PeerAddressTest, RejectsMalformed) {
  for (const char* bad : {"", "host", "host:", ":80", "host:0", "host:65536", "host:80x",
                          "abcd@host:80", "::1:80", "[::1]80", "[::1]:"}) {
    EXPECT_EQ(PeerAddress::Parse(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(SecretConnectionTest, HandshakeThenFramesBothWays) {
  asio::io_context io;
  Tcp::acceptor acceptor(io, Tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  Tcp::socket client_socket(io);
  client_socket.connect(acceptor.local_endpoint());
  Tcp::socket server_socket = acceptor.accept();

  HandshakeParams client_params = DefaultParams();
  client_params.listen_port = 1111;
  client_params.expected_peer = KeyFromSeed(2).public_key();
  auto client = SecretConnection::Create(std::move(client_socket), KeyFromSeed(1), client_params);
  auto server = SecretConnection::Create(std::move(server_socket), KeyFromSeed(2), DefaultParams());
  std::optional<Status> client_done, server_done;
  client->AsyncHandshake([&](Status s) { client_done = std::move(s); });
  server->AsyncHandshake([&](Status s) { server_done = std::move(s); });
  ASSERT_TRUE(RunUntil(io, [&] { return client_done && server_done; }));
  ASSERT_TRUE(client_done->ok()) << client_done->ToString();
  ASSERT_TRUE(server_done->ok()) << server_done->ToString();
  EXPECT_EQ(client->peer().id, KeyFromSeed(2).public_key());
  EXPECT_EQ(server->peer().id, KeyFromSeed(1).public_key());
  EXPECT_EQ(server->peer().listen_port, 1111);

  // Three frames each way, including an empty one, arrive in order.
  const std::vector<Bytes> texts = {Payload("one"), Bytes{}, Payload("three")};
  for (const Bytes& t : texts) {
    Bytes a = client->SealFrame(t);
    Bytes b = server->SealFrame(t);
    asio::write(client->socket(), asio::buffer(a));
    asio::write(server->socket(), asio::buffer(b));
  }
  for (auto* conn : {client.get(), server.get()}) {
    for (const Bytes& expected : texts) {
      std::optional<Result<Bytes>> got;
      conn->AsyncReadFrame([&](Result<Bytes> r) { got.emplace(std::move(r)); });
      ASSERT_TRUE(RunUntil(io, [&] { return got.has_value(); }));
      ASSERT_TRUE(got->ok()) << got->status().ToString();
      EXPECT_EQ(**got, expected);
    }
  }
}

// Frames arrive however TCP cuts them: many in one read, one larger than a
// read chunk across several reads, one trickled a few bytes at a time. Each
// comes out whole and in order, and never from inside AsyncReadFrame itself.
TEST(SecretConnectionTest, FramesSurviveAnyCutOfTheByteStream) {
  asio::io_context io;
  std::shared_ptr<SecretConnection> client, server;
  ASSERT_NO_FATAL_FAILURE(HandshakenPair(io, &client, &server));

  std::vector<Bytes> texts;
  for (size_t size : {size_t{0}, size_t{1}, size_t{150}, size_t{70'000}, size_t{3}, size_t{200'001},
                      size_t{17}}) {
    Bytes t(size);
    for (size_t i = 0; i < size; ++i) t[i] = static_cast<uint8_t>(i * 31 + size);
    texts.push_back(std::move(t));
  }
  for (int i = 0; i < 300; ++i) texts.push_back(Payload("small " + std::to_string(i)));
  Bytes burst;
  for (const Bytes& t : texts) Append(burst, client->SealFrame(t));
  asio::write(client->socket(), asio::buffer(burst));  // everything in one write
  const Bytes trickled_text = Payload("arrives in pieces");
  const Bytes trickled = client->SealFrame(trickled_text);
  texts.push_back(trickled_text);

  for (size_t i = 0; i < texts.size(); ++i) {
    if (i == texts.size() - 1) {
      for (size_t at = 0; at < trickled.size(); at += 5) {
        asio::write(client->socket(),
                    asio::buffer(trickled.data() + at, std::min<size_t>(5, trickled.size() - at)));
        RunFor(io, milliseconds(1));
      }
    }
    std::optional<Result<Bytes>> got;
    bool inside_call = true;
    bool called_inside = false;
    server->AsyncReadFrame([&](Result<Bytes> r) {
      called_inside = inside_call;
      got.emplace(std::move(r));
    });
    inside_call = false;
    ASSERT_TRUE(RunUntil(io, [&] { return got.has_value(); })) << "frame " << i;
    EXPECT_FALSE(called_inside) << "frame " << i;
    ASSERT_TRUE(got->ok()) << "frame " << i << ": " << got->status().ToString();
    ASSERT_EQ(**got, texts[i]) << "frame " << i;
  }
}

TEST(SecretConnectionTest, ReplayedFrameFailsAuthentication) {
  asio::io_context io;
  std::shared_ptr<SecretConnection> client, server;
  ASSERT_NO_FATAL_FAILURE(HandshakenPair(io, &client, &server));

  const Bytes frame = client->SealFrame(Payload("pay 5"));
  asio::write(client->socket(), asio::buffer(frame));
  asio::write(client->socket(), asio::buffer(frame));  // the same bytes again
  std::vector<Result<Bytes>> got;
  server->AsyncReadFrame([&](Result<Bytes> r) { got.push_back(std::move(r)); });
  ASSERT_TRUE(RunUntil(io, [&] { return got.size() == 1; }));
  server->AsyncReadFrame([&](Result<Bytes> r) { got.push_back(std::move(r)); });
  ASSERT_TRUE(RunUntil(io, [&] { return got.size() == 2; }));
  ASSERT_TRUE(got[0].ok());
  EXPECT_EQ(got[1].status().code(), StatusCode::kCorruption);
}

TEST(PeerManagerTest, HandshakeThenMessagesFlowBothWaysInOrder) {
  asio::io_context io;
  TestNode a(io, 1);
  TestNode b(io, 2, Dialling(2, {a.address()}));
  ASSERT_TRUE(RunUntil(io, [&] { return a.peer_count() == 1 && b.peer_count() == 1; }));
  EXPECT_TRUE(a.recorder.WasConnected(b.id()));
  EXPECT_TRUE(b.recorder.WasConnected(a.id()));

  constexpr int kMessages = 50;
  for (int i = 0; i < kMessages; ++i) {
    a.manager->Send(b.id(), kChannelTx, Payload("a" + std::to_string(i)));
    b.manager->Send(a.id(), kChannelVote, Payload("b" + std::to_string(i)));
  }
  ASSERT_TRUE(RunUntil(io, [&] {
    return a.recorder.messages.size() == kMessages && b.recorder.messages.size() == kMessages;
  }));
  for (int i = 0; i < kMessages; ++i) {
    EXPECT_EQ(b.recorder.messages[i].payload, Payload("a" + std::to_string(i)));
    EXPECT_EQ(b.recorder.messages[i].channel, kChannelTx);
    EXPECT_EQ(b.recorder.messages[i].from, a.id());
    EXPECT_EQ(a.recorder.messages[i].payload, Payload("b" + std::to_string(i)));
    EXPECT_EQ(a.recorder.messages[i].channel, kChannelVote);
  }

  const auto a_peers = a.manager->Peers();
  ASSERT_EQ(a_peers.size(), 1u);
  EXPECT_EQ(a_peers[0].id, b.id());
  EXPECT_FALSE(a_peers[0].outbound);
  EXPECT_EQ(a_peers[0].listen_port, b.manager->listen_port());
  EXPECT_EQ(a_peers[0].messages_sent, uint64_t{kMessages});
  EXPECT_EQ(a_peers[0].messages_received, uint64_t{kMessages});
  const auto b_peers = b.manager->Peers();
  ASSERT_EQ(b_peers.size(), 1u);
  EXPECT_TRUE(b_peers[0].outbound);
  EXPECT_EQ(b_peers[0].bytes_sent, a_peers[0].bytes_received);
  EXPECT_EQ(b_peers[0].remote_address, "127.0.0.1:" + std::to_string(a.manager->listen_port()));
}

// An honest burst of gossip (a node relaying a few thousand transactions at
// once, as under a benchmark flood) stays within the default bounds: the
// peer is neither banned nor dropped, and everything arrives.
TEST(PeerManagerTest, HonestGossipBurstWithDefaultBoundsIsNotPunished) {
  asio::io_context io;
  TestNode a(io, 1);
  TestNode b(io, 2, Dialling(2, {a.address()}));
  ASSERT_TRUE(RunUntil(io, [&] { return a.peer_count() == 1 && b.peer_count() == 1; }));
  constexpr int kMessages = 8000;
  for (int i = 0; i < kMessages; ++i) {
    Bytes tx(170, static_cast<uint8_t>(i));
    tx[0] = static_cast<uint8_t>(i >> 8);
    a.manager->Broadcast(kChannelTx, tx);
  }
  ASSERT_TRUE(RunUntil(io, [&] { return b.recorder.messages.size() == kMessages; }))
      << b.recorder.messages.size() << " of " << kMessages << " arrived; disconnect reason: "
      << b.recorder.DisconnectReason(a.id());
  EXPECT_EQ(b.recorder.DisconnectReason(a.id()), "");
  EXPECT_EQ(a.recorder.DisconnectReason(b.id()), "");
  EXPECT_EQ(a.peer_count(), 1u);
}

TEST(PeerManagerTest, DirectMessagesAreNotDeduplicatedButGossipIs) {
  asio::io_context io;
  TestNode a(io, 1);
  TestNode b(io, 2, Dialling(2, {a.address()}));
  ASSERT_TRUE(RunUntil(io, [&] { return a.peer_count() == 1 && b.peer_count() == 1; }));
  a.manager->Send(b.id(), kChannelTx, Payload("same"));
  a.manager->Send(b.id(), kChannelTx, Payload("same"));
  a.manager->Broadcast(kChannelTx, Payload("gossip"));
  a.manager->Broadcast(kChannelTx, Payload("gossip"));
  a.manager->Broadcast(kChannelVote, Payload("gossip"));  // another channel: another message
  ASSERT_TRUE(RunUntil(io, [&] { return b.recorder.messages.size() >= 4; }));
  RunFor(io, kSettle);
  ASSERT_EQ(b.recorder.messages.size(), 4u);
  EXPECT_EQ(b.recorder.messages[0].payload, Payload("same"));
  EXPECT_EQ(b.recorder.messages[1].payload, Payload("same"));
  EXPECT_EQ(b.recorder.messages[2].payload, Payload("gossip"));
  EXPECT_EQ(b.recorder.messages[3].channel, kChannelVote);
}

// Each node relays what it receives, as the caller does after validating.
void RelayEverything(std::vector<std::unique_ptr<TestNode>>& nodes) {
  for (auto& node : nodes) {
    PeerManager* manager = node->manager.get();
    node->recorder.on_message = [manager](const PeerId&, uint8_t channel, ByteSpan payload) {
      manager->Broadcast(channel, payload);
    };
  }
}

// Broadcasts one message from each node and checks that every other node
// delivered each exactly once.
void ExpectGossipReachesAllOnce(asio::io_context& io,
                                std::vector<std::unique_ptr<TestNode>>& nodes) {
  RelayEverything(nodes);
  for (size_t i = 0; i < nodes.size(); ++i) {
    nodes[i]->manager->Broadcast(kChannelTx, Payload("tx from " + std::to_string(i)));
  }
  const size_t expected = nodes.size() - 1;
  ASSERT_TRUE(RunUntil(io, [&] {
    for (auto& node : nodes) {
      if (node->recorder.messages.size() < expected) return false;
    }
    return true;
  }));
  RunFor(io, kSettle);  // room for any duplicate to show up
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::map<Bytes, int> counts;
    for (const Delivery& d : nodes[i]->recorder.messages) ++counts[d.payload];
    EXPECT_EQ(nodes[i]->recorder.messages.size(), expected) << "node " << i;
    for (const auto& [payload, count] : counts) {
      EXPECT_EQ(count, 1) << "node " << i << " got '" << ToString(payload) << "' " << count
                          << " times";
    }
    EXPECT_EQ(counts.count(Payload("tx from " + std::to_string(i))), 0u)
        << "node " << i << " got its own message back";
  }
}

TEST(PeerManagerTest, GossipAlongALineReachesEveryNodeExactlyOnce) {
  asio::io_context io;
  std::vector<std::unique_ptr<TestNode>> nodes;
  nodes.push_back(std::make_unique<TestNode>(io, 1));
  for (uint8_t i = 1; i < 4; ++i) {
    nodes.push_back(
        std::make_unique<TestNode>(io, i + 1, Dialling(i + 1, {nodes.back()->address()})));
  }
  ASSERT_TRUE(RunUntil(io, [&] {
    return nodes[0]->peer_count() == 1 && nodes[1]->peer_count() == 2 &&
           nodes[2]->peer_count() == 2 && nodes[3]->peer_count() == 1;
  }));
  ExpectGossipReachesAllOnce(io, nodes);
}

TEST(PeerManagerTest, GossipInAMeshReachesEveryNodeExactlyOnceAndDropsDuplicates) {
  asio::io_context io;
  std::vector<std::unique_ptr<TestNode>> nodes;
  for (uint8_t i = 0; i < 4; ++i) {
    std::vector<PeerAddress> earlier;
    for (auto& node : nodes) earlier.push_back(node->address());
    nodes.push_back(std::make_unique<TestNode>(io, i + 1, Dialling(i + 1, earlier)));
  }
  ASSERT_TRUE(RunUntil(io, [&] {
    for (auto& node : nodes) {
      if (node->peer_count() != 3) return false;
    }
    return true;
  }));
  ExpectGossipReachesAllOnce(io, nodes);
  // In a mesh every message reaches a node along several paths: the seen
  // cache, not luck, is what kept the deliveries above at one each.
  uint64_t received = 0;
  for (auto& node : nodes) {
    for (const PeerInfo& peer : node->manager->Peers()) received += peer.messages_received;
  }
  EXPECT_GT(received, uint64_t{4 * 3});
}

TEST(PeerManagerTest, WrongChainIdIsRejectedOnBothSides) {
  asio::io_context io;
  TestNode a(io, 1);
  PeerManagerConfig config = Dialling(2, {a.address()});
  config.chain_id = "another-chain";
  TestNode b(io, 2, config);
  ASSERT_TRUE(
      RunUntil(io, [&] { return !a.recorder.failures.empty() && !b.recorder.failures.empty(); }));
  EXPECT_TRUE(a.recorder.connected.empty());
  EXPECT_TRUE(b.recorder.connected.empty());
  for (const Status& s : a.recorder.failures) {
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
    EXPECT_NE(s.message().find("another-chain"), std::string::npos) << s.ToString();
  }
  EXPECT_EQ(b.recorder.failures[0].code(), StatusCode::kFailedPrecondition);
}

TEST(PeerManagerTest, WrongGenesisHashIsRejectedOnBothSides) {
  asio::io_context io;
  TestNode a(io, 1);
  PeerManagerConfig config = Dialling(2, {a.address()});
  config.genesis_hash = Genesis("another genesis");
  TestNode b(io, 2, config);
  ASSERT_TRUE(
      RunUntil(io, [&] { return !a.recorder.failures.empty() && !b.recorder.failures.empty(); }));
  EXPECT_TRUE(a.recorder.connected.empty());
  EXPECT_TRUE(b.recorder.connected.empty());
  EXPECT_NE(a.recorder.failures[0].message().find("genesis"), std::string::npos);
  EXPECT_NE(b.recorder.failures[0].message().find(Genesis().ToHex()), std::string::npos);
}

TEST(PeerManagerTest, ExpectedIdentityMismatchIsRejected) {
  asio::io_context io;
  TestNode a(io, 1);
  PeerAddress wrong = a.address();
  wrong.id = KeyFromSeed(99).public_key();
  TestNode b(io, 2, Dialling(2, {wrong}));
  ASSERT_TRUE(RunUntil(io, [&] { return b.recorder.failures.size() >= 2; }));
  EXPECT_TRUE(b.recorder.connected.empty());
  EXPECT_EQ(b.recorder.failures[0].code(), StatusCode::kUnauthenticated);
  EXPECT_NE(b.recorder.failures[0].message().find("expected " + wrong.id->ToHex()),
            std::string::npos);
}

TEST(PeerManagerTest, ConnectionToSelfIsRefusedAndNotRetried) {
  asio::io_context io;
  const uint16_t port = ReservePort();
  PeerManagerConfig config = BaseConfig(1);
  config.listen_port = port;
  config.persistent_peers = {PeerAddress{KeyFromSeed(1).public_key(), "127.0.0.1", port}};
  TestNode a(io, 1, config);
  // Both ends of the one connection refuse it.
  ASSERT_TRUE(RunUntil(io, [&] { return a.recorder.failures.size() >= 2; }));
  RunFor(io, kSettle);  // several backoff periods: it must not dial again
  EXPECT_EQ(a.recorder.failures.size(), 2u);
  for (const Status& s : a.recorder.failures) {
    EXPECT_EQ(s.message(), "connected to ourselves");
  }
  EXPECT_TRUE(a.recorder.connected.empty());
}

TEST(PeerManagerTest, GarbageBeforeTheHandshakeIsDroppedAndGoodPeersStillServed) {
  asio::io_context io;
  TestNode a(io, 1);
  TestNode good(io, 2, Dialling(2, {a.address()}));
  ASSERT_TRUE(RunUntil(io, [&] { return a.peer_count() == 1; }));

  Tcp::socket raw(io);
  raw.connect(Tcp::endpoint(asio::ip::make_address("127.0.0.1"), a.manager->listen_port()));
  const std::string garbage(100, 'x');
  asio::write(raw, asio::buffer(garbage));
  ASSERT_TRUE(RunUntil(io, [&] { return !a.recorder.failures.empty(); }));
  EXPECT_EQ(a.recorder.failures[0].code(), StatusCode::kCorruption);
  EXPECT_NE(a.recorder.failures[0].message().find("bad hello"), std::string::npos);
  EXPECT_EQ(a.recorder.connected.size(), 1u);
  ExpectStillServes(io, a, good);
}

TEST(PeerManagerTest, SilentConnectionTimesOutInTheHandshake) {
  asio::io_context io;
  PeerManagerConfig config = BaseConfig(1);
  config.handshake_timeout = milliseconds(100);
  TestNode a(io, 1, config);
  Tcp::socket silent(io);
  silent.connect(Tcp::endpoint(asio::ip::make_address("127.0.0.1"), a.manager->listen_port()));
  ASSERT_TRUE(RunUntil(io, [&] { return !a.recorder.failures.empty(); }));
  EXPECT_EQ(a.recorder.failures[0].ToString(), "unavailable: handshake timed out after 100 ms");
  EXPECT_TRUE(a.recorder.connected.empty());
}

TEST(PeerManagerTest, ReflectedHelloIsRefused) {
  asio::io_context io;
  TestNode a(io, 1);
  Tcp::socket mirror(io);
  mirror.connect(Tcp::endpoint(asio::ip::make_address("127.0.0.1"), a.manager->listen_port()));
  // Send the node's own hello (and so its own ephemeral key) back to it.
  std::array<uint8_t, 44> hello{};
  bool echoed = false;
  asio::async_read(mirror, asio::buffer(hello), [&](const boost::system::error_code& ec, size_t) {
    ASSERT_FALSE(ec);
    asio::write(mirror, asio::buffer(hello));
    echoed = true;
  });
  ASSERT_TRUE(RunUntil(io, [&] { return echoed && !a.recorder.failures.empty(); }));
  EXPECT_EQ(a.recorder.failures[0].ToString(),
            "unauthenticated: the peer echoed our own ephemeral key");
}

// Runs a raw peer through a real handshake with `node`; returns it connected.
std::unique_ptr<RawPeer> ConnectRaw(asio::io_context& io, TestNode& node, uint8_t seed) {
  auto raw = std::make_unique<RawPeer>(io, node.manager->listen_port(), seed);
  Status s = raw->Handshake();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(RunUntil(io, [&] { return node.recorder.WasConnected(raw->id()); }));
  return raw;
}

TEST(PeerManagerTest, PeerThatStallsInsideAFrameIsDisconnectedAsIdle) {
  asio::io_context io;
  PeerManagerConfig config = BaseConfig(1);
  config.ping_interval = milliseconds(50);
  config.idle_timeout = milliseconds(150);
  TestNode a(io, 1, config);
  auto raw = ConnectRaw(io, a, 50);
  const Bytes frame = raw->Frame(MessageKind::kDirect, kChannelTx, Payload("never finished"));
  raw->Write(ByteSpan(frame).first(frame.size() - 1));  // and then nothing
  ASSERT_TRUE(raw->WaitUntilClosedByPeer());
  EXPECT_NE(a.recorder.DisconnectReason(raw->id()).find("no frame received for"), std::string::npos)
      << a.recorder.DisconnectReason(raw->id());
  EXPECT_EQ(a.recorder.CountFrom(raw->id()), 0u);
}

TEST(PeerManagerTest, QuietPeersStayConnectedThroughPings) {
  asio::io_context io;
  PeerManagerConfig a_config = BaseConfig(1);
  // Ten pings per idle timeout: a loaded machine that stalls this process
  // for a few pings must not look like a silent peer.
  a_config.ping_interval = milliseconds(50);
  a_config.idle_timeout = milliseconds(500);
  TestNode a(io, 1, a_config);
  PeerManagerConfig b_config = Dialling(2, {a.address()});
  b_config.ping_interval = a_config.ping_interval;
  b_config.idle_timeout = a_config.idle_timeout;
  TestNode b(io, 2, b_config);
  ASSERT_TRUE(RunUntil(io, [&] { return a.peer_count() == 1 && b.peer_count() == 1; }));
  RunFor(io, milliseconds(2000));  // four idle timeouts without a message
  EXPECT_TRUE(a.recorder.disconnected.empty());
  EXPECT_TRUE(b.recorder.disconnected.empty());
  EXPECT_EQ(a.peer_count(), 1u);
  EXPECT_TRUE(a.recorder.messages.empty());  // pings never reach the handler
  EXPECT_EQ(a.manager->Peers()[0].messages_received, 0u);
  // Everything that arrived was pings: whole empty frames (length prefix,
  // tag, message header), at least one per idle timeout survived.
  constexpr uint64_t kPingFrameBytes = kFrameLengthBytes + kFrameTagBytes + kMessageHeaderBytes;
  const uint64_t bytes = a.manager->Peers()[0].bytes_received;
  EXPECT_EQ(bytes % kPingFrameBytes, 0u) << bytes;
  EXPECT_GE(bytes / kPingFrameBytes, 2000u / 500u - 1) << bytes;
}

TEST(PeerManagerTest, OversizedLengthPrefixDisconnectsBeforeAllocating) {
  asio::io_context io;
  TestNode a(io, 1);
  TestNode good(io, 2, Dialling(2, {a.address()}));
  ASSERT_TRUE(RunUntil(io, [&] { return a.peer_count() == 1; }));
  auto raw = ConnectRaw(io, a, 50);
  const uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
  raw->Write(huge);
  ASSERT_TRUE(raw->WaitUntilClosedByPeer());
  const std::string reason = a.recorder.DisconnectReason(raw->id());
  EXPECT_NE(reason.find("resource exhausted: frame of 4294967295 bytes exceeds the limit"),
            std::string::npos)
      << reason;
  ExpectStillServes(io, a, good);
}

TEST(PeerManagerTest, TruncatedFrameDisconnects) {
  asio::io_context io;
  TestNode a(io, 1);
  TestNode good(io, 2, Dialling(2, {a.address()}));
  ASSERT_TRUE(RunUntil(io, [&] { return a.peer_count() == 1; }));
  auto raw = ConnectRaw(io, a, 50);
  const Bytes frame = raw->Frame(MessageKind::kGossip, kChannelTx, Payload("a transaction body"));
  raw->Write(ByteSpan(frame).first(frame.size() / 2));
  raw->conn().socket().shutdown(Tcp::socket::shutdown_send);
  ASSERT_TRUE(RunUntil(io, [&] { return !a.recorder.DisconnectReason(raw->id()).empty(); }));
  EXPECT_NE(a.recorder.DisconnectReason(raw->id()).find("reading a frame body"), std::string::npos)
      << a.recorder.DisconnectReason(raw->id());
  EXPECT_EQ(a.recorder.CountFrom(raw->id()), 0u);
  ExpectStillServes(io, a, good);
}

TEST(PeerManagerTest, TamperedCiphertextDisconnectsAndBans) {
  asio::io_context io;
  TestNode a(io, 1);
  TestNode good(io, 2, Dialling(2, {a.address()}));
  ASSERT_TRUE(RunUntil(io, [&] { return a.peer_count() == 1; }));
  auto raw = ConnectRaw(io, a, 50);
  const Bytes first = raw->Frame(MessageKind::kGossip, kChannelTx, Payload("honest"));
  Bytes second = raw->Frame(MessageKind::kGossip, kChannelTx, Payload("tampered"));
  second[kFrameLengthBytes + 3] ^= 0x01;
  raw->Write(first);
  raw->Write(second);
  ASSERT_TRUE(raw->WaitUntilClosedByPeer());
  EXPECT_EQ(a.recorder.CountFrom(raw->id()), 1u);  // only the honest frame
  EXPECT_NE(a.recorder.DisconnectReason(raw->id()).find("failed authentication"),
            std::string::npos);
  ExpectStillServes(io, a, good);

  // The identity is banned for a while: a new connection from it is refused.
  RawPeer again(io, a.manager->listen_port(), 50);
  ASSERT_TRUE(again.Handshake().ok());
  ASSERT_TRUE(again.WaitUntilClosedByPeer());
  ASSERT_FALSE(a.recorder.failures.empty());
  EXPECT_EQ(a.recorder.failures.back().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(a.recorder.connected.size(), 2u);  // good and the first raw connection
}

TEST(PeerManagerTest, FloodingPeerTripsTheRateLimitAndIsBanned) {
  asio::io_context io;
  PeerManagerConfig config = BaseConfig(1);
  config.recv_messages_per_second = 20;
  config.recv_messages_burst = 20;
  TestNode a(io, 1, config);
  TestNode good(io, 2, Dialling(2, {a.address()}));
  ASSERT_TRUE(RunUntil(io, [&] { return a.peer_count() == 1; }));
  auto raw = ConnectRaw(io, a, 50);
  constexpr int kFlood = 200;
  Bytes flood;
  for (int i = 0; i < kFlood; ++i) {
    Append(flood,
           raw->Frame(MessageKind::kGossip, kChannelTx, Payload("spam " + std::to_string(i))));
  }
  raw->Write(flood);
  ASSERT_TRUE(raw->WaitUntilClosedByPeer());
  EXPECT_NE(a.recorder.DisconnectReason(raw->id()).find("rate limit exceeded"), std::string::npos)
      << a.recorder.DisconnectReason(raw->id());
  EXPECT_LT(a.recorder.CountFrom(raw->id()), size_t{kFlood});
  EXPECT_GE(a.recorder.CountFrom(raw->id()), size_t{20});  // the burst got through
  ExpectStillServes(io, a, good);

  RawPeer again(io, a.manager->listen_port(), 50);
  ASSERT_TRUE(again.Handshake().ok());
  ASSERT_TRUE(again.WaitUntilClosedByPeer());
  EXPECT_EQ(a.recorder.failures.back().code(), StatusCode::kPermissionDenied);
}

TEST(PeerManagerTest, PeerThatNeverReadsIsDisconnectedWhileOthersStillReceive) {
  asio::io_context io;
  PeerManagerConfig config = BaseConfig(1);
  config.frame_bytes_max = 64 * 1024;
  config.send_queue_bytes_max = 256 * 1024;
  TestNode a(io, 1, config);
  PeerManagerConfig good_config = Dialling(2, {a.address()});
  good_config.recv_bytes_per_second = uint64_t{1} << 30;  // it must keep up with the test
  TestNode good(io, 2, good_config);
  ASSERT_TRUE(RunUntil(io, [&] { return a.peer_count() == 1; }));
  auto slow = ConnectRaw(io, a, 50);  // never reads
  ASSERT_EQ(a.peer_count(), 2u);

  // Kernel socket buffers absorb some megabytes first; the bound is what
  // finally trips. kMessagesMax only stops a broken build.
  constexpr int kMessagesMax = 5000;
  int sent = 0;
  const Bytes filler(32 * 1024, 0xab);
  while (sent < kMessagesMax && a.recorder.DisconnectReason(slow->id()).empty()) {
    Bytes payload = filler;
    const std::string tag = std::to_string(sent);
    std::copy(tag.begin(), tag.end(), payload.begin());
    a.manager->Broadcast(kChannelTx, payload);
    ++sent;
    ASSERT_TRUE(RunUntil(io, [&] { return good.recorder.messages.size() == size_t(sent); }));
  }
  EXPECT_NE(a.recorder.DisconnectReason(slow->id()).find("send queue full"), std::string::npos)
      << "after " << sent << " messages";
  EXPECT_EQ(good.recorder.messages.size(), size_t(sent));
  EXPECT_EQ(a.peer_count(), 1u);
  ExpectStillServes(io, a, good);
}

TEST(PeerManagerTest, PersistentPeerIsDialledWhenItStartsLaterAndAfterARestart) {
  asio::io_context io;
  const uint16_t port = ReservePort();
  const PeerAddress b_address{KeyFromSeed(2).public_key(), "127.0.0.1", port};
  TestNode a(io, 1, Dialling(1, {b_address}));
  RunFor(io, milliseconds(100));  // a few failed dials
  EXPECT_TRUE(a.recorder.connected.empty());

  PeerManagerConfig b_config = BaseConfig(2);
  b_config.listen_port = port;
  auto b = std::make_unique<TestNode>(io, 2, b_config);
  ASSERT_TRUE(RunUntil(io, [&] { return a.recorder.connected.size() == 1; }));
  EXPECT_EQ(a.recorder.connected[0], b->id());

  b.reset();  // stops b: a sees the connection drop
  ASSERT_TRUE(RunUntil(io, [&] { return a.recorder.disconnected.size() == 1; }));
  b = std::make_unique<TestNode>(io, 2, b_config);
  ASSERT_TRUE(RunUntil(io, [&] { return a.recorder.connected.size() == 2; }));
  EXPECT_EQ(a.peer_count(), 1u);
  a.manager->Send(b->id(), kChannelTx, Payload("welcome back"));
  ASSERT_TRUE(RunUntil(io, [&] { return b->recorder.messages.size() == 1; }));
}

TEST(PeerManagerTest, SimultaneousDialsLeaveOneConnection) {
  asio::io_context io;
  const uint16_t port_a = ReservePort();
  const uint16_t port_b = ReservePort();
  PeerManagerConfig a_config = Dialling(1, {{KeyFromSeed(2).public_key(), "127.0.0.1", port_b}});
  a_config.listen_port = port_a;
  PeerManagerConfig b_config = Dialling(2, {{KeyFromSeed(1).public_key(), "127.0.0.1", port_a}});
  b_config.listen_port = port_b;
  TestNode a(io, 1, a_config);
  TestNode b(io, 2, b_config);
  ASSERT_TRUE(RunUntil(io, [&] { return a.peer_count() == 1 && b.peer_count() == 1; }));
  RunFor(io, kSettle);
  ASSERT_EQ(a.peer_count(), 1u);
  ASSERT_EQ(b.peer_count(), 1u);
  // Both sides kept the same connection: one end outbound, the other inbound.
  EXPECT_NE(a.manager->Peers()[0].outbound, b.manager->Peers()[0].outbound);
  EXPECT_EQ(a.recorder.connected.size() - a.recorder.disconnected.size(), 1u);
  EXPECT_EQ(b.recorder.connected.size() - b.recorder.disconnected.size(), 1u);
  a.manager->Send(b.id(), kChannelTx, Payload("one link"));
  ASSERT_TRUE(RunUntil(io, [&] { return b.recorder.messages.size() == 1; }));
}

TEST(PeerManagerTest, InboundConnectionsBeyondTheLimitAreClosed) {
  asio::io_context io;
  PeerManagerConfig config = BaseConfig(1);
  config.inbound_peers_max = 1;
  TestNode a(io, 1, config);
  auto first = ConnectRaw(io, a, 50);
  RawPeer second(io, a.manager->listen_port(), 51);
  EXPECT_EQ(second.Handshake().code(), StatusCode::kUnavailable);
  EXPECT_EQ(a.recorder.connected.size(), 1u);
  EXPECT_EQ(a.peer_count(), 1u);
}

// One address may hold only inbound_peers_per_ip_max inbound slots, so one
// host with many made-up identities cannot take them all (loopback is
// bounded here only because the test asks for it: devnets run on one host).
TEST(PeerManagerTest, InboundPeersFromOneAddressAreBounded) {
  asio::io_context io;
  PeerManagerConfig config = BaseConfig(1);
  config.inbound_peers_per_ip_max = 2;
  config.limit_loopback_per_ip = true;
  TestNode a(io, 1, config);
  auto first = ConnectRaw(io, a, 50);
  auto second = ConnectRaw(io, a, 51);
  RawPeer third(io, a.manager->listen_port(), 52);
  EXPECT_EQ(third.Handshake().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(a.recorder.WasConnected(third.id()));
  EXPECT_EQ(a.peer_count(), 2u);

  // By default loopback is not bounded.
  PeerManagerConfig devnet = BaseConfig(2);
  devnet.inbound_peers_per_ip_max = 1;
  TestNode b(io, 2, devnet);
  auto one = ConnectRaw(io, b, 60);
  auto two = ConnectRaw(io, b, 61);
  EXPECT_EQ(b.peer_count(), 2u);
}

// Inbound slots full of other peers do not keep a persistent peer out: it
// takes the newest one's slot. Another identity from the same address is
// still refused.
TEST(PeerManagerTest, APersistentPeerIsAdmittedWhenInboundIsFull) {
  asio::io_context io;
  PeerManagerConfig config =
      Dialling(1, {{KeyFromSeed(52).public_key(), "127.0.0.1", ReservePort()}});
  config.inbound_peers_max = 1;
  TestNode a(io, 1, config);
  auto sybil = ConnectRaw(io, a, 50);
  ASSERT_EQ(a.peer_count(), 1u);
  auto persistent = ConnectRaw(io, a, 52);
  ASSERT_TRUE(RunUntil(io, [&] { return !a.recorder.DisconnectReason(sybil->id()).empty(); }));
  EXPECT_NE(a.recorder.DisconnectReason(sybil->id()).find("went to a persistent peer"),
            std::string::npos)
      << a.recorder.DisconnectReason(sybil->id());
  EXPECT_EQ(a.peer_count(), 1u);
  EXPECT_EQ(a.manager->Peers()[0].id, persistent->id());

  RawPeer other(io, a.manager->listen_port(), 53);
  (void)other.Handshake();  // from the persistent peer's address: handshaken, then refused
  ASSERT_TRUE(RunUntil(io, [&] { return !a.recorder.failures.empty(); }));
  EXPECT_NE(a.recorder.failures.back().message().find("inbound peers already"), std::string::npos)
      << a.recorder.failures.back().ToString();
  EXPECT_FALSE(a.recorder.WasConnected(other.id()));
  EXPECT_EQ(a.peer_count(), 1u);
  EXPECT_EQ(a.manager->Peers()[0].id, persistent->id());
}

TEST(PeerManagerTest, InvalidConfigIsRejectedAtStart) {
  asio::io_context io;
  Recorder recorder;
  PeerManagerConfig config = BaseConfig(1);
  config.recv_bytes_burst = 1024;  // smaller than one frame
  PeerManager manager(io, config, KeyFromSeed(1), recorder);
  EXPECT_EQ(manager.Start().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace agora::node::p2p
