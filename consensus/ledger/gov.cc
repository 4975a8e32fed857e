#include "consensus/ledger/gov.h"


#include "common/check.h"
#include "common/proto_codec.h"
#include "consensus/ledger/bank.h"
#include "consensus/ledger/staking.h"
#include "proto/state.pb.h"

namespace agora::consensus::gov {
namespace {

constexpr std::string_view kNextIdKey = "gov/next_id";
constexpr std::string_view kProposalPrefix = "gov/prop/";
constexpr std::string_view kVotePrefix = "gov/vote/";
constexpr std::string_view kDepositQueue = "gov/q/deposit/";
constexpr std::string_view kVotingQueue = "gov/q/voting/";
constexpr std::string_view kApplyQueue = "gov/q/apply/";
constexpr uint64_t kMillion = 1'000'000;
// A proposal record is a few KB at most (title, text, 16 changes).
constexpr size_t kRecordBytesMax = 16u << 10;

std::string WithAddress(std::string prefix, const Address& a) {
  return WithBytes(std::move(prefix), a.bytes());
}
std::string ProposalKey(uint64_t id) { return WithU64(std::string(kProposalPrefix), id); }
std::string VotesOf(uint64_t id) { return WithU64(std::string(kVotePrefix), id); }
std::string VoteKey(uint64_t id, const Address& a) { return WithAddress(VotesOf(id), a); }
std::string DepositsOf(uint64_t id) { return WithU64(std::string(kDepositPrefix), id); }
std::string DepositKey(uint64_t id, const Address& a) { return WithAddress(DepositsOf(id), a); }
std::string QueueKey(std::string_view queue, uint64_t height, uint64_t id) {
  return WithU64(WithU64(std::string(queue), height), id);
}

// Products of stake (< 2^62) and ppm (<= 10^6) need 82 bits.
__extension__ typedef unsigned __int128 Wide;

// a * 10^6 / b rounded down; 0 when b is 0. a <= b * 2^20 in every use, so
// the quotient fits.
uint64_t Ppm(uint64_t a, uint64_t b) {
  if (b == 0) return 0;
  return static_cast<uint64_t>(static_cast<Wide>(a) * kMillion / b);
}
// a / b >= ppm / 10^6, exactly.
bool AtLeast(uint64_t a, uint64_t b, uint64_t ppm) {
  return static_cast<Wide>(a) * kMillion >= static_cast<Wide>(b) * ppm;
}
// a / b > ppm / 10^6, exactly.
bool Above(uint64_t a, uint64_t b, uint64_t ppm) {
  return static_cast<Wide>(a) * kMillion > static_cast<Wide>(b) * ppm;
}

Bytes EncodeProposal(const Proposal& p) {
  proto::ProposalRecord r;
  r.set_id(p.id);
  r.set_proposer(std::string(p.proposer.bytes().begin(), p.proposer.bytes().end()));
  r.set_title(p.title);
  r.set_text(p.text);
  for (const ParamChange& c : p.changes) {
    proto::ParamChange* pc = r.add_changes();
    pc->set_name(c.name);
    pc->set_value(c.value);
  }
  r.set_effective_height(p.effective_height);
  r.set_status(static_cast<uint32_t>(p.status));
  r.set_submit_height(p.submit_height);
  r.set_deposit_end_height(p.deposit_end_height);
  r.set_voting_start_height(p.voting_start_height);
  r.set_voting_end_height(p.voting_end_height);
  r.set_total_deposit_uagr(p.total_deposit_uagr);
  r.set_tally_yes(p.tally.yes);
  r.set_tally_no(p.tally.no);
  r.set_tally_abstain(p.tally.abstain);
  r.set_tally_veto(p.tally.veto);
  r.set_tally_bonded(p.tally.bonded);
  r.set_depositors(p.depositors);
  r.set_voters(p.voters);
  r.set_outcome(p.outcome);
  r.set_quorum_ppm(p.quorum_ppm);
  r.set_threshold_ppm(p.threshold_ppm);
  r.set_veto_ppm(p.veto_ppm);
  return EncodeDeterministic(r);
}

Proposal DecodeProposal(ByteSpan bytes) {
  proto::ProposalRecord r;
  // Written only by EncodeProposal: a failure is a damaged store.
  const Status s = DecodeStrict(bytes, kRecordBytesMax, r);
  AGORA_CHECK_MSG(s.ok(), "malformed proposal record: " + s.message());
  Proposal p;
  p.id = r.id();
  p.proposer = Address::FromBytes(AsBytes(r.proposer())).value();
  p.title = r.title();
  p.text = r.text();
  for (const proto::ParamChange& c : r.changes()) p.changes.push_back({c.name(), c.value()});
  p.effective_height = r.effective_height();
  p.status = static_cast<ProposalStatus>(r.status());
  p.submit_height = r.submit_height();
  p.deposit_end_height = r.deposit_end_height();
  p.voting_start_height = r.voting_start_height();
  p.voting_end_height = r.voting_end_height();
  p.total_deposit_uagr = r.total_deposit_uagr();
  p.tally = {r.tally_yes(), r.tally_no(), r.tally_abstain(), r.tally_veto(), r.tally_bonded()};
  p.depositors = r.depositors();
  p.voters = r.voters();
  p.outcome = r.outcome();
  p.quorum_ppm = r.quorum_ppm();
  p.threshold_ppm = r.threshold_ppm();
  p.veto_ppm = r.veto_ppm();
  return p;
}

void PutProposal(StateBuffer& state, const Proposal& p) {
  state.Set(ProposalKey(p.id), EncodeProposal(p));
}


// Moves `amount` from the sender's balance into the proposal's deposits.
// The caller has checked the depositor bound.
TxCode TakeDeposit(StateBuffer& state, Proposal& p, const Address& sender, uint64_t amount) {
  const TxCode code = bank::Debit(state, sender, amount);
  if (code != TxCode::kOk) return code;
  const std::string key = DepositKey(p.id, sender);
  const uint64_t before = state.GetU64(key);
  if (before == 0) ++p.depositors;
  // Every deposit came out of a balance: the sums stay below 2^62.
  state.SetU64(key, before + amount);
  p.total_deposit_uagr += amount;
  state.SetU64(kTotalDepositsKey, state.GetU64(kTotalDepositsKey) + amount);
  return TxCode::kOk;
}

// Returns every deposit of the proposal to its depositor, or burns them.
void SettleDeposits(StateBuffer& state, const Proposal& p, bool burn) {
  uint64_t total = 0;
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(DepositsOf(p.id)), kDepositorsMax)) {
    const uint64_t amount = ReadU64(value, 0);
    total += amount;
    if (!burn) {
      const Address depositor =
          Address::FromBytes(ByteSpan(key).subspan(key.size() - Address::kSize)).value();
      AGORA_CHECK(bank::Credit(state, depositor, amount) == TxCode::kOk);
    }
    state.Delete(std::string(key.begin(), key.end()));
  }
  AGORA_CHECK_MSG(total == p.total_deposit_uagr, "proposal deposits differ from their record");
  const uint64_t held = state.GetU64(kTotalDepositsKey);
  AGORA_CHECK(held >= total);
  state.SetU64(kTotalDepositsKey, held - total);
  if (burn) bank::Burn(state, total);
}

