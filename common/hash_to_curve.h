// Hashing to edwards25519 per RFC 9380: the pieces of the suite
// edwards25519_XMD:SHA-512_ELL2_NU_ that libsodium 1.0.18 lacks.
//
// libsodium's crypto_core_ed25519_from_uniform / from_hash implement an
// Elligator 2 variant of an earlier draft (different input reduction, sign
// convention and output), so they do not give RFC 9380's points; this file
// builds the RFC's map itself from field arithmetic mod 2^255-19 and uses
// libsodium only for SHA-512 and the final point additions. It exists for the
// ECVRF in common/vrf.h and is tested against the RFC 9380 vectors in
// tests/common/vrf_test.cc.
//
// Not constant time: the running time depends on the message. In Agora every
// message hashed here (the VRF input alpha) is public, so that leaks nothing.
//
// Thread safety: pure functions; safe from any thread.
#ifndef AGORA_COMMON_HASH_TO_CURVE_H_
#define AGORA_COMMON_HASH_TO_CURVE_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "common/bytes.h"

namespace agora {

// RFC 9380 section 5.3.1 bounds for SHA-512: DSTs longer than 255 bytes must
// be hashed first (we never need that), and at most 255 output blocks.
inline constexpr size_t kExpandMessageDstBytesMax = 255;
inline constexpr size_t kExpandMessageXmdSha512BytesMax = 255 * 64;

// expand_message_xmd with H = SHA-512 (RFC 9380 section 5.3.1).
// REQUIRES: dst.size() <= kExpandMessageDstBytesMax
// REQUIRES: 1 <= len_in_bytes <= kExpandMessageXmdSha512BytesMax
Bytes ExpandMessageXmdSha512(ByteSpan msg, ByteSpan dst, size_t len_in_bytes);

// An element of GF(2^255-19) as 32 canonical little-endian bytes (< p).
using Ed25519FieldBytes = std::array<uint8_t, 32>;
// An edwards25519 point in the RFC 8032 encoding.
using Ed25519PointBytes = std::array<uint8_t, 32>;

// hash_to_field(msg, count = 1) for edwards25519_XMD:SHA-512_ELL2_NU_: 48
// bytes of expand_message_xmd, read big-endian and reduced mod p.
// REQUIRES: dst.size() <= kExpandMessageDstBytesMax
Ed25519FieldBytes Edwards25519HashToField(ByteSpan msg, ByteSpan dst);

// map_to_curve for the same suite: Elligator 2 onto curve25519 (RFC 9380
// section 6.7.1, Z = 2) followed by the rational map to edwards25519 (section
// 6.8.2 and appendix D.1). The point is on the curve but not yet in the
// prime-order subgroup. Returns the identity in the map's exceptional cases.
// REQUIRES: u is canonical (< p).
Ed25519PointBytes Edwards25519MapToCurveEll2(const Ed25519FieldBytes& u);

// encode_to_curve for edwards25519_XMD:SHA-512_ELL2_NU_:
// clear_cofactor(map_to_curve(hash_to_field(msg))), a point of the
// prime-order subgroup (the identity only with negligible probability).
// REQUIRES: dst.size() <= kExpandMessageDstBytesMax
Ed25519PointBytes Edwards25519EncodeToCurveEll2(ByteSpan msg, ByteSpan dst);

}  // namespace agora

#endif  // AGORA_COMMON_HASH_TO_CURVE_H_
