// The chain over the real ledger: blocks proposed, validated, executed and
// committed in two phases; the VRF beacon; results and evidence in blocks;
// every header field and the block byte limit checked on blocks received.
#include <gtest/gtest.h>

#include "common/proto_codec.h"
#include "consensus/chain/chain.h"
#include "consensus/ledger/staking.h"
#include "tests/consensus/ledger_harness.h"

namespace agora::consensus {
namespace {

using testing::AddressOf;
using testing::Key;
using testing::kChain;

class ChainTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(Params{}); }

  void Open(Params params) {
    chain_.reset();
    blocks_.reset();
    ledger_.reset();
    keys_.clear();
    store_ = std::make_unique<MemKvStore>();
    params.evidence_age_blocks_max = 5;
    ledger_ = Ledger::Open(store_.get()).value();
    LedgerGenesis g;
    for (uint8_t i = 0; i < 4; ++i) {
      keys_.push_back(Key(100 + i));
      g.validators.push_back({keys_[i].public_key(), AddressOf(keys_[i]), "v", 10'000'000});
    }
    g.accounts.push_back({AddressOf(Key(1)), 1'000'000'000});
    g.params = params;
    WriteBatch batch;
    ASSERT_TRUE(ledger_->InitGenesis(g, &batch).ok());
    ASSERT_TRUE(store_->Write(batch, Durability::kSynced).ok());
    ledger_->Committed();
    blocks_ = std::make_unique<BlockStore>(store_.get());
    ASSERT_TRUE(blocks_->Load().ok());
    chain_ = std::make_unique<Chain>(kChain, /*genesis_time_unix_ms=*/1000, store_.get(), blocks_.get(),
                                     ledger_.get(), &signatures_);
    ASSERT_TRUE(chain_->Load().ok());
  }

  PublicKey ProposerKeyOf(const proto::Block& block) {
    for (const SecretKey& k : keys_) {
      const Address a = AddressOf(k);
      if (block.header().proposer() == std::string(a.bytes().begin(), a.bytes().end())) {
        return k.public_key();
      }
    }
    return {};
  }

  const SecretKey& ProposerKey() {
    const ValidatorSet& set = chain_->ValidatorsAt(chain_->height() + 1);
    for (const SecretKey& k : keys_) {
      if (set.IndexOf(k.public_key())) return k;
    }
    return keys_[0];
  }

  proto::Block Propose(std::vector<Tx> txs = {}) {
    std::vector<Tx> included;
    auto block = chain_->Propose(ProposerKey(), now_ms_ += 1000, std::move(txs), &included);
    EXPECT_TRUE(block.ok()) << block.status().message();
    return *block;
  }

  // Every validator of the height precommits the block.
  proto::Commit CommitFor(const proto::Block& block) {
    const uint64_t height = block.header().height();
    const Hash256 hash = HeaderHash(block.header());
    const ValidatorSet& set = chain_->ValidatorsAt(height);
    std::vector<Vote> votes;
    for (const SecretKey& k : keys_) {
      auto index = set.IndexOf(k.public_key());
      if (!index) continue;
      Vote v{VoteType::kPrecommit, height, 0, hash, *index, {}};
      v.signature = k.Sign({kChain, SignKind::kPrecommit}, v.SignBytes());
      votes.push_back(v);
    }
    return MakeCommit(height, 0, hash, votes);
  }

  Chain::Executed Commit(const proto::Block& block) {
    std::vector<Tx> txs;
    Status valid = chain_->ValidateBlock(block, now_ms_, &txs);
    EXPECT_TRUE(valid.ok()) << valid.message();
    WriteBatch batch;
    auto executed = chain_->Execute(block, CommitFor(block), txs, &batch);
    EXPECT_TRUE(executed.ok()) << executed.status().message();
    EXPECT_TRUE(store_->Write(batch, Durability::kSynced).ok());
    chain_->Committed(block, *executed);
    return *executed;
  }

  // A block changed after proposing: its evidence hash recomputed so that
  // the change itself is what validation judges.
  Status ValidateChanged(proto::Block block) {
    const Hash256 evidence = EvidenceHash(block);
    block.mutable_header()->set_evidence_hash(
        std::string(evidence.bytes.begin(), evidence.bytes.end()));
    return chain_->ValidateBlock(block, now_ms_, nullptr);
  }

  Evidence DoubleSign(const SecretKey& key, uint64_t height) {
    const ValidatorSet& set = chain_->ValidatorsAt(height);
    const ValidatorIndex index = set.IndexOf(key.public_key()).value_or(0);
    Vote a{VoteType::kPrevote, height, 0, Blake2b256(AsBytes("a")), index, {}};
    Vote b = a;
    b.block = Blake2b256(AsBytes("b"));
    a.signature = key.Sign({kChain, SignKind::kPrevote}, a.SignBytes());
    b.signature = key.Sign({kChain, SignKind::kPrevote}, b.SignBytes());
    return {key.public_key(), a, b};
  }

  std::unique_ptr<MemKvStore> store_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<BlockStore> blocks_;
  std::unique_ptr<Chain> chain_;
  SignatureCache signatures_;
  std::vector<SecretKey> keys_;
  uint64_t now_ms_ = 1000;
};

TEST_F(ChainTest, BlocksCarryTheBeaconResultsAndTheStateOfTheBlockBefore) {
  const Hash256 beacon0 = ledger_->Beacon();
  const Tx transfer =
      testing::Signed(Key(1), 0, MsgTransfer{AddressOf(Key(2)), 5});
  const Tx broke = testing::Signed(Key(1), 1, MsgTransfer{AddressOf(Key(2)), 2'000'000'000});
  proto::Block b1 = Propose({transfer, broke});
  EXPECT_EQ(b1.txs_size(), 2);
  const Hash256 app_hash_before = ledger_->AppHash();
  EXPECT_EQ(b1.header().app_hash(),
            std::string(app_hash_before.bytes.begin(), app_hash_before.bytes.end()));
  Chain::Executed e1 = Commit(b1);
  ASSERT_EQ(e1.results.size(), 2u);
  EXPECT_EQ(e1.results[0].code, TxCode::kOk);
  EXPECT_EQ(e1.results[1].code, TxCode::kInsufficientFunds);
  // beacon_1 = H(beacon_0 || vrf_output_1), and the output is the proof's.
  const VrfProof proof = VrfProof::Parse(AsBytes(b1.header().vrf_proof())).value();
  const VrfOutput output =
      VrfVerify(ProposerKeyOf(b1), proof, BeaconAlpha(beacon0, 1)).value();
  EXPECT_EQ(ledger_->Beacon(), NextBeacon(beacon0, output));
  proto::Block b2 = Propose();
  const Hash256 results = ResultsHash(e1.results, e1.end.events);
  EXPECT_EQ(b2.header().results_hash(), std::string(results.bytes.begin(), results.bytes.end()));
  EXPECT_EQ(b2.header().app_hash(), std::string(e1.app_hash.bytes.begin(), e1.app_hash.bytes.end()));
  Commit(b2);
  EXPECT_NE(ledger_->Beacon(), NextBeacon(beacon0, output));
  EXPECT_EQ(ledger_->Account(AddressOf(Key(2))).balance_uagr, 5u);
}

TEST_F(ChainTest, EveryHeaderFieldIsCheckedOnBlocksReceived) {
  Commit(Propose());
  const proto::Block good = Propose();
  ASSERT_TRUE(chain_->ValidateBlock(good, now_ms_, nullptr).ok());
  auto changed = [&](auto mutate) {
    proto::Block b = good;
    mutate(*b.mutable_header());
    return chain_->ValidateBlock(b, now_ms_, nullptr);
  };
  auto fails_with = [&](auto mutate, std::string_view why) {
    Status st = changed(mutate);
    EXPECT_FALSE(st.ok()) << why;
    EXPECT_NE(st.message().find(why), std::string::npos) << st.message();
  };
  fails_with([](auto& h) { h.set_vrf_output(h.vrf_output() + "x"); }, "vrf_output has 65 bytes");
  fails_with([](auto& h) { h.set_vrf_proof(h.vrf_proof().substr(1)); }, "vrf_proof has 79 bytes");
  fails_with([](auto& h) { h.set_results_hash(""); }, "results_hash has 0 bytes");
  fails_with([](auto& h) { h.set_evidence_hash(std::string(33, 'e')); }, "evidence_hash has 33");
  fails_with([](auto& h) { h.set_app_hash(std::string(32, 'a')); }, "app_hash differs");
  fails_with([](auto& h) { h.set_results_hash(std::string(32, 'r')); }, "results_hash differs");
  fails_with([](auto& h) { h.set_proposer(std::string(21, 'p')); }, "proposer has 21 bytes");
  fails_with([](auto& h) { h.set_proposer(std::string(20, 'p')); }, "proposer is not a validator");
  fails_with([](auto& h) { h.set_validators_hash(std::string(32, 'v')); }, "validators_hash");
  fails_with([](auto& h) { h.set_evidence_hash(std::string(32, 'e')); },
             "evidence_hash does not match");
  // A VRF output that is not the proof's, and a proof by another validator.
  Status s = changed([](auto& h) {
    std::string out = h.vrf_output();
    out[0] ^= 1;
    h.set_vrf_output(out);
  });
  EXPECT_NE(s.message().find("not its proof's output"), std::string::npos) << s.message();
  const SecretKey& other = ProposerKey().public_key() == keys_[0].public_key() ? keys_[1] : keys_[0];
  s = changed([&](auto& h) {
    const VrfProof forged = VrfProve(other, BeaconAlpha(ledger_->Beacon(), 2));
    h.set_vrf_proof(std::string(forged.bytes.begin(), forged.bytes.end()));
    const VrfOutput out = VrfProofToHash(forged);
    h.set_vrf_output(std::string(out.bytes.begin(), out.bytes.end()));
  });
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << s.message();
  // A proof over another beacon (a proposer grinding its input).
  s = changed([&](auto& h) {
    const VrfProof forged = VrfProve(ProposerKey(), BeaconAlpha(Hash256{}, 2));
    h.set_vrf_proof(std::string(forged.bytes.begin(), forged.bytes.end()));
    const VrfOutput out = VrfProofToHash(forged);
    h.set_vrf_output(std::string(out.bytes.begin(), out.bytes.end()));
  });
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << s.message();
}

TEST_F(ChainTest, TheBlockByteLimitHoldsForBlocksReceivedNotOnlyProposed) {
  Params params;
  params.block_bytes_max = 66u << 10;
  params.validators_max = 4;
  Open(params);
  // 400 transfers of ~200 bytes: more than 66 KiB. The proposer stops early.
  std::vector<Tx> txs;
  for (uint64_t n = 0; n < 400; ++n) {
    txs.push_back(testing::Signed(Key(1), n, MsgTransfer{AddressOf(Key(2)), 1}));
  }
  std::vector<Tx> included;
  auto block = chain_->Propose(ProposerKey(), now_ms_ += 1000, txs, &included);
  ASSERT_TRUE(block.ok());
  EXPECT_LT(included.size(), txs.size());
  EXPECT_LE(block->ByteSizeLong(), params.block_bytes_max);
  EXPECT_TRUE(chain_->ValidateBlock(*block, now_ms_, nullptr).ok());
  // The same transactions in a block someone built by hand: refused.
  proto::Block big = *block;
  std::vector<Hash256> leaves;
  for (const std::string& raw : big.txs()) leaves.push_back(Blake2b256(AsBytes(raw)));
  for (size_t i = included.size(); i < txs.size(); ++i) {
    big.add_txs(std::string(txs[i].raw.begin(), txs[i].raw.end()));
    leaves.push_back(Blake2b256(txs[i].raw));
  }
  const Hash256 root = TxRoot(leaves);
  big.mutable_header()->set_tx_root(std::string(root.bytes.begin(), root.bytes.end()));
  Status s = chain_->ValidateBlock(big, now_ms_, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("block_bytes_max"), std::string::npos) << s.message();
}

TEST_F(ChainTest, EvidenceGoesIntoABlockAndTombstonesTheValidator) {
  Commit(Propose());
  Commit(Propose());
  const SecretKey cheat = keys_[2];
  ASSERT_TRUE(chain_->AddEvidence(DoubleSign(cheat, 1)).ok());
  ASSERT_TRUE(chain_->AddEvidence(DoubleSign(cheat, 2)).ok());
  EXPECT_TRUE(chain_->AddEvidence(DoubleSign(cheat, 3)).ok())
      << "evidence of the height being decided waits for a later block";
  EXPECT_EQ(chain_->AddEvidence(DoubleSign(cheat, 2)).code(), StatusCode::kAlreadyExists)
      << "kept once (a node gossips only what it did not have)";
  EXPECT_EQ(chain_->pending_evidence(), 3u);
  proto::Block b = Propose();
  ASSERT_EQ(b.evidence_size(), 1)
      << "only evidence older than the block, and one piece per validator";
  Chain::Executed e = Commit(b);
  ASSERT_FALSE(e.end.events.empty());
  EXPECT_EQ(e.end.events[0].type, "slash");
  EXPECT_TRUE(staking::GetValidatorByKey(ledger_->committed(), cheat.public_key())->tombstoned);
  EXPECT_EQ(chain_->pending_evidence(), 0u) << "the rest about it is moot";
  // Out of the set three blocks after the evidence, on every node alike.
  EXPECT_TRUE(chain_->ValidatorsAt(5).IndexOf(cheat.public_key()).has_value());
  EXPECT_FALSE(chain_->ValidatorsAt(6).IndexOf(cheat.public_key()).has_value());
}

TEST_F(ChainTest, ForgedOldOrForeignEvidenceMakesTheBlockInvalid) {
  for (int i = 0; i < 8; ++i) Commit(Propose());  // height 8; evidence age limit 5
  const proto::Block clean = Propose();
  auto with = [&](const proto::DuplicateVoteEvidence& e) {
    proto::Block b = clean;
    *b.add_evidence() = e;
    return ValidateChanged(b);
  };
  EXPECT_TRUE(with(EvidenceToProto(DoubleSign(keys_[1], 7))).ok());
  // A forged signature.
  proto::DuplicateVoteEvidence forged = EvidenceToProto(DoubleSign(keys_[1], 7));
  std::string sig = forged.second().signature();
  sig[5] ^= 1;
  forged.mutable_second()->set_signature(sig);
  EXPECT_EQ(with(forged).code(), StatusCode::kUnauthenticated);
  // Too old: height 2 from a block at height 9.
  EXPECT_FALSE(with(EvidenceToProto(DoubleSign(keys_[1], 2))).ok());
  // From the future.
  EXPECT_FALSE(with(EvidenceToProto(DoubleSign(keys_[1], 9))).ok());
  // A key that was never a validator.
  EXPECT_FALSE(with(EvidenceToProto(DoubleSign(Key(77), 7))).ok());
  // Two votes that agree are no double sign.
  proto::DuplicateVoteEvidence agree;
  agree.set_validator_key(std::string(keys_[1].public_key().bytes.begin(),
                                      keys_[1].public_key().bytes.end()));
  *agree.mutable_first() = EvidenceToProto(DoubleSign(keys_[1], 7)).first();
  *agree.mutable_second() = agree.first();
  EXPECT_FALSE(with(agree).ok());
  // Votes of different rounds.
  Evidence rounds = DoubleSign(keys_[1], 7);
  rounds.second.round = 1;
  rounds.second.signature = keys_[1].Sign({kChain, SignKind::kPrevote}, rounds.second.SignBytes());
  EXPECT_FALSE(with(EvidenceToProto(rounds)).ok());
  // One validator named twice.
  proto::Block twice = clean;
  *twice.add_evidence() = EvidenceToProto(DoubleSign(keys_[1], 7));
  *twice.add_evidence() = EvidenceToProto(DoubleSign(keys_[1], 6));
  EXPECT_FALSE(ValidateChanged(twice).ok());
  // Evidence the header does not commit to.
  proto::Block unhashed = clean;
  *unhashed.add_evidence() = EvidenceToProto(DoubleSign(keys_[1], 7));
  EXPECT_FALSE(chain_->ValidateBlock(unhashed, now_ms_, nullptr).ok());
  // AddEvidence refuses what no block could carry.
  EXPECT_FALSE(chain_->AddEvidence(DoubleSign(keys_[1], 2)).ok());
  EXPECT_FALSE(chain_->AddEvidence(DoubleSign(Key(77), 7)).ok());
}

// Found in review (2026-12-03): AddEvidence built the validator set of the
// evidence's height before checking it, so a peer's evidence about height
// 2^40 held the node's thread for ever, and one a few thousand heights
// ahead pushed the sets the node needs out of ValidatorsAt's window.
TEST_F(ChainTest, EvidenceAboutAHeightNotYetReachableIsRefused) {
  Commit(Propose());
  Commit(Propose());  // committed height 2: deciding 3, votes for 4 possible
  const SecretKey cheat = keys_[2];
  EXPECT_TRUE(chain_->AddEvidence(DoubleSign(cheat, 4)).ok());
  for (uint64_t height : {5ull, 5'000ull}) {
    Status s = chain_->AddEvidence(DoubleSign(cheat, height));
    EXPECT_EQ(s.code(), StatusCode::kOutOfRange) << height << ": " << s.ToString();
  }
  EXPECT_EQ(chain_->pending_evidence(), 1u);
  // The chain goes on with its sets where they were.
  Commit(Propose());
  EXPECT_TRUE(chain_->ValidatorsAt(1).IndexOf(cheat.public_key()).has_value());
}

TEST_F(ChainTest, EvidenceFromBeforeAValidatorJoinedIsRefused) {
  Params params;
  params.epoch_blocks = 10;
  params.unbonding_blocks = 21;
  Open(params);
  const SecretKey op = Key(1), late = Key(200);
  keys_.push_back(late);  // it signs once it is in a set
  Commit(Propose({testing::Signed(op, 0, MsgStake{10'000'000}),
                  testing::Signed(op, 1, testing::CreateValidatorMsg(late, op, "late"))}));
  while (chain_->height() < 22) Commit(Propose());
  ASSERT_FALSE(chain_->ValidatorsAt(20).IndexOf(late.public_key()).has_value());
  ASSERT_TRUE(chain_->ValidatorsAt(21).IndexOf(late.public_key()).has_value());
  // Known to the ledger, not tombstoned, young enough: only the set of its
  // height can refuse it.
  const proto::Block clean = Propose();
  proto::Block before = clean;
  *before.add_evidence() = EvidenceToProto(DoubleSign(late, 20));
  Status s = ValidateChanged(before);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a validator at height 20"), std::string::npos) << s.message();
  proto::Block after = clean;
  *after.add_evidence() = EvidenceToProto(DoubleSign(late, 22));
  EXPECT_TRUE(ValidateChanged(after).ok());
}

TEST_F(ChainTest, ANewBlockMustNameTheProposerThatSignedIt) {
  const proto::Block b = Propose();
  const PublicKey proposer = ProposerKeyOf(b);
  const PublicKey other =
      proposer == keys_[0].public_key() ? keys_[1].public_key() : keys_[0].public_key();
  EXPECT_TRUE(CheckProposer(b.header(), proposer, /*valid_round=*/-1).ok());
  // A later round's proposer reusing this header (and so this VRF output).
  EXPECT_FALSE(CheckProposer(b.header(), other, /*valid_round=*/-1).ok());
  // A re-proposal of a block with a polka keeps its first proposer.
  EXPECT_TRUE(CheckProposer(b.header(), other, /*valid_round=*/0).ok());
}

TEST_F(ChainTest, EvidenceOfHeightZeroIsRefusedNotACrash) {
  Commit(Propose());
  Evidence zero = DoubleSign(keys_[1], 1);
  for (Vote* v : {&zero.first, &zero.second}) {
    v->height = 0;
    v->signature = keys_[1].Sign({kChain, SignKind::kPrevote}, v->SignBytes());
  }
  proto::Block b = Propose();
  *b.add_evidence() = EvidenceToProto(zero);
  Status s = ValidateChanged(b);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("height 0"), std::string::npos) << s.message();
  EXPECT_FALSE(chain_->AddEvidence(zero).ok());
}

}  // namespace
}  // namespace agora::consensus