// Whether another proposal may end its voting at `voting_end`.
bool TallyRoomAt(StateReader& state, uint64_t voting_end) {
  const std::string prefix = WithU64(std::string(kVotingQueue), voting_end);
  return state.ScanPrefix(AsBytes(prefix), kTalliesPerHeightMax).size() < kTalliesPerHeightMax;
}

TxResult NoTallyRoom(uint64_t voting_end) {
  return Refuse(TxCode::kLimitReached,
              std::to_string(kTalliesPerHeightMax) + " proposals already end their voting at height " +
                  std::to_string(voting_end) + "; try again in the next block");
}

void StartVoting(StateBuffer& state, Proposal& p, uint64_t height, uint64_t voting_end) {
  if (p.deposit_end_height != 0) state.Delete(QueueKey(kDepositQueue, p.deposit_end_height, p.id));
  p.status = ProposalStatus::kVoting;
  p.voting_start_height = height;
  p.voting_end_height = voting_end;
  state.Set(QueueKey(kVotingQueue, voting_end, p.id), Bytes{});
}

Event ProposalEvent(std::string type, const Proposal& p) {
  return {std::move(type),
          {{"proposal_id", std::to_string(p.id)}, {"status", std::string(StatusName(p.status))}}};
}

std::vector<uint64_t> QueuedAt(StateReader& state, std::string_view queue, uint64_t height) {
  const std::string prefix = WithU64(std::string(queue), height);
  std::vector<uint64_t> ids;
  // Each entry was made by a transaction of one block (or, for voting, is
  // capped at kTalliesPerHeightMax): the bound is the block's.
  constexpr size_t kEntriesMax = 1'000'000;
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(prefix), kEntriesMax)) {
    ids.push_back(ReadU64(key, prefix.size()));
  }
  return ids;
}

