#include "node/cli/blob_commands.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "common/hash.h"
#include "node/cli/cli_util.h"
#include "node/rpc/blob_fetch.h"
#include "node/rpc/client.h"

namespace agora::node {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

std::string Size(uint64_t bytes) {
  char text[32];
  if (bytes >= (uint64_t{1} << 20)) {
    std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  } else if (bytes >= 1024) {
    std::snprintf(text, sizeof text, "%.1f KiB", static_cast<double>(bytes) / 1024);
  } else {
    std::snprintf(text, sizeof text, "%llu bytes", static_cast<unsigned long long>(bytes));
  }
  return text;
}

Status Put(const GlobalOptions& g, const std::string& file) {
  if (!std::filesystem::is_regular_file(file)) {
    return Status::NotFound("no file '" + file + "' to upload");
  }
  AGORA_ASSIGN_OR_RETURN(rpc::BlobUploadReport report, rpc::UploadBlob(NodeUrl(g), file));
  json::object out{{"hash", report.hash.ToHex()},
                   {"size", report.size},
                   {"already_held", report.already_held},
                   {"node", NodeUrl(g)}};
  Print(g, out,
        std::string(report.already_held ? "already held by " : "stored on ") + NodeUrl(g) +
            "\nhash: " + report.hash.ToHex() + "\nsize: " + Size(report.size) +
            "\nName it in a job spec as dataset_hash, or fetch it with `agora blob get " +
            report.hash.ToHex() + " --out FILE`.\n");
  return Status::Ok();
}

Status Get(const GlobalOptions& g, const std::string& hex, const std::string& out,
           std::vector<std::string> sources, uint64_t idle_timeout_s) {
  AGORA_ASSIGN_OR_RETURN(Hash256 hash, Hash256::FromHex(hex));
  if (out.empty()) return Status::InvalidArgument("say where to write the blob with --out FILE");
  if (sources.empty()) sources.push_back(NodeUrl(g));
  rpc::BlobFetchOptions options;
  options.idle_timeout = std::chrono::seconds(idle_timeout_s);
  // A progress line on stderr, at most twice a second, when a person watches.
  const bool show = !g.json && ::isatty(STDERR_FILENO);
  Clock::time_point last{};
  options.progress = [&](uint64_t done, uint64_t total) {
    if (!show || Clock::now() - last < std::chrono::milliseconds(500)) return;
    last = Clock::now();
    std::fprintf(stderr, "\r%s of %s", Size(done).c_str(),
                 total ? Size(total).c_str() : "(size unknown)");
  };
  rpc::BlobFetchReport report;
  const Status fetched = rpc::FetchBlobToFile(hash, sources, out, options, &report);
  if (show) std::fprintf(stderr, "\r\033[K");
  AGORA_RETURN_IF_ERROR(fetched);
  json::array liars;
  for (const std::string& s : report.liars) liars.push_back(json::value(s));
  json::object o{{"hash", hash.ToHex()},
                 {"file", out},
                 {"size", report.size},
                 {"source", report.source},
                 {"bytes_received", report.bytes_received},
                 {"resumed", report.resumed},
                 {"liars", std::move(liars)}};
  std::string human = "wrote " + out + " (" + Size(report.size) + ", hash checked) from " +
                      report.source + (report.resumed ? ", resuming an earlier transfer" : "") +
                      "\n";
  for (const std::string& s : report.liars) {
    human += "warning: " + s + " served bytes that are not this blob\n";
  }
  Print(g, o, human);
  return Status::Ok();
}

Status StatusCommand(const GlobalOptions& g) {
  AGORA_ASSIGN_OR_RETURN(json::value v, rpc::RpcClient(NodeUrl(g)).Call("blob_status"));
  Print(g, v, Pretty(v));
  return Status::Ok();
}

Status Gc(const GlobalOptions& g, int64_t grace_s) {
  json::value params = nullptr;
  if (grace_s >= 0) params = json::object{{"grace_s", grace_s}};
  AGORA_ASSIGN_OR_RETURN(json::value v, rpc::RpcClient(NodeUrl(g)).Call("blob_gc", params));
  Print(g, v, Pretty(v));
  return Status::Ok();
}

}  // namespace

void AddBlobCommands(CLI::App& app, GlobalOptions& global, std::function<Status()>& action) {
  static std::string file, hash, out;
  static std::vector<std::string> sources;
  static uint64_t idle_timeout_s = 15;
  static int64_t grace_s = -1;
  CLI::App* blob = app.add_subcommand(
      "blob", "Content-addressed files on a node: datasets, checkpoints, models");
  blob->require_subcommand(1);
  auto* put = blob->add_subcommand("put", "Store a file on the node (skipped if it has it)");
  put->add_option("FILE", file, "The file")->required();
  put->callback([&] { action = [&] { return Put(global, file); }; });
  auto* get = blob->add_subcommand(
      "get", "Download a blob by hash, checking it; resumes an interrupted download");
  get->add_option("HASH", hash, "The blob's BLAKE2b-256, 64 hex digits")->required();
  get->add_option("--out", out, "Where to write it (replaced only by checked bytes)")->required();
  get->add_option("--from", sources, "Nodes to ask, in order (repeatable; default: --node)");
  get->add_option("--idle-timeout", idle_timeout_s,
                  "Seconds a source may stay silent before the next is asked")
      ->capture_default_str();
  get->callback([&] { action = [&] { return Get(global, hash, out, sources, idle_timeout_s); }; });
  blob->add_subcommand("status", "Blobs held, bytes used, the limits")->callback([&] {
    action = [&] { return StatusCommand(global); };
  });
  auto* gc = blob->add_subcommand(
      "gc", "Remove now the blobs no open job needs, once older than the grace period");
  gc->add_option("--grace", grace_s,
                 "Seconds a blob nothing needs is kept (default: the node's gc_grace_s; 0: none)")
      ->check(CLI::Range(int64_t{0}, int64_t{365} * 86'400));
  gc->callback([&] { action = [&] { return Gc(global, grace_s); }; });
}

}  // namespace agora::node
