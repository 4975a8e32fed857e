#include "consensus/ledger/tx.h"

#include <algorithm>
#include <set>

#include "common/merkle.h"
#include "common/proto_codec.h"
#include "consensus/ledger/params.h"
#include "proto/tx.pb.h"

namespace agora::consensus {
namespace {

Status CheckAmount(uint64_t amount, std::string_view what) {
  if (amount == 0) return Status::InvalidArgument(std::string(what) + " amount must be > 0");
  if (amount > kAmountUagrMax) {
    return Status::InvalidArgument(std::string(what) + " amount above the maximum of 2^62 uagr");
  }
  return Status::Ok();
}

// Printable text: no control characters — C0, DEL, C1 (U+0080..U+009F,
// UTF-8 C2 80..C2 9F) — and none of the bidirectional overrides and
// isolates (U+202A..U+202E, U+2066..U+2069) that make text read otherwise
// than it is stored. The protobuf parser has checked it is valid UTF-8.
// `multiline` also allows newlines and tabs.
bool PrintableText(std::string_view s, bool multiline) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (multiline && (s[i] == '\n' || s[i] == '\t')) continue;
    if (u < 0x20 || u == 0x7f) return false;
    const auto next = [&](size_t k) {
      return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0;
    };
    if (u == 0xc2 && next(1) >= 0x80 && next(1) <= 0x9f) return false;
    if (u == 0xe2 && next(1) == 0x80 && next(2) >= 0xaa && next(2) <= 0xae) return false;
    if (u == 0xe2 && next(1) == 0x81 && next(2) >= 0xa6 && next(2) <= 0xa9) return false;
  }
  return true;
}

}  // namespace

Status CheckJobTitle(std::string_view title) {
  if (title.size() > kJobTitleBytesMax || !PrintableText(title, false)) {
    return Status::InvalidArgument("title must be at most " + std::to_string(kJobTitleBytesMax) +
                                   " bytes of printable text (no control or bidi-override "
                                   "characters)");
  }
  return Status::Ok();
}

