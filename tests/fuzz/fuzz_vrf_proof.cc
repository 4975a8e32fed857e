// A VRF proof from a block header (the proposer's ECVRF proof over the
// beacon input, RFC 9381), checked as every node checks it. Input: 80 proof
// bytes, then (optionally) 32 bytes of a public key. Properties: for the
// honest key, a proof that verifies gives exactly the honest output (the
// VRF's uniqueness: no proof yields another beacon); for any key, a proof
// that verifies gives the output of ECVRF_proof_to_hash of that proof.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/hash.h"
#include "common/vrf.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace agora;
  static const SecretKey key = SecretKey::FromSeed(Bytes(32, 5)).value();
  static const Bytes alpha = ToBytes("beacon input of height 7");
  static const VrfOutput honest = VrfProofToHash(VrfProve(key, alpha));
  if (size < VrfProof::kSize) return 0;
  Result<VrfProof> proof = VrfProof::Parse(ByteSpan(data, VrfProof::kSize));
  AGORA_FUZZ_EXPECT(proof.ok());
  PublicKey who = key.public_key();
  const bool other_key = size >= VrfProof::kSize + PublicKey::kSize;
  if (other_key) {
    Result<PublicKey> parsed = PublicKey::Parse(ByteSpan(data + VrfProof::kSize, PublicKey::kSize));
    if (!parsed.ok()) return 0;
    who = *parsed;
  }
  Result<VrfOutput> out = VrfVerify(who, *proof, alpha);
  if (!out.ok()) return 0;
  AGORA_FUZZ_ACCEPTED();
  AGORA_FUZZ_EXPECT(VrfProofToHash(*proof) == *out);
  if (who == key.public_key()) AGORA_FUZZ_EXPECT(*out == honest);
  return 0;
}
