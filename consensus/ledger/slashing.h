// The slashing module: downtime counted from commit signatures, double
// signs from evidence in blocks, and Unjail (PROTOCOL.md §4).
//
// State: "slashing/window/<consensus key>" -> observed u64 | missed u64 |
// window u64 | bitmap of `window` bits (bit i: the block at observed index
// i mod window was missed). A validator is judged only once it has been
// observed for a whole window, so a new one is not jailed for its first
// blocks.
//
// Thread safety: free functions over the caller's buffer.
#ifndef AGORA_CONSENSUS_LEDGER_SLASHING_H_
#define AGORA_CONSENSUS_LEDGER_SLASHING_H_

#include <vector>

#include "consensus/ledger/application.h"
#include "consensus/ledger/params.h"
#include "consensus/ledger/state_buffer.h"

namespace agora::consensus::slashing {

struct SigningInfo {
  uint64_t observed = 0;
  uint64_t missed = 0;
};
SigningInfo GetSigningInfo(StateReader& state, const PublicKey& key);

// Begin block: records who signed the last commit, jails and slashes
// validators over the downtime bound, and punishes each double sign.
void BeginBlock(StateBuffer& state, const Params& params, const BlockContext& ctx,
                std::vector<Event>* events);

TxResult HandleUnjail(StateBuffer& state, uint64_t height, const Address& sender);

}  // namespace agora::consensus::slashing

#endif  // AGORA_CONSENSUS_LEDGER_SLASHING_H_