namespace {

Result<Msg> DecodeSubmitProposal(const proto::SubmitProposal& m) {
  MsgSubmitProposal out;
  if (m.changes().empty() || static_cast<size_t>(m.changes().size()) > kProposalChangesMax) {
    return Status::InvalidArgument("submit_proposal: 1 to " + std::to_string(kProposalChangesMax) +
                                   " parameter changes");
  }
  std::set<std::string> names;
  for (const proto::ParamChange& c : m.changes()) {
    Status s = ValidateParam(c.name(), c.value());
    if (!s.ok()) return Status::InvalidArgument("submit_proposal: " + s.message());
    if (!names.insert(c.name()).second) {
      return Status::InvalidArgument("submit_proposal: parameter " + c.name() +
                                     " changed twice in one proposal");
    }
    out.changes.push_back({c.name(), c.value()});
  }
  if (m.title().empty() || m.title().size() > kProposalTitleBytesMax ||
      !PrintableText(m.title(), false)) {
    return Status::InvalidArgument("submit_proposal: title must be 1.." +
                                   std::to_string(kProposalTitleBytesMax) +
                                   " bytes of printable text");
  }
  if (m.text().size() > kProposalTextBytesMax || !PrintableText(m.text(), true)) {
    return Status::InvalidArgument("submit_proposal: text must be at most " +
                                   std::to_string(kProposalTextBytesMax) +
                                   " bytes of printable text (newlines and tabs allowed)");
  }
  AGORA_RETURN_IF_ERROR(CheckAmount(m.deposit_uagr(), "submit_proposal deposit"));
  if (m.effective_height() == 0) {
    return Status::InvalidArgument("submit_proposal: effective height must be set");
  }
  out.title = m.title();
  out.text = m.text();
  out.deposit_uagr = m.deposit_uagr();
  out.effective_height = m.effective_height();
  return Msg(std::move(out));
}

template <class P>
Result<ProviderOffer> DecodeOffer(const P& m, std::string_view what) {
  ProviderOffer o;
  auto hw = market::ParseHardwareClass(m.hardware_class());
  if (!hw.ok()) return Status::InvalidArgument(std::string(what) + ": " + hw.status().message());
  o.hardware = *hw;
  if (m.speed_wu_per_s() == 0 || m.speed_wu_per_s() > kAmountUagrMax) {
    return Status::InvalidArgument(std::string(what) + ": speed must be 1..2^62 wu/s");
  }
  if (m.capacity_tasks() == 0 || m.capacity_tasks() > kProviderCapacityMax) {
    return Status::InvalidArgument(std::string(what) + ": capacity must be 1.." +
                                   std::to_string(kProviderCapacityMax) + " tasks");
  }
  if (m.ask_uagr_per_wu() == 0 || m.ask_uagr_per_wu() > kAmountUagrMax) {
    return Status::InvalidArgument(std::string(what) + ": ask must be 1..2^62 uagr per wu");
  }
  const std::string& url = m.blob_endpoint();
  if (url.size() > kBlobEndpointBytesMax || !PrintableText(url, false) ||
      url.find(' ') != std::string::npos ||
      !(url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) ||
      url.size() <= std::string_view("https://").size()) {
    return Status::InvalidArgument(std::string(what) +
                                   ": blob endpoint must be an http:// or https:// URL of at most " +
                                   std::to_string(kBlobEndpointBytesMax) + " bytes");
  }
  o.speed_wu_per_s = m.speed_wu_per_s();
  o.capacity_tasks = m.capacity_tasks();
  o.ask_uagr_per_wu = m.ask_uagr_per_wu();
  o.blob_endpoint = url;
  return o;
}

template <class P>
void EncodeOffer(const ProviderOffer& o, P* m) {
  m->set_hardware_class(std::string(market::HardwareClassName(o.hardware)));
  m->set_speed_wu_per_s(o.speed_wu_per_s);
  m->set_capacity_tasks(o.capacity_tasks);
  m->set_ask_uagr_per_wu(o.ask_uagr_per_wu);
  m->set_blob_endpoint(o.blob_endpoint);
}

Result<Hash256> DecodeHash(const std::string& b, std::string_view what) {
  Result<Hash256> h = Hash256::Parse(AsBytes(b));
  if (!h.ok()) {
    return Status::InvalidArgument(std::string(what) + " must be 32 bytes, got " +
                                   std::to_string(b.size()));
  }
  return h;
}

Result<std::vector<Hash256>> DecodeProof(const std::string& b, std::string_view what) {
  Result<std::vector<Hash256>> p = merkle::DecodeSiblings(AsBytes(b));
  if (!p.ok()) return Status::InvalidArgument(std::string(what) + ": " + p.status().message());
  return p;
}

std::string HashString(const Hash256& h) { return std::string(h.bytes.begin(), h.bytes.end()); }

std::string ProofString(const std::vector<Hash256>& siblings) {
  const Bytes b = merkle::EncodeSiblings(siblings);
  return std::string(b.begin(), b.end());
}

Result<Msg> DecodeCommitTask(const proto::CommitTask& m) {
  if (m.job_id() == 0) return Status::InvalidArgument("commit_task: job id must be set");
  MsgCommitTask c;
  c.job_id = m.job_id();
  c.round = m.round();
  c.worker = m.worker();
  AGORA_ASSIGN_OR_RETURN(c.checkpoint_root, DecodeHash(m.checkpoint_root(), "commit_task: checkpoint root"));
  AGORA_ASSIGN_OR_RETURN(c.delta_hash, DecodeHash(m.delta_hash(), "commit_task: delta hash"));
  if (m.losses().empty() || static_cast<size_t>(m.losses().size()) > market::kInnerStepsMax) {
    return Status::InvalidArgument("commit_task: one loss per inner step (1.." +
                                   std::to_string(market::kInnerStepsMax) + "), got " +
                                   std::to_string(m.losses().size()));
  }
  c.losses.assign(m.losses().begin(), m.losses().end());
  AGORA_ASSIGN_OR_RETURN(c.start_proof, DecodeProof(m.start_proof(), "commit_task: start proof"));
  return Msg(std::move(c));
}

Result<Msg> DecodeVerdict(const proto::Verdict& m) {
  if (m.job_id() == 0) return Status::InvalidArgument("verdict: job id must be set");
  MsgVerdict v;
  v.job_id = m.job_id();
  v.round = m.round();
  v.worker = m.worker();
  v.slot = m.slot();
  if (!m.vrf_proof().empty()) {
    Result<VrfProof> proof = VrfProof::Parse(AsBytes(m.vrf_proof()));
    if (!proof.ok()) return Status::InvalidArgument("verdict: the VRF proof must be 80 bytes or absent");
    v.vrf_proof = *proof;
  }
  if (m.outcome() < 1 || m.outcome() > 3) {
    return Status::InvalidArgument("verdict: outcome must be pass (1), fail (2) or unavailable (3)");
  }
  v.outcome = static_cast<VerdictOutcome>(m.outcome());
  if (m.reason() > 3) return Status::InvalidArgument("verdict: reason must be 0..3");
  v.reason = static_cast<FailReason>(m.reason());
  if ((v.outcome == VerdictOutcome::kFail) != (v.reason != FailReason::kNone)) {
    return Status::InvalidArgument("verdict: a fail names its reason (end state, losses or delta) and nothing else does");
  }
  if (v.outcome == VerdictOutcome::kUnavailable) {
    if (!m.start_hash().empty() || !m.committed_end().empty() || !m.final_hash().empty() ||
        !m.replayed_end().empty() || !m.witness_hash().empty() || !m.start_proof().empty() ||
        !m.end_proof().empty() || !m.final_proof().empty() || !m.losses().empty()) {
      return Status::InvalidArgument("verdict: an unavailable verdict carries no hashes, proofs or losses");
    }
    return Msg(std::move(v));
  }
  AGORA_ASSIGN_OR_RETURN(v.start_hash, DecodeHash(m.start_hash(), "verdict: start hash"));
  AGORA_ASSIGN_OR_RETURN(v.committed_end, DecodeHash(m.committed_end(), "verdict: committed end"));
  AGORA_ASSIGN_OR_RETURN(v.final_hash, DecodeHash(m.final_hash(), "verdict: final hash"));
  AGORA_ASSIGN_OR_RETURN(v.replayed_end, DecodeHash(m.replayed_end(), "verdict: replayed end"));
  AGORA_ASSIGN_OR_RETURN(v.witness_hash, DecodeHash(m.witness_hash(), "verdict: witness hash"));
  AGORA_ASSIGN_OR_RETURN(v.start_proof, DecodeProof(m.start_proof(), "verdict: start proof"));
  AGORA_ASSIGN_OR_RETURN(v.end_proof, DecodeProof(m.end_proof(), "verdict: end proof"));
  AGORA_ASSIGN_OR_RETURN(v.final_proof, DecodeProof(m.final_proof(), "verdict: final proof"));
  if (m.losses().empty() || static_cast<size_t>(m.losses().size()) > market::kInnerStepsMax) {
    return Status::InvalidArgument("verdict: one replayed loss per step of the segment");
  }
  v.losses.assign(m.losses().begin(), m.losses().end());
  return Msg(std::move(v));
}

Result<Msg> DecodeOpenDispute(const proto::OpenDispute& m) {
  if (m.job_id() == 0) return Status::InvalidArgument("open_dispute: job id must be set");
  MsgOpenDispute d;
  d.job_id = m.job_id();
  d.round = m.round();
  d.worker = m.worker();
  d.slot = m.slot();
  d.verdict = m.verdict();
  AGORA_ASSIGN_OR_RETURN(d.start_hash, DecodeHash(m.start_hash(), "open_dispute: start hash"));
  AGORA_ASSIGN_OR_RETURN(d.committed_end,
                         DecodeHash(m.committed_end(), "open_dispute: committed end"));
  AGORA_ASSIGN_OR_RETURN(d.start_proof, DecodeProof(m.start_proof(), "open_dispute: start proof"));
  AGORA_ASSIGN_OR_RETURN(d.end_proof, DecodeProof(m.end_proof(), "open_dispute: end proof"));
  return Msg(std::move(d));
}

Result<Msg> DecodeDisputeMove(const proto::DisputeMove& m) {
  if (m.dispute_id() == 0) {
    return Status::InvalidArgument("dispute_move: dispute id must be set (ids start at 1)");
  }
  if (m.action() < 1 || m.action() > 5) {
    return Status::InvalidArgument(
        "dispute_move: action must be state (1), agree (2), disagree (3), leaf (4) or record (5)");
  }
  MsgDisputeMove d;
  d.dispute_id = m.dispute_id();
  d.action = static_cast<DisputeAction>(m.action());
  switch (d.action) {
    case DisputeAction::kState:
    case DisputeAction::kLeaf: {
      if (!m.record().empty()) {
        return Status::InvalidArgument("dispute_move: a state or leaf move carries no record");
      }
      AGORA_ASSIGN_OR_RETURN(d.hash, DecodeHash(m.hash(), "dispute_move: hash"));
      break;
    }
    case DisputeAction::kAgree:
    case DisputeAction::kDisagree:
      if (!m.hash().empty() || !m.record().empty()) {
        return Status::InvalidArgument("dispute_move: agree and disagree carry nothing else");
      }
      break;
    case DisputeAction::kRecord:
      if (!m.hash().empty()) {
        return Status::InvalidArgument("dispute_move: a record move carries no hash");
      }
      if (m.record().empty() || m.record().size() > kDisputeRecordBytesMax) {
        return Status::InvalidArgument("dispute_move: a record of 1.." +
                                       std::to_string(kDisputeRecordBytesMax) + " bytes, got " +
                                       std::to_string(m.record().size()));
      }
      d.record.assign(m.record().begin(), m.record().end());
      break;
  }
  return Msg(std::move(d));
}

Result<Msg> DecodeRefereeVote(const proto::RefereeVote& m) {
  if (m.dispute_id() == 0) {
    return Status::InvalidArgument("referee_vote: dispute id must be set (ids start at 1)");
  }
  MsgRefereeVote v;
  v.dispute_id = m.dispute_id();
  AGORA_ASSIGN_OR_RETURN(v.digest, DecodeHash(m.digest(), "referee_vote: digest"));
  AGORA_ASSIGN_OR_RETURN(v.seal, DecodeHash(m.seal(), "referee_vote: seal"));
  return Msg(v);
}

Result<Msg> DecodeRefereeReveal(const proto::RefereeReveal& m) {
  if (m.dispute_id() == 0) {
    return Status::InvalidArgument("referee_reveal: dispute id must be set (ids start at 1)");
  }
  MsgRefereeReveal v;
  v.dispute_id = m.dispute_id();
  AGORA_ASSIGN_OR_RETURN(v.witness, DecodeHash(m.witness(), "referee_reveal: witness"));
  return Msg(v);
}

// Classes in ascending order, each once, so a profile has one encoding.
Result<Msg> DecodeSetReplayProfile(const proto::SetReplayProfile& m) {
  const auto& names = m.hardware_classes();
  if (names.empty() || names.size() > market::kHardwareClassMax) {
    return Status::InvalidArgument("set_replay_profile: name 1 to " +
                                   std::to_string(market::kHardwareClassMax) +
                                   " hardware classes (cpu, gpu-sm80, gpu-sm90, gpu-sm100)");
  }
  MsgSetReplayProfile p;
  for (const std::string& name : names) {
    Result<market::HardwareClass> c = market::ParseHardwareClass(name);
    if (!c.ok()) return Status::InvalidArgument("set_replay_profile: " + c.status().message());
    if (!p.classes.empty() && *c <= p.classes.back()) {
      return Status::InvalidArgument(
          "set_replay_profile: list each hardware class once, in the order cpu, gpu-sm80, "
          "gpu-sm90, gpu-sm100");
    }
    p.classes.push_back(*c);
  }
  if (m.params_max() > kReplayParamsMax) {
    return Status::InvalidArgument("set_replay_profile: params_max " +
                                   std::to_string(m.params_max()) + " is above the bound " +
                                   std::to_string(kReplayParamsMax) + " (0 means no bound)");
  }
  p.params_max = m.params_max();
  return Msg(std::move(p));
}

Result<Msg> DecodeRoundResult(const proto::RoundResult& m) {
  if (m.job_id() == 0) return Status::InvalidArgument("round_result: job id must be set");
  MsgRoundResult r;
  r.job_id = m.job_id();
  r.round = m.round();
  if (!m.unavailable().empty()) {
    AGORA_ASSIGN_OR_RETURN(Hash256 u, DecodeHash(m.unavailable(), "round_result: unavailable"));
    if (!m.commitment().empty() || !m.params_hash().empty() || m.validation_loss() != 0 ||
        !m.start_hashes().empty()) {
      return Status::InvalidArgument(
          "round_result: a result naming an unavailable blob carries no commitment or values");
    }
    r.unavailable = u;
    r.unavailable_round = m.unavailable_round();
    r.unavailable_worker = m.unavailable_worker();
    return Msg(std::move(r));
  }
  if (m.unavailable_round() != 0 || m.unavailable_worker() != 0) {
    return Status::InvalidArgument(
        "round_result: unavailable_round and unavailable_worker go with unavailable only");
  }
  if (!m.commitment().empty()) {
    AGORA_ASSIGN_OR_RETURN(Hash256 c, DecodeHash(m.commitment(), "round_result: commitment"));
    if (!m.params_hash().empty() || m.validation_loss() != 0 || !m.start_hashes().empty()) {
      return Status::InvalidArgument(
          "round_result: a commitment carries nothing else; send the values in a later result");
    }
    r.commitment = c;
    return Msg(std::move(r));
  }
  AGORA_ASSIGN_OR_RETURN(r.params_hash, DecodeHash(m.params_hash(), "round_result: params hash"));
  r.validation_loss = m.validation_loss();
  const std::string& starts = m.start_hashes();
  if (starts.size() % Hash256::kSize != 0 ||
      starts.size() / Hash256::kSize > market::kWorkersMax) {
    return Status::InvalidArgument("round_result: start hashes must be 32 bytes each, at most " +
                                   std::to_string(market::kWorkersMax));
  }
  for (size_t i = 0; i < starts.size(); i += Hash256::kSize) {
    r.start_hashes.push_back(Hash256::FromBytes(AsBytes(starts).subspan(i, Hash256::kSize)));
  }
  return Msg(std::move(r));
}

Result<Msg> DecodeMsg(const proto::TxBody& body) {
  switch (body.payload_case()) {
    case proto::TxBody::kTransfer: {
      auto to = Address::FromBytes(AsBytes(body.transfer().to()));
      if (!to.ok()) return Status::InvalidArgument("transfer recipient: " + to.status().message());
      AGORA_RETURN_IF_ERROR(CheckAmount(body.transfer().amount_uagr(), "transfer"));
      return Msg(MsgTransfer{*to, body.transfer().amount_uagr()});
    }
    case proto::TxBody::kStake:
      AGORA_RETURN_IF_ERROR(CheckAmount(body.stake().amount_uagr(), "stake"));
      return Msg(MsgStake{body.stake().amount_uagr()});
    case proto::TxBody::kUnstake:
      AGORA_RETURN_IF_ERROR(CheckAmount(body.unstake().amount_uagr(), "unstake"));
      return Msg(MsgUnstake{body.unstake().amount_uagr()});
    case proto::TxBody::kCreateValidator: {
      const proto::CreateValidator& m = body.create_validator();
      auto key = PublicKey::Parse(AsBytes(m.consensus_key()));
      if (!key.ok()) {
        return Status::InvalidArgument("create_validator: consensus key must be 32 bytes");
      }
      if (m.moniker().empty() || m.moniker().size() > kMonikerBytesMax) {
        return Status::InvalidArgument("create_validator: moniker must be 1..64 characters");
      }
      for (char c : m.moniker()) {
        if (c < 0x20 || c > 0x7e) {
          return Status::InvalidArgument("create_validator: moniker must be printable ASCII");
        }
      }
      Result<Signature> possession = Signature::Parse(AsBytes(m.possession()));
      if (!possession.ok()) {
        return Status::InvalidArgument(
            "create_validator: possession must be the consensus key's 64-byte signature over the "
            "operator's address (`agora tx create-validator --node-home` makes it)");
      }
      return Msg(MsgCreateValidator{*key, m.moniker(), *possession});
    }
    case proto::TxBody::kUnjail:
      return Msg(MsgUnjail{});
    case proto::TxBody::kSubmitProposal:
      return DecodeSubmitProposal(body.submit_proposal());
    case proto::TxBody::kDeposit:
      if (body.deposit().proposal_id() == 0) {
        return Status::InvalidArgument("deposit: proposal id must be set (ids start at 1)");
      }
      AGORA_RETURN_IF_ERROR(CheckAmount(body.deposit().amount_uagr(), "deposit"));
      return Msg(MsgDeposit{body.deposit().proposal_id(), body.deposit().amount_uagr()});
    case proto::TxBody::kVote: {
      if (body.vote().proposal_id() == 0) {
        return Status::InvalidArgument("vote: proposal id must be set (ids start at 1)");
      }
      const int option = body.vote().option();
      if (option < 1 || option > 4) {
        return Status::InvalidArgument("vote: option must be yes, no, abstain or veto");
      }
      MsgVote v{body.vote().proposal_id(), static_cast<VoteOption>(option)};
      if (!body.vote().evict().empty()) {
        Result<Address> evict = Address::FromBytes(AsBytes(body.vote().evict()));
        if (!evict.ok()) return Status::InvalidArgument("vote: evict must be a 20-byte address");
        v.evict = *evict;
      }
      return Msg(v);
    }
    case proto::TxBody::kRegisterProvider: {
      AGORA_ASSIGN_OR_RETURN(ProviderOffer o,
                             DecodeOffer(body.register_provider(), "register_provider"));
      return Msg(MsgRegisterProvider{std::move(o)});
    }
    case proto::TxBody::kUpdateProvider: {
      AGORA_ASSIGN_OR_RETURN(ProviderOffer o, DecodeOffer(body.update_provider(), "update_provider"));
      return Msg(MsgUpdateProvider{std::move(o)});
    }
    case proto::TxBody::kDeregisterProvider:
      return Msg(MsgDeregisterProvider{});
    case proto::TxBody::kPostJob: {
      const proto::PostJob& m = body.post_job();
      if (!m.has_spec()) return Status::InvalidArgument("post_job: spec missing");
      Result<market::JobSpec> spec = DecodeJobSpec(m.spec());
      if (!spec.ok()) return Status::InvalidArgument("post_job: " + spec.status().message());
      AGORA_RETURN_IF_ERROR(CheckAmount(m.budget_uagr(), "post_job budget"));
      AGORA_RETURN_IF_ERROR(CheckAmount(m.price_max_uagr_per_wu(), "post_job max price"));
      if (Status title = CheckJobTitle(m.title()); !title.ok()) {
        return Status::InvalidArgument("post_job: " + title.message());
      }
      if (m.deadline_blocks_max() > kDeadlineBlocksMax) {
        return Status::InvalidArgument("post_job: deadline_blocks_max " +
                                       std::to_string(m.deadline_blocks_max()) + " is above " +
                                       std::to_string(kDeadlineBlocksMax) +
                                       " (0 sets no bound)");
      }
      return Msg(MsgPostJob{*spec, m.budget_uagr(), m.price_max_uagr_per_wu(), m.title(),
                            m.deadline_blocks_max()});
    }
    case proto::TxBody::kCancelJob:
      if (body.cancel_job().job_id() == 0) {
        return Status::InvalidArgument("cancel_job: job id must be set (ids start at 1)");
      }
      return Msg(MsgCancelJob{body.cancel_job().job_id()});
    case proto::TxBody::kCommitTask:
      return DecodeCommitTask(body.commit_task());
    case proto::TxBody::kVerdict:
      return DecodeVerdict(body.verdict());
    case proto::TxBody::kRoundResult:
      return DecodeRoundResult(body.round_result());
    case proto::TxBody::kOpenDispute:
      return DecodeOpenDispute(body.open_dispute());
    case proto::TxBody::kDisputeMove:
      return DecodeDisputeMove(body.dispute_move());
    case proto::TxBody::kRefereeVote:
      return DecodeRefereeVote(body.referee_vote());
    case proto::TxBody::kSetReplayProfile:
      return DecodeSetReplayProfile(body.set_replay_profile());
    case proto::TxBody::kRefereeReveal:
      return DecodeRefereeReveal(body.referee_reveal());
    case proto::TxBody::PAYLOAD_NOT_SET:
      break;
  }
  return Status::InvalidArgument("transaction has no message");
}

void EncodeMsg(const Msg& msg, proto::TxBody& body) {
  std::visit(
      [&body](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, MsgTransfer>) {
          body.mutable_transfer()->set_to(std::string(m.to.bytes().begin(), m.to.bytes().end()));
          body.mutable_transfer()->set_amount_uagr(m.amount_uagr);
        } else if constexpr (std::is_same_v<M, MsgStake>) {
          body.mutable_stake()->set_amount_uagr(m.amount_uagr);
        } else if constexpr (std::is_same_v<M, MsgUnstake>) {
          body.mutable_unstake()->set_amount_uagr(m.amount_uagr);
        } else if constexpr (std::is_same_v<M, MsgCreateValidator>) {
          body.mutable_create_validator()->set_consensus_key(
              std::string(m.consensus_key.bytes.begin(), m.consensus_key.bytes.end()));
          body.mutable_create_validator()->set_moniker(m.moniker);
          body.mutable_create_validator()->set_possession(
              std::string(m.possession.bytes.begin(), m.possession.bytes.end()));
        } else if constexpr (std::is_same_v<M, MsgUnjail>) {
          body.mutable_unjail();
        } else if constexpr (std::is_same_v<M, MsgSubmitProposal>) {
          proto::SubmitProposal* p = body.mutable_submit_proposal();
          for (const ParamChange& c : m.changes) {
            proto::ParamChange* pc = p->add_changes();
            pc->set_name(c.name);
            pc->set_value(c.value);
          }
          p->set_title(m.title);
          p->set_text(m.text);
          p->set_deposit_uagr(m.deposit_uagr);
          p->set_effective_height(m.effective_height);
        } else if constexpr (std::is_same_v<M, MsgDeposit>) {
          body.mutable_deposit()->set_proposal_id(m.proposal_id);
          body.mutable_deposit()->set_amount_uagr(m.amount_uagr);
        } else if constexpr (std::is_same_v<M, MsgVote>) {
          body.mutable_vote()->set_proposal_id(m.proposal_id);
          body.mutable_vote()->set_option(static_cast<proto::VoteOption>(m.option));
          if (m.evict) body.mutable_vote()->set_evict(std::string(m.evict->bytes().begin(), m.evict->bytes().end()));
        } else if constexpr (std::is_same_v<M, MsgRegisterProvider>) {
          EncodeOffer(m.offer, body.mutable_register_provider());
        } else if constexpr (std::is_same_v<M, MsgUpdateProvider>) {
          EncodeOffer(m.offer, body.mutable_update_provider());
        } else if constexpr (std::is_same_v<M, MsgDeregisterProvider>) {
          body.mutable_deregister_provider();
        } else if constexpr (std::is_same_v<M, MsgPostJob>) {
          EncodeJobSpec(m.spec, body.mutable_post_job()->mutable_spec());
          body.mutable_post_job()->set_budget_uagr(m.budget_uagr);
          body.mutable_post_job()->set_price_max_uagr_per_wu(m.price_max_uagr_per_wu);
          body.mutable_post_job()->set_title(m.title);
          body.mutable_post_job()->set_deadline_blocks_max(m.deadline_blocks_max);
        } else if constexpr (std::is_same_v<M, MsgCancelJob>) {
          body.mutable_cancel_job()->set_job_id(m.job_id);
        } else if constexpr (std::is_same_v<M, MsgCommitTask>) {
          proto::CommitTask* c = body.mutable_commit_task();
          c->set_job_id(m.job_id);
          c->set_round(m.round);
          c->set_worker(m.worker);
          c->set_checkpoint_root(HashString(m.checkpoint_root));
          c->set_delta_hash(HashString(m.delta_hash));
          for (uint32_t l : m.losses) c->add_losses(l);
          c->set_start_proof(ProofString(m.start_proof));
        } else if constexpr (std::is_same_v<M, MsgVerdict>) {
          proto::Verdict* v = body.mutable_verdict();
          v->set_job_id(m.job_id);
          v->set_round(m.round);
          v->set_worker(m.worker);
          v->set_slot(m.slot);
          if (m.vrf_proof) {
            v->set_vrf_proof(std::string(m.vrf_proof->bytes.begin(), m.vrf_proof->bytes.end()));
          }
          v->set_outcome(static_cast<uint32_t>(m.outcome));
          v->set_reason(static_cast<uint32_t>(m.reason));
          if (m.outcome != VerdictOutcome::kUnavailable) {
            v->set_start_hash(HashString(m.start_hash));
            v->set_start_proof(ProofString(m.start_proof));
            v->set_committed_end(HashString(m.committed_end));
            v->set_end_proof(ProofString(m.end_proof));
            v->set_final_hash(HashString(m.final_hash));
            v->set_final_proof(ProofString(m.final_proof));
            v->set_replayed_end(HashString(m.replayed_end));
            v->set_witness_hash(HashString(m.witness_hash));
            for (uint32_t l : m.losses) v->add_losses(l);
          }
        } else if constexpr (std::is_same_v<M, MsgOpenDispute>) {
          proto::OpenDispute* d = body.mutable_open_dispute();
          d->set_job_id(m.job_id);
          d->set_round(m.round);
          d->set_worker(m.worker);
          d->set_slot(m.slot);
          d->set_verdict(m.verdict);
          d->set_start_hash(HashString(m.start_hash));
          d->set_start_proof(ProofString(m.start_proof));
          d->set_committed_end(HashString(m.committed_end));
          d->set_end_proof(ProofString(m.end_proof));
        } else if constexpr (std::is_same_v<M, MsgDisputeMove>) {
          proto::DisputeMove* d = body.mutable_dispute_move();
          d->set_dispute_id(m.dispute_id);
          d->set_action(static_cast<uint32_t>(m.action));
          if (m.action == DisputeAction::kState || m.action == DisputeAction::kLeaf) {
            d->set_hash(HashString(m.hash));
          }
          if (m.action == DisputeAction::kRecord) {
            d->set_record(std::string(m.record.begin(), m.record.end()));
          }
        } else if constexpr (std::is_same_v<M, MsgRefereeVote>) {
          body.mutable_referee_vote()->set_dispute_id(m.dispute_id);
          body.mutable_referee_vote()->set_digest(HashString(m.digest));
          body.mutable_referee_vote()->set_seal(HashString(m.seal));
        } else if constexpr (std::is_same_v<M, MsgRefereeReveal>) {
          body.mutable_referee_reveal()->set_dispute_id(m.dispute_id);
          body.mutable_referee_reveal()->set_witness(HashString(m.witness));
        } else if constexpr (std::is_same_v<M, MsgSetReplayProfile>) {
          proto::SetReplayProfile* r = body.mutable_set_replay_profile();
          for (market::HardwareClass c : m.classes) {
            r->add_hardware_classes(std::string(market::HardwareClassName(c)));
          }
          r->set_params_max(m.params_max);
        } else {
          static_assert(std::is_same_v<M, MsgRoundResult>);
          proto::RoundResult* r = body.mutable_round_result();
          r->set_job_id(m.job_id);
          r->set_round(m.round);
          if (m.unavailable) {
            r->set_unavailable(HashString(*m.unavailable));
            r->set_unavailable_round(m.unavailable_round);
            r->set_unavailable_worker(m.unavailable_worker);
          } else if (m.commitment) {
            r->set_commitment(HashString(*m.commitment));
          } else {
            r->set_params_hash(HashString(m.params_hash));
            r->set_validation_loss(m.validation_loss);
            std::string starts;
            for (const Hash256& h : m.start_hashes) starts += HashString(h);
            r->set_start_hashes(starts);
          }
        }
      },
      msg);
}

}  // namespace

