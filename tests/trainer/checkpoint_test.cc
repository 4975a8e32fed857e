// The checkpoint format: save -> load -> continue gives the bits of an
// uninterrupted run; damaged, truncated and foreign files are refused.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <limits>
#include <random>

#include "common/file_util.h"
#include "tests/test_util.h"
#include "tests/trainer/trainer_test_util.h"
#include "trainer/checkpoint.h"
#include "trainer/diloco.h"
#include "trainer/train_state.h"

namespace agora::trainer {
namespace {

using testing::TempDir;

Trainer MakeTrainer(const TrainConfig& config, const Corpus& corpus) {
  auto trainer =
      Trainer::Create(TrainState::Fresh(config, corpus.hash()), corpus, kernels::Backend::kCpu);
  AGORA_CHECK(trainer.ok());
  return std::move(trainer).value();
}

TEST(CheckpointTest, SaveLoadContinueMatchesUninterruptedRun) {
  TrainConfig config = MicroConfig();
  Corpus corpus = ShakespeareCorpus(20000);
  TempDir dir;

  Trainer uninterrupted = MakeTrainer(config, corpus);
  std::vector<float> losses;
  for (int i = 0; i < 6; ++i) losses.push_back(uninterrupted.Step().loss);

  Trainer first = MakeTrainer(config, corpus);
  for (int i = 0; i < 3; ++i) first.Step();
  auto saved = SaveCheckpoint(dir.path() / "step3.ckpt", first.state());
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  auto loaded = LoadCheckpoint(dir.path() / "step3.ckpt");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->hash, *saved);
  EXPECT_EQ(loaded->state.step, 3);
  EXPECT_EQ(loaded->state.config, config);
  EXPECT_EQ(CheckpointHash(loaded->state), *saved);

  auto resumed = Trainer::Create(std::move(loaded->state), corpus, kernels::Backend::kCpu);
  ASSERT_TRUE(resumed.ok());
  for (int i = 3; i < 6; ++i) EXPECT_EQ(resumed->Step().loss, losses[i]) << "step " << i;
  EXPECT_EQ(CheckpointHash(resumed->state()), CheckpointHash(uninterrupted.state()));
  EXPECT_EQ(std::memcmp(resumed->state().params.data(), uninterrupted.state().params.data(),
                        uninterrupted.state().params.size() * 4),
            0);
}

TEST(CheckpointTest, LayoutIsAsDocumented) {
  TrainConfig config = MicroConfig();
  TrainState state = TrainState::Fresh(config, Blake2b256("corpus"));
  state.step = 0x0102030405060708;
  Bytes bytes = SerializeCheckpoint(state);
  const size_t n = static_cast<size_t>(config.model.ParameterCount());
  ASSERT_EQ(bytes.size(), kCheckpointHeaderBytes + 12 * n + 32);
  EXPECT_EQ(std::memcmp(bytes.data(), "AGORACKP", 8), 0);
  EXPECT_EQ(bytes[8], 1);  // version, little-endian u32
  EXPECT_EQ(bytes[12], 0);  // vocab 256 = 00 01 00 00
  EXPECT_EQ(bytes[13], 1);
  // The step sits after the corpus hash, round and worker.
  const size_t step_at = kCheckpointHeaderBytes - 8 - 8 - 8;
  EXPECT_EQ(bytes[step_at], 0x08);
  EXPECT_EQ(bytes[step_at + 7], 0x01);
  // First parameter, little-endian float32.
  float first;
  uint32_t bits = 0;
  for (int i = 0; i < 4; ++i) bits |= uint32_t{bytes[kCheckpointHeaderBytes + i]} << (8 * i);
  std::memcpy(&first, &bits, 4);
  EXPECT_EQ(first, state.params[0]);
  EXPECT_EQ(Hash256::FromBytes(ByteSpan(bytes).last(32)),
            Blake2b256(ByteSpan(bytes).first(bytes.size() - 32)));
  // The identity is the name a blob store gives the file: the hash of all of it.
  EXPECT_EQ(CheckpointHash(state), Blake2b256(bytes));
  EXPECT_NE(CheckpointHash(state), Hash256::FromBytes(ByteSpan(bytes).last(32)));
}

// A native-tier state is written in version 2, which names its tier and
// class after the model; an exact-tier state keeps version 1's bytes. Each
// state has one file: version 2 holding an exact state, or a class out of
// range, is refused even under a valid trailer.
TEST(CheckpointTest, NativeStatesNameTheirTierAndClass) {
  TrainConfig config = MicroConfig();
  const TrainState exact = TrainState::Fresh(config, Blake2b256("corpus"));
  config.tier = KernelTier::kNative;
  config.hardware_class = 3;  // gpu-sm90
  TrainState native = TrainState::Fresh(config, Blake2b256("corpus"));
  ASSERT_EQ(native.params, exact.params);  // the same tensors

  const Bytes exact_file = SerializeCheckpoint(exact);
  const Bytes file = SerializeCheckpoint(native);
  const size_t n = static_cast<size_t>(config.model.ParameterCount());
  ASSERT_EQ(file.size(), kCheckpointNativeHeaderBytes + 12 * n + 32);
  EXPECT_EQ(exact_file.size() + 2, file.size());
  EXPECT_EQ(file[8], 2);      // version
  EXPECT_EQ(file[32], 2);     // tier native, right after the five model u32s
  EXPECT_EQ(file[33], 3);     // class
  // Past the two bytes, version 1's layout.
  EXPECT_TRUE(std::equal(exact_file.begin() + 34 - 2, exact_file.end() - 32, file.begin() + 34));
  EXPECT_EQ(CheckpointHash(native), Blake2b256(file));
  EXPECT_NE(CheckpointHash(native), CheckpointHash(exact));

  Result<LoadedCheckpoint> back = ParseCheckpoint(file);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->state.config, config);
  EXPECT_EQ(back->hash, CheckpointHash(native));
  Result<LoadedCheckpoint> exact_back = ParseCheckpoint(exact_file);
  ASSERT_TRUE(exact_back.ok());
  EXPECT_EQ(exact_back->state.config.tier, KernelTier::kExact);
  EXPECT_EQ(exact_back->state.config.hardware_class, kHardwareAny);

