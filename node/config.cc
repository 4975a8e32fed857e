#include "node/config.h"

#include <toml++/toml.h>

#include <boost/json.hpp>
#include <set>
#include <cstdio>
#include <optional>
#include <sstream>

#include "common/encoding.h"
#include "common/file_util.h"
#include "consensus/ledger/params.h"
#include "consensus/ledger/tx.h"

namespace agora::node {
namespace {

namespace json = boost::json;

// Known keys per table: a typo in config.toml is an error, not a silently
// ignored setting.
const std::map<std::string, std::set<std::string>>& KnownKeys() {
  static const auto* known = new std::map<std::string, std::set<std::string>>{
      {"node", {"moniker", "log_level"}},
      {"p2p", {"listen_host", "listen_port", "persistent_peers"}},
      {"rpc", {"listen_host", "listen_port"}},
      {"consensus",
       {"block_interval_ms", "block_txs_max"}},
      {"mempool", {"txs_max", "bytes_max"}},
      {"blobs", {"blob_bytes_max", "quota_bytes", "uploads", "gc_grace_s", "gc_interval_s",
                 "model_keep_s"}},
      {"roles", {"provider", "validator", "sources", "device"}},
      {"provider", {"key_file", "password_file", "threads"}},
  };
  return *known;
}

template <typename T>
Status ReadInt(const toml::table& t, const char* table, const char* key, T* out, uint64_t lo,
               uint64_t hi) {
  auto node = t[table][key];
  if (!node) return Status::Ok();
  // Integers only: toml++'s value<int64_t>() would also convert a float,
  // with undefined behaviour for one beyond int64 (a fuzz finding:
  // `quota_bytes = 3e43`).
  const toml::value<int64_t>* integer = node.as_integer();
  std::optional<int64_t> v;
  if (integer != nullptr) v = integer->get();
  if (!v || *v < 0 || static_cast<uint64_t>(*v) < lo || static_cast<uint64_t>(*v) > hi) {
    return Status::InvalidArgument(std::string("config: [") + table + "] " + key +
                                   " must be an integer in " + std::to_string(lo) + ".." +
                                   std::to_string(hi));
  }
  *out = static_cast<T>(*v);
  return Status::Ok();
}

Status ReadString(const toml::table& t, const char* table, const char* key, std::string* out) {
  auto node = t[table][key];
  if (!node) return Status::Ok();
  auto v = node.value<std::string>();
  if (!v) {
    return Status::InvalidArgument(std::string("config: [") + table + "] " + key +
                                   " must be a string");
  }
  *out = *v;
  return Status::Ok();
}

Status ReadBool(const toml::table& t, const char* table, const char* key, bool* out) {
  auto node = t[table][key];
  if (!node) return Status::Ok();
  auto v = node.value<bool>();
  if (!v) {
    return Status::InvalidArgument(std::string("config: [") + table + "] " + key +
                                   " must be true or false");
  }
  *out = *v;
  return Status::Ok();
}

Status ReadStringList(const toml::table& t, const char* table, const char* key,
                      std::vector<std::string>* out) {
  auto node = t[table][key];
  if (!node) return Status::Ok();
  const toml::array* array = node.as_array();
  if (array == nullptr) {
    return Status::InvalidArgument(std::string("config: [") + table + "] " + key +
                                   " must be a list of strings");
  }
  for (const auto& item : *array) {
    auto s = item.value<std::string>();
    if (!s) {
      return Status::InvalidArgument(std::string("config: [") + table + "] " + key +
                                     " must be strings");
    }
    out->push_back(*s);
  }
  return Status::Ok();
}

Result<uint64_t> JsonU64(const json::object& o, std::string_view key, std::string_view where) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) {
    return Status::InvalidArgument("genesis: " + std::string(where) + " lacks \"" +
                                   std::string(key) + "\"");
  }
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64() && v->as_int64() >= 0) return static_cast<uint64_t>(v->as_int64());
  return Status::InvalidArgument("genesis: " + std::string(where) + " \"" + std::string(key) +
                                 "\" must be a non-negative integer");
}

Result<std::string> JsonString(const json::object& o, std::string_view key,
                               std::string_view where) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    return Status::InvalidArgument("genesis: " + std::string(where) + " needs a string \"" +
                                   std::string(key) + "\"");
  }
  return std::string(v->as_string());
}

