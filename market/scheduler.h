// The scheduler: which open tasks go to which providers this block. A pure,
// deterministic, integer function of its input (the ledger builds the input
// from state and the block's beacon), so every node assigns the same.
//
// Rules (PROTOCOL.md §6, docs/market.md):
//  * Between tenants, weighted max-min fair share (progressive filling, as
//    in DRF with one resource, the task slot): the next slot goes to the
//    tenant with the fewest running tasks per unit of weight, counting the
//    ones assigned earlier in this same call. One big job cannot starve a
//    small one.
//  * Within a tenant, its open tasks in the order given (oldest job first).
//  * For a task, the eligible provider of lowest effective cost (ask raised
//    as reputation falls): free slot, reputation at least the minimum, ask
//    at most the job's maximum price per wu, hardware class that fits the
//    tier (exact: any; native: the job's class), free stake covering the
//    collateral, and fast enough that the deadline it would get
//    (DeadlineBlocks) is at most the job's `deadline_blocks_max` when the
//    job sets one. Among the eligible, one whose speed is within a factor of
//    two of the speed already chosen for the task's round, if any, since a
//    round waits for its slowest worker.
//  * Ties (equal cost, equal speed; equal tenant shares) break by
//    BLAKE2b(beacon || id): fair across blocks, unpredictable before the
//    beacon.
//  * Never the client's own account as its provider, nor a provider in
//    the task's `excluded` list (the ledger lists those that missed or
//    failed it, for market.exclusion_blocks after it reopened).
//  * Bounded work: at most `assignments_max` assignments and
//    4 × assignments_max full scans of the providers per call. A task that
//    no provider could take (its maximum price below every ask of its
//    class, its collateral above every provider's free stake, its deadline
//    bound shorter than the fastest provider of its class gets) is skipped in
//    O(1), as are the other tasks of a job no provider took in this call,
//    so unassignable jobs cannot use up the bound.
//
// Thread safety: free functions.
#ifndef AGORA_MARKET_SCHEDULER_H_
#define AGORA_MARKET_SCHEDULER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "market/job_spec.h"
#include "market/pricing.h"

namespace agora::market {

struct ProviderOffer {
  Bytes id;  // the provider's address bytes: ties and the caller's handle
  HardwareClass hardware = HardwareClass::kCpu;
  uint64_t speed_wu_per_s = 1;
  uint32_t free_slots = 0;  // capacity minus tasks running
  uint64_t ask_uagr_per_wu = 1;
  uint64_t reputation_ppm = 0;
  uint64_t collateral_free_uagr = 0;  // stake not yet locked as collateral
};

struct OpenTask {
  uint64_t job = 0;
  uint32_t round = 0;
  uint32_t worker = 0;
  uint64_t work_wu = 0;
  uint64_t price_max_per_wu = 0;
  Tier tier = Tier::kExact;
  HardwareClass hardware = HardwareClass::kCpu;
  // The declared speed of a provider already running a task of this round
  // (0: none yet).
  uint64_t round_speed_wu_per_s = 0;
  // The most blocks a provider may be given for it (0: no bound): slower
  // providers, whose deadline would be later, are passed over.
  uint64_t deadline_blocks_max = 0;
  // Providers (ids) not to give this task to (the ledger's recent misses
  // and failures of it).
  std::vector<Bytes> excluded;
};

struct TenantQueue {
  Bytes id;                // the client's address bytes
  uint64_t weight = 1;     // share weight, >= 1
  uint64_t running = 0;    // tasks assigned and not yet settled
  std::vector<OpenTask> open;  // in the order the tenant's tasks are served
};

struct ScheduleInput {
  std::vector<ProviderOffer> providers;
  std::vector<TenantQueue> tenants;
  Hash256 beacon;
  size_t assignments_max = 64;
  uint64_t collateral_ppm = 2'000'000;
  uint64_t reputation_min_ppm = 100'000;
  DeadlineRule deadline_rule;  // turns work and speed into a deadline
};

struct Assignment {
  size_t tenant = 0;    // index into tenants
  size_t task = 0;      // index into that tenant's open tasks
  size_t provider = 0;  // index into providers
  uint64_t price_uagr = 0;       // work × the provider's ask
  uint64_t collateral_uagr = 0;  // locked from the provider's stake
  friend bool operator==(const Assignment&, const Assignment&) = default;
};

// With `examined_all`, sets it to whether every open task given was looked
// at (assigned or found unassignable), rather than the call stopping at
// assignments_max or at its bound on provider scans.
std::vector<Assignment> Schedule(const ScheduleInput& input, bool* examined_all = nullptr);

// First come, first served, for the benchmark's comparison: tasks in the
// order of `arrival` (pairs of tenant, task index), each to the cheapest
// eligible provider, no fair share and no round grouping.
std::vector<Assignment> ScheduleFifo(const ScheduleInput& input,
                                     const std::vector<std::pair<size_t, size_t>>& arrival);

}  // namespace agora::market

#endif  // AGORA_MARKET_SCHEDULER_H_
