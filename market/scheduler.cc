#include "market/scheduler.h"

#include <algorithm>
#include <array>
#include <map>
#include <numeric>
#include <set>

#include "market/pricing.h"

namespace agora::market {
namespace {

__extension__ typedef unsigned __int128 Wide;

Hash256 TieKey(const Hash256& beacon, const Bytes& id) {
  Blake2b256Hasher h;
  h.Update(AsBytes("agora-sched-tie-v1"));
  h.Update(beacon.bytes);
  h.Update(id);
  return h.Finish();
}

bool Fits(const OpenTask& t, HardwareClass c) {
  return t.tier == Tier::kExact || t.hardware == c;
}

// The least declared speed that gets `t` a deadline within its job's bound
// (0: no bound), computed once per task rather than per provider scanned.
uint64_t SpeedMin(const OpenTask& t, const DeadlineRule& rule) {
  return t.deadline_blocks_max == 0 ? 0 : SpeedNeeded(t.work_wu, t.deadline_blocks_max, rule);
}

struct Pool {
  const ScheduleInput& in;
  std::vector<size_t> order;  // providers by effective cost, then speed, then tie key
  std::vector<uint32_t> slots;
  std::vector<uint64_t> collateral;
  // Per hardware class (index 0: any class), over providers that could take
  // anything at the start of the call: the lowest ask and the most free
  // collateral and the highest speed. None gets better as tasks are
  // assigned, so a task that fails them fails every provider, in O(1).
  std::array<uint64_t, kHardwareClassMax + 1> min_ask;
  std::array<uint64_t, kHardwareClassMax + 1> max_collateral;
  std::array<uint64_t, kHardwareClassMax + 1> max_speed;

  explicit Pool(const ScheduleInput& input)
      : in(input), order(input.providers.size()), slots(input.providers.size()),
        collateral(input.providers.size()) {
    std::vector<uint64_t> cost(order.size());
    std::vector<Hash256> tie(order.size());
    for (size_t i = 0; i < order.size(); ++i) {
      const ProviderOffer& p = in.providers[i];
      cost[i] = EffectiveCost(p.ask_uagr_per_wu, p.reputation_ppm);
      tie[i] = TieKey(in.beacon, p.id);
      slots[i] = p.free_slots;
      collateral[i] = p.collateral_free_uagr;
    }
    min_ask.fill(UINT64_MAX);
    max_collateral.fill(0);
    max_speed.fill(0);
    for (size_t i = 0; i < order.size(); ++i) {
      const ProviderOffer& p = in.providers[i];
      if (p.free_slots == 0 || p.reputation_ppm < in.reputation_min_ppm || p.speed_wu_per_s == 0) {
        continue;
      }
      for (size_t c : {size_t{0}, static_cast<size_t>(p.hardware)}) {
        if (c > kHardwareClassMax) continue;
        min_ask[c] = std::min(min_ask[c], p.ask_uagr_per_wu);
        max_collateral[c] = std::max(max_collateral[c], p.collateral_free_uagr);
        max_speed[c] = std::max(max_speed[c], p.speed_wu_per_s);
      }
    }
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      if (cost[a] != cost[b]) return cost[a] < cost[b];
      const uint64_t sa = in.providers[a].speed_wu_per_s, sb = in.providers[b].speed_wu_per_s;
      if (sa != sb) return sa > sb;
      return tie[a] < tie[b];
    });
  }

  // False if no provider can take `t` whatever happens in this call.
  bool Possible(const OpenTask& t) const {
    const size_t c = t.tier == Tier::kExact ? 0 : static_cast<size_t>(t.hardware);
    if (c > kHardwareClassMax || min_ask[c] > t.price_max_per_wu) return false;
    if (max_speed[c] < SpeedMin(t, in.deadline_rule)) return false;
    Result<uint64_t> cheapest = TaskPrice(t.work_wu, min_ask[c]);
    return cheapest.ok() && Collateral(*cheapest, in.collateral_ppm) <= max_collateral[c];
  }

