#include "common/hash_to_curve.h"

#include <sodium.h>

#include "common/check.h"
#include "common/sodium.h"

namespace agora {
namespace {

// ---------------------------------------------------------------------------
// GF(p), p = 2^255 - 19, in five 51-bit limbs: value = sum limb[i] * 2^(51 i).
// Every operation leaves limbs below 2^52, so products of two limbs fit in
// 104 bits and a column sum (at most 5 products, some times 19) in 128.

__extension__ typedef unsigned __int128 Uint128;  // __extension__: -Wpedantic

inline Uint128 Wide(uint64_t v) { return v; }

constexpr uint64_t kMask51 = (uint64_t{1} << 51) - 1;

struct Fe {
  uint64_t limb[5];
};

constexpr Fe FeFromSmall(uint64_t v) { return Fe{{v, 0, 0, 0, 0}}; }  // REQUIRES: v < 2^51

// Brings every limb below 2^51 except limb 0, which may exceed it by a little
// (the top carry times 19).
void Carry(Fe& a) {
  for (int i = 0; i < 4; ++i) {
    a.limb[i + 1] += a.limb[i] >> 51;
    a.limb[i] &= kMask51;
  }
  uint64_t top = a.limb[4] >> 51;
  a.limb[4] &= kMask51;
  a.limb[0] += 19 * top;
}

Fe Add(const Fe& a, const Fe& b) {
  Fe r;
  for (int i = 0; i < 5; ++i) r.limb[i] = a.limb[i] + b.limb[i];
  Carry(r);
  return r;
}

Fe Sub(const Fe& a, const Fe& b) {
  // Adding 4p first keeps every limb non-negative, since b's limbs are < 2^52.
  constexpr uint64_t kFourP0 = 4 * ((uint64_t{1} << 51) - 19);
  constexpr uint64_t kFourPi = 4 * kMask51;
  Fe r;
  r.limb[0] = a.limb[0] + kFourP0 - b.limb[0];
  for (int i = 1; i < 5; ++i) r.limb[i] = a.limb[i] + kFourPi - b.limb[i];
  Carry(r);
  return r;
}

Fe Neg(const Fe& a) { return Sub(FeFromSmall(0), a); }

// Carries the five 128-bit columns of a product into limbs, folding the
// top carry back as 19 (2^255 = 19 mod p).
Fe Reduce(Uint128 r[5]) {
  for (int i = 0; i < 4; ++i) {
    r[i + 1] += r[i] >> 51;
    r[i] &= kMask51;
  }
  Uint128 top = r[4] >> 51;
  r[4] &= kMask51;
  r[0] += top * 19;
  Fe out;
  for (int i = 0; i < 5; ++i) out.limb[i] = static_cast<uint64_t>(r[i]);
  Carry(out);
  return out;
}

Fe Mul(const Fe& a, const Fe& b) {
  const uint64_t* x = a.limb;
  const uint64_t* y = b.limb;
  // 2^255 = 19 (mod p): columns past limb 4 fold back multiplied by 19.
  uint64_t y19[5];
  for (int i = 0; i < 5; ++i) y19[i] = 19 * y[i];
  Uint128 r[5];
  r[0] = Wide(x[0]) * y[0] + Wide(x[1]) * y19[4] + Wide(x[2]) * y19[3] + Wide(x[3]) * y19[2] +
         Wide(x[4]) * y19[1];
  r[1] = Wide(x[0]) * y[1] + Wide(x[1]) * y[0] + Wide(x[2]) * y19[4] + Wide(x[3]) * y19[3] +
         Wide(x[4]) * y19[2];
  r[2] = Wide(x[0]) * y[2] + Wide(x[1]) * y[1] + Wide(x[2]) * y[0] + Wide(x[3]) * y19[4] +
         Wide(x[4]) * y19[3];
  r[3] = Wide(x[0]) * y[3] + Wide(x[1]) * y[2] + Wide(x[2]) * y[1] + Wide(x[3]) * y[0] +
         Wide(x[4]) * y19[4];
  r[4] = Wide(x[0]) * y[4] + Wide(x[1]) * y[3] + Wide(x[2]) * y[2] + Wide(x[3]) * y[1] +
         Wide(x[4]) * y[0];
  return Reduce(r);
}

// a^2: Mul's columns with the symmetric products taken once, doubled.
Fe Square(const Fe& a) {
  const uint64_t* x = a.limb;
  const uint64_t x0_2 = 2 * x[0], x1_2 = 2 * x[1], x2_2 = 2 * x[2], x3_2 = 2 * x[3];
  const uint64_t x3_19 = 19 * x[3], x4_19 = 19 * x[4];
  Uint128 r[5];
  r[0] = Wide(x[0]) * x[0] + Wide(x1_2) * x4_19 + Wide(x2_2) * x3_19;
  r[1] = Wide(x0_2) * x[1] + Wide(x2_2) * x4_19 + Wide(x[3]) * x3_19;
  r[2] = Wide(x0_2) * x[2] + Wide(x[1]) * x[1] + Wide(x3_2) * x4_19;
  r[3] = Wide(x0_2) * x[3] + Wide(x1_2) * x[2] + Wide(x[4]) * x4_19;
  r[4] = Wide(x0_2) * x[4] + Wide(x1_2) * x[3] + Wide(x[2]) * x[2];
  return Reduce(r);
}

// a^(2^n).
Fe SquareTimes(Fe a, int n) {
  for (int i = 0; i < n; ++i) a = Square(a);
  return a;
}

// Reads 32 little-endian bytes; bit 255 is ignored, values >= p are allowed.
Fe FeFromBytes(const std::array<uint8_t, 32>& s) {
  uint64_t w[4];
  for (int i = 0; i < 4; ++i) {
    w[i] = 0;
    for (int j = 7; j >= 0; --j) w[i] = (w[i] << 8) | s[8 * i + j];
  }
  Fe r;
  r.limb[0] = w[0] & kMask51;
  r.limb[1] = ((w[0] >> 51) | (w[1] << 13)) & kMask51;
  r.limb[2] = ((w[1] >> 38) | (w[2] << 26)) & kMask51;
  r.limb[3] = ((w[2] >> 25) | (w[3] << 39)) & kMask51;
  r.limb[4] = (w[3] >> 12) & kMask51;
  return r;
}

// The canonical (fully reduced) little-endian encoding.
std::array<uint8_t, 32> FeToBytes(Fe a) {
  Carry(a);  // now a < 2^255 + 2^18 < 2p
  // q = floor((a + 19) / 2^255) is 1 iff a >= p; then a - q*p = a + 19q - q*2^255.
  uint64_t q = (a.limb[0] + 19) >> 51;
  for (int i = 1; i < 5; ++i) q = (a.limb[i] + q) >> 51;
  a.limb[0] += 19 * q;
  for (int i = 0; i < 4; ++i) {
    a.limb[i + 1] += a.limb[i] >> 51;
    a.limb[i] &= kMask51;
  }
  a.limb[4] &= kMask51;  // drops the q*2^255
  const uint64_t w[4] = {
      a.limb[0] | (a.limb[1] << 51),
      (a.limb[1] >> 13) | (a.limb[2] << 38),
      (a.limb[2] >> 26) | (a.limb[3] << 25),
      (a.limb[3] >> 39) | (a.limb[4] << 12),
  };
  std::array<uint8_t, 32> out;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 8; ++j) out[8 * i + j] = static_cast<uint8_t>(w[i] >> (8 * j));
  }
  return out;
}