  auto resealed = [](Bytes bytes) {
    bytes.resize(bytes.size() - 32);
    const Hash256 trailer = Blake2b256(bytes);
    Append(bytes, trailer.span());
    return bytes;
  };
  Bytes says_exact = file;
  says_exact[32] = 1;
  Result<LoadedCheckpoint> second_encoding = ParseCheckpoint(resealed(says_exact));
  EXPECT_EQ(second_encoding.status().code(), StatusCode::kCorruption);
  EXPECT_NE(second_encoding.status().message().find("only native-tier states"),
            std::string::npos)
      << second_encoding.status().ToString();
  for (uint8_t bad_class : {uint8_t{0}, uint8_t{5}}) {
    Bytes bad = file;
    bad[33] = bad_class;
    Result<LoadedCheckpoint> refused = ParseCheckpoint(resealed(bad));
    EXPECT_EQ(refused.status().code(), StatusCode::kCorruption) << int{bad_class};
    EXPECT_NE(refused.status().message().find("hardware_class"), std::string::npos)
        << refused.status().ToString();
  }
  // A version 1 file relabelled version 2 reads lr_max's first byte as the
  // tier, and is refused.
  Bytes relabelled = exact_file;
  relabelled[8] = 2;
  EXPECT_EQ(ParseCheckpoint(resealed(relabelled)).status().code(), StatusCode::kCorruption);
  // Version 2's sizes: a file cut inside its header, or with a tensor short
  // or over, under a valid trailer.
  for (const size_t body : {kCheckpointNativeHeaderBytes - 1, kCheckpointNativeHeaderBytes - 2,
                            file.size() - 32 - 12, file.size() - 32 + 12}) {
    Bytes sized(file.begin(), file.end() - 32);
    sized.resize(body, 0);
    const Hash256 trailer = Blake2b256(sized);
    Append(sized, trailer.span());
    const Result<LoadedCheckpoint> refused = ParseCheckpoint(sized);
    EXPECT_EQ(refused.status().code(), StatusCode::kCorruption) << "body of " << body << " bytes";
    EXPECT_TRUE(refused.status().message().find("truncated") != std::string::npos ||
                refused.status().message().find("size does not match") != std::string::npos)
        << refused.status().ToString();
  }
}

