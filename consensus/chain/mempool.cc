#include "consensus/chain/mempool.h"

#include <algorithm>
#include <queue>

namespace agora::consensus {

Status Mempool::Add(Tx tx, const TxCheck& check, const AccountState& committed) {
  if (by_id_.count(tx.hash)) return Status::AlreadyExists("transaction already in the mempool");
  if (tx.nonce < committed.nonce) {
    return Status::InvalidArgument("nonce " + std::to_string(tx.nonce) +
                                   " already used; the account's next nonce is " +
                                   std::to_string(committed.nonce));
  }
  if (tx.nonce - committed.nonce > config_.nonce_ahead_max) {
    return Status::InvalidArgument("nonce " + std::to_string(tx.nonce) + " is more than " +
                                   std::to_string(config_.nonce_ahead_max) +
                                   " ahead of the account's next nonce " +
                                   std::to_string(committed.nonce));
  }
  if (tx.fee_uagr < min_fee_) {
    return Status::InvalidArgument("fee " + std::to_string(tx.fee_uagr) +
                                   " uagr is below the minimum of " + std::to_string(min_fee_));
  }
  auto sender_it = senders_.find(tx.sender);
  const uint64_t pending = sender_it == senders_.end() ? 0 : sender_it->second.pending_cost;
  if (sender_it != senders_.end() && sender_it->second.by_nonce.count(tx.nonce)) {
    return Status::AlreadyExists("a transaction with nonce " + std::to_string(tx.nonce) +
                                 " from this sender is already pending");
  }
  // pending sums at most nonce_ahead_max values of at most 2^63 each: the
  // comparison is done in a way that cannot overflow.
  const uint64_t cost = check.debit_uagr_max;
  tx.debit_uagr_max = cost;
  if (cost > committed.balance_uagr || pending > committed.balance_uagr - cost) {
    return Status::FailedPrecondition(
        "insufficient funds: balance " + std::to_string(committed.balance_uagr) +
        " uagr, pending " + std::to_string(pending) + ", this needs " + std::to_string(cost));
  }
  if (!MakeRoom(tx.raw.size(), tx.fee_uagr)) {
    return Status::ResourceExhausted("mempool full (" + std::to_string(by_id_.size()) +
                                     " transactions, " + std::to_string(bytes_) +
                                     " bytes); retry later or raise the fee");
  }
  Sender& sender = senders_[tx.sender];
  if (sender.by_nonce.empty()) sender.first_seen = arrivals_++;
  sender.pending_cost += cost;
  bytes_ += tx.raw.size();
  by_id_[tx.hash] = {tx.sender, tx.nonce, blocks_};
  sender.by_nonce.emplace(tx.nonce, std::move(tx));
  return Status::Ok();
}

bool Mempool::MakeRoom(size_t bytes_needed, uint64_t fee) {
  auto full = [&](size_t count, size_t bytes) {
    return count >= config_.txs_max || bytes + bytes_needed > config_.bytes_max;
  };
  if (!full(by_id_.size(), bytes_)) return true;
  // The victims are chosen before any is removed, so nothing is evicted for
  // a transaction that is then refused; as many go as the bytes need (a
  // 64 KiB transaction may displace hundreds of small ones, never fewer
  // than make room). Each sender loses its highest nonce first, so what
  // stays of it is still a run; the cheapest such last transaction goes
  // first, and only if it pays less than `fee`.
  struct Last {
    uint64_t fee;
    const Address* sender;
    std::map<uint64_t, Tx>::const_reverse_iterator it, end;
  };
  auto dearer = [](const Last& a, const Last& b) {
    return a.fee != b.fee ? a.fee > b.fee : *b.sender < *a.sender;
  };
  std::priority_queue<Last, std::vector<Last>, decltype(dearer)> cheapest(dearer);
  for (const auto& [address, sender] : senders_) {
    cheapest.push({sender.by_nonce.rbegin()->second.fee_uagr, &address, sender.by_nonce.rbegin(),
                   sender.by_nonce.rend()});
  }
  size_t count = by_id_.size(), bytes = bytes_;
  std::vector<std::pair<Address, uint64_t>> victims;
  while (full(count, bytes)) {
    if (cheapest.empty() || cheapest.top().fee >= fee) return false;
    Last last = cheapest.top();
    cheapest.pop();
    victims.emplace_back(*last.sender, last.it->first);
    --count;
    bytes -= last.it->second.raw.size();
    if (++last.it != last.end) {
      last.fee = last.it->second.fee_uagr;
      cheapest.push(last);
    }
  }
  for (const auto& [sender, nonce] : victims) Remove(sender, nonce);
  return true;
}

void Mempool::Remove(const Address& address, uint64_t nonce) {
  auto sender_it = senders_.find(address);
  if (sender_it == senders_.end()) return;
  Sender& sender = sender_it->second;
  auto it = sender.by_nonce.find(nonce);
  if (it == sender.by_nonce.end()) return;
  sender.pending_cost -= it->second.debit_uagr_max;
  bytes_ -= it->second.raw.size();
  by_id_.erase(it->second.hash);
  sender.by_nonce.erase(it);
  if (sender.by_nonce.empty()) senders_.erase(sender_it);
}

std::vector<Tx> Mempool::Reap(size_t txs_max, size_t bytes_max,
                              const AccountLookup& committed) const {
  // Senders in order of first arrival; round-robin one nonce at a time so a
  // single busy sender cannot fill a block.
  std::vector<std::pair<uint64_t, const Address*>> order;
  for (const auto& [address, sender] : senders_) order.push_back({sender.first_seen, &address});
  std::sort(order.begin(), order.end());
  struct Cursor {
    std::map<uint64_t, Tx>::const_iterator it, end;
    uint64_t next_nonce;
  };
  std::vector<Cursor> cursors;
  for (const auto& [seen, address] : order) {
    const Sender& s = senders_.at(*address);
    cursors.push_back({s.by_nonce.begin(), s.by_nonce.end(), committed(*address).nonce});
  }
  std::vector<Tx> out;
  size_t bytes = 0;
  bool progress = true;
  while (progress && out.size() < txs_max) {
    progress = false;
    for (Cursor& c : cursors) {
      while (c.it != c.end && c.it->first < c.next_nonce) ++c.it;  // stale, Update drops it
      if (c.it == c.end || c.it->first != c.next_nonce) continue;  // a gap: wait for it
      if (out.size() >= txs_max || bytes + c.it->second.raw.size() > bytes_max) {
        return out;
      }
      bytes += c.it->second.raw.size();
      out.push_back(c.it->second);
      ++c.it;
      ++c.next_nonce;
      progress = true;
    }
  }
  return out;
}

uint64_t Mempool::NextNonce(const Address& sender, uint64_t committed) const {
  auto it = senders_.find(sender);
  if (it == senders_.end()) return committed;
  uint64_t next = committed;
  while (it->second.by_nonce.count(next)) ++next;
  return next;
}

void Mempool::Update(const std::vector<Hash256>& committed_ids, const AccountLookup& committed) {
  for (const Hash256& id : committed_ids) {
    auto it = by_id_.find(id);
    if (it != by_id_.end()) {
      const Where where = it->second;
      Remove(where.sender, where.nonce);
    }
  }
  ++blocks_;
  std::vector<Address> addresses;
  for (const auto& [address, sender] : senders_) addresses.push_back(address);
  for (const Address& address : addresses) {
    const AccountState account = committed(address);
    // Nonces now used can never execute.
    while (senders_.count(address) && senders_[address].by_nonce.begin()->first < account.nonce) {
      Remove(address, senders_[address].by_nonce.begin()->first);
    }
    // Past the first gap, what waited too long goes.
    if (senders_.count(address)) {
      std::vector<uint64_t> expired;
      uint64_t expected = account.nonce;
      for (const auto& [nonce, tx] : senders_[address].by_nonce) {
        if (nonce == expected) {
          ++expected;
          continue;
        }
        expected = UINT64_MAX;  // a gap: nothing after it runs before the gap fills
        if (blocks_ - by_id_.at(tx.hash).admitted_at_block >= config_.gapped_blocks_max) {
          expired.push_back(nonce);
        }
      }
      for (uint64_t nonce : expired) Remove(address, nonce);
    }
    // Drop from the top until what stays is affordable.
    while (senders_.count(address) && senders_[address].pending_cost > account.balance_uagr) {
      Remove(address, senders_[address].by_nonce.rbegin()->first);
    }
  }
}

}  // namespace agora::consensus
