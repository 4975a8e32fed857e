// The Tendermint consensus core as a pure state machine.
//
// Events go in (a proposal, a vote, a timeout that fired, a block that is
// ready to propose); actions come out (broadcast, schedule a timeout, ask for
// a block, decide, report evidence). The core owns no socket, clock, disk or
// thread: the node drives it with real timers and P2P, the simulator with
// simulated ones. Its only side effect is signing, through SafeSigner, which
// makes the signed step durable before the signature exists, so a driver can
// never broadcast a vote that a crash could make it sign differently.
//
// The rules are those of Algorithm 1 in Buchman, Kwon, Milosevic, "The latest
// gossip on BFT consensus" (2018), with stake-weighted quorums. Each rule is
// named after the protocol step it implements. Input for another height, or
// from a non-validator, is ignored early; input for the next height is kept
// (bounded) and replayed when the core gets there.
//
// The driver must verify message signatures before handing messages in (the
// node does so once per message, with a cache); the core trusts that
// `vote.validator` signed `vote`.
//
// Thread safety: not thread-safe; one driver thread owns a Core.
#ifndef AGORA_CONSENSUS_CORE_H_
#define AGORA_CONSENSUS_CORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <variant>
#include <vector>

#include "consensus/signer.h"
#include "consensus/types.h"
#include "consensus/validator_set.h"

namespace agora::consensus {

struct Timeouts {
  uint64_t propose_ms = 1000;
  uint64_t propose_delta_ms = 500;  // added per round
  uint64_t prevote_ms = 500;
  uint64_t prevote_delta_ms = 500;
  uint64_t precommit_ms = 500;
  uint64_t precommit_delta_ms = 500;

  uint64_t For(Step step, uint32_t round) const;
};

struct CoreConfig {
  std::string chain_id;
  Timeouts timeouts;
  size_t future_messages_max = 4096;  // kept for height + 1
  size_t proposals_per_round_max = 4;
  // Deliberate bugs, for proving that the simulator catches broken rules.
  bool testonly_ignore_lock = false;
  bool testonly_quorum_at_least_two_thirds = false;
  // The bug the simulator's restarted-lock-holder scenario must catch: a
  // restarted validator restores its lock but not the valid value and polka.
  bool testonly_restore_lock_only = false;
};

// The application tells the core who votes at each height.
class ValidatorSetSource {
 public:
  virtual ~ValidatorSetSource() = default;
  // REQUIRES: height >= 1. Returns the set, with proposer priorities, at the
  // start of `height`.
  virtual const ValidatorSet& ValidatorsAt(uint64_t height) = 0;
};

// `polka`: for a proposal with a valid round, the prevotes of that round for
// its block that this core holds. Send them with the proposal: peers prevote
// for a re-proposed block only once they hold its polka, and the proposer may
// be the only honest node that still does (see Lock::polka).
struct BroadcastProposal { Proposal proposal; std::vector<Vote> polka; };
struct BroadcastVote { Vote vote; };
struct ScheduleTimeout { Step step; uint64_t height; uint32_t round; uint64_t delay_ms; };
struct RequestBlock { uint64_t height; uint32_t round; };
struct Decide { uint64_t height; uint32_t round; Hash256 block; std::vector<Vote> commit; };
struct ReportEvidence { Evidence evidence; };
using Action = std::variant<BroadcastProposal, BroadcastVote, ScheduleTimeout, RequestBlock,
                            Decide, ReportEvidence>;
using Actions = std::vector<Action>;

// Messages for rounds further ahead than this are dropped, so a Byzantine
// validator cannot make the core keep state for arbitrarily many rounds.
inline constexpr uint32_t kRoundsAheadMax = 256;

class Core {
 public:
  // `signer` may be null for a node that follows but does not vote.
  Core(CoreConfig config, ValidatorSetSource* validators, SafeSigner* signer);

  // Enters `height` (one past the last decided height). A restarted core
  // resumes at the round it last signed in and keeps its lock.
  Actions Start(uint64_t height);

  // `block_valid` is the application's verdict on the proposed block.
  Actions OnProposal(const Proposal& proposal, bool block_valid);
  Actions OnVote(const Vote& vote);
  Actions OnTimeout(Step step, uint64_t height, uint32_t round);
  // The block asked for by RequestBlock is ready.
  Actions OnBlockReady(uint64_t height, uint32_t round, const Hash256& block);

  // Timeouts for what is scheduled from now on (the ledger's consensus
  // parameters, which governance may change at a height).
  void SetTimeouts(const Timeouts& timeouts) { config_.timeouts = timeouts; }
  const Timeouts& timeouts() const { return config_.timeouts; }

  uint64_t height() const { return height_; }
  uint32_t round() const { return round_; }
  Step step() const { return step_; }
  const ValidatorSet& validators() const { return *validators_now_; }
  ValidatorIndex ProposerOf(uint32_t round);

 private:
  // All votes of one type in one round. An equivocating validator's votes
  // count toward each block it voted for (a quorum of signed votes for a block
  // is a quorum whoever else they were sent to; counting them is what lets
  // every honest node see the same polkas once gossip has delivered the
  // votes), but only once toward power_any.
  struct VoteSet {
    std::map<ValidatorIndex, std::vector<Vote>> by_validator;  // first vote first
    std::map<std::optional<Hash256>, uint64_t> power_for;
    uint64_t power_any = 0;
  };
  struct RoundState {
    std::map<Hash256, std::pair<Proposal, bool>> proposals;  // block -> (proposal, valid)
    std::optional<Hash256> first_proposal;  // the one this node acts on
    VoteSet prevotes, precommits;
    std::set<ValidatorIndex> senders;
    uint64_t senders_power = 0;
    bool prevote_timeout_scheduled = false;
    bool precommit_timeout_scheduled = false;
    bool polka_handled = false;
  };
  using Message = std::variant<std::pair<Proposal, bool>, Vote>;

  void EnterHeight(uint64_t height);
  void StartRound(uint32_t round);
  void RestoreLock();
  void ResumeLastSigned();
  void Propose(const Proposal& proposal);
  std::vector<Vote> PolkaFor(uint32_t round, const Hash256& block) const;
  void EnterPrevote(std::optional<Hash256> block);
  void EnterPrecommit(std::optional<Hash256> block);
  void Decided(uint32_t round, const Hash256& block);
  void Reevaluate();
  bool TryDecide();
  bool TrySkipRound();
  bool TryProposalRules();
  bool TryPolkaRules();
  void SignAndSend(Vote vote, const std::vector<Vote>& polka = {});
  void NoteSender(RoundState& round, ValidatorIndex who);
  bool Quorum(uint64_t power) const;
  void HandleProposal(const Proposal& proposal, bool block_valid);
  void HandleVote(const Vote& vote);
  Actions TakeActions();

  CoreConfig config_;
  ValidatorSetSource* source_;
  SafeSigner* signer_;
  const ValidatorSet* validators_now_ = nullptr;
  std::optional<ValidatorIndex> self_;
  ValidatorSet rotation_;                 // advanced one step per round
  std::vector<ValidatorIndex> proposers_;  // proposers_[r] = proposer of round r

  uint64_t height_ = 0;
  uint32_t round_ = 0;
  Step step_ = Step::kPropose;
  int64_t locked_round_ = -1;
  std::optional<Hash256> locked_value_;
  int64_t valid_round_ = -1;
  std::optional<Hash256> valid_value_;
  std::map<uint32_t, RoundState> rounds_;
  std::set<std::tuple<ValidatorIndex, uint32_t, VoteType>> evidence_reported_;
  std::vector<Message> future_;
  Actions out_;
};

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_CORE_H_
