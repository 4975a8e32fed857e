// End-to-end staking and slashing on real agorad processes: a fifth
// validator stakes in and signs from the height the ledger announced; a
// double-signing validator (a harness signing a second prevote with its key)
// is slashed and tombstoned through evidence in a block; a validator that is
// stopped is jailed for downtime, unjails with the CLI and signs again; a
// balance is verified with `agora query account --prove`; app hashes agree.
#include "consensus/ledger/tx.h"
#include "consensus/types.h"
#include "node/cli/cli_util.h"
#include "node/config.h"
#include "tests/node/devnet_fixture.h"

namespace agora::node {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using agora::testing::CommandResult;
using agora::testing::RunCommand;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::DevnetTest;
using testing::kFee;
using testing::NodeProcess;

constexpr uint64_t kStakeUagr = 10'000'000;  // power 10, like each genesis validator

// Sends, over a real authenticated P2P connection, prevotes signed with a
// validator's key for blocks nobody proposed: to the network, that validator
// voted twice.
class VoteInjector final : public p2p::PeerManagerHandler {
 public:
  void OnPeerConnected(const p2p::PeerInfo&) override { connected = true; }
  void OnPeerDisconnected(const p2p::PeerId&, std::string_view reason) override {
    connected = false;
    dropped_reason = std::string(reason);
  }
  void OnMessage(const p2p::PeerId&, uint8_t, ByteSpan) override {}
  std::atomic<bool> connected{false};
  std::string dropped_reason;
};

class StakingDevnetTest : public DevnetTest {
 protected:
  std::vector<std::string> ExtraTestnetArgs() override {
    return {"--param", "staking.epoch_blocks=10",
            "--param", "slashing.downtime_window_blocks=10",
            "--param", "slashing.downtime_jail_blocks=5",
            "--param", "staking.unbonding_blocks=25",
            "--param", "slashing.evidence_age_blocks_max=20"};
  }

  // The ledger's record of the validator with this consensus key, or null.
  json::value Record(size_t node, const PublicKey& key) {
    json::value v = Call(node, "validators");
    if (!v.as_object().if_contains("candidates")) return nullptr;
    for (const json::value& c : v.at("candidates").as_array()) {
      if (c.at("consensus_key").as_string() == key.ToHex()) return c;
    }
    return nullptr;
  }

  // The index of `key` in the set of `height`, or -1.
  int IndexAt(size_t node, const PublicKey& key, uint64_t height) {
    json::value v = Call(node, "validators", json::object{{"height", height}});
    if (!v.as_object().if_contains("validators")) return -1;
    for (const json::value& e : v.at("validators").as_array()) {
      if (e.at("public_key").as_string() == key.ToHex()) return e.at("index").to_number<int>();
    }
    return -1;
  }
  bool InNextSet(const PublicKey& key) { return IndexAt(0, key, Height(0) + 1) >= 0; }

  SecretKey NodeKey(size_t node) {
    return LoadNodeKey(NodeKeyPath(nodes_[node]->home())).value();
  }

  // A home for a node that is not in genesis, peered with the others.
  void AddNode(const SecretKey& key) {
    const fs::path home = dir_.path() / "net" / "node4";
    fs::create_directories(home / "config");
    ASSERT_TRUE(WriteNodeKey(NodeKeyPath(home), key).ok());
    NodeConfig config;
    config.moniker = "node4";
    config.p2p_port = FreePort().value();
    config.rpc_port = FreePort().value();
    for (size_t i = 0; i < nodes_.size(); ++i) {
      const std::string id(Call(i, "status").at("node_id").as_string());
      const int port = Call(i, "net_info").at("listen_port").to_number<int>();
      config.persistent_peers.push_back(id + "@127.0.0.1:" + std::to_string(port));
    }
    agora::testing::WriteTextFile(ConfigPath(home), RenderConfig(config));
    fs::copy_file(GenesisPath(nodes_[0]->home()), GenesisPath(home));
    nodes_.push_back(std::make_unique<NodeProcess>(home));
    urls_.push_back("http://127.0.0.1:" + std::to_string(config.rpc_port));
    nodes_.back()->Start();
  }