Result<market::JobSpec> DecodeJobSpec(const proto::JobSpec& p) {
  market::JobSpec s;
  s.vocab = p.vocab();
  s.context = p.context();
  s.layers = p.layers();
  s.heads = p.heads();
  s.width = p.width();
  s.batch = p.batch();
  auto hash = Hash256::Parse(AsBytes(p.dataset_hash()));
  if (!hash.ok()) return Status::InvalidArgument("job spec: dataset hash must be 32 bytes");
  s.dataset_hash = *hash;
  s.dataset_bytes = p.dataset_bytes();
  s.seed = p.seed();
  s.rounds = p.rounds();
  s.workers = p.workers();
  s.inner_steps = p.inner_steps();
  s.checkpoint_interval = p.checkpoint_interval();
  AGORA_ASSIGN_OR_RETURN(s.tier, market::ParseTier(p.tier()));
  AGORA_ASSIGN_OR_RETURN(s.hardware, market::ParseHardwareClass(p.hardware_class()));
  s.spot_checks = p.spot_checks();
  if (!p.has_optimizer()) return Status::InvalidArgument("job spec: optimizer settings missing");
  const proto::OptimizerSpec& o = p.optimizer();
  s.optimizer = {o.lr_max_nano(), o.lr_min_nano(), o.warmup_steps(),    o.beta1_ppm(),
                 o.beta2_ppm(),   o.eps_pico(),    o.weight_decay_ppm(), o.clip_norm_ppm()};
  AGORA_RETURN_IF_ERROR(market::ValidateSpec(s));
  return s;
}

