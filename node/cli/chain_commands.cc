#include "node/cli/chain_commands.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include "common/encoding.h"
#include "common/file_util.h"
#include "consensus/ledger/params.h"
#include "consensus/ledger/tx.h"
#include "market/job_spec.h"
#include "node/cli/cli_util.h"
#include "node/cli/password.h"
#include "node/config.h"
#include "node/home.h"
#include "node/keyring.h"
#include "node/rpc/client.h"

extern char** environ;

namespace agora::node {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

constexpr uint64_t kDevnetFundUagr = 1'000'000'000'000'000;  // 1e9 AGR
constexpr uint64_t kValidatorPower = 10;
constexpr auto kDevnetStartTimeout = std::chrono::seconds(30);
constexpr auto kDevnetStopTimeout = std::chrono::seconds(15);

uint64_t NowUnixMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// --fund entries: an address, or the name of a key in the home's keyring,
// optionally followed by =AMOUNT (uagr).
Result<std::vector<GenesisAccountEntry>> ParseFunds(const GlobalOptions& g,
                                                    const std::vector<std::string>& funds) {
  std::vector<GenesisAccountEntry> out;
  for (const std::string& f : funds) {
    std::string who = f;
    uint64_t amount = kDevnetFundUagr;
    if (auto eq = f.find('='); eq != std::string::npos) {
      who = f.substr(0, eq);
      const std::optional<uint64_t> parsed = ParseDecimalU64(std::string_view(f).substr(eq + 1));
      if (!parsed || *parsed == 0 || *parsed > consensus::kAmountUagrMax) {
        return Status::InvalidArgument(
            "--fund " + f + ": the amount must be a whole number of uagr from 1 to 2^62, in " +
            "decimal digits (1 AGR = 10^6 uagr)");
      }
      amount = *parsed;
    }
    auto address = Address::Parse(who);
    if (!address.ok()) {
      AGORA_ASSIGN_OR_RETURN(fs::path home, Home(g));
      auto info = Keyring(home).Show(who);
      if (!info.ok()) {
        return Status::InvalidArgument("--fund " + who + ": neither an address (" +
                                       address.status().message() +
                                       ") nor a key: " + info.status().message());
      }
      address = info->address;
    }
    out.push_back({*address, amount});
  }
  return out;
}

Status Init(const GlobalOptions& g, const std::string& chain_id, const std::string& moniker,
            const std::vector<std::string>& funds) {
  AGORA_RETURN_IF_ERROR(ValidateChainId(chain_id));
  AGORA_ASSIGN_OR_RETURN(auto fund_accounts, ParseFunds(g, funds));
  AGORA_ASSIGN_OR_RETURN(fs::path home, Home(g));
  if (fs::exists(ConfigPath(home))) {
    return Status::AlreadyExists(ConfigPath(home).string() +
                                 " exists; pick another --home or remove it");
  }
  AGORA_RETURN_IF_ERROR(EnsurePrivateDirectory(home));
  AGORA_RETURN_IF_ERROR(EnsurePrivateDirectory(home / "config"));
  SecretKey key = SecretKey::Generate();
  AGORA_RETURN_IF_ERROR(WriteNodeKey(NodeKeyPath(home), key));
  NodeConfig config;
  config.moniker = moniker;
  AGORA_RETURN_IF_ERROR(
      WriteFileAtomic(ConfigPath(home), AsBytes(RenderConfig(config)), 0644, Overwrite::kRefuse));
  Genesis genesis;
  genesis.chain_id = chain_id;
  genesis.genesis_time_unix_ms = NowUnixMs();
  genesis.min_fee_uagr = kDefaultMinFeeUagr;
  genesis.validators.push_back({moniker, key.public_key(), kValidatorPower, std::nullopt});
  genesis.accounts = std::move(fund_accounts);
  AGORA_RETURN_IF_ERROR(WriteFileAtomic(GenesisPath(home), AsBytes(RenderGenesis(genesis)), 0644,
                                        Overwrite::kRefuse));
  Print(g,
        json::object{
            {"home", home.string()}, {"node_id", key.public_key().ToHex()}, {"chain_id", chain_id}},
        "initialised " + home.string() + "\n  node id:  " + key.public_key().ToHex() +
            "\n  chain id: " + chain_id + "\nstart it with `agorad --home " + home.string() +
            "`\n");
  return Status::Ok();
}

// Provider nodes' offer in a devnet: CPU, 1 wu/s (deadlines generous for a
// busy laptop), one task at a time, 900 uagr per wu.
constexpr uint64_t kDevnetProviderSpeed = 1;
constexpr uint64_t kDevnetProviderAsk = 900;
constexpr uint64_t kDevnetBlockTimeMs = 250;
constexpr uint64_t kDevnetProviderStakes = 10;  // times market.provider_stake_min_uagr

struct TestnetNode {
  fs::path home;
  std::string rpc_url;
  std::string role = "validator";  // or "provider": a full node whose role trains
  fs::path provider_key;           // providers: the provider account's key file
};

Result<std::vector<TestnetNode>> ReadTestnet(const fs::path& dir) {
  auto text = ReadFile(dir / "testnet.json", 1 << 20);
  if (!text.ok()) {
    return Status::NotFound("no testnet in " + dir.string() +
                            "; make one with `agora testnet --dir " + dir.string() +
                            "` or `agora devnet up --dir " + dir.string() + "`");
  }
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  if (ec || !v.is_object() || !v.as_object().if_contains("nodes")) {
    return Status::Corruption((dir / "testnet.json").string() + " is damaged");
  }
  std::vector<TestnetNode> nodes;
  for (const auto& n : v.as_object().at("nodes").as_array()) {
    TestnetNode node;
    node.home = std::string(n.at("home").as_string());
    node.rpc_url = std::string(n.at("rpc").as_string());
    if (const json::value* role = n.as_object().if_contains("role")) {
      node.role = std::string(role->as_string());
    }
    if (const json::value* key = n.as_object().if_contains("provider_key_file")) {
      node.provider_key = std::string(key->as_string());
    }
    nodes.push_back(std::move(node));
  }
  return nodes;
}

// --param NAME=VALUE entries for genesis, each checked against its bounds.
Result<std::map<std::string, uint64_t>> ParseParams(const std::vector<std::string>& entries) {
  std::map<std::string, uint64_t> out;
  for (const std::string& e : entries) {
    const size_t eq = e.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument("--param " + e + ": expected NAME=VALUE");
    }
    const std::string name = e.substr(0, eq), text = e.substr(eq + 1);
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
      return Status::InvalidArgument("--param " + e + ": the value must be an integer");
    }
    AGORA_RETURN_IF_ERROR(consensus::ValidateParam(name, value));
    out[name] = value;
  }
  AGORA_RETURN_IF_ERROR(consensus::ParamsFromOverrides(out).status());
  return out;
}

