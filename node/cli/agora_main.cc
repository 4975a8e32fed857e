// agora: the command line that clients, providers, validators and voters use.
//
// Exit status: 0 on success, 1 when the command failed (the reason is printed
// to stderr), 2 on a usage error.
#include <CLI/CLI.hpp>

#include <boost/json.hpp>
#include <cstdio>
#include <functional>
#include <iostream>
#include <string>

#include "common/status.h"
#include "node/build_info.h"
#include "node/cli/blob_commands.h"
#include "node/cli/chain_commands.h"
#include "node/cli/cli_util.h"
#include "node/cli/gov_commands.h"
#include "node/cli/ledger_commands.h"
#include "node/cli/dispute_commands.h"
#include "node/cli/market_commands.h"
#include "node/cli/global_options.h"
#include "node/cli/password.h"
#include "node/cli/train_commands.h"
#include "node/home.h"
#include "node/keyring.h"

namespace agora::node {
namespace {

namespace json = boost::json;

Result<Keyring> OpenKeyring(const GlobalOptions& global) {
  if (!global.home.empty()) return Keyring(global.home);
  AGORA_ASSIGN_OR_RETURN(auto home, DefaultHome());
  return Keyring(home);
}

json::object KeyJson(const KeystoreInfo& info) {
  return {{"name", info.name},
          {"address", info.address.ToString()},
          {"public_key", info.public_key.ToHex()}};
}

void PrintKey(const KeystoreInfo& info) {
  std::printf("name:       %s\naddress:    %s\npublic key: %s\n", info.name.c_str(),
              info.address.ToString().c_str(), info.public_key.ToHex().c_str());
}

Status KeysNew(const GlobalOptions& global, const std::string& name,
               const std::string& password_file) {
  AGORA_ASSIGN_OR_RETURN(Keyring keyring, OpenKeyring(global));
  AGORA_ASSIGN_OR_RETURN(std::string password, ReadPassword(password_file, /*confirm=*/true));
  AGORA_ASSIGN_OR_RETURN(KeystoreInfo info, keyring.Create(name, password));
  if (global.json) {
    json::object o = KeyJson(info);
    o["file"] = (keyring.dir() / (name + ".json")).string();
    std::cout << json::serialize(o) << "\n";
    return Status::Ok();
  }
  PrintKey(info);
  std::printf("file:       %s\n\nBack up this file and keep its password: without both the key "
              "cannot be recovered.\n",
              (keyring.dir() / (name + ".json")).c_str());
  return Status::Ok();
}

Status KeysList(const GlobalOptions& global) {
  AGORA_ASSIGN_OR_RETURN(Keyring keyring, OpenKeyring(global));
  AGORA_ASSIGN_OR_RETURN(auto keys, keyring.List());
  if (global.json) {
    json::array a;
    for (const auto& info : keys) a.push_back(KeyJson(info));
    std::cout << json::serialize(a) << "\n";
    return Status::Ok();
  }
  if (keys.empty()) {
    std::printf("no keys in %s; make one with `agora keys new NAME`\n", keyring.dir().c_str());
    return Status::Ok();
  }
  std::printf("%-20s %s\n", "NAME", "ADDRESS");
  for (const auto& info : keys) {
    std::printf("%-20s %s\n", info.name.c_str(), info.address.ToString().c_str());
  }
  return Status::Ok();
}

Status KeysShow(const GlobalOptions& global, const std::string& name) {
  AGORA_ASSIGN_OR_RETURN(Keyring keyring, OpenKeyring(global));
  AGORA_ASSIGN_OR_RETURN(KeystoreInfo info, keyring.Show(name));
  if (global.json) {
    std::cout << json::serialize(KeyJson(info)) << "\n";
  } else {
    PrintKey(info);
  }
  return Status::Ok();
}

Status KeysCheck(const GlobalOptions& global, const std::string& name,
                 const std::string& password_file) {
  AGORA_ASSIGN_OR_RETURN(Keyring keyring, OpenKeyring(global));
  AGORA_RETURN_IF_ERROR(keyring.Show(name).status());
  AGORA_ASSIGN_OR_RETURN(std::string password, ReadPassword(password_file, /*confirm=*/false));
  AGORA_ASSIGN_OR_RETURN(SecretKey key, keyring.Unlock(name, password));
  std::string address = Address::FromPublicKey(key.public_key()).ToString();
  if (global.json) {
    std::cout << json::serialize(json::object{{"name", name}, {"address", address},
                                              {"unlocked", true}})
              << "\n";
  } else {
    std::printf("key '%s' (%s) unlocks with this password\n", name.c_str(), address.c_str());
  }
  return Status::Ok();
}

int Run(int argc, char** argv) {
  CLI::App app{"agora: the command line for an Agora node"};
  app.footer("\n" + BuildInfo("agora", /*probe_gpus=*/false));
  app.require_subcommand(1);
  app.fallthrough();
  GlobalOptions global;
  app.add_option("--home", global.home, "Node home directory (default: $AGORA_HOME or ~/.agora)");
  app.add_flag("--json", global.json, "Print machine-readable JSON");
  app.add_option("--node", global.node_url,
                 "A node's RPC URL (default: $AGORA_NODE or http://127.0.0.1:26657)");

  std::function<Status()> action;
  AddTrainCommands(app, action, global.json);
  auto* version = app.add_subcommand("version", "Print the version and the build's CUDA state");
  version->callback([&] {
    action = [] {
      std::printf("%s", BuildInfo("agora", /*probe_gpus=*/true).c_str());
      return Status::Ok();
    };
  });

  auto* keys = app.add_subcommand("keys", "Make and inspect signing keys");
  keys->require_subcommand(1);
  std::string name, password_file;
  const char* kPasswordFileHelp = "Read the password from FILE instead of the terminal";

  auto* keys_new = keys->add_subcommand("new", "Make a new key, saved encrypted under the home");
  keys_new->add_option("name", name, "Name of the key")->required();
  keys_new->add_option("--password-file", password_file, kPasswordFileHelp);
  keys_new->callback([&] { action = [&] { return KeysNew(global, name, password_file); }; });

  auto* keys_list = keys->add_subcommand("list", "List the keys of the home");
  keys_list->callback([&] { action = [&] { return KeysList(global); }; });

  auto* keys_show = keys->add_subcommand("show", "Show a key's address and public key");
  keys_show->add_option("name", name, "Name of the key")->required();
  keys_show->callback([&] { action = [&] { return KeysShow(global, name); }; });

  auto* keys_check = keys->add_subcommand("check", "Check that a password unlocks a key");
  keys_check->add_option("name", name, "Name of the key")->required();
  keys_check->add_option("--password-file", password_file, kPasswordFileHelp);
  keys_check->callback([&] { action = [&] { return KeysCheck(global, name, password_file); }; });

  AddChainCommands(app, global, action);
  AddLedgerCommands(app, global, action);
  AddGovCommands(app, global, action);
  AddMarketCommands(app, global, action);
  AddDisputeCommands(app, global, action);
  AddBlobCommands(app, global, action);
  RequireDecimalIntegers(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  // A node that answers with something unexpected must not abort the CLI.
  Status status;
  try {
    status = action();
  } catch (const std::exception& e) {
    status = Status::Internal(std::string("unexpected answer: ") + e.what());
  }
  if (!status.ok()) {
    std::fprintf(stderr, "error: %s\n", status.message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace agora::node

int main(int argc, char** argv) { return agora::node::Run(argc, argv); }