void EncodeJobSpec(const market::JobSpec& s, proto::JobSpec* p) {
  p->set_vocab(s.vocab);
  p->set_context(s.context);
  p->set_layers(s.layers);
  p->set_heads(s.heads);
  p->set_width(s.width);
  p->set_batch(s.batch);
  p->set_dataset_hash(std::string(s.dataset_hash.bytes.begin(), s.dataset_hash.bytes.end()));
  p->set_dataset_bytes(s.dataset_bytes);
  p->set_seed(s.seed);
  p->set_rounds(s.rounds);
  p->set_workers(s.workers);
  p->set_inner_steps(s.inner_steps);
  p->set_checkpoint_interval(s.checkpoint_interval);
  p->set_tier(std::string(market::TierName(s.tier)));
  p->set_hardware_class(std::string(market::HardwareClassName(s.hardware)));
  p->set_spot_checks(s.spot_checks);
  proto::OptimizerSpec* o = p->mutable_optimizer();
  o->set_lr_max_nano(s.optimizer.lr_max_nano);
  o->set_lr_min_nano(s.optimizer.lr_min_nano);
  o->set_warmup_steps(s.optimizer.warmup_steps);
  o->set_beta1_ppm(s.optimizer.beta1_ppm);
  o->set_beta2_ppm(s.optimizer.beta2_ppm);
  o->set_eps_pico(s.optimizer.eps_pico);
  o->set_weight_decay_ppm(s.optimizer.weight_decay_ppm);
  o->set_clip_norm_ppm(s.optimizer.clip_norm_ppm);
}


