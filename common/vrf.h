// A verifiable random function on Agora's ed25519 keys: ECVRF per RFC 9381,
// suite ECVRF-EDWARDS25519-SHA512-ELL2 (suite_string 0x04).
//
// The holder of a SecretKey turns an input alpha into a proof pi; anyone with
// the PublicKey checks pi and gets the output beta, which is the same for
// every valid proof of (key, alpha) and unpredictable to anyone without the
// secret key. The ledger's random beacon is built on it (docs/vrf.md): a
// block proposer can withhold its block but cannot choose the beacon.
//
// Verification always validates the key (RFC 9381 validate_key = TRUE) and
// is stricter than the RFC in one way: the public key and Gamma must lie in
// the prime-order subgroup, which every honestly made key and proof does.
//
// Thread safety: pure functions on values; safe from any thread.
#ifndef AGORA_COMMON_VRF_H_
#define AGORA_COMMON_VRF_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/bytes.h"
#include "common/keys.h"
#include "common/status.h"

namespace agora {

// pi = Gamma (32 bytes) || c (16 bytes) || s (32 bytes).
struct VrfProof {
  static constexpr size_t kSize = 80;
  std::array<uint8_t, kSize> bytes{};

  // For untrusted input: returns Corruption unless b is exactly 80 bytes.
  // Checks the size only; VrfVerify checks everything else.
  static Result<VrfProof> Parse(ByteSpan b);
  friend bool operator==(const VrfProof&, const VrfProof&) = default;
};

// beta, the VRF output: 64 bytes of SHA-512.
struct VrfOutput {
  static constexpr size_t kSize = 64;
  std::array<uint8_t, kSize> bytes{};

  std::string ToHex() const;
  friend bool operator==(const VrfOutput&, const VrfOutput&) = default;
};

// pi = ECVRF_prove(SK, alpha), with the secret scalar and nonce key derived
// from the key's RFC 8032 seed exactly as ed25519 signing derives them.
// Deterministic: the same key and alpha always give the same proof.
VrfProof VrfProve(const SecretKey& key, ByteSpan alpha);

// ECVRF_verify(PK, alpha, pi) with key validation. Returns beta iff the proof
// is valid; otherwise Unauthenticated with the reason (bad key, malformed
// proof, or a proof that does not match this key and alpha). Any 80 bytes are
// safe to pass.
Result<VrfOutput> VrfVerify(const PublicKey& key, const VrfProof& proof, ByteSpan alpha);

// ECVRF_proof_to_hash: beta from a proof, without verifying it.
// REQUIRES: proof came from VrfProve or passed VrfVerify; anything else may
// abort the process (Gamma must decode to a valid point).
VrfOutput VrfProofToHash(const VrfProof& proof);

}  // namespace agora

#endif  // AGORA_COMMON_VRF_H_
