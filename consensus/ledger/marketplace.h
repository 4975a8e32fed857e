// The market module of the ledger: providers, jobs in escrow, tasks,
// deadlines and settlement (PROTOCOL.md §6, docs/market.md). The rules'
// arithmetic and the scheduler are market/'s pure functions; this module
// keeps their state and calls them.
//
// Life of a job: PostJob moves the budget into escrow and opens round 0's K
// tasks; each EndBlock (after governance and staking) first handles the
// deadlines due at its height (a missed task is reassigned: its price goes
// back to escrow, part of the collateral is burned, reputation falls), then
// assigns open tasks with market::Schedule (at most
// market.assignments_per_block_max). Verification (its own module) calls
// TaskPassed / TaskFailed; a passed round opens the next; after R rounds the
// job finishes and unspent escrow returns to the client. CancelJob stops new
// assignments; running tasks finish and are paid, the rest is refunded.
//
// State (docs/market.md):
//   market/prov/<addr>                   ProviderRecord
//   market/free/<addr>                   "" while the provider has a free slot
//   market/next_job                      u64
//   market/job/<id u64>                  JobRecord
//   market/task/<id u64><round u32><worker u32>  TaskRecord
//   market/open/<client><id><round><worker>      "" tasks waiting for a provider
//   market/tenant/<client>               u64 tasks running for the client
//   market/deadline/<height u64><id><round><worker>  ""
//   market/cursor                        the tenant the next scheduling starts after
//   market/expire/<height><id>           "" jobs refunded if still unassigned then
//   market/rep/<addr>                    u64 reputation kept after deregistration
//   market/client_jobs/<addr>            u64 the client's jobs not yet ended
//   market/total_escrow, market/validator_fees   u64 (conservation)
//
// Thread safety: free functions over the caller's buffer.
#ifndef AGORA_CONSENSUS_LEDGER_MARKETPLACE_H_
#define AGORA_CONSENSUS_LEDGER_MARKETPLACE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "consensus/ledger/application.h"
#include "consensus/ledger/params.h"
#include "consensus/ledger/state_buffer.h"
#include "consensus/ledger/tx.h"
#include "market/job_spec.h"
#include "market/pricing.h"

