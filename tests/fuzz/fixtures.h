// What several fuzz targets judge their inputs against, and make_seeds
// writes valid inputs from: a real chain at height 1 and a real state tree.
#ifndef AGORA_TESTS_FUZZ_FIXTURES_H_
#define AGORA_TESTS_FUZZ_FIXTURES_H_

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/hash.h"
#include "common/keys.h"
#include "common/kv.h"
#include "common/state_tree.h"
#include "consensus/chain/block_store.h"
#include "consensus/chain/chain.h"
#include "consensus/ledger/ledger.h"

namespace agora::fuzz {

inline constexpr char kFuzzChain[] = "fuzz-chain";

inline SecretKey FuzzKey(uint8_t n) { return SecretKey::FromSeed(Bytes(32, n)).value(); }

// A chain at height 1 over an in-memory store and the real ledger: four
// validators of equal power, one funded account. Block 1 (one transfer) is
// committed with every validator's precommit, so a block for height 2
// carries a real last commit.
class FuzzChain {
 public:
  FuzzChain() {
    ledger_ = consensus::Ledger::Open(&store_).value();
    consensus::LedgerGenesis g;
    for (uint8_t i = 0; i < 4; ++i) {
      keys_.push_back(FuzzKey(100 + i));
      g.validators.push_back({keys_[i].public_key(),
                              Address::FromPublicKey(keys_[i].public_key()), "v", 10'000'000});
    }
    g.accounts.push_back({Address::FromPublicKey(client().public_key()), 1'000'000'000});
    WriteBatch batch;
    Must(ledger_->InitGenesis(g, &batch), "genesis");
    Must(store_.Write(batch, Durability::kSynced), "write genesis");
    ledger_->Committed();
    blocks_ = std::make_unique<consensus::BlockStore>(&store_);
    Must(blocks_->Load(), "block store");
    chain_ = std::make_unique<consensus::Chain>(kFuzzChain, /*genesis_time_unix_ms=*/1000, &store_,
                                                blocks_.get(), ledger_.get(), &signatures_);
    Must(chain_->Load(), "chain");
    first_block_ = Propose({Transfer(0)});
    first_commit_ = CommitFor(first_block_);
    Commit(first_block_);
  }

  consensus::Chain& chain() { return *chain_; }
  const proto::Block& first_block() const { return first_block_; }
  const proto::Commit& first_commit() const { return first_commit_; }
  uint64_t now_ms() const { return now_ms_; }
  const std::vector<SecretKey>& validators() const { return keys_; }
  static SecretKey client() { return FuzzKey(1); }

  // A signed transfer from the funded account (nonce n).
  consensus::Tx Transfer(uint64_t nonce) const {
    const Bytes raw = consensus::MakeTx(client(), kFuzzChain, nonce, /*fee=*/10,
                                        consensus::MsgTransfer{Address::FromPublicKey(
                                                                   FuzzKey(2).public_key()),
                                                               1000});
    return consensus::DecodeTx(raw, kFuzzChain).value();
  }

  // The block the next height's proposer makes, one second after the last.
  proto::Block Propose(std::vector<consensus::Tx> txs) {
    const consensus::ValidatorSet& set = chain_->ValidatorsAt(chain_->height() + 1);
    const SecretKey* proposer = &keys_[0];
    for (const SecretKey& k : keys_) {
      if (set.IndexOf(k.public_key())) {
        proposer = &k;
        break;
      }
    }
    std::vector<consensus::Tx> included;
    now_ms_ += 1000;
    auto block = chain_->Propose(*proposer, now_ms_, std::move(txs), &included);
    Must(block.status(), "propose");
    return *block;
  }

  // Every validator of the block's height precommits it in round 0.
  proto::Commit CommitFor(const proto::Block& block) {
    const uint64_t height = block.header().height();
    const Hash256 hash = consensus::HeaderHash(block.header());
    const consensus::ValidatorSet& set = chain_->ValidatorsAt(height);
    std::vector<consensus::Vote> votes;
    for (const SecretKey& k : keys_) {
      auto index = set.IndexOf(k.public_key());
      if (!index) continue;
      consensus::Vote v{consensus::VoteType::kPrecommit, height, 0, hash, *index, {}};
      v.signature = k.Sign({kFuzzChain, SignKind::kPrecommit}, v.SignBytes());
      votes.push_back(v);
    }
    return consensus::MakeCommit(height, 0, hash, votes);
  }

  // Evidence that validator `i` prevoted for two blocks at `height`.
  consensus::Evidence DoubleSign(size_t i, uint64_t height) {
    const consensus::ValidatorSet& set = chain_->ValidatorsAt(height);
    const consensus::ValidatorIndex index = set.IndexOf(keys_[i].public_key()).value_or(0);
    consensus::Vote a{consensus::VoteType::kPrevote, height, 0, Blake2b256(AsBytes("a")), index,
                      {}};
    consensus::Vote b = a;
    b.block = Blake2b256(AsBytes("b"));
    a.signature = keys_[i].Sign({kFuzzChain, SignKind::kPrevote}, a.SignBytes());
    b.signature = keys_[i].Sign({kFuzzChain, SignKind::kPrevote}, b.SignBytes());
    return {keys_[i].public_key(), a, b};
  }

 private:
  static void Must(const Status& s, const char* what) {
    if (s.ok()) return;
    std::fprintf(stderr, "fuzz chain fixture: %s: %s\n", what, s.ToString().c_str());
    std::abort();
  }

  void Commit(const proto::Block& block) {
    std::vector<consensus::Tx> txs;
    Must(chain_->ValidateBlock(block, now_ms_, &txs), "validate block 1");
    WriteBatch batch;
    auto executed = chain_->Execute(block, first_commit_, txs, &batch);
    Must(executed.status(), "execute block 1");
    Must(store_.Write(batch, Durability::kSynced), "write block 1");
    chain_->Committed(block, *executed);
  }

  MemKvStore store_;
  std::unique_ptr<consensus::Ledger> ledger_;
  std::unique_ptr<consensus::BlockStore> blocks_;
  consensus::SignatureCache signatures_;
  std::unique_ptr<consensus::Chain> chain_;
  std::vector<SecretKey> keys_;
  uint64_t now_ms_ = 1000;
  proto::Block first_block_;
  proto::Commit first_commit_;
};

// A state tree of 64 keys ("key/0".."key/63" hold "value <i*i>") at version
// 1; "key/64".."key/79" are absent.
struct FuzzStateTree {
  MemKvStore store;
  std::unique_ptr<StateTree> tree;
  std::map<Bytes, Bytes> truth;
  Hash256 root;

  static Bytes Key(size_t i) { return ToBytes("key/" + std::to_string(i)); }

  FuzzStateTree() {
    tree = StateTree::Open(&store, {}).value();
    std::map<Bytes, std::optional<Bytes>> changes;
    for (size_t i = 0; i < 64; ++i) {
      const Bytes value = ToBytes("value " + std::to_string(i * i));
      changes[Key(i)] = value;
      truth[Key(i)] = value;
    }
    WriteBatch batch;
    root = tree->Stage(1, changes, &batch).value();
    if (!store.Write(batch, Durability::kSynced).ok()) std::abort();
    tree->Commit();
  }
};

}  // namespace agora::fuzz

#endif  // AGORA_TESTS_FUZZ_FIXTURES_H_
