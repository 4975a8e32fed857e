// The fixture of the end-to-end tests: real agorad processes on 127.0.0.1,
// made by `agora testnet`, driven and observed only through JSON-RPC (and
// raw sockets for hostile input). Every process is killed when a test ends.
#ifndef AGORA_TESTS_NODE_DEVNET_FIXTURE_H_
#define AGORA_TESTS_NODE_DEVNET_FIXTURE_H_
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "common/encoding.h"
#include "common/keys.h"
#include "common/proto_codec.h"
#include "consensus/ledger/tx.h"
#include "node/config.h"
#include "node/p2p/peer_manager.h"
#include "node/p2p/secret_connection.h"
#include "node/rpc/client.h"
#include "node/rpc/json_rpc.h"
#include "proto/wire.pb.h"
#include "tests/test_util.h"


extern char** environ;

namespace agora::node::testing {

namespace json = boost::json;
namespace fs = std::filesystem;
using agora::testing::CommandResult;
using agora::testing::RunCommand;
using agora::testing::TempDir;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint64_t kFee = 10;

// One agorad in the background; SIGKILLed when destroyed if still running.
// `launcher` comes before agorad's own argv (e.g. `ip netns exec NS`, which
// execs agorad in place, so the pid stays agorad's).
class NodeProcess {
 public:
  explicit NodeProcess(fs::path home, std::vector<std::string> launcher = {})
      : home_(std::move(home)), launcher_(std::move(launcher)) {}
  ~NodeProcess() { Kill(); }

