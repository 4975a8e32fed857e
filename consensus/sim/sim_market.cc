// Chain mode's market and verification drivers: providers, a job, the
// providers' stand-in training and the drawn validators' replays, round
// results, and the market invariants.
#include <algorithm>
#include <optional>
#include <set>
#include <string>

#include "common/check.h"
#include "common/hash.h"
#include "common/merkle.h"
#include "common/vrf.h"
#include "consensus/ledger/marketplace.h"
#include "consensus/ledger/staking.h"
#include "consensus/ledger/verification.h"
#include "consensus/sim/simulation_impl.h"
#include "market/pricing.h"
#include "verify/sampling.h"

namespace agora::consensus::sim::detail {
namespace {

// Market and verification: two client accounts become providers (one
// honest, one that cheats on its first task in a way the seed picks),
// another posts a job; the providers commit stand-in training (a hash chain
// over the checkpoints, cheap enough for thousands of seeds), the drawn
// validators replay it (honest ones truly; Byzantine ones pass the cheat
// lazily and claim every other task's blobs unavailable) and aggregate
// finished rounds. Invariants: no honest provider is ever found
// fraudulent, no task is paid twice, and a running job never goes
// kJobStallHeightsMax heights without progress.
constexpr uint64_t kReplayProfileHeight = 1;
constexpr uint64_t kMarketProviderHeight = 2;
constexpr uint64_t kMarketJobHeight = 4;
constexpr uint64_t kJobStallHeightsMax = 16;

// Stand-in training for the simulator (the real one is verify::RunTask): a
// hash chain with the same shape. Replaying segment j from checkpoint j
// gives SimSegment(checkpoint j, j); its losses and witness state follow
// from the same start.
Hash256 SimHash(std::string_view what, const Hash256& a, uint64_t x, uint64_t y = 0) {
  Blake2b256Hasher h;
  h.Update(AsBytes(what));
  h.Update(a.bytes);
  Bytes b;
  PutU64BigEndian(b, x);
  PutU64BigEndian(b, y);
  h.Update(b);
  return h.Finish();
}
Hash256 SimSegment(const Hash256& start, uint32_t j) { return SimHash("sim-seg", start, j); }
Hash256 SimWitness(const Hash256& start, uint32_t j, uint32_t step) {
  return SimHash("sim-witness", start, j, step);
}
uint32_t SimLoss(const Hash256& start, uint32_t j, uint32_t i) {
  const Hash256 h = SimHash("sim-loss", start, j, i);
  return 0x40000000u | (uint32_t{h.bytes[0]} << 8 | h.bytes[1]);  // a float in [2, 2.03)
}
Hash256 SimDelta(const Hash256& last) { return SimHash("sim-delta", last, 0); }

std::string SimTaskName(const marketplace::TaskId& t) {
  return std::to_string(t.job) + "/" + std::to_string(t.round) + "/" + std::to_string(t.worker);
}

}  // namespace

void Simulation::ClientMarket(Node& reference, uint64_t height) {
  const uint32_t n = static_cast<uint32_t>(genesis_.size());
  const uint32_t provider = n + 1, client = n + 2, cheater = n + 3;
  if (height == kReplayProfileHeight && n >= 4) {
    // One validator, picked by the seed, replays nothing above one
    // parameter: no draw for job 1 may pick it while enough others fit
    // (CheckProfileDraw). Its profile takes effect verify.delay_blocks
    // later, before the job is posted.
    Rng pick(options_.seed ^ 0x5eed'c0de'0000'0002ull);
    narrow_validator_ = static_cast<uint32_t>(pick.Below(n));
    Submit(*narrow_validator_, MsgSetReplayProfile{{market::HardwareClass::kCpu}, 1});
  }
  if (height == kMarketProviderHeight) {
    // The providers' stake is not the random client's to unstake (not in
    // staked_uagr): a provider left below market.provider_stake_min_uagr
    // takes no task, and a running job whose tasks nobody can take waits
    // for its client by design (docs/market.md), which the no-stall
    // invariant would report. Seed 200617 did, once fraud waited for its
    // dispute window (2026-12-05).
    Submit(provider, MsgStake{20 * kUagr});
    Submit(provider, MsgRegisterProvider{ProviderOffer{market::HardwareClass::kCpu, 100, 2, 1'000,
                                                       "http://127.0.0.1:9000"}});
    // Cheaper, so it gets a task first.
    Submit(cheater, MsgStake{20 * kUagr});
    Submit(cheater, MsgRegisterProvider{ProviderOffer{market::HardwareClass::kCpu, 100, 1, 900,
                                                      "http://127.0.0.1:9001"}});
  }
  if (height == kMarketJobHeight) {
    market::JobSpec spec;
    spec.dataset_hash = Blake2b256(AsBytes("sim data"));
    spec.dataset_bytes = 100'000;
    spec.rounds = 2;
    spec.workers = 2;
    const uint64_t need =
        market::BudgetNeeded(market::TaskCount(spec), market::TaskWorkWu(spec), 2'000).value();
    // On odd seeds the client bounds its tasks' deadlines at exactly what
    // the providers' declared speed (100 wu/s) gets: the scheduler's bound
    // at its edge, so every assignment and reassignment passes through it.
    uint64_t deadline_max = 0;
    if (options_.seed % 2 == 1) {
      deadline_max = market::DeadlineBlocks(
          market::TaskWorkWu(spec), 100,
          marketplace::DeadlineRuleOf(LoadParams(reference.ledger->committed())));
    }
    Submit(client, MsgPostJob{spec, 2 * need, 2'000, "", deadline_max});
  }
}

// Providers commit their assigned tasks; drawn validators send verdicts and
// round results, from the reference node's committed state.
void Simulation::ClientVerify(Node& reference, uint64_t height) {
  StateReader& state = reference.ledger->committed();
  const uint32_t n = static_cast<uint32_t>(genesis_.size());
  const uint32_t provider = n + 1, cheater = n + 3;
  std::optional<marketplace::Job> job = marketplace::GetJob(state, 1);
  if (!job) return;
  const market::JobSpec& spec = job->spec;
  const uint32_t c = spec.checkpoint_interval, segments = spec.inner_steps / c;
  // Which account an address is, and whether it behaves.
  auto account_of = [&](const Address& a) -> std::optional<uint32_t> {
    for (uint32_t i = 0; i < accounts_.size(); ++i) {
      if (accounts_[i].address == a) return i;
    }
    return std::nullopt;
  };
  auto validator_node = [&](const Address& a) -> const Node* {
    std::optional<staking::ValidatorRecord> v = staking::GetValidator(state, a);
    if (!v) return nullptr;
    for (const Node& node : nodes_) {
      if (node.key < secrets_.size() && secrets_[node.key].public_key() == v->consensus_key) {
        return &node;
      }
    }
    return nullptr;
  };
  for (const auto& [id, task] : marketplace::TasksOf(state, 1, 64)) {
    const std::string name = SimTaskName(id);
    // 1. The provider commits what it trained.
    if (task.status == marketplace::TaskStatus::kAssigned && task.provider) {
      const std::optional<uint32_t> who = account_of(*task.provider);
      const std::string key = "commit " + name + " " + std::to_string(task.attempts);
      if (who && (*who == provider || *who == cheater) && verify_sent_.insert(key).second) {
        SimWork w;
        // Training starts from the state the round's record names.
        const std::optional<verification::RoundRecord> start =
            verification::GetRound(state, id.job, id.round);
        AGORA_CHECK(start && start->recorded);
        w.checkpoints.push_back(start->start_hashes.at(id.worker));
        for (uint32_t j = 0; j < segments; ++j) {
          for (uint32_t i = 0; i < c; ++i) w.losses.push_back(SimLoss(w.checkpoints[j], j, i));
          w.checkpoints.push_back(SimSegment(w.checkpoints[j], j));
        }
        w.delta_hash = SimDelta(w.checkpoints.back());
        if (*who == cheater && !cheated_) {
          cheated_ = true;
          w.cheat = true;
          result_.cheat_committed = true;
          Rng pick(options_.seed ^ 0x5eed'c0de'0000'0001ull);
          const uint64_t kind = pick.Below(4);
          const uint32_t faked = static_cast<uint32_t>(pick.Below(segments));
          if (kind == 0) {
            // Lazy: skips segment `faked` (a made-up end state), then goes on
            // honestly from there: only that segment fails a replay.
            result_.cheat_kind = "lazy";
            w.checkpoints[faked + 1] = SimHash("sim-fake", w.checkpoints[faked], faked);
            w.losses.resize(faked * c + c);
            for (uint32_t j = faked + 1; j < segments; ++j) {
              for (uint32_t i = 0; i < c; ++i) w.losses.push_back(SimLoss(w.checkpoints[j], j, i));
              w.checkpoints[j + 1] = SimSegment(w.checkpoints[j], j);
            }
            w.delta_hash = SimDelta(w.checkpoints.back());
          } else if (kind == 1) {
            result_.cheat_kind = "liar";  // better losses than it reached, every step
            for (uint32_t& l : w.losses) l -= 0x100;
          } else if (kind == 2) {
            result_.cheat_kind = "stale-delta";  // last round's delta, or any other
            w.delta_hash = SimHash("sim-stale", w.checkpoints.back(), 0);
          } else {
            result_.cheat_kind = "withholder";
            w.withheld = true;
          }
        }
        MsgCommitTask m{id.job,         id.round, id.worker, merkle::Root(w.checkpoints),
                        w.delta_hash,   w.losses, merkle::Prove(w.checkpoints, 0).siblings};
        works_[{name, task.attempts}] = std::move(w);
        Submit(*who, m);
      }
    }
    // 2. The drawn validators replay.
    if (task.status != marketplace::TaskStatus::kVerifying) continue;
    std::optional<verification::Commitment> commit = verification::GetCommitment(state, id);
    auto work_it = works_.find({name, task.attempts});
    if (!commit || work_it == works_.end()) continue;
    const SimWork& w = work_it->second;
    const std::vector<verification::Slot> slots = verification::GetSlots(state, id, commit->slots);
    for (uint32_t k = 0; k < slots.size(); ++k) {
      const verification::Slot& slot = slots[k];
      if (slot.state != verification::SlotState::kPending || !slot.assignee) continue;
      const std::string key = "verdict " + name + " " + std::to_string(task.attempts) + " " +
                              std::to_string(k) + " " + slot.assignee->ToString();
      const Node* node = validator_node(*slot.assignee);
      const std::optional<uint32_t> account = account_of(*slot.assignee);
      // A validator that is down does not answer: it is replaced.
      if (node == nullptr || !account || !node->up || !verify_sent_.insert(key).second) continue;
      MsgVerdict v;
      v.job_id = id.job;
      v.round = id.round;
      v.worker = id.worker;
      v.slot = k;
      verify::SegmentChoice choice{slot.segment, slot.witness_step};
      if (!slot.chosen) {
        const Bytes alpha = verification::SegmentVrfInput(id, commit->checkpoint_root, k);
        const VrfProof proof = VrfProve(secrets_[node->key], alpha);
        v.vrf_proof = proof;
        choice = verify::SegmentFromVrf(VrfProofToHash(proof).bytes, verification::TaskBytes(id),
                                        segments, c);
      }
      // Byzantine validators act as one coalition against the network: they
      // pass the cheat without replaying it, and try to frame every other
      // task by claiming its blobs unavailable (which the ledger must not
      // believe from less than a third of the power).
      const bool lazy = node->behaviour != Behaviour::kHonest;
      if ((w.withheld && !lazy) || (lazy && !w.cheat)) {
        v.outcome = VerdictOutcome::kUnavailable;
        Submit(*account, v);
        continue;
      }
      const uint32_t j = choice.segment;
      auto path = [&](uint64_t i) { return merkle::Prove(w.checkpoints, i).siblings; };
      v.start_hash = w.checkpoints[j];
      v.start_proof = path(j);
      v.committed_end = w.checkpoints[j + 1];
      v.end_proof = path(j + 1);
      v.final_hash = w.checkpoints[segments];
      v.final_proof = path(segments);
      if (lazy) {
        if (w.cheat) result_.cheat_met_lazy = true;
        // Echoes the provider without replaying; the witness is a guess.
        v.replayed_end = v.committed_end;
        v.witness_hash = SimHash("sim-guess", v.start_hash, j);
        v.losses.assign(w.losses.begin() + j * c, w.losses.begin() + j * c + c);
        v.outcome = VerdictOutcome::kPass;
      } else {
        v.replayed_end = SimSegment(w.checkpoints[j], j);
        v.witness_hash = SimWitness(w.checkpoints[j], j, choice.witness_step);
        for (uint32_t i = 0; i < c; ++i) v.losses.push_back(SimLoss(w.checkpoints[j], j, i));
        const bool end_ok = v.replayed_end == v.committed_end;
        const bool losses_ok = std::equal(v.losses.begin(), v.losses.end(), w.losses.begin() + j * c);
        const bool delta_ok = SimDelta(w.checkpoints[segments]) == w.delta_hash;
        v.outcome = end_ok && losses_ok && delta_ok ? VerdictOutcome::kPass : VerdictOutcome::kFail;
        v.reason = !end_ok      ? FailReason::kEndState
                   : !losses_ok ? FailReason::kLosses
                   : !delta_ok  ? FailReason::kDelta
                                : FailReason::kNone;
      }
      // Sealed unless it opens an earlier sealed pass.
      v.witness_hash =
          verification::WitnessToSend(slot, v.replayed_end, v.witness_hash, *slot.assignee);
      Submit(*account, v);
    }
  }
  // 3. Aggregators: the weights at the start of each round (a commitment,
  // or the values when they open an earlier one), with checkpoint 0 of
  // each of its tasks.
  for (const verification::RoundRecord& r : verification::RoundsOf(state, 1, 64)) {
    if (r.recorded || r.abandoned) continue;
    for (const Address& a : r.assignees) {
      const std::string key = "round " + std::to_string(r.round) + " " + a.ToString() + " " +
                              std::to_string(r.due_height);
      const Node* node = validator_node(a);
      const std::optional<uint32_t> account = account_of(a);
      if (node == nullptr || !account || !node->up || !verify_sent_.insert(key).second) continue;
      const bool honest = node->behaviour == Behaviour::kHonest;
      MsgRoundResult m;
      m.job_id = 1;
      m.round = r.round;
      m.params_hash = SimHash(honest ? "sim-weights" : "sim-junk", Blake2b256(AsBytes("job 1")),
                              r.round, honest ? 0 : node->key);
      m.validation_loss = 0x40000000u + r.round;
      if (r.round < spec.rounds) {
        for (uint32_t k = 0; k < spec.workers; ++k) {
          const std::string task = SimTaskName(marketplace::TaskId{1, r.round, k});
          m.start_hashes.push_back(SimHash("sim-start", Blake2b256(AsBytes(task)), r.round,
                                           honest ? 0 : node->key));
        }
      }
      // In the clear only to open an earlier commitment.
      const Hash256 digest =
          verification::RoundResultDigest(m.params_hash, m.validation_loss, m.start_hashes);
      if (!verification::OpensARoundCommitment(r.results, digest)) {
        m.commitment = verification::RoundResultCommitment(digest, a);
        m.params_hash = Hash256{};
        m.validation_loss = 0;
        m.start_hashes.clear();
      }
      Submit(*account, m);
    }
  }
  (void)height;
}

// Figures and the at-most-once payment invariant, from the events of the
// first honest commit of each height.
void Simulation::CountVerification(const consensus::Event& e, uint64_t height) {
  auto attr = [&](std::string_view name) -> std::string {
    for (const auto& [k, v] : e.attributes) {
      if (k == name) return v;
    }
    return "";
  };
  static const std::set<std::string> kProgress = {
      "task_assigned",   "task_committed",      "task_sampled",    "verdict",
      "task_passed",     "task_failed",         "validator_drawn", "task_missed",
      "round_recorded",  "round_record_opened", "round_result",    "aggregator_drawn"};
  if (kProgress.count(e.type) && (attr("job_id") == "1" || attr("task").rfind("1/", 0) == 0)) {
    job_progress_height_ = height;
  }
  const uint32_t n = static_cast<uint32_t>(genesis_.size());
  if (e.type == "task_passed") {
    ++result_.tasks_passed;
    if (++paid_tasks_[attr("task")] > 1) {
      Violation("market: task " + attr("task") + " was paid twice (height " +
                std::to_string(height) + ")");
    }
  } else if (e.type == "verdict") {
    ++result_.verdicts;
    result_.claims += attr("outcome") == "unavailable";
  } else if (e.type == "verdict_claim_refuted") {
    ++result_.claims_refuted;
  } else if (e.type == "task_failed") {
    ++result_.frauds;
    if (attr("provider") == accounts_[n + 3].address.ToString()) result_.cheat_caught = true;
  } else if (e.type == "round_recorded") {
    ++result_.rounds_recorded;
  } else if (e.type == "verdict_outvoted" || e.type == "round_result_outvoted") {
    ++result_.outvoted;
  } else if (e.type == "job_ended" && attr("job_id") == "1") {
    result_.job_finished = attr("status") == "finished";
  }
}

// A draw for job 1 (a slot's validator or a round's aggregator) picks a
// validator whose replay profile does not fit the job only while fewer than
// the draw's minimum (1 for a slot, 2 for a round record) of the drawable
// validators fit. Checked against the state after the block, which may
// differ from the draw's by that block's jailings: so the violation needs
// three fitting validators besides it.
void Simulation::CheckProfileDraw(Node& node, const consensus::Event& e, uint64_t height) {
  if (!narrow_validator_ || (e.type != "validator_drawn" && e.type != "aggregator_drawn")) return;
  const Address& narrow = accounts_[*narrow_validator_].address;
  bool named = false;
  for (const auto& [k, v] : e.attributes) named |= k == "validator" && v == narrow.ToString();
  if (!named) return;
  StateReader& state = node.ledger->committed();
  std::optional<marketplace::Job> job = marketplace::GetJob(state, 1);
  if (!job) return;
  ++result_.narrow_draws;
  const uint64_t floor = LoadParams(state).verify_replay_params_floor;
  if (staking::CanReplay(staking::GetReplayProfile(state, narrow, height), job->spec, floor)) {
    return;
  }
  size_t fitting = 0;
  for (const staking::ValidatorRecord& v : staking::DrawableValidators(state, height)) {
    if (v.operator_address == narrow) continue;
    fitting += staking::CanReplay(staking::GetReplayProfile(state, v.operator_address, height),
                                  job->spec, floor);
  }
  if (fitting >= 3) {
    Violation("verification: " + e.type + " picked validator " + narrow.ToString() +
              ", whose replay profile does not fit job 1, while " + std::to_string(fitting) +
              " validators that fit were drawable (height " + std::to_string(height) + ")");
  }
}

// The market and verification invariants, on every honest node after every
// block.
void Simulation::CheckMarket(Node& node, uint64_t height, const std::string& where) {
  StateReader& state = node.ledger->committed();
  const uint32_t n = static_cast<uint32_t>(genesis_.size());
  std::optional<marketplace::Provider> honest =
      marketplace::GetProvider(state, accounts_[n + 1].address);
  if (honest && honest->tasks_failed != 0) {
    Violation("verification: the honest provider was found fraudulent" + where);
  }
  std::optional<marketplace::Job> job = marketplace::GetJob(state, 1);
  if (job && narrow_validator_ && !result_.narrow_in_force &&
      !staking::CanReplay(
          staking::GetReplayProfile(state, accounts_[*narrow_validator_].address, height),
          job->spec, LoadParams(state).verify_replay_params_floor)) {
    result_.narrow_in_force = true;
  }
  // A deadline bound holds for every assignment, reassignments included.
  if (job && job->deadline_blocks_max != 0) {
    for (const auto& [id, task] : marketplace::TasksOf(state, 1, 64)) {
      if (task.status == marketplace::TaskStatus::kAssigned &&
          task.deadline_height - task.assigned_height > job->deadline_blocks_max) {
        Violation("market: task " + SimTaskName(id) + " got " +
                  std::to_string(task.deadline_height - task.assigned_height) +
                  " blocks, above its job's bound of " + std::to_string(job->deadline_blocks_max) +
                  where);
      }
    }
  }
  if (job && (job->status == marketplace::JobStatus::kOpen ||
              job->status == marketplace::JobStatus::kRunning) &&
      job_progress_height_ != 0 && height > job_progress_height_ + kJobStallHeightsMax) {
    // What each task waits for, so that a stall can be read off the line.
    std::string tasks;
    for (const auto& [id, task] : marketplace::TasksOf(state, 1, 64)) {
      tasks += " " + SimTaskName(id) + "=" + std::string(marketplace::TaskStatusName(task.status));
      const std::optional<verification::Commitment> c = verification::GetCommitment(state, id);
      if (task.status != marketplace::TaskStatus::kVerifying || !c) continue;
      for (const verification::Slot& slot : verification::GetSlots(state, id, c->slots)) {
        tasks += "[due " + std::to_string(slot.due_height) +
                 (slot.assignee ? " awaiting" : "") + (slot.dispute != 0 ? " disputed" : "");
        for (const verification::VerdictRecord& v : slot.verdicts) {
          tasks += v.overturned ? " x" : " ";
          tasks += v.outcome == VerdictOutcome::kPass   ? "pass"
                   : v.outcome == VerdictOutcome::kFail ? "fail"
                                                        : "unavailable";
          tasks += "@" + std::to_string(v.height);
        }
        tasks += "]";
      }
    }
    for (uint32_t who : {n + 1, n + 3}) {
      const Address& a = accounts_[who].address;
      if (std::optional<marketplace::Provider> p = marketplace::GetProvider(state, a)) {
        tasks += "; provider " + std::to_string(who) + " running " + std::to_string(p->running) +
                 "/" + std::to_string(p->offer.capacity_tasks) + " stake " +
                 std::to_string(staking::GetStake(state, a)) + " locked " +
                 std::to_string(staking::GetLocked(state, a)) + " reputation " +
                 std::to_string(p->reputation_ppm);
      }
    }
    Violation("market: job 1 made no progress for " + std::to_string(kJobStallHeightsMax) +
              " heights (last at " + std::to_string(job_progress_height_) + "; tasks" + tasks +
              ")" + where);
  }
}

}  // namespace agora::consensus::sim::detail
