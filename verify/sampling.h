// Sampling for verification (PROTOCOL.md §7): which of a task's H/C
// checkpoint segments are replayed, by which validators, and which inner
// step each replay must also report. A pure function of a beacon that did
// not exist when the provider committed, the task's identity and the
// eligible validators with their stakes; every node computes the same.
//
// Draws come from BLAKE2b-256(domain || beacon || task || purpose ||
// counter), read as 64-bit words and reduced without modulo bias (rejection
// sampling), so every segment is equally likely and every validator is
// chosen in proportion to its stake (docs/verify.md: the detection bound and
// what a proposer who withholds its block can gain).
//
// Thread safety: free functions.
#ifndef AGORA_VERIFY_SAMPLING_H_
#define AGORA_VERIFY_SAMPLING_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/status.h"

namespace agora::verify {

struct Candidate {
  Bytes id;              // the validator's operator address bytes
  uint64_t weight = 0;   // its stake (0: never chosen)
};

struct SampleRequest {
  // The seed: from beacons after the commit (docs/verify.md says why one
  // block's beacon is not enough against a colluding proposer).
  Hash256 beacon;
  Bytes task;             // the task's identity (job, round, worker), canonical bytes
  uint32_t segments = 0;  // H / C
  uint32_t steps_per_segment = 0;  // C
  uint32_t spot_checks = 0;        // s, 1 <= s <= segments
  std::vector<Candidate> validators;  // eligible for the tier, in a canonical order
  Bytes provider;                      // never chosen, even if listed
};

struct SegmentSample {
  uint32_t segment = 0;     // 0-based: replays steps [segment·C, (segment+1)·C)
  size_t validator = 0;     // index into SampleRequest::validators
  // The step inside the segment (1..C-1, or 0 when C == 1) whose state hash
  // the verdict must also carry: not in the provider's commitment, so a
  // validator cannot pass the segment without replaying it.
  uint32_t witness_step = 0;
  friend bool operator==(const SegmentSample&, const SegmentSample&) = default;
};

// s distinct segments in increasing order, each with a validator drawn by
// stake among the candidates other than the provider; distinct validators
// while there are enough. InvalidArgument if s is 0 or above the segments,
// or FailedPrecondition if no candidate other than the provider has weight.
Result<std::vector<SegmentSample>> SampleSegments(const SampleRequest& request);

// The probability, in ppm (each factor rounded down), that a provider
// faking `faked` of
// `segments` segments escapes s distinct samples:
// C(segments − faked, s) / C(segments, s). (With replacement it would be
// (1 − f)^s; without, it is never more.)
uint64_t EscapePpm(uint32_t segments, uint32_t faked, uint32_t spot_checks);

// One validator by stake among the candidates with weight whose index is
// not in `excluded` (none if there is no such candidate), from the stream
// (seed, task, purpose) starting at *counter. The ledger's verification
// module draws the validators of a slot with it, one at a time (first
// draws, audits, confirmations, replacements).
std::optional<size_t> PickValidator(const Hash256& seed, const Bytes& task, uint32_t purpose,
                                    uint64_t* counter, const std::vector<Candidate>& candidates,
                                    const std::vector<size_t>& excluded);

// The segment (0..segments-1) and witness step (1..C-1, 0 when C == 1) that
// a validator's VRF output names: draws from BLAKE2b-256 of the output. The
// provider cannot know them when it commits, and no proposer can re-roll
// them (docs/verify.md, "Whose randomness").
struct SegmentChoice {
  uint32_t segment = 0;
  uint32_t witness_step = 0;
  friend bool operator==(const SegmentChoice&, const SegmentChoice&) = default;
};
SegmentChoice SegmentFromVrf(ByteSpan vrf_output, const Bytes& task, uint32_t segments,
                             uint32_t steps_per_segment);

// An unbiased draw in [0, n) from the stream named by (seed, purpose): the
// building block above, exposed for tests. REQUIRES: n > 0.
uint64_t Draw(const Hash256& seed, const Bytes& task, uint32_t purpose, uint64_t* counter,
              uint64_t n);

}  // namespace agora::verify

#endif  // AGORA_VERIFY_SAMPLING_H_
