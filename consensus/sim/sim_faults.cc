// The fault plan: message delays, loss and duplication, Byzantine
// validators and twins, partitions, crashes, and the lock trap.
#include <algorithm>
#include <set>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "consensus/sim/simulation_impl.h"

namespace agora::consensus::sim::detail {

void Simulation::PlanFaults() {
  if (script_ != nullptr) {
    PlanScript();
    return;
  }
  const FaultMix mix = options_.mix;
  const uint32_t n = static_cast<uint32_t>(genesis_.size());
  uint64_t total = 0;
  for (const auto& v : genesis_) total += v.power;
  if (options_.fixed_delay_us != 0) {
    plan_.delay_min_us = plan_.delay_max_us = options_.fixed_delay_us;
  } else if (mix == FaultMix::kLossy || mix == FaultMix::kChaos) {
    plan_.delay_max_us = rng_.Range(50, 400) * kMs;
    plan_.loss_ppm = rng_.Range(0, 200'000);
    plan_.duplicate_ppm = rng_.Range(0, 100'000);
  } else {
    plan_.delay_max_us = rng_.Range(5, 150) * kMs;
  }

  // Byzantine validators: strictly below 1/3 of the power, except in the
  // mix that puts exactly 1/3 on twins to show where the bound lies.
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = i;
  for (uint32_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng_.Below(i)]);
  if (mix == FaultMix::kOneThirdTwins) {
    nodes_[order[0]].behaviour = nodes_[order[1]].behaviour = Behaviour::kTwin;
    plan_.check_liveness = false;
  } else if (mix == FaultMix::kByzantine || mix == FaultMix::kChaos) {
    uint64_t byzantine = 0;
    const Behaviour kinds[] = {Behaviour::kSilent, Behaviour::kEquivocatingProposer,
                               Behaviour::kDoubleVoter, Behaviour::kRandomVoter, Behaviour::kTwin};
    for (uint32_t i : order) {
      if (3 * (byzantine + genesis_[i].power) >= total) continue;
      if (rng_.Below(3) == 0) continue;
      byzantine += genesis_[i].power;
      nodes_[i].behaviour = kinds[rng_.Below(5)];
    }
  }
  // Twins: a second endpoint with the same key.
  for (uint32_t i = 0; i < n; ++i) {
    if (nodes_[i].behaviour != Behaviour::kTwin) continue;
    nodes_.emplace_back();
    nodes_.back().key = i;
    nodes_.back().behaviour = Behaviour::kTwin;
    nodes_.back().side = 1;
  }
  for (uint32_t id = 0; id < nodes_.size(); ++id) {
    if (nodes_[id].behaviour != Behaviour::kTwin) nodes_[id].side = rng_.Below(2);
  }

  uint64_t heal = 0;
  if (mix == FaultMix::kPartition || mix == FaultMix::kChaos || mix == FaultMix::kOneThirdTwins) {
    uint64_t t = rng_.Range(0, 2000) * kMs;
    const uint64_t count = mix == FaultMix::kOneThirdTwins ? 1 : rng_.Range(1, 3);
    for (uint64_t k = 0; k < count; ++k) {
      FaultPlan::Partition p{t, t + rng_.Range(500, 5000) * kMs, {}};
      for (uint32_t id = 0; id < nodes_.size(); ++id) {
        // Twins split by side; everyone else at random.
        p.group.push_back(mix == FaultMix::kOneThirdTwins ? nodes_[id].side
                                                          : static_cast<uint32_t>(rng_.Below(2)));
      }
      if (mix == FaultMix::kOneThirdTwins) {
        // The honest validators split two and two.
        uint32_t side = 0;
        for (uint32_t id = 0; id < n; ++id) {
          if (nodes_[id].behaviour == Behaviour::kHonest) p.group[id] = (side++) % 2;
        }
      }
      t = p.end_us + rng_.Range(100, 2000) * kMs;
      heal = std::max(heal, p.end_us);
      plan_.partitions.push_back(std::move(p));
    }
  }
  if (mix == FaultMix::kCrash || mix == FaultMix::kChaos) {
    const uint64_t count = rng_.Range(1, std::max<uint64_t>(1, n / 2));
    for (uint64_t k = 0; k < count; ++k) {
      uint32_t id = static_cast<uint32_t>(rng_.Below(n));
      if (nodes_[id].behaviour != Behaviour::kHonest) continue;
      uint64_t at = rng_.Range(0, 8000) * kMs;
      FaultPlan::Crash c{id, at, at + rng_.Range(200, 4000) * kMs};
      // A node is down at most once at a time. Two overlapping windows would
      // restart a node that is running: a fresh core forgets what the old one
      // saw while the simulator still holds it to report equivocations among
      // those votes, and the old core's timers fire into the new one.
      const bool overlaps = std::any_of(
          plan_.crashes.begin(), plan_.crashes.end(), [&](const FaultPlan::Crash& other) {
            return other.node == id && c.at_us <= other.restart_us && other.at_us <= c.restart_us;
          });
      if (overlaps) continue;
      heal = std::max(heal, c.restart_us);
      plan_.crashes.push_back(c);
    }
  }
  if (mix == FaultMix::kLockTrap) heal = kLockTrapCapUs;
  plan_.heal_us = heal;
}

// What makes a script unrunnable, or "" (Run checks before Setup).
std::string Simulation::CheckScript() const {
  if (options_.ledger) return "scenarios run without chain mode (--ledger)";
  const SimScript& s = *script_;
  if (s.validators < 4) return "a scenario needs at least 4 validators";
  if (s.delay_us == 0) return "a scenario needs a message delay";
  std::set<uint32_t> byzantine;
  for (const auto& [id, behaviour] : s.behaviours) {
    if (id >= s.validators) {
      return "behaviour for validator " + std::to_string(id) + " of " +
             std::to_string(s.validators);
    }
    if (behaviour == Behaviour::kTwin) return "scenarios have no twins";
    byzantine.insert(id);
  }
  for (const auto& c : s.crashes) {
    if (c.node >= s.validators) {
      return "crash of validator " + std::to_string(c.node) + " of " +
             std::to_string(s.validators);
    }
    if (byzantine.count(c.node)) return "crashes are for honest validators";
    if (c.restart_us <= c.at_us) return "a crash must end after it starts";
  }
  // Equal stake: Byzantine validators and those down for good together stay
  // below a third, or liveness could not be asked of the rest.
  std::set<uint32_t> faulty = byzantine;
  for (const auto& c : s.crashes) {
    if (c.restart_us == SimScript::kNever) faulty.insert(c.node);
  }
  if (3 * faulty.size() >= s.validators) {
    return "Byzantine and crashed-for-good validators must stay below a third";
  }
  for (const auto& w : s.withholds) {
    if (w.kind != SimScript::Kind::kProposal && w.from >= s.validators) {
      return "withhold from validator " + std::to_string(w.from);
    }
    for (uint32_t to : w.to) {
      if (to >= s.validators) return "withhold to validator " + std::to_string(to);
    }
  }
  return "";
}

void Simulation::PlanScript() {
  const SimScript& s = *script_;
  plan_.delay_min_us = plan_.delay_max_us = s.delay_us;
  for (const auto& [id, behaviour] : s.behaviours) nodes_[id].behaviour = behaviour;
  for (uint32_t id = 0; id < nodes_.size(); ++id) nodes_[id].side = id % 2;
  // One outage per node from the first crash to the last restart of windows
  // that overlap: a down node is never crashed again, a running one never
  // restarted.
  std::vector<SimScript::Crash> crashes = s.crashes;
  std::sort(crashes.begin(), crashes.end(), [](const auto& a, const auto& b) {
    return std::tie(a.node, a.at_us) < std::tie(b.node, b.at_us);
  });
  uint64_t heal = 0;
  for (const auto& c : crashes) {
    FaultPlan::Crash* last = plan_.crashes.empty() ? nullptr : &plan_.crashes.back();
    if (last != nullptr && last->node == c.node && c.at_us <= last->restart_us) {
      last->restart_us = std::max(last->restart_us, c.restart_us);
    } else {
      plan_.crashes.push_back(FaultPlan::Crash{c.node, c.at_us, c.restart_us});
    }
  }
  for (const auto& c : plan_.crashes) {
    if (c.restart_us == SimScript::kNever) {
      nodes_[c.node].down_for_good = true;
      heal = std::max(heal, c.at_us);
    } else {
      heal = std::max(heal, c.restart_us);
    }
  }
  for (const auto& w : s.withholds) heal = std::max(heal, w.until_us);
  plan_.heal_us = heal;
}

bool Simulation::ScriptWithholds(uint32_t to, const Message& message) const {
  if (script_ == nullptr) return false;
  for (const SimScript::Withhold& w : script_->withholds) {
    if (now_ >= w.until_us || std::find(w.to.begin(), w.to.end(), to) == w.to.end()) continue;
    if (const auto* p = std::get_if<Proposal>(&message)) {
      if (w.kind == SimScript::Kind::kProposal && p->height == w.height && p->round == w.round) {
        return true;
      }
    } else if (const auto* v = std::get_if<Vote>(&message)) {
      if (w.kind == SimScript::Kind::kProposal) continue;
      const VoteType type =
          w.kind == SimScript::Kind::kPrevote ? VoteType::kPrevote : VoteType::kPrecommit;
      if (v->type == type && v->height == w.height && v->round == w.round &&
          v->validator == w.from) {
        return true;
      }
    }
  }
  return false;
}

void Simulation::PlanLockTrap() {
  LockTrap trap;
  // In chain mode, before any set change the ledger can make (a jail takes a
  // window of 10 blocks, an epoch change 21).
  const uint64_t last =
      options_.ledger ? std::min<uint64_t>(options_.heights, 8) : options_.heights;
  trap.height = rng_.Range(1, std::max<uint64_t>(1, last));
  ValidatorSet set = validators_->ValidatorsAt(trap.height);
  const ValidatorIndex proposer0 = set.Proposer();
  set.IncrementProposerPriority(1);
  trap.n = set.Proposer();
  if (trap.n == proposer0) return;  // one validator proposes both rounds: no trap
  trap.x = trap.n == 0 ? 1 : 0;
  // Everyone but n locks; everyone but x must see just short of a commit.
  std::vector<ValidatorIndex> locked;
  for (ValidatorIndex i = 0; i < set.size(); ++i) {
    if (i != trap.n && i != trap.x) locked.push_back(i);
  }
  auto fill = [&](uint64_t seen, ValidatorIndex self, std::set<ValidatorIndex>* allowed) {
    for (ValidatorIndex i : locked) {
      if (i == self) continue;
      if (set.IsQuorum(seen + set.at(i).power)) break;
      seen += set.at(i).power;
      allowed->insert(i);
    }
    return seen;
  };
  fill(0, trap.n, &trap.prevotes_to_n);
  trap.precommits_to.resize(set.size());
  for (ValidatorIndex r = 0; r < set.size(); ++r) {
    if (r == trap.x) continue;
    const bool self_locked = r != trap.n;
    uint64_t seen = fill(self_locked ? set.at(r).power : 0, r, &trap.precommits_to[r]);
    // With n's nil precommit r must reach 2f+1 precommits, or it would wait
    // forever in round 0; with equal stake it always does.
    if (!set.IsQuorum(seen + set.at(trap.n).power)) return;
  }
  trap_ = std::move(trap);
}

bool Simulation::LockTrapBlocks(uint32_t to, const Message& message) const {
  if (!trap_ || now_ >= trap_->end_us || now_ >= kLockTrapCapUs) return false;
  const LockTrap& t = *trap_;
  if (const auto* p = std::get_if<Proposal>(&message)) {
    return p->height == t.height && p->round == 0 && to == t.n;
  }
  if (const auto* v = std::get_if<Vote>(&message)) {
    if (v->height != t.height || v->round != 0 || !v->block) return false;
    if (v->type == VoteType::kPrevote) return to == t.n && !t.prevotes_to_n.count(v->validator);
    // Endpoints beyond the validators (chain mode's joiner) see none either.
    return to != t.x &&
           (to >= t.precommits_to.size() || !t.precommits_to[to].count(v->validator));
  }
  if (const auto* c = std::get_if<std::shared_ptr<const Commit>>(&message)) {
    return (*c)->proposal.height == t.height;
  }
  if (const auto* s = std::get_if<std::shared_ptr<const SyncBlocks>>(&message)) {
    for (const auto& [block, commit] : (*s)->blocks) {
      if (block.header().height() == t.height) return true;
    }
  }
  return false;
}

bool Simulation::PartitionBlocks(uint32_t from, uint32_t to) const {
  for (const auto& p : plan_.partitions) {
    if (now_ >= p.start_us && now_ < p.end_us && p.group[from] != p.group[to]) return true;
  }
  return false;
}

}  // namespace agora::consensus::sim::detail
