// The ledger application: the modules bank, staking, slashing and params
// over one authenticated state tree (PROTOCOL.md §1-4, docs/ledger.md).
//
// Each block: BeginBlock records the beacon, who signed the last commit
// and punishes evidence; DeliverTx checks the nonce and fee (the "ante"
// step: a transaction that passes it pays its fee and uses its nonce even
// if its message then fails) and dispatches the message to its module on a
// branch of state that is dropped if the message fails; EndBlock pays out
// unbondings and changes the validator set at epoch boundaries; Commit
// stages the changes into the tree and checks conservation:
//   total_balances + total_bonded + total_unbonding == supply - burned.
//
// Integers only: amounts in micro-AGR, at most 2^62 in total.
//
// Thread safety: not thread-safe; one thread (the chain's) calls it.
#ifndef AGORA_CONSENSUS_LEDGER_LEDGER_H_
#define AGORA_CONSENSUS_LEDGER_LEDGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/address.h"
#include "common/hash.h"
#include "common/kv.h"
#include "common/state_tree.h"
#include "common/status.h"
#include "consensus/ledger/application.h"
#include "consensus/ledger/marketplace.h"
#include "consensus/ledger/params.h"
#include "consensus/ledger/state_buffer.h"
#include "consensus/ledger/tx.h"

namespace agora::consensus {

struct GenesisAccount {
  Address address;
  uint64_t balance_uagr = 0;
};

struct GenesisStake {
  PublicKey consensus_key;
  Address operator_address;  // the account that stakes and may unjail
  std::string moniker;
  uint64_t stake_uagr = 0;   // power = stake / 10^6
};

struct LedgerGenesis {
  std::vector<GenesisAccount> accounts;
  std::vector<GenesisStake> validators;  // the set of height 1, in this order
  Params params;
  Hash256 beacon_seed;  // beacon_0 = H("agora-beacon-v1" || seed)
};

class Ledger final : public Application {
 public:
  // Opens the state tree in `store` (empty for a new chain).
  static Result<std::unique_ptr<Ledger>> Open(KvStore* store,
                                              StateTree::Options tree_options = {});

  // Checks the VRF proofs that messages carry (a verdict's segment draw)
  // through `cache`, which the chain already uses for signatures, so a
  // proof a node verified once is not verified again. Null (the default):
  // every proof is verified. `cache` must outlive the ledger.
  void SetSignatureCache(SignatureCache* cache) { signatures_ = cache; }

  // Writes genesis state into `batch`; call Committed() once it is written.
  // InvalidArgument for duplicates, a supply above 2^62, a validator below
  // 1 AGR, invalid parameters.
  Status InitGenesis(const LedgerGenesis& genesis, WriteBatch* batch);

  Status Load() override;
  Result<TxCheck> CheckTx(const Tx& tx) override;
  AccountState Account(const Address& address) override;
  void BeginBlock(const BlockContext& ctx) override;
  TxResult DeliverTx(const Tx& tx) override;
  EndBlockResult EndBlock() override;
  Result<Hash256> Commit(WriteBatch* batch) override;
  void Committed() override;
  void Abandon() override;
  Hash256 AppHash() const override { return tree_->root(); }
  Hash256 Beacon() override;
  std::vector<SetChange> ValidatorSchedule() override;
  std::vector<SetChange> ValidatorScheduleFrom(uint64_t height) override;
  // The committed parameters, read from state once per committed root.
  Params CurrentParams() override;
  Status CheckEvidence(const PublicKey& validator, uint64_t vote_height,
                       uint64_t block_height) override;

  // Committed-state queries for RPC.
  uint64_t Height() { return committed_.GetU64("ledger/height"); }
  Totals ReadTotals() override { return ReadTotals(committed_); }
  StateReader& committed() override { return committed_; }
  StateTree& tree() override { return *tree_; }

  // Verification's entry point into the market (its own module calls it
  // between DeliverTx and EndBlock; tests call it directly until then):
  // settles a task as passed or failed, on a branch that is dropped on an
  // error. REQUIRES: inside a block, before EndBlock.
  Status MarketVerdict(const marketplace::TaskId& task, bool passed);

  // Recomputes every total by walking all of state: for tests and audits.
  // Returns the first mismatch, or OK.
  Status AuditTotals();

 private:
  Ledger(KvStore* store, std::unique_ptr<StateTree> tree);
  static Totals ReadTotals(StateReader& state);
  TxResult Dispatch(StateBuffer& state, const Tx& tx);

  KvStore* store_;
  std::unique_ptr<StateTree> tree_;
  CommittedState committed_;
  // The block being executed, between BeginBlock and Committed/Abandon.
  std::optional<StateBuffer> block_;
  BlockContext ctx_;
  Params params_;
  // CurrentParams' copy and the root it was read at: the same root is the
  // same state, so the copy is good while the root is unchanged.
  std::optional<std::pair<Hash256, Params>> committed_params_;
  std::vector<Event> block_events_;  // BeginBlock's, handed out by EndBlock
  Address fee_recipient_;            // the proposer's operator
  bool staged_ = false;
  SignatureCache* signatures_ = nullptr;  // SetSignatureCache's; may be null
};

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_LEDGER_LEDGER_H_
