// The checkpoint format: one versioned file holding a whole TrainState. All
// numbers little-endian:
//
//   magic "AGORACKP" (8 bytes) | version u32 (1 or 2, below)
//   model:     vocab, context, layers, heads, width            (u32 each)
//   kernels:   tier u8 | hardware class u8                     (version 2 only)
//   optimizer: lr_max, lr_min f32 | warmup_steps, total_steps u64 |
//              beta1, beta2, eps, weight_decay, clip_norm f32 | batch u32 | seed u64
//   data:      corpus hash (32 bytes) | round, worker u64 | step, round_step u64
//   tensors:   parameter count u64 | params, m, v (f32 each, count values)
//   hash:      BLAKE2b-256 of every byte before it (32 bytes): a file
//              damaged on disk is caught without knowing its name
//
// Version 1 holds exact-tier states (TrainConfig::tier); version 2, written
// for native-tier states only, adds the tier and the hardware class the state
// was trained on (docs/cuda.md). So each state has one file: every
// exact-tier checkpoint keeps the bytes, and the hash, that version 1 gave it
// before the native tier existed, and a native state's file names the class
// a replay must run on.
//
// The checkpoint's identity is the BLAKE2b-256 of the whole file, trailer
// included: the name any blob has in the blob store, so checkpoints are
// fetched and checked like every other blob, and the commitment (a Merkle
// root over checkpoint hashes) and the replay check compare these 32 bytes.
// (Until 2026-12-01 the identity was the trailer itself; a file without its
// trailer then had the same name as the file. docs/blobs.md.)
//
// Thread safety: free functions, thread-safe.
#ifndef AGORA_TRAINER_CHECKPOINT_H_
#define AGORA_TRAINER_CHECKPOINT_H_

#include <bit>
#include <cstdint>
#include <filesystem>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/status.h"
#include "trainer/train_state.h"

namespace agora::trainer {

// The one NaN that checkpoints, state hashes and committed losses hold.
inline constexpr uint32_t kCanonicalNaNBits = 0x7fc00000u;

// The bits a float is written, hashed and committed with: its own, except
// that every NaN is kCanonicalNaNBits. Which NaN an operation returns (its
// sign and payload) differs between x86, Arm and GPUs (0/0 is 0xffc00000
// on x86 and 0x7fc00000 on Arm), so a diverged job's checkpoints and losses
// would name different states on different machines, and an honest
// validator would fail an honest provider on another ISA. No operation of
// the trainer reads a NaN's bits (kernels/math.cc tests NaN with x != x),
// so states that differ only there train on identically.
inline uint32_t FloatBits(float v) {
  return v != v ? kCanonicalNaNBits : std::bit_cast<uint32_t>(v);
}

inline constexpr char kCheckpointMagic[8] = {'A', 'G', 'O', 'R', 'A', 'C', 'K', 'P'};
inline constexpr uint32_t kCheckpointVersion = 1;        // exact-tier states
inline constexpr uint32_t kCheckpointVersionNative = 2;  // native-tier states
// Bytes before the tensors in version 1, and the trailing hash.
inline constexpr size_t kCheckpointHeaderBytes = 8 + 4 + 5 * 4 + 4 + 4 + 8 + 8 + 5 * 4 + 4 + 8 +
                                                 32 + 8 + 8 + 8 + 8 + 8;
// Version 2's header: the tier and class bytes more.
inline constexpr size_t kCheckpointNativeHeaderBytes = kCheckpointHeaderBytes + 2;
inline constexpr size_t kCheckpointBytesMax =
    kCheckpointNativeHeaderBytes + 3 * 4 * static_cast<size_t>(kParametersMax) + Hash256::kSize;
// The format version a state is written in.
inline uint32_t CheckpointVersionOf(const TrainConfig& config) {
  return config.tier == KernelTier::kExact ? kCheckpointVersion : kCheckpointVersionNative;
}

// Encodes the state, hash included. With `identity`, also sets it to the
// file's identity (CheckpointHash) from the same pass over the bytes.
Bytes SerializeCheckpoint(const TrainState& state, Hash256* identity = nullptr);

// The checkpoint's identity: BLAKE2b-256 of SerializeCheckpoint(state).
Hash256 CheckpointHash(const TrainState& state);

// BLAKE2b-256 of "agora-gradient-v1" followed by `gradient` as little-endian
// float32 (NaN as a checkpoint writes it). A one-step segment's witness
// (verify::SegmentReplayer): only the step's backward pass gives it, while
// its start and end states are both checkpoints anyone can fetch.
Hash256 GradientHash(std::span<const float> gradient);

struct LoadedCheckpoint {
  TrainState state;
  Hash256 hash;
};

// Decodes and checks a checkpoint: Corruption for a bad magic, hash, size or
// config, or a NaN other than kCanonicalNaNBits (no writer of this format
// writes one, so one state has one file); FailedPrecondition for another
// version. Messages say what to do.
Result<LoadedCheckpoint> ParseCheckpoint(ByteSpan bytes);

// Writes atomically (WriteFileAtomic); returns the checkpoint's hash.
Result<Hash256> SaveCheckpoint(const std::filesystem::path& path, const TrainState& state);
Result<LoadedCheckpoint> LoadCheckpoint(const std::filesystem::path& path);

}  // namespace agora::trainer

#endif  // AGORA_TRAINER_CHECKPOINT_H_