  // Signs a second prevote with `key` for every height the network enters
  // until `done()` or the timeout.
  void DoubleSignUntil(const SecretKey& key, const std::function<bool()>& done) {
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    VoteInjector injector;
    p2p::PeerManager manager(io, PeerOfNodeZero(), SecretKey::Generate(), injector);
    ASSERT_TRUE(manager.Start().ok());
    std::thread runner([&io] { io.run(); });
    uint64_t last = 0, sent = 0;
    const auto deadline = std::chrono::steady_clock::now() + seconds(90);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      const uint64_t next = Height(0) + 1;
      const int index = IndexAt(0, key.public_key(), next);
      if (injector.connected && next != last && index >= 0) {
        consensus::Vote vote{consensus::VoteType::kPrevote, next, 0,
                             Blake2b256(AsBytes("never proposed " + std::to_string(next))),
                             static_cast<consensus::ValidatorIndex>(index), {}};
        vote.signature = key.Sign({chain_id_, SignKind::kPrevote}, vote.SignBytes());
        proto::VoteMessage m;
        const Bytes sign_bytes = vote.SignBytes();
        m.set_sign_bytes(std::string(sign_bytes.begin(), sign_bytes.end()));
        m.set_validator(vote.validator);
        m.set_signature(std::string(vote.signature.bytes.begin(), vote.signature.bytes.end()));
        boost::asio::post(io, [&manager, bytes = EncodeDeterministic(m)] {
          manager.Broadcast(/*channel=*/3, bytes);
        });
        last = next;
        ++sent;
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    boost::asio::post(io, [&] { manager.Stop(); });
    work.reset();
    io.stop();
    runner.join();
    EXPECT_GT(sent, 0u) << "no conflicting vote was sent";
    EXPECT_EQ(injector.dropped_reason, "") << "signed votes are not a reason to drop a peer";
  }
};

TEST_F(StakingDevnetTest, StakeInDoubleSignJailUnjailAndProve) {
  // 1. A fifth validator stakes in.
  const SecretKey operator_key = senders_[0];
  const SecretKey fifth = SecretKey::Generate();
  // Through the CLI, as an operator would, signing with a key file.
  const fs::path key_file = dir_.path() / "operator_key.json";
  ASSERT_TRUE(WriteNodeKey(key_file, operator_key).ok());
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {AGORA_CLI_PATH, "--node", urls_[0], "--json"});
    return RunCommand(args);
  };
  CommandResult stake = cli({"tx", "stake", std::to_string(kStakeUagr), "--key-file",
                             key_file.string(), "--wait"});
  ASSERT_EQ(stake.exit_code, 0) << stake.out << stake.err;
  CommandResult too_much = cli({"tx", "unstake", std::to_string(kStakeUagr + 1), "--key-file",
                                key_file.string(), "--wait"});
  EXPECT_NE(too_much.exit_code, 0) << "more than the stake";
  EXPECT_NE(too_much.err.find("insufficient_funds"), std::string::npos) << too_much.err;
  // The node's key proves it is the operator's: without the proof the CLI
  // says what to pass; a proof made for another operator is refused.
  CommandResult unproved = cli({"tx", "create-validator", "--consensus-key",
                                fifth.public_key().ToHex(), "--moniker", "fifth", "--key-file",
                                key_file.string(), "--wait"});
  EXPECT_NE(unproved.exit_code, 0);
  EXPECT_NE(unproved.err.find("--node-key-file"), std::string::npos) << unproved.err;
  const fs::path fifth_key_file = dir_.path() / "fifth_node_key.json";
  ASSERT_TRUE(WriteNodeKey(fifth_key_file, fifth).ok());
  CommandResult elsewhere =
      RunCommand({AGORA_CLI_PATH, "--json", "keys", "prove-possession", "--node-key-file",
                  fifth_key_file.string(), "--operator",
                  Address::FromPublicKey(senders_[1].public_key()).ToString(), "--chain-id",
                  chain_id_});
  ASSERT_EQ(elsewhere.exit_code, 0) << elsewhere.err;
  CommandResult stolen =
      cli({"tx", "create-validator", "--consensus-key", fifth.public_key().ToHex(),
           "--possession", std::string(json::parse(elsewhere.out).at("possession").as_string()),
           "--moniker", "fifth", "--key-file", key_file.string(), "--wait"});
  EXPECT_NE(stolen.exit_code, 0);
  EXPECT_NE(stolen.err.find("does not verify"), std::string::npos) << stolen.err;
  CommandResult create = cli({"tx", "create-validator", "--node-key-file", fifth_key_file.string(),
                              "--moniker", "fifth", "--key-file", key_file.string(), "--wait"});
  ASSERT_EQ(create.exit_code, 0) << create.out << create.err;
  const uint64_t created_at = json::parse(create.out).at("height").to_number<uint64_t>();
  // Before the fifth signs anything, no fee can be credited to its operator.
  const Address holder = Address::FromPublicKey(operator_key.public_key());
  const uint64_t after_create = Account(0, holder).at("balance_uagr").to_number<uint64_t>();
  EXPECT_EQ(after_create, 1'000'000'000u - kStakeUagr - 3 * kFee)
      << "stake, a failed unstake that paid its fee, create-validator";
  CommandResult params = cli({"query", "params"});
  ASSERT_EQ(params.exit_code, 0) << params.err;
  bool epoch_seen = false;
  const json::value listed = json::parse(params.out);
  for (const json::value& p : listed.at("params").as_array()) {
    if (p.at("name").as_string() == "staking.epoch_blocks") {
      epoch_seen = true;
      EXPECT_EQ(p.at("value").to_number<uint64_t>(), 10u) << "set with --param in genesis";
    }
  }
  EXPECT_TRUE(epoch_seen);
  AddNode(fifth);
  WaitUntil([&] { return InNextSet(fifth.public_key()); }, seconds(120), "the fifth joins");
  const uint64_t joined_at = Height(0) + 1;
  // Announced at the epoch boundary after it staked, effective one epoch on.
  const uint64_t boundary = (created_at + 9) / 10 * 10;
  EXPECT_EQ(IndexAt(0, fifth.public_key(), boundary + 10), -1);
  EXPECT_GE(IndexAt(0, fifth.public_key(), boundary + 11), 0);
  EXPECT_LE(joined_at, boundary + 11 + 1);
  WaitUntil(
      [&] {
        json::value rec = Record(0, fifth.public_key());
        return !rec.is_null() && rec.at("observed_blocks").to_number<uint64_t>() >= 3;
      },
      seconds(60), "the fifth signs");
  json::value fifth_record = Record(0, fifth.public_key());
  EXPECT_LE(fifth_record.at("missed_blocks").to_number<uint64_t>(), 1u)
      << json::serialize(fifth_record);
  EXPECT_TRUE(Call(4, "status").at("validator").as_bool());

  // 2. A harness signs second prevotes with node 2's key: evidence in a
  //    block slashes 5% and tombstones it; it leaves the set.
  const SecretKey cheat = NodeKey(2);
  const uint64_t burned_before = Call(0, "beacon").at("burned_uagr").to_number<uint64_t>();
  DoubleSignUntil(cheat, [&] {
    json::value rec = Record(0, cheat.public_key());
    return !rec.is_null() && rec.at("tombstoned").as_bool();
  });
  json::value cheat_record = Record(0, cheat.public_key());
  ASSERT_TRUE(cheat_record.at("tombstoned").as_bool()) << json::serialize(cheat_record);
  EXPECT_EQ(cheat_record.at("stake_uagr").to_number<uint64_t>(), kStakeUagr - kStakeUagr / 20);
  EXPECT_EQ(Call(0, "beacon").at("burned_uagr").to_number<uint64_t>() - burned_before,
            kStakeUagr / 20);
  WaitForHeight(0, Height(0) + 4);
  EXPECT_FALSE(InNextSet(cheat.public_key())) << "a tombstoned validator leaves the set";

  // 3. Node 3 stops: jailed for downtime, slashed 1%.
  const SecretKey lazy = NodeKey(3);
  nodes_[3]->Kill();
  WaitUntil(
      [&] {
        json::value rec = Record(0, lazy.public_key());
        return !rec.is_null() && rec.at("jailed").as_bool();
      },
      seconds(90), "node 3 jailed");
  json::value lazy_record = Record(0, lazy.public_key());
  EXPECT_EQ(lazy_record.at("stake_uagr").to_number<uint64_t>(), kStakeUagr - kStakeUagr / 100);
  const uint64_t jailed_until = lazy_record.at("jailed_until").to_number<uint64_t>();
  WaitForHeight(0, Height(0) + 4);
  EXPECT_FALSE(InNextSet(lazy.public_key()));
  Restart(3);
  WaitForHeight(0, jailed_until);
  // Unjail with the CLI, signed by the node key (its genesis operator key).
  CommandResult unjail = RunCommand({AGORA_CLI_PATH, "--node", urls_[0], "tx", "unjail",
                                     "--key-file", NodeKeyPath(nodes_[3]->home()).string(),
                                     "--wait"});
  ASSERT_EQ(unjail.exit_code, 0) << unjail.out << unjail.err;
  EXPECT_FALSE(Record(0, lazy.public_key()).at("jailed").as_bool());
  WaitUntil([&] { return InNextSet(lazy.public_key()); }, seconds(90), "node 3 back in the set");
  const uint64_t observed = Record(0, lazy.public_key()).at("observed_blocks").to_number<uint64_t>();
  WaitUntil(
      [&] {
        return Record(0, lazy.public_key()).at("observed_blocks").to_number<uint64_t>() >=
               observed + 3;
      },
      seconds(60), "node 3 signs again");
  EXPECT_LE(Record(0, lazy.public_key()).at("missed_blocks").to_number<uint64_t>(), 1u);
  // 4. A balance checked against a signed header, trusting no node.
  CommandResult proof = RunCommand({AGORA_CLI_PATH, "--node", urls_[1], "--json", "query",
                                    "account", holder.ToString(), "--prove"});
  ASSERT_EQ(proof.exit_code, 0) << proof.out << proof.err;
  json::value proven = json::parse(proof.out);
  EXPECT_TRUE(proven.at("verified").as_bool());
  EXPECT_EQ(proven.at("balance_uagr").to_number<uint64_t>(),
            Account(1, holder).at("balance_uagr").to_number<uint64_t>());
  // The fifth's operator is paid the unjail's fee when the fifth proposed
  // its block (seen in CI): one fee more, or none.
  const uint64_t proven_balance = proven.at("balance_uagr").to_number<uint64_t>();
  EXPECT_TRUE(proven_balance == after_create || proven_balance == after_create + kFee)
      << proven_balance << " vs " << after_create;
  EXPECT_EQ(proven.at("trust").as_string(), "validator set from the node");
  // The same proof against a validator set the client does not trust.
  CommandResult untrusted = RunCommand(
      {AGORA_CLI_PATH, "--node", urls_[1], "query", "account", holder.ToString(), "--prove",
       "--trusted-validators-hash", std::string(64, '0')});
  EXPECT_NE(untrusted.exit_code, 0);
  EXPECT_NE(untrusted.err.find("not the one you trust"), std::string::npos) << untrusted.err;
  // And the chain's beacon moved: every block has a VRF output.
  CommandResult beacon = RunCommand({AGORA_CLI_PATH, "--node", urls_[2], "--json", "query",
                                     "beacon"});
  ASSERT_EQ(beacon.exit_code, 0) << beacon.err;
  EXPECT_EQ(json::parse(beacon.out).at("vrf_output").as_string().size(), 128u);

  // 5. Hostile queries get an error and change nothing.
  for (const json::value& bad : {json::value(json::object{{"key", "zz"}}),
                                 json::value(json::object{{"key", ""}}),
                                 json::value(json::object{{"key", std::string(514, 'a')}}),
                                 json::value(json::object{{"address", "agora1nothing"}}),
                                 json::value(json::object{{"key", 7}}),
                                 json::value(json::array{1, 2})}) {
    rpc::RpcError error;
    json::value r = Call(0, "state_proof", bad, &error);
    EXPECT_EQ(error.code, -32602) << json::serialize(bad) << " -> " << json::serialize(r);
  }
  for (const json::value& bad : {json::value(json::object{{"height", 0}}),
                                 json::value(json::object{{"height", Height(0) + 5}}),
                                 json::value(json::object{{"height", -1}})}) {
    rpc::RpcError error;
    json::value r = Call(0, "validators", bad, &error);
    EXPECT_EQ(error.code, -32602) << json::serialize(bad) << " -> " << json::serialize(r);
  }
  // An absent key is proven absent, not an error.
  json::value absent = Call(0, "state_proof", json::object{{"key", "00ff"}});
  EXPECT_FALSE(absent.at("exists").as_bool()) << json::serialize(absent);

  // 6. A validator's operator says what it can replay; the RPC and the CLI
  // show it. (After 4: a fee in a block the fifth proposes is credited to
  // its operator, the account 4 checks.)
  auto profile = [&](const std::string& classes) {
    return RunCommand({AGORA_CLI_PATH, "--json", "--node", urls_[0], "tx", "replay-profile", "--classes",
                       classes, "--params-max", "20000000", "--key-file",
                       NodeKeyPath(nodes_[3]->home()).string(), "--wait"});
  };
  CommandResult unknown = profile("cpu,tpu");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("unknown hardware class 'tpu'"), std::string::npos) << unknown.err;
  CommandResult declared = profile("gpu-sm90,cpu");
  ASSERT_EQ(declared.exit_code, 0) << declared.out << declared.err;
  // It takes effect verify.delay_blocks after its block; until then it is
  // shown as the next one.
  const uint64_t sent_at = json::parse(declared.out).at("height").to_number<uint64_t>();
  uint64_t delay = 0;
  for (const json::value& p : listed.at("params").as_array()) {
    if (p.at("name").as_string() == "verify.delay_blocks") delay = p.at("value").to_number<uint64_t>();
  }
  ASSERT_GT(delay, 0u);
  json::value record = Record(0, lazy.public_key());
  if (record.at("replay_profile").is_null()) {
    const json::value& next = record.at("replay_profile_next");
    ASSERT_TRUE(next.is_object()) << record;
    EXPECT_EQ(next.at("effective_height").to_number<uint64_t>(), sent_at + delay);
  }
  WaitForHeight(0, sent_at + delay);
  record = Record(0, lazy.public_key());
  EXPECT_EQ(json::serialize(record.at("replay_profile")),
            R"({"hardware_classes":["cpu","gpu-sm90"],"params_max":20000000})");
  EXPECT_TRUE(record.at("replay_profile_next").is_null()) << record;
  CommandResult query = RunCommand({AGORA_CLI_PATH, "--node", urls_[0], "query", "validators"});
  ASSERT_EQ(query.exit_code, 0) << query.err;
  EXPECT_NE(query.out.find("replays cpu,gpu-sm90, models up to 20000000 parameters"),
            std::string::npos)
      << query.out;

  // 7. Every node, the late one included, has the same state.
  const uint64_t top = Height(0);
  for (size_t node = 0; node < nodes_.size(); ++node) WaitForHeight(node, top);
  for (size_t node = 1; node < nodes_.size(); ++node) {
    EXPECT_EQ(AppHashAt(node, top), AppHashAt(0, top)) << "node " << node;
  }
}

}  // namespace
}  // namespace agora::node
