#include "common/vrf.h"

#include <sodium.h>

#include <algorithm>
#include <string_view>

#include "common/check.h"
#include "common/encoding.h"
#include "common/hash_to_curve.h"
#include "common/sodium.h"

namespace agora {
namespace {

// ECVRF-EDWARDS25519-SHA512-ELL2 parameters (RFC 9381 section 5.5).
constexpr uint8_t kSuiteString = 0x04;
constexpr size_t kPointBytes = 32;      // ptLen
constexpr size_t kChallengeBytes = 16;  // cLen
constexpr size_t kScalarBytes = 32;     // qLen
static_assert(VrfProof::kSize == kPointBytes + kChallengeBytes + kScalarBytes);

// Domain separators of RFC 9381 sections 5.2 and 5.4.3.
constexpr uint8_t kChallengeFront = 0x02;
constexpr uint8_t kProofToHashFront = 0x03;
constexpr uint8_t kSeparatorBack = 0x00;

// DST = "ECVRF_" || h2c_suite_ID_string || suite_string (section 5.4.1.2).
constexpr std::string_view kEncodeToCurveDst = "ECVRF_edwards25519_XMD:SHA-512_ELL2_NU_\x04";

using Point = std::array<uint8_t, kPointBytes>;
using Scalar = std::array<uint8_t, kScalarBytes>;

constexpr Point kIdentity = {1};

// The group order L = 2^252 + 27742317777372353535851937790883648493,
// little-endian.
// clang-format off
constexpr Scalar kGroupOrder = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
                                0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                0,    0,    0,    0,    0,    0,    0,    0,
                                0,    0,    0,    0,    0,    0,    0,    0x10};
// clang-format on

// Returns true iff the little-endian s is below L. RFC 9381 requires s < L
// (decode_proof step 8); without it s and s + L would be two encodings of one
// proof, because the scalar multiplications only see s mod L.
bool IsCanonicalScalar(const Scalar& s) {
  for (int i = kScalarBytes - 1; i >= 0; --i) {
    if (s[i] != kGroupOrder[i]) return s[i] < kGroupOrder[i];
  }
  return false;  // s == L
}

bool IsZero(const Scalar& s) {
  return std::all_of(s.begin(), s.end(), [](uint8_t b) { return b == 0; });
}

// Returns true iff `p` encodes a point that may serve as a public key or
// Gamma: canonical, on the curve, not of small order and in the prime-order
// subgroup (libsodium checks all four).
bool IsValidPoint(const Point& p) { return crypto_core_ed25519_is_valid_point(p.data()) == 1; }

// scalar * point, where point is the identity or a valid point and scalar < L.
// libsodium refuses a zero result, which for such inputs means exactly a zero
// scalar or the identity point, so those are answered here. Returns false
// only if libsodium refuses something else, which the callers' checks rule
// out; they still treat it as an error rather than trust that.
bool ScalarMult(const Scalar& scalar, const Point& point, Point* out) {
  if (IsZero(scalar) || point == kIdentity) {
    *out = kIdentity;
    return true;
  }
  return crypto_scalarmult_ed25519_noclamp(out->data(), scalar.data(), point.data()) == 0;
}

// scalar * B for scalar < L.
Point BaseMult(const Scalar& scalar) {
  Point out = kIdentity;
  if (!IsZero(scalar)) {
    AGORA_CHECK(crypto_scalarmult_ed25519_base_noclamp(out.data(), scalar.data()) == 0);
  }
  return out;
}

Scalar ChallengeToScalar(const uint8_t* c) {
  Scalar out{};
  std::copy(c, c + kChallengeBytes, out.begin());
  return out;
}

// ECVRF_encode_to_curve_h2c_suite with encode_to_curve_salt = PK_string.
Point EncodeToCurve(const PublicKey& key, ByteSpan alpha) {
  Bytes message(key.bytes.begin(), key.bytes.end());
  Append(message, alpha);
  return Edwards25519EncodeToCurveEll2(message, AsBytes(kEncodeToCurveDst));
}

// ECVRF_challenge_generation(P1..P5): the first cLen bytes of
// SHA-512(suite || 0x02 || P1 || ... || P5 || 0x00).
std::array<uint8_t, kChallengeBytes> Challenge(const Point& y, const Point& h, const Point& gamma,
                                               const Point& u, const Point& v) {
  crypto_hash_sha512_state state;
  crypto_hash_sha512_init(&state);
  const uint8_t front[2] = {kSuiteString, kChallengeFront};
  crypto_hash_sha512_update(&state, front, sizeof(front));
  for (const Point* p : {&y, &h, &gamma, &u, &v}) {
    crypto_hash_sha512_update(&state, p->data(), p->size());
  }
  crypto_hash_sha512_update(&state, &kSeparatorBack, 1);
  uint8_t digest[crypto_hash_sha512_BYTES];
  crypto_hash_sha512_final(&state, digest);
  std::array<uint8_t, kChallengeBytes> c;
  std::copy(digest, digest + kChallengeBytes, c.begin());
  return c;
}

}  // namespace

