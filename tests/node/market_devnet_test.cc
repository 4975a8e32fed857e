// The market end to end on four real agorad processes, through the `agora`
// CLI: two providers stake and register, a client submits a job file, and
// two validators record the job's start (a commitment, then the values, sent
// here as the validator role will send them), which opens round 0; the
// scheduler assigns its tasks to both providers (one slot each); a provider
// commits from the recorded start and a validator is drawn for it; bad
// input gets clear errors; the job is cancelled and its escrow comes back
// once nothing runs. On the way, the job's dataset travels as a blob through
// `agora blob put|get|gc`. (The provider and validator roles come with issue 18.)
#include <bit>
#include <fstream>
#include <map>
#include <set>

#include "common/merkle.h"
#include "common/proto_codec.h"
#include "consensus/ledger/verification.h"
#include "node/cli/cli_util.h"
#include "node/config.h"
#include "node/rpc/blob_fetch.h"
#include "proto/tx.pb.h"
#include "tests/node/devnet_fixture.h"
#include "trainer/checkpoint.h"
#include "node/roles/role_util.h"
#include "node/roles/validator.h"
#include "node/rpc/client.h"
#include "trainer/diloco.h"
#include "verify/task.h"

namespace agora::node {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using agora::testing::CommandResult;
using agora::testing::RunCommand;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::DevnetTest;

class MarketDevnetTest : public DevnetTest {
 protected:
  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {AGORA_CLI_PATH, "--node", urls_[0], "--json"});
    return RunCommand(args);
  }
  fs::path KeyFile(int sender) {
    const fs::path p = dir_.path() / ("sender" + std::to_string(sender) + ".json");
    if (!fs::exists(p)) {
      EXPECT_TRUE(WriteNodeKey(p, senders_[sender]).ok());
    }
    return p;
  }

  // Records the weights at the start of `round` of job 1 as the validator
  // role will: the drawn validator (a node's key) commits to the values,
  // the next one sends them. Returns the record once it is recorded.
  json::value RecordRound(uint32_t round, const std::vector<Hash256>& starts) {
    std::vector<SecretKey> keys;
    for (const auto& n : nodes_) keys.push_back(LoadNodeKey(NodeKeyPath(n->home())).value());
    const Hash256 weights = Blake2b256(AsBytes("devnet weights " + std::to_string(round)));
    const Hash256 digest = consensus::verification::RoundResultDigest(weights, 0x40000000u, starts);
    std::set<std::string> sent;
    const auto until = std::chrono::steady_clock::now() + seconds(60);
    while (std::chrono::steady_clock::now() < until) {
      const json::value all = Call(0, "round_results", json::object{{"job", 1}});
      for (const json::value& r : all.at("rounds").as_array()) {
        if (r.at("round").to_number<uint32_t>() != round) continue;
        if (r.at("recorded").as_bool()) return r;
        const json::array& awaiting = r.at("awaiting").as_array();
        if (awaiting.empty()) continue;
        const std::string who(awaiting.at(0).as_string());
        if (!sent.insert(who).second) continue;
        for (const SecretKey& k : keys) {
          const Address a = Address::FromPublicKey(k.public_key());
          if (a.ToString() != who) continue;
          consensus::MsgRoundResult m;
          m.job_id = 1;
          m.round = round;
          if (r.at("results").as_array().empty()) {
            m.commitment = consensus::verification::RoundResultCommitment(digest, a);
          } else {
            m.params_hash = weights;
            m.validation_loss = 0x40000000u;
            m.start_hashes = starts;
          }
          const uint64_t nonce = Account(0, a).at("nonce").to_number<uint64_t>();
          rpc::RpcError error;
          Submit(0, consensus::MakeTx(k, chain_id_, nonce, testing::kFee, m), &error);
          EXPECT_TRUE(error.message.empty()) << error.message;
        }
      }
      std::this_thread::sleep_for(milliseconds(200));
    }
    ADD_FAILURE() << "round " << round << " of job 1 was not recorded in 60 s";
    return nullptr;
  }
};

