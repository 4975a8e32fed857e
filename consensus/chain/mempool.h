// Transactions waiting for a block.
//
// Admission (Add) takes a decoded transaction whose signature the caller
// has verified, and checks it against the committed state plus what the
// sender already has pending: nonce not yet used and not too far ahead, fee
// at least the minimum, and enough balance for everything pending. Bounds on
// count and bytes; when full, a transaction with a higher fee evicts the
// cheapest transaction that no other pending one depends on (the highest
// pending nonce of some sender). Reap takes, per sender, the run of
// consecutive nonces starting at the account's next nonce. Update, after
// each block, drops what was committed and what can no longer execute.
//
// Thread safety: not thread-safe; the node calls it from its one thread.
#ifndef AGORA_CONSENSUS_CHAIN_MEMPOOL_H_
#define AGORA_CONSENSUS_CHAIN_MEMPOOL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "consensus/ledger/application.h"
#include "consensus/ledger/tx.h"

namespace agora::consensus {

struct MempoolConfig {
  size_t txs_max = 20'000;
  size_t bytes_max = 64u << 20;
  // How far past the account's next nonce a transaction may wait for the
  // ones before it: enough for a client that submits to several nodes,
  // small enough that gapped transactions cannot fill the pool for free.
  uint64_t nonce_ahead_max = 64;
  // A transaction behind a nonce gap (waiting for one that has not come) is
  // dropped after this many blocks: a client that gave up on the missing
  // one must not keep its later ones, and their balance, tied up forever.
  uint64_t gapped_blocks_max = 150;
};

class Mempool {
 public:
  using AccountLookup = std::function<AccountState(const Address&)>;

  Mempool(MempoolConfig config, uint64_t min_fee_uagr) : config_(config), min_fee_(min_fee_uagr) {}

  // Errors: AlreadyExists (same id, or the sender's nonce already pending),
  // InvalidArgument (nonce used or too far ahead, fee too low),
  // FailedPrecondition (balance does not cover everything pending),
  // ResourceExhausted (full and the fee is not above the cheapest evictable).
  // `check` is the application's CheckTx verdict on `tx`: the mempool
  // reserves check.debit_uagr_max of the sender's balance for it and knows
  // nothing else of what the transaction does.
  Status Add(Tx tx, const TxCheck& check, const AccountState& committed);
  // The minimum fee in force (governance may change it).
  void set_min_fee(uint64_t min_fee_uagr) { min_fee_ = min_fee_uagr; }
  // The bounds in force (governance may change them). Lower bounds than the
  // pool holds now apply to admissions: what is pending stays until it is
  // committed or dropped.
  void set_bounds(size_t txs_max, size_t bytes_max) {
    config_.txs_max = txs_max;
    config_.bytes_max = bytes_max;
  }

  // Up to the bounds, senders interleaved in order of first arrival.
  std::vector<Tx> Reap(size_t txs_max, size_t bytes_max, const AccountLookup& committed) const;

  // After a block: removes committed ids and every pending transaction whose
  // nonce is now used, drops those that waited behind a nonce gap for
  // gapped_blocks_max blocks, and re-checks each sender's balance against
  // what stays.
  void Update(const std::vector<Hash256>& committed_ids, const AccountLookup& committed);

  bool Contains(const Hash256& id) const { return by_id_.count(id) != 0; }
  // The nonce after the run of pending nonces that starts at `committed`:
  // what a client should sign next.
  uint64_t NextNonce(const Address& sender, uint64_t committed) const;
  size_t size() const { return by_id_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  struct Sender {
    std::map<uint64_t, Tx> by_nonce;
    uint64_t first_seen = 0;
    uint64_t pending_cost = 0;  // sum of debit_uagr_max, each <= 2^63
  };
  void Remove(const Address& sender, uint64_t nonce);
  // Evicts transactions cheaper than `fee` until one of `bytes_needed` fits
  // both bounds; false, evicting nothing, when that cannot be done.
  bool MakeRoom(size_t bytes_needed, uint64_t fee);

  MempoolConfig config_;
  uint64_t min_fee_;
  std::map<Address, Sender> senders_;
  struct Where {
    Address sender;
    uint64_t nonce = 0;
    uint64_t admitted_at_block = 0;  // blocks_ when it arrived
  };
  std::map<Hash256, Where> by_id_;
  size_t bytes_ = 0;
  uint64_t arrivals_ = 0;
  uint64_t blocks_ = 0;  // Update calls so far
};

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_CHAIN_MEMPOOL_H_
