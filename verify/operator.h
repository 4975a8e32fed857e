// Recomputing one operator of a trace (PROTOCOL.md §8, the referee's step):
// given one kernels::OpRecord and a way to fetch blobs by hash, check that
// every input blob hashes to the hash the record names, run that single op
// with the reference kernels (kernels::Backend::kReference, the
// specification) on copies of the inputs, and hash what it wrote. A referee
// votes for the side whose record's outputs these hashes match.
//
// Everything in the record and the blobs is untrusted: a malformed record
// (unknown kind, wrong counts, shapes out of range, sizes that overflow or do
// not match the blobs, tokens outside the vocabulary, a required tensor
// absent) is InvalidArgument; a blob whose bytes do not hash to its name is
// Corruption; a blob the lookup cannot produce keeps the lookup's error.
// None of them reaches an AGORA_CHECK in the kernels.
//
// Thread safety: free functions; the lookup is called from the caller's
// thread only. Recording is suspended on the calling thread while an op is
// recomputed, so a referee that is itself tracing does not record it.
#ifndef AGORA_VERIFY_OPERATOR_H_
#define AGORA_VERIFY_OPERATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/status.h"
#include "kernels/trace.h"

namespace agora::verify {

// The largest tensor a recompute will allocate or accept (4 GiB of floats):
// a record could otherwise name a small input and a huge output (attention's
// batch x heads x seq_len^2 probabilities) and exhaust the referee's memory.
inline constexpr int64_t kOperatorTensorElementsMax = int64_t{1} << 30;

// Returns the bytes of the blob named `hash`: NotFound when it is not held,
// Unavailable when it cannot be fetched now. The bytes are checked here.
using BlobLookup = std::function<Result<Bytes>(const Hash256& hash)>;

// A lookup into an in-memory blob store (kernels::OpTrace::blobs()).
// `blobs` must outlive the lookup.
BlobLookup LookupIn(const std::map<Hash256, Bytes>& blobs);

// InvalidArgument naming the problem unless `record` is well formed: a known
// kind, counts matching its signature, integers in the op's range, the op's
// own constraints (channels % heads == 0, ...), required tensors present,
// every tensor at most kOperatorTensorElementsMax elements.
Status ValidateOpRecord(const kernels::OpRecord& record);

// Recomputes `record` with the reference kernels and returns the hash of
// each output slot (kernels::kAbsentTensor for an absent one), in the
// record's order. Errors as the header says.
Result<std::vector<Hash256>> RecomputeOperator(const kernels::OpRecord& record,
                                               const BlobLookup& lookup);
// The same, and `*secret` = RefereeSecret(the present outputs' bytes, in
// order): what a referee's witness is made from (verify/dispute.h).
Result<std::vector<Hash256>> RecomputeOperator(const kernels::OpRecord& record,
                                               const BlobLookup& lookup, Hash256* secret);

// Returns true iff `outputs` are exactly the record's output hashes.
bool OutputsMatch(const kernels::OpRecord& record, std::span<const Hash256> outputs);

// RecomputeOperator, then OutputsMatch: true iff the record's outputs are
// what its inputs give under the reference kernels.
Result<bool> RecomputeMatches(const kernels::OpRecord& record, const BlobLookup& lookup);

}  // namespace agora::verify

#endif  // AGORA_VERIFY_OPERATOR_H_
