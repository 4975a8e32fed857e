// The ledger application, transactions, the mempool, blocks and commits.
#include <gtest/gtest.h>

#include "common/kv.h"
#include "common/proto_codec.h"
#include "consensus/chain/block.h"
#include "consensus/chain/block_store.h"
#include "consensus/chain/mempool.h"
#include "consensus/ledger/tx.h"
#include "proto/tx.pb.h"

namespace agora::consensus {
namespace {

constexpr char kChain[] = "chain-test";

SecretKey Key(uint8_t n) { return SecretKey::FromSeed(Bytes(32, n)).value(); }
Address AddressOf(const SecretKey& k) { return Address::FromPublicKey(k.public_key()); }

Tx MakeTx(const SecretKey& from, uint64_t nonce, uint64_t amount, const Address& to,
          uint64_t fee = 10) {
  return DecodeTx(MakeTransfer(from, kChain, nonce, fee, to, amount), kChain).value();
}

TEST(TxTest, DecodeChecksFormAndChain) {
  const SecretKey a = Key(1);
  const Bytes raw = MakeTransfer(a, kChain, 3, 10, AddressOf(Key(2)), 77);
  auto tx = DecodeTx(raw, kChain);
  ASSERT_TRUE(tx.ok()) << tx.status().message();
  EXPECT_EQ(tx->nonce, 3u);
  EXPECT_EQ(std::get<MsgTransfer>(tx->msg).amount_uagr, 77u);
  EXPECT_EQ(tx->sender, AddressOf(a));
  EXPECT_TRUE(VerifyTxSignature(*tx, kChain));
  EXPECT_FALSE(DecodeTx(raw, "other-chain").ok());
  EXPECT_FALSE(DecodeTx(Bytes{1, 2, 3}, kChain).ok());
  EXPECT_FALSE(DecodeTx(Bytes(kTxBytesMax + 1, 0), kChain).ok());
  EXPECT_FALSE(DecodeTx(MakeTransfer(a, kChain, 0, 10, AddressOf(a), 0), kChain).ok())
      << "a zero amount is refused";
  // A body whose sender is not the signing key.
  proto::SignedTx signed_tx;
  ASSERT_TRUE(DecodeStrict(raw, kTxBytesMax, signed_tx).ok());
  const PublicKey other = Key(9).public_key();
  signed_tx.set_public_key(std::string(other.bytes.begin(), other.bytes.end()));
  EXPECT_FALSE(DecodeTx(EncodeDeterministic(signed_tx), kChain).ok());
}

TEST(TxTest, TamperedSignatureFailsAndTheCacheRemembersOnlyGoodOnes) {
  Bytes raw = MakeTransfer(Key(1), kChain, 0, 10, AddressOf(Key(2)), 5);
  Tx good = DecodeTx(raw, kChain).value();
  raw[raw.size() - 1] ^= 1;
  Tx bad = DecodeTx(raw, kChain).value();
  SignatureCache cache;
  EXPECT_FALSE(cache.Verify(bad, kChain));
  EXPECT_FALSE(cache.Verify(bad, kChain));
  EXPECT_TRUE(cache.Verify(good, kChain));
  EXPECT_EQ(cache.hits(), 0u);
  EXPECT_TRUE(cache.Verify(good, kChain));
  EXPECT_EQ(cache.hits(), 1u);
}

// Consensus signatures and VRF proofs through the cache: a good one is
// verified once and then answered from the cache; a forgery fails before and
// after the good one is cached, and is never remembered; any change of key,
// payload, domain or alpha is verified afresh.
TEST(TxTest, CacheVerifiesEachSignatureAndVrfProofOnce) {
  SignatureCache cache;
  const SecretKey key = Key(1);
  const SignDomain domain{kChain, SignKind::kPrecommit};
  const ByteSpan payload = AsBytes("vote bytes");
  const Signature good = key.Sign(domain, payload);
  Signature forged = good;
  forged.bytes[5] ^= 1;
  EXPECT_FALSE(cache.VerifySignature(key.public_key(), domain, payload, forged));
  EXPECT_TRUE(cache.VerifySignature(key.public_key(), domain, payload, good));
  EXPECT_EQ(cache.hits(), 0u);
  EXPECT_TRUE(cache.VerifySignature(key.public_key(), domain, payload, good));
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_FALSE(cache.VerifySignature(key.public_key(), domain, payload, forged));
  EXPECT_FALSE(cache.VerifySignature(Key(2).public_key(), domain, payload, good));
  EXPECT_FALSE(cache.VerifySignature(key.public_key(), domain, AsBytes("vote bytez"), good));
  EXPECT_FALSE(
      cache.VerifySignature(key.public_key(), {kChain, SignKind::kPrevote}, payload, good));
  EXPECT_FALSE(cache.VerifySignature(key.public_key(), {"other-chain", SignKind::kPrecommit},
                                     payload, good));
  EXPECT_EQ(cache.hits(), 1u);

  const ByteSpan alpha = AsBytes("beacon");
  const VrfProof proof = VrfProve(key, alpha);
  const VrfOutput expected = VrfVerify(key.public_key(), proof, alpha).value();
  Result<VrfOutput> first = cache.VerifyVrf(key.public_key(), proof, alpha);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(*first, expected);
  EXPECT_EQ(cache.hits(), 1u);
  Result<VrfOutput> second = cache.VerifyVrf(key.public_key(), proof, alpha);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, expected);
  EXPECT_EQ(cache.hits(), 2u);
  EXPECT_EQ(cache.VerifyVrf(key.public_key(), proof, AsBytes("beacon2")).status().code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(cache.VerifyVrf(Key(2).public_key(), proof, alpha).status().code(),
            StatusCode::kUnauthenticated);
  VrfProof bad = proof;
  bad.bytes[40] ^= 1;
  EXPECT_FALSE(cache.VerifyVrf(key.public_key(), bad, alpha).ok());
  EXPECT_FALSE(cache.VerifyVrf(key.public_key(), bad, alpha).ok());
  EXPECT_EQ(cache.hits(), 2u);
}

TEST(TxTest, IdenticalTransfersFromTwoSendersHaveDifferentIds) {
  const Address to = AddressOf(Key(3));
  EXPECT_NE(MakeTx(Key(1), 0, 5, to).hash, MakeTx(Key(2), 0, 5, to).hash);
}

Status AddTx(Mempool& pool, const Tx& tx, const AccountState& committed) {
  const TxCheck check{tx.sender, tx.nonce, tx.fee_uagr, MsgDebitMax(tx.msg) + tx.fee_uagr};
  return pool.Add(tx, check, committed);
}

TEST(MempoolTest, AdmissionRules) {
  const SecretKey a = Key(1);
  const Address to = AddressOf(Key(2));
  Mempool pool(MempoolConfig{}, /*min_fee_uagr=*/10);
  const AccountState account{1000, 2};
  EXPECT_EQ(AddTx(pool, MakeTx(a, 1, 5, to), account).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(AddTx(pool, MakeTx(a, 2, 5, to, 9), account).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(AddTx(pool, MakeTx(a, 2, 991, to), account).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(AddTx(pool, MakeTx(a, 2, 500, to), account).ok());
  EXPECT_EQ(AddTx(pool, MakeTx(a, 2, 500, to), account).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(AddTx(pool, MakeTx(a, 2, 1, to), account).code(), StatusCode::kAlreadyExists);
  // Pending spending counts: 510 pending, 490 left.
  EXPECT_EQ(AddTx(pool, MakeTx(a, 3, 481, to), account).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(AddTx(pool, MakeTx(a, 3, 480, to), account).ok());
  EXPECT_EQ(AddTx(pool, MakeTx(a, 2 + 65, 1, to), account).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pool.size(), 2u);
}

TEST(MempoolTest, ReapTakesConsecutiveNoncesAndUpdateDropsCommitted) {
  const SecretKey a = Key(1), b = Key(2);
  const Address to = AddressOf(Key(3));
  std::map<Address, AccountState> state{{AddressOf(a), {1000, 0}}, {AddressOf(b), {1000, 0}}};
  auto lookup = [&](const Address& x) { return state[x]; };
  Mempool pool(MempoolConfig{}, 0);
  ASSERT_TRUE(AddTx(pool, MakeTx(a, 0, 1, to), state[AddressOf(a)]).ok());
  ASSERT_TRUE(AddTx(pool, MakeTx(a, 2, 1, to), state[AddressOf(a)]).ok());  // a gap at 1
  ASSERT_TRUE(AddTx(pool, MakeTx(b, 0, 1, to), state[AddressOf(b)]).ok());
  ASSERT_TRUE(AddTx(pool, MakeTx(b, 1, 1, to), state[AddressOf(b)]).ok());
  std::vector<Tx> reaped = pool.Reap(100, 1 << 20, lookup);
  ASSERT_EQ(reaped.size(), 3u);  // a0, b0, b1: a2 waits for a1
  EXPECT_EQ(reaped[0].sender, AddressOf(a));
  EXPECT_EQ(reaped[1].sender, AddressOf(b));
  EXPECT_EQ(reaped[2].nonce, 1u);
  EXPECT_EQ(pool.Reap(1, 1 << 20, lookup).size(), 1u);
  // Commit a0 and b0: they go, and a stale b0 duplicate could never return.
  state[AddressOf(a)] = {989, 1};
  state[AddressOf(b)] = {989, 1};
  pool.Update({reaped[0].hash, reaped[1].hash}, lookup);
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_FALSE(pool.Contains(reaped[0].hash));
  EXPECT_EQ(AddTx(pool, MakeTx(b, 0, 1, to), state[AddressOf(b)]).code(),
            StatusCode::kInvalidArgument);
}

TEST(MempoolTest, TransactionsBehindAGapExpireThoseWithoutOneStay) {
  const SecretKey a = Key(1), b = Key(2);
  const Address to = AddressOf(Key(3));
  std::map<Address, AccountState> state{{AddressOf(a), {1000, 0}}, {AddressOf(b), {1000, 0}}};
  auto lookup = [&](const Address& x) { return state[x]; };
  MempoolConfig config;
  config.gapped_blocks_max = 3;
  Mempool pool(config, 0);
  const Tx a0 = MakeTx(a, 0, 1, to), a2 = MakeTx(a, 2, 1, to), a3 = MakeTx(a, 3, 1, to);
  const Tx b1 = MakeTx(b, 1, 1, to), b0 = MakeTx(b, 0, 1, to);
  for (const Tx& tx : {a0, a2, a3}) ASSERT_TRUE(AddTx(pool, tx, state[AddressOf(a)]).ok());
  ASSERT_TRUE(AddTx(pool, b1, state[AddressOf(b)]).ok());  // behind a gap at b0
  pool.Update({}, lookup);
  ASSERT_TRUE(AddTx(pool, b0, state[AddressOf(b)]).ok());  // the gap fills in time
  pool.Update({}, lookup);
  EXPECT_EQ(pool.size(), 5u);
  pool.Update({}, lookup);  // a2 and a3 have waited three blocks behind a1
  EXPECT_EQ(pool.size(), 3u);
  EXPECT_TRUE(pool.Contains(a0.hash));
  EXPECT_FALSE(pool.Contains(a2.hash));
  EXPECT_FALSE(pool.Contains(a3.hash));
  EXPECT_TRUE(pool.Contains(b0.hash));
  EXPECT_TRUE(pool.Contains(b1.hash));
  for (int i = 0; i < 10; ++i) pool.Update({}, lookup);
  EXPECT_EQ(pool.size(), 3u) << "runs without a gap never expire";
  // The balance a2 and a3 held is free again.
  EXPECT_TRUE(AddTx(pool, MakeTx(a, 1, 979, to), state[AddressOf(a)]).ok());  // 1000 - 11 - 10
}

TEST(MempoolTest, FullPoolEvictsOnlyForAHigherFee) {
  MempoolConfig config;
  config.txs_max = 2;
  Mempool pool(config, 0);
  const Address to = AddressOf(Key(9));
  const AccountState rich{1'000'000, 0};
  ASSERT_TRUE(AddTx(pool, MakeTx(Key(1), 0, 1, to, 10), rich).ok());
  ASSERT_TRUE(AddTx(pool, MakeTx(Key(2), 0, 1, to, 20), rich).ok());
  EXPECT_EQ(AddTx(pool, MakeTx(Key(3), 0, 1, to, 10), rich).code(), StatusCode::kResourceExhausted);
  const Tx cheap = MakeTx(Key(1), 0, 1, to, 10);
  ASSERT_TRUE(AddTx(pool, MakeTx(Key(3), 0, 1, to, 30), rich).ok());
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_FALSE(pool.Contains(cheap.hash));
}

// Found in review (2026-12-03): a full pool evicted one cheaper transaction
// and admitted the new one whatever its size, so large transactions (up to
// 64 KiB each, waiting behind a nonce gap and so never paying their fee)
// could swap out small ones and hold many times bytes_max.
TEST(MempoolTest, TheByteBoundHoldsWhenALargeTransactionEvicts) {
  const Address to = AddressOf(Key(9));
  const AccountState rich{1'000'000, 0};
  // Transfers are all one size; padding the bytes the pool counts stands in
  // for a large message (the pool never reads them).
  auto padded = [](Tx tx, size_t extra) {
    tx.raw.resize(tx.raw.size() + extra);
    tx.hash = Blake2b256(tx.raw);
    return tx;
  };
  const size_t small = MakeTx(Key(1), 0, 1, to).raw.size();
  MempoolConfig config;
  config.bytes_max = 4 * small;
  Mempool pool(config, 0);
  for (uint8_t k = 1; k <= 4; ++k) ASSERT_TRUE(AddTx(pool, MakeTx(Key(k), 0, 1, to, 10), rich).ok());
  ASSERT_EQ(pool.bytes(), 4 * small);
  // Three small ones make room for a triple-size one.
  const Tx big = padded(MakeTx(Key(5), 0, 1, to, 11), 2 * small);
  ASSERT_TRUE(AddTx(pool, big, rich).ok());
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_LE(pool.bytes(), config.bytes_max);
  // Another needs the first big one gone too, which pays as much: refused,
  // and the small one that could have gone is still there.
  const Tx big2 = padded(MakeTx(Key(6), 0, 1, to, 11), 2 * small);
  EXPECT_EQ(AddTx(pool, big2, rich).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_TRUE(pool.Contains(big.hash));
  int smalls_left = 0;
  for (uint8_t k = 1; k <= 4; ++k) smalls_left += pool.Contains(MakeTx(Key(k), 0, 1, to, 10).hash);
  EXPECT_EQ(smalls_left, 1) << "the refusal evicted nothing";
  EXPECT_LE(pool.bytes(), config.bytes_max);
  // One larger than the whole pool never fits.
  EXPECT_EQ(AddTx(pool, padded(MakeTx(Key(7), 0, 1, to, 99), 4 * small), rich).code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(pool.size(), 2u);
}

// Governance may move the bounds of a running pool: new admissions follow
// them, what is pending stays.
TEST(MempoolTest, BoundsChangeWhileRunning) {
  Mempool pool(MempoolConfig{}, 0);
  const Address to = AddressOf(Key(9));
  const AccountState rich{1'000'000, 0};
  ASSERT_TRUE(AddTx(pool, MakeTx(Key(1), 0, 1, to, 10), rich).ok());
  ASSERT_TRUE(AddTx(pool, MakeTx(Key(2), 0, 1, to, 10), rich).ok());
  pool.set_bounds(2, 64u << 20);
  EXPECT_EQ(AddTx(pool, MakeTx(Key(3), 0, 1, to, 10), rich).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(pool.size(), 2u);
  pool.set_bounds(3, 64u << 20);
  EXPECT_TRUE(AddTx(pool, MakeTx(Key(3), 0, 1, to, 10), rich).ok());
  const Tx small = MakeTx(Key(4), 0, 1, to, 10);
  pool.set_bounds(100, pool.bytes() + small.raw.size() - 1);
  EXPECT_EQ(AddTx(pool, small, rich).code(), StatusCode::kResourceExhausted) << "bytes bound";
  pool.set_bounds(100, pool.bytes() + small.raw.size());
  EXPECT_TRUE(AddTx(pool, small, rich).ok());
}

TEST(BlockTest, TxRootDependsOnEveryIdAndItsOrder) {
  std::vector<Hash256> ids;
  for (uint8_t i = 0; i < 5; ++i) ids.push_back(Blake2b256(Bytes(1, i)));
  const Hash256 root = TxRoot(ids);
  std::swap(ids[1], ids[2]);
  EXPECT_NE(TxRoot(ids), root);
  ids.pop_back();
  EXPECT_NE(TxRoot(ids), root);
  EXPECT_TRUE(TxRoot({}).IsZero());
}

class CommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<Validator> vs;
    for (uint8_t i = 0; i < 4; ++i) {
      keys_.push_back(Key(10 + i));
      vs.push_back({keys_.back().public_key(), 10, 0});
    }
    set_ = ValidatorSet::Make(vs).value();
    block_ = Blake2b256(AsBytes("block"));
  }
  Vote Precommit(size_t who, const Hash256& block, uint32_t round = 0) {
    Vote v{VoteType::kPrecommit, 7, round, block, static_cast<ValidatorIndex>(who), {}};
    v.signature = keys_[who].Sign({kChain, SignKind::kPrecommit}, v.SignBytes());
    return v;
  }
  std::vector<SecretKey> keys_;
  ValidatorSet set_;
  Hash256 block_;
};

TEST_F(CommitTest, QuorumOfGoodSignaturesVerifies) {
  proto::Commit c =
      MakeCommit(7, 0, block_, {Precommit(2, block_), Precommit(0, block_), Precommit(1, block_)});
  EXPECT_TRUE(VerifyCommit(c, set_, kChain, 7, block_).ok());
  EXPECT_FALSE(VerifyCommit(c, set_, kChain, 8, block_).ok()) << "wrong height";
  EXPECT_FALSE(VerifyCommit(c, set_, kChain, 7, Blake2b256(AsBytes("x"))).ok()) << "wrong block";
  EXPECT_FALSE(VerifyCommit(c, set_, "other", 7, block_).ok()) << "wrong chain";
}

// Through a cache, the precommits a node already checked as votes are not
// verified again; a forged signature still fails with the cache warm.
TEST_F(CommitTest, ACachedPrecommitIsNotVerifiedAgain) {
  SignatureCache cache;
  std::vector<Vote> votes = {Precommit(0, block_), Precommit(1, block_), Precommit(2, block_)};
  for (const Vote& v : {votes[0], votes[1]}) {
    ASSERT_TRUE(cache.VerifySignature(keys_[v.validator].public_key(),
                                      {kChain, SignKind::kPrecommit}, v.SignBytes(), v.signature));
  }
  ASSERT_EQ(cache.hits(), 0u);
  const proto::Commit c = MakeCommit(7, 0, block_, votes);
  EXPECT_TRUE(VerifyCommit(c, set_, kChain, 7, block_, &cache).ok());
  EXPECT_EQ(cache.hits(), 2u);  // votes 0 and 1; vote 2 verified and added
  EXPECT_TRUE(VerifyCommit(c, set_, kChain, 7, block_, &cache).ok());
  EXPECT_EQ(cache.hits(), 5u);
  proto::Commit forged = c;
  std::string sig = forged.signatures(2).signature();
  sig[0] ^= 1;
  forged.mutable_signatures(2)->set_signature(sig);
  EXPECT_EQ(VerifyCommit(forged, set_, kChain, 7, block_, &cache).code(),
            StatusCode::kUnauthenticated);
  EXPECT_FALSE(VerifyCommit(c, set_, kChain, 7, Blake2b256(AsBytes("x")), &cache).ok());
}

TEST_F(CommitTest, TooFewForgedOrRepeatedSignaturesFail) {
  proto::Commit two = MakeCommit(7, 0, block_, {Precommit(0, block_), Precommit(1, block_)});
  EXPECT_FALSE(VerifyCommit(two, set_, kChain, 7, block_).ok());
  proto::Commit c =
      MakeCommit(7, 0, block_, {Precommit(0, block_), Precommit(1, block_), Precommit(2, block_)});
  proto::Commit forged = c;
  std::string sig = forged.signatures(1).signature();
  sig[0] ^= 1;
  forged.mutable_signatures(1)->set_signature(sig);
  EXPECT_EQ(VerifyCommit(forged, set_, kChain, 7, block_).code(), StatusCode::kUnauthenticated);
  proto::Commit repeated = c;
  *repeated.mutable_signatures(2) = repeated.signatures(1);
  EXPECT_FALSE(VerifyCommit(repeated, set_, kChain, 7, block_).ok());
  proto::Commit other_round = c;
  other_round.set_round(1);
  EXPECT_FALSE(VerifyCommit(other_round, set_, kChain, 7, block_).ok());
}

TEST(BlockStoreTest, BlocksCommitsAndTxIndexRoundTrip) {
  MemKvStore kv;
  BlockStore store(&kv);
  ASSERT_TRUE(store.Load().ok());
  EXPECT_EQ(store.height(), 0u);
  proto::Block block;
  block.mutable_header()->set_height(1);
  block.mutable_header()->set_chain_id(kChain);
  const Hash256 hash = HeaderHash(block.header());
  proto::Commit commit;
  commit.set_height(1);
  const Hash256 tx_id = Blake2b256(AsBytes("tx"));
  WriteBatch batch;
  const Hash256 unpaid_id = Blake2b256(AsBytes("unpaid"));
  const Event moved{"transfer", {{"from", "a"}, {"to", "b"}, {"amount_uagr", "5"}}};
  const Event slashed{"slash", {{"reason", "downtime"}, {"burned_uagr", "10"}}};
  store.Add(block, hash, commit,
            {{tx_id, TxCode::kInsufficientFunds, "balance 3 < 5", {moved}, /*charged=*/true},
             {unpaid_id, TxCode::kBadNonce, "", {}, /*charged=*/false}},
            {slashed}, &batch);
  ASSERT_TRUE(kv.Write(batch, Durability::kSynced).ok());
  BlockStore reopened(&kv);
  ASSERT_TRUE(reopened.Load().ok());
  EXPECT_EQ(reopened.height(), 1u);
  EXPECT_EQ(reopened.last_block_hash(), hash);
  EXPECT_EQ(reopened.HeightOf(hash).value(), std::optional<uint64_t>(1));
  auto where = reopened.FindTx(tx_id).value();
  ASSERT_TRUE(where.has_value());
  EXPECT_EQ(where->height, 1u);
  EXPECT_EQ(where->code, TxCode::kInsufficientFunds);
  EXPECT_FALSE(reopened.FindTx(unpaid_id).value().has_value())
      << "a transaction that paid nothing may still run later";
  EXPECT_FALSE(reopened.BlockAt(2).value().has_value());
  // What the block did, every transaction's and EndBlock's, in order.
  const std::optional<proto::BlockResults> results = reopened.ResultsAt(1).value();
  ASSERT_TRUE(results.has_value());
  ASSERT_EQ(results->txs_size(), 2);
  EXPECT_EQ(results->txs(0).hash(), std::string(tx_id.bytes.begin(), tx_id.bytes.end()));
  EXPECT_EQ(results->txs(0).code(), static_cast<uint32_t>(TxCode::kInsufficientFunds));
  EXPECT_EQ(results->txs(0).log(), "balance 3 < 5");
  EXPECT_TRUE(results->txs(0).charged());
  ASSERT_EQ(results->txs(0).events_size(), 1);
  EXPECT_EQ(results->txs(0).events(0).type(), "transfer");
  EXPECT_EQ(std::vector<std::string>(results->txs(0).events(0).keys().begin(),
                                     results->txs(0).events(0).keys().end()),
            (std::vector<std::string>{"from", "to", "amount_uagr"}));
  EXPECT_EQ(results->txs(0).events(0).values(2), "5");
  EXPECT_EQ(results->txs(1).code(), static_cast<uint32_t>(TxCode::kBadNonce));
  EXPECT_FALSE(results->txs(1).charged());
  ASSERT_EQ(results->end_events_size(), 1);
  EXPECT_EQ(results->end_events(0).type(), "slash");
  EXPECT_EQ(results->end_events(0).values(1), "10");
  EXPECT_FALSE(reopened.ResultsAt(2).value().has_value());
}

}  // namespace
}  // namespace agora::consensus