std::string_view MsgName(const Msg& msg) {
  static constexpr std::string_view kNames[] = {
      "transfer",          "stake",           "unstake",         "create_validator",
      "unjail",            "submit_proposal", "deposit",         "vote",
      "register_provider", "update_provider", "deregister_provider", "post_job",
      "cancel_job",        "commit_task",     "verdict",         "round_result",
      "open_dispute",      "dispute_move",    "referee_vote",    "set_replay_profile",
      "referee_reveal"};
  static_assert(std::size(kNames) == std::variant_size_v<Msg>);
  return kNames[msg.index()];
}

uint64_t MsgDebitMax(const Msg& msg) {
  if (const auto* m = std::get_if<MsgTransfer>(&msg)) return m->amount_uagr;
  if (const auto* m = std::get_if<MsgStake>(&msg)) return m->amount_uagr;
  if (const auto* m = std::get_if<MsgSubmitProposal>(&msg)) return m->deposit_uagr;
  if (const auto* m = std::get_if<MsgDeposit>(&msg)) return m->amount_uagr;
  if (const auto* m = std::get_if<MsgPostJob>(&msg)) return m->budget_uagr;
  return 0;
}

std::string_view VoteOptionName(VoteOption option) {
  switch (option) {
    case VoteOption::kYes: return "yes";
    case VoteOption::kNo: return "no";
    case VoteOption::kAbstain: return "abstain";
    case VoteOption::kVeto: return "veto";
  }
  return "unknown";
}