void Tallied(StateBuffer& state, Proposal& p, uint64_t height, std::vector<Event>* events) {
  const Params params = LoadParams(state);
  p.tally = CurrentTally(state, p.id);
  const Verdict v = Judge(p.tally, params);
  p.status = v.status;
  p.quorum_ppm = params.gov_quorum_ppm;
  p.threshold_ppm = params.gov_threshold_ppm;
  p.veto_ppm = params.gov_veto_ppm;
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(VotesOf(p.id)), kVotersMax)) {
    state.Delete(std::string(key.begin(), key.end()));
  }
  state.Delete(QueueKey(kVotingQueue, height, p.id));
  const bool burn = p.status == ProposalStatus::kVetoed || p.status == ProposalStatus::kNoQuorum;
  SettleDeposits(state, p, burn);
  p.outcome = std::string(StatusName(p.status)) + " at height " + std::to_string(height) +
              ": turnout " + std::to_string(v.turnout_ppm) + " ppm, yes " +
              std::to_string(v.yes_ppm) + " ppm, veto " + std::to_string(v.veto_ppm) +
              " ppm; deposits " + (burn ? "burned" : "returned");
  if (p.status == ProposalStatus::kPassed) {
    // Submission and the start of voting made sure effective >= height.
    AGORA_CHECK(p.effective_height >= height);
    state.Set(QueueKey(kApplyQueue, p.effective_height, p.id), Bytes{});
  }
  Event e = ProposalEvent("proposal_tallied", p);
  e.attributes.push_back({"turnout_ppm", std::to_string(v.turnout_ppm)});
  e.attributes.push_back({"yes_ppm", std::to_string(v.yes_ppm)});
  e.attributes.push_back({"veto_ppm", std::to_string(v.veto_ppm)});
  e.attributes.push_back({"deposits", burn ? "burned" : "returned"});
  events->push_back(std::move(e));
}

// The rules between parameters and the chain's state: a deposit no account
// set could ever gather would lock governance for good (the proposal that
// lowers it could never reach voting), so gov.deposit_min_uagr stays at
// most 1% of the coins in existence when a proposal raises it (lowering it
// or leaving it is always allowed, whatever the genesis set).
Status CheckAgainstState(const Params& now, const Params& next, StateReader& state) {
  const uint64_t coins = state.GetU64(bank::kSupplyKey) - state.GetU64(bank::kBurnedKey);
  if (next.gov_deposit_min_uagr > now.gov_deposit_min_uagr &&
      next.gov_deposit_min_uagr > coins / 100) {
    return Status::InvalidArgument(
        "gov.deposit_min_uagr " + std::to_string(next.gov_deposit_min_uagr) +
        " is above 1% of the coins in existence (" + std::to_string(coins / 100) +
        " uagr): no deposit might ever reach it and governance would be locked for good");
  }
  return Status::Ok();
}