// Writes `validators` validator homes and `providers` provider homes (full
// nodes that follow the chain and run the provider role for their own
// funded account). With `validator_roles` every validator node also runs
// the validator role (docs/roles.md); every node lists the others' RPC as
// blob sources.
Status Testnet(const GlobalOptions& g, uint32_t validators, uint32_t providers,
               bool validator_roles, const fs::path& dir, const std::string& chain_id,
               const std::vector<std::string>& funds, const std::vector<std::string>& params,
               bool quiet) {
  if (validators < 1 || validators > 64) {
    return Status::InvalidArgument("--validators must be 1..64");
  }
  if (providers > 64) return Status::InvalidArgument("--providers must be 0..64");
  if (fs::exists(dir / "testnet.json")) {
    return Status::AlreadyExists("a testnet already exists in " + dir.string() +
                                 "; remove the directory or pick another --dir");
  }
  AGORA_ASSIGN_OR_RETURN(auto genesis_params, ParseParams(params));
  AGORA_RETURN_IF_ERROR(EnsurePrivateDirectory(dir));
  const uint32_t total = validators + providers;
  std::vector<SecretKey> keys, provider_keys;
  std::vector<uint16_t> p2p_ports, rpc_ports;
  Genesis genesis;
  genesis.chain_id = chain_id;
  genesis.genesis_time_unix_ms = NowUnixMs();
  genesis.min_fee_uagr = kDefaultMinFeeUagr;
  genesis.params = std::move(genesis_params);
  // The kernel may hand out a port it just released again: a network
  // whose node's P2P port is another node's RPC port cannot start, so each
  // port is taken once.
  std::set<uint16_t> taken;
  auto fresh_port = [&taken]() -> Result<uint16_t> {
    for (int attempt = 0; attempt < 100; ++attempt) {
      AGORA_ASSIGN_OR_RETURN(uint16_t port, FreePort());
      if (taken.insert(port).second) return port;
    }
    return Status::IoError("no free port on 127.0.0.1 after 100 tries");
  };
  for (uint32_t i = 0; i < total; ++i) {
    keys.push_back(SecretKey::Generate());
    AGORA_ASSIGN_OR_RETURN(uint16_t p2p, fresh_port());
    AGORA_ASSIGN_OR_RETURN(uint16_t rpc, fresh_port());
    p2p_ports.push_back(p2p);
    rpc_ports.push_back(rpc);
    if (i < validators) {
      genesis.validators.push_back(
          {"node" + std::to_string(i), keys[i].public_key(), kValidatorPower, std::nullopt});
      genesis.accounts.push_back({Address::FromPublicKey(keys[i].public_key()), kDevnetFundUagr});
    } else {
      provider_keys.push_back(SecretKey::Generate());
      genesis.accounts.push_back(
          {Address::FromPublicKey(provider_keys.back().public_key()), kDevnetFundUagr});
    }
  }
  AGORA_ASSIGN_OR_RETURN(auto extra, ParseFunds(g, funds));
  for (const auto& e : extra) {
    bool duplicate = false;
    for (const auto& a : genesis.accounts) duplicate |= a.address == e.address;
    if (!duplicate) genesis.accounts.push_back(e);
  }
  const std::string genesis_text = RenderGenesis(genesis);
  json::array nodes;
  for (uint32_t i = 0; i < total; ++i) {
    const bool provider = i >= validators;
    const std::string name =
        provider ? "provider" + std::to_string(i - validators) : "node" + std::to_string(i);
    const fs::path home = fs::absolute(dir / name);
    AGORA_RETURN_IF_ERROR(EnsurePrivateDirectory(home));
    AGORA_RETURN_IF_ERROR(EnsurePrivateDirectory(home / "config"));
    AGORA_RETURN_IF_ERROR(WriteNodeKey(NodeKeyPath(home), keys[i]));
    NodeConfig config;
    config.moniker = name;
    config.p2p_port = p2p_ports[i];
    config.rpc_port = rpc_ports[i];
    for (uint32_t j = 0; j < total; ++j) {
      if (j == i) continue;
      // Everyone dials the validators; providers are dialled by nobody.
      if (j < validators) {
        config.persistent_peers.push_back(keys[j].public_key().ToHex() +
                                          "@127.0.0.1:" + std::to_string(p2p_ports[j]));
      }
      if (validator_roles || providers > 0) {
        config.role_sources.push_back("http://127.0.0.1:" + std::to_string(rpc_ports[j]));
      }
    }
    json::object entry{{"name", name},
                       {"role", provider ? "provider" : "validator"},
                       {"home", home.string()},
                       {"node_id", keys[i].public_key().ToHex()},
                       {"p2p", "127.0.0.1:" + std::to_string(p2p_ports[i])},
                       {"rpc", "http://127.0.0.1:" + std::to_string(rpc_ports[i])}};
    if (provider) {
      const SecretKey& account = provider_keys[i - validators];
      const fs::path key_file = home / "config" / "provider_key.json";
      AGORA_RETURN_IF_ERROR(WriteNodeKey(key_file, account));
      config.role_provider = true;
      config.provider_key_file = key_file.string();
      entry["provider_key_file"] = key_file.string();
      entry["account"] = Address::FromPublicKey(account.public_key()).ToString();
    } else {
      config.role_validator = validator_roles;
      entry["account"] = Address::FromPublicKey(keys[i].public_key()).ToString();
    }
    AGORA_RETURN_IF_ERROR(WriteFileAtomic(ConfigPath(home), AsBytes(RenderConfig(config)), 0644));
    AGORA_RETURN_IF_ERROR(WriteFileAtomic(GenesisPath(home), AsBytes(genesis_text), 0644));
    nodes.push_back(std::move(entry));
  }
  json::object summary{{"chain_id", chain_id}, {"nodes", nodes}};
  AGORA_RETURN_IF_ERROR(
      WriteFileAtomic(dir / "testnet.json", AsBytes(json::serialize(summary) + "\n"), 0644));
  if (quiet) return Status::Ok();
  std::string human = "wrote " + std::to_string(total) + " node homes in " + dir.string() +
                      " (chain " + chain_id + ")\n";
  for (const auto& n : nodes) {
    human += "  " + std::string(n.at("name").as_string()) + "  rpc " +
             std::string(n.at("rpc").as_string()) + "  home " +
             std::string(n.at("home").as_string()) + "\n";
  }
  human += "start them with `agora devnet up --dir " + dir.string() + "`\n";
  Print(g, summary, human);
  return Status::Ok();
}

