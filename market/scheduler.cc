#include "market/scheduler.h"

#include <algorithm>
#include <map>
#include <numeric>

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

struct Pool {
  const ScheduleInput& in;
  std::vector<size_t> order;  // providers by effective cost, then speed, then tie key
  std::vector<uint32_t> slots;
  std::vector<uint64_t> collateral;

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
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      if (cost[a] != cost[b]) return cost[a] < cost[b];
      const uint64_t sa = in.providers[a].speed_wu_per_s, sb = in.providers[b].speed_wu_per_s;
      if (sa != sb) return sa > sb;
      return tie[a] < tie[b];
    });
  }

  // The provider for `t` and what it locks, or nullopt. `band` > 0 prefers
  // speeds within [band / 2, 2 × band].
  std::optional<Assignment> Pick(const OpenTask& t, uint64_t band, bool fair_round) {
    std::optional<Assignment> any, in_band;
    for (size_t i : order) {
      const ProviderOffer& p = in.providers[i];
      if (slots[i] == 0 || p.reputation_ppm < in.reputation_min_ppm || !Fits(t, p.hardware) ||
          p.ask_uagr_per_wu > t.price_max_per_wu || p.speed_wu_per_s == 0) {
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

std::vector<Assignment> Schedule(const ScheduleInput& in) {
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
    ++considered;
    const auto key = std::make_pair(task.job, task.round);
    uint64_t band = task.round_speed_wu_per_s;
    if (auto it = round_speed.find(key); it != round_speed.end()) band = it->second;
    std::optional<Assignment> a = pool.Pick(task, band, /*fair_round=*/true);
    if (a) {
      a->tenant = t;
      a->task = next[t];
      pool.Take(*a);
      ++load[t];
      if (band == 0) round_speed[key] = in.providers[a->provider].speed_wu_per_s;
      out.push_back(*a);
    }
    if (++next[t] >= in.tenants[t].open.size()) active.erase(active.begin() + best);
  }
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
    std::optional<Assignment> a = pool.Pick(in.tenants[t].open[k], 0, /*fair_round=*/false);
    if (!a) continue;
    a->tenant = t;
    a->task = k;
    pool.Take(*a);
    out.push_back(*a);
  }
  return out;
}

}  // namespace agora::market
