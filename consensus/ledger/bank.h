// The bank module: balances and nonces, the fixed supply, burns, and the
// running totals that make conservation checkable in O(1) per block.
//
// State: "bank/acct/<20-byte address>" -> balance u64 | nonce u64;
// "bank/supply", "bank/burned", "bank/total_balances" -> u64.
// Every change of a balance goes through SetAccount, which keeps
// total_balances exact; nothing here saturates: a credit that would pass
// 2^62 is refused (kOverflow), never clipped.
//
// Thread safety: free functions over the caller's buffer.
#ifndef AGORA_CONSENSUS_LEDGER_BANK_H_
#define AGORA_CONSENSUS_LEDGER_BANK_H_

#include <cstdint>
#include <string>

#include "common/address.h"
#include "consensus/ledger/application.h"
#include "consensus/ledger/state_buffer.h"

namespace agora::consensus::bank {

inline constexpr std::string_view kSupplyKey = "bank/supply";
inline constexpr std::string_view kBurnedKey = "bank/burned";
inline constexpr std::string_view kTotalBalancesKey = "bank/total_balances";

std::string AccountKey(const Address& address);
AccountState GetAccount(StateReader& state, const Address& address);
void SetAccount(StateBuffer& state, const Address& address, const AccountState& account);

// Moves `amount` from the account's balance; kInsufficientFunds if short.
TxCode Debit(StateBuffer& state, const Address& address, uint64_t amount);
// kOverflow if the balance would pass 2^62 (impossible while conservation
// holds; checked all the same).
TxCode Credit(StateBuffer& state, const Address& address, uint64_t amount);
// Destroys `amount` that the caller has already taken out of a balance,
// stake or escrow.
void Burn(StateBuffer& state, uint64_t amount);
// Gives `amount` of what was burned (by a slash in the same handler) to
// `to` instead: a slash with a reward.
void RewardFromBurned(StateBuffer& state, const Address& to, uint64_t amount);

TxResult HandleTransfer(StateBuffer& state, const Address& sender, const MsgTransfer& msg);

}  // namespace agora::consensus::bank

#endif  // AGORA_CONSENSUS_LEDGER_BANK_H_