  // The provider for `t` and what it locks, or nullopt. `band` > 0 prefers
  // speeds within [band / 2, 2 × band]. Never the client itself.
  std::optional<Assignment> Pick(const OpenTask& t, const Bytes& client, uint64_t band,
                                 bool fair_round) {
    std::optional<Assignment> any, in_band;
    const uint64_t speed_min = SpeedMin(t, in.deadline_rule);
    for (size_t i : order) {
      const ProviderOffer& p = in.providers[i];
      if (slots[i] == 0 || p.reputation_ppm < in.reputation_min_ppm || !Fits(t, p.hardware) ||
          p.ask_uagr_per_wu > t.price_max_per_wu || p.speed_wu_per_s == 0 || p.id == client ||
          p.speed_wu_per_s < speed_min ||
          std::find(t.excluded.begin(), t.excluded.end(), p.id) != t.excluded.end()) {
        continue;
      }
      Result<uint64_t> price = TaskPrice(t.work_wu, p.ask_uagr_per_wu);
      if (!price.ok()) continue;
      const uint64_t locked = Collateral(*price, in.collateral_ppm);
      if (locked > collateral[i]) continue;
      Assignment a{0, 0, i, *price, locked};
      if (!any) any = a;
      if (!fair_round || band == 0) break;
      const Wide s = p.speed_wu_per_s;
      if (2 * s >= band && s <= Wide{2} * band) {
        in_band = a;
        break;
      }
    }
    return in_band ? in_band : any;
  }

  void Take(const Assignment& a) {
    --slots[a.provider];
    collateral[a.provider] -= a.collateral_uagr;
  }
};

}  // namespace

std::vector<Assignment> Schedule(const ScheduleInput& in, bool* examined_all) {
  std::vector<Assignment> out;
  if (in.assignments_max == 0) return out;
  Pool pool(in);
  const size_t n = in.tenants.size();
  std::vector<uint64_t> load(n), weight(n);
  std::vector<size_t> next(n, 0);
  std::vector<Hash256> tie(n);
  std::vector<size_t> active;
  for (size_t i = 0; i < n; ++i) {
    load[i] = in.tenants[i].running;
    weight[i] = std::max<uint64_t>(in.tenants[i].weight, 1);
    tie[i] = TieKey(in.beacon, in.tenants[i].id);
    if (!in.tenants[i].open.empty()) active.push_back(i);
  }
  // The speed chosen for each (job, round) so far, this call included.
  std::map<std::pair<uint64_t, uint32_t>, uint64_t> round_speed;
  // Jobs no provider took in this call: their other tasks would fail the
  // same checks (same work, price, tier), so they are skipped for free. A
  // task refused only for its excluded providers also holds its job's
  // other tasks back for this call: a bounded wait (market.exclusion_blocks)
  // that keeps such tasks from costing a full scan each.
  std::set<uint64_t> dead;
  // Only full scans of the providers count against the bound; O(1) skips
  // do not, so unassignable tasks cannot use it up.
  size_t considered = 0;
  const size_t considered_max = 4 * in.assignments_max;
  while (!active.empty() && out.size() < in.assignments_max && considered < considered_max) {
    // The tenant with the smallest load / weight; ties by the beacon.
    size_t best = 0;
    for (size_t k = 1; k < active.size(); ++k) {
      const size_t a = active[k], b = active[best];
      const Wide la = Wide{load[a]} * weight[b], lb = Wide{load[b]} * weight[a];
      if (la < lb || (la == lb && tie[a] < tie[b])) best = k;
    }
    const size_t t = active[best];
    const OpenTask& task = in.tenants[t].open[next[t]];
    std::optional<Assignment> a;
    if (!dead.count(task.job) && pool.Possible(task)) {
      ++considered;
      const auto key = std::make_pair(task.job, task.round);
      uint64_t band = task.round_speed_wu_per_s;
      if (auto it = round_speed.find(key); it != round_speed.end()) band = it->second;
      a = pool.Pick(task, in.tenants[t].id, band, /*fair_round=*/true);
      if (a && band == 0) round_speed[key] = in.providers[a->provider].speed_wu_per_s;
    }
    if (!a) {
      dead.insert(task.job);
    } else {
      a->tenant = t;
      a->task = next[t];
      pool.Take(*a);
      ++load[t];
      out.push_back(*a);
    }
    if (++next[t] >= in.tenants[t].open.size()) active.erase(active.begin() + best);
  }
  if (examined_all != nullptr) *examined_all = active.empty();
  return out;
}

std::vector<Assignment> ScheduleFifo(const ScheduleInput& in,
                                     const std::vector<std::pair<size_t, size_t>>& arrival) {
  std::vector<Assignment> out;
  Pool pool(in);
  size_t considered = 0;
  for (const auto& [t, k] : arrival) {
    if (out.size() >= in.assignments_max || considered >= 4 * in.assignments_max) break;
    ++considered;
    std::optional<Assignment> a =
        pool.Pick(in.tenants[t].open[k], in.tenants[t].id, 0, /*fair_round=*/false);
    if (!a) continue;
    a->tenant = t;
    a->task = k;
    pool.Take(*a);
    out.push_back(*a);
  }
  return out;
}

}  // namespace agora::market
