#include "consensus/ledger/ledger.h"

namespace agora::consensus {
namespace {

Bytes EncodeAccount(const Account& a) {
  Bytes out;
  PutU64BigEndian(out, a.balance_uagr);
  PutU64BigEndian(out, a.nonce);
  return out;
}

}  // namespace

std::string_view TxCodeName(TxCode code) {
  switch (code) {
    case TxCode::kOk:
      return "ok";
    case TxCode::kBadNonce:
      return "bad_nonce";
    case TxCode::kInsufficientFunds:
      return "insufficient_funds";
    case TxCode::kFeeTooLow:
      return "fee_too_low";
    case TxCode::kBadSignature:
      return "bad_signature";
  }
  return "unknown";
}

Status Ledger::InitGenesis(const std::vector<GenesisAccount>& accounts, WriteBatch* batch) {
  for (const GenesisAccount& g : accounts) {
    if (g.balance_uagr > kAmountUagrMax) {
      return Status::InvalidArgument("genesis balance of " + g.address.ToString() +
                                     " is above 2^62 uagr");
    }
    if (accounts_.count(g.address)) {
      return Status::InvalidArgument("genesis lists " + g.address.ToString() + " twice");
    }
    Put(g.address, Account{g.balance_uagr, 0}, batch);
  }
  Rehash();
  return Status::Ok();
}

Status Ledger::Load(KvStore& store) {
  accounts_.clear();
  auto it = store.Scan(KeyPrefix::kState);
  for (; it->Valid(); it->Next()) {
    if (it->key().size() != Address::kSize || it->value().size() != 16) {
      return Status::Corruption(
          "ledger state: malformed account record; the store is damaged, "
          "restore it or resync from genesis");
    }
    Address address = Address::FromBytes(it->key()).value();
    accounts_[address] = Account{GetU64BigEndian(it->value().subspan(0, 8)),
                                 GetU64BigEndian(it->value().subspan(8, 8))};
  }
  AGORA_RETURN_IF_ERROR(it->status());
  Rehash();
  return Status::Ok();
}

Account Ledger::Get(const Address& address) const {
  auto it = accounts_.find(address);
  return it == accounts_.end() ? Account{} : it->second;
}

Status Ledger::CheckTx(const Tx& tx) const {
  const Account sender = Get(tx.sender);
  if (tx.nonce < sender.nonce) {
    return Status::InvalidArgument("nonce " + std::to_string(tx.nonce) + " already used; next is " +
                                   std::to_string(sender.nonce));
  }
  if (tx.fee_uagr < min_fee_uagr_) {
    return Status::InvalidArgument("fee " + std::to_string(tx.fee_uagr) +
                                   " uagr is below the minimum of " +
                                   std::to_string(min_fee_uagr_));
  }
  if (tx.amount_uagr + tx.fee_uagr > sender.balance_uagr) {
    return Status::FailedPrecondition("insufficient funds: balance " +
                                      std::to_string(sender.balance_uagr) + " uagr, need " +
                                      std::to_string(tx.amount_uagr + tx.fee_uagr));
  }
  return Status::Ok();
}

std::vector<TxOutcome> Ledger::ExecuteBlock(const std::vector<Tx>& txs, const Address& proposer,
                                            WriteBatch* batch) {
  std::vector<TxOutcome> outcomes;
  outcomes.reserve(txs.size());
  std::map<Address, Account> touched;
  auto get = [&](const Address& a) -> Account& {
    auto it = touched.find(a);
    if (it == touched.end()) it = touched.emplace(a, Get(a)).first;
    return it->second;
  };
  for (const Tx& tx : txs) {
    TxOutcome outcome{tx.hash, TxCode::kOk};
    Account& sender = get(tx.sender);
    // Both are at most 2^62, so the sum cannot overflow.
    const uint64_t cost = tx.amount_uagr + tx.fee_uagr;
    if (tx.nonce != sender.nonce) {
      outcome.code = TxCode::kBadNonce;
    } else if (tx.fee_uagr < min_fee_uagr_) {
      outcome.code = TxCode::kFeeTooLow;
    } else if (cost > sender.balance_uagr) {
      outcome.code = TxCode::kInsufficientFunds;
    } else {
      sender.balance_uagr -= cost;
      sender.nonce += 1;
      Account& recipient = get(tx.to);
      // Balances stay below 2^62 in total supply terms only if genesis does;
      // saturate rather than wrap if a hostile genesis tried.
      recipient.balance_uagr = std::min(kAmountUagrMax, recipient.balance_uagr + tx.amount_uagr);
      Account& fees = get(proposer);
      fees.balance_uagr = std::min(kAmountUagrMax, fees.balance_uagr + tx.fee_uagr);
    }
    outcomes.push_back(outcome);
  }
  for (const auto& [address, account] : touched) {
    // A failed transaction touches its sender without changing it: writing
    // it would let junk from fresh keys grow the state for free.
    const Account before = Get(address);
    if (before.balance_uagr == account.balance_uagr && before.nonce == account.nonce) continue;
    Put(address, account, batch);
  }
  Rehash();
  return outcomes;
}

void Ledger::Put(const Address& address, const Account& account, WriteBatch* batch) {
  accounts_[address] = account;
  batch->Put(KeyPrefix::kState, address.span(), EncodeAccount(account));
}

void Ledger::Rehash() {
  // O(accounts) per block: fine for the first ledger; the full ledger will
  // keep a Merkle tree so a proof for one account is possible.
  Blake2b256Hasher hasher;
  hasher.Update(AsBytes("agora-ledger-v1"));
  for (const auto& [address, account] : accounts_) {
    hasher.Update(address.span());
    hasher.Update(EncodeAccount(account));
  }
  app_hash_ = hasher.Finish();
}

}  // namespace agora::consensus