void Apply(StateBuffer& state, Proposal& p, uint64_t height, std::vector<Event>* events) {
  state.Delete(QueueKey(kApplyQueue, height, p.id));
  std::vector<std::pair<std::string, uint64_t>> changes;
  for (const ParamChange& c : p.changes) changes.emplace_back(c.name, c.value);
  const Params now = LoadParams(state);
  Result<Params> next = WithChanges(now, changes);
  if (next.ok()) {
    if (Status fits = CheckAgainstState(now, *next, state); !fits.ok()) next = fits;
  }
  if (!next.ok()) {
    // Another proposal applied since may have made these values break a
    // rule between parameters: the whole proposal is refused, none of it
    // applied.
    p.status = ProposalStatus::kApplyFailed;
    p.outcome = "not applied at height " + std::to_string(height) + ": " + next.status().message();
    Event e = ProposalEvent("proposal_apply_failed", p);
    e.attributes.push_back({"reason", next.status().message()});
    events->push_back(std::move(e));
    return;
  }
  StoreParams(*next, state);
  p.status = ProposalStatus::kApplied;
  p.outcome = "applied at height " + std::to_string(height);
  for (const ParamChange& c : p.changes) {
    events->push_back({"param_changed",
                       {{"proposal_id", std::to_string(p.id)},
                        {"name", c.name},
                        {"value", std::to_string(c.value)},
                        {"height", std::to_string(height)}}});
  }
}

}  // namespace

std::string_view StatusName(ProposalStatus status) {
  switch (status) {
    case ProposalStatus::kDeposit: return "deposit";
    case ProposalStatus::kVoting: return "voting";
    case ProposalStatus::kPassed: return "passed";
    case ProposalStatus::kRejected: return "rejected";
    case ProposalStatus::kVetoed: return "vetoed";
    case ProposalStatus::kNoQuorum: return "no_quorum";
    case ProposalStatus::kExpired: return "expired";
    case ProposalStatus::kApplied: return "applied";
    case ProposalStatus::kApplyFailed: return "apply_failed";
  }
  return "unknown";
}

Verdict Judge(const Tally& t, const Params& params) {
  // Each count is stake, at most 2^62 in all: sums cannot overflow.
  const uint64_t turnout = t.yes + t.no + t.abstain + t.veto;
  const uint64_t decided = t.yes + t.no + t.veto;
  Verdict v;
  v.turnout_ppm = Ppm(turnout, t.bonded);
  v.yes_ppm = Ppm(t.yes, decided);
  v.no_ppm = Ppm(t.no, decided);
  v.veto_ppm = Ppm(t.veto, turnout);
  v.quorum_met = t.bonded > 0 && turnout > 0 && AtLeast(turnout, t.bonded, params.gov_quorum_ppm);
  v.vetoed = turnout > 0 && AtLeast(t.veto, turnout, params.gov_veto_ppm);
  v.threshold_met = decided > 0 && Above(t.yes, decided, params.gov_threshold_ppm);
  if (!v.quorum_met) {
    v.status = ProposalStatus::kNoQuorum;
  } else if (v.vetoed) {
    v.status = ProposalStatus::kVetoed;
  } else if (v.threshold_met) {
    v.status = ProposalStatus::kPassed;
  } else {
    v.status = ProposalStatus::kRejected;  // including every vote an abstention
  }
  return v;
}

std::optional<Proposal> GetProposal(StateReader& state, uint64_t id) {
  std::optional<Bytes> v = state.Get(ProposalKey(id));
  if (!v) return std::nullopt;
  return DecodeProposal(*v);
}

