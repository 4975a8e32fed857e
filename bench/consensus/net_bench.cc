// consensus_net_bench: a real 4-validator network on this machine.
//
// `agora testnet` writes the homes, four agorad processes run them, and a
// load generator in this process sends pre-signed transfers over JSON-RPC
// (standard JSON-RPC batches while flooding, one per request when paced) on
// kept-alive connections from many threads and senders. Commits are observed on a WebSocket
// subscription to new_block. Printed: committed tx/s, p50/p99 submit-to-
// commit latency, and beside them the signature-verification bound measured
// in the same run: every validator verifies every transaction once, so the
// machine cannot commit more than cores / (validators x one verify) tx/s.
// Then the proposer of the next height is killed with SIGKILL and the time
// to the next commit is measured (default timeouts: propose 1 s).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "common/encoding.h"
#include "common/keys.h"
#include "consensus/ledger/tx.h"
#include "node/rpc/client.h"

extern char** environ;

namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using agora::Address;
using agora::Bytes;
using agora::SecretKey;
using Clock = std::chrono::steady_clock;

pid_t Spawn(const std::vector<std::string>& args, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv;
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

double VerifyUs() {
  SecretKey key = SecretKey::Generate();
  const agora::SignDomain domain{"bench", agora::SignKind::kTransaction};
  std::vector<Bytes> messages;
  std::vector<agora::Signature> sigs;
  for (int i = 0; i < 2000; ++i) {
    messages.push_back(Bytes(120, static_cast<uint8_t>(i)));
    sigs.push_back(key.Sign(domain, messages.back()));
  }
  const auto start = Clock::now();
  int ok = 0;
  for (int i = 0; i < 2000; ++i)
    ok += agora::Verify(key.public_key(), domain, messages[i], sigs[i]);
  const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count() / 2000;
  return ok == 2000 ? us : -1;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"consensus_net_bench: 4 agorad processes under a transfer load"};
  int senders = 64, per_sender = 100, threads = 8, batch = 32;
  std::string dir_arg, log_level = "info";
  app.add_option("--senders", senders, "Accounts sending transfers");
  app.add_option("--per-sender", per_sender, "Transfers per account");
  app.add_option("--threads", threads, "Load generator threads");
  app.add_option("--batch", batch, "Transfers per JSON-RPC batch request (1: one per request)")
      ->check(CLI::Range(1, 100));
  app.add_option("--dir", dir_arg, "Work directory (default: a fresh one under /tmp)");
  app.add_option("--log-level", log_level, "agorad's log level (debug shows consensus steps)");
  CLI11_PARSE(app, argc, argv);

  fs::path dir = dir_arg.empty()
                     ? fs::temp_directory_path() / ("agora-net-bench-" + std::to_string(getpid()))
                     : fs::path(dir_arg);
  fs::remove_all(dir);
  fs::create_directories(dir);
  const double verify_us_idle = VerifyUs();
  std::vector<SecretKey> keys;
  std::vector<std::string> args = {AGORA_CLI_PATH,
                                   "--home",
                                   (dir / "cli").string(),
                                   "testnet",
                                   "--validators",
                                   "4",
                                   "--dir",
                                   (dir / "net").string(),
                                   "--json"};
  for (int i = 0; i < senders; ++i) {
    keys.push_back(SecretKey::Generate());
    args.push_back("--fund");
    args.push_back(Address::FromPublicKey(keys.back().public_key()).ToString() + "=1000000000000");
  }
  pid_t testnet = Spawn(args, dir / "testnet.out");
  int status = 0;
  waitpid(testnet, &status, 0);
  if (status != 0) {
    std::fprintf(stderr, "agora testnet failed; see %s\n", (dir / "testnet.out").c_str());
    return 1;
  }
  std::FILE* f = std::fopen((dir / "net" / "testnet.json").c_str(), "r");
  std::string text(1 << 20, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), f));
  std::fclose(f);
  json::value summary = json::parse(text);
  const std::string chain_id(summary.at("chain_id").as_string());
  std::vector<std::string> urls, ids;
  std::vector<fs::path> homes;
  std::vector<pid_t> pids;
  for (const auto& n : summary.at("nodes").as_array()) {
    homes.push_back(std::string(n.at("home").as_string()));
    urls.push_back(std::string(n.at("rpc").as_string()));
    ids.push_back(std::string(n.at("node_id").as_string()));
    pids.push_back(
        Spawn({AGORA_DAEMON_PATH, "--home", homes.back().string(), "--log-level", log_level},
              homes.back() / "agorad.log"));
  }
  auto stop_all = [&] {
    for (pid_t p : pids) {
      if (p > 0) kill(p, SIGKILL), waitpid(p, nullptr, 0);
    }
  };
  auto height = [&](size_t node) -> uint64_t {
    auto s = agora::node::rpc::RpcClient(urls[node])
                 .Call("status", nullptr, std::chrono::milliseconds(2000));
    return s.ok() ? s->at("height").to_number<uint64_t>() : 0;
  };
  const auto boot_deadline = Clock::now() + std::chrono::seconds(60);
  for (size_t i = 0; i < urls.size(); ++i) {
    while (height(i) < 1) {
      if (Clock::now() > boot_deadline) {
        std::fprintf(stderr, "nodes did not start; logs in %s\n", dir.c_str());
        stop_all();
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  const Address sink = Address::FromPublicKey(SecretKey::Generate().public_key());
  std::mutex mu;
  std::map<std::string, Clock::time_point> submitted, committed;
  std::atomic<bool> watching{true};
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> backoffs{0};
  auto ws = agora::node::rpc::WsSubscription::Connect(urls[0]);
  if (!ws.ok() || !(*ws)->Subscribe("new_block").ok()) {
    std::fprintf(stderr, "cannot subscribe to new_block\n");
    stop_all();
    return 1;
  }
  std::thread watcher([&] {
    while (watching) {
      auto ev = (*ws)->Next(std::chrono::milliseconds(200));
      if (!ev.ok()) continue;
      const auto now = Clock::now();
      std::lock_guard lock(mu);
      for (const auto& h : ev->at("data").at("tx_hashes").as_array()) {
        committed.emplace(std::string(h.as_string()), now);
      }
    }
  });

  struct Phase {
    size_t committed = 0;
    double seconds = 0;
    std::vector<double> latencies_ms;
  };
  // Sends `count` transfers per sender (nonces from `first_nonce`); each
  // thread paces itself to `rate_per_thread` tx/s, or floods when 0.
  auto run_phase = [&](int first_nonce, int count, double rate_per_thread) {
    std::vector<std::vector<std::pair<std::string, std::string>>> work(threads);
    for (int n = first_nonce; n < first_nonce + count; ++n) {
      for (int s = 0; s < senders; ++s) {
        Bytes raw = agora::consensus::MakeTransfer(keys[s], chain_id, n, 10, sink, 1);
        auto tx = agora::consensus::DecodeTx(raw, chain_id).value();
        work[s % threads].push_back({tx.hash.ToHex(), agora::Base64Encode(raw)});
      }
    }
    const auto start = Clock::now();
    std::vector<std::thread> load;
    for (int t = 0; t < threads; ++t) {
      load.emplace_back([&, t] {
        agora::node::rpc::RpcClient client(urls[t % urls.size()]);
        const auto& mine = work[t];
        // Paced: one transfer per request at its time; flooding: batches.
        const size_t step = rate_per_thread > 0 ? 1 : static_cast<size_t>(batch);
        size_t sent = 0;
        while (sent < mine.size()) {
          if (rate_per_thread > 0) {
            std::this_thread::sleep_until(
                start + std::chrono::microseconds(static_cast<int64_t>(sent * 1e6 / rate_per_thread)));
          }
          const size_t end = std::min(mine.size(), sent + step);
          std::vector<std::pair<std::string, json::value>> calls;
          for (size_t i = sent; i < end; ++i) {
            calls.emplace_back("tx_submit", json::object{{"tx", mine[i].second}});
          }
          {
            std::lock_guard lock(mu);
            const auto now = Clock::now();
            for (size_t i = sent; i < end; ++i) submitted.emplace(mine[i].first, now);
          }
          auto results = client.CallBatch(calls);
          if (!results.ok()) {
            failures += end - sent;
            if (failures <= end - sent) {
              std::fprintf(stderr, "tx_submit batch: %s\n", results.status().message().c_str());
            }
            sent = end;
            continue;
          }
          // A sender more than the mempool's window ahead of its committed
          // nonce is told to wait: back off and resend from there, as a
          // client would. Resent transfers that did get in are "already
          // pending" (or committed): not failures.
          size_t next = end;
          for (size_t j = 0; j < results->size(); ++j) {
            const auto& r = (*results)[j];
            if (r.ok() || r.status().code() == agora::StatusCode::kAlreadyExists) continue;
            if (r.status().message().find("ahead of the account") != std::string::npos) {
              next = sent + j;
              break;
            }
            if (failures++ < 3) std::fprintf(stderr, "tx_submit: %s\n", r.status().message().c_str());
          }
          if (next < end) {
            ++backoffs;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
          sent = next;
        }
      });
    }
    for (auto& t : load) t.join();
    Phase phase;
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    for (;;) {
      size_t done = 0;
      {
        std::lock_guard lock(mu);
        for (const auto& w : work) {
          for (const auto& [id, b64] : w) done += committed.count(id);
        }
      }
      phase.committed = done;
      if (done >= static_cast<size_t>(senders) * count || Clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::lock_guard lock(mu);
    Clock::time_point last = start;
    for (const auto& w : work) {
      for (const auto& [id, b64] : w) {
        auto c = committed.find(id);
        if (c == committed.end()) continue;
        last = std::max(last, c->second);
        phase.latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(c->second - submitted[id]).count());
      }
    }
    phase.seconds = std::chrono::duration<double>(last - start).count();
    return phase;
  };

  std::printf("flood: %d transfers as fast as %d threads send them...\n", senders * per_sender,
              threads);
  Phase flood = run_phase(0, per_sender, 0);
  const double verify_us_after_flood = VerifyUs();
  const double tps = flood.committed / flood.seconds;
  const double paced_rate = tps / 2;
  std::printf("paced: %d transfers at %.0f tx/s (half the flood's rate)...\n",
              senders * per_sender / 2, paced_rate);
  Phase paced = run_phase(per_sender, per_sender / 2, paced_rate / threads);
  watching = false;
  watcher.join();
  const size_t total = static_cast<size_t>(senders) * per_sender;
  const double seconds = flood.seconds;
  std::vector<double> latencies = paced.latencies_ms;
  // The host's speed drifts during a run (other tenants): the median of
  // three measurements spread over it, before the nodes start, after the
  // flood and now. All three are printed.
  const double verify_us_end = VerifyUs();
  std::array<double, 3> verify_samples = {verify_us_idle, verify_us_after_flood, verify_us_end};
  std::sort(verify_samples.begin(), verify_samples.end());
  const double verify_us = verify_samples[1];
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const double bound = cores * 1e6 / (4 * verify_us);

  // Kill the proposer of a height the moment the height before it commits,
  // before its proposal (held back block_interval_ms) can leave, and time
  // the commit of that height: the round-0 timeout and round 1.
  double recovery_ms = -1;
  int64_t recovery_round = -1;
  {
    agora::node::rpc::RpcClient client(urls[0]);
    const uint64_t start_height = height(0);
    while (height(0) == start_height) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const uint64_t h = height(0) + 1;
    auto validators = client.Call("validators", json::object{{"height", h}});
    if (validators.ok()) {
      const auto proposer = validators->at("proposer").to_number<size_t>();
      const std::string key(
          validators->at("validators").at(proposer).at("public_key").as_string());
      const size_t victim = std::find(ids.begin(), ids.end(), key) - ids.begin();
      if (victim < pids.size()) {
        const auto killed = Clock::now();
        kill(pids[victim], SIGKILL);
        waitpid(pids[victim], nullptr, 0);
        pids[victim] = -1;
        const size_t watch = (victim + 1) % pids.size();
        while (height(watch) < h && Clock::now() - killed < std::chrono::seconds(30)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        recovery_ms = std::chrono::duration<double, std::milli>(Clock::now() - killed).count();
        auto block = agora::node::rpc::RpcClient(urls[watch]).Call(
            "block", json::object{{"height", h}});
        if (block.ok()) recovery_round = block->at("commit").at("round").to_number<int64_t>();
      }
    }
  }
  stop_all();

  std::printf("\n4 validators, %u cores, %d senders x %d transfers, %d client threads, "
              "JSON-RPC batches of %d while flooding\n",
              cores, senders, per_sender, threads, batch);
  std::printf("flood: submitted %zu, rejected %llu, committed %zu in %.2f s (%llu back-offs on a "
              "full nonce window); p50 %.0f ms under the backlog\n",
              total, static_cast<unsigned long long>(failures.load()), flood.committed, seconds,
              static_cast<unsigned long long>(backoffs.load()),
              Percentile(flood.latencies_ms, 0.5));
  std::printf("paced at %.0f tx/s: committed %zu of %zu\n", paced_rate, paced.committed,
              total / 2);
  std::printf("| committed tx/s (flood) | p50 latency (paced) | p99 latency (paced) | "
              "verify bound tx/s | ratio |\n");
  std::printf("|---:|---:|---:|---:|---:|\n");
  std::printf("| %.0f | %.0f ms | %.0f ms | %.0f (%u cores / (4 x %.1f us)) | %.2f |\n", tps,
              Percentile(latencies, 0.5), Percentile(latencies, 0.99), bound, cores, verify_us,
              tps / bound);
  std::printf("one ed25519 verify: %.1f / %.1f / %.1f us (before / after the flood / at the end; "
              "the median makes the bound)\n",
              verify_us_idle, verify_us_after_flood, verify_us_end);
  std::printf("kill -9 of the next proposer -> next commit: %.0f ms (decided in round %lld)\n",
              recovery_ms, static_cast<long long>(recovery_round));
  if (dir_arg.empty()) fs::remove_all(dir);
  return flood.committed == total ? 0 : 1;
}