bool Equal(const Fe& a, const Fe& b) { return FeToBytes(a) == FeToBytes(b); }
bool IsZero(const Fe& a) { return Equal(a, FeFromSmall(0)); }
// sgn0 for m = 1 (RFC 9380 section 4.1): the parity of the canonical value.
int Sgn0(const Fe& a) { return FeToBytes(a)[0] & 1; }

// a^e for a 256-bit little-endian exponent, square-and-multiply from the top.
Fe Pow(const Fe& a, const std::array<uint8_t, 32>& e) {
  Fe r = FeFromSmall(1);
  for (int bit = 255; bit >= 0; --bit) {
    r = Square(r);
    if ((e[bit / 8] >> (bit % 8)) & 1) r = Mul(r, a);
  }
  return r;
}

// The little-endian exponent 2^253 - 5 = (p - 1) / 4, for the one constant
// sqrt(-1) (Invert and the square root use the chain below).
constexpr std::array<uint8_t, 32> MakeExponent(uint8_t low, uint8_t high) {
  std::array<uint8_t, 32> e{};
  for (auto& b : e) b = 0xff;
  e[0] = low;
  e[31] = high;
  return e;
}
constexpr std::array<uint8_t, 32> kExpPMinus1Over4 = MakeExponent(0xfb, 0x1f);

// The two exponents every map needs share one addition chain (the one of
// ed25519's reference code): a^(2^250 - 1) in 249 squarings and 11
// multiplications, where square-and-multiply takes about 500 products.
// Returns a^(2^250 - 1) and sets *a11 = a^11.
Fe Pow2To250Minus1(const Fe& a, Fe* a11) {
  const Fe a2 = Square(a);
  const Fe a9 = Mul(a, SquareTimes(a2, 2));
  *a11 = Mul(a2, a9);
  const Fe e5 = Mul(a9, Square(*a11));           // a^(2^5 - 1)
  const Fe e10 = Mul(SquareTimes(e5, 5), e5);     // a^(2^10 - 1)
  const Fe e20 = Mul(SquareTimes(e10, 10), e10);  // a^(2^20 - 1)
  const Fe e40 = Mul(SquareTimes(e20, 20), e20);
  const Fe e50 = Mul(SquareTimes(e40, 10), e10);
  const Fe e100 = Mul(SquareTimes(e50, 50), e50);
  const Fe e200 = Mul(SquareTimes(e100, 100), e100);
  return Mul(SquareTimes(e200, 50), e50);  // a^(2^250 - 1)
}

