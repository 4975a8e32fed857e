// The gov module: stake-weighted proposals that change the network's
// parameters (PROTOCOL.md §5, docs/governance.md).
//
// Life of a proposal: SubmitProposal puts down a first deposit; once
// deposits reach gov.deposit_min_uagr (within gov.deposit_blocks) voting
// starts and lasts gov.voting_blocks; the tally in EndBlock of the last
// voting height weighs each vote by the voter's bonded stake at that block;
// a passed proposal's changes are applied in EndBlock of its effective
// height, checked again against the bounds and the rules between
// parameters. Deposits of vetoed and quorum-failed proposals are burned;
// all others are returned.
//
// State (docs/governance.md):
//   gov/next_id                         -> u64, the next proposal id (from 1)
//   gov/prop/<id u64>                   -> ProposalRecord (proto/state.proto)
//   gov/deposit/<id u64><addr>          -> u64 deposited, until returned or burned
//   gov/vote/<id u64><addr>             -> u8 option, until the tally
//   gov/q/deposit/<end u64><id u64>     -> "" proposals waiting for deposits
//   gov/q/voting/<end u64><id u64>      -> "" proposals in voting
//   gov/q/apply/<height u64><id u64>    -> "" passed, waiting for their height
//   gov/total_deposits                  -> u64 (part of conservation)
//
// Thread safety: free functions over the caller's buffer.
#ifndef AGORA_CONSENSUS_LEDGER_GOV_H_
#define AGORA_CONSENSUS_LEDGER_GOV_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "consensus/ledger/application.h"
#include "consensus/ledger/params.h"
#include "consensus/ledger/state_buffer.h"
#include "consensus/ledger/tx.h"

namespace agora::consensus::gov {

inline constexpr std::string_view kTotalDepositsKey = "gov/total_deposits";
inline constexpr std::string_view kDepositPrefix = "gov/deposit/";
// Bounds on the work of one tally and one refund (each entry was paid for
// with a transaction fee, but a block must stay cheap to execute).
inline constexpr size_t kVotersMax = 10'000;
inline constexpr size_t kDepositorsMax = 1'000;
// Proposals whose voting ends at one height: with kVotersMax, one tally
// block reads at most 80,000 votes.
inline constexpr size_t kTalliesPerHeightMax = 8;
// How far past the earliest end of voting an effective height may lie.
inline constexpr uint64_t kEffectiveHeightAheadMax = 10'000'000;

enum class ProposalStatus : uint32_t {
  kDeposit = 1,      // waiting for deposits to reach the minimum
  kVoting = 2,
  kPassed = 3,       // waiting for its effective height
  kRejected = 4,     // quorum met, not enough yes (deposits returned)
  kVetoed = 5,       // deposits burned
  kNoQuorum = 6,     // deposits burned
  kExpired = 7,      // the deposit period ended short of the minimum (returned)
  kApplied = 8,      // its changes are in force
  kApplyFailed = 9,  // passed, but the changes no longer fit the rules at its height
};
std::string_view StatusName(ProposalStatus status);

struct Tally {
  uint64_t yes = 0;
  uint64_t no = 0;
  uint64_t abstain = 0;
  uint64_t veto = 0;
  uint64_t bonded = 0;  // all bonded stake at the tally
  friend bool operator==(const Tally&, const Tally&) = default;
};

// What a tally means under the parameters. Shares are in ppm, rounded down.
struct Verdict {
  ProposalStatus status = ProposalStatus::kRejected;  // kPassed, kRejected, kVetoed or kNoQuorum
  bool quorum_met = false;    // turnout >= quorum
  bool vetoed = false;        // veto share of the turnout >= gov.veto_ppm
  bool threshold_met = false; // yes share of yes+no+veto > gov.threshold_ppm
  uint64_t turnout_ppm = 0;   // (yes+no+abstain+veto) / bonded
  uint64_t yes_ppm = 0;       // yes / (yes+no+veto)
  uint64_t veto_ppm = 0;      // veto / (yes+no+abstain+veto)
  uint64_t no_ppm = 0;        // no / (yes+no+veto)
};
// Pure and total: an empty tally or no bonded stake fails the quorum.
Verdict Judge(const Tally& tally, const Params& params);

struct Proposal {
  uint64_t id = 0;
  Address proposer;
  std::string title;
  std::string text;
  std::vector<ParamChange> changes;
  uint64_t effective_height = 0;
  ProposalStatus status = ProposalStatus::kDeposit;
  uint64_t submit_height = 0;
  uint64_t deposit_end_height = 0;
  uint64_t voting_start_height = 0;  // 0 until voting starts
  uint64_t voting_end_height = 0;    // the tally's height; 0 until voting starts
  uint64_t total_deposit_uagr = 0;
  Tally tally;  // the final tally once voting has ended
  // The thresholds it was judged by, once voting has ended.
  uint64_t quorum_ppm = 0;
  uint64_t threshold_ppm = 0;
  uint64_t veto_ppm = 0;
  uint32_t depositors = 0;
  uint32_t voters = 0;
  std::string outcome;
};

std::optional<Proposal> GetProposal(StateReader& state, uint64_t id);
// Proposals with id <= `before` (0: from the newest), newest first, at most
// `limit`.
std::vector<Proposal> ListProposals(StateReader& state, uint64_t before, size_t limit);
// The tally as it would be now: each vote weighed by the voter's stake in
// `state`, and all bonded stake.
Tally CurrentTally(StateReader& state, uint64_t id);
std::optional<VoteOption> GetVote(StateReader& state, uint64_t id, const Address& voter);
// Voters of proposal `id` whose bonded stake is now below the voter minimum
// (1/kVotersMax of the bonded stake), at most `limit`, in address order:
// the votes a new voter may evict (MsgVote::evict).
std::vector<Address> VotersBelowMinimum(StateReader& state, uint64_t id, size_t limit);
uint64_t DepositOf(StateReader& state, uint64_t id, const Address& depositor);

TxResult HandleSubmitProposal(StateBuffer& state, const Params& params, uint64_t height,
                              const Address& sender, const MsgSubmitProposal& msg);
TxResult HandleDeposit(StateBuffer& state, const Params& params, uint64_t height,
                       const Address& sender, const MsgDeposit& msg);
TxResult HandleVote(StateBuffer& state, uint64_t height, const Address& sender,
                    const MsgVote& msg);

// End of block, first of the modules (PROTOCOL.md §2): expires proposals whose deposit period ends
// at `height`, tallies those whose voting ends at it, then applies the
// passed proposals whose effective height it is, in id order.
void EndBlock(StateBuffer& state, uint64_t height, std::vector<Event>* events);

}  // namespace agora::consensus::gov

#endif  // AGORA_CONSENSUS_LEDGER_GOV_H_
