#include "consensus/ledger/bank.h"

#include "common/check.h"

namespace agora::consensus::bank {

std::string AccountKey(const Address& address) {
  std::string key = "bank/acct/";
  key.append(address.bytes().begin(), address.bytes().end());
  return key;
}

AccountState GetAccount(StateReader& state, const Address& address) {
  std::optional<Bytes> v = state.Get(AccountKey(address));
  if (!v) return {};
  AGORA_CHECK_MSG(v->size() == 16, "malformed account record of " + address.ToString());
  return {ReadU64(*v, 0), ReadU64(*v, 8)};
}

void SetAccount(StateBuffer& state, const Address& address, const AccountState& account) {
  const AccountState before = GetAccount(state, address);
  // total_balances <= supply <= 2^62, and so is each balance: no overflow.
  const uint64_t total = state.GetU64(kTotalBalancesKey);
  AGORA_CHECK(total >= before.balance_uagr);
  state.SetU64(kTotalBalancesKey, total - before.balance_uagr + account.balance_uagr);
  Bytes value = U64Bytes(account.balance_uagr);
  PutU64BigEndian(value, account.nonce);
  state.Set(AccountKey(address), value);
}

TxCode Debit(StateBuffer& state, const Address& address, uint64_t amount) {
  AccountState account = GetAccount(state, address);
  if (account.balance_uagr < amount) return TxCode::kInsufficientFunds;
  account.balance_uagr -= amount;
  SetAccount(state, address, account);
  return TxCode::kOk;
}

TxCode Credit(StateBuffer& state, const Address& address, uint64_t amount) {
  AccountState account = GetAccount(state, address);
  if (amount > kAmountUagrMax || account.balance_uagr > kAmountUagrMax - amount) {
    return TxCode::kOverflow;
  }
  account.balance_uagr += amount;
  SetAccount(state, address, account);
  return TxCode::kOk;
}

void Burn(StateBuffer& state, uint64_t amount) {
  const uint64_t burned = state.GetU64(kBurnedKey);
  AGORA_CHECK(burned + amount <= state.GetU64(kSupplyKey));
  state.SetU64(kBurnedKey, burned + amount);
}

void RewardFromBurned(StateBuffer& state, const Address& to, uint64_t amount) {
  const uint64_t burned = state.GetU64(kBurnedKey);
  AGORA_CHECK(amount <= burned);
  state.SetU64(kBurnedKey, burned - amount);
  AGORA_CHECK(Credit(state, to, amount) == TxCode::kOk);
}

TxResult HandleTransfer(StateBuffer& state, const Address& sender, const MsgTransfer& msg) {
  TxResult result;
  result.code = Debit(state, sender, msg.amount_uagr);
  if (result.code != TxCode::kOk) {
    result.log = "balance is below the transfer amount of " + std::to_string(msg.amount_uagr);
    return result;
  }
  result.code = Credit(state, msg.to, msg.amount_uagr);
  if (result.code != TxCode::kOk) {
    result.log = "the recipient's balance would pass 2^62 uagr";
    return result;
  }
  result.events.push_back({"transfer",
                           {{"from", sender.ToString()},
                            {"to", msg.to.ToString()},
                            {"amount_uagr", std::to_string(msg.amount_uagr)}}});
  return result;
}

}  // namespace agora::consensus::bank
