// The consensus and sync messages a peer sends on its P2P channels
// (proto/wire.proto, node/node.cc): the first input byte picks the channel,
// the rest is the payload, decoded with the node's bounds and taken apart as
// the node does (sign bytes, signatures against the validator set of the
// next height, the proposed block's hash and proposer, polka votes, double-
// sign evidence, a synced block and its commit). Properties: decoded sign
// bytes re-encode to the same bytes; evidence that passes re-encodes to the
// payload; a synced block whose commit verifies is the block it carries.
#include <cstddef>
#include <cstdint>

#include "common/proto_codec.h"
#include "proto/wire.pb.h"
#include "tests/fuzz/fixtures.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace agora;

void CheckVote(const proto::VoteMessage& m, const consensus::ValidatorSet& set) {
  auto v = consensus::Vote::FromSignBytes(AsBytes(m.sign_bytes()));
  auto signature = Signature::Parse(AsBytes(m.signature()));
  if (!v) return;
  const Bytes again = v->SignBytes();
  AGORA_FUZZ_EXPECT(ToString(again) == m.sign_bytes());
  AGORA_FUZZ_ACCEPTED();
  if (!signature.ok() || m.validator() >= set.size()) return;
  (void)Verify(set.at(m.validator()).key, {fuzz::kFuzzChain, v->Kind()}, AsBytes(m.sign_bytes()),
               *signature);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::FuzzChain* fixture = new fuzz::FuzzChain();
  if (size == 0) return 0;
  const ByteSpan payload(data + 1, size - 1);
  const consensus::ValidatorSet& set = fixture->chain().ValidatorsAt(2);
  switch (data[0] % 5) {
    case 0: {  // proposal
      proto::ProposalMessage m;
      if (!DecodeStrict(payload, consensus::kBlockBytesMax + (64u << 10), m).ok()) return 0;
      auto p = consensus::Proposal::FromSignBytes(AsBytes(m.sign_bytes()));
      if (!p) return 0;
      AGORA_FUZZ_EXPECT(ToString(p->SignBytes()) == m.sign_bytes());
      AGORA_FUZZ_ACCEPTED();
      auto signature = Signature::Parse(AsBytes(m.signature()));
      if (signature.ok() && m.proposer() < set.size()) {
        (void)Verify(set.at(m.proposer()).key, {fuzz::kFuzzChain, SignKind::kProposal},
                     AsBytes(m.sign_bytes()), *signature);
        (void)consensus::CheckProposer(m.block().header(), set.at(m.proposer()).key,
                                       p->valid_round);
      }
      (void)(consensus::HeaderHash(m.block().header()) == p->block);
      (void)fixture->chain().BodyMatchesHeader(m.block());
      for (const proto::VoteMessage& vote : m.polka()) CheckVote(vote, set);
      return 0;
    }
    case 1: {  // vote
      proto::VoteMessage m;
      if (!DecodeStrict(payload, 1024, m).ok()) return 0;
      CheckVote(m, set);
      return 0;
    }
    case 2: {  // evidence
      proto::DuplicateVoteEvidence m;
      if (!DecodeStrict(payload, consensus::kEvidenceBytesMax, m).ok()) return 0;
      auto evidence = consensus::EvidenceFromProto(m, fuzz::kFuzzChain);
      if (!evidence.ok()) return 0;
      AGORA_FUZZ_ACCEPTED();
      const Bytes again = EncodeDeterministic(consensus::EvidenceToProto(*evidence));
      AGORA_FUZZ_EXPECT(again.size() == payload.size() &&
                        std::equal(again.begin(), again.end(), payload.begin()));
      return 0;
    }
    case 3: {  // status and block request: one height each
      proto::StatusMessage status;
      proto::BlockRequest request;
      if (DecodeStrict(payload, 64, status).ok()) AGORA_FUZZ_ACCEPTED();
      (void)DecodeStrict(payload, 64, request);
      return 0;
    }
    default: {  // block response (sync)
      proto::BlockResponse m;
      if (!DecodeStrict(payload, consensus::kBlockBytesMax * 2, m).ok()) return 0;
      const uint64_t height = m.block().header().height();
      if (height != 1) return 0;  // the fixture knows the set of height 1 only
      const Hash256 hash = consensus::HeaderHash(m.block().header());
      if (!consensus::VerifyCommit(m.commit(), fixture->chain().ValidatorsAt(1),
                                   fuzz::kFuzzChain, height, hash)
               .ok()) {
        return 0;
      }
      AGORA_FUZZ_EXPECT(ToString(hash.span()) == m.commit().block_hash());
      AGORA_FUZZ_ACCEPTED();
      (void)fixture->chain().BodyMatchesHeader(m.block());
      return 0;
    }
  }
}
