// Decoding the ledger's own protobuf records from state. They were written
// by this code, so a record that does not decode is corruption of the
// store, and the node stops rather than run on it.
//
// Thread safety: free functions.
#ifndef AGORA_CONSENSUS_LEDGER_RECORDS_H_
#define AGORA_CONSENSUS_LEDGER_RECORDS_H_

#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/check.h"
#include "common/proto_codec.h"

namespace agora::consensus {

inline constexpr size_t kStateRecordBytesMax = 64u << 10;

template <class M>
M DecodeStateRecord(ByteSpan bytes, std::string_view what) {
  M m;
  const Status s = DecodeStrict(bytes, kStateRecordBytesMax, m);
  AGORA_CHECK_MSG(s.ok(), "malformed " + std::string(what) + " record: " + s.message());
  return m;
}

}  // namespace agora::consensus

#endif  // AGORA_CONSENSUS_LEDGER_RECORDS_H_