TEST_F(MarketDevnetTest, TwoProvidersGetAPostedJobsTasks) {
  // A job file with the data given by hash and size.
  const fs::path job_file = dir_.path() / "job.toml";
  {
    std::ofstream f(job_file);
    f << "[model]\npreset = \"tiny\"\n"
      << "[data]\nhash = \"" << Blake2b256(AsBytes("the data")).ToHex() << "\"\nbytes = 100000\n"
      << "[schedule]\nrounds = 2\nworkers = 2\ninner_steps = 50\ncheckpoint_interval = 10\n";
  }
  // 1. Two providers stake and register, one slot each.
  for (int p = 0; p < 2; ++p) {
    CommandResult stake =
        Cli({"tx", "stake", "20000000", "--key-file", KeyFile(p).string(), "--wait"});
    ASSERT_EQ(stake.exit_code, 0) << stake.out << stake.err;
    CommandResult reg = Cli({"provider", "register", "--speed", "2", "--capacity", "1", "--ask",
                             std::to_string(900 + 100 * p), "--endpoint",
                             "http://127.0.0.1:900" + std::to_string(p), "--key-file",
                             KeyFile(p).string(), "--wait"});
    ASSERT_EQ(reg.exit_code, 0) << reg.out << reg.err;
  }
  CommandResult twice = Cli({"provider", "register", "--speed", "2", "--ask", "900", "--endpoint",
                             "http://127.0.0.1:9000", "--key-file", KeyFile(0).string(), "--wait"});
  EXPECT_NE(twice.exit_code, 0);
  EXPECT_NE(twice.err.find("already_exists"), std::string::npos) << twice.err;
  CommandResult unknown_class =
      Cli({"provider", "register", "--hardware", "tpu", "--speed", "2", "--ask", "900",
           "--endpoint", "http://x.example", "--key-file", KeyFile(3).string()});
  EXPECT_NE(unknown_class.exit_code, 0);
  EXPECT_NE(unknown_class.err.find("unknown hardware class 'tpu'"), std::string::npos)
      << unknown_class.err;
  CommandResult providers = Cli({"provider", "list"});
  ASSERT_EQ(providers.exit_code, 0) << providers.err;
  EXPECT_EQ(json::parse(providers.out).at("providers").as_array().size(), 2u) << providers.out;

  // 2. A budget below what the tasks need at the maximum price is refused
  // with the figure, before anything is signed.
  CommandResult poor = Cli({"job", "submit", job_file.string(), "--budget", "1000", "--max-price",
                            "1000", "--key-file", KeyFile(2).string(), "--wait"});
  EXPECT_NE(poor.exit_code, 0);
  EXPECT_NE(poor.err.find("it needs at least 88000 uagr"), std::string::npos) << poor.err;
  CommandResult unbounded =
      Cli({"job", "submit", job_file.string(), "--budget", "200000", "--max-price", "1000",
           "--deadline-max", "10000001", "--key-file", KeyFile(2).string(), "--skip-data-check"});
  EXPECT_NE(unbounded.exit_code, 0);
  EXPECT_NE(unbounded.err.find("--deadline-max 10000001 is above 10000000"), std::string::npos)
      << unbounded.err;

  // 3. The job: the scheduler gives one task to each provider.
  const Address client = Address::FromPublicKey(senders_[2].public_key());
  const uint64_t balance = Account(0, client).at("balance_uagr").to_number<uint64_t>();
  // The dataset is uploaded further down, so the CLI's check is skipped.
  CommandResult submit =
      Cli({"job", "submit", job_file.string(), "--budget", "200000", "--max-price", "1000",
           "--deadline-max", "1000", "--key-file", KeyFile(2).string(), "--skip-data-check"});
  ASSERT_EQ(submit.exit_code, 0) << submit.out << submit.err;
  WaitUntil([&] { return Call(0, "jobs", json::object{}).at("jobs").as_array().size() == 1; },
            seconds(30), "the job is committed");

  // The job's dataset moves as a blob: uploaded to node 0 with the CLI,
  // fetched through node 1 (which lacks it) and node 0, and kept by gc while
  // the job is open, when a blob nothing names is removed.
  {
    const fs::path data = dir_.path() / "data.txt";
    const fs::path other = dir_.path() / "other.txt";
    agora::testing::WriteTextFile(data, "the data");
    agora::testing::WriteTextFile(other, "named by nothing");
    for (const fs::path& f : {data, other}) {
      CommandResult put = Cli({"blob", "put", f.string()});
      ASSERT_EQ(put.exit_code, 0) << put.err;
      EXPECT_FALSE(json::parse(put.out).at("already_held").as_bool());
    }
    const std::string hash = Blake2b256(AsBytes("the data")).ToHex();
    const fs::path fetched = dir_.path() / "fetched.txt";
    CommandResult get = Cli(
        {"blob", "get", hash, "--out", fetched.string(), "--from", urls_[1], "--from", urls_[0]});
    ASSERT_EQ(get.exit_code, 0) << get.err;
    EXPECT_EQ(json::parse(get.out).at("source").as_string(), urls_[0]);
    EXPECT_EQ(agora::testing::ReadTextFile(fetched), "the data");
    CommandResult gc = Cli({"blob", "gc", "--grace", "0"});
    ASSERT_EQ(gc.exit_code, 0) << gc.err;
    const json::value collected = json::parse(gc.out);
    EXPECT_EQ(collected.at("removed_blobs").to_number<uint64_t>(), 1u);
    EXPECT_EQ(collected.at("kept_blobs").to_number<uint64_t>(), 1u);
    EXPECT_TRUE(rpc::BlobSizeAt(urls_[0], Blake2b256(AsBytes("the data"))).ok());
    EXPECT_EQ(rpc::BlobSizeAt(urls_[0], Blake2b256(AsBytes("named by nothing"))).status().code(),
              StatusCode::kNotFound);
    CommandResult missing =
        Cli({"blob", "get", Blake2b256(AsBytes("x")).ToHex(), "--out", fetched.string()});
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.err.find("does not have the blob"), std::string::npos) << missing.err;
    EXPECT_EQ(agora::testing::ReadTextFile(fetched), "the data");
  }

  // Its tasks open once two validators have recorded its start.
  const std::vector<Hash256> starts = {Blake2b256(AsBytes("start 0")),
                                       Blake2b256(AsBytes("start 1"))};
  const json::value start = RecordRound(0, starts);
  ASSERT_FALSE(start.is_null());
  ASSERT_EQ(start.at("start_hashes").as_array().size(), 2u) << start;
  EXPECT_EQ(start.at("start_hashes").at(0).as_string(), starts[0].ToHex());
  EXPECT_EQ(start.at("results").as_array().size(), 2u) << start;
  std::set<std::string> on;
  json::value job;
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (on.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    CommandResult status = Cli({"job", "status", "1"});
    ASSERT_EQ(status.exit_code, 0) << status.err;
    job = json::parse(status.out);
    on.clear();
    for (const json::value& t : job.at("current_round_tasks").as_array()) {
      if (t.at("status").as_string() == "assigned")
        on.insert(std::string(t.at("provider").as_string()));
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
  const std::set<std::string> both = {Address::FromPublicKey(senders_[0].public_key()).ToString(),
                                      Address::FromPublicKey(senders_[1].public_key()).ToString()};
  EXPECT_EQ(on, both) << job;
  EXPECT_EQ(job.at("status").as_string(), "running");
  EXPECT_EQ(job.at("deadline_blocks_max").to_number<uint64_t>(), 1000u) << job;
  EXPECT_EQ(job.at("locked_uagr").to_number<uint64_t>(), 22u * 900 + 22u * 1000) << job;
  for (int p = 0; p < 2; ++p) {
    CommandResult ps =
        Cli({"provider", "status", Address::FromPublicKey(senders_[p].public_key()).ToString()});
    ASSERT_EQ(ps.exit_code, 0) << ps.err;
    const json::value v = json::parse(ps.out);
    EXPECT_EQ(v.at("running").to_number<uint64_t>(), 1u);
    EXPECT_EQ(v.at("collateral_locked_uagr").to_number<uint64_t>(),
              2 * 22u * (900 + 100 * static_cast<uint64_t>(p)));
  }
  // A provider with a running task cannot leave; a stranger cannot cancel.
  CommandResult leave =
      Cli({"provider", "deregister", "--key-file", KeyFile(0).string(), "--wait"});
  EXPECT_NE(leave.exit_code, 0);
  EXPECT_NE(leave.err.find("still run"), std::string::npos) << leave.err;
  CommandResult stranger = Cli({"job", "cancel", "1", "--key-file", KeyFile(3).string(), "--wait"});
  EXPECT_NE(stranger.exit_code, 0);
  EXPECT_NE(stranger.err.find("only the client"), std::string::npos) << stranger.err;

  // 4. The provider of task 1/0/0 commits (as its role will): the task
  // leaves the market's deadline, two blocks later a validator is drawn for
  // its spot check, and `agora verify task` shows it all.
  {
    CommandResult before = Cli({"verify", "task", "1/0/0"});
    ASSERT_EQ(before.exit_code, 0) << before.err;
    const json::value t = json::parse(before.out);
    EXPECT_EQ(t.at("status").as_string(), "assigned");
    EXPECT_EQ(t.as_object().if_contains("commitment"), nullptr);
    const std::string owner(t.at("provider").as_string());
    size_t p = Address::FromPublicKey(senders_[0].public_key()).ToString() == owner ? 0 : 1;
    ASSERT_EQ(Address::FromPublicKey(senders_[p].public_key()).ToString(), owner);
    // Checkpoints at steps 0, 10, ..., 50 (H = 50, C = 10 in the job file):
    // checkpoint 0 is the start the round's record names.
    std::vector<Hash256> checkpoints = {starts[0]};
    for (int i = 1; i <= 5; ++i) {
      checkpoints.push_back(Blake2b256(AsBytes("ckpt " + std::to_string(i))));
    }
    consensus::MsgCommitTask commit;
    commit.job_id = 1;
    commit.checkpoint_root = merkle::Root(checkpoints);
    commit.start_proof = merkle::Prove(checkpoints, 0).siblings;
    commit.delta_hash = Blake2b256(AsBytes("delta"));
    commit.losses.assign(50, 0x40000000u);  // H = 50 in job-tiny.toml
    const uint64_t nonce = Account(0, Address::FromPublicKey(senders_[p].public_key()))
                               .at("nonce")
                               .to_number<uint64_t>();
    rpc::RpcError submit_error;
    Submit(0, consensus::MakeTx(senders_[p], chain_id_, nonce, testing::kFee, commit),
           &submit_error);
    EXPECT_TRUE(submit_error.message.empty()) << submit_error.message;
    json::value shown;
    const auto until = std::chrono::steady_clock::now() + seconds(30);
    while (std::chrono::steady_clock::now() < until) {
      CommandResult v = Cli({"verify", "task", "1/0/0"});
      ASSERT_EQ(v.exit_code, 0) << v.err;
      shown = json::parse(v.out);
      if (shown.at("status").as_string() == "verifying") break;
      std::this_thread::sleep_for(milliseconds(200));
    }
    ASSERT_EQ(shown.at("status").as_string(), "verifying") << shown;
    EXPECT_EQ(shown.at("commitment").at("checkpoint_root").as_string(),
              commit.checkpoint_root.ToHex());
    EXPECT_EQ(shown.at("commitment").at("losses").as_array().size(), 50u);
    ASSERT_EQ(shown.at("slots").as_array().size(), 1u);
    const std::string awaiting(shown.at("slots").at(0).at("awaiting").as_string());
    EXPECT_NE(awaiting, owner);  // never the provider
    const std::string validators = json::serialize(Call(0, "validators", json::object{}));
    EXPECT_NE(validators.find(awaiting), std::string::npos) << awaiting << " not in " << validators;
    CommandResult bad = Cli({"verify", "task", "1-0-0"});
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE(bad.err.find("JOB/ROUND/WORKER"), std::string::npos) << bad.err;
    CommandResult rounds = Cli({"verify", "rounds", "1"});
    ASSERT_EQ(rounds.exit_code, 0) << rounds.err;
    const json::value rounds_json = json::parse(rounds.out);
    const json::array& recorded = rounds_json.at("rounds").as_array();
    ASSERT_EQ(recorded.size(), 1u) << rounds.out;  // round 0's start only
    EXPECT_TRUE(recorded.at(0).at("recorded").as_bool());
    rpc::RpcError error;
    Call(0, "task", json::object{{"job", 1}, {"round", 0}, {"wrker", 0}}, &error);
    EXPECT_NE(error.message.find("unknown parameter 'wrker'"), std::string::npos) << error.message;
    Call(0, "verdicts", json::object{{"job", 1}, {"round", 0}, {"worker", 1}}, &error);
    EXPECT_NE(error.message.find("no commitment"), std::string::npos) << error.message;
  }

  // 5. Cancelled: no new work; with tasks still running, the escrow waits.
  CommandResult cancel = Cli({"job", "cancel", "1", "--key-file", KeyFile(2).string(), "--wait"});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.out << cancel.err;
  CommandResult list = Cli({"job", "list", "--status", "cancelled"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const json::value listed = json::parse(list.out);
  ASSERT_EQ(listed.at("jobs").as_array().size(), 1u);
  EXPECT_EQ(listed.at("jobs").at(0).at("escrow_uagr").to_number<uint64_t>(), 200'000u);
  EXPECT_EQ(Account(0, client).at("balance_uagr").to_number<uint64_t>(),
            balance - 200'000 - 2 * testing::kFee);
  // Not closed while its tasks run: the roles find it with {"ended": false}.
  const json::value unended = Call(0, "jobs", json::object{{"ended", false}});
  ASSERT_EQ(unended.at("jobs").as_array().size(), 1u) << json::serialize(unended);
  EXPECT_EQ(unended.at("jobs").at(0).at("status").as_string(), "cancelled");
  EXPECT_EQ(unended.at("jobs").at(0).at("ended_height").to_number<uint64_t>(), 0u);
  EXPECT_TRUE(Call(0, "jobs", json::object{{"ended", true}}).at("jobs").as_array().empty());

  // Hostile RPC parameters.
  rpc::RpcError error;
  Call(0, "job", json::object{{"id", 99}}, &error);
  EXPECT_NE(error.message.find("no job 99"), std::string::npos) << error.message;
  Call(0, "jobs", json::object{{"clint", "x"}}, &error);
  EXPECT_NE(error.message.find("unknown parameter 'clint'"), std::string::npos) << error.message;
  Call(0, "jobs", json::object{{"ended", "no"}}, &error);
  EXPECT_NE(error.message.find("params.ended must be true or false"), std::string::npos)
      << error.message;
  Call(0, "provider", json::object{{"address", "agora1nope"}}, &error);
  EXPECT_NE(error.message.find("address"), std::string::npos) << error.message;
}

// More jobs than one page of the `jobs` RPC (100): the list pages by
// `next_before`, and the roles' ListJobs reads every page. A role that read
// one page saw only the newest jobs, and its validators were slashed for
// the draws of an older one it never looked at (found in review,
// 2026-12-03); this is that case on real nodes.
TEST_F(MarketDevnetTest, TheJobsListPagesPastAHundredAndTheRolesReadEveryPage) {
  constexpr uint64_t kJobs = 105;
  market::JobSpec spec;
  spec.dataset_hash = Blake2b256(AsBytes("paging data"));
  spec.dataset_bytes = 100'000;
  const uint64_t budget = market::TaskWorkWu(spec) * 1000;
  // Two clients, as a mempool takes at most 64 transactions ahead of an
  // account's next nonce.
  std::map<int, uint64_t> nonces;
  for (int sender : {2, 3}) {
    nonces[sender] = Account(0, Address::FromPublicKey(senders_[sender].public_key()))
                         .at("nonce")
                         .to_number<uint64_t>();
  }
  for (uint64_t i = 0; i < kJobs; ++i) {
    const int sender = i % 2 == 0 ? 2 : 3;
    const consensus::MsgPostJob post{spec, budget, 1000, "job " + std::to_string(i + 1), 0};
    rpc::RpcError error;
    Submit(0, consensus::MakeTx(senders_[sender], chain_id_, nonces[sender]++, testing::kFee, post),
           &error);
    ASSERT_TRUE(error.message.empty()) << "post " << i + 1 << ": " << error.message;
  }
  WaitUntil(
      [&] {
        return Call(0, "job", json::object{{"id", kJobs}}).as_object().if_contains("id") != nullptr;
      },
      seconds(60), "the 105th job");
  // One page holds 100 at most; the next starts where it said.
  const json::value first = Call(0, "jobs", json::object{{"limit", 100}});
  const json::array& page = first.at("jobs").as_array();
  ASSERT_EQ(page.size(), 100u);
  EXPECT_EQ(page.front().at("id").to_number<uint64_t>(), kJobs);  // newest first
  EXPECT_EQ(page.back().at("id").to_number<uint64_t>(), kJobs - 99);
  ASSERT_NE(first.as_object().if_contains("next_before"), nullptr) << json::serialize(first);
  const uint64_t next = first.at("next_before").to_number<uint64_t>();
  EXPECT_EQ(next, kJobs - 100);
  const json::value second = Call(0, "jobs", json::object{{"limit", 100}, {"before", next}});
  ASSERT_EQ(second.at("jobs").as_array().size(), kJobs - 100);
  EXPECT_EQ(second.at("jobs").as_array().front().at("id").to_number<uint64_t>(), next);
  EXPECT_EQ(second.as_object().if_contains("next_before"), nullptr) << "the oldest page ends";
  // The roles' reader walks the pages, filtered as the roles filter.
  rpc::RpcClient client(urls_[0]);
  for (const json::object& filter : {json::object{}, json::object{{"ended", false}},
                                     json::object{{"status", "open"}}}) {
    Result<json::array> all = node::roles::ListJobs(client, filter);
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    ASSERT_EQ(all->size(), kJobs) << json::serialize(filter);
    for (uint64_t i = 0; i < kJobs; ++i) {
      ASSERT_EQ((*all)[i].at("id").to_number<uint64_t>(), kJobs - i) << json::serialize(filter);
    }
  }
  // And it stops at its bound.
  Result<json::array> bounded = node::roles::ListJobs(client, json::object{}, 100);
  ASSERT_TRUE(bounded.ok());
  EXPECT_EQ(bounded->size(), 100u);
}

// Node 1 runs the provider role for sender 0's account and fetches blobs
// from node 0.
class ProviderDevnetTest : public MarketDevnetTest {
 protected:
  void ConfigureNodes() override {
    const fs::path config = NodeConfigPath(1);
    std::string text = agora::testing::ReadTextFile(config);
    auto replace = [&](const std::string& from, const std::string& to) {
      const size_t at = text.find(from);
      ASSERT_NE(at, std::string::npos) << from;
      text.replace(at, from.size(), to);
    };
    replace(
        "[roles]\n# A provider trains the tasks the market assigns to its account.\n"
        "provider = false",
        "[roles]\nprovider = true");
    replace("key_file = \"\"", "key_file = \"" + KeyFile(0).string() + "\"");
    replace("threads = 0", "threads = 1");
    replace("sources = []", "sources = [\"" + urls_[0] + "\"]");
    agora::testing::WriteTextFile(config, text);
  }
  fs::path NodeConfigPath(size_t node) { return ConfigPath(nodes_[node]->home()); }

  json::value Task(uint32_t round, uint32_t worker) {
    return Call(0, "task", json::object{{"job", 1}, {"round", round}, {"worker", worker}});
  }
};

// The provider role end to end: a registered provider's node trains the
// task the market gives it (the dataset fetched from another node, the
// start from the seed) on its own thread, serves every checkpoint and the
// delta from its blob endpoint, and commits exactly what an independent
// run of the same task computes.
TEST_F(ProviderDevnetTest, TheProviderRoleTrainsItsTaskAndCommitsWhatAReplayComputes) {
  CommandResult stake =
      Cli({"tx", "stake", "20000000", "--key-file", KeyFile(0).string(), "--wait"});
  ASSERT_EQ(stake.exit_code, 0) << stake.out << stake.err;
  CommandResult reg =
      Cli({"provider", "register", "--speed", "2", "--capacity", "1", "--ask", "900", "--endpoint",
           urls_[1], "--key-file", KeyFile(0).string(), "--wait"});
  ASSERT_EQ(reg.exit_code, 0) << reg.out << reg.err;

  // A small dataset on node 0 only; a micro model, one task of 20 steps.
  std::string corpus;
  while (corpus.size() < 20'000) corpus += "To be, or not to be, that is the question. ";
  const fs::path data = dir_.path() / "corpus.txt";
  agora::testing::WriteTextFile(data, corpus);
  CommandResult put = Cli({"blob", "put", data.string()});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  const fs::path job_file = dir_.path() / "job.toml";
  {
    std::ofstream f(job_file);
    f << "[model]\nvocab = 256\ncontext = 16\nlayers = 1\nheads = 2\nwidth = 16\nbatch = 2\n"
      << "[data]\nhash = \"" << Blake2b256(AsBytes(corpus)).ToHex()
      << "\"\nbytes = " << corpus.size() << "\n"
      << "[schedule]\nrounds = 1\nworkers = 1\ninner_steps = 20\ncheckpoint_interval = 10\n"
      << "[optimizer]\nwarmup_steps = 5\n";
  }
  // Without --wait: no validator role records the round here (the test
  // does, below), so the job would not move while the CLI followed it.
  CommandResult submit = Cli({"job", "submit", job_file.string(), "--budget", "200000",
                              "--max-price", "1000", "--key-file", KeyFile(2).string()});
  ASSERT_EQ(submit.exit_code, 0) << submit.out << submit.err;
  WaitUntil([&] { return Call(0, "jobs", json::object{}).at("jobs").as_array().size() == 1; },
            seconds(30), "the job is committed");

  // The same task computed here, from the spec the ledger holds.
  const json::value job = Call(0, "job", json::object{{"id", 1}});
  proto::JobSpec spec_pb;
  ASSERT_TRUE(
      DecodeStrict(HexDecode(job.at("spec_pb").as_string()).value(), 1 << 16, spec_pb).ok());
  const market::JobSpec spec = consensus::DecodeJobSpec(spec_pb).value();
  const trainer::TrainConfig config = verify::TrainConfigOf(spec).value();
  const std::vector<float> params = trainer::TrainState::Fresh(config, spec.dataset_hash).params;
  const trainer::Corpus local = trainer::Corpus::FromBytes(corpus).value();
  const verify::TaskResult expected =
      verify::RunTask(spec, 0, 0, params, local, kernels::Backend::kCpu).value();

  // Validators record the start; the market opens the task; the role trains it.
  RecordRound(0, {expected.checkpoint_hashes.at(0)});
  const auto until = std::chrono::steady_clock::now() + seconds(120);
  json::value task = Task(0, 0);
  while (!task.as_object().contains("commitment") && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(200));
    task = Task(0, 0);
  }
  ASSERT_TRUE(task.as_object().contains("commitment"))
      << "no commitment in 120 s: " << json::serialize(task)
      << "; provider log: " << (nodes_[1]->home() / "agorad.log").string();
  const json::value& c = task.at("commitment");
  EXPECT_EQ(task.at("provider").as_string(),
            Address::FromPublicKey(senders_[0].public_key()).ToString());
  EXPECT_EQ(c.at("checkpoint_root").as_string(), expected.checkpoint_root.ToHex());
  EXPECT_EQ(c.at("delta_hash").as_string(), expected.delta_hash.ToHex());

  // Its blobs are on the provider's endpoint, for the validators; and the
  // dataset came from node 0.
  for (const Hash256& h : expected.checkpoint_hashes) {
    EXPECT_TRUE(rpc::BlobSizeAt(urls_[1], h).ok()) << h.ToHex();
  }
  EXPECT_EQ(rpc::BlobSizeAt(urls_[1], expected.delta_hash).value(), expected.delta.size());
  EXPECT_EQ(rpc::BlobSizeAt(urls_[1], spec.dataset_hash).value(), corpus.size());
}

// Every node runs the validator role; nodes 1 and 2 also run the provider
// role, for senders 0 and 1.
class PaidJobDevnetTest : public ProviderDevnetTest {
 protected:
  void ConfigureNodes() override {
    std::string sources;
    for (const std::string& u : urls_) sources += (sources.empty() ? "\"" : ", \"") + u + "\"";
    for (size_t n = 0; n < nodes_.size(); ++n) {
      const fs::path config = NodeConfigPath(n);
      std::string text = agora::testing::ReadTextFile(config);
      auto replace = [&](const std::string& from, const std::string& to) {
        const size_t at = text.find(from);
        ASSERT_NE(at, std::string::npos) << from;
        text.replace(at, from.size(), to);
      };
      replace("validator = false", "validator = true");
      replace("sources = []", "sources = [" + sources + "]");
      if (n == 1 || n == 2) {
        replace("provider = false", "provider = true");
        replace("key_file = \"\"", "key_file = \"" + KeyFile(static_cast<int>(n) - 1).string() + "\"");
        replace("threads = 0", "threads = 1");
      }
      agora::testing::WriteTextFile(config, text);
    }
  }
};

// A paid job from submission to its final weights with nothing done by
// hand: two provider roles train, the validator roles of all four nodes
// record every round's start, replay the drawn segments and aggregate; the
// recorded final weights and losses are what an independent run of the
// same DiLoCo schedule computes.
TEST_F(PaidJobDevnetTest, AJobRunsToTheEndWithTheRolesAlone) {
  for (int p = 0; p < 2; ++p) {
    CommandResult stake =
        Cli({"tx", "stake", "20000000", "--key-file", KeyFile(p).string(), "--wait"});
    ASSERT_EQ(stake.exit_code, 0) << stake.out << stake.err;
    CommandResult reg = Cli({"provider", "register", "--speed", "2", "--capacity", "1", "--ask",
                             "900", "--endpoint", urls_[1 + p], "--key-file",
                             KeyFile(p).string(), "--wait"});
    ASSERT_EQ(reg.exit_code, 0) << reg.out << reg.err;
  }
  std::string corpus;
  while (corpus.size() < 20'000) corpus += "To be, or not to be, that is the question. ";
  const fs::path data = dir_.path() / "corpus.txt";
  agora::testing::WriteTextFile(data, corpus);
  ASSERT_EQ(Cli({"blob", "put", data.string()}).exit_code, 0);
  const fs::path job_file = dir_.path() / "job.toml";
  {
    std::ofstream f(job_file);
    f << "[model]\nvocab = 256\ncontext = 16\nlayers = 1\nheads = 2\nwidth = 16\nbatch = 2\n"
      << "[data]\nhash = \"" << Blake2b256(AsBytes(corpus)).ToHex() << "\"\nbytes = "
      << corpus.size() << "\n"
      << "[schedule]\nrounds = 2\nworkers = 2\ninner_steps = 20\ncheckpoint_interval = 10\n"
      << "[optimizer]\nwarmup_steps = 5\n";
  }
  CommandResult submit = Cli({"job", "submit", job_file.string(), "--budget", "400000",
                              "--max-price", "1000", "--key-file", KeyFile(2).string(), "--wait"});
  ASSERT_EQ(submit.exit_code, 0) << submit.out << submit.err;

  const auto until = std::chrono::steady_clock::now() + seconds(300);
  json::value job = Call(0, "job", json::object{{"id", 1}});
  while (job.at("status").as_string() != "finished" && std::chrono::steady_clock::now() < until) {
    ASSERT_NE(job.at("status").as_string(), "failed") << json::serialize(job);
    std::this_thread::sleep_for(milliseconds(300));
    job = Call(0, "job", json::object{{"id", 1}});
  }
  ASSERT_EQ(job.at("status").as_string(), "finished")
      << json::serialize(job) << "\nrounds: " << json::serialize(Call(0, "round_results", json::object{{"job", 1}}));

  // The same schedule computed here.
  proto::JobSpec spec_pb;
  ASSERT_TRUE(DecodeStrict(HexDecode(job.at("spec_pb").as_string()).value(), 1 << 16, spec_pb).ok());
  const market::JobSpec spec = consensus::DecodeJobSpec(spec_pb).value();
  const trainer::TrainConfig config = verify::TrainConfigOf(spec).value();
  const trainer::Corpus local = trainer::Corpus::FromBytes(corpus).value();
  std::vector<float> params = trainer::TrainState::Fresh(config, spec.dataset_hash).params;
  std::vector<float> momentum(params.size(), 0.0f);
  const json::value rounds = Call(0, "round_results", json::object{{"job", 1}});
  const json::array& records = rounds.at("rounds").as_array();
  ASSERT_EQ(records.size(), 3u);
  for (uint32_t r = 0; r <= 2; ++r) {
    const json::value& record = records.at(r);
    ASSERT_TRUE(record.at("recorded").as_bool()) << r;
    EXPECT_EQ(record.at("params_hash").as_string(), trainer::HashFloats(params).ToHex()) << r;
    const float loss = verify::ValidationLoss(spec, params, local, kernels::Backend::kCpu,
                                              roles::kValidationBatches)
                           .value();
    EXPECT_EQ(record.at("validation_loss_bits").to_number<uint32_t>(), std::bit_cast<uint32_t>(loss))
        << r;
    if (r == 2) break;
    std::vector<Bytes> deltas;
    for (uint32_t k = 0; k < 2; ++k) {
      const verify::TaskResult t =
          verify::RunTask(spec, r, k, params, local, kernels::Backend::kCpu).value();
      const json::value task = Task(r, k);
      EXPECT_EQ(task.at("status").as_string(), "passed");
      EXPECT_EQ(task.at("commitment").at("checkpoint_root").as_string(),
                t.checkpoint_root.ToHex());
      deltas.push_back(t.delta);
    }
    verify::RoundAggregate next = verify::AggregateRound(params, momentum, deltas).value();
    params = std::move(next.params);
    momentum = std::move(next.momentum);
  }
  // The client downloads the model; its weights are the recorded ones, and
  // it samples text.
  const fs::path model = dir_.path() / "model.ckpt";
  const auto model_until = std::chrono::steady_clock::now() + seconds(60);
  CommandResult fetched = Cli({"job", "fetch", "1", "--out", model.string()});
  while (fetched.exit_code != 0 && std::chrono::steady_clock::now() < model_until) {
    std::this_thread::sleep_for(milliseconds(300));  // the validator role stores it after the end
    fetched = Cli({"job", "fetch", "1", "--out", model.string()});
  }
  ASSERT_EQ(fetched.exit_code, 0) << fetched.err;
  EXPECT_TRUE(json::parse(fetched.out).at("verified").as_bool());
  const trainer::LoadedCheckpoint loaded = trainer::LoadCheckpoint(model).value();
  EXPECT_EQ(loaded.state.params, params);
  CommandResult sampled = RunCommand({AGORA_CLI_PATH, "generate", "--model", model.string(),
                                      "--prompt", "To be", "--tokens", "20"});
  EXPECT_EQ(sampled.exit_code, 0) << sampled.err;
  EXPECT_NE(sampled.out.find("To be"), std::string::npos) << sampled.out;
  CommandResult early = Cli({"job", "fetch", "2", "--out", model.string()});
  EXPECT_NE(early.exit_code, 0);
  EXPECT_NE(early.err.find("no job 2"), std::string::npos) << early.err;

  // What each node's roles did, as they report it.
  uint64_t committed = 0, round_results = 0, verdicts = 0;
  for (size_t n = 0; n < nodes_.size(); ++n) {
    const json::value roles = Call(n, "roles");
    if (const json::value* p = roles.as_object().if_contains("provider")) {
      committed += p->at("tasks_committed").to_number<uint64_t>();
    }
    const json::value& v = roles.at("validator");
    round_results += v.at("round_results").to_number<uint64_t>();
    verdicts += v.at("verdicts").to_number<uint64_t>();
  }
  EXPECT_EQ(committed, 4u);      // R × K tasks, one attempt each
  EXPECT_EQ(round_results, 6u);  // R + 1 records, a commitment and a match each
  EXPECT_GE(verdicts, 4u);       // a slot per task, and any audits
    // Each provider was paid for the tasks it ran; nothing is left in escrow.
  EXPECT_EQ(job.at("escrow_uagr").to_number<uint64_t>(), 0u);
  uint64_t prices = 0;
  for (uint32_t r = 0; r < 2; ++r) {
    for (uint32_t k = 0; k < 2; ++k) prices += Task(r, k).at("price_uagr").to_number<uint64_t>();
  }
  EXPECT_EQ(job.at("paid_uagr").to_number<uint64_t>(), prices);  // every task passed
  const auto uagr = [&](const char* field) { return job.at(field).to_number<uint64_t>(); };
  EXPECT_EQ(uagr("paid_uagr") + uagr("refunded_uagr") + uagr("escrow_uagr"), uagr("budget_uagr"));
}

}  // namespace
}  // namespace agora::node