  void Start() {
    ASSERT_EQ(pid_, -1);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    const std::string log = (home_ / "agorad.log").string();
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<std::string> args = launcher_;
    for (const char* a : {AGORA_DAEMON_PATH, "--home"}) args.emplace_back(a);
    args.push_back(home_.string());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ASSERT_EQ(posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // SIGTERM; returns the exit status (0 for a clean shutdown).
  int Stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  const fs::path& home() const { return home_; }
  // True once the process has ended by itself (it is then reaped).
  bool Exited() {
    if (pid_ <= 0) return false;
    if (waitpid(pid_, nullptr, WNOHANG) != pid_) return false;
    pid_ = -1;
    return true;
  }

 private:
  fs::path home_;
  std::vector<std::string> launcher_;
  pid_t pid_ = -1;
};

class DevnetTest : public ::testing::Test {
 protected:
  // More `agora testnet` arguments (e.g. --param), for fixtures that derive.
  virtual std::vector<std::string> ExtraTestnetArgs() { return {}; }
  // Edits the homes (config.toml) after `agora testnet` wrote them and
  // before any node starts; nodes_ and urls_ are set.
  virtual void ConfigureNodes() {}

  void SetUp() override {
    for (int i = 0; i < kSenders; ++i) {
      senders_.push_back(SecretKey::Generate());
    }
    // `agora testnet` picks free ports, but another process on the machine
    // (a test running beside this one) may take one before a node binds it:
    // that node then exits with "Address already in use". Only that case
    // is retried, with fresh ports.
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (StartNetwork(attempt)) return;
      if (HasFailure()) return;
      ASSERT_TRUE(PortWasTaken()) << "a node exited before height 1 for another reason";
      std::fprintf(stderr, "a port was taken before a node bound it; new ports (attempt %d)\n",
                   attempt + 2);
    }
    FAIL() << "ports were taken three times in a row";
  }

  // Writes a network with `agora testnet` and starts it; true once every
  // node has committed height 1, false if a node exited first.
  bool StartNetwork(int attempt) {
    nodes_.clear();
    urls_.clear();
    std::vector<std::string> args = {AGORA_CLI_PATH,
                                     "--home",
                                     (dir_.path() / "cli").string(),
                                     "testnet",
                                     "--validators",
                                     "4",
                                     "--dir",
                                     (dir_.path() / (attempt == 0 ? std::string("net")
                                                                  : "net" + std::to_string(attempt)))
                                         .string(),
                                     "--json"};
    for (std::string& extra : ExtraTestnetArgs()) args.push_back(std::move(extra));
    for (const auto& s : senders_) {
      args.push_back("--fund");
      args.push_back(Address::FromPublicKey(s.public_key()).ToString() + "=1000000000");
    }
    CommandResult r = RunCommand(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.exit_code != 0) return false;
    json::value summary = json::parse(r.out);
    chain_id_ = std::string(summary.at("chain_id").as_string());
    for (const auto& n : summary.at("nodes").as_array()) {
      nodes_.push_back(std::make_unique<NodeProcess>(std::string(n.at("home").as_string())));
      urls_.push_back(std::string(n.at("rpc").as_string()));
    }
    ConfigureNodes();
    for (auto& n : nodes_) n->Start();
    const auto deadline = std::chrono::steady_clock::now() + seconds(60);
    for (size_t i = 0; i < nodes_.size(); ++i) {
      while (Height(i) < 1) {
        if (nodes_[i]->Exited()) return false;
        EXPECT_LT(std::chrono::steady_clock::now(), deadline)
            << "node " << i << " did not reach height 1; log: "
            << (nodes_[i]->home() / "agorad.log").string();
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(milliseconds(100));
      }
    }
    return true;
  }

  bool PortWasTaken() {
    for (const auto& n : nodes_) {
      const std::string log = agora::testing::ReadTextFile(n->home() / "agorad.log");
      if (log.find("Address already in use") != std::string::npos) return true;
    }
    return false;
  }

  // The temporary homes go with the test: on a failure, show the end of
  // every node's log first.
  void TearDown() override {
    if (!HasFailure()) return;
    for (size_t n = 0; n < nodes_.size(); ++n) {
      std::fprintf(stderr, "--- last lines of %s ---\n%s",
                   (nodes_[n]->home() / "agorad.log").c_str(), LogTail(n, 40).c_str());
    }
  }

  json::value Call(size_t node, std::string_view method, json::value params = nullptr,
                   rpc::RpcError* error = nullptr) {
    auto r =
        rpc::RpcClient(urls_[node]).Call(method, std::move(params), milliseconds(10'000), error);
    if (!r.ok()) return json::value(json::object{{"error", r.status().message()}});
    return *r;
  }

  uint64_t Height(size_t node) {
    json::value s = Call(node, "status");
    if (!s.as_object().if_contains("height")) return 0;
    return s.at("height").to_number<uint64_t>();
  }

  void WaitForHeight(size_t node, uint64_t height, seconds timeout = seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (Height(node) < height) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "node " << node << " did not reach height " << height << " (it is at "
          << Height(node) << (nodes_[node]->Exited() ? ", its process has exited" : "")
          << "); the end of its log:\n"
          << LogTail(node, 30);
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  // The last `lines` lines of node `node`'s log.
  std::string LogTail(size_t node, size_t lines) {
    std::ifstream log(nodes_[node]->home() / "agorad.log");
    std::deque<std::string> tail;
    for (std::string line; std::getline(log, line);) {
      tail.push_back(std::move(line));
      if (tail.size() > lines) tail.pop_front();
    }
    std::string out;
    for (const auto& line : tail) out += line + "\n";
    return out;
  }

  // Starts node `node` again after a Kill or Stop and waits until its RPC
  // answers for this chain. While it was down, a test running beside this
  // one may have bound its port: it then exits with "Address already in
  // use", and is given fresh ports (from the kernel's ephemeral range, which
  // `agora testnet` never picks from) and started once more. The others
  // still reach it: it dials them.
  void Restart(size_t node) {
    const fs::path log = nodes_[node]->home() / "agorad.log";
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::error_code ec;
      const uintmax_t log_start = fs::exists(log) ? fs::file_size(log, ec) : 0;
      nodes_[node]->Start();
      const auto deadline = std::chrono::steady_clock::now() + seconds(60);
      for (;;) {
        const json::value s = Call(node, "status");
        const json::value* chain = s.as_object().if_contains("chain_id");
        if (chain != nullptr && chain->as_string() == chain_id_) return;
        if (nodes_[node]->Exited()) break;
        ASSERT_LT(std::chrono::steady_clock::now(), deadline)
            << "node " << node << " did not answer RPC after its restart; the end of its log:\n"
            << LogTail(node, 30);
        std::this_thread::sleep_for(milliseconds(100));
      }
      const std::string text = agora::testing::ReadTextFile(log).substr(log_start);
      ASSERT_NE(text.find("Address already in use"), std::string::npos)
          << "node " << node << " exited after its restart; the end of its log:\n"
          << LogTail(node, 30);
      const fs::path config_path = ConfigPath(nodes_[node]->home());
      Result<NodeConfig> config = LoadConfig(config_path);
      ASSERT_TRUE(config.ok()) << config.status().message();
      config->p2p_port = EphemeralPort();
      config->rpc_port = EphemeralPort();
      std::ofstream(config_path, std::ios::trunc) << RenderConfig(*config);
      urls_[node] = "http://127.0.0.1:" + std::to_string(config->rpc_port);
      std::fprintf(stderr, "node %zu's port was taken while it was down; new ports %u, %u\n",
                   node, unsigned{config->p2p_port}, unsigned{config->rpc_port});
    }
    FAIL() << "node " << node << "'s ports were taken three times in a row";
  }

  // A port on 127.0.0.1 the kernel hands out as free.
  static uint16_t EphemeralPort() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor acceptor(
        io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    return acceptor.local_endpoint().port();
  }

  // Polls `pred` every 100 ms; fails the test with `what` after `timeout`.
  template <typename Pred>
  void WaitUntil(Pred pred, seconds timeout, const std::string& what) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "timed out waiting: " << what;
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  Bytes Transfer(int sender, uint64_t nonce, uint64_t amount, const Address& to) {
    return consensus::MakeTransfer(senders_[sender], chain_id_, nonce, kFee, to, amount);
  }

  json::value Submit(size_t node, const Bytes& raw, rpc::RpcError* error = nullptr) {
    return Call(node, "tx_submit", json::object{{"tx", Base64Encode(raw)}}, error);
  }

  std::string AppHashAt(size_t node, uint64_t height) {
    json::value b = Call(node, "block", json::object{{"height", height}});
    if (!b.as_object().if_contains("app_hash")) return "missing";
    return std::string(b.at("app_hash").as_string());
  }

  json::value Account(size_t node, const Address& a) {
    return Call(node, "account", json::object{{"address", a.ToString()}});
  }

  // A P2P configuration for a test peer of this chain that dials node 0.
  p2p::PeerManagerConfig PeerOfNodeZero() {
    const std::string genesis =
        agora::testing::ReadTextFile(nodes_[0]->home() / "config" / "genesis.json");
    p2p::PeerManagerConfig config;
    config.chain_id = chain_id_;
    config.genesis_hash = Blake2b256(AsBytes(genesis));
    const int port = Call(0, "net_info").at("listen_port").to_number<int>();
    const std::string id(Call(0, "status").at("node_id").as_string());
    config.persistent_peers.push_back(
        p2p::PeerAddress::Parse(id + "@127.0.0.1:" + std::to_string(port)).value());
    return config;
  }

  static constexpr int kSenders = 10;
  TempDir dir_;
  std::string chain_id_;
  std::vector<SecretKey> senders_;
  std::vector<std::unique_ptr<NodeProcess>> nodes_;
  std::vector<std::string> urls_;
};

}  // namespace agora::node::testing

#endif  // AGORA_TESTS_NODE_DEVNET_FIXTURE_H_