Result<VrfProof> VrfProof::Parse(ByteSpan b) {
  if (b.size() != kSize) {
    return Status::Corruption("a VRF proof must be " + std::to_string(kSize) + " bytes, got " +
                              std::to_string(b.size()));
  }
  VrfProof proof;
  std::copy(b.begin(), b.end(), proof.bytes.begin());
  return proof;
}

std::string VrfOutput::ToHex() const { return HexEncode(bytes); }

VrfProof VrfProve(const SecretKey& key, ByteSpan alpha) {
  EnsureSodium();
  // RFC 8032 section 5.1.5: SHA-512(seed) = clamp-me scalar || nonce key.
  uint8_t expanded[crypto_hash_sha512_BYTES];
  {
    std::array<uint8_t, SecretKey::kSeedSize> seed = key.seed();
    crypto_hash_sha512(expanded, seed.data(), seed.size());
    sodium_memzero(seed.data(), seed.size());
  }
  uint8_t wide[crypto_core_ed25519_NONREDUCEDSCALARBYTES] = {};
  std::copy(expanded, expanded + 32, wide);
  wide[0] &= 248;
  wide[31] &= 127;
  wide[31] |= 64;
  // Reducing the clamped scalar mod L changes no product with a point of the
  // prime-order subgroup and lets the scalar arithmetic below take it.
  Scalar x;
  crypto_core_ed25519_scalar_reduce(x.data(), wide);

  const Point& y = key.public_key().bytes;
  const Point h = EncodeToCurve(key.public_key(), alpha);
  Point gamma;
  AGORA_CHECK(ScalarMult(x, h, &gamma));

  // ECVRF_nonce_generation_RFC8032: k = SHA-512(nonce key || h_string) mod L.
  uint8_t k_string[crypto_hash_sha512_BYTES];
  crypto_hash_sha512_state state;
  crypto_hash_sha512_init(&state);
  crypto_hash_sha512_update(&state, expanded + 32, 32);
  crypto_hash_sha512_update(&state, h.data(), h.size());
  crypto_hash_sha512_final(&state, k_string);
  Scalar k;
  crypto_core_ed25519_scalar_reduce(k.data(), k_string);

  Point k_h;
  AGORA_CHECK(ScalarMult(k, h, &k_h));
  const std::array<uint8_t, kChallengeBytes> c = Challenge(y, h, gamma, BaseMult(k), k_h);

  // s = (k + c * x) mod L
  Scalar c_times_x;
  crypto_core_ed25519_scalar_mul(c_times_x.data(), ChallengeToScalar(c.data()).data(), x.data());
  Scalar s;
  crypto_core_ed25519_scalar_add(s.data(), k.data(), c_times_x.data());

  VrfProof proof;
  std::copy(gamma.begin(), gamma.end(), proof.bytes.begin());
  std::copy(c.begin(), c.end(), proof.bytes.begin() + kPointBytes);
  std::copy(s.begin(), s.end(), proof.bytes.begin() + kPointBytes + kChallengeBytes);

  sodium_memzero(expanded, sizeof(expanded));
  sodium_memzero(wide, sizeof(wide));
  sodium_memzero(x.data(), x.size());
  sodium_memzero(k_string, sizeof(k_string));
  sodium_memzero(k.data(), k.size());
  sodium_memzero(c_times_x.data(), c_times_x.size());
  sodium_memzero(&state, sizeof(state));
  return proof;
}