std::vector<Proposal> ListProposals(StateReader& state, uint64_t before, size_t limit) {
  const uint64_t next = state.GetU64(kNextIdKey);
  uint64_t id = next == 0 ? 0 : next - 1;
  if (before != 0 && before < id) id = before;
  std::vector<Proposal> out;
  for (; id >= 1 && out.size() < limit; --id) {
    if (std::optional<Proposal> p = GetProposal(state, id)) out.push_back(std::move(*p));
  }
  return out;
}

Tally CurrentTally(StateReader& state, uint64_t id) {
  Tally t;
  const std::string prefix = VotesOf(id);
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(prefix), kVotersMax)) {
    const Address voter = Address::FromBytes(ByteSpan(key).subspan(prefix.size())).value();
    const uint64_t stake = staking::GetStake(state, voter);
    AGORA_CHECK(value.size() == 1);
    switch (static_cast<VoteOption>(value[0])) {
      case VoteOption::kYes: t.yes += stake; break;
      case VoteOption::kNo: t.no += stake; break;
      case VoteOption::kAbstain: t.abstain += stake; break;
      case VoteOption::kVeto: t.veto += stake; break;
    }
  }
  t.bonded = state.GetU64(staking::kTotalBondedKey);
  return t;
}

std::vector<Address> VotersBelowMinimum(StateReader& state, uint64_t id, size_t limit) {
  const uint64_t voter_min = state.GetU64(staking::kTotalBondedKey) / kVotersMax;
  const std::string prefix = VotesOf(id);
  std::vector<Address> out;
  for (const auto& [key, value] : state.ScanPrefix(AsBytes(prefix), kVotersMax)) {
    if (out.size() >= limit) break;
    const Address voter = Address::FromBytes(ByteSpan(key).subspan(prefix.size())).value();
    if (staking::GetStake(state, voter) < voter_min) out.push_back(voter);
  }
  return out;
}

std::optional<VoteOption> GetVote(StateReader& state, uint64_t id, const Address& voter) {
  std::optional<Bytes> v = state.Get(VoteKey(id, voter));
  if (!v) return std::nullopt;
  AGORA_CHECK(v->size() == 1);
  return static_cast<VoteOption>((*v)[0]);
}

uint64_t DepositOf(StateReader& state, uint64_t id, const Address& depositor) {
  return state.GetU64(DepositKey(id, depositor));
}

TxResult HandleSubmitProposal(StateBuffer& state, const Params& params, uint64_t height,
                              const Address& sender, const MsgSubmitProposal& msg) {
  // Decoding checked each value against its bounds; the rules between
  // parameters are checked here against the parameters in force, and again
  // when the proposal is applied.
  std::vector<std::pair<std::string, uint64_t>> changes;
  for (const ParamChange& c : msg.changes) changes.emplace_back(c.name, c.value);
  Result<Params> next = WithChanges(params, changes);
  if (!next.ok()) return Refuse(TxCode::kInvalidMessage, next.status().message());
  if (Status fits = CheckAgainstState(params, *next, state); !fits.ok()) {
    return Refuse(TxCode::kInvalidMessage, fits.message());
  }
  // Voting ends gov.voting_blocks after it starts, at the earliest in this
  // block; the changes cannot take effect before the tally.
  const uint64_t earliest = height + params.gov_voting_blocks;
  if (msg.effective_height < earliest) {
    return Refuse(TxCode::kInvalidMessage,
                "effective height " + std::to_string(msg.effective_height) +
                    " is before the earliest end of voting (height " + std::to_string(earliest) +
                    "); name a height of at least " + std::to_string(earliest));
  }
  if (msg.effective_height - earliest > params.gov_deposit_blocks + kEffectiveHeightAheadMax) {
    return Refuse(TxCode::kInvalidMessage,
                "effective height " + std::to_string(msg.effective_height) +
                    " is too far ahead (at most " +
                    std::to_string(earliest + params.gov_deposit_blocks +
                                   kEffectiveHeightAheadMax) +
                    ")");
  }
  if (msg.deposit_uagr >= params.gov_deposit_min_uagr && !TallyRoomAt(state, earliest)) {
    return NoTallyRoom(earliest);
  }
  Proposal p;
  p.id = std::max<uint64_t>(state.GetU64(kNextIdKey), 1);
  p.proposer = sender;
  p.title = msg.title;
  p.text = msg.text;
  p.changes = msg.changes;
  p.effective_height = msg.effective_height;
  p.submit_height = height;
  const TxCode code = TakeDeposit(state, p, sender, msg.deposit_uagr);
  if (code != TxCode::kOk) {
    return Refuse(code, "balance does not cover the deposit of " +
                          std::to_string(msg.deposit_uagr) + " uagr");
  }
  state.SetU64(kNextIdKey, p.id + 1);
  if (p.total_deposit_uagr >= params.gov_deposit_min_uagr) {
    StartVoting(state, p, height, earliest);
  } else {
    p.status = ProposalStatus::kDeposit;
    p.deposit_end_height = height + params.gov_deposit_blocks;
    state.Set(QueueKey(kDepositQueue, p.deposit_end_height, p.id), Bytes{});
  }
  PutProposal(state, p);
  TxResult r;
  Event e = ProposalEvent("proposal_submitted", p);
  e.attributes.push_back({"proposer", sender.ToString()});
  e.attributes.push_back({"effective_height", std::to_string(p.effective_height)});
  if (p.status == ProposalStatus::kVoting) {
    e.attributes.push_back({"voting_end_height", std::to_string(p.voting_end_height)});
  } else {
    e.attributes.push_back({"deposit_end_height", std::to_string(p.deposit_end_height)});
  }
  r.events.push_back(std::move(e));
  return r;
}

