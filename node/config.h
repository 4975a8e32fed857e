// A node's home directory: config.toml, genesis.json and the node key.
//
//   <home>/config/config.toml    settings (toml++), written by `agora init`
//   <home>/config/genesis.json   the chain's first state; its BLAKE2b-256 is
//                                the genesis hash peers compare on connect
//   <home>/config/node_key.json  the node's ed25519 seed (mode 0600): its P2P
//                                identity and, if listed in genesis, its
//                                validator key
//   <home>/data/                 LevelDB: blocks, state, signing record
//   <home>/keys/                 the CLI's encrypted account keys
//   <home>/blobs/                content-addressed blobs (BlobStore)
//
// Thread safety: free functions, thread-safe.
#ifndef AGORA_NODE_CONFIG_H_
#define AGORA_NODE_CONFIG_H_

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/address.h"
#include "common/hash.h"
#include "common/keys.h"
#include "common/status.h"

namespace agora::node {

inline constexpr size_t kConfigBytesMax = 1 << 20;
inline constexpr size_t kGenesisBytesMax = 16 << 20;

struct NodeConfig {
  std::string moniker = "agora-node";
  std::string log_level = "info";
  std::string p2p_host = "127.0.0.1";
  uint16_t p2p_port = 26656;
  std::vector<std::string> persistent_peers;  // "<pubkey hex>@host:port"
  std::string rpc_host = "127.0.0.1";
  uint16_t rpc_port = 26657;
  // Consensus timeouts and the block byte limit are ledger parameters
  // (genesis "params", then governance), the same on every node.
  uint64_t block_interval_ms = 200;  // a proposer waits this long after the last commit
  uint64_t block_txs_max = 2000;
  uint64_t mempool_txs_max = 20'000;
  uint64_t mempool_bytes_max = 64u << 20;

  // [blobs]: the blob store (node/storage/blob_store.h, docs/blobs.md).
  uint64_t blob_bytes_max = uint64_t{4} << 30;
  uint64_t blob_quota_bytes = uint64_t{64} << 30;
  bool blob_uploads = true;             // POST /blob; RPC is on 127.0.0.1 unless told otherwise
  uint64_t blob_gc_grace_s = 86'400;    // a blob nothing needs stays this long
  uint64_t blob_gc_interval_s = 600;    // 0: no automatic gc
  uint64_t blob_model_keep_s = 30 * 86'400;  // a finished job's model note; 0: forever

  // [roles] and [provider] (docs/roles.md).
  bool role_provider = false;
  bool role_validator = false;  // the node key signs verdicts and round results
  std::vector<std::string> role_sources;  // other nodes' RPC URLs, for blobs
  // What the roles train and replay on: "cpu" or "cuda" (GPU 0; the exact
  // tier's CUDA kernels, and the native tier for jobs of the GPU's class).
  std::string role_device = "cpu";
  // The provider account's key: a keystore file (`agora keys new`, then
  // password_file) or a node key file. Relative paths are from the home.
  std::string provider_key_file;
  std::string provider_password_file;
  uint64_t provider_threads = 0;  // kernel threads; 0: all cores
};

// A validator of height 1. Its stake is power * 10^6 uagr (power is whole
// AGR), bonded by `operator_address` (default: the address of `key`), which
// counts into the supply.
struct GenesisValidator {
  std::string name;
  PublicKey key;
  uint64_t power = 0;
  std::optional<Address> operator_address;
};
inline constexpr uint64_t kGenesisPowerMax = uint64_t{1} << 40;

struct GenesisAccountEntry {
  Address address;
  uint64_t balance_uagr = 0;
};

struct Genesis {
  std::string chain_id;
  uint64_t genesis_time_unix_ms = 0;
  uint64_t min_fee_uagr = 0;
  std::vector<GenesisValidator> validators;
  std::vector<GenesisAccountEntry> accounts;
  // Ledger parameters by name ("staking.epoch_blocks"); the rest keep their
  // defaults (consensus/ledger/params.h). min_fee_uagr above sets
  // bank.min_fee_uagr.
  std::map<std::string, uint64_t> params;
  Hash256 hash;  // of the file's bytes
};

std::filesystem::path ConfigPath(const std::filesystem::path& home);
std::filesystem::path GenesisPath(const std::filesystem::path& home);
std::filesystem::path NodeKeyPath(const std::filesystem::path& home);
std::filesystem::path DataPath(const std::filesystem::path& home);
std::filesystem::path BlobsPath(const std::filesystem::path& home);

Result<NodeConfig> LoadConfig(const std::filesystem::path& path);
// config.toml's text; `name` (the file's path) starts every error.
Result<NodeConfig> ParseConfig(std::string_view text, const std::string& name);
// Text that ParseConfig reads back to the same settings.
std::string RenderConfig(const NodeConfig& config);

// Parses and checks genesis.json: chain id, at least one validator, powers
// and balances within bounds, no duplicates. Errors name the field.
Result<Genesis> ParseGenesis(std::string_view json);
Result<Genesis> LoadGenesis(const std::filesystem::path& path);
std::string RenderGenesis(const Genesis& genesis);

Result<SecretKey> LoadNodeKey(const std::filesystem::path& path);
// Refuses to overwrite an existing key.
Status WriteNodeKey(const std::filesystem::path& path, const SecretKey& key);

}  // namespace agora::node

#endif  // AGORA_NODE_CONFIG_H_