Result<Tx> DecodeTx(ByteSpan raw, std::string_view chain_id) {
  proto::SignedTx signed_tx;
  Status s = DecodeStrict(raw, kTxBytesMax, signed_tx);
  if (!s.ok()) return Status::InvalidArgument("transaction: " + s.message());
  if (signed_tx.public_key().size() != PublicKey::kSize) {
    return Status::InvalidArgument("transaction: public key must be 32 bytes");
  }
  if (signed_tx.signature().size() != Signature::kSize) {
    return Status::InvalidArgument("transaction: signature must be 64 bytes");
  }
  proto::TxBody body;
  s = DecodeStrict(AsBytes(signed_tx.body()), kTxBytesMax, body);
  if (!s.ok()) return Status::InvalidArgument("transaction body: " + s.message());
  if (body.chain_id() != chain_id) {
    return Status::InvalidArgument("transaction is for chain '" + body.chain_id() + "', this is '" +
                                   std::string(chain_id) + "'");
  }
  if (body.sender() != signed_tx.public_key()) {
    return Status::InvalidArgument("transaction body's sender differs from its signing key");
  }
  if (body.fee_uagr() > kAmountUagrMax) {
    return Status::InvalidArgument("fee above the maximum of 2^62 uagr");
  }
  AGORA_ASSIGN_OR_RETURN(Msg msg, DecodeMsg(body));
  if (const auto* create = std::get_if<MsgCreateValidator>(&msg)) {
    const Address op = Address::FromPublicKey(
        PublicKey::Parse(AsBytes(signed_tx.public_key())).value());
    if (!VerifyPossession(create->consensus_key, chain_id, op, create->possession)) {
      return Status::InvalidArgument(
          "create_validator: the possession signature does not verify: it must be made by "
          "consensus key " + create->consensus_key.ToHex() + " over operator " + op.ToString() +
          " for chain '" + std::string(chain_id) + "'");
    }
  }
  Tx tx;
  tx.raw.assign(raw.begin(), raw.end());
  tx.body.assign(signed_tx.body().begin(), signed_tx.body().end());
  tx.hash = Blake2b256(tx.body);
  std::copy(signed_tx.public_key().begin(), signed_tx.public_key().end(),
            tx.sender_key.bytes.begin());
  std::copy(signed_tx.signature().begin(), signed_tx.signature().end(), tx.signature.bytes.begin());
  tx.sender = Address::FromPublicKey(tx.sender_key);
  tx.nonce = body.nonce();
  tx.fee_uagr = body.fee_uagr();
  tx.msg = std::move(msg);
  return tx;
}