// CheckpointHash hashes the state in one streaming pass (no file is built);
// it must give the hash of SerializeCheckpoint's bytes whatever the body's
// length modulo BLAKE2b's 128-byte block, including a body that ends
// exactly on a block boundary (12 n + header = 0 mod 128 for n = 8 mod 32).
TEST(CheckpointTest, StreamingHashEqualsTheHashOfTheFile) {
  const uint64_t seed = testing::TestSeed(11);
  SCOPED_TRACE(testing::ReproduceLine(seed));
  std::mt19937 rng(static_cast<uint32_t>(seed));
  TrainState state = TrainState::Fresh(MicroConfig(), Blake2b256("corpus"));
  int on_boundary = 0;
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{7}, size_t{8}, size_t{9}, size_t{31},
                   size_t{32}, size_t{33}, size_t{40}, size_t{72}, size_t{1000}, size_t{100003}}) {
    for (auto* tensor : {&state.params, &state.m, &state.v}) {
      tensor->resize(n);
      for (float& x : *tensor) x = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    }
    state.step = static_cast<int64_t>(rng() % 1000);
    Hash256 identity;
    const Bytes file = SerializeCheckpoint(state, &identity);
    if ((file.size() - 32) % 128 == 0) ++on_boundary;
    EXPECT_EQ(CheckpointHash(state), Blake2b256(file)) << "n=" << n;
    EXPECT_EQ(identity, Blake2b256(file)) << "n=" << n;  // the file's pass gives it too
    EXPECT_EQ(file, SerializeCheckpoint(state)) << "n=" << n;
  }
  EXPECT_EQ(on_boundary, 4);  // n = 8, 40, 72, 1000
  // And for a trained state of the real model.
  const TrainState fresh = TrainState::Fresh(MicroConfig(), Blake2b256("corpus"));
  EXPECT_EQ(CheckpointHash(fresh), Blake2b256(SerializeCheckpoint(fresh)));
}

TEST(CheckpointTest, DamagedFilesAreRefusedWithAClearError) {
  TrainState state = TrainState::Fresh(MicroConfig(), Blake2b256("corpus"));
  const Bytes good = SerializeCheckpoint(state);
  ASSERT_TRUE(ParseCheckpoint(good).ok());

  Bytes flipped = good;
  flipped[kCheckpointHeaderBytes + 100] ^= 0x01;
  auto bad_hash = ParseCheckpoint(flipped);
  EXPECT_EQ(bad_hash.status().code(), StatusCode::kCorruption);
  EXPECT_NE(bad_hash.status().message().find("hash mismatch"), std::string::npos);

  Bytes truncated(good.begin(), good.end() - 1000);
  EXPECT_EQ(ParseCheckpoint(truncated).status().code(), StatusCode::kCorruption);
  Bytes header_only(good.begin(), good.begin() + 40);
  EXPECT_NE(ParseCheckpoint(header_only).status().message().find("truncated"), std::string::npos);

  Bytes magic = good;
  magic[0] = 'X';
  EXPECT_NE(ParseCheckpoint(magic).status().message().find("bad magic"), std::string::npos);

  Bytes version = good;
  version[8] = 3;
  auto wrong_version = ParseCheckpoint(version);
  EXPECT_EQ(wrong_version.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong_version.status().message().find("version 3"), std::string::npos);

  // A valid hash over a config that makes no sense is still refused.
  Bytes heads = good;
  heads[12 + 12] = 3;  // heads = 3 does not divide width 16
  heads.resize(heads.size() - 32);
  Hash256 rehash = Blake2b256(heads);
  Append(heads, rehash.span());
  EXPECT_NE(ParseCheckpoint(heads).status().message().find("config is invalid"),
            std::string::npos);

  // A field past its range is refused, not masked (found in review,
  // 2026-12-03: the top two bits of the step were dropped, so files that
  // differ there parsed to one state).
  Bytes high_step = good;
  high_step[kCheckpointHeaderBytes - 8 - 8 - 8 + 7] |= 0x80;  // bit 63 of the step
  high_step.resize(high_step.size() - 32);
  Append(high_step, Blake2b256(high_step).span());
  auto out_of_range = ParseCheckpoint(high_step);
  EXPECT_EQ(out_of_range.status().code(), StatusCode::kCorruption);
  EXPECT_NE(out_of_range.status().message().find("out of range"), std::string::npos)
      << out_of_range.status().ToString();

  TempDir dir;
  auto missing = LoadCheckpoint(dir.path() / "nope.ckpt");
  EXPECT_NE(missing.status().message().find("nope.ckpt"), std::string::npos);
}

