// What the end-to-end tests of paid jobs share: a training corpus and a job
// file, and a devnet of 4 validators and 2 provider nodes whose accounts
// stake and register through the CLI, as a user does.
#ifndef AGORA_TESTS_NODE_JOB_FIXTURE_H_
#define AGORA_TESTS_NODE_JOB_FIXTURE_H_

#include <fstream>
#include <string>
#include <vector>

#include "node/config.h"
#include "tests/node/devnet_fixture.h"

namespace agora::node::testing {

// A small, repetitive corpus: tasks train on it in seconds.
inline std::string Corpus() {
  std::string corpus;
  while (corpus.size() < 20'000) corpus += "To be, or not to be, that is the question. ";
  return corpus;
}

// A job file with the data given as a file, corpus.txt beside it (the CLI
// uploads it).
inline void WriteJob(const fs::path& path, const std::string& model, uint32_t rounds,
                     uint32_t workers, uint32_t inner_steps, uint32_t interval) {
  std::ofstream f(path);
  f << "[model]\n"
    << model << "[data]\nfile = \"corpus.txt\"\n"
    << "[schedule]\nrounds = " << rounds << "\nworkers = " << workers
    << "\ninner_steps = " << inner_steps << "\ncheckpoint_interval = " << interval << "\n"
    << "[optimizer]\nwarmup_steps = 5\n";
}

// 4 validators and 2 provider nodes, blocks every 250 ms for the market.
class ProvidersDevnetTest : public DevnetTest {
 protected:
  static constexpr size_t kValidators = 4;
  std::vector<std::string> ExtraTestnetArgs() override {
    return {"--providers", "2", "--param", "market.block_time_ms=250"};
  }
  // `agora --node <node 0> --json ARGS...`
  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {AGORA_CLI_PATH, "--node", urls_[0], "--json"});
    return RunCommand(args);
  }
  fs::path ProviderKey(size_t node) { return nodes_[node]->home() / "config" / "provider_key.json"; }
  std::string ProviderAddress(size_t node) {
    return Address::FromPublicKey(LoadNodeKey(ProviderKey(node)).value().public_key()).ToString();
  }
  // With AGORA_FAULT_PROVIDER_HOLD=hold in the nodes' environment (set it
  // before DevnetTest::SetUp; docs/roles.md): holds node `node`'s provider
  // at its first checkpoint at or after `step` of a task named `prefix`...;
  // an empty prefix lets it go.
  void Hold(size_t node, const std::string& prefix, uint32_t step) {
    const fs::path file = nodes_[node]->home() / "provider" / "hold";
    if (prefix.empty()) {
      fs::remove(file);
      return;
    }
    fs::create_directories(file.parent_path());
    agora::testing::WriteTextFile(file, prefix + " " + std::to_string(step) + "\n");
  }
  // corpus.txt, job.toml (`model`, R rounds of K tasks of H steps, a
  // checkpoint every 10) and the client's key, senders_[0], at key_file;
  // the job file's path.
  fs::path WriteJobFiles(const std::string& model, uint32_t rounds, uint32_t workers,
                         uint32_t inner_steps) {
    agora::testing::WriteTextFile(dir_.path() / "corpus.txt", Corpus());
    const fs::path job_file = dir_.path() / "job.toml";
    WriteJob(job_file, model, rounds, workers, inner_steps, /*interval=*/10);
    EXPECT_TRUE(WriteNodeKey(key_file(), senders_[0]).ok());
    return job_file;
  }
  fs::path key_file() const { return dir_.path() / "client.json"; }
  // Each provider node's account stakes and registers its offer.
  void RegisterProviders() {
    ASSERT_EQ(nodes_.size(), kValidators + 2);
    for (size_t n = kValidators; n < nodes_.size(); ++n) {
      CommandResult stake =
          Cli({"tx", "stake", "20000000", "--key-file", ProviderKey(n).string(), "--wait"});
      ASSERT_EQ(stake.exit_code, 0) << stake.out << stake.err;
      CommandResult reg = Cli({"provider", "register", "--speed", "2", "--capacity", "1", "--ask",
                               "900", "--endpoint", urls_[n], "--key-file",
                               ProviderKey(n).string(), "--wait"});
      ASSERT_EQ(reg.exit_code, 0) << reg.out << reg.err;
    }
  }
};

}  // namespace agora::node::testing

#endif  // AGORA_TESTS_NODE_JOB_FIXTURE_H_
