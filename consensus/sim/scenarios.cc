// The simulator's scripted scenarios: regressions once found by a seed,
// written out as fault plans so they no longer depend on what the planner
// draws, or in which order (docs/consensus.md, "Scripted scenarios").
#include <vector>

#include "consensus/sim/simulator.h"

namespace agora::consensus::sim {
namespace {

using Kind = SimScript::Kind;
constexpr uint64_t kMs = 1000;

std::vector<SimScript> MakeScenarios() {
  std::vector<SimScript> out;

  // Found by seed 507932 of the chaos mix: the planner drew two crash
  // windows for one validator that overlapped, so the second restart swapped
  // a running core for a fresh one (the planner now refuses such windows; a
  // script's merge). The fresh core never saw a nil prevote
  // the old one had, yet the simulator still held the node to report the
  // equivocation when the conflicting prevote arrived. Here validator 0's
  // windows overlap on purpose, and validator 3 signs two votes at every
  // step: the node stays down for one outage, from the first crash to the
  // last restart, and every equivocation it sees is reported.
  {
    SimScript s;
    s.name = "overlapping-crashes";
    s.about = "one validator's crash windows overlap; a double voter signs two votes per step";
    s.behaviours = {{3, Behaviour::kDoubleVoter}};
    s.crashes = {{0, 20 * kMs, 200 * kMs}, {0, 100 * kMs, 500 * kMs}};
    out.push_back(s);
  }

  // Found by seed 1650 of the chaos mix. Validators 0..3, equal stake,
  // validator 0 proposes block B in round 0 of height 1:
  //  - validator 2 never gets the proposal and prevotes nil;
  //  - validator 3's prevote for B reaches only validator 1, so only 1 and
  //    3 see the polka and lock on B; 0 and 2 see three
  //    prevotes without a polka and precommit nil;
  //  - validator 3 then crashes for good (the one fault f = 1 allows), and
  //    validator 1 crashes and comes back at 3 s.
  // Every quorum from then on needs 0, 1 and 2. Validator 1 prevotes nil on
  // any block but B, so the height decides only when validator 1, as
  // proposer, re-proposes B with the polka it locked on: a restart that
  // restored the lock without its valid value and polka stalled for good.
  {
    SimScript s;
    s.name = "restarted-lock-holder";
    s.about = "the only running validator that saw a polka locks, crashes and must re-propose";
    s.crashes = {{3, 100 * kMs, SimScript::kNever}, {1, 200 * kMs, 3'000 * kMs}};
    s.withholds = {{1, 0, Kind::kProposal, 0, {2}, 2'500 * kMs},
                   {1, 0, Kind::kPrevote, 3, {0, 2}, 2'500 * kMs}};
    out.push_back(s);
  }
  return out;
}

const std::vector<SimScript>& Scenarios() {
  static const std::vector<SimScript> scenarios = MakeScenarios();
  return scenarios;
}

}  // namespace

const SimScript* FindScenario(std::string_view name) {
  for (const SimScript& s : Scenarios()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::vector<std::string> ScenarioNames() {
  std::vector<std::string> names;
  for (const SimScript& s : Scenarios()) names.push_back(s.name);
  return names;
}

}  // namespace agora::consensus::sim
