#include "node/roles/dispute_work.h"

#include <boost/json.hpp>
#include <optional>

#include "common/encoding.h"
#include "common/log.h"
#include "common/merkle.h"
#include "consensus/ledger/dispute.h"
#include "consensus/ledger/tx.h"
#include "node/rpc/blob_fetch.h"
#include "trainer/checkpoint.h"
#include "verify/dispute.h"
#include "verify/operator.h"
#include "verify/task.h"

namespace agora::node::roles {

namespace json = boost::json;

DisputeWork::DisputeWork(DisputeWorkOptions options, const SecretKey& key,
                         storage::BlobStore& blobs)
    : options_(std::move(options)),
      key_(key),
      blobs_(blobs),
      address_(Address::FromPublicKey(key.public_key())) {}

DisputeWork::~DisputeWork() { Stop(); }

void DisputeWork::Start() {
  loop_.Start(options_.poll_interval, [this] {
    if (Status polled = Poll(); !polled.ok()) {
      spdlog::warn("{} role: disputes: {}", options_.who, polled.ToString());
    }
  });
}

void DisputeWork::Stop() { loop_.Stop(); }

DisputeCounts DisputeWork::counts() const { return {opened_.load(), moves_.load(), votes_.load()}; }

Result<std::vector<std::string>> DisputeWork::SourcesFor(rpc::RpcClient& client,
                                                         const std::string& provider) {
  std::vector<std::string> sources = {options_.node_url};
  sources.insert(sources.end(), options_.sources.begin(), options_.sources.end());
  Result<json::value> p = client.Call("provider", json::object{{"address", provider}});
  if (p.ok()) {
    if (Result<std::string> endpoint = StringMember(*p, "blob_endpoint"); endpoint.ok()) {
      sources.push_back(*endpoint);
    }
  }
  return sources;
}

Result<const trainer::Corpus*> DisputeWork::CorpusOf(const Hash256& dataset,
                                                     const std::vector<std::string>& sources) {
  auto it = corpora_.find(dataset);
  if (it != corpora_.end()) return it->second.get();
  AGORA_RETURN_IF_ERROR(rpc::FetchBlob(blobs_, dataset, sources, RoleFetchOptions(blobs_, loop_)));
  AGORA_ASSIGN_OR_RETURN(trainer::Corpus corpus, trainer::Corpus::Load(blobs_.PathOf(dataset)));
  return corpora_.emplace(dataset, std::make_unique<trainer::Corpus>(std::move(corpus)))
      .first->second.get();
}

Result<DisputeWork::SegmentKey> DisputeWork::SegmentOf(const json::value& d) {
  AGORA_ASSIGN_OR_RETURN(uint64_t job, U64Member(d, "job"));
  AGORA_ASSIGN_OR_RETURN(uint64_t round, U64Member(d, "round"));
  AGORA_ASSIGN_OR_RETURN(uint64_t worker, U64Member(d, "worker"));
  AGORA_ASSIGN_OR_RETURN(uint64_t segment, U64Member(d, "segment"));
  AGORA_ASSIGN_OR_RETURN(Hash256 start, HashMember(d, "segment_start"));
  if (round > UINT32_MAX || worker > UINT32_MAX || segment > UINT32_MAX) {
    return Status::Internal("a dispute's round, worker or segment is out of range");
  }
  return SegmentKey{job, static_cast<uint32_t>(round), static_cast<uint32_t>(worker),
                    static_cast<uint32_t>(segment), start};
}

Result<DisputeWork::Replay*> DisputeWork::ReplayOf(rpc::RpcClient& client, const SegmentKey& key,
                                                   const std::vector<std::string>& sources) {
  const auto& [job, round, worker, segment, start] = key;
  auto it = replays_.find(key);
  if (it != replays_.end()) return it->second.get();
  AGORA_ASSIGN_OR_RETURN(market::JobSpec spec, FetchSpec(client, job));
  auto replay = std::make_unique<Replay>();
  AGORA_ASSIGN_OR_RETURN(replay->config, verify::TrainConfigOf(spec));
  AGORA_ASSIGN_OR_RETURN(replay->backend, BackendForJob(options_.device, spec));
  AGORA_ASSIGN_OR_RETURN(replay->corpus, CorpusOf(spec.dataset_hash, sources));
  AGORA_RETURN_IF_ERROR(rpc::FetchBlob(blobs_, start, sources, RoleFetchOptions(blobs_, loop_)));
  AGORA_ASSIGN_OR_RETURN(Bytes bytes, blobs_.Read(start, blobs_.options().blob_bytes_max));
  AGORA_ASSIGN_OR_RETURN(trainer::LoadedCheckpoint loaded, trainer::ParseCheckpoint(bytes));
  // The state the segment starts from is what the ledger says it is (as a
  // spot check replays it): a checkpoint whose own fields disagree hashes
  // to something else, and the game shows it.
  trainer::TrainState from = std::move(loaded.state);
  const uint32_t c = spec.checkpoint_interval;
  from.config = replay->config;
  from.data_hash = spec.dataset_hash;
  from.round = round;
  from.worker = worker;
  from.round_step = int64_t{segment} * c;
  from.step = int64_t{round} * spec.inner_steps + from.round_step;
  AGORA_ASSIGN_OR_RETURN(trainer::Trainer trainer,
                         trainer::Trainer::Create(from, *replay->corpus, replay->backend));
  replay->states.push_back(trainer.state());
  replay->hashes.push_back(trainer::CheckpointHash(trainer.state()));
  for (uint32_t k = 1; k <= c; ++k) {
    replay->loss_bits.push_back(trainer::FloatBits(trainer.Step().loss));
    replay->states.push_back(trainer.state());
    replay->hashes.push_back(trainer::CheckpointHash(trainer.state()));
  }
  return replays_.emplace(key, std::move(replay)).first->second.get();
}

Result<const kernels::OpTrace*> DisputeWork::TraceOf(Replay& replay, uint64_t step) {
  if (step == 0 || step >= replay.states.size()) {
    return Status::InvalidArgument("step " + std::to_string(step) + " is not in the segment");
  }
  auto it = replay.traces.find(step);
  if (it != replay.traces.end()) return it->second.get();
  auto trace = std::make_unique<kernels::OpTrace>(kernels::OpTrace::Options{.keep_blobs = true});
  AGORA_ASSIGN_OR_RETURN(
      trainer::Trainer trainer,
      trainer::Trainer::Create(replay.states[step - 1], *replay.corpus, replay.backend));
  {
    kernels::ScopedOpTrace scope(trace.get());
    trainer.Step();
  }
  return replay.traces.emplace(step, std::move(trace)).first->second.get();
}

Result<Hash256> DisputeWork::DeltaHashFrom(rpc::RpcClient& client, uint64_t job,
                                           const Hash256& first, const Hash256& last,
                                           const std::vector<std::string>& sources,
                                           Hash256* secret) {
  AGORA_ASSIGN_OR_RETURN(market::JobSpec spec, FetchSpec(client, job));
  AGORA_ASSIGN_OR_RETURN(trainer::TrainConfig config, verify::TrainConfigOf(spec));
  const size_t count = static_cast<size_t>(config.model.ParameterCount());
  std::vector<float> params[2];
  for (int i = 0; i < 2; ++i) {
    const Hash256& hash = i == 0 ? first : last;
    AGORA_RETURN_IF_ERROR(rpc::FetchBlob(blobs_, hash, sources, RoleFetchOptions(blobs_, loop_)));
    AGORA_ASSIGN_OR_RETURN(Bytes bytes, blobs_.Read(hash, blobs_.options().blob_bytes_max));
    // The bytes are the ones committed (fetched by hash): a file that is no
    // checkpoint, or not one of this job's model, gives no delta at all.
    Result<trainer::LoadedCheckpoint> loaded = trainer::ParseCheckpoint(bytes);
    if (!loaded.ok() || loaded->state.params.size() != count) return Hash256{};
    params[i] = std::move(loaded->state.params);
  }
  if (secret != nullptr) *secret = verify::DeltaRefereeSecret(params[0], params[1]);
  return verify::DeltaHashOf(params[0], params[1]);
}

Status DisputeWork::DefendOwnTasks(rpc::RpcClient& client) {
  AGORA_ASSIGN_OR_RETURN(const json::array unended, UnendedJobs(client));
  for (const json::value& j : unended) {
    if (loop_.stopping()) return Status::Ok();
    // One job's trouble must not leave the tasks of the others undefended.
    if (Status defended = DefendTasksOf(client, j); !defended.ok()) {
      spdlog::warn("provider role: disputes: {}", defended.ToString());
    }
  }
  return Status::Ok();
}

Status DisputeWork::DefendTasksOf(rpc::RpcClient& client, const json::value& j) {
  const std::string me = address_.ToString();
  {
    AGORA_ASSIGN_OR_RETURN(std::string job_status, StringMember(j, "status"));
    if (job_status == "open") return Status::Ok();  // nothing committed yet
    AGORA_ASSIGN_OR_RETURN(uint64_t job, U64Member(j, "id"));
    AGORA_ASSIGN_OR_RETURN(uint64_t round, U64Member(j, "round"));
    AGORA_ASSIGN_OR_RETURN(json::value answer,
                           client.Call("tasks", json::object{{"id", job}, {"from_round", round}}));
    AGORA_ASSIGN_OR_RETURN(const json::array* tasks, ArrayMember(answer, "tasks"));
    for (const json::value& t : *tasks) {
      const json::value* provider = t.as_object().if_contains("provider");
      if (provider == nullptr || !provider->is_string() || provider->as_string() != me) continue;
      AGORA_ASSIGN_OR_RETURN(std::string status, StringMember(t, "status"));
      if (status != "verifying") continue;
      // A native-tier job's fails are disputed too (referees of its class
      // replay the segment, docs/dispute.md); where too few validators fit
      // it the ledger refuses, and OpenWhereWrong leaves its later fails
      // alone (but for the delta's, which any validator referees).
      AGORA_ASSIGN_OR_RETURN(uint64_t r, U64Member(t, "round"));
      AGORA_ASSIGN_OR_RETURN(uint64_t w, U64Member(t, "worker"));
      if (r > UINT32_MAX || w > UINT32_MAX) return Status::Internal("a task id is out of range");
      AGORA_ASSIGN_OR_RETURN(
          json::value detail,
          client.Call("task", json::object{{"job", job}, {"round", r}, {"worker", w}}));
      // One task's trouble must not keep the others undefended.
      if (Status opened = OpenWhereWrong(client, job, static_cast<uint32_t>(r),
                                         static_cast<uint32_t>(w), detail);
          !opened.ok()) {
        spdlog::warn("provider role: cannot dispute the fail on {}: {}",
                     TaskName(job, static_cast<uint32_t>(r), static_cast<uint32_t>(w)),
                     opened.ToString());
      }
    }
  }
  return Status::Ok();
}

Status DisputeWork::Poll() {
  rpc::RpcClient client(options_.node_url);
  if (options_.defend_own_tasks) {
    // Its trouble (the node busy, a malformed answer) must not keep this
    // account from its moves below.
    if (Status defended = DefendOwnTasks(client); !defended.ok()) {
      spdlog::warn("{} role: disputes: {}", options_.who, defended.ToString());
    }
  }
  AGORA_ASSIGN_OR_RETURN(
      json::value answer,
      client.Call("disputes", json::object{{"open", true}, {"account", address_.ToString()}}));
  AGORA_ASSIGN_OR_RETURN(const json::array* list, ArrayMember(answer, "disputes"));
  std::set<SegmentKey> live;
  for (const json::value& d : *list) {
    if (loop_.stopping()) break;
    AGORA_ASSIGN_OR_RETURN(std::string phase, StringMember(d, "phase"));
    // One dispute's trouble must not hold up the others.
    Status done = phase == "referees" ? Vote(client, d)
                  : phase == "reveal"   ? Reveal(client, d)
                                        : Answer(client, d);
    if (!done.ok()) spdlog::warn("{} role: dispute: {}", options_.who, done.ToString());
    AGORA_ASSIGN_OR_RETURN(SegmentKey key, SegmentOf(d));
    live.insert(key);
  }
  // Replays of segments no open dispute names are done with, and the
  // witnesses of disputes closed.
  std::erase_if(replays_, [&](const auto& entry) { return !live.contains(entry.first); });
  std::set<uint64_t> open;
  for (const json::value& d : *list) {
    if (Result<uint64_t> id = U64Member(d, "id"); id.ok()) open.insert(*id);
  }
  std::erase_if(witnesses_, [&](const auto& entry) { return !open.contains(entry.first); });
  return Status::Ok();
}

Status DisputeWork::Answer(rpc::RpcClient& client, const json::value& d) {
  AGORA_ASSIGN_OR_RETURN(const json::value* turn, Member(d, "turn"));
  if (!turn->is_string()) return Status::Ok();
  AGORA_ASSIGN_OR_RETURN(std::string party,
                         StringMember(d, turn->as_string() == "provider" ? "provider" : "validator"));
  if (party != address_.ToString()) return Status::Ok();  // the other side's move
  AGORA_ASSIGN_OR_RETURN(uint64_t id, U64Member(d, "id"));
  AGORA_ASSIGN_OR_RETURN(SegmentKey key, SegmentOf(d));
  AGORA_ASSIGN_OR_RETURN(std::string provider, StringMember(d, "provider"));
  AGORA_ASSIGN_OR_RETURN(std::string phase, StringMember(d, "phase"));
  AGORA_ASSIGN_OR_RETURN(std::vector<std::string> sources, SourcesFor(client, provider));
  AGORA_ASSIGN_OR_RETURN(Replay * replay, ReplayOf(client, key, sources));
  const uint64_t c = replay->states.size() - 1;
  const uint64_t base = uint64_t{std::get<3>(key)} * c;
  AGORA_ASSIGN_OR_RETURN(uint64_t step_hi, U64Member(d, "step_hi"));
  if (step_hi <= base || step_hi > base + c) {
    return Status::Internal("dispute " + std::to_string(id) + " names step " +
                            std::to_string(step_hi) + " outside its segment");
  }
  const bool pending = d.as_object().contains("pending");
  consensus::MsgDisputeMove m;
  m.dispute_id = id;
  if (!options_.lie_file.empty() && std::filesystem::exists(options_.lie_file)) {
    // The test-only liar: disagree with every hash, then claim other outputs.
    if (phase == "validator_record") {
      AGORA_ASSIGN_OR_RETURN(std::string hex, StringMember(d, "record_provider"));
      AGORA_ASSIGN_OR_RETURN(Bytes bytes, HexDecode(hex));
      AGORA_ASSIGN_OR_RETURN(kernels::OpRecord record, kernels::DecodeOpRecord(bytes));
      record.outputs.at(0).bytes[0] ^= 1;
      m.action = consensus::DisputeAction::kRecord;
      m.record = kernels::EncodeOpRecord(record);
    } else {
      m.action = consensus::DisputeAction::kDisagree;
    }
    spdlog::warn("{} role: dispute {} ({}): LYING ({} exists)", options_.who, id, phase,
                 options_.lie_file.string());
    AGORA_RETURN_IF_ERROR(SubmitAndWait(client, key_, m));
    ++moves_;
    return Status::Ok();
  }
  if (phase == "steps") {
    AGORA_ASSIGN_OR_RETURN(uint64_t mid, U64Member(d, "step_mid"));
    const Hash256& mine = replay->hashes.at(mid - base);
    if (!pending) {
      m.action = consensus::DisputeAction::kState;
      m.hash = mine;
    } else {
      AGORA_ASSIGN_OR_RETURN(Hash256 theirs, HashMember(d, "pending"));
      m.action = theirs == mine ? consensus::DisputeAction::kAgree
                                : consensus::DisputeAction::kDisagree;
    }
  } else if (phase == "operators" || phase == "provider_record" ||
             phase == "validator_record") {
    AGORA_ASSIGN_OR_RETURN(const kernels::OpTrace* trace, TraceOf(*replay, step_hi - base));
    if (phase == "operators") {
      AGORA_ASSIGN_OR_RETURN(Hash256 lo_hash, HashMember(d, "lo_hash"));
      AGORA_ASSIGN_OR_RETURN(uint64_t mid, U64Member(d, "op_mid"));
      const std::vector<Hash256> leaves =
          verify::TraceChainLeaves(lo_hash, trace->records(), replay->hashes[step_hi - base]);
      if (mid >= leaves.size()) return Status::Internal("leaf " + std::to_string(mid) + " of " +
                                                        std::to_string(leaves.size()));
      if (!pending) {
        m.action = consensus::DisputeAction::kLeaf;
        m.hash = leaves[mid];
      } else {
        AGORA_ASSIGN_OR_RETURN(Hash256 theirs, HashMember(d, "pending"));
        m.action = theirs == leaves[mid] ? consensus::DisputeAction::kAgree
                                         : consensus::DisputeAction::kDisagree;
      }
    } else {
      AGORA_ASSIGN_OR_RETURN(uint64_t op_hi, U64Member(d, "op_hi"));
      if (op_hi == 0 || op_hi > trace->records().size()) {
        return Status::Internal("record " + std::to_string(op_hi) + " of " +
                                std::to_string(trace->records().size()));
      }
      const kernels::OpRecord& record = trace->records()[op_hi - 1];
      // The referees fetch the operator's inputs by hash: serve them.
      for (const Hash256& h : record.inputs) {
        if (h == kernels::kAbsentTensor) continue;
        const Bytes* blob = trace->FindBlob(h);
        if (blob == nullptr) return Status::Internal("the trace lacks an input blob");
        AGORA_RETURN_IF_ERROR(blobs_.Put(*blob).status());
      }
      m.action = consensus::DisputeAction::kRecord;
      m.record = kernels::EncodeOpRecord(record);
    }
  } else {
    return Status::Ok();
  }
  spdlog::info("{} role: dispute {} ({}): {}", options_.who, id, phase,
               m.action == consensus::DisputeAction::kAgree      ? "agree"
               : m.action == consensus::DisputeAction::kDisagree ? "disagree"
               : m.action == consensus::DisputeAction::kRecord   ? "record"
                                                                 : "post " + m.hash.ToHex());
  AGORA_RETURN_IF_ERROR(SubmitAndWait(client, key_, m));
  ++moves_;
  return Status::Ok();
}

// What this referee's recompute gives for dispute `d`: its digest, and
// the secret its witness is made from (verify::RefereeSecret).
Result<std::pair<Hash256, Hash256>> DisputeWork::Recompute(rpc::RpcClient& client,
                                                          const json::value& d) {
  AGORA_ASSIGN_OR_RETURN(uint64_t id, U64Member(d, "id"));
  AGORA_ASSIGN_OR_RETURN(std::string kind, StringMember(d, "referee_kind"));
  AGORA_ASSIGN_OR_RETURN(std::string provider, StringMember(d, "provider"));
  AGORA_ASSIGN_OR_RETURN(std::vector<std::string> sources, SourcesFor(client, provider));
  const rpc::BlobFetchOptions fetch = RoleFetchOptions(blobs_, loop_);
  if (kind == "operator") {
    AGORA_ASSIGN_OR_RETURN(std::string hex, StringMember(d, "record_provider"));
    AGORA_ASSIGN_OR_RETURN(Bytes bytes, HexDecode(hex));
    AGORA_ASSIGN_OR_RETURN(kernels::OpRecord record, kernels::DecodeOpRecord(bytes));
    const verify::BlobLookup lookup = [&](const Hash256& h) -> Result<Bytes> {
      AGORA_RETURN_IF_ERROR(rpc::FetchBlob(blobs_, h, sources, fetch));
      return blobs_.Read(h, blobs_.options().blob_bytes_max);
    };
    Hash256 secret;
    AGORA_ASSIGN_OR_RETURN(std::vector<Hash256> outputs,
                           verify::RecomputeOperator(record, lookup, &secret));
    return std::pair{verify::OutputsDigest(outputs), secret};
  }
  if (kind == "delta") {
    AGORA_ASSIGN_OR_RETURN(uint64_t job, U64Member(d, "job"));
    AGORA_ASSIGN_OR_RETURN(Hash256 first, HashMember(d, "lo_hash"));
    AGORA_ASSIGN_OR_RETURN(Hash256 last, HashMember(d, "hi_hash"));
    Hash256 secret;
    AGORA_ASSIGN_OR_RETURN(Hash256 delta, DeltaHashFrom(client, job, first, last, sources, &secret));
    if (delta.IsZero()) {
      // No delta (a checkpoint not of the job's model): the checkpoints'
      // bytes, fetched (by hash) for it, are what every referee has.
      Bytes checkpoints[2];
      for (int i = 0; i < 2; ++i) {
        AGORA_ASSIGN_OR_RETURN(checkpoints[i],
                               blobs_.Read(i == 0 ? first : last, blobs_.options().blob_bytes_max));
      }
      const ByteSpan parts[] = {checkpoints[0], checkpoints[1]};
      secret = verify::RefereeSecret(parts);
    }
    return std::pair{verify::DeltaDigest(delta), secret};
  }
  AGORA_ASSIGN_OR_RETURN(SegmentKey key, SegmentOf(d));
  AGORA_ASSIGN_OR_RETURN(Replay * replay, ReplayOf(client, key, sources));
  std::vector<ByteSpan> states;
  for (const Hash256& h : replay->hashes) states.push_back(h.span());
  const Hash256 secret = verify::RefereeSecret(states);
  if (kind == "losses") {
    return std::pair{verify::LossesDigest(std::get<4>(key), replay->loss_bits), secret};
  }
  AGORA_ASSIGN_OR_RETURN(uint64_t lo, U64Member(d, "step_lo"));
  AGORA_ASSIGN_OR_RETURN(uint64_t hi, U64Member(d, "step_hi"));
  const uint64_t c = replay->states.size() - 1;
  const uint64_t base = uint64_t{std::get<3>(key)} * c;
  if (lo < base || hi > base + c || lo >= hi) {
    return Status::Internal("dispute " + std::to_string(id) + " names steps outside its segment");
  }
  return std::pair{verify::StepDigest(replay->hashes[lo - base], replay->hashes[hi - base]),
                   secret};
}

Result<Hash256> DisputeWork::WitnessFor(rpc::RpcClient& client, const json::value& d,
                                        Hash256* digest) {
  AGORA_ASSIGN_OR_RETURN(uint64_t id, U64Member(d, "id"));
  AGORA_ASSIGN_OR_RETURN(uint64_t draw, U64Member(d, "referee_draws"));
  auto kept = witnesses_.find(id);
  if (kept != witnesses_.end() && kept->second.draw == draw) {
    if (digest != nullptr) *digest = kept->second.digest;
    return kept->second.witness;
  }
  AGORA_ASSIGN_OR_RETURN(auto recomputed, Recompute(client, d));
  const Hash256 witness =
      verify::RefereeWitness(id, static_cast<uint32_t>(draw), recomputed.second);
  witnesses_[id] = {draw, recomputed.first, witness};
  if (digest != nullptr) *digest = recomputed.first;
  return witness;
}

Status DisputeWork::Vote(rpc::RpcClient& client, const json::value& d) {
  AGORA_ASSIGN_OR_RETURN(const json::array* referees, ArrayMember(d, "referees"));
  bool drawn = false;
  for (const json::value& r : *referees) drawn |= r.is_string() && r.as_string() == address_.ToString();
  if (!drawn) return Status::Ok();
  AGORA_ASSIGN_OR_RETURN(const json::array* votes, ArrayMember(d, "votes"));
  for (const json::value& v : *votes) {
    AGORA_ASSIGN_OR_RETURN(std::string who, StringMember(v, "referee"));
    if (who == address_.ToString()) return Status::Ok();  // voted
  }
  AGORA_ASSIGN_OR_RETURN(uint64_t id, U64Member(d, "id"));
  AGORA_ASSIGN_OR_RETURN(std::string kind, StringMember(d, "referee_kind"));
  consensus::MsgRefereeVote vote;
  vote.dispute_id = id;
  AGORA_ASSIGN_OR_RETURN(Hash256 witness, WitnessFor(client, d, &vote.digest));
  vote.seal = consensus::dispute::RefereeSeal(id, witness, address_);
  spdlog::info("{} role: referee of dispute {} ({}): votes {}, witness sealed", options_.who, id,
               kind, vote.digest.ToHex());
  AGORA_RETURN_IF_ERROR(SubmitAndWait(client, key_, vote));
  ++votes_;
  return Status::Ok();
}

Status DisputeWork::Reveal(rpc::RpcClient& client, const json::value& d) {
  AGORA_ASSIGN_OR_RETURN(const json::array* votes, ArrayMember(d, "votes"));
  bool pending = false;
  for (const json::value& v : *votes) {
    AGORA_ASSIGN_OR_RETURN(std::string who, StringMember(v, "referee"));
    if (who == address_.ToString()) pending = !v.as_object().contains("witness");
  }
  if (!pending) return Status::Ok();  // no vote of this account, or shown
  AGORA_ASSIGN_OR_RETURN(uint64_t id, U64Member(d, "id"));
  consensus::MsgRefereeReveal reveal;
  reveal.dispute_id = id;
  AGORA_ASSIGN_OR_RETURN(reveal.witness, WitnessFor(client, d, nullptr));
  spdlog::info("{} role: referee of dispute {}: reveals its witness", options_.who, id);
  AGORA_RETURN_IF_ERROR(SubmitAndWait(client, key_, reveal));
  return Status::Ok();
}

Status DisputeWork::OpenWhereWrong(rpc::RpcClient& client, uint64_t job, uint32_t round,
                                   uint32_t worker, const json::value& task) {
  const std::string name = TaskName(job, round, worker);
  const json::value* slots = task.as_object().if_contains("slots");
  const json::value* commitment = task.as_object().if_contains("commitment");
  if (slots == nullptr || !slots->is_array() || commitment == nullptr) return Status::Ok();
  AGORA_ASSIGN_OR_RETURN(Hash256 root, HashMember(*commitment, "checkpoint_root"));
  for (const json::value& s : slots->as_array()) {
    AGORA_ASSIGN_OR_RETURN(std::string state, StringMember(s, "state"));
    if (state != "pending" || s.as_object().contains("dispute")) continue;
    AGORA_ASSIGN_OR_RETURN(uint64_t slot, U64Member(s, "slot"));
    AGORA_ASSIGN_OR_RETURN(const json::array* verdicts, ArrayMember(s, "verdicts"));
    for (size_t i = 0; i < verdicts->size(); ++i) {
      const json::object& v = (*verdicts)[i].as_object();
      const json::value* reason = v.if_contains("reason");
      if (reason == nullptr || !reason->is_string()) continue;
      const std::string why(reason->as_string());
      if (why != "end_state" && why != "losses" && why != "delta") continue;
      if (why != "delta" && undisputable_jobs_.contains(job)) continue;
      if (v.contains("overturned")) continue;
      const std::string key =
          name + "/" + root.ToHex() + "/" + std::to_string(slot) + "/" + std::to_string(i);
      if (decided_.contains(key)) continue;
      AGORA_ASSIGN_OR_RETURN(uint64_t segment, U64Member(s, "segment"));
      Result<std::vector<Hash256>> list = blobs_.GetManifest(root);
      if (!list.ok() || list->size() <= segment + 1) {
        spdlog::warn("provider role: cannot dispute the fail on {} slot {}: no checkpoint list",
                     name, slot);
        decided_.insert(key);
        continue;
      }
      AGORA_ASSIGN_OR_RETURN(std::vector<std::string> sources,
                             SourcesFor(client, address_.ToString()));
      // What its own work says of the claim; empty: the fail is wrong.
      std::string stands;
      size_t lo = segment, hi = segment + 1;
      if (why == "delta") {
        lo = 0;
        hi = list->size() - 1;
        AGORA_ASSIGN_OR_RETURN(Hash256 committed, HashMember(*commitment, "delta_hash"));
        AGORA_ASSIGN_OR_RETURN(Hash256 mine,
                               DeltaHashFrom(client, job, list->front(), list->back(), sources));
        if (mine != committed) stands = "its checkpoints do not give the committed delta either";
      } else {
        AGORA_ASSIGN_OR_RETURN(
            Replay * replay,
            ReplayOf(client, SegmentKey{job, round, worker, static_cast<uint32_t>(segment),
                                        (*list)[segment]},
                     sources));
        if (replay->hashes.back() != (*list)[segment + 1]) {
          stands = "this node's replay does not reach the committed end either";
        } else if (why == "losses") {
          AGORA_ASSIGN_OR_RETURN(const json::array* bits, ArrayMember(*commitment, "losses_bits"));
          const size_t c = replay->loss_bits.size();
          bool same = bits->size() >= (segment + 1) * c;
          for (size_t k = 0; same && k < c; ++k) {
            const json::value& b = (*bits)[segment * c + k];
            same = b.is_number() && b.to_number<uint64_t>() == replay->loss_bits[k];
          }
          if (!same) stands = "this node's replay does not give the committed losses either";
        }
      }
      if (!stands.empty()) {
        spdlog::warn("provider role: the fail ({}) on {} slot {} stands: {}", why, name, slot,
                     stands);
        decided_.insert(key);
        continue;
      }
      consensus::MsgOpenDispute open;
      open.job_id = job;
      open.round = round;
      open.worker = worker;
      open.slot = static_cast<uint32_t>(slot);
      open.verdict = static_cast<uint32_t>(i);
      open.start_hash = (*list)[lo];
      open.start_proof = merkle::Prove(*list, lo).siblings;
      open.committed_end = (*list)[hi];
      open.end_proof = merkle::Prove(*list, hi).siblings;
      spdlog::info("provider role: disputing the fail ({}) on {} slot {} (verdict {})", why, name,
                   slot, i);
      if (Status sent = SubmitAndWait(client, key_, open); !sent.ok()) {
        // A refusal by the ledger stands (and each try pays a fee); a
        // transaction that did not get through is tried at the next poll.
        spdlog::warn("provider role: {}", sent.ToString());
        if (sent.code() == StatusCode::kFailedPrecondition) decided_.insert(key);
        if (sent.message().find("settled by replays only") != std::string::npos) {
          undisputable_jobs_.insert(job);
        }
        break;
      }
      decided_.insert(key);
      ++opened_;
      break;  // one dispute at a time per slot
    }
  }
  return Status::Ok();
}

}  // namespace agora::node::roles