fs::path AgoradPath() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path beside = self.parent_path() / "agorad";
    if (fs::exists(beside)) return beside;
  }
  return "agorad";  // from PATH
}

std::optional<pid_t> ReadPid(const fs::path& home) {
  std::ifstream in(home / "agorad.pid");
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return std::nullopt;
  return static_cast<pid_t>(pid);
}

// True iff `pid` is running and is an agorad: a stale pid file must never
// make `devnet down` signal an unrelated process that reused the number.
bool Alive(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
  std::string argv0;
  std::getline(cmdline, argv0, '\0');
  return fs::path(argv0).filename() == "agorad";
}

Result<pid_t> SpawnNode(const fs::path& home) {
  const fs::path log = home / "agorad.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  const std::string agorad = AgoradPath().string();
  std::vector<std::string> args = {agorad, "--home", home.string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, agorad.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return Status::IoError("cannot start " + agorad + ": " + std::strerror(rc) +
                           "; build it or put it on PATH");
  }
  std::string text = std::to_string(pid) + "\n";
  AGORA_RETURN_IF_ERROR(WriteFileAtomic(home / "agorad.pid", AsBytes(text), 0644));
  return pid;
}

// Tops a devnet provider's stake up to kDevnetProviderStakes times the
// minimum (a late penalty or a failed check must not drop it below the
// minimum, which would keep it from ever being scheduled again) and
// registers its offer unless it is registered. Run on every `devnet up`, so
// an interrupted first run is completed. Returns a line for the summary.
Result<std::string> RegisterDevnetProvider(const GlobalOptions& g, const std::string& node,
                                           const TestnetNode& p) {
  AGORA_ASSIGN_OR_RETURN(SecretKey account, LoadNodeKey(p.provider_key));
  const Address address = Address::FromPublicKey(account.public_key());
  rpc::RpcClient client(node);
  const std::string who = p.home.filename().string() + " (" + address.ToString() + ")";
  AGORA_ASSIGN_OR_RETURN(json::value listed, client.Call("params"));
  uint64_t stake_min = 0;
  for (const json::value& param : listed.at("params").as_array()) {
    if (param.at("name").as_string() == "market.provider_stake_min_uagr") {
      stake_min = param.at("value").to_number<uint64_t>();
    }
  }
  if (stake_min == 0) return Status::Internal("the node lists no market.provider_stake_min_uagr");
  AGORA_ASSIGN_OR_RETURN(json::value acct,
                         client.Call("account", json::object{{"address", address.ToString()}}));
  const json::value* staked = acct.as_object().if_contains("stake_uagr");
  const uint64_t have = staked != nullptr && staked->is_number() ? staked->to_number<uint64_t>() : 0;
  const uint64_t target = stake_min * kDevnetProviderStakes;
  const uint64_t stake = have < target ? target - have : 0;
  GlobalOptions via = g;
  via.node_url = node;
  TxOptions tx;
  tx.key_file = p.provider_key.string();
  tx.wait = true;
  const auto send = [&](consensus::Msg msg) {
    return SubmitTx(via, tx, [&msg](const SecretKey&, const std::string&) -> Result<consensus::Msg> {
             return msg;
           }).status();
  };
  if (stake > 0) AGORA_RETURN_IF_ERROR(send(consensus::MsgStake{stake}));
  if (client.Call("provider", json::object{{"address", address.ToString()}}).ok()) {
    return who + " registered" +
           (stake > 0 ? ", stake topped up by " + std::to_string(stake) + " uagr" : std::string());
  }
  consensus::ProviderOffer offer;
  offer.hardware = market::HardwareClass::kCpu;
  offer.speed_wu_per_s = kDevnetProviderSpeed;
  offer.capacity_tasks = 1;
  offer.ask_uagr_per_wu = kDevnetProviderAsk;
  offer.blob_endpoint = p.rpc_url;
  AGORA_RETURN_IF_ERROR(send(consensus::MsgRegisterProvider{offer}));
  return who + " staked " + std::to_string(target) + " uagr and registered (cpu, " +
         std::to_string(kDevnetProviderSpeed) + " wu/s, ask " +
         std::to_string(kDevnetProviderAsk) + " uagr/wu, blobs at " + p.rpc_url + ")";
}