// inv0 (RFC 9380 section 4): 1/a = a^(p - 2) = a^(2^255 - 21), and 0 for
// a = 0.
Fe Invert(const Fe& a) {
  Fe a11;
  const Fe e250 = Pow2To250Minus1(a, &a11);
  return Mul(SquareTimes(e250, 5), a11);  // 2^255 - 32 + 11
}

// a^((p + 3) / 8) = a^(2^252 - 2).
Fe PowPPlus3Over8(const Fe& a) {
  Fe a11;
  const Fe e250 = Pow2To250Minus1(a, &a11);
  return Mul(SquareTimes(e250, 2), Square(a));  // 2^252 - 4 + 2
}

const Fe& SqrtMinusOne() {
  static const Fe value = Pow(FeFromSmall(2), kExpPMinus1Over4);
  return value;
}

// Returns true iff a is a square (0 included) and then sets *root to one of
// its square roots. For p = 5 (mod 8), r = a^((p+3)/8) satisfies r^2 = a or
// r^2 = -a when a is a square; in the second case r * sqrt(-1) is the root.
bool SqrtIfSquare(const Fe& a, Fe* root) {
  Fe r = PowPPlus3Over8(a);
  Fe r2 = Square(r);
  if (Equal(r2, a)) {
    *root = r;
    return true;
  }
  if (Equal(r2, Neg(a))) {
    *root = Mul(r, SqrtMinusOne());
    return true;
  }
  return false;
}

Fe SqrtWithSign(const Fe& square, int sign) {
  Fe root;
  AGORA_CHECK(SqrtIfSquare(square, &root));
  return Sgn0(root) == sign ? root : Neg(root);
}

constexpr uint64_t kCurve25519J = 486662;

// c1 = sqrt(-486664) with sgn0(c1) = 0 (RFC 9380 appendix G.2.2), the scale
// that makes the rational map send curve25519's base point to edwards25519's.
const Fe& EdwardsScale() {
  static const Fe value = SqrtWithSign(Neg(FeFromSmall(kCurve25519J + 2)), 0);
  return value;
}

// g(x) = x^3 + J x^2 + x, the right-hand side of curve25519 (K = 1).
Fe Curve25519Rhs(const Fe& x) {
  Fe j = FeFromSmall(kCurve25519J);
  return Mul(x, Add(Mul(x, Add(x, j)), FeFromSmall(1)));
}

Ed25519PointBytes EncodeEdwards(const Fe& x, const Fe& y) {
  Ed25519PointBytes out = FeToBytes(y);
  out[31] = static_cast<uint8_t>(out[31] | (Sgn0(x) << 7));
  return out;
}

}  // namespace

Bytes ExpandMessageXmdSha512(ByteSpan msg, ByteSpan dst, size_t len_in_bytes) {
  constexpr size_t kHashBytes = crypto_hash_sha512_BYTES;  // b_in_bytes
  constexpr size_t kBlockBytes = 128;                      // s_in_bytes
  AGORA_CHECK(dst.size() <= kExpandMessageDstBytesMax);
  AGORA_CHECK(len_in_bytes >= 1 && len_in_bytes <= kExpandMessageXmdSha512BytesMax);
  EnsureSodium();
  const size_t ell = (len_in_bytes + kHashBytes - 1) / kHashBytes;
  const uint8_t dst_len = static_cast<uint8_t>(dst.size());
  const uint8_t zero_pad[kBlockBytes] = {};
  const uint8_t len_be[3] = {static_cast<uint8_t>(len_in_bytes >> 8),
                             static_cast<uint8_t>(len_in_bytes), 0};

  // b_0 = H(Z_pad || msg || I2OSP(len, 2) || 0x00 || DST || I2OSP(len(DST), 1))
  uint8_t b0[kHashBytes];
  crypto_hash_sha512_state state;
  crypto_hash_sha512_init(&state);
  crypto_hash_sha512_update(&state, zero_pad, sizeof(zero_pad));
  crypto_hash_sha512_update(&state, msg.data(), msg.size());
  crypto_hash_sha512_update(&state, len_be, sizeof(len_be));
  crypto_hash_sha512_update(&state, dst.data(), dst.size());
  crypto_hash_sha512_update(&state, &dst_len, 1);
  crypto_hash_sha512_final(&state, b0);

  // b_i = H((b_0 xor b_(i-1)) || I2OSP(i, 1) || DST_prime), with b_0 xor 0 for
  // i = 1 (the RFC writes b_1 = H(b_0 || ...), which is the same thing).
  Bytes out;
  out.reserve(ell * kHashBytes);
  uint8_t previous[kHashBytes] = {};
  for (size_t i = 1; i <= ell; ++i) {
    uint8_t input[kHashBytes];
    for (size_t j = 0; j < kHashBytes; ++j) input[j] = b0[j] ^ previous[j];
    const uint8_t index = static_cast<uint8_t>(i);
    crypto_hash_sha512_init(&state);
    crypto_hash_sha512_update(&state, input, sizeof(input));
    crypto_hash_sha512_update(&state, &index, 1);
    crypto_hash_sha512_update(&state, dst.data(), dst.size());
    crypto_hash_sha512_update(&state, &dst_len, 1);
    crypto_hash_sha512_final(&state, previous);
    out.insert(out.end(), previous, previous + kHashBytes);
  }
  out.resize(len_in_bytes);
  sodium_memzero(&state, sizeof(state));  // hygiene; nothing here is secret
  return out;
}