Signature ProvePossession(const SecretKey& consensus_key, std::string_view chain_id,
                          const Address& operator_address) {
  return consensus_key.Sign(SignDomain{std::string(chain_id), SignKind::kValidatorKey},
                            operator_address.bytes());
}

bool VerifyPossession(const PublicKey& consensus_key, std::string_view chain_id,
                      const Address& operator_address, const Signature& possession) {
  if (!ValidateChainId(chain_id).ok()) return false;
  return Verify(consensus_key, SignDomain{std::string(chain_id), SignKind::kValidatorKey},
                operator_address.bytes(), possession);
}

bool VerifyTxSignature(const Tx& tx, std::string_view chain_id) {
  return Verify(tx.sender_key, SignDomain{std::string(chain_id), SignKind::kTransaction}, tx.body,
                tx.signature);
}

template <typename Container>
void SignatureCache::Trim(Container& map, std::deque<Hash256>& order) {
  while (order.size() > kEntriesMax) {
    map.erase(order.front());
    order.pop_front();
  }
}

bool SignatureCache::Verify(const Tx& tx, std::string_view chain_id) {
  {
    std::lock_guard lock(mu_);
    auto it = verified_.find(tx.hash);
    if (it != verified_.end() && it->second == tx.signature) {
      ++hits_;
      return true;
    }
  }
  if (!VerifyTxSignature(tx, chain_id)) return false;
  std::lock_guard lock(mu_);
  auto [it, inserted] = verified_.try_emplace(tx.hash, tx.signature);
  if (!inserted) {
    it->second = tx.signature;  // another valid signature of the same body
    return true;
  }
  order_.push_back(tx.hash);
  Trim(verified_, order_);
  return true;
}