Status DevnetUp(const GlobalOptions& g, uint32_t validators, uint32_t providers, bool shape_given,
                fs::path dir, const std::vector<std::string>& params,
                const std::vector<std::string>& funds) {
  if (dir.empty()) {
    AGORA_ASSIGN_OR_RETURN(fs::path home, Home(g));
    dir = home / "devnet";
  }
  if (!fs::exists(dir / "testnet.json")) {
    // The ledger turns a provider's declared speed into a deadline in
    // blocks with market.block_time_ms (1 s by default, a public network's
    // pace); a devnet commits a block about every 250 ms ([consensus]
    // block_interval_ms 200 plus the votes), so it says so, and deadlines
    // keep their length in seconds (docs/roles.md).
    std::vector<std::string> with_pace = params;
    bool paced = false;
    for (const std::string& p : params) paced |= p.starts_with("market.block_time_ms=");
    if (!paced) with_pace.push_back("market.block_time_ms=" + std::to_string(kDevnetBlockTimeMs));
    AGORA_RETURN_IF_ERROR(Testnet(g, validators, providers, /*validator_roles=*/true, dir,
                                  "agora-devnet", funds, with_pace, /*quiet=*/true));
  } else if (!funds.empty() || !params.empty() || shape_given) {
    return Status::InvalidArgument(
        "--fund, --param, --validators and --providers only apply to a new devnet; " +
        dir.string() + " already has one (remove it to start over, or run `agora devnet up` "
        "without them to start its nodes)");
  }
  AGORA_ASSIGN_OR_RETURN(std::vector<TestnetNode> nodes, ReadTestnet(dir));
  for (const TestnetNode& n : nodes) {
    if (auto pid = ReadPid(n.home); pid && Alive(*pid)) continue;
    AGORA_RETURN_IF_ERROR(SpawnNode(n.home).status());
  }
  // Wait until every node answers.
  const auto deadline = std::chrono::steady_clock::now() + kDevnetStartTimeout;
  json::array out;
  std::string human = "devnet in " + dir.string() + " is up:\n";
  for (const TestnetNode& n : nodes) {
    rpc::RpcClient client(n.rpc_url);
    for (;;) {
      auto status = client.Call("status", nullptr, std::chrono::milliseconds(1000));
      if (status.ok()) {
        out.push_back(json::object{{"home", n.home.string()}, {"rpc", n.rpc_url}, {"role", n.role}});
        human += "  " + n.home.filename().string() + "  " + n.rpc_url + "  height " +
                 std::to_string(status->at("height").to_number<uint64_t>()) + "  log " +
                 (n.home / "agorad.log").string() + "\n";
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return Status::Unavailable("node " + n.home.string() + " did not answer at " + n.rpc_url +
                                   " within 30 s; see " + (n.home / "agorad.log").string());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  // Providers stake and register their offers (once).
  json::array registered;
  for (const TestnetNode& n : nodes) {
    if (n.role != "provider") continue;
    Result<std::string> line = RegisterDevnetProvider(g, nodes[0].rpc_url, n);
    if (!line.ok()) {
      return Status(line.status().code(), "registering " + n.home.filename().string() +
                                              " as a provider: " + line.status().message());
    }
    human += "  " + *line + "\n";
    registered.push_back(json::value(*line));
  }
  human += "try `agora status --node " + nodes[0].rpc_url + "`; stop with `agora devnet down" +
           (g.home.empty() ? std::string() : " --home " + g.home) + " --dir " + dir.string() +
           "`\n";
  Print(g, json::object{{"dir", dir.string()}, {"nodes", out}, {"providers", registered}}, human);
  return Status::Ok();
}

Status DevnetStatus(const GlobalOptions& g, fs::path dir) {
  if (dir.empty()) {
    AGORA_ASSIGN_OR_RETURN(fs::path home, Home(g));
    dir = home / "devnet";
  }
  AGORA_ASSIGN_OR_RETURN(std::vector<TestnetNode> nodes, ReadTestnet(dir));
  json::array out;
  std::string human = "NODE                                      PID      HEIGHT  PEERS  RPC\n";
  for (const TestnetNode& n : nodes) {
    auto pid = ReadPid(n.home);
    const bool alive = pid && Alive(*pid);
    auto status =
        rpc::RpcClient(n.rpc_url).Call("status", nullptr, std::chrono::milliseconds(2000));
    json::object o{{"home", n.home.string()}, {"rpc", n.rpc_url}, {"running", alive}};
    char line[512];
    if (status.ok()) {
      o["height"] = status->at("height");
      o["peers"] = status->at("peers");
      std::snprintf(line, sizeof(line), "%-41s %-8d %-7llu %-6llu %s\n", n.home.filename().c_str(),
                    alive ? *pid : 0,
                    static_cast<unsigned long long>(status->at("height").to_number<uint64_t>()),
                    static_cast<unsigned long long>(status->at("peers").to_number<uint64_t>()),
                    n.rpc_url.c_str());
    } else {
      std::snprintf(line, sizeof(line), "%-41s %-8s %-7s %-6s %s\n", n.home.filename().c_str(),
                    alive ? std::to_string(*pid).c_str() : "-", "down", "-", n.rpc_url.c_str());
    }
    human += line;
    out.push_back(std::move(o));
  }
  Print(g, json::object{{"dir", dir.string()}, {"nodes", out}}, human);
  return Status::Ok();
}

Status DevnetDown(const GlobalOptions& g, fs::path dir) {
  if (dir.empty()) {
    AGORA_ASSIGN_OR_RETURN(fs::path home, Home(g));
    dir = home / "devnet";
  }
  AGORA_ASSIGN_OR_RETURN(std::vector<TestnetNode> nodes, ReadTestnet(dir));
  int stopped = 0;
  for (const TestnetNode& n : nodes) {
    auto pid = ReadPid(n.home);
    if (!pid || !Alive(*pid)) continue;
    kill(*pid, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + kDevnetStopTimeout;
    while (Alive(*pid) && std::chrono::steady_clock::now() < deadline) {
      waitpid(*pid, nullptr, WNOHANG);  // reaps it if it is our child
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (Alive(*pid)) kill(*pid, SIGKILL);
    fs::remove(n.home / "agorad.pid");
    ++stopped;
  }
  Print(g, json::object{{"stopped", stopped}},
        "stopped " + std::to_string(stopped) + " node(s) of " + dir.string() + "\n");
  return Status::Ok();
}

Status NodeStatus(const GlobalOptions& g) {
  AGORA_ASSIGN_OR_RETURN(json::value s, rpc::RpcClient(NodeUrl(g)).Call("status"));
  const json::object& o = s.as_object();
  auto str = [&](const char* k) { return json::serialize(o.at(k)); };
  Print(g, s,
        "chain:    " + std::string(o.at("chain_id").as_string()) + "\nheight:   " + str("height") +
            "\nblock:    " + std::string(o.at("latest_block_hash").as_string()) +
            "\napp hash: " + std::string(o.at("app_hash").as_string()) +
            "\nround:    " + str("round") + " (" + std::string(o.at("step").as_string()) +
            ")\npeers:    " + str("peers") + "\nmempool:  " + str("mempool_txs") +
            " txs\nnode id:  " + std::string(o.at("node_id").as_string()) +
            "\nvalidator: " + str("validator") + "\n" +
            (o.if_contains("timeouts")
                 ? "timeouts: propose " + json::serialize(o.at("timeouts").at("propose_ms")) +
                       " ms, prevote " + json::serialize(o.at("timeouts").at("prevote_ms")) +
                       " ms, precommit " +
                       json::serialize(o.at("timeouts").at("precommit_ms")) + " ms, +" +
                       json::serialize(o.at("timeouts").at("delta_ms")) + " ms per round\n"
                 : std::string()));
  return Status::Ok();
}


Status QueryBlock(const GlobalOptions& g, const std::string& which) {
  json::object params;
  if (which.size() == 64) {
    params["hash"] = which;
  } else if (!which.empty()) {
    const std::optional<uint64_t> height = ParseDecimalU64(which);
    if (!height) return Status::InvalidArgument("block: give a height (decimal digits) or a 64-digit hash");
    params["height"] = *height;
  }
  AGORA_ASSIGN_OR_RETURN(json::value v, rpc::RpcClient(NodeUrl(g)).Call("block", params));
  Print(g, v, Pretty(v));
  return Status::Ok();
}

Status QueryTx(const GlobalOptions& g, const std::string& hash) {
  AGORA_ASSIGN_OR_RETURN(json::value v,
                         rpc::RpcClient(NodeUrl(g)).Call("tx", json::object{{"hash", hash}}));
  Print(g, v, Pretty(v));
  return Status::Ok();
}

struct TransferOptions {
  std::string from, to, password_file;
  uint64_t amount = 0;
  uint64_t fee = kDefaultMinFeeUagr;
  int64_t nonce = -1;
  bool wait = false;
};

Status Transfer(const GlobalOptions& g, const TransferOptions& t) {
  if (t.amount == 0) return Status::InvalidArgument("--amount must be a positive integer (uagr)");
  AGORA_ASSIGN_OR_RETURN(Address to, ResolveAddress(g, t.to));
  TxOptions tx;
  tx.from = t.from;
  tx.password_file = t.password_file;
  tx.fee = t.fee;
  tx.nonce = t.nonce;
  tx.wait = t.wait;
  return SendTx(g, tx, consensus::MsgTransfer{to, t.amount});
}

}  // namespace

void AddChainCommands(CLI::App& app, GlobalOptions& global, std::function<Status()>& action) {
  static std::string chain_id = "agora-devnet", moniker = "agora-node", which, dir;
  static std::vector<std::string> funds, params;
  static uint32_t validators = 4, providers = 0;
  static TransferOptions transfer;

  auto* init = app.add_subcommand("init", "Write a node home: config.toml, node key, genesis");
  init->add_option("--chain-id", chain_id, "Chain id")->capture_default_str();
  init->add_option("--moniker", moniker, "This node's name")->capture_default_str();
  init->add_option("--fund", funds, "Fund ADDRESS|KEY[=UAGR] in genesis (repeatable)");
  init->callback([&] { action = [&] { return Init(global, chain_id, moniker, funds); }; });

  auto* testnet = app.add_subcommand("testnet", "Write the homes of a local network");
  testnet->add_option("--validators", validators, "Validators")->capture_default_str();
  testnet->add_option("--providers", providers,
                      "Provider nodes (full nodes with the provider role; validators then run "
                      "the validator role)")
      ->capture_default_str();
  testnet->add_option("--dir", dir, "Directory for the homes")->required();
  testnet->add_option("--chain-id", chain_id, "Chain id")->capture_default_str();
  testnet->add_option("--fund", funds, "Fund ADDRESS|KEY[=UAGR] in genesis (repeatable)");
  testnet->add_option("--param", params,
                      "Ledger parameter NAME=VALUE in genesis (repeatable; "
                      "`agora query params` lists them)");
  testnet->callback([&] {
    action = [&] {
      return Testnet(global, validators, providers, /*validator_roles=*/providers > 0, dir,
                     chain_id, funds, params, /*quiet=*/false);
    };
  });

  auto* devnet = app.add_subcommand("devnet", "Run a local network in the background");
  devnet->require_subcommand(1);
  auto* up = devnet->add_subcommand("up", "Write (first time) and start the nodes");
  up->add_option("--validators", validators, "Validators of a new devnet")->capture_default_str();
  up->add_option("--providers", providers,
                 "Provider nodes of a new devnet: each stakes, registers and trains")
      ->capture_default_str();
  up->add_option("--dir", dir, "Directory (default: <home>/devnet)");
  up->add_option("--fund", funds, "Fund ADDRESS|KEY[=UAGR] in a new devnet's genesis");
  up->add_option("--param", params,
                 "Ledger parameter NAME=VALUE in a new devnet's genesis (repeatable; "
                 "`agora query params` lists them)");
  up->callback([&, up] {
    const bool shape_given = up->count("--validators") + up->count("--providers") > 0;
    action = [&, shape_given] {
      return DevnetUp(global, validators, providers, shape_given, dir, params, funds);
    };
  });
  auto* dstatus = devnet->add_subcommand("status", "Show the nodes");
  dstatus->add_option("--dir", dir, "Directory (default: <home>/devnet)");
  dstatus->callback([&] { action = [&] { return DevnetStatus(global, dir); }; });
  auto* down = devnet->add_subcommand("down", "Stop the nodes (SIGTERM, then SIGKILL)");
  down->add_option("--dir", dir, "Directory (default: <home>/devnet)");
  down->callback([&] { action = [&] { return DevnetDown(global, dir); }; });

  auto* status = app.add_subcommand("status", "A node's height, peers and state");
  status->callback([&] { action = [&] { return NodeStatus(global); }; });

  auto* query = app.add_subcommand("query", "Read the chain through a node");
  query->require_subcommand(1);
  auto* block = query->add_subcommand("block", "A block by height or hash (default: latest)");
  block->add_option("which", which, "Height or hash");
  block->callback([&] { action = [&] { return QueryBlock(global, which); }; });
  auto* tx = query->add_subcommand("tx", "A transaction by hash");
  tx->add_option("hash", which, "Transaction hash (hex)")->required();
  tx->callback([&] { action = [&] { return QueryTx(global, which); }; });

  auto* txs = app.add_subcommand("tx", "Sign and send transactions");
  txs->require_subcommand(1);
  auto* send = txs->add_subcommand("transfer", "Send uagr from one of your keys");
  send->add_option("--from", transfer.from, "Key name in the home's keyring")->required();
  send->add_option("--to", transfer.to, "Recipient address or key name")->required();
  send->add_option("--amount", transfer.amount, "Amount in uagr (1 AGR = 10^6 uagr)")->required();
  send->add_option("--fee", transfer.fee, "Fee in uagr")->capture_default_str();
  send->add_option("--nonce", transfer.nonce, "Nonce (default: the account's next)");
  send->add_flag("--wait", transfer.wait, "Wait until it is committed");
  send->add_option("--password-file", transfer.password_file,
                   "Read the key's password from FILE instead of the terminal");
  send->callback([&] { action = [&] { return Transfer(global, transfer); }; });
}

}  // namespace agora::node