namespace agora::consensus::marketplace {

inline constexpr std::string_view kTotalEscrowKey = "market/total_escrow";
inline constexpr std::string_view kValidatorFeesKey = "market/validator_fees";
inline constexpr std::string_view kJobPrefix = "market/job/";
// Jobs of a client that have not ended (u64): such an account may not
// become a provider or a validator (one account, one role).
inline std::string ClientJobsKey(const Address& a) {
  std::string k = "market/client_jobs/";
  k.append(a.bytes().begin(), a.bytes().end());
  return k;
}
// Bounds on one EndBlock's reading: providers with a free slot, and
// tenants with open tasks looked at (the next block goes on from there).
inline constexpr size_t kProvidersScanMax = 100'000;
inline constexpr size_t kTenantsPerBlockMax = 1'000;

enum class JobStatus : uint32_t {
  kOpen = 1,       // no task assigned yet
  kRunning = 2,
  kFinished = 3,   // every round passed
  kCancelled = 4,  // by its client
  kFailed = 5,     // a task ran out of attempts
};
std::string_view JobStatusName(JobStatus s);

enum class TaskStatus : uint32_t {
  kOpen = 1,
  kAssigned = 2,
  kCommitted = 3,   // set by verification
  kVerifying = 4,   // set by verification
  kPassed = 5,
  kFailed = 6,      // its job ended with it unfinished
  kReassigned = 7,  // open again after a missed deadline or a failed check
  kCancelled = 8,   // its job was cancelled before it was assigned
};
std::string_view TaskStatusName(TaskStatus s);

struct Provider {
  Address address;
  ProviderOffer offer;
  uint64_t reputation_ppm = 0;
  uint32_t running = 0;
  uint64_t registered_height = 0;
  uint64_t tasks_passed = 0;
  uint64_t tasks_late = 0;
  uint64_t tasks_failed = 0;
};

struct Job {
  uint64_t id = 0;
  Address client;
  market::JobSpec spec;
  uint64_t budget_uagr = 0;
  uint64_t price_max_uagr_per_wu = 0;
  uint64_t deadline_blocks_max = 0;  // 0: no bound (MsgPostJob)
  uint64_t escrow_uagr = 0;  // unspent, locked included
  uint64_t locked_uagr = 0;  // prices of tasks assigned and not settled
  JobStatus status = JobStatus::kOpen;
  uint32_t round = 0;
  uint32_t round_passed = 0;
  uint32_t running = 0;
  uint64_t work_wu = 0;
  uint64_t posted_height = 0;
  uint64_t ended_height = 0;
  uint64_t paid_uagr = 0;
  uint64_t refunded_uagr = 0;
  // Held under market/validator_fees for the validators who record the
  // next round's start (verify.aggregation_fee_ppm of each passed task's
  // validators' fee); refunded to the client when the job ends first.
  uint64_t aggregation_fee_uagr = 0;
  std::string outcome;
  std::string title;  // the client's, as posted
};

struct TaskId {
  uint64_t job = 0;
  uint32_t round = 0;
  uint32_t worker = 0;
  friend auto operator<=>(const TaskId&, const TaskId&) = default;
};

struct Task {
  TaskStatus status = TaskStatus::kOpen;
  std::optional<Address> provider;
  uint64_t price_uagr = 0;
  uint64_t collateral_uagr = 0;
  uint64_t assigned_height = 0;
  uint64_t deadline_height = 0;
  uint32_t attempts = 0;
  // Providers that missed its deadline or failed its checks, in order (at
  // most task_attempts_max); the scheduler passes them over for
  // market.exclusion_blocks after `reopened_height`.
  std::vector<Address> excluded;
  uint64_t reopened_height = 0;
};

std::optional<Provider> GetProvider(StateReader& state, const Address& address);
bool IsProvider(StateReader& state, const Address& address);
std::vector<Provider> ListProviders(StateReader& state, size_t limit);
std::optional<Job> GetJob(StateReader& state, uint64_t id);
// Newest first, ids <= `before` (0: from the newest).
std::vector<Job> ListJobs(StateReader& state, uint64_t before, size_t limit);
std::optional<Task> GetTask(StateReader& state, const TaskId& id);
// The tasks of a job created so far (rounds up to the current one).
std::vector<std::pair<TaskId, Task>> TasksOf(StateReader& state, uint64_t job, size_t limit);
// The K tasks of one round (none if the round has not opened).
std::vector<std::pair<TaskId, Task>> RoundTasks(StateReader& state, uint64_t job, uint32_t round);

// The deadline rule the market.* parameters give (market::DeadlineBlocks).
market::DeadlineRule DeadlineRuleOf(const Params& params);

TxResult HandleRegisterProvider(StateBuffer& state, const Params& params, uint64_t height,
                                const Address& sender, const MsgRegisterProvider& msg);
TxResult HandleUpdateProvider(StateBuffer& state, const Address& sender,
                              const MsgUpdateProvider& msg);
TxResult HandleDeregisterProvider(StateBuffer& state, const Address& sender);
// A job posted opens no task yet: round 0 starts when verification has
// recorded its initial weights (StartRound). `posted_id`, if set, receives
// the new job's id.
TxResult HandlePostJob(StateBuffer& state, const Params& params, uint64_t height,
                       const Address& sender, const MsgPostJob& msg,
                       uint64_t* posted_id = nullptr);
TxResult HandleCancelJob(StateBuffer& state, uint64_t height, const Address& sender,
                         const MsgCancelJob& msg);

// End of block, after governance and staking: deadlines due at `height`,
// then scheduling with the block's beacon.
void EndBlock(StateBuffer& state, const Params& params, uint64_t height, const Hash256& beacon,
              std::vector<Event>* events);

// The entry points verification calls (and tests, until it exists). A task
// must be assigned, committed or verifying. TaskPassed pays its price less
// the validators' fee (kept under market/validator_fees for them), frees
// the collateral and raises reputation; after the last task of a round the
// job waits for StartRound. TaskFailed burns the whole collateral, cuts
// reputation (fraud) and reassigns the task. FailedPrecondition if the task
// is in no such state.
Status TaskPassed(StateBuffer& state, const Params& params, uint64_t height, const TaskId& id,
                  std::vector<Event>* events);
// Verification has recorded the weights the job holds at the start of
// `round`: round 0 (just posted) or the round after the current one, whose
// tasks all passed, opens its tasks; round R finishes the job. Nothing
// happens to a job that has ended meanwhile. FailedPrecondition otherwise.
Status StartRound(StateBuffer& state, uint64_t height, uint64_t job, uint32_t round,
                  std::vector<Event>* events);
// Verification could not record a round (no two validators agreed within
// verify.draws_per_slot_max draws): the job fails with `reason`, its open
// tasks are cancelled and the rest of its escrow is refunded.
Status AbandonJob(StateBuffer& state, uint64_t height, uint64_t job, const std::string& reason,
                  std::vector<Event>* events);
// Open or running: the job can still start rounds.
bool IsActive(JobStatus s);
// Pays `amount` out of market/validator_fees to `to` in equal shares, the
// remainder to the first. REQUIRES: the fees hold `amount`; `to` is not
// empty unless `amount` is 0.
void PayValidatorFees(StateBuffer& state, uint64_t amount, std::span<const Address> to);
// Verification opens a round record: the aggregation fee set aside so far
// moves to it (returned, and zero on the job from now on).
uint64_t TakeAggregationFee(StateBuffer& state, uint64_t job);
// TaskFailed: with `reward_to`, half of what is taken from the provider goes
// to that account (the validator that proved the fraud) and half is burned;
// reputation falls to market.reputation_min_ppm.
Status TaskFailed(StateBuffer& state, const Params& params, uint64_t height, const TaskId& id,
                  std::vector<Event>* events, const std::optional<Address>& reward_to = std::nullopt);
// Verification's steps in between: an assigned task whose provider
// committed leaves the market's deadline index (verification owns its time
// from then on); a committed task whose validators are drawn is verifying.
// FailedPrecondition from any other state.
Status TaskCommitted(StateBuffer& state, const TaskId& id);
Status TaskVerifying(StateBuffer& state, const TaskId& id);

}  // namespace agora::consensus::marketplace

#endif  // AGORA_CONSENSUS_LEDGER_MARKETPLACE_H_
