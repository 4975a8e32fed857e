#include "node/cli/ledger_commands.h"

#include <algorithm>
#include <boost/json.hpp>
#include <iostream>

#include "common/encoding.h"
#include "common/proto_codec.h"
#include "common/state_tree.h"
#include "consensus/chain/block.h"
#include "consensus/ledger/bank.h"
#include "consensus/ledger/state_buffer.h"
#include "node/cli/cli_util.h"
#include "node/config.h"
#include "node/rpc/client.h"

namespace agora::node {
namespace {

namespace json = boost::json;

std::string Agr(uint64_t uagr) {
  std::string frac = std::to_string(uagr % 1'000'000);
  frac.insert(0, 6 - frac.size(), '0');
  return std::to_string(uagr / 1'000'000) + "." + frac + " AGR";
}

Status QueryAccount(const GlobalOptions& g, const std::string& who) {
  AGORA_ASSIGN_OR_RETURN(Address address, ResolveAddress(g, who));
  AGORA_ASSIGN_OR_RETURN(
      json::value v,
      rpc::RpcClient(NodeUrl(g)).Call("account", json::object{{"address", address.ToString()}}));
  Print(g, v, Pretty(v));
  return Status::Ok();
}

Result<Bytes> HexField(const json::value& v, std::string_view key) {
  const json::value* field = v.as_object().if_contains(key);
  if (field == nullptr || !field->is_string()) {
    return Status::Corruption("the node's answer has no \"" + std::string(key) + "\"");
  }
  return HexDecode(field->as_string());
}

// Checks a balance without trusting the node: the value's proof against the
// app hash of a header, and the header against the commit signatures of
// more than 2/3 of the power of the validator set that the header names.
Status ProveAccount(const GlobalOptions& g, const std::string& who,
                    const std::string& trusted_validators_hash) {
  AGORA_ASSIGN_OR_RETURN(Address address, ResolveAddress(g, who));
  rpc::RpcClient client(NodeUrl(g));
  AGORA_ASSIGN_OR_RETURN(json::value status, client.Call("status"));
  const std::string chain_id(status.at("chain_id").as_string());
  AGORA_ASSIGN_OR_RETURN(json::value answer, client.Call("state_proof",
                                                         json::object{{"address", address.ToString()}}));
  AGORA_ASSIGN_OR_RETURN(Bytes header_bytes, HexField(answer, "header"));
  AGORA_ASSIGN_OR_RETURN(Bytes commit_bytes, HexField(answer, "commit"));
  AGORA_ASSIGN_OR_RETURN(Bytes proof_bytes, HexField(answer, "proof"));
  proto::BlockHeader header;
  proto::Commit commit;
  AGORA_RETURN_IF_ERROR(DecodeStrict(header_bytes, 1 << 16, header));
  AGORA_RETURN_IF_ERROR(DecodeStrict(commit_bytes, 1 << 20, commit));
  AGORA_ASSIGN_OR_RETURN(StateProof proof, StateProof::Decode(proof_bytes));
  std::optional<Bytes> value;
  if (answer.as_object().if_contains("value")) {
    AGORA_ASSIGN_OR_RETURN(Bytes v, HexField(answer, "value"));
    value = std::move(v);
  }
  const uint64_t height = header.height();

  // The validator set of that height, checked against the header.
  AGORA_ASSIGN_OR_RETURN(json::value vs,
                         client.Call("validators", json::object{{"height", height}}));
  std::vector<consensus::Validator> list;
  for (const json::value& v : vs.at("validators").as_array()) {
    AGORA_ASSIGN_OR_RETURN(PublicKey key, PublicKey::FromHex(v.at("public_key").as_string()));
    list.push_back({key, v.at("power").to_number<uint64_t>(), 0});
  }
  AGORA_ASSIGN_OR_RETURN(consensus::ValidatorSet set, consensus::ValidatorSet::Make(list));
  const Hash256 set_hash = consensus::ValidatorsHash(set);
  if (header.validators_hash() != std::string(set_hash.bytes.begin(), set_hash.bytes.end())) {
    return Status::Unauthenticated("the node's validator set does not match the header's hash");
  }
  if (!trusted_validators_hash.empty() && set_hash.ToHex() != trusted_validators_hash) {
    return Status::Unauthenticated("the header's validator set " + set_hash.ToHex() +
                                   " is not the one you trust");
  }
  const Hash256 block_hash = consensus::HeaderHash(header);
  AGORA_RETURN_IF_ERROR(consensus::VerifyCommit(commit, set, chain_id, height, block_hash));
  uint64_t signed_power = 0;
  for (const proto::CommitSig& s : commit.signatures()) signed_power += set.at(s.validator()).power;

  // The value against the header's app hash, under the key computed here.
  const std::string key = consensus::bank::AccountKey(address);
  auto root = Hash256::Parse(AsBytes(header.app_hash()));
  if (!root.ok()) return Status::Corruption("the header has no app hash");
  AGORA_RETURN_IF_ERROR(VerifyStateProof(*root, AsBytes(key), value, proof));
  uint64_t balance = 0, nonce = 0;
  if (value) {
    if (value->size() != 16) return Status::Corruption("an account record is 16 bytes");
    balance = consensus::ReadU64(*value, 0);
    nonce = consensus::ReadU64(*value, 8);
  }
  json::object out{{"address", address.ToString()},
                   {"balance_uagr", balance},
                   {"nonce", nonce},
                   {"exists", value.has_value()},
                   {"verified", true},
                   {"state_after_height", height - 1},
                   {"header_height", height},
                   {"block_hash", block_hash.ToHex()},
                   {"app_hash", root->ToHex()},
                   {"signed_power", signed_power},
                   {"total_power", set.total_power()},
                   {"validators_hash", set_hash.ToHex()},
                   {"validators_trusted", !trusted_validators_hash.empty()},
                   {"trust", trusted_validators_hash.empty() ? "validator set from the node"
                                                             : "trusted validator set"}};
  std::string human = Pretty(out) + "verified: " + (value ? Agr(balance) : "no such account") +
                      " after block " + std::to_string(height - 1) +
                      ", proven against the app hash of block " + std::to_string(height) +
                      ", signed by " + std::to_string(signed_power) + " of " +
                      std::to_string(set.total_power()) + " power (more than 2/3)\n";
  if (trusted_validators_hash.empty()) {
    human += "note: the validator set came from the node; pass --trusted-validators-hash to "
             "check it against one you know\n";
  }
  Print(g, out, human);
  return Status::Ok();
}

Status QueryValidators(const GlobalOptions& g) {
  AGORA_ASSIGN_OR_RETURN(json::value v, rpc::RpcClient(NodeUrl(g)).Call("validators"));
  std::string human = "validators of height " + json::serialize(v.at("height")) + " (total power " +
                      json::serialize(v.at("total_power")) + ")\n";
  for (const json::value& e : v.at("validators").as_array()) {
    const json::object& o = e.as_object();
    auto str = [&o](std::string_view k) {
      const json::value* x = o.if_contains(k);
      return x == nullptr ? std::string("-")
                          : x->is_string() ? std::string(x->as_string()) : json::serialize(*x);
    };
    human += "  " + str("index") + "  " + str("moniker") + "  power " + str("power") + "  stake " +
             str("stake_uagr") + " uagr  jailed " + str("jailed") + "  missed " +
             str("missed_blocks") + "/" + str("observed_blocks") + "  " + str("operator") + "\n";
    auto profile = [](const json::value& p) {
      std::string classes;
      for (const json::value& c : p.at("hardware_classes").as_array()) {
        classes += (classes.empty() ? "" : ",") + std::string(c.as_string());
      }
      const uint64_t params_max = json::value_to<uint64_t>(p.at("params_max"));
      return "replays " + classes + ", models up to " +
             (params_max == 0 ? std::string("any size")
                              : std::to_string(params_max) + " parameters");
    };
    if (const json::value* p = o.if_contains("replay_profile"); p != nullptr && p->is_object()) {
      human += "     " + profile(*p) + "\n";
    }
    if (const json::value* p = o.if_contains("replay_profile_next"); p != nullptr && p->is_object()) {
      human += "     from height " + json::serialize(p->at("effective_height")) + ": " +
               profile(*p) + "\n";
    }
  }
  human += "candidates (every validator record): " +
           std::to_string(v.at("candidates").as_array().size()) + "; `--json` shows them\n";
  Print(g, v, human);
  return Status::Ok();
}

Status QueryParams(const GlobalOptions& g) {
  AGORA_ASSIGN_OR_RETURN(json::value v, rpc::RpcClient(NodeUrl(g)).Call("params"));
  std::string human;
  for (const json::value& p : v.at("params").as_array()) {
    std::string name(p.at("name").as_string());
    name.resize(std::max<size_t>(name.size() + 1, 36), ' ');
    human += name + json::serialize(p.at("value")) + "  [" + json::serialize(p.at("min")) + ", " +
             json::serialize(p.at("max")) + "]  " + std::string(p.at("what").as_string()) + "\n";
  }
  Print(g, v, human);
  return Status::Ok();
}

Status QueryBeacon(const GlobalOptions& g) {
  AGORA_ASSIGN_OR_RETURN(json::value v, rpc::RpcClient(NodeUrl(g)).Call("beacon"));
  Print(g, v, Pretty(v));
  return Status::Ok();
}

}  // namespace

void AddLedgerCommands(CLI::App& app, GlobalOptions& global, std::function<Status()>& action) {
  static TxOptions tx_options;
  static uint64_t amount = 0;
  static std::string consensus_key, moniker, who, trusted_hash, node_key_file, possession,
      operator_address, chain_id_option;
  static bool prove = false;

  CLI::App* query = app.get_subcommand("query");
  auto* account = query->add_subcommand("account", "Balance, nonce and stake of an account");
  account->add_option("who", who, "Address or key name")->required();
  account->add_flag("--prove", prove,
                    "Check the balance against a signed header with a state proof, "
                    "trusting no node");
  account->add_option("--trusted-validators-hash", trusted_hash,
                      "With --prove: the validator-set hash you trust (hex)");
  account->callback([&] {
    action = [&] { return prove ? ProveAccount(global, who, trusted_hash) : QueryAccount(global, who); };
  });
  query->add_subcommand("validators", "The validator set: power, stake, jailed, missed blocks")
      ->callback([&] { action = [&] { return QueryValidators(global); }; });
  query->add_subcommand("params", "Every ledger parameter with its bounds")
      ->callback([&] { action = [&] { return QueryParams(global); }; });
  query->add_subcommand("beacon", "The randomness beacon and the last VRF output")
      ->callback([&] { action = [&] { return QueryBeacon(global); }; });

  CLI::App* tx = app.get_subcommand("tx");
  auto* stake = tx->add_subcommand("stake", "Bond uagr of your balance as stake");
  stake->add_option("amount", amount, "Amount in uagr (1 AGR = 10^6 uagr)")->required();
  AddSignerOptions(stake, tx_options);
  stake->callback([&] {
    action = [&] { return SendTx(global, tx_options, consensus::MsgStake{amount}); };
  });
  auto* unstake = tx->add_subcommand("unstake", "Start unbonding stake (slashable until it returns)");
  unstake->add_option("amount", amount, "Amount in uagr")->required();
  AddSignerOptions(unstake, tx_options);
  unstake->callback([&] {
    action = [&] { return SendTx(global, tx_options, consensus::MsgUnstake{amount}); };
  });
  auto* create = tx->add_subcommand(
      "create-validator",
      "Become a validator candidate (needs validator_stake_min); the node's key proves it is "
      "yours by signing your operator address");
  create->add_option("--node-key-file", node_key_file,
                     "The validator node's key, <node home>/config/node_key.json: it signs the "
                     "proof of possession here and never leaves this machine");
  create->add_option("--consensus-key", consensus_key,
                     "The node's public key (hex), shown by `agora status`; with --possession, "
                     "when the node key is on another machine");
  create->add_option("--possession", possession,
                     "Hex signature made by `agora keys prove-possession` on the node's machine");
  create->add_option("--moniker", moniker, "A name for people")->required();
  AddSignerOptions(create, tx_options);
  create->callback([&] {
    action = [&]() -> Status {
      return SendTx(global, tx_options,
                    [&](const SecretKey& signer,
                        const std::string& chain_id) -> Result<consensus::Msg> {
                      const Address op = Address::FromPublicKey(signer.public_key());
                      if (!node_key_file.empty()) {
                        AGORA_ASSIGN_OR_RETURN(SecretKey node_key, LoadNodeKey(node_key_file));
                        if (!consensus_key.empty() &&
                            consensus_key != node_key.public_key().ToHex()) {
                          return Status::InvalidArgument(
                              "--consensus-key differs from the key in " + node_key_file);
                        }
                        return consensus::Msg(consensus::MsgCreateValidator{
                            node_key.public_key(), moniker,
                            consensus::ProvePossession(node_key, chain_id, op)});
                      }
                      if (consensus_key.empty() || possession.empty()) {
                        return Status::InvalidArgument(
                            "pass --node-key-file <node home>/config/node_key.json, or "
                            "--consensus-key with --possession from `agora keys "
                            "prove-possession` run where the node key is");
                      }
                      AGORA_ASSIGN_OR_RETURN(PublicKey key, PublicKey::FromHex(consensus_key));
                      AGORA_ASSIGN_OR_RETURN(Bytes sig, HexDecode(possession));
                      Result<Signature> parsed = Signature::Parse(sig);
                      if (!parsed.ok()) {
                        return Status::InvalidArgument("--possession must be 64 bytes in hex");
                      }
                      if (!consensus::VerifyPossession(key, chain_id, op, *parsed)) {
                        return Status::InvalidArgument(
                            "--possession does not verify: it must be signed by consensus key " +
                            consensus_key + " for operator " + op.ToString() + " on chain " +
                            chain_id);
                      }
                      return consensus::Msg(consensus::MsgCreateValidator{key, moniker, *parsed});
                    });
    };
  });
  CLI::App* keys = app.get_subcommand("keys");
  auto* prove_key = keys->add_subcommand(
      "prove-possession",
      "Sign an operator's address with a validator node's key, for `agora tx create-validator "
      "--consensus-key --possession` sent from another machine");
  prove_key->add_option("--node-key-file", node_key_file, "<node home>/config/node_key.json")
      ->required();
  prove_key->add_option("--operator", operator_address, "The operator's address (agora1...)")
      ->required();
  prove_key->add_option("--chain-id", chain_id_option, "The chain's id (`agora status`)")
      ->required();
  prove_key->callback([&] {
    action = [&]() -> Status {
      AGORA_RETURN_IF_ERROR(ValidateChainId(chain_id_option));
      AGORA_ASSIGN_OR_RETURN(Address op, Address::Parse(operator_address));
      AGORA_ASSIGN_OR_RETURN(SecretKey node_key, LoadNodeKey(node_key_file));
      const Signature sig = consensus::ProvePossession(node_key, chain_id_option, op);
      json::value v = json::object{{"consensus_key", node_key.public_key().ToHex()},
                                   {"operator", op.ToString()},
                                   {"chain_id", chain_id_option},
                                   {"possession", sig.ToHex()}};
      Print(global, v,
            "consensus key " + node_key.public_key().ToHex() + "\npossession    " + sig.ToHex() +
                "\nthen: agora tx create-validator --consensus-key " +
                node_key.public_key().ToHex() + " --possession " + sig.ToHex() +
                " --moniker NAME --from <the operator's key>\n");
      return Status::Ok();
    };
  });
  auto* unjail = tx->add_subcommand("unjail", "Leave jail once the jail time is over");
  AddSignerOptions(unjail, tx_options);
  unjail->callback([&] {
    action = [&] { return SendTx(global, tx_options, consensus::MsgUnjail{}); };
  });

  static std::vector<std::string> replay_classes;
  static uint64_t replay_params_max = 0;
  auto* profile = tx->add_subcommand(
      "replay-profile",
      "Say what this validator can replay: it is then drawn only for jobs that fit "
      "(docs/verify.md, \"Replay profiles\")");
  profile->add_option("--classes", replay_classes,
                      "Hardware classes of the native-tier jobs it replays, comma-separated: "
                      "cpu, gpu-sm80, gpu-sm90, gpu-sm100 (exact-tier jobs run on any)")
      ->delimiter(',')
      ->required();
  profile->add_option("--params-max", replay_params_max,
                      "Largest model it replays, in parameters (0: any size)")
      ->capture_default_str();
  AddSignerOptions(profile, tx_options);
  profile->callback([&] {
    action = [&]() -> Status {
      consensus::MsgSetReplayProfile m;
      for (const std::string& name : replay_classes) {
        AGORA_ASSIGN_OR_RETURN(market::HardwareClass c, market::ParseHardwareClass(name));
        if (std::find(m.classes.begin(), m.classes.end(), c) != m.classes.end()) {
          return Status::InvalidArgument("--classes names " + name + " twice");
        }
        m.classes.push_back(c);
      }
      std::sort(m.classes.begin(), m.classes.end());
      if (replay_params_max > consensus::kReplayParamsMax) {
        return Status::InvalidArgument("--params-max is above " +
                                       std::to_string(consensus::kReplayParamsMax) +
                                       " (0 means any size)");
      }
      m.params_max = replay_params_max;
      return SendTx(global, tx_options, m);
    };
  });
}

}  // namespace agora::node