// Which NaN an operation returns differs between machines (0/0 is
// 0xffc00000 on x86, 0x7fc00000 on Arm; payloads propagate differently), so
// every NaN is written, hashed and committed as 0x7fc00000: states that
// differ only in their NaNs' bits have one file, one hash and one set of
// loss bits, and a file holding another NaN is refused.
TEST(CheckpointTest, EveryNaNIsWrittenAndHashedAsTheOneCanonicalNaN) {
  const TrainState base = TrainState::Fresh(MicroConfig(), Blake2b256("corpus"));
  auto with_nan = [&](uint32_t bits) {
    TrainState s = base;
    s.params[3] = std::bit_cast<float>(bits);
    s.m[5] = std::bit_cast<float>(bits);
    s.v.back() = std::bit_cast<float>(bits);
    return s;
  };
  const TrainState canonical = with_nan(kCanonicalNaNBits);
  const Bytes file = SerializeCheckpoint(canonical);
  for (uint32_t bits : {0xffc00000u, 0x7fc00001u, 0x7f800001u, 0xffffffffu}) {
    SCOPED_TRACE(bits);
    const TrainState other = with_nan(bits);
    EXPECT_EQ(SerializeCheckpoint(other), file);
    EXPECT_EQ(CheckpointHash(other), Blake2b256(file));
    EXPECT_EQ(HashFloats(other.params), HashFloats(canonical.params));
    EXPECT_EQ(FloatBits(std::bit_cast<float>(bits)), kCanonicalNaNBits);
  }
  EXPECT_NE(CheckpointHash(canonical), CheckpointHash(base)) << "a NaN is still a NaN";
  EXPECT_EQ(FloatBits(-0.0f), 0x80000000u) << "only NaNs change";
  EXPECT_EQ(FloatBits(-std::numeric_limits<float>::infinity()), 0xff800000u);
  // The file holds 0x7fc00000 where the NaN is, and parses back to it.
  uint32_t written = 0;
  std::memcpy(&written, file.data() + kCheckpointHeaderBytes + 3 * 4, 4);
  EXPECT_EQ(written, kCanonicalNaNBits);
  auto parsed = ParseCheckpoint(file);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(std::bit_cast<uint32_t>(parsed->state.params[3]), kCanonicalNaNBits);
  // Another NaN, with a valid trailer, is refused: one state, one file.
  Bytes other = file;
  const uint32_t negative = 0xffc00000u;
  std::memcpy(other.data() + kCheckpointHeaderBytes + 3 * 4, &negative, 4);
  other.resize(other.size() - 32);
  Append(other, Blake2b256(other).span());
  auto refused = ParseCheckpoint(other);
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption);
  EXPECT_NE(refused.status().message().find("NaN"), std::string::npos)
      << refused.status().ToString();
}

TEST(CheckpointTest, WrongCorpusIsRefused) {
  Corpus corpus = ShakespeareCorpus(20000);
  TrainState state = TrainState::Fresh(MicroConfig(), Blake2b256("another corpus"));
  auto trainer = Trainer::Create(std::move(state), corpus, kernels::Backend::kCpu);
  EXPECT_EQ(trainer.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(trainer.status().message().find("--data"), std::string::npos);
}

}  // namespace
}  // namespace agora::trainer