Result<VrfOutput> VrfVerify(const PublicKey& key, const VrfProof& proof, ByteSpan alpha) {
  EnsureSodium();
  // validate_key: beyond RFC 9381's small-order test, the key must be
  // canonical and in the prime-order subgroup, as every RFC 8032 key is. A key
  // of small order would make every proof's output independent of the secret.
  const Point& y = key.bytes;
  if (!IsValidPoint(y)) {
    return Status::Unauthenticated(
        "VRF public key " + key.ToHex() +
        " is not usable: it must canonically encode an ed25519 point of the prime-order "
        "subgroup (small-order, mixed-order and non-canonical keys are refused)");
  }

  // ECVRF_decode_proof.
  Point gamma;
  std::copy_n(proof.bytes.begin(), kPointBytes, gamma.begin());
  const uint8_t* c = proof.bytes.data() + kPointBytes;
  Scalar s;
  std::copy_n(proof.bytes.begin() + kPointBytes + kChallengeBytes, kScalarBytes, s.begin());
  if (!IsValidPoint(gamma)) {
    return Status::Unauthenticated(
        "malformed VRF proof: Gamma is not a canonical point of the prime-order subgroup");
  }
  if (!IsCanonicalScalar(s)) {
    return Status::Unauthenticated("malformed VRF proof: s is not below the group order");
  }

  const Point h = EncodeToCurve(key, alpha);
  const Scalar c_scalar = ChallengeToScalar(c);
  // U = s*B - c*Y and V = s*H - c*Gamma.
  Point c_y;
  Point s_h;
  Point c_gamma;
  if (!ScalarMult(c_scalar, y, &c_y) || !ScalarMult(s, h, &s_h) ||
      !ScalarMult(c_scalar, gamma, &c_gamma)) {
    return Status::Unauthenticated("VRF proof rejected: a scalar multiplication failed");
  }
  const Point s_b = BaseMult(s);
  Point u;
  Point v;
  if (crypto_core_ed25519_sub(u.data(), s_b.data(), c_y.data()) != 0 ||
      crypto_core_ed25519_sub(v.data(), s_h.data(), c_gamma.data()) != 0) {
    return Status::Unauthenticated("VRF proof rejected: a point subtraction failed");
  }
  const std::array<uint8_t, kChallengeBytes> expected = Challenge(y, h, gamma, u, v);
  if (sodium_memcmp(expected.data(), c, kChallengeBytes) != 0) {
    return Status::Unauthenticated(
        "VRF proof does not verify: it was not made by this key for this input");
  }
  return VrfProofToHash(proof);
}

VrfOutput VrfProofToHash(const VrfProof& proof) {
  EnsureSodium();
  Point gamma;
  std::copy_n(proof.bytes.begin(), kPointBytes, gamma.begin());
  // cofactor * Gamma by three doublings; libsodium's add fails only on bytes
  // that are not a point, which the REQUIRES rules out.
  for (int i = 0; i < 3; ++i) {
    Point doubled;
    AGORA_CHECK_MSG(crypto_core_ed25519_add(doubled.data(), gamma.data(), gamma.data()) == 0,
                    "VrfProofToHash needs a proof that VrfVerify accepted");
    gamma = doubled;
  }
  const uint8_t front[2] = {kSuiteString, kProofToHashFront};
  crypto_hash_sha512_state state;
  crypto_hash_sha512_init(&state);
  crypto_hash_sha512_update(&state, front, sizeof(front));
  crypto_hash_sha512_update(&state, gamma.data(), gamma.size());
  crypto_hash_sha512_update(&state, &kSeparatorBack, 1);
  VrfOutput out;
  crypto_hash_sha512_final(&state, out.bytes.data());
  return out;
}

}  // namespace agora
