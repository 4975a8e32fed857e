// A ledger over an in-memory store, driven block by block the way the chain
// drives it (BeginBlock, DeliverTx..., EndBlock, Commit, write, Committed),
// for the ledger's unit tests.
#ifndef AGORA_TESTS_CONSENSUS_LEDGER_HARNESS_H_
#define AGORA_TESTS_CONSENSUS_LEDGER_HARNESS_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "common/kv.h"
#include "common/proto_codec.h"
#include "consensus/ledger/ledger.h"
#include "consensus/ledger/staking.h"
#include "proto/tx.pb.h"

namespace agora::consensus::testing {

inline constexpr char kChain[] = "ledger-test";

inline SecretKey Key(uint8_t n) { return SecretKey::FromSeed(Bytes(32, n)).value(); }
inline Address AddressOf(const SecretKey& k) { return Address::FromPublicKey(k.public_key()); }

// A transaction built by hand, for what the typed messages cannot express
// (a field out of its range, two fields that exclude each other): `fill`
// sets the body's message; the chain id and sender are set here, and the
// whole is signed by `key` for this harness's chain.
inline Bytes HandBuiltTx(const SecretKey& key, const std::function<void(proto::TxBody*)>& fill) {
  proto::TxBody body;
  body.set_chain_id(kChain);
  body.set_sender(std::string(key.public_key().bytes.begin(), key.public_key().bytes.end()));
  fill(&body);
  const Bytes body_bytes = EncodeDeterministic(body);
  const Signature sig = key.Sign({kChain, SignKind::kTransaction}, body_bytes);
  proto::SignedTx signed_tx;
  signed_tx.set_body(std::string(body_bytes.begin(), body_bytes.end()));
  signed_tx.set_public_key(body.sender());
  signed_tx.set_signature(std::string(sig.bytes.begin(), sig.bytes.end()));
  return EncodeDeterministic(signed_tx);
}

// CreateValidator for `consensus` operated by `op`, with its proof of
// possession for this harness's chain.
inline MsgCreateValidator CreateValidatorMsg(const SecretKey& consensus, const SecretKey& op,
                                             std::string moniker) {
  return {consensus.public_key(), std::move(moniker),
          ProvePossession(consensus, kChain, AddressOf(op))};
}

inline Tx Signed(const SecretKey& from, uint64_t nonce, const Msg& msg, uint64_t fee = 10) {
  return DecodeTx(MakeTx(from, kChain, nonce, fee, msg), kChain).value();
}

// Evidence that `key` prevoted for two blocks at `height` (power 10).
inline VerifiedEvidence DoubleSign(const SecretKey& key, uint64_t height) {
  Vote a{VoteType::kPrevote, height, 0, Blake2b256(AsBytes("a")), 0, {}};
  Vote b = a;
  b.block = Blake2b256(AsBytes("b"));
  a.signature = key.Sign({kChain, SignKind::kPrevote}, a.SignBytes());
  b.signature = key.Sign({kChain, SignKind::kPrevote}, b.SignBytes());
  return {Evidence{key.public_key(), a, b}, 10};
}

struct BlockRun {
  std::vector<TxResult> results;
  EndBlockResult end;
};

class LedgerHarness {
 public:
  // Validators: keys 100.. with `stake` each, operated by their own
  // address, which also holds `balance`; accounts: keys 1..n_accounts with
  // `balance` each.
  LedgerHarness(size_t n_validators, size_t n_accounts, const Params& params,
                uint64_t stake = 10'000'000, uint64_t balance = 1'000'000'000) {
    ledger_ = Ledger::Open(&store_).value();
    LedgerGenesis g;
    for (size_t i = 0; i < n_accounts; ++i) {
      g.accounts.push_back({AddressOf(Key(static_cast<uint8_t>(1 + i))), balance});
    }
    for (size_t i = 0; i < n_validators; ++i) {
      const SecretKey k = Key(static_cast<uint8_t>(100 + i));
      g.validators.push_back({k.public_key(), AddressOf(k), "v" + std::to_string(i), stake});
      g.accounts.push_back({AddressOf(k), balance});
    }
    g.params = params;
    g.beacon_seed = Blake2b256(AsBytes("harness"));
    WriteBatch batch;
    Status s = ledger_->InitGenesis(g, &batch);
    EXPECT_TRUE(s.ok()) << s.message();
    EXPECT_TRUE(store_.Write(batch, Durability::kSynced).ok());
    ledger_->Committed();
  }

  // Runs one block; every validator of the current schedule signed the
  // last commit except those in `absent`.
  // `before_end` runs after the transactions, before EndBlock (where
  // verification will settle tasks).
  BlockRun Run(const std::vector<Tx>& txs, const std::vector<PublicKey>& absent = {},
               const std::vector<VerifiedEvidence>& evidence = {},
               const std::function<void(Ledger&)>& before_end = nullptr) {
    BlockContext ctx;
    ctx.height = ledger_->Height() + 1;
    ctx.time_unix_ms = 1000 * ctx.height;
    ctx.proposer = proposer_ ? Address::FromPublicKey(*proposer_) : AddressOf(Key(250));
    if (proposer_) ctx.proposer_key = *proposer_;
    ctx.beacon = Blake2b256(U64Bytes(ctx.height));
    ctx.evidence = evidence;
    if (ctx.height > 1) {
      for (const Validator& v : SetAt(ctx.height - 1)) {
        bool away = false;
        for (const PublicKey& k : absent) away |= k == v.key;
        ctx.last_commit_signers.push_back({v.key, !away});
      }
    }
    BlockRun run;
    ledger_->BeginBlock(ctx);
    for (const Tx& tx : txs) run.results.push_back(ledger_->DeliverTx(tx));
    if (before_end) before_end(*ledger_);
    run.end = ledger_->EndBlock();
    WriteBatch batch;
    auto root = ledger_->Commit(&batch);
    EXPECT_TRUE(root.ok()) << root.status().message();
    EXPECT_TRUE(store_.Write(batch, Durability::kSynced).ok());
    ledger_->Committed();
    EXPECT_EQ(ledger_->AppHash(), *root);
    Status audit = ledger_->AuditTotals();
    EXPECT_TRUE(audit.ok()) << "after height " << ctx.height << ": " << audit.message();
    return run;
  }

  // Empty blocks until the ledger has committed `height`.
  void RunTo(uint64_t height, const std::vector<PublicKey>& absent = {}) {
    while (ledger_->Height() < height) Run({}, absent);
  }

  std::vector<Validator> SetAt(uint64_t height) {
    std::vector<Validator> out;
    for (const SetChange& c : ledger_->ValidatorSchedule()) {
      if (c.height <= height) out = c.validators;
    }
    return out;
  }

  // The consensus key that proposes the next blocks (default: key 250,
  // which operates no validator).
  void set_proposer(const PublicKey& key) { proposer_ = key; }
  Ledger& ledger() { return *ledger_; }
  MemKvStore& store() { return store_; }
  uint64_t Balance(const SecretKey& k) { return ledger_->Account(AddressOf(k)).balance_uagr; }
  uint64_t Stake(const SecretKey& k) {
    return staking::GetStake(ledger_->committed(), AddressOf(k));
  }

 private:
  MemKvStore store_;
  std::unique_ptr<Ledger> ledger_;
  std::optional<PublicKey> proposer_;
};

}  // namespace agora::consensus::testing

#endif  // AGORA_TESTS_CONSENSUS_LEDGER_HARNESS_H_
