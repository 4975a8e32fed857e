#include "node/cli/cli_util.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <fstream>
#include <iostream>
#include <random>

#include "common/encoding.h"
#include "node/cli/password.h"
#include "node/config.h"
#include "node/home.h"
#include "node/keyring.h"
#include "node/rpc/client.h"

namespace agora::node {

namespace json = boost::json;
namespace fs = std::filesystem;

std::string NodeUrl(const GlobalOptions& g) {
  if (!g.node_url.empty()) return g.node_url;
  if (const char* env = std::getenv("AGORA_NODE"); env && *env) return env;
  return "http://127.0.0.1:26657";
}

Result<fs::path> Home(const GlobalOptions& g) {
  if (!g.home.empty()) return fs::path(g.home);
  return DefaultHome();
}

std::string Str(const boost::json::value& v, std::string_view key) {
  const boost::json::value* x = v.as_object().if_contains(key);
  if (x == nullptr) return "-";
  return x->is_string() ? std::string(x->as_string()) : boost::json::serialize(*x);
}

void Print(const GlobalOptions& g, const json::value& v, const std::string& human) {
  if (g.json) {
    std::cout << json::serialize(v) << "\n";
  } else {
    std::cout << human;
  }
}

std::string Pretty(const json::value& v) {
  std::string out;
  for (const auto& kv : v.as_object()) {
    std::string key(kv.key());
    key.resize(std::max<size_t>(key.size() + 1, 18), ' ');
    out += key +
           (kv.value().is_string() ? std::string(kv.value().as_string())
                                   : json::serialize(kv.value())) +
           "\n";
  }
  return out;
}

Result<Address> ResolveAddress(const GlobalOptions& g, const std::string& who) {
  auto address = Address::Parse(who);
  if (address.ok()) return *address;
  AGORA_ASSIGN_OR_RETURN(fs::path home, Home(g));
  auto info = Keyring(home).Show(who);
  if (!info.ok()) {
    return Status::InvalidArgument("'" + who + "' is neither an address (" +
                                   address.status().message() + ") nor a key name");
  }
  return info->address;
}

namespace {

// Binds `port` on 127.0.0.1 (0: any) and returns the port bound, or 0.
uint16_t TryBind(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  socklen_t len = sizeof(addr);
  const bool bound = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                     getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  return bound ? ntohs(addr.sin_port) : 0;
}

bool AllDigits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool NamesAnAmount(std::string_view name) {
  for (std::string_view word : {"amount", "fee", "deposit", "budget", "ask", "price"}) {
    if (name.find(word) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace

std::optional<uint64_t> ParseDecimalU64(std::string_view text) {
  if (!AllDigits(text)) return std::nullopt;
  uint64_t value = 0;
  if (std::from_chars(text.data(), text.data() + text.size(), value).ec != std::errc{}) {
    return std::nullopt;
  }
  return value;
}

void RequireDecimalIntegers(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    const std::string type = option->get_type_name();
    const bool is_unsigned = type.rfind("UINT", 0) == 0;
    if (!is_unsigned && type.rfind("INT", 0) != 0) continue;
    const std::string what =
        NamesAnAmount(option->get_name())
            ? "a whole number of uagr in decimal digits (1 AGR = 10^6 uagr: 1500000 for 1.5 AGR)"
            : std::string(is_unsigned ? "a whole number" : "an integer") + " in decimal digits";
    option->check(CLI::Validator(
        [is_unsigned, what](std::string& text) -> std::string {
          const char* first = text.data();
          const char* last = first + text.size();
          const bool negative = !is_unsigned && first != last && *first == '-';
          const char* digits = first + (negative ? 1 : 0);
          if (!AllDigits(std::string_view(digits, last))) return "'" + text + "' is not " + what;
          // CLI11 would read 010 as octal 8; what the user meant is not sure.
          if (last - digits > 1 && *digits == '0') {
            const char* nonzero = std::find_if(digits, last, [](char c) { return c != '0'; });
            const std::string meant = nonzero == last ? "0" : std::string(nonzero, last);
            return "'" + text + "' has a leading zero: write " + (negative ? "-" : "") + meant +
                   " if that is meant (" + what + ")";
          }
          // In range for the option's 64-bit type (CLI11 checks narrower ones).
          uint64_t u = 0;
          int64_t i = 0;
          const bool fits = is_unsigned ? std::from_chars(first, last, u).ec == std::errc{}
                                        : std::from_chars(first, last, i).ec == std::errc{};
          if (!fits) return "'" + text + "' is out of range for " + what;
          return {};
        },
        ""));
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    RequireDecimalIntegers(*sub);
  }
}

Result<uint16_t> FreePort() {
  constexpr uint32_t kLowest = 10'000;  // above the ports services usually take
  uint32_t ephemeral_low = 32'768;      // Linux's default
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> ephemeral_low;
  if (ephemeral_low > kLowest + 1'000 && ephemeral_low <= 65'536) {
    std::random_device seed;
    std::mt19937 rng(seed());
    std::uniform_int_distribution<uint32_t> pick(kLowest, ephemeral_low - 1);
    for (int attempt = 0; attempt < 200; ++attempt) {
      const uint16_t port = TryBind(static_cast<uint16_t>(pick(rng)));
      if (port != 0) return port;
    }
  }
  if (const uint16_t port = TryBind(0); port != 0) return port;
  return Status::IoError("cannot bind a port on 127.0.0.1");
}

namespace {

Result<SecretKey> SigningKey(const GlobalOptions& g, const TxOptions& t) {
  if (t.from.empty() == t.key_file.empty()) {
    return Status::InvalidArgument(
        "say who signs: --from KEY (a key in the home's keyring) or --key-file PATH "
        "(a node key, e.g. <node home>/config/node_key.json)");
  }
  if (!t.key_file.empty()) return LoadNodeKey(t.key_file);
  AGORA_ASSIGN_OR_RETURN(fs::path home, Home(g));
  Keyring keyring(home);
  AGORA_RETURN_IF_ERROR(keyring.Show(t.from).status());
  AGORA_ASSIGN_OR_RETURN(std::string password, ReadPassword(t.password_file, /*confirm=*/false));
  return keyring.Unlock(t.from, password);
}

}  // namespace

Status SendTx(const GlobalOptions& g, const TxOptions& t, const consensus::Msg& msg) {
  return SendTx(g, t, [&msg](const SecretKey&, const std::string&) -> Result<consensus::Msg> {
    return msg;
  });
}

Result<json::value> SubmitTx(const GlobalOptions& g, const TxOptions& t, const MsgMaker& make,
                             json::value* failed) {
  AGORA_ASSIGN_OR_RETURN(SecretKey key, SigningKey(g, t));
  rpc::RpcClient client(NodeUrl(g));
  AGORA_ASSIGN_OR_RETURN(json::value status, client.Call("status"));
  const std::string chain_id(status.at("chain_id").as_string());
  AGORA_ASSIGN_OR_RETURN(const consensus::Msg msg, make(key, chain_id));
  uint64_t nonce = 0;
  if (t.nonce >= 0) {
    nonce = static_cast<uint64_t>(t.nonce);
  } else {
    const Address from = Address::FromPublicKey(key.public_key());
    AGORA_ASSIGN_OR_RETURN(json::value account,
                           client.Call("account", json::object{{"address", from.ToString()}}));
    // Counts this sender's transactions still pending, so two in a row work.
    nonce = account.at("next_nonce").to_number<uint64_t>();
  }
  Bytes raw = consensus::MakeTx(key, chain_id, nonce, t.fee, msg);
  json::object params{{"tx", Base64Encode(raw)}};
  if (!t.wait) return client.Call("tx_submit", params);
  AGORA_ASSIGN_OR_RETURN(json::value result, client.Call("tx_submit_wait", params,
                                                         std::chrono::milliseconds(40'000)));
  if (result.at("code").to_number<uint64_t>() != 0) {
    if (failed != nullptr) *failed = result;
    std::string why(result.at("result").as_string());
    if (const json::value* log = result.as_object().if_contains("log")) {
      why += ": " + std::string(log->as_string());
    }
    return Status::FailedPrecondition("the " + std::string(consensus::MsgName(msg)) +
                                      " was committed but failed (its fee was paid): " + why);
  }
  return result;
}

Status SendTx(const GlobalOptions& g, const TxOptions& t, const MsgMaker& make) {
  json::value failed;
  Result<json::value> submitted = SubmitTx(g, t, make, &failed);
  if (!submitted.ok()) {
    if (!failed.is_null()) Print(g, failed, Pretty(failed));  // what was committed, and why
    return submitted.status();
  }
  json::value result = std::move(submitted).value();
  if (t.wait) {
    Print(g, result, Pretty(result));
  } else {
    Print(g, result,
          Pretty(result) + "check it with `agora query tx " +
              std::string(result.at("hash").as_string()) + "`\n");
  }
  return Status::Ok();
}

void AddSignerOptions(CLI::App* cmd, TxOptions& t) {
  cmd->add_option("--from", t.from, "Key name in the home's keyring");
  cmd->add_option("--key-file", t.key_file,
                  "Sign with a node key file instead (<node home>/config/node_key.json)");
  cmd->add_option("--fee", t.fee, "Fee in uagr")->capture_default_str();
  cmd->add_option("--nonce", t.nonce, "Nonce (default: the account's next)");
  cmd->add_flag("--wait", t.wait, "Wait until it is committed");
  cmd->add_option("--password-file", t.password_file,
                  "Read the key's password from FILE instead of the terminal");
}

}  // namespace agora::node