TxResult HandleDeposit(StateBuffer& state, const Params& params, uint64_t height,
                       const Address& sender, const MsgDeposit& msg) {
  std::optional<Proposal> p = GetProposal(state, msg.proposal_id);
  if (!p) return Refuse(TxCode::kNotFound, "no proposal " + std::to_string(msg.proposal_id));
  if (p->status != ProposalStatus::kDeposit && p->status != ProposalStatus::kVoting) {
    return Refuse(TxCode::kWrongPhase, "proposal " + std::to_string(p->id) + " is closed (" +
                                         std::string(StatusName(p->status)) +
                                         "); deposits are taken only before its tally");
  }
  const bool new_depositor = DepositOf(state, p->id, sender) == 0;
  if (new_depositor && p->depositors >= kDepositorsMax) {
    return Refuse(TxCode::kLimitReached, "proposal " + std::to_string(p->id) + " has " +
                                           std::to_string(kDepositorsMax) +
                                           " depositors, the most it may have");
  }
  // A first deposit is at least 1/kDepositorsMax of the minimum, so that
  // filling every depositor slot costs as much as funding the proposal
  // (found in review, 2026-12-03: 1,000 deposits of 1 uagr shut everyone
  // else out).
  const uint64_t first_min = params.gov_deposit_min_uagr / kDepositorsMax;
  if (new_depositor && msg.amount_uagr < first_min) {
    return Refuse(TxCode::kInvalidMessage,
                  "a first deposit to a proposal is at least " + std::to_string(first_min) +
                      " uagr (gov.deposit_min_uagr / " + std::to_string(kDepositorsMax) +
                      "), so that " + std::to_string(kDepositorsMax) +
                      " depositors can hold every deposit that matters");
  }
  const bool starts_voting = p->status == ProposalStatus::kDeposit &&
                             p->total_deposit_uagr + msg.amount_uagr >= params.gov_deposit_min_uagr;
  if (p->status == ProposalStatus::kDeposit && height > p->deposit_end_height) {
    // EndBlock of deposit_end_height expires it; this cannot be reached
    // unless that failed, and must never start voting late.
    return Refuse(TxCode::kWrongPhase, "the deposit period of proposal " + std::to_string(p->id) +
                                         " ended at height " +
                                         std::to_string(p->deposit_end_height));
  }
  const uint64_t voting_end = height + params.gov_voting_blocks;
  if (starts_voting && !TallyRoomAt(state, voting_end)) return NoTallyRoom(voting_end);
  if (starts_voting && voting_end > p->effective_height) {
    return Refuse(TxCode::kWrongPhase,
                "this deposit would start voting that ends at height " +
                    std::to_string(voting_end) + ", after the proposal's effective height " +
                    std::to_string(p->effective_height) +
                    "; the proposal cannot pass any more and its deposits return when its "
                    "deposit period ends at height " +
                    std::to_string(p->deposit_end_height));
  }
  const TxCode code = TakeDeposit(state, *p, sender, msg.amount_uagr);
  if (code != TxCode::kOk) {
    return Refuse(code, "balance does not cover the deposit of " +
                          std::to_string(msg.amount_uagr) + " uagr");
  }
  if (starts_voting) StartVoting(state, *p, height, voting_end);
  PutProposal(state, *p);
  TxResult r;
  Event e = ProposalEvent("proposal_deposit", *p);
  e.attributes.push_back({"depositor", sender.ToString()});
  e.attributes.push_back({"amount_uagr", std::to_string(msg.amount_uagr)});
  e.attributes.push_back({"total_deposit_uagr", std::to_string(p->total_deposit_uagr)});
  r.events.push_back(std::move(e));
  return r;
}

