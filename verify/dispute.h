// What the two parties of a dispute and its referees compute (PROTOCOL.md
// §8, docs/dispute.md), so that the ledger, the roles and the tests hash
// the same bytes:
//
//   * the chain over one step's operator trace that the operator phase
//     bisects: leaf 0 = TraceChainStart(state before the step), leaf i =
//     TraceChainLink(leaf i-1, OpRecordHash(record i)) for i = 1..N, and
//     leaf N+1 = TraceChainEnd(leaf N, state after the step). Equal leaves
//     at i mean equal records 1..i (and the same start), so "the first leaf
//     that differs" is a monotone predicate a binary search can find;
//   * what a referee votes: the digest of one operator's recomputed outputs
//     (an op referee) or of the states at both ends of the disputed step,
//     replayed from the segment's start (a step referee, the fallback); for
//     a disputed fail of the losses, the segment's replayed losses; for a
//     disputed fail of the delta, the delta's recomputed hash;
//   * how many records one training step has, from the job's model shape.
//
// Thread safety: pure functions.
#ifndef AGORA_VERIFY_DISPUTE_H_
#define AGORA_VERIFY_DISPUTE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "common/hash.h"
#include "kernels/trace.h"
#include "trainer/config.h"

namespace agora::verify {

Hash256 TraceChainStart(const Hash256& state_before);
Hash256 TraceChainLink(const Hash256& previous_leaf, const Hash256& record_hash);
Hash256 TraceChainEnd(const Hash256& last_leaf, const Hash256& state_after);
// The N + 2 leaves of a step whose trace is `records`.
std::vector<Hash256> TraceChainLeaves(const Hash256& state_before,
                                      std::span<const kernels::OpRecord> records,
                                      const Hash256& state_after);

// An op referee's vote: BLAKE2b-256("agora-dispute-outputs-v1" || output
// hashes in the record's order).
Hash256 OutputsDigest(std::span<const Hash256> outputs);
// A step referee's vote: BLAKE2b-256("agora-dispute-step-v1" || state at
// the step's start || state at its end).
Hash256 StepDigest(const Hash256& state_before, const Hash256& state_after);
// A losses referee's vote (a fail for the losses disputed): the segment's
// training losses, replayed from its start, as float32 bits:
// BLAKE2b-256("agora-dispute-losses-v1" || state at the segment's start ||
// count (u32) || each loss's bits (u32), all big-endian).
Hash256 LossesDigest(const Hash256& segment_start, std::span<const uint32_t> loss_bits);
// A delta referee's vote (a fail for the delta disputed): the hash of the
// pseudo-gradient the task's checkpoint 0 and final checkpoint give
// (DeltaHashOf in verify/task.h), or of none (32 zero bytes) when they are
// not states of the job's model: BLAKE2b-256("agora-dispute-delta-v1" ||
// delta hash).
Hash256 DeltaDigest(const Hash256& delta_hash);

// What a referee seals with its vote and reveals once every referee has
// voted (the ledger's dispute::RefereeSeal): BLAKE2b-256(
// "agora-referee-witness-v1" || dispute id (u64) || draw (u32) || secret),
// where `secret` is a hash of what only the recompute yields and neither
// party put on the ledger (RefereeSecret). The draw keeps a witness revealed
// by an earlier set from serving the next one.
Hash256 RefereeWitness(uint64_t dispute_id, uint32_t draw, const Hash256& secret);
// BLAKE2b-256("agora-referee-secret-v1" || each part's length (u64) and
// bytes): for an operator its recomputed outputs' bytes; for a step or the
// losses every state hash of the segment's replay (the ones between its
// checkpoints were never posted); for the delta DeltaRefereeSecret (or,
// when either checkpoint is not a state of the job's model, the bytes of
// checkpoint 0 and of the final checkpoint).
Hash256 RefereeSecret(std::span<const ByteSpan> parts);
// A delta referee's secret: RefereeSecret of one part, the float32 bytes
// (little-endian) of round_params[i] − final_params[i] for every i, the
// difference before its int8 encoding, which no blob holds. Until
// 2026-12-05 the secret was the two checkpoints' bytes, which a referee
// has by fetching them: it could vote the provider's digest (on the
// ledger) with a good witness without computing the delta. Sizes must
// match.
Hash256 DeltaRefereeSecret(std::span<const float> round_params,
                           std::span<const float> final_params);

// The same call: kind, integer and float arguments (by their bits) and
// input hashes equal; outputs may differ. Two records that agree on this
// and not on their outputs are what an op referee settles.
bool SameCall(const kernels::OpRecord& a, const kernels::OpRecord& b);

// Records in one traced Trainer::Step of a model of this shape: forward
// 5 + 10 L, backward 4 + 10 L, one ClipGradNorm (or GlobalNorm) and one
// AdamW per parameter tensor. OperatorTraceTest and dispute_test check it
// against real traces.
uint64_t RecordsPerStep(const trainer::ModelConfig& model);

}  // namespace agora::verify

#endif  // AGORA_VERIFY_DISPUTE_H_
