#include "consensus/signer.h"

#include <gtest/gtest.h>

#include "common/kv.h"

namespace agora::consensus {
namespace {

constexpr char kChain[] = "agora-test";

Vote MakeVote(VoteType type, uint64_t height, uint32_t round, std::optional<Hash256> block) {
  return Vote{type, height, round, block, 0, {}};
}

std::unique_ptr<SafeSigner> OpenSigner(const SecretKey& key, KvStore* store) {
  return SafeSigner::Open(kChain, std::make_unique<Ed25519SigningKey>(key), store).value();
}

TEST(SafeSignerTest, RefusesConflictsAcrossRestart) {
  MemKvStore store;  // stands for the disk: it outlives the signer
  SecretKey key = SecretKey::Generate();
  Hash256 a = Blake2b256(std::string_view("a")), b = Blake2b256(std::string_view("b"));
  Signature first;
  {
    auto signer = OpenSigner(key, &store);
    auto sig = signer->SignVote(MakeVote(VoteType::kPrevote, 5, 2, a));
    ASSERT_TRUE(sig.ok());
    first = *sig;
    EXPECT_EQ(*signer->SignVote(MakeVote(VoteType::kPrevote, 5, 2, a)), first);  // idempotent
    EXPECT_EQ(signer->SignVote(MakeVote(VoteType::kPrevote, 5, 2, b)).status().code(),
              StatusCode::kFailedPrecondition);
  }
  auto restarted = OpenSigner(key, &store);  // "after the crash"
  ASSERT_TRUE(restarted->last().has_value());
  EXPECT_EQ(restarted->last()->height, 5u);
  EXPECT_EQ(*restarted->SignVote(MakeVote(VoteType::kPrevote, 5, 2, a)), first);
  EXPECT_FALSE(restarted->SignVote(MakeVote(VoteType::kPrevote, 5, 2, std::nullopt)).ok());
  EXPECT_FALSE(restarted->SignVote(MakeVote(VoteType::kPrevote, 5, 1, a)).ok());  // earlier round
  EXPECT_FALSE(restarted->SignVote(MakeVote(VoteType::kPrevote, 4, 9, a)).ok());  // earlier height
  // Moving on is allowed, and a non-nil precommit becomes the lock.
  ASSERT_TRUE(restarted->SignVote(MakeVote(VoteType::kPrecommit, 5, 2, a)).ok());
  EXPECT_FALSE(restarted->SignVote(MakeVote(VoteType::kPrevote, 5, 2, a)).ok());  // step back
  auto again = OpenSigner(key, &store);
  ASSERT_TRUE(again->lock().has_value());
  EXPECT_EQ(again->lock()->block, a);
  EXPECT_EQ(again->lock()->round, 2u);
  ASSERT_TRUE(again->last_of(Step::kPrevote).has_value());
  EXPECT_EQ(again->last_of(Step::kPrevote)->signature, first);
}

TEST(SafeSignerTest, SignaturesVerifyUnderTheirDomainOnly) {
  MemKvStore store;
  SecretKey key = SecretKey::Generate();
  auto signer = OpenSigner(key, &store);
  Vote v = MakeVote(VoteType::kPrecommit, 1, 0, Blake2b256(std::string_view("x")));
  v.signature = *signer->SignVote(v);
  EXPECT_TRUE(Verify(key.public_key(), {kChain, SignKind::kPrecommit}, v.SignBytes(), v.signature));
  EXPECT_FALSE(Verify(key.public_key(), {kChain, SignKind::kPrevote}, v.SignBytes(), v.signature));
  EXPECT_FALSE(Verify(key.public_key(), {"other", SignKind::kPrecommit}, v.SignBytes(), v.signature));
}

TEST(SafeSignerTest, DamagedRecordRefusesToOpen) {
  MemKvStore store;
  WriteBatch batch;
  batch.Put(KeyPrefix::kConsensusWal, AsBytes("last_signed"), AsBytes("garbage"));
  ASSERT_TRUE(store.Write(batch, Durability::kSynced).ok());
  auto signer = SafeSigner::Open(kChain, std::make_unique<Ed25519SigningKey>(SecretKey::Generate()),
                                 &store);
  EXPECT_EQ(signer.status().code(), StatusCode::kCorruption);
}

// The lock keeps the prevotes that justify it, so a restarted validator can
// show peers its polka; a lock written before polkas were kept still opens.
TEST(SafeSignerTest, LockKeepsItsPolkaAcrossRestart) {
  MemKvStore store;
  SecretKey key = SecretKey::Generate(), other = SecretKey::Generate();
  Hash256 a = Blake2b256(std::string_view("a"));
  std::vector<Vote> polka;
  for (ValidatorIndex who : {0u, 3u}) {
    Vote v = MakeVote(VoteType::kPrevote, 7, 4, a);
    v.validator = who;
    v.signature = (who == 0 ? key : other).Sign({kChain, v.Kind()}, v.SignBytes());
    polka.push_back(v);
  }
  {
    auto signer = OpenSigner(key, &store);
    ASSERT_TRUE(signer->SignVote(MakeVote(VoteType::kPrecommit, 7, 4, a), polka).ok());
  }
  auto restarted = OpenSigner(key, &store);
  ASSERT_TRUE(restarted->lock().has_value());
  const std::vector<Vote>& kept = restarted->lock()->polka;
  ASSERT_EQ(kept.size(), 2u);
  for (size_t i = 0; i < kept.size(); ++i) {
    EXPECT_EQ(kept[i].SignBytes(), polka[i].SignBytes());
    EXPECT_EQ(kept[i].validator, polka[i].validator);
    EXPECT_EQ(kept[i].signature, polka[i].signature);
  }

  MemKvStore old_store;
  WriteBatch batch;
  Bytes old_lock;
  PutU64BigEndian(old_lock, 7);
  PutU64BigEndian(old_lock, 4);
  Append(old_lock, a.bytes);
  batch.Put(KeyPrefix::kConsensusWal, AsBytes("lock"), old_lock);
  ASSERT_TRUE(old_store.Write(batch, Durability::kSynced).ok());
  auto old = OpenSigner(key, &old_store);
  ASSERT_TRUE(old->lock().has_value());
  EXPECT_EQ(old->lock()->block, a);
  EXPECT_TRUE(old->lock()->polka.empty());

  old_lock.push_back(0);  // a torn polka entry
  batch.Put(KeyPrefix::kConsensusWal, AsBytes("lock"), old_lock);
  ASSERT_TRUE(old_store.Write(batch, Durability::kSynced).ok());
  EXPECT_EQ(SafeSigner::Open(kChain, std::make_unique<Ed25519SigningKey>(key), &old_store)
                .status()
                .code(),
            StatusCode::kCorruption);
}

TEST(EvidenceTest, AnyoneCanVerifyFromTheTwoSignatures) {
  SecretKey key = SecretKey::Generate();
  Ed25519Verifier verifier;
  auto sign = [&](Vote v) {
    v.signature = key.Sign({kChain, v.Kind()}, v.SignBytes());
    return v;
  };
  Hash256 a = Blake2b256(std::string_view("a")), b = Blake2b256(std::string_view("b"));
  Evidence e{key.public_key(), sign(MakeVote(VoteType::kPrevote, 3, 1, a)),
             sign(MakeVote(VoteType::kPrevote, 3, 1, b))};
  EXPECT_TRUE(VerifyEvidence(e, kChain, verifier).ok());
  Evidence nil_vs_block = e;
  nil_vs_block.second = sign(MakeVote(VoteType::kPrevote, 3, 1, std::nullopt));
  EXPECT_TRUE(VerifyEvidence(nil_vs_block, kChain, verifier).ok());

  Evidence forged = e;
  forged.second.signature.bytes[0] ^= 1;
  EXPECT_FALSE(VerifyEvidence(forged, kChain, verifier).ok());
  Evidence other_key = e;
  other_key.validator = SecretKey::Generate().public_key();
  EXPECT_FALSE(VerifyEvidence(other_key, kChain, verifier).ok());
  Evidence agree = e;
  agree.second = e.first;
  EXPECT_FALSE(VerifyEvidence(agree, kChain, verifier).ok());
  Evidence rounds = e;
  rounds.second = sign(MakeVote(VoteType::kPrevote, 3, 2, b));
  EXPECT_FALSE(VerifyEvidence(rounds, kChain, verifier).ok());
  EXPECT_FALSE(VerifyEvidence(e, "other-chain", verifier).ok());
}

}  // namespace
}  // namespace agora::consensus
