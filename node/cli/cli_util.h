// What the `agora` subcommands share: where the node and the home are,
// printing for people or as JSON, naming accounts, and signing and sending
// a transaction.
#ifndef AGORA_NODE_CLI_CLI_UTIL_H_
#define AGORA_NODE_CLI_CLI_UTIL_H_

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "common/address.h"
#include "common/status.h"
#include "consensus/ledger/tx.h"
#include "node/cli/global_options.h"

namespace agora::node {

inline constexpr uint64_t kDefaultMinFeeUagr = 10;

std::string NodeUrl(const GlobalOptions& g);
Result<std::filesystem::path> Home(const GlobalOptions& g);
// Prints `v` as one JSON line under --json, else `human`.
void Print(const GlobalOptions& g, const boost::json::value& v, const std::string& human);
// Member `key` of a JSON object as text: a string as is, anything else
// serialized, "-" when absent.
std::string Str(const boost::json::value& v, std::string_view key);
// "key   value" lines for an object.
std::string Pretty(const boost::json::value& v);
// An address, or the name of a key in the home's keyring.
Result<Address> ResolveAddress(const GlobalOptions& g, const std::string& who);

// CLI11 reads integer options with strtoull(s, 0): "010" is octal, "0x10"
// hex, "-1" wraps around to 2^64 - 1, and overflow goes unnoticed, so a
// mistyped amount could send something else than what was typed. This adds
// to every integer option of `app` and its subcommands (call it once every
// command is added) a check that takes only decimal digits (and a leading
// '-' for signed ones) without a leading zero, refuses values out of
// 64-bit range, and says for an amount that it is a whole number of uagr.
void RequireDecimalIntegers(CLI::App& app);
// `text` as a whole number if it is one in decimal digits only (no sign,
// no spaces, no base prefix) and fits 64 bits.
std::optional<uint64_t> ParseDecimalU64(std::string_view text);

// A TCP port on 127.0.0.1 that is free now, drawn below the kernel's
// ephemeral range (net.ipv4.ip_local_port_range), so that the kernel never
// hands it to an outbound connection or to a bind of port 0 while its node is
// down for a restart (a devnet test once lost a restarted node's RPC port
// that way). Falls back to binding port 0 when that range leaves no room.
// Another process may still take it; the node then fails to start and says so.
Result<uint16_t> FreePort();

// Who signs and how a transaction is sent.
struct TxOptions {
  std::string from;           // key name in the home's keyring
  std::string key_file;       // or a node key file (<node home>/config/node_key.json)
  std::string password_file;  // for `from`; else the terminal is asked
  uint64_t fee = kDefaultMinFeeUagr;
  int64_t nonce = -1;         // -1: the account's next, pending ones counted
  bool wait = false;          // until committed; a failed result is an error
};

// --from, --key-file, --fee, --nonce, --wait, --password-file.
void AddSignerOptions(CLI::App* cmd, TxOptions& t);

// Signs `msg` with the chosen key for the node's chain and submits it.
Status SendTx(const GlobalOptions& g, const TxOptions& t, const consensus::Msg& msg);
// The same for a message that depends on the signer and the chain (e.g. a
// signature over the sender's address): `make` builds it once both are known.
using MsgMaker =
    std::function<Result<consensus::Msg>(const SecretKey& signer, const std::string& chain_id)>;
Status SendTx(const GlobalOptions& g, const TxOptions& t, const MsgMaker& make);
// SendTx without printing: the node's answer to tx_submit, or with t.wait
// the committed result. A committed but failed transaction is the error;
// its result goes to `failed` if given.
Result<boost::json::value> SubmitTx(const GlobalOptions& g, const TxOptions& t,
                                    const MsgMaker& make, boost::json::value* failed = nullptr);

}  // namespace agora::node

#endif  // AGORA_NODE_CLI_CLI_UTIL_H_