TxResult HandleVote(StateBuffer& state, uint64_t height, const Address& sender,
                    const MsgVote& msg) {
  std::optional<Proposal> p = GetProposal(state, msg.proposal_id);
  if (!p) return Refuse(TxCode::kNotFound, "no proposal " + std::to_string(msg.proposal_id));
  if (p->status == ProposalStatus::kDeposit) {
    return Refuse(TxCode::kWrongPhase,
                "proposal " + std::to_string(p->id) +
                    " is still in its deposit period; voting starts once deposits reach the "
                    "minimum (`agora gov deposit`)");
  }
  if (p->status != ProposalStatus::kVoting) {
    return Refuse(TxCode::kWrongPhase, "voting on proposal " + std::to_string(p->id) +
                                         " ended at height " +
                                         std::to_string(p->voting_end_height) + " (" +
                                         std::string(StatusName(p->status)) + ")");
  }
  AGORA_CHECK(height <= p->voting_end_height);
  if (staking::GetStake(state, sender) == 0) {
    return Refuse(TxCode::kNoStake,
                "voting power is bonded stake and this account has none; stake first with "
                "`agora tx stake`");
  }
  const std::string key = VoteKey(p->id, sender);
  const bool revote = state.Get(key).has_value();
  // A new voter holds at least 1/kVotersMax of the bonded stake, so that
  // filling every voter slot takes as much stake as the whole set bonds
  // (found in review, 2026-12-03: 10,000 accounts staking 1 uagr each
  // shut every real voter out, the tally missed quorum and the deposits
  // burned).
  const uint64_t voter_min = state.GetU64(staking::kTotalBondedKey) / kVotersMax;
  if (!revote && staking::GetStake(state, sender) < voter_min) {
    return Refuse(TxCode::kNoStake,
                  "a voter needs at least " + std::to_string(voter_min) +
                      " uagr bonded (1/" + std::to_string(kVotersMax) +
                      " of all bonded stake, so that the " + std::to_string(kVotersMax) +
                      " votes a tally counts hold every vote that matters); this account has " +
                      std::to_string(staking::GetStake(state, sender)) +
                      "; stake more with `agora tx stake`");
  }
  TxResult r;
  if (msg.evict) {
    // A vote whose voter has since unstaked below the minimum gives its slot
    // up to a voter who holds it (found in review, 2026-12-03: stake cycled
    // through accounts, vote then unstake, kept every slot of a proposal).
    if (revote) {
      return Refuse(TxCode::kInvalidMessage,
                    "this account has voted on proposal " + std::to_string(p->id) +
                        " already; a new vote replaces it and takes no other voter's slot");
    }
    // Only to free a slot: a vote can fall below the minimum without its
    // voter doing anything (the bonded total grew), and must not be
    // removable while there is room (found in review, 2026-12-03).
    if (p->voters < kVotersMax) {
      return Refuse(TxCode::kInvalidMessage,
                    "proposal " + std::to_string(p->id) + " has " + std::to_string(p->voters) +
                        " of at most " + std::to_string(kVotersMax) +
                        " voters: a slot is free; vote without evict");
    }
    if (!state.Get(VoteKey(p->id, *msg.evict)).has_value()) {
      return Refuse(TxCode::kInvalidMessage, msg.evict->ToString() +
                                               " has no vote on proposal " +
                                               std::to_string(p->id) + " to evict");
    }
    const uint64_t evicted_stake = staking::GetStake(state, *msg.evict);
    if (evicted_stake >= voter_min) {
      return Refuse(TxCode::kInvalidMessage,
                    msg.evict->ToString() + " holds " + std::to_string(evicted_stake) +
                        " uagr bonded, not below the voter minimum of " +
                        std::to_string(voter_min) + "; only a vote below it can be evicted");
    }
    state.Delete(VoteKey(p->id, *msg.evict));
    AGORA_CHECK(p->voters > 0);
    --p->voters;
    r.events.push_back({"vote_evicted",
                        {{"proposal_id", std::to_string(p->id)},
                         {"voter", msg.evict->ToString()},
                         {"stake_uagr", std::to_string(evicted_stake)},
                         {"by", sender.ToString()}}});
  }
  if (!revote) {
    if (p->voters >= kVotersMax) {
      return Refuse(TxCode::kLimitReached,
                    "proposal " + std::to_string(p->id) + " has " + std::to_string(kVotersMax) +
                        " voters, the most a tally counts; a voter whose stake fell below the "
                        "minimum can be evicted: `agora gov vote ... --evict ADDR` (`agora query "
                        "tally " +
                        std::to_string(p->id) + "` lists them)");
    }
    ++p->voters;
    PutProposal(state, *p);
  }
  state.Set(key, Bytes{static_cast<uint8_t>(msg.option)});
  r.events.push_back({"vote",
                      {{"proposal_id", std::to_string(p->id)},
                       {"voter", sender.ToString()},
                       {"option", std::string(VoteOptionName(msg.option))},
                       {"replaced", revote ? "true" : "false"}}});
  return r;
}

