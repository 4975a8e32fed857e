// The agora and agorad binaries, started as a user starts them.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/address.h"
#include "common/keys.h"
#include "kernels/device.h"
#include "node/config.h"
#include "tests/test_util.h"

namespace agora::node {
namespace {

using testing::CommandResult;
using testing::RunCommand;
using testing::TempDir;
using testing::WriteTextFile;

class CliTest : public ::testing::Test {
 protected:
  CommandResult Agora(std::vector<std::string> args) {
    args.insert(args.begin(), {AGORA_CLI_PATH, "--home", home_.path().string()});
    return RunCommand(args);
  }
  std::string PasswordFile(const std::string& password) {
    auto path = home_.path() / ("pw-" + std::to_string(files_++));
    WriteTextFile(path, password + "\n");
    return path.string();
  }

  TempDir home_;
  int files_ = 0;
};

TEST_F(CliTest, KeysNewListShowCheck) {
  CommandResult made = Agora({"--json", "keys", "new", "alice", "--password-file", PasswordFile("s3cret")});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto key = boost::json::parse(made.out).as_object();
  std::string address(key["address"].as_string());
  ASSERT_TRUE(Address::Parse(address).ok()) << address;

  CommandResult list = Agora({"keys", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("alice"), std::string::npos);
  EXPECT_NE(list.out.find(address), std::string::npos);

  CommandResult show = Agora({"keys", "show", "alice", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_EQ(boost::json::parse(show.out).at("address").as_string(), address);

  CommandResult check = Agora({"keys", "check", "alice", "--password-file", PasswordFile("s3cret")});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find(address), std::string::npos);
}

TEST_F(CliTest, ErrorsAreClearAndExitNonZero) {
  ASSERT_EQ(Agora({"keys", "new", "alice", "--password-file", PasswordFile("right")}).exit_code, 0);

  CommandResult wrong = Agora({"keys", "check", "alice", "--password-file", PasswordFile("wrong")});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("wrong password"), std::string::npos) << wrong.err;

  CommandResult dup = Agora({"keys", "new", "alice", "--password-file", PasswordFile("x")});
  EXPECT_EQ(dup.exit_code, 1);
  EXPECT_NE(dup.err.find("already exists"), std::string::npos) << dup.err;

  CommandResult missing = Agora({"keys", "show", "nobody"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no key named 'nobody'"), std::string::npos) << missing.err;

  // No terminal and no password file: it says how to give one.
  CommandResult no_password = Agora({"keys", "new", "bob"});
  EXPECT_EQ(no_password.exit_code, 1);
  EXPECT_NE(no_password.err.find("--password-file"), std::string::npos) << no_password.err;
  EXPECT_FALSE(std::filesystem::exists(home_.path() / "keys" / "bob.json"));

  CommandResult usage = Agora({"keys", "frobnicate"});
  EXPECT_EQ(usage.exit_code, 2);
}

// Found in review (2026-12-03): CLI11 read integer options with
// strtoull(s, 0), so `--amount 010` sent 8 uagr, `0x10` sent 16 and
// `-18446744073709551615` sent 1. Every integer option now takes decimal
// digits only, refused at parse time (exit 2) with what to type instead.
TEST_F(CliTest, AmountsAndOtherIntegersAreDecimalDigitsOnly) {
  const std::string to = Address::FromPublicKey(
      SecretKey::FromSeed(Bytes(32, 7)).value().public_key()).ToString();
  for (const std::string bad : {"-1", "010", "0x10", "1.5agr", "1e6", "18446744073709551616",
                                "-18446744073709551615", " 5", ""}) {
    CommandResult r = Agora({"tx", "transfer", "--to", to, "--amount", bad, "--from", "alice"});
    EXPECT_EQ(r.exit_code, 2) << "'" << bad << "': " << r.err;
    EXPECT_NE(r.err.find("--amount"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("uagr"), std::string::npos) << "'" << bad << "': " << r.err;
  }
  CommandResult fee = Agora({"tx", "transfer", "--to", to, "--amount", "5", "--fee", "-1"});
  EXPECT_EQ(fee.exit_code, 2) << fee.err;
  EXPECT_NE(fee.err.find("--fee"), std::string::npos) << fee.err;
  // Signed options keep their sign (--nonce -1 is "the account's next").
  CommandResult nonce = Agora({"tx", "transfer", "--to", to, "--amount", "5", "--nonce", "0x2"});
  EXPECT_EQ(nonce.exit_code, 2) << nonce.err;
  // Positional amounts, and heights, too.
  EXPECT_EQ(Agora({"tx", "stake", "-5"}).exit_code, 2);
  EXPECT_EQ(Agora({"query", "block", "12abc"}).exit_code, 1);
  // A genesis amount that is not a whole number in range writes nothing.
  for (const std::string bad : {"-1", "0x10", "4611686018427387905", "0"}) {
    CommandResult init = Agora({"init", "--fund", to + "=" + bad});
    EXPECT_EQ(init.exit_code, 1) << bad << ": " << init.err;
    EXPECT_NE(init.err.find("whole number of uagr"), std::string::npos) << init.err;
    EXPECT_FALSE(std::filesystem::exists(home_.path() / "config" / "genesis.json")) << bad;
  }
}

TEST_F(CliTest, BinariesReportTheirCudaState) {
  CommandResult version = RunCommand({AGORA_DAEMON_PATH, "--version"});
  ASSERT_EQ(version.exit_code, 0) << version.err;
  EXPECT_NE(version.out.find("CUDA: "), std::string::npos) << version.out;
  CommandResult help = RunCommand({AGORA_CLI_PATH, "--help"});
  ASSERT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("CUDA: "), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("keys"), std::string::npos);
  // Both name the same build state.
  auto line = [](const std::string& s) { return s.substr(s.find("CUDA: "), s.find('\n', s.find("CUDA: ")) - s.find("CUDA: ")); };
  EXPECT_EQ(line(version.out), line(help.out));
}

TEST_F(CliTest, AgoradWithoutAHomeSaysHowToMakeOne) {
  CommandResult run = RunCommand({AGORA_DAEMON_PATH, "--home", home_.path().string()});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("agora init --home"), std::string::npos) << run.err;
}

// A role's key is checked when the node opens: a wrong password, a missing
// key file or an unknown role stops agorad with the reason, before it
// listens or signs anything.
TEST_F(CliTest, AgoradRefusesToStartARoleItCannotSignFor) {
  const std::string net = (home_.path() / "net").string();
  ASSERT_EQ(Agora({"testnet", "--validators", "1", "--dir", net}).exit_code, 0);
  const std::string node = net + "/node0";
  ASSERT_EQ(Agora({"keys", "new", "prov", "--password-file", PasswordFile("right")}).exit_code, 0);
  const std::string config = node + "/config/config.toml";
  std::string text = testing::ReadTextFile(config);
  const std::string wrong = PasswordFile("wrong");
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"key_file = \"\"", "key_file = \"" + (home_.path() / "keys" / "prov.json").string() + "\""},
           {"password_file = \"\"", "password_file = \"" + wrong + "\""}}) {
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  }
  WriteTextFile(config, text);
  CommandResult bad_password = RunCommand({AGORA_DAEMON_PATH, "--home", node, "--role", "provider"});
  EXPECT_EQ(bad_password.exit_code, 1);
  EXPECT_NE(bad_password.err.find("cannot unlock [provider] key_file"), std::string::npos)
      << bad_password.err;
  CommandResult unknown = RunCommand({AGORA_DAEMON_PATH, "--home", node, "--role", "miner"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("unknown role 'miner'"), std::string::npos) << unknown.err;
  // A role device that cannot run here stops the node with the reason
  // (here: no GPU, or no CUDA in the build; on a GPU machine it starts).
  if (!kernels::CudaOpsReady().ok()) {
    std::string with_cuda = testing::ReadTextFile(config);
    const size_t at = with_cuda.find("device = \"cpu\"");
    ASSERT_NE(at, std::string::npos) << with_cuda;
    with_cuda.replace(at, std::string("device = \"cpu\"").size(), "device = \"cuda\"");
    const std::string before = testing::ReadTextFile(config);
    WriteTextFile(config, with_cuda);
    CommandResult no_gpu = RunCommand({AGORA_DAEMON_PATH, "--home", node, "--role", "validator"});
    EXPECT_EQ(no_gpu.exit_code, 1);
    EXPECT_NE(no_gpu.err.find("[roles] device = \"cuda\": " + kernels::CudaOpsReady().message()),
              std::string::npos)
        << no_gpu.err;
    WriteTextFile(config, before);
  }
  WriteTextFile(config, testing::ReadTextFile(config) + "\n[bogus]\nx = 1\n");
  CommandResult bad_config = RunCommand({AGORA_DAEMON_PATH, "--home", node, "--role", "provider"});
  EXPECT_EQ(bad_config.exit_code, 1);
  EXPECT_NE(bad_config.err.find("unknown table [bogus]"), std::string::npos) << bad_config.err;
}

// [roles] device: cpu by default, cuda by choice, anything else refused with
// the two names; what `agorad init` writes parses back.
TEST(NodeConfigTest, TheRolesDeviceIsCpuOrCuda) {
  Result<NodeConfig> plain = ParseConfig("[roles]\nvalidator = true\n", "config.toml");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->role_device, "cpu");
  Result<NodeConfig> cuda = ParseConfig("[roles]\ndevice = \"cuda\"\n", "config.toml");
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  EXPECT_EQ(cuda->role_device, "cuda");
  Result<NodeConfig> bad = ParseConfig("[roles]\ndevice = \"gpu\"\n", "config.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("[roles] device = \"gpu\" is not a device: \"cpu\" or "
                                        "\"cuda\""),
            std::string::npos)
      << bad.status().ToString();
  Result<NodeConfig> back = ParseConfig(RenderConfig(*cuda), "rendered");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->role_device, "cuda");
}

// config.toml: integers are integers (a float, even one beyond int64, is
// refused with the setting's name: a fuzz finding), and every string
// survives render -> parse whatever it holds.
TEST(NodeConfigTest, IntegersOnlyAndStringsRoundTrip) {
  Result<NodeConfig> huge = ParseConfig("[blobs]\nquota_bytes = 3154128e37\n", "config.toml");
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("[blobs] quota_bytes must be an integer"),
            std::string::npos)
      << huge.status().ToString();
  Result<NodeConfig> fractional = ParseConfig("[rpc]\nlisten_port = 26657.0\n", "config.toml");
  ASSERT_FALSE(fractional.ok());
  EXPECT_NE(fractional.status().message().find("[rpc] listen_port must be an integer"),
            std::string::npos);

  NodeConfig c;
  c.moniker = "a \"quoted\" \\ name\twith\x01 controls";
  c.persistent_peers = {"id@host:1", "quote\"d"};
  Result<NodeConfig> back = ParseConfig(RenderConfig(c), "rendered");
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << RenderConfig(c);
  EXPECT_EQ(back->moniker, c.moniker);
  EXPECT_EQ(back->persistent_peers, c.persistent_peers);
}

}  // namespace
}  // namespace agora::node