Status OnlyKeys(const json::object& o, std::set<std::string_view> allowed, std::string_view where) {
  for (const auto& kv : o) {
    if (!allowed.count(kv.key())) {
      return Status::InvalidArgument("genesis: unknown field \"" + std::string(kv.key()) +
                                     "\" in " + std::string(where));
    }
  }
  return Status::Ok();
}

}  // namespace

std::filesystem::path ConfigPath(const std::filesystem::path& home) {
  return home / "config" / "config.toml";
}
std::filesystem::path GenesisPath(const std::filesystem::path& home) {
  return home / "config" / "genesis.json";
}
std::filesystem::path NodeKeyPath(const std::filesystem::path& home) {
  return home / "config" / "node_key.json";
}
std::filesystem::path DataPath(const std::filesystem::path& home) { return home / "data"; }
std::filesystem::path BlobsPath(const std::filesystem::path& home) { return home / "blobs"; }

Result<NodeConfig> LoadConfig(const std::filesystem::path& path) {
  AGORA_ASSIGN_OR_RETURN(std::string text, ReadFile(path, kConfigBytesMax));
  return ParseConfig(text, path.string());
}

Result<NodeConfig> ParseConfig(std::string_view text, const std::string& name) {
  if (text.size() > kConfigBytesMax) {
    return Status::InvalidArgument(name + ": larger than " + std::to_string(kConfigBytesMax) +
                                   " bytes");
  }
  toml::table t;
  try {
    t = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    return Status::InvalidArgument(name + ": " + std::string(e.description()) + " at " +
                                   where.str());
  }
  for (const auto& [table, node] : t) {
    auto known = KnownKeys().find(std::string(table.str()));
    if (known == KnownKeys().end() || !node.is_table()) {
      return Status::InvalidArgument(name + ": unknown table [" +
                                     std::string(table.str()) + "]");
    }
    for (const auto& [key, value] : *node.as_table()) {
      if (!known->second.count(std::string(key.str()))) {
        return Status::InvalidArgument(name + ": unknown setting " +
                                       std::string(key.str()) + " in [" + std::string(table.str()) +
                                       "]");
      }
    }
  }
  NodeConfig c;
  AGORA_RETURN_IF_ERROR(ReadString(t, "node", "moniker", &c.moniker));
  AGORA_RETURN_IF_ERROR(ReadString(t, "node", "log_level", &c.log_level));
  AGORA_RETURN_IF_ERROR(ReadString(t, "p2p", "listen_host", &c.p2p_host));
  AGORA_RETURN_IF_ERROR(ReadInt(t, "p2p", "listen_port", &c.p2p_port, 0, 65535));
  AGORA_RETURN_IF_ERROR(ReadStringList(t, "p2p", "persistent_peers", &c.persistent_peers));
  AGORA_RETURN_IF_ERROR(ReadString(t, "rpc", "listen_host", &c.rpc_host));
  AGORA_RETURN_IF_ERROR(ReadInt(t, "rpc", "listen_port", &c.rpc_port, 0, 65535));
  AGORA_RETURN_IF_ERROR(
      ReadInt(t, "consensus", "block_interval_ms", &c.block_interval_ms, 0, 600'000));
  AGORA_RETURN_IF_ERROR(ReadInt(t, "consensus", "block_txs_max", &c.block_txs_max, 1, 5'000));
  AGORA_RETURN_IF_ERROR(ReadInt(t, "mempool", "txs_max", &c.mempool_txs_max, 1, 1'000'000));
  AGORA_RETURN_IF_ERROR(
      ReadInt(t, "mempool", "bytes_max", &c.mempool_bytes_max, 4096, uint64_t{4} << 30));
  AGORA_RETURN_IF_ERROR(
      ReadInt(t, "blobs", "blob_bytes_max", &c.blob_bytes_max, 1, uint64_t{1} << 40));
  AGORA_RETURN_IF_ERROR(ReadInt(t, "blobs", "quota_bytes", &c.blob_quota_bytes, 1, uint64_t{1} << 50));
  if (c.blob_quota_bytes < c.blob_bytes_max) {
    return Status::InvalidArgument("config: [blobs] quota_bytes (" +
                                   std::to_string(c.blob_quota_bytes) +
                                   ") must be at least blob_bytes_max (" +
                                   std::to_string(c.blob_bytes_max) + ")");
  }
  AGORA_RETURN_IF_ERROR(ReadBool(t, "blobs", "uploads", &c.blob_uploads));
  AGORA_RETURN_IF_ERROR(ReadInt(t, "blobs", "gc_grace_s", &c.blob_gc_grace_s, 0, 365 * 86'400));
  AGORA_RETURN_IF_ERROR(ReadInt(t, "blobs", "gc_interval_s", &c.blob_gc_interval_s, 0, 86'400));
  AGORA_RETURN_IF_ERROR(
      ReadInt(t, "blobs", "model_keep_s", &c.blob_model_keep_s, 0, 10 * 365 * 86'400));
  AGORA_RETURN_IF_ERROR(ReadBool(t, "roles", "provider", &c.role_provider));
  AGORA_RETURN_IF_ERROR(ReadBool(t, "roles", "validator", &c.role_validator));
  AGORA_RETURN_IF_ERROR(ReadString(t, "provider", "key_file", &c.provider_key_file));
  AGORA_RETURN_IF_ERROR(ReadString(t, "provider", "password_file", &c.provider_password_file));
  AGORA_RETURN_IF_ERROR(ReadInt(t, "provider", "threads", &c.provider_threads, 0, 1024));
  AGORA_RETURN_IF_ERROR(ReadStringList(t, "roles", "sources", &c.role_sources));
  AGORA_RETURN_IF_ERROR(ReadString(t, "roles", "device", &c.role_device));
  if (c.role_device != "cpu" && c.role_device != "cuda") {
    return Status::InvalidArgument("config: [roles] device = \"" + c.role_device +
                                   "\" is not a device: \"cpu\" or \"cuda\"");
  }
  return c;
}

// A TOML basic string: quotes, backslashes and control characters escaped
// (a moniker with a quote in it must not break the file it is written to).
namespace {
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04X", c);
          out += escaped;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}
}  // namespace

std::string RenderConfig(const NodeConfig& c) {
  std::ostringstream o;
  o << "# Agora node settings. Unknown keys are an error.\n\n"
    << "[node]\nmoniker = " << Quote(c.moniker) << "\nlog_level = " << Quote(c.log_level) << "\n\n"
    << "[p2p]\nlisten_host = " << Quote(c.p2p_host) << "\nlisten_port = " << c.p2p_port
    << "\npersistent_peers = [";
  for (size_t i = 0; i < c.persistent_peers.size(); ++i) {
    o << (i ? ", " : "") << Quote(c.persistent_peers[i]);
  }
  o << "]\n\n[rpc]\n# 127.0.0.1 keeps the RPC private to this machine.\nlisten_host = "
    << Quote(c.rpc_host) << "\nlisten_port = " << c.rpc_port << "\n\n"
    << "[consensus]\n# Timeouts and the block byte limit are ledger parameters (genesis.json\n"
    << "# \"params\", then governance): every node uses the same ones.\nblock_interval_ms = "
    << c.block_interval_ms << "\nblock_txs_max = " << c.block_txs_max
    << "\n\n[mempool]\ntxs_max = " << c.mempool_txs_max << "\nbytes_max = " << c.mempool_bytes_max
    << "\n\n[blobs]\n# Content-addressed files under <home>/blobs: datasets, checkpoints, models.\n"
    << "blob_bytes_max = " << c.blob_bytes_max << "\nquota_bytes = " << c.blob_quota_bytes
    << "\n# Whether POST /blob stores what RPC clients upload (bounded by the limits above).\n"
    << "uploads = " << (c.blob_uploads ? "true" : "false")
    << "\n# Blobs no open job needs are removed once this old; 0 gc_interval_s turns gc off.\n"
    << "gc_grace_s = " << c.blob_gc_grace_s << "\ngc_interval_s = " << c.blob_gc_interval_s
    << "\n# A finished job's model is kept this long for its client to fetch; 0: forever.\n"
    << "model_keep_s = " << c.blob_model_keep_s
    << "\n\n[roles]\n# A provider trains the tasks the market assigns to its account.\nprovider = "
    << (c.role_provider ? "true" : "false")
    << "\n# A validator replays what it is drawn for and records rounds (signs with the node key).\n"
    << "validator = " << (c.role_validator ? "true" : "false")
    << "\n# Other nodes' RPC URLs to fetch datasets and round starts from.\nsources = [";
  for (size_t i = 0; i < c.role_sources.size(); ++i) {
    o << (i ? ", " : "") << Quote(c.role_sources[i]);
  }
  o << "]\n# What the roles train and replay on: \"cpu\", or \"cuda\" for GPU 0 (exact-tier jobs\n"
       "# on its exact kernels, native-tier jobs of its class on cuBLAS; docs/roles.md).\n"
       "device = "
    << Quote(c.role_device) << "\n\n[provider]\n# The account's key: a keystore (`agora keys new`) with its password "
       "file,\n"
    << "# or a node key file. Relative paths start at the home.\nkey_file = "
    << Quote(c.provider_key_file) << "\npassword_file = " << Quote(c.provider_password_file)
    << "\n# Kernel threads for training; 0 uses every CPU this process may run on.\nthreads = "
    << c.provider_threads << "\n";
  return o.str();
}

Result<Genesis> ParseGenesis(std::string_view text) {
  boost::system::error_code ec;
  json::value root = json::parse(text, ec);
  if (ec) return Status::InvalidArgument("genesis: not valid JSON: " + ec.message());
  if (!root.is_object()) return Status::InvalidArgument("genesis: must be a JSON object");
  const json::object& o = root.as_object();
  AGORA_RETURN_IF_ERROR(
      OnlyKeys(o,
               {"chain_id", "genesis_time_unix_ms", "min_fee_uagr", "validators", "accounts",
                "params"},
               "genesis"));
  Genesis g;
  AGORA_ASSIGN_OR_RETURN(g.chain_id, JsonString(o, "chain_id", "genesis"));
  AGORA_RETURN_IF_ERROR(ValidateChainId(g.chain_id));
  AGORA_ASSIGN_OR_RETURN(g.genesis_time_unix_ms, JsonU64(o, "genesis_time_unix_ms", "genesis"));
  AGORA_ASSIGN_OR_RETURN(g.min_fee_uagr, JsonU64(o, "min_fee_uagr", "genesis"));
  const json::value* validators = o.if_contains("validators");
  if (validators == nullptr || !validators->is_array() || validators->as_array().empty()) {
    return Status::InvalidArgument("genesis: \"validators\" must be a non-empty array");
  }
  std::set<PublicKey> keys;
  for (const json::value& v : validators->as_array()) {
    if (!v.is_object()) return Status::InvalidArgument("genesis: a validator must be an object");
    const json::object& vo = v.as_object();
    AGORA_RETURN_IF_ERROR(
        OnlyKeys(vo, {"name", "public_key", "power", "operator"}, "a validator"));
    GenesisValidator gv;
    AGORA_ASSIGN_OR_RETURN(gv.name, JsonString(vo, "name", "a validator"));
    AGORA_ASSIGN_OR_RETURN(std::string hex, JsonString(vo, "public_key", "a validator"));
    auto key = PublicKey::FromHex(hex);
    if (!key.ok())
      return Status::InvalidArgument("genesis: validator " + gv.name + ": bad public_key");
    gv.key = *key;
    AGORA_ASSIGN_OR_RETURN(gv.power, JsonU64(vo, "power", "a validator"));
    if (gv.power == 0 || gv.power > kGenesisPowerMax) {
      return Status::InvalidArgument("genesis: validator " + gv.name + ": power must be 1..2^40");
    }
    if (vo.if_contains("operator")) {
      AGORA_ASSIGN_OR_RETURN(std::string op, JsonString(vo, "operator", "a validator"));
      auto address = Address::Parse(op);
      if (!address.ok()) {
        return Status::InvalidArgument("genesis: validator " + gv.name +
                                       ": operator: " + address.status().message());
      }
      gv.operator_address = *address;
    }
    if (!keys.insert(gv.key).second) {
      return Status::InvalidArgument("genesis: validator key listed twice: " + hex);
    }
    g.validators.push_back(gv);
  }
  if (const json::value* accounts = o.if_contains("accounts")) {
    if (!accounts->is_array())
      return Status::InvalidArgument("genesis: \"accounts\" must be an array");
    std::set<Address> seen;
    for (const json::value& v : accounts->as_array()) {
      if (!v.is_object()) return Status::InvalidArgument("genesis: an account must be an object");
      const json::object& ao = v.as_object();
      AGORA_RETURN_IF_ERROR(OnlyKeys(ao, {"address", "balance_uagr"}, "an account"));
      AGORA_ASSIGN_OR_RETURN(std::string text_address, JsonString(ao, "address", "an account"));
      auto address = Address::Parse(text_address);
      if (!address.ok()) {
        return Status::InvalidArgument("genesis: account " + text_address + ": " +
                                       address.status().message());
      }
      AGORA_ASSIGN_OR_RETURN(uint64_t balance, JsonU64(ao, "balance_uagr", "an account"));
      if (balance > consensus::kAmountUagrMax) {
        return Status::InvalidArgument("genesis: account " + text_address +
                                       ": balance above 2^62 uagr");
      }
      if (!seen.insert(*address).second) {
        return Status::InvalidArgument("genesis: account listed twice: " + text_address);
      }
      g.accounts.push_back({*address, balance});
    }
  }
  if (const json::value* params = o.if_contains("params")) {
    if (!params->is_object()) {
      return Status::InvalidArgument("genesis: \"params\" must be an object of name: integer");
    }
    for (const auto& kv : params->as_object()) {
      AGORA_ASSIGN_OR_RETURN(uint64_t value, JsonU64(params->as_object(), kv.key(), "params"));
      const std::string name(kv.key());
      if (Status s = consensus::ValidateParam(name, value); !s.ok()) {
        return Status::InvalidArgument("genesis: " + s.message());
      }
      g.params[name] = value;
    }
  }
  g.hash = Blake2b256(AsBytes(text));
  return g;
}

Result<Genesis> LoadGenesis(const std::filesystem::path& path) {
  AGORA_ASSIGN_OR_RETURN(std::string text, ReadFile(path, kGenesisBytesMax));
  auto g = ParseGenesis(text);
  if (!g.ok()) return Status(g.status().code(), path.string() + ": " + g.status().message());
  return g;
}

std::string RenderGenesis(const Genesis& g) {
  json::object o;
  o["chain_id"] = g.chain_id;
  o["genesis_time_unix_ms"] = g.genesis_time_unix_ms;
  o["min_fee_uagr"] = g.min_fee_uagr;
  json::array validators;
  for (const auto& v : g.validators) {
    validators.push_back(
        v.operator_address
            ? json::object{{"name", v.name},
                           {"public_key", v.key.ToHex()},
                           {"power", v.power},
                           {"operator", v.operator_address->ToString()}}
            : json::object{{"name", v.name}, {"public_key", v.key.ToHex()}, {"power", v.power}});
  }
  o["validators"] = std::move(validators);
  json::array accounts;
  for (const auto& a : g.accounts) {
    accounts.push_back(
        json::object{{"address", a.address.ToString()}, {"balance_uagr", a.balance_uagr}});
  }
  o["accounts"] = std::move(accounts);
  if (!g.params.empty()) {
    json::object params;
    for (const auto& [name, value] : g.params) params[name] = value;
    o["params"] = std::move(params);
  }
  return json::serialize(o) + "\n";
}

Result<SecretKey> LoadNodeKey(const std::filesystem::path& path) {
  AGORA_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 4096));
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object() || !v.as_object().if_contains("seed_hex") ||
      !v.as_object().at("seed_hex").is_string()) {
    return Status::Corruption(path.string() + ": expected {\"seed_hex\": \"...\"}");
  }
  auto seed = HexDecode(std::string(v.as_object().at("seed_hex").as_string()));
  if (!seed.ok() || seed->size() != SecretKey::kSeedSize) {
    return Status::Corruption(path.string() + ": seed_hex must be 64 hex digits");
  }
  return SecretKey::FromSeed(*seed);
}

Status WriteNodeKey(const std::filesystem::path& path, const SecretKey& key) {
  const auto seed = key.seed();
  json::object o{{"seed_hex", HexEncode(seed)}, {"public_key", key.public_key().ToHex()}};
  std::string text = json::serialize(o) + "\n";
  return WriteFileAtomic(path, AsBytes(text), 0600, Overwrite::kRefuse);
}

}  // namespace agora::node