void EndBlock(StateBuffer& state, uint64_t height, std::vector<Event>* events) {
  for (uint64_t id : QueuedAt(state, kDepositQueue, height)) {
    Proposal p = GetProposal(state, id).value();
    AGORA_CHECK(p.status == ProposalStatus::kDeposit);
    state.Delete(QueueKey(kDepositQueue, height, id));
    SettleDeposits(state, p, /*burn=*/false);
    p.status = ProposalStatus::kExpired;
    p.outcome = "deposits stayed below the minimum until height " + std::to_string(height) +
                "; deposits returned";
    PutProposal(state, p);
    events->push_back(ProposalEvent("proposal_expired", p));
  }
  for (uint64_t id : QueuedAt(state, kVotingQueue, height)) {
    Proposal p = GetProposal(state, id).value();
    AGORA_CHECK(p.status == ProposalStatus::kVoting);
    Tallied(state, p, height, events);
    PutProposal(state, p);
  }
  // Key order is id order: two proposals at one height apply lowest id
  // first, so the later one's values win where both touch a parameter.
  for (uint64_t id : QueuedAt(state, kApplyQueue, height)) {
    Proposal p = GetProposal(state, id).value();
    AGORA_CHECK(p.status == ProposalStatus::kPassed);
    Apply(state, p, height, events);
    PutProposal(state, p);
  }
}

}  // namespace agora::consensus::gov
