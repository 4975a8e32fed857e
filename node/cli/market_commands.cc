#include "node/cli/market_commands.h"

#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <algorithm>
#include <bit>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <iostream>

#include "common/hash.h"
#include "market/job_spec.h"
#include "market/pricing.h"
#include "node/cli/cli_util.h"
#include "node/cli/job_file.h"
#include "node/rpc/blob_fetch.h"
#include "node/rpc/client.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/diloco.h"

namespace agora::node {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

// A loss (nats per byte) with four decimals; "-" if `v` has no number `key`.
std::string Loss(const json::value& v, std::string_view key) {
  const json::value* x = v.as_object().if_contains(key);
  if (x == nullptr || !x->is_number()) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.4f", x->to_number<double>());
  return text;
}


struct OfferOptions {
  std::string hardware = "cpu";
  uint64_t speed = 0;
  uint32_t capacity = 1;
  uint64_t ask = 0;
  std::string endpoint;
};

Result<consensus::ProviderOffer> MakeOffer(const OfferOptions& o) {
  consensus::ProviderOffer offer;
  AGORA_ASSIGN_OR_RETURN(offer.hardware, market::ParseHardwareClass(o.hardware));
  offer.speed_wu_per_s = o.speed;
  offer.capacity_tasks = o.capacity;
  offer.ask_uagr_per_wu = o.ask;
  offer.blob_endpoint = o.endpoint;
  return offer;
}

void AddOfferOptions(CLI::App* cmd, OfferOptions& o) {
  cmd->add_option("--hardware", o.hardware, "cpu, gpu-sm80, gpu-sm90 or gpu-sm100")
      ->capture_default_str();
  cmd->add_option("--speed", o.speed, "Declared speed in work units (10^9 flops) per second")
      ->required();
  cmd->add_option("--capacity", o.capacity, "Tasks at once (1..1024)")->capture_default_str();
  cmd->add_option("--ask", o.ask, "Price asked per work unit, in uagr")->required();
  cmd->add_option("--endpoint", o.endpoint, "http(s) URL where this provider serves blobs")
      ->required();
}


// Makes sure the node holds the job's dataset: uploads [data] file unless
// the node has it; with the data given by hash, checks that the node serves
// a blob of that hash and size, since providers fetch it from there.
Status EnsureDataset(const GlobalOptions& g, const market::JobSpec& spec,
                     const fs::path& data_file) {
  const std::string node = NodeUrl(g);
  if (!data_file.empty()) {
    AGORA_ASSIGN_OR_RETURN(rpc::BlobUploadReport up, rpc::UploadBlob(node, data_file));
    if (up.hash != spec.dataset_hash) {
      return Status::FailedPrecondition(data_file.string() +
                                        " changed while the job was being prepared; submit again");
    }
    if (!g.json) {
      std::cerr << "dataset: " << data_file.string() << " (" << up.size << " bytes, "
                << up.hash.ToHex().substr(0, 16) << "...) "
                << (up.already_held ? "already on " : "uploaded to ") << node << "\n";
    }
    return Status::Ok();
  }
  Result<uint64_t> size = rpc::BlobSizeAt(node, spec.dataset_hash);
  if (!size.ok()) {
    if (size.status().code() != StatusCode::kNotFound) return size.status();
    return Status::FailedPrecondition(
        "the node at " + node + " does not hold the dataset " + spec.dataset_hash.ToHex() +
        ", so no provider could fetch it: upload it with `agora blob put FILE` or name the file "
        "in the job's [data] file; pass --skip-data-check if other nodes serve it");
  }
  if (*size != spec.dataset_bytes) {
    return Status::InvalidArgument("the job file says the dataset has " +
                                   std::to_string(spec.dataset_bytes) + " bytes but the blob " +
                                   spec.dataset_hash.ToHex() + " on " + node + " has " +
                                   std::to_string(*size) + "; fix [data] bytes");
  }
  return Status::Ok();
}

std::string Seconds(double s) {
  char text[32];
  if (s >= 90) {
    std::snprintf(text, sizeof text, "%.0f min", s / 60);
  } else {
    std::snprintf(text, sizeof text, "%.0f s", s);
  }
  return text;
}

// Follows job `id` until it ends: a line on stderr whenever its round, its
// passed tasks or its status change (round, tasks passed, the latest
// verified validation loss, escrow left, an estimate of the time left from
// the pace of the rounds so far). Returns the job as last read; an error if
// it failed or was cancelled.
Result<json::value> FollowJob(const GlobalOptions& g, uint64_t id) {
  using Clock = std::chrono::steady_clock;
  rpc::RpcClient client(NodeUrl(g));
  const Clock::time_point start = Clock::now();
  std::string last_line;
  int failures = 0;
  for (;;) {
    Result<json::value> got = client.Call("job", json::object{{"id", id}});
    if (!got.ok()) {
      // A node restarting or busy: keep following for a while.
      if (++failures > 60) return got.status();
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    failures = 0;
    const json::value& job = *got;
    const std::string status(job.at("status").as_string());
    const uint64_t round = job.at("round").to_number<uint64_t>();
    const uint64_t rounds = job.at("rounds").to_number<uint64_t>();
    const uint64_t done_rounds = status == "finished" ? rounds : round;
    const json::array& verified = job.at("verified_rounds").as_array();
    const std::string loss = verified.empty() ? "-" : Loss(verified.back(), "validation_loss");
    std::string eta = "-";
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (status == "running" && done_rounds > 0 && done_rounds < rounds) {
      eta = Seconds(elapsed / static_cast<double>(done_rounds) *
                    static_cast<double>(rounds - done_rounds));
    }
    const std::string line =
        "job " + std::to_string(id) + " " + status + "  round " +
        std::to_string(std::min(round + 1, rounds)) + "/" + std::to_string(rounds) + "  tasks " +
        Str(job, "round_passed") + "/" + Str(job, "workers") + " passed  verified loss " + loss +
        "  escrow " + Str(job, "escrow_uagr") + " uagr  eta " + eta;
    // The line without the time estimate decides whether anything changed.
    const std::string key = line.substr(0, line.rfind("  eta "));
    if (key != last_line) {
      last_line = key;
      if (!g.json) std::cerr << "[" << Seconds(elapsed) << "] " << line << "\n";
    }
    if (status == "finished") return got;
    if (status == "failed" || status == "cancelled") {
      return Status::FailedPrecondition("job " + std::to_string(id) + " " + status + ": " +
                                        Str(job, "outcome") + " (refunded " +
                                        Str(job, "refunded_uagr") + " uagr)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

Status SubmitJob(const GlobalOptions& g, const TxOptions& tx, const std::string& file,
                 uint64_t budget, uint64_t max_price, bool skip_data_check,
                 const std::string& title, uint64_t deadline_max) {
  if (Status ok = consensus::CheckJobTitle(title); !ok.ok()) {
    return Status::InvalidArgument("--title: " + ok.message());
  }
  if (deadline_max > consensus::kDeadlineBlocksMax) {
    return Status::InvalidArgument("--deadline-max " + std::to_string(deadline_max) +
                                   " is above " + std::to_string(consensus::kDeadlineBlocksMax) +
                                   " blocks (0, the default, sets no bound)");
  }
  fs::path data_file;
  AGORA_ASSIGN_OR_RETURN(market::JobSpec spec, ReadJobFile(file, &data_file));
  const uint64_t work = market::TaskWorkWu(spec);
  const uint64_t tasks = market::TaskCount(spec);
  AGORA_ASSIGN_OR_RETURN(uint64_t need, market::BudgetNeeded(tasks, work, max_price));
  if (budget < need) {
    return Status::InvalidArgument(
        "--budget " + std::to_string(budget) + " cannot pay " + std::to_string(tasks) +
        " task(s) of " + std::to_string(work) + " wu at --max-price " + std::to_string(max_price) +
        " uagr/wu: it needs at least " + std::to_string(need) + " uagr");
  }
  if (!g.json) {
    std::cerr << "job: " << tasks << " task(s) (" << spec.rounds << " rounds x " << spec.workers
              << " workers) of " << work << " wu each; at most " << need << " uagr at "
              << max_price << " uagr/wu\n";
  }
  if (!skip_data_check) AGORA_RETURN_IF_ERROR(EnsureDataset(g, spec, data_file));
  const consensus::Msg msg = consensus::MsgPostJob{spec, budget, max_price, title, deadline_max};
  if (!tx.wait) return SendTx(g, tx, msg);
  // --wait: until the job ends, a line per change.
  AGORA_ASSIGN_OR_RETURN(json::value posted,
                         SubmitTx(g, tx, [&msg](const SecretKey&, const std::string&)
                                             -> Result<consensus::Msg> { return msg; }));
  uint64_t id = 0;
  for (const json::value& e : posted.at("events").as_array()) {
    if (e.at("type").as_string() != "job_posted") continue;
    id = std::stoull(std::string(e.at("attributes").at("job_id").as_string()));
  }
  if (id == 0) return Status::Internal("the committed PostJob names no job");
  if (!g.json) {
    std::cerr << "posted job " << id << " at height " << Str(posted, "height")
              << "; following it (Ctrl-C stops following, not the job)\n";
  }
  AGORA_ASSIGN_OR_RETURN(json::value job, FollowJob(g, id));
  const json::array& verified = job.at("verified_rounds").as_array();
  const std::string loss = verified.empty() ? "-" : Loss(verified.back(), "validation_loss");
  Print(g, json::object{{"tx", posted}, {"job", job}},
        "job " + std::to_string(id) + " finished: paid " + Str(job, "paid_uagr") +
            " uagr to providers, refunded " + Str(job, "refunded_uagr") +
            " uagr; verified validation loss " + loss + "\nfetch the model: agora job fetch " +
            std::to_string(id) + " --out model.ckpt\n");
  return Status::Ok();
}

Status ProviderStatus(const GlobalOptions& g, const TxOptions& tx, const std::string& who) {
  std::string target = who;
  if (target.empty()) {
    if (tx.from.empty()) {
      return Status::InvalidArgument("name the provider (address or key name) or pass --from");
    }
    target = tx.from;
  }
  AGORA_ASSIGN_OR_RETURN(Address address, ResolveAddress(g, target));
  AGORA_ASSIGN_OR_RETURN(json::value v, rpc::RpcClient(NodeUrl(g)).Call(
                                            "provider", json::object{{"address", address.ToString()}}));
  Print(g, v, Pretty(v));
  return Status::Ok();
}

// Downloads a finished job's model and checks its weights against the
// ledger's record of the final round before keeping the file.
Status JobFetch(const GlobalOptions& g, uint64_t id, const std::string& out,
                std::vector<std::string> sources) {
  if (out.empty()) return Status::InvalidArgument("say where to write the model with --out FILE");
  AGORA_ASSIGN_OR_RETURN(json::value info,
                         rpc::RpcClient(NodeUrl(g)).Call("job_model", json::object{{"id", id}}));
  AGORA_ASSIGN_OR_RETURN(Hash256 model, Hash256::FromHex(info.at("model_hash").as_string()));
  AGORA_ASSIGN_OR_RETURN(Hash256 recorded, Hash256::FromHex(info.at("params_hash").as_string()));
  sources.insert(sources.begin(), NodeUrl(g));
  rpc::BlobFetchReport report;
  AGORA_RETURN_IF_ERROR(rpc::FetchBlobToFile(model, sources, out, {}, &report));
  Result<trainer::LoadedCheckpoint> loaded = trainer::LoadCheckpoint(out);
  const bool matches = loaded.ok() && trainer::HashFloats(loaded->state.params) == recorded;
  if (!matches) {
    std::error_code ignored;
    std::filesystem::remove(out, ignored);
    return Status::Corruption("the model served for job " + std::to_string(id) +
                              " does not hold the weights the ledger recorded (" +
                              (loaded.ok() ? "weights hash differ" : loaded.status().message()) +
                              "); nothing was kept");
  }
  const float loss = std::bit_cast<float>(info.at("validation_loss_bits").to_number<uint32_t>());
  json::object o{{"job", id},
                 {"file", out},
                 {"model_hash", model.ToHex()},
                 {"params_hash", recorded.ToHex()},
                 {"validation_loss", loss},
                 {"source", report.source},
                 {"verified", true}};
  char loss_text[32];
  std::snprintf(loss_text, sizeof loss_text, "%.4f", static_cast<double>(loss));
  Print(g, o,
        "wrote " + out + ": the final weights of job " + std::to_string(id) +
            ", matching the ledger's record (validation loss " + loss_text +
            " nats/byte)\nsample from it: agora generate --model " + out +
            " --prompt \"ROMEO:\"\n");
  return Status::Ok();
}

// `  "title"` for a job that has one.
std::string TitleSuffix(const json::value& job) {
  const json::value* t = job.as_object().if_contains("title");
  if (t == nullptr || !t->is_string() || t->as_string().empty()) return "";
  return "  \"" + std::string(t->as_string()) + "\"";
}

Status JobStatusCmd(const GlobalOptions& g, uint64_t id) {
  AGORA_ASSIGN_OR_RETURN(json::value v,
                         rpc::RpcClient(NodeUrl(g)).Call("job", json::object{{"id", id}}));
  std::string human = "job #" + Str(v, "id") + "  " + Str(v, "status") + "  client " +
                      Str(v, "client") +
                      TitleSuffix(v) +
                      "\n  round " + Str(v, "round") + " of " +
                      Str(v, "rounds") + " (" + Str(v, "round_passed") + "/" + Str(v, "workers") +
                      " passed), " + Str(v, "running") + " running\n  escrow " +
                      Str(v, "escrow_uagr") + " uagr (locked " + Str(v, "locked_uagr") +
                      "), paid " + Str(v, "paid_uagr") + ", refunded " + Str(v, "refunded_uagr") +
                      "\n  work " + Str(v, "work_wu_per_task") + " wu per task, max price " +
                      Str(v, "price_max_uagr_per_wu") + " uagr/wu" +
                      (Str(v, "deadline_blocks_max") == "0"
                           ? std::string()
                           : ", deadline at most " + Str(v, "deadline_blocks_max") +
                                 " blocks per task") +
                      "\n";
  if (const json::value* rec = v.as_object().if_contains("recording")) {
    const json::array& awaiting = rec->at("awaiting").as_array();
    human += "  waiting for validators to record the weights at the start of round " +
             Str(*rec, "round") + " (" + Str(*rec, "results") + " result(s)" +
             (awaiting.empty() ? std::string(", next validator drawn soon")
                               : ", awaiting " + std::string(awaiting.at(0).as_string())) +
             ")\n";
  }
  for (const json::value& t : v.at("current_round_tasks").as_array()) {
    human += "  task " + Str(v, "round") + "/" + Str(t, "worker") + "  " + Str(t, "status");
    if (t.as_object().if_contains("provider")) {
      human += "  on " + Str(t, "provider") + "  price " + Str(t, "price_uagr") +
               "  deadline height " + Str(t, "deadline_height");
    }
    human += "  (attempts " + Str(t, "attempts") + ")\n";
  }
  if (Str(v, "outcome") != "" && Str(v, "outcome") != "-") human += "  " + Str(v, "outcome") + "\n";
  const json::array& curve = v.at("verified_rounds").as_array();
  if (!curve.empty()) {
    human += "  verified loss curve (weights at the start of each round; round R: the final "
             "weights; validation loss in nats/byte):\n";
    for (const json::value& r : curve) {
      human += "    " + Str(r, "round") + ": " + Loss(r, "validation_loss") + "  weights " +
               Str(r, "params_hash").substr(0, 16) + "\n";
    }
  }
  Print(g, v, human);
  return Status::Ok();
}

// "JOB/ROUND/WORKER" -> the task's parameters.
Result<json::object> ParseTaskName(const std::string& name) {
  unsigned long long job = 0, round = 0, worker = 0;
  char tail = 0;
  if (std::sscanf(name.c_str(), "%llu/%llu/%llu%c", &job, &round, &worker, &tail) != 3 ||
      job == 0 || round > UINT32_MAX || worker > UINT32_MAX) {
    return Status::InvalidArgument("a task is named JOB/ROUND/WORKER, e.g. 1/0/0; got '" + name +
                                   "'");
  }
  return json::object{{"job", job}, {"round", round}, {"worker", worker}};
}

Status VerifyTaskCmd(const GlobalOptions& g, const std::string& name) {
  AGORA_ASSIGN_OR_RETURN(json::object params, ParseTaskName(name));
  AGORA_ASSIGN_OR_RETURN(json::value v, rpc::RpcClient(NodeUrl(g)).Call("task", params));
  const json::object& o = v.as_object();
  std::string human = "task " + Str(v, "task") + "  " + Str(v, "status") + "  attempts " +
                      Str(v, "attempts") + "\n";
  if (!o.if_contains("commitment")) {
    human += "  no commitment yet (the provider sends commit_task when its training ends)\n";
    Print(g, v, human);
    return Status::Ok();
  }
  const json::value& c = o.at("commitment");
  human += "  committed at height " + Str(c, "height") + " by " + Str(c, "provider") +
           "\n  checkpoint root " + Str(c, "checkpoint_root") + "\n  delta hash      " +
           Str(c, "delta_hash") + "\n  " + std::to_string(c.at("losses").as_array().size()) +
           " losses; slots passed " + Str(c, "slots_passed") + "/" + Str(c, "slots");
  if (c.at("settle_height").to_number<uint64_t>() != 0) {
    human += ", paid at height " + Str(c, "settle_height");
  }
  human += "\n";
  if (!o.if_contains("slots") || o.at("slots").as_array().empty()) {
    human += "  validators not drawn yet\n";
  } else {
    for (const json::value& s : o.at("slots").as_array()) {
      human += "  slot " + Str(s, "slot") + "  " + Str(s, "state");
      if (s.as_object().if_contains("segment")) {
        // Step 0 names a one-step segment, whose witness is its gradient.
        const std::string step = Str(s, "witness_step");
        human += "  segment " + Str(s, "segment") +
                 (step == "0" ? " (witness: the step's gradient)" : " (witness step " + step + ")");
      }
      if (s.as_object().if_contains("awaiting")) {
        human += "  awaiting " + Str(s, "awaiting") + " until height " + Str(s, "due_height");
      }
      if (s.as_object().if_contains("dispute")) {
        human += "  waiting for dispute #" + Str(s, "dispute") + " (agora dispute show " +
                 Str(s, "dispute") + ")";
      }
      human += "\n";
      for (const json::value& x : s.at("verdicts").as_array()) {
        human += "    " + Str(x, "outcome");
        if (x.as_object().if_contains("reason")) human += " (" + Str(x, "reason") + ")";
        if (x.as_object().if_contains("overturned")) human += " OVERTURNED by a dispute";
        human += " by " + Str(x, "validator") + " at height " + Str(x, "height") + "\n";
      }
      for (const json::value& m : s.at("missed").as_array()) {
        human += "    missed by " + std::string(m.as_string()) + "\n";
      }
    }
  }
  Print(g, v, human);
  return Status::Ok();
}

Status VerifyRoundsCmd(const GlobalOptions& g, uint64_t job) {
  AGORA_ASSIGN_OR_RETURN(json::value v,
                         rpc::RpcClient(NodeUrl(g)).Call("round_results", json::object{{"job", job}}));
  std::string human = "job #" + std::to_string(job) +
                      " weights at the start of each round, as verification recorded them\n";
  for (const json::value& r : v.at("rounds").as_array()) {
    human += "  round " + Str(r, "round") + "  ";
    if (r.at("recorded").as_bool()) {
      human += "validation loss " + Loss(r, "validation_loss") + "  weights " +
               Str(r, "params_hash") + "  (height " + Str(r, "recorded_height") + ")\n";
    } else if (r.at("abandoned").as_bool()) {
      size_t unavailable = 0;
      std::string blob;
      for (const json::value& x : r.at("results").as_array()) {
        if (!x.as_object().contains("unavailable")) continue;
        ++unavailable;
        blob = Str(x, "unavailable");
      }
      if (unavailable >= 2) {
        human += "abandoned: " + std::to_string(unavailable) + " validators could not fetch blob " +
                 blob + " (the dataset or a task's delta); the job failed and was refunded\n";
      } else {
        human += "abandoned: no two of " + std::to_string(r.at("results").as_array().size()) +
                 " results agreed, or the job ended first\n";
      }
    } else {
      human += "aggregating: " + std::to_string(r.at("results").as_array().size()) +
               " result(s), awaiting " + std::to_string(r.at("awaiting").as_array().size()) + "\n";
    }
  }
  Print(g, v, human);
  return Status::Ok();
}

Status JobList(const GlobalOptions& g, const std::string& client, const std::string& status) {
  json::object params;
  if (!client.empty()) {
    AGORA_ASSIGN_OR_RETURN(Address a, ResolveAddress(g, client));
    params["client"] = a.ToString();
  }
  if (!status.empty()) params["status"] = status;
  AGORA_ASSIGN_OR_RETURN(json::value v, rpc::RpcClient(NodeUrl(g)).Call("jobs", params));
  std::string human;
  for (const json::value& j : v.at("jobs").as_array()) {
    human += "#" + Str(j, "id") + "  " + Str(j, "status") + "  round " + Str(j, "round") + "/" +
             Str(j, "rounds") + "  escrow " + Str(j, "escrow_uagr") + "  client " +
             Str(j, "client") + TitleSuffix(j) +
             "\n";
  }
  if (human.empty()) human = "no jobs\n";
  Print(g, v, human);
  return Status::Ok();
}

}  // namespace

void AddMarketCommands(CLI::App& app, GlobalOptions& global, std::function<Status()>& action) {
  static TxOptions tx;
  static OfferOptions offer;
  static std::string who, file, client, status;
  static uint64_t budget = 0, max_price = 0, id = 0;

  CLI::App* provider = app.add_subcommand("provider", "Rent out hardware: register, update, leave");
  provider->require_subcommand(1);
  auto* reg = provider->add_subcommand(
      "register", "Offer this account's hardware (needs market.provider_stake_min_uagr staked)");
  AddOfferOptions(reg, offer);
  AddSignerOptions(reg, tx);
  reg->callback([&] {
    action = [&]() -> Status {
      AGORA_ASSIGN_OR_RETURN(consensus::ProviderOffer o, MakeOffer(offer));
      return SendTx(global, tx, consensus::MsgRegisterProvider{o});
    };
  });
  auto* upd = provider->add_subcommand("update", "Replace the offer (running tasks keep theirs)");
  AddOfferOptions(upd, offer);
  AddSignerOptions(upd, tx);
  upd->callback([&] {
    action = [&]() -> Status {
      AGORA_ASSIGN_OR_RETURN(consensus::ProviderOffer o, MakeOffer(offer));
      return SendTx(global, tx, consensus::MsgUpdateProvider{o});
    };
  });
  auto* dereg = provider->add_subcommand("deregister", "Leave the market (after its tasks end)");
  AddSignerOptions(dereg, tx);
  dereg->callback([&] {
    action = [&] { return SendTx(global, tx, consensus::MsgDeregisterProvider{}); };
  });
  auto* pstatus = provider->add_subcommand("status", "Offer, reputation, running tasks, stake");
  pstatus->add_option("who", who, "Address or key name (default: --from)");
  pstatus->add_option("--from", tx.from, "Key name");
  pstatus->callback([&] { action = [&] { return ProviderStatus(global, tx, who); }; });

  auto* plist = provider->add_subcommand("list", "Every provider: offer, reputation, load");
  plist->callback([&] {
    action = [&]() -> Status {
      AGORA_ASSIGN_OR_RETURN(json::value v, rpc::RpcClient(NodeUrl(global)).Call("providers"));
      std::string human;
      for (const json::value& p : v.at("providers").as_array()) {
        human += Str(p, "address") + "  " + Str(p, "hardware_class") + "  " +
                 Str(p, "speed_wu_per_s") + " wu/s  ask " + Str(p, "ask_uagr_per_wu") +
                 " uagr/wu  " + Str(p, "running") + "/" + Str(p, "capacity_tasks") +
                 " running  reputation " + Str(p, "reputation_ppm") + " ppm\n";
      }
      if (human.empty()) human = "no providers\n";
      Print(global, v, human);
      return Status::Ok();
    };
  });

  CLI::App* job = app.add_subcommand("job", "Pay for training: submit, follow, cancel jobs");
  job->require_subcommand(1);
  auto* submit = job->add_subcommand("submit", "Post a job: its budget moves into escrow");
  submit->add_option("file", file, "The job file (see data/job-tiny.toml)")->required();
  submit->add_option("--budget", budget, "Budget in uagr")->required();
  submit->add_option("--max-price", max_price, "Most it pays per work unit, in uagr")->required();
  static bool skip_data_check = false;
  static std::string title;
  static uint64_t deadline_max = 0;
  submit->add_option("--deadline-max", deadline_max,
                     "Most blocks a provider may take for one task (0: no bound); slower "
                     "providers are passed over")
      ->capture_default_str();
  submit->add_option("--title", title,
                     "A name for the job, shown by `job list` and the web page (up to 80 bytes)");
  submit->add_flag("--skip-data-check", skip_data_check,
                   "Post even if the node lacks the dataset (other nodes serve it)");
  AddSignerOptions(submit, tx);
  submit->get_option("--wait")->description(
      "Wait for the commit, then follow the job to its end: a line per round");
  submit->callback([&] {
    action = [&] {
      return SubmitJob(global, tx, file, budget, max_price, skip_data_check, title, deadline_max);
    };
  });
  auto* jstatus = job->add_subcommand("status", "Rounds, tasks, providers, escrow, deadlines");
  jstatus->add_option("id", id, "Job id")->required();
  jstatus->callback([&] { action = [&] { return JobStatusCmd(global, id); }; });
  auto* list = job->add_subcommand("list", "Jobs, newest first");
  list->add_option("--client", client, "Only this client's (address or key name)");
  list->add_option("--status", status, "open, running, finished, cancelled or failed");
  list->callback([&] { action = [&] { return JobList(global, client, status); }; });
  static std::string task_name;
  static uint64_t verify_job = 0;
  CLI::App* verify = app.add_subcommand("verify", "What validators checked: commitments, verdicts, rounds");
  verify->require_subcommand(1);
  auto* vtask = verify->add_subcommand("task", "A task's commitment, sampled segments and verdicts");
  vtask->add_option("task", task_name, "JOB/ROUND/WORKER, e.g. 1/0/0")->required();
  vtask->callback([&] { action = [&] { return VerifyTaskCmd(global, task_name); }; });
  auto* vrounds = verify->add_subcommand("rounds", "A job's recorded rounds: the verified loss curve");
  vrounds->add_option("job", verify_job, "Job id")->required();
  vrounds->callback([&] { action = [&] { return VerifyRoundsCmd(global, verify_job); }; });
  static std::string fetch_out;
  static std::vector<std::string> fetch_sources;
  auto* fetch = job->add_subcommand(
      "fetch", "Download a finished job's model, checked against the ledger's final record");
  fetch->add_option("id", id, "Job id")->required();
  fetch->add_option("--out", fetch_out, "Where to write the model (a checkpoint)")->required();
  fetch->add_option("--from", fetch_sources, "More nodes to download from (repeatable)");
  fetch->callback([&] { action = [&] { return JobFetch(global, id, fetch_out, fetch_sources); }; });
  auto* cancel = job->add_subcommand("cancel", "Stop new work; running tasks finish and are paid");
  cancel->add_option("id", id, "Job id")->required();
  AddSignerOptions(cancel, tx);
  cancel->callback([&] {
    action = [&] { return SendTx(global, tx, consensus::MsgCancelJob{id}); };
  });
}

}  // namespace agora::node