Ed25519FieldBytes Edwards25519HashToField(ByteSpan msg, ByteSpan dst) {
  constexpr size_t kL = 48;  // ceil((ceil(log2(p)) + k) / 8) with k = 128
  Bytes uniform = ExpandMessageXmdSha512(msg, dst, kL);
  // OS2IP reads big-endian; split the 384-bit value as hi * 2^256 + lo, and
  // reduce with 2^255 = 19 and 2^256 = 38 (mod p).
  std::array<uint8_t, 32> lo{};
  std::array<uint8_t, 32> hi{};
  for (size_t i = 0; i < 32; ++i) lo[i] = uniform[kL - 1 - i];
  for (size_t i = 0; i < 16; ++i) hi[i] = uniform[kL - 33 - i];
  Fe u = Add(FeFromBytes(lo), FeFromSmall(19 * (lo[31] >> 7)));
  u = Add(u, Mul(FeFromBytes(hi), FeFromSmall(38)));
  return FeToBytes(u);
}

Ed25519PointBytes Edwards25519MapToCurveEll2(const Ed25519FieldBytes& u_bytes) {
  const Fe u = FeFromBytes(u_bytes);
  const Fe minus_j = Neg(FeFromSmall(kCurve25519J));
  const Fe one = FeFromSmall(1);

  // Elligator 2 onto curve25519, RFC 9380 section 6.7.1 with Z = 2, K = 1.
  Fe x1 = Mul(minus_j, Invert(Add(one, Mul(FeFromSmall(2), Square(u)))));
  if (IsZero(x1)) x1 = minus_j;  // cannot happen for p = 5 (mod 8); kept per the RFC
  Fe gx1 = Curve25519Rhs(x1);
  Fe s;
  Fe t;
  Fe root;
  if (SqrtIfSquare(gx1, &root)) {
    s = x1;
    t = Sgn0(root) == 1 ? root : Neg(root);
  } else {
    s = Sub(minus_j, x1);  // x2 = -x1 - J; g(x2) is then a square
    t = SqrtWithSign(Curve25519Rhs(s), 0);
  }

  // Rational map to edwards25519: (x, y) = (c1 * s / t, (s - 1) / (s + 1)),
  // and the identity where a denominator vanishes (appendix D.1).
  Fe s_plus_one = Add(s, one);
  Fe denominator = Mul(t, s_plus_one);
  if (IsZero(denominator)) return EncodeEdwards(FeFromSmall(0), one);
  Fe inverse = Invert(denominator);
  Fe x = Mul(Mul(EdwardsScale(), s), Mul(inverse, s_plus_one));  // c1 * s / t
  Fe y = Mul(Sub(s, one), Mul(inverse, t));                      // (s - 1) / (s + 1)
  return EncodeEdwards(x, y);
}

Ed25519PointBytes Edwards25519EncodeToCurveEll2(ByteSpan msg, ByteSpan dst) {
  Ed25519PointBytes q = Edwards25519MapToCurveEll2(Edwards25519HashToField(msg, dst));
  // clear_cofactor with h_eff = 8: three doublings. crypto_core_ed25519_add
  // accepts any point on the curve, small-order components and identity
  // included, and the map's output is always on the curve.
  Ed25519PointBytes p = q;
  for (int i = 0; i < 3; ++i) {
    Ed25519PointBytes doubled;
    AGORA_CHECK(crypto_core_ed25519_add(doubled.data(), p.data(), p.data()) == 0);
    p = doubled;
  }
  return p;
}

}  // namespace agora