bool SignatureCache::VerifySignature(const PublicKey& key, const SignDomain& domain,
                                     ByteSpan payload, const Signature& signature) {
  // The key and the signature have fixed sizes, so the whole input fixes the
  // signing bytes between them: distinct checks never hash the same bytes.
  Blake2b256Hasher h;
  h.Update(key.bytes);
  h.Update(SigningBytes(domain, payload));
  h.Update(signature.bytes);
  const Hash256 digest = h.Finish();
  {
    std::lock_guard lock(mu_);
    if (signatures_.count(digest) != 0) {
      ++hits_;
      return true;
    }
  }
  if (!agora::Verify(key, domain, payload, signature)) return false;
  std::lock_guard lock(mu_);
  if (signatures_.insert(digest).second) {
    signature_order_.push_back(digest);
    Trim(signatures_, signature_order_);
  }
  return true;
}

Result<VrfOutput> SignatureCache::VerifyVrf(const PublicKey& key, const VrfProof& proof,
                                            ByteSpan alpha) {
  Blake2b256Hasher h;
  h.Update(key.bytes);
  h.Update(proof.bytes);
  h.Update(alpha);  // the only part of variable length, last
  const Hash256 digest = h.Finish();
  {
    std::lock_guard lock(mu_);
    auto it = vrfs_.find(digest);
    if (it != vrfs_.end()) {
      ++hits_;
      return it->second;
    }
  }
  Result<VrfOutput> output = VrfVerify(key, proof, alpha);
  if (!output.ok()) return output;
  std::lock_guard lock(mu_);
  if (vrfs_.emplace(digest, *output).second) {
    vrf_order_.push_back(digest);
    Trim(vrfs_, vrf_order_);
  }
  return output;
}

uint64_t SignatureCache::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

Bytes MakeTx(const SecretKey& key, std::string_view chain_id, uint64_t nonce, uint64_t fee_uagr,
             const Msg& msg) {
  proto::TxBody body;
  body.set_chain_id(std::string(chain_id));
  body.set_nonce(nonce);
  body.set_fee_uagr(fee_uagr);
  const PublicKey sender = key.public_key();
  body.set_sender(std::string(sender.bytes.begin(), sender.bytes.end()));
  EncodeMsg(msg, body);
  Bytes body_bytes = EncodeDeterministic(body);
  Signature sig = key.Sign(SignDomain{std::string(chain_id), SignKind::kTransaction}, body_bytes);
  proto::SignedTx tx;
  tx.set_body(std::string(body_bytes.begin(), body_bytes.end()));
  tx.set_public_key(std::string(sender.bytes.begin(), sender.bytes.end()));
  tx.set_signature(std::string(sig.bytes.begin(), sig.bytes.end()));
  return EncodeDeterministic(tx);
}

Bytes MakeTransfer(const SecretKey& key, std::string_view chain_id, uint64_t nonce,
                   uint64_t fee_uagr, const Address& to, uint64_t amount_uagr) {
  return MakeTx(key, chain_id, nonce, fee_uagr, MsgTransfer{to, amount_uagr});
}

}  // namespace agora::consensus
