// The first ledger application: accounts funded in genesis and signed
// transfers with a nonce and a fee. The full ledger (stake, jobs, escrow,
// reputation, governance) will implement the same Application interface.
//
// Integers only: balances in micro-AGR, bounded by kAmountUagrMax so no sum
// overflows. The app hash commits to every account.
//
// Thread safety: not thread-safe; the node calls it from its one consensus
// thread.
#ifndef AGORA_CONSENSUS_LEDGER_LEDGER_H_
#define AGORA_CONSENSUS_LEDGER_LEDGER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/address.h"
#include "common/hash.h"
#include "common/kv.h"
#include "common/status.h"
#include "consensus/ledger/tx.h"

namespace agora::consensus {

struct Account {
  uint64_t balance_uagr = 0;
  uint64_t nonce = 0;  // transactions executed; the next one must carry this nonce
};

struct GenesisAccount {
  Address address;
  uint64_t balance_uagr = 0;
};

// Why a transaction in a block did nothing. Codes are part of the ledger's
// rules: they are stored and served over RPC, never renumbered.
enum class TxCode : uint32_t {
  kOk = 0,
  kBadNonce = 1,
  kInsufficientFunds = 2,
  kFeeTooLow = 3,
  kBadSignature = 4,
};
std::string_view TxCodeName(TxCode code);

struct TxOutcome {
  Hash256 hash;
  TxCode code = TxCode::kOk;
};

// What the node asks of any ledger application.
class Application {
 public:
  virtual ~Application() = default;
  // Loads committed state from `store` (after a restart).
  virtual Status Load(KvStore& store) = 0;
  // Admission check against committed state, for the mempool.
  virtual Status CheckTx(const Tx& tx) const = 0;
  // Executes a decided block's transactions in order and adds the state
  // changes to `batch`; the node writes the batch with the block, atomically.
  virtual std::vector<TxOutcome> ExecuteBlock(const std::vector<Tx>& txs, const Address& proposer,
                                              WriteBatch* batch) = 0;
  // The hash of the whole state after the last executed block.
  virtual Hash256 AppHash() const = 0;
};

class Ledger final : public Application {
 public:
  explicit Ledger(uint64_t min_fee_uagr) : min_fee_uagr_(min_fee_uagr) {}

  // Writes the genesis accounts into `batch` and into memory.
  // InvalidArgument for duplicates or balances above kAmountUagrMax.
  Status InitGenesis(const std::vector<GenesisAccount>& accounts, WriteBatch* batch);

  Status Load(KvStore& store) override;
  Status CheckTx(const Tx& tx) const override;
  std::vector<TxOutcome> ExecuteBlock(const std::vector<Tx>& txs, const Address& proposer,
                                      WriteBatch* batch) override;
  Hash256 AppHash() const override { return app_hash_; }

  Account Get(const Address& address) const;
  uint64_t min_fee_uagr() const { return min_fee_uagr_; }
  size_t account_count() const { return accounts_.size(); }

 private:
  void Put(const Address& address, const Account& account, WriteBatch* batch);
  void Rehash();

  uint64_t min_fee_uagr_;
  std::map<Address, Account> accounts_;  // ordered: the app hash walks it in order
  Hash256 app_hash_;
};

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_LEDGER_LEDGER_H_
