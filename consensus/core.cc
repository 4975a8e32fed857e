#include "consensus/core.h"

#include <utility>

namespace agora::consensus {
namespace {

// Distinct votes kept per validator, round and type: the honest one plus a
// few equivocations, enough for evidence and for counting, bounded so an
// equivocator cannot grow memory without limit.
constexpr size_t kVotesPerValidatorMax = 3;

uint64_t PowerFor(const std::map<std::optional<Hash256>, uint64_t>& power_for,
                  const std::optional<Hash256>& block) {
  auto it = power_for.find(block);
  return it == power_for.end() ? 0 : it->second;
}

}  // namespace

uint64_t Timeouts::For(Step step, uint32_t round) const {
  switch (step) {
    case Step::kPropose: return propose_ms + propose_delta_ms * round;
    case Step::kPrevote: return prevote_ms + prevote_delta_ms * round;
    case Step::kPrecommit: return precommit_ms + precommit_delta_ms * round;
  }
  return 0;
}

Core::Core(CoreConfig config, ValidatorSetSource* validators, SafeSigner* signer)
    : config_(std::move(config)), source_(validators), signer_(signer) {}

Actions Core::Start(uint64_t height) {
  EnterHeight(height);
  Reevaluate();
  return TakeActions();
}

void Core::EnterHeight(uint64_t height) {
  height_ = height;
  rounds_.clear();
  evidence_reported_.clear();
  locked_round_ = -1;
  locked_value_.reset();
  valid_round_ = -1;
  valid_value_.reset();
  validators_now_ = &source_->ValidatorsAt(height);
  rotation_ = *validators_now_;
  proposers_.clear();
  self_.reset();
  if (signer_ != nullptr) self_ = validators_now_->IndexOf(signer_->public_key());
  uint32_t first_round = 0;
  if (signer_ != nullptr) {
    // A restarted validator resumes where it signed last and keeps its lock.
    if (const auto& last = signer_->last(); last && last->height == height) {
      first_round = last->round;
    }
  }
  // HandleVote checks the lock's polka against round_, which still holds the
  // previous height's round.
  round_ = first_round;
  if (signer_ != nullptr) RestoreLock();
  StartRound(first_round);
  if (signer_ != nullptr) ResumeLastSigned();
  std::vector<Message> pending = std::exchange(future_, {});
  for (const Message& m : pending) {
    if (const auto* p = std::get_if<std::pair<Proposal, bool>>(&m)) {
      HandleProposal(p->first, p->second);
    } else {
      HandleVote(std::get<Vote>(m));
    }
  }
}

// A restarted validator keeps its lock, and with it the valid value and the
// polka behind both. Algorithm 1 sets the valid value whenever it locks
// (validRound >= lockedRound); a core that restored only the lock would, as
// proposer, propose a fresh block and then prevote nil on it itself. The
// polka lets peers that never saw it accept the re-proposed block; without
// it a lock whose polka only this node and Byzantine ones received is never
// released, and the height stalls for good.
void Core::RestoreLock() {
  const auto& lock = signer_->lock();
  if (!lock || lock->height != height_) return;
  if (config_.testonly_restore_lock_only) {
    locked_round_ = lock->round;
    locked_value_ = lock->block;
    return;
  }
  locked_round_ = valid_round_ = lock->round;
  locked_value_ = valid_value_ = lock->block;
  for (const Vote& vote : lock->polka) HandleVote(vote);
}

// After a restart the signer refuses to sign the last step again with other
// contents, so re-send exactly what was signed and take up the step it
// implies; otherwise peers that missed it could wait forever for this vote.
void Core::ResumeLastSigned() {
  if (!self_) return;
  for (Step step : {Step::kPropose, Step::kPrevote, Step::kPrecommit}) {
    const auto& record = signer_->last_of(step);
    if (!record || record->height != height_ || record->round > round_) continue;
    if (step == Step::kPropose) {
      auto proposal = Proposal::FromSignBytes(record->sign_bytes);
      if (!proposal) continue;
      proposal->proposer = *self_;
      proposal->signature = record->signature;
      Propose(*proposal);
      continue;
    }
    auto vote = Vote::FromSignBytes(record->sign_bytes);
    if (!vote) continue;
    vote->validator = *self_;
    vote->signature = record->signature;
    if (record->round == round_) step_ = std::max(step_, step);
    out_.push_back(BroadcastVote{*vote});
    HandleVote(*vote);
  }
}

void Core::Propose(const Proposal& proposal) {
  std::vector<Vote> polka;
  if (proposal.valid_round >= 0) {
    polka = PolkaFor(static_cast<uint32_t>(proposal.valid_round), proposal.block);
  }
  out_.push_back(BroadcastProposal{proposal, std::move(polka)});
  HandleProposal(proposal, /*block_valid=*/true);
}

std::vector<Vote> Core::PolkaFor(uint32_t round, const Hash256& block) const {
  std::vector<Vote> polka;
  auto it = rounds_.find(round);
  if (it == rounds_.end()) return polka;
  for (const auto& [who, votes] : it->second.prevotes.by_validator) {
    for (const Vote& vote : votes) {
      if (vote.block == block) polka.push_back(vote);
    }
  }
  return polka;
}

ValidatorIndex Core::ProposerOf(uint32_t round) {
  while (proposers_.size() <= round) {
    if (!proposers_.empty()) rotation_.IncrementProposerPriority(1);
    proposers_.push_back(rotation_.Proposer());
  }
  return proposers_[round];
}

bool Core::Quorum(uint64_t power) const {
  return validators_now_->IsQuorum(power, config_.testonly_quorum_at_least_two_thirds);
}

void Core::StartRound(uint32_t round) {
  round_ = round;
  step_ = Step::kPropose;
  if (self_ && ProposerOf(round) == *self_) {
    if (valid_value_) {
      Proposal proposal{height_, round, static_cast<int32_t>(valid_round_), *valid_value_,
                        *self_, {}};
      auto signature = signer_->SignProposal(proposal);
      if (signature.ok()) {
        proposal.signature = *signature;
        Propose(proposal);
      }
    } else {
      out_.push_back(RequestBlock{height_, round});
    }
  }
  out_.push_back(ScheduleTimeout{Step::kPropose, height_, round,
                                 config_.timeouts.For(Step::kPropose, round)});
}

void Core::SignAndSend(Vote vote, const std::vector<Vote>& polka) {
  if (!self_) return;
  vote.validator = *self_;
  auto signature = signer_->SignVote(vote, polka);
  // A refusal means this step was signed differently before a restart; staying
  // silent is the safe answer and the f+1 rule keeps the network live.
  if (!signature.ok()) return;
  vote.signature = *signature;
  out_.push_back(BroadcastVote{vote});
  HandleVote(vote);
}

void Core::EnterPrevote(std::optional<Hash256> block) {
  step_ = Step::kPrevote;
  SignAndSend(Vote{VoteType::kPrevote, height_, round_, block, 0, {}});
}

// A non-nil precommit is a lock; the signer stores it with its polka.
void Core::EnterPrecommit(std::optional<Hash256> block) {
  step_ = Step::kPrecommit;
  std::vector<Vote> polka;
  if (block) polka = PolkaFor(round_, *block);
  SignAndSend(Vote{VoteType::kPrecommit, height_, round_, block, 0, {}}, polka);
}

void Core::NoteSender(RoundState& round, ValidatorIndex who) {
  if (round.senders.insert(who).second) round.senders_power += validators_now_->at(who).power;
}

void Core::HandleProposal(const Proposal& p, bool block_valid) {
  if (p.height == height_ + 1) {
    if (future_.size() < config_.future_messages_max) future_.emplace_back(std::pair(p, block_valid));
    return;
  }
  if (p.height != height_ || p.round > round_ + kRoundsAheadMax) return;
  if (p.valid_round < -1 || p.valid_round >= static_cast<int64_t>(p.round)) return;
  if (p.proposer >= validators_now_->size() || p.proposer != ProposerOf(p.round)) return;
  RoundState& rs = rounds_[p.round];
  if (rs.proposals.count(p.block) || rs.proposals.size() >= config_.proposals_per_round_max) {
    return;
  }
  rs.proposals.emplace(p.block, std::pair(p, block_valid));
  if (!rs.first_proposal) rs.first_proposal = p.block;
  NoteSender(rs, p.proposer);
}

void Core::HandleVote(const Vote& v) {
  if (v.height == height_ + 1) {
    if (future_.size() < config_.future_messages_max) future_.emplace_back(v);
    return;
  }
  if (v.height != height_ || v.round > round_ + kRoundsAheadMax) return;
  if (v.validator >= validators_now_->size()) return;
  RoundState& rs = rounds_[v.round];
  VoteSet& set = v.type == VoteType::kPrevote ? rs.prevotes : rs.precommits;
  std::vector<Vote>& votes = set.by_validator[v.validator];
  const uint64_t power = validators_now_->at(v.validator).power;
  if (votes.empty()) {
    set.power_any += power;
    NoteSender(rs, v.validator);
  } else {
    for (const Vote& seen : votes) {
      if (seen.block == v.block) return;  // a duplicate
    }
    if (evidence_reported_.insert({v.validator, v.round, v.type}).second) {
      out_.push_back(ReportEvidence{Evidence{validators_now_->at(v.validator).key, votes[0], v}});
    }
    // Only votes for nil or for a block proposed in this round can complete
    // a polka or a commit, so those are always kept (they are bounded by the
    // proposals per round); other equivocations only up to the cap.
    const bool may_matter = !v.block || rs.proposals.count(*v.block) > 0;
    if (!may_matter && votes.size() >= kVotesPerValidatorMax) return;
  }
  votes.push_back(v);
  set.power_for[v.block] += power;
}

// upon <PROPOSAL, h, r, v, *> from proposer(h, r) AND 2f+1 <PRECOMMIT, h, r, id(v)>
bool Core::TryDecide() {
  for (const auto& [round, rs] : rounds_) {
    for (const auto& [block, proposal] : rs.proposals) {
      if (proposal.second && Quorum(PowerFor(rs.precommits.power_for, block))) {
        Decide decision{height_, round, block, {}};
        for (const auto& [who, votes] : rs.precommits.by_validator) {
          for (const Vote& vote : votes) {
            if (vote.block == block) decision.commit.push_back(vote);
          }
        }
        out_.push_back(std::move(decision));
        EnterHeight(height_ + 1);
        return true;
      }
    }
  }
  return false;
}

// upon f+1 <*, h, round, *, *> with round > round_p: StartRound(round)
bool Core::TrySkipRound() {
  for (auto it = rounds_.rbegin(); it != rounds_.rend() && it->first > round_; ++it) {
    if (validators_now_->IsOneThirdPlus(it->second.senders_power)) {
      StartRound(it->first);
      return true;
    }
  }
  return false;
}

// The two "upon PROPOSAL while step = propose" rules.
bool Core::TryProposalRules() {
  if (step_ != Step::kPropose) return false;
  auto it = rounds_.find(round_);
  if (it == rounds_.end() || !it->second.first_proposal) return false;
  const auto& [p, valid] = it->second.proposals.at(*it->second.first_proposal);
  const bool ignore_lock = config_.testonly_ignore_lock;
  if (p.valid_round == -1) {
    bool accept = valid && (ignore_lock || locked_round_ == -1 || locked_value_ == p.block);
    EnterPrevote(accept ? std::optional(p.block) : std::nullopt);
    return true;
  }
  auto polka = rounds_.find(static_cast<uint32_t>(p.valid_round));
  if (polka == rounds_.end() || !Quorum(PowerFor(polka->second.prevotes.power_for, p.block))) {
    return false;
  }
  bool accept = valid && (ignore_lock || locked_round_ <= p.valid_round || locked_value_ == p.block);
  EnterPrevote(accept ? std::optional(p.block) : std::nullopt);
  return true;
}

// The rules on 2f+1 prevotes and precommits of the current round.
bool Core::TryPolkaRules() {
  auto it = rounds_.find(round_);
  if (it == rounds_.end()) return false;
  RoundState& rs = it->second;
  if (step_ == Step::kPrevote && !rs.prevote_timeout_scheduled && Quorum(rs.prevotes.power_any)) {
    rs.prevote_timeout_scheduled = true;
    out_.push_back(ScheduleTimeout{Step::kPrevote, height_, round_,
                                   config_.timeouts.For(Step::kPrevote, round_)});
  }
  if (step_ != Step::kPropose && !rs.polka_handled) {
    for (const auto& [block, proposal] : rs.proposals) {
      if (!proposal.second || !Quorum(PowerFor(rs.prevotes.power_for, block))) continue;
      rs.polka_handled = true;
      valid_value_ = block;
      valid_round_ = round_;
      if (step_ == Step::kPrevote) {
        locked_value_ = block;
        locked_round_ = round_;
        EnterPrecommit(block);
      }
      return true;
    }
  }
  if (step_ == Step::kPrevote && Quorum(PowerFor(rs.prevotes.power_for, std::nullopt))) {
    EnterPrecommit(std::nullopt);
    return true;
  }
  // 2f+1 precommits for nil: no block can gather 2f+1 precommits in this
  // round (the two quorums would share an honest validator that precommitted
  // twice), so waiting out timeoutPrecommit would only delay the next round.
  if (Quorum(PowerFor(rs.precommits.power_for, std::nullopt))) {
    StartRound(round_ + 1);
    return true;
  }
  if (!rs.precommit_timeout_scheduled && Quorum(rs.precommits.power_any)) {
    rs.precommit_timeout_scheduled = true;
    out_.push_back(ScheduleTimeout{Step::kPrecommit, height_, round_,
                                   config_.timeouts.For(Step::kPrecommit, round_)});
  }
  return false;
}

void Core::Reevaluate() {
  while (TryDecide() || TrySkipRound() || TryProposalRules() || TryPolkaRules()) {
  }
}

Actions Core::TakeActions() { return std::exchange(out_, {}); }

Actions Core::OnProposal(const Proposal& proposal, bool block_valid) {
  HandleProposal(proposal, block_valid);
  Reevaluate();
  return TakeActions();
}

Actions Core::OnVote(const Vote& vote) {
  HandleVote(vote);
  Reevaluate();
  return TakeActions();
}

Actions Core::OnTimeout(Step step, uint64_t height, uint32_t round) {
  if (height != height_ || round != round_) return {};
  if (step == Step::kPropose && step_ == Step::kPropose) {
    EnterPrevote(std::nullopt);
  } else if (step == Step::kPrevote && step_ == Step::kPrevote) {
    EnterPrecommit(std::nullopt);
  } else if (step == Step::kPrecommit) {
    StartRound(round_ + 1);
  }
  Reevaluate();
  return TakeActions();
}

Actions Core::OnBlockReady(uint64_t height, uint32_t round, const Hash256& block) {
  if (height != height_ || round != round_ || step_ != Step::kPropose || !self_ ||
      ProposerOf(round) != *self_) {
    return {};
  }
  Proposal proposal{height_, round, -1, block, *self_, {}};
  auto signature = signer_->SignProposal(proposal);
  if (!signature.ok()) return TakeActions();
  proposal.signature = *signature;
  Propose(proposal);
  Reevaluate();
  return TakeActions();
}

}  // namespace agora::consensus
