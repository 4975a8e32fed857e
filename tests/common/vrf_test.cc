#include "common/vrf.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <cstdlib>
#include <random>
#include <sstream>
#include <string>

#include "common/encoding.h"
#include "common/hash_to_curve.h"
#include "tests/test_util.h"

namespace agora {
namespace {

Bytes Hex(std::string_view text) { return HexDecode(text).value(); }

// A field element written big-endian in hex, as RFC 9380 prints them, turned
// into canonical little-endian bytes.
Ed25519FieldBytes FieldFromBigEndianHex(std::string_view hex) {
  Bytes big = Hex(hex);
  EXPECT_EQ(big.size(), 32u);
  Ed25519FieldBytes out{};
  for (size_t i = 0; i < 32 && i < big.size(); ++i) out[i] = big[big.size() - 1 - i];
  return out;
}

// The RFC 8032 encoding of the affine point (x, y): y little-endian with the
// parity of x in the top bit.
std::string EncodePointHex(std::string_view x_hex, std::string_view y_hex) {
  Ed25519PointBytes p = FieldFromBigEndianHex(y_hex);
  Bytes x = Hex(x_hex);
  p[31] = static_cast<uint8_t>(p[31] | ((x.back() & 1) << 7));
  return HexEncode(p);
}

std::string Repeat(std::string_view prefix, char c, size_t n) {
  return std::string(prefix) + std::string(n, c);
}

// ---------------------------------------------------------------------------
// RFC 9380 appendix K.3: expand_message_xmd(SHA-512).

struct XmdVector {
  std::string msg;
  size_t len_in_bytes;
  const char* uniform_bytes;
};

TEST(VrfHashToCurveTest, ExpandMessageXmdSha512Rfc9380Vectors) {
  const std::string dst = "QUUX-V01-CS02-with-expander-SHA512-256";
  const XmdVector vectors[] = {
      {"", 0x20, "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"},
      {"abc", 0x20, "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc"},
      {"abcdef0123456789", 0x20,
       "087e45a86e2939ee8b91100af1583c4938e0f5fc6c9db4b107b83346bc967f58"},
      {Repeat("q128_", 'q', 128), 0x20,
       "7336234ee9983902440f6bc35b348352013becd88938d2afec44311caf8356b3"},
      {Repeat("a512_", 'a', 512), 0x20,
       "57b5f7e766d5be68a6bfe1768e3c2b7f1228b3e4b3134956dd73a59b954c66f4"},
      {"", 0x80,
       "41b037d1734a5f8df225dd8c7de38f851efdb45c372887be655212d07251b921b052b62eaed99b46f72f2e"
       "f4cc96bfaf254ebbbec091e1a3b9e4fb5e5b619d2e0c5414800a1d882b62bb5cd1778f098b8eb6cb399d5d"
       "9d18f5d5842cf5d13d7eb00a7cff859b605da678b318bd0e65ebff70bec88c753b159a805d2c89c55961"},
      {"abc", 0x80,
       "7f1dddd13c08b543f2e2037b14cefb255b44c83cc397c1786d975653e36a6b11bdd7732d8b38adb4a0edc2"
       "6a0cef4bb45217135456e58fbca1703cd6032cb1347ee720b87972d63fbf232587043ed2901bce7f22610c"
       "0419751c065922b488431851041310ad659e4b23520e1772ab29dcdeb2002222a363f0c2b1c972b3efe1"},
      {"abcdef0123456789", 0x80,
       "3f721f208e6199fe903545abc26c837ce59ac6fa45733f1baaf0222f8b7acb0424814fcb5eecf6c1d38f06"
       "e9d0a6ccfbf85ae612ab8735dfdf9ce84c372a77c8f9e1c1e952c3a61b7567dd0693016af51d2745822663"
       "d0c2367e3f4f0bed827feecc2aaf98c949b5ed0d35c3f1023d64ad1407924288d366ea159f46287e61ac"},
      {Repeat("q128_", 'q', 128), 0x80,
       "b799b045a58c8d2b4334cf54b78260b45eec544f9f2fb5bd12fb603eaee70db7317bf807c406e26373922b"
       "7b8920fa29142703dd52bdf280084fb7ef69da78afdf80b3586395b433dc66cde048a258e476a561e9deba"
       "7060af40adf30c64249ca7ddea79806ee5beb9a1422949471d267b21bc88e688e4014087a0b592b695ed"},
      {Repeat("a512_", 'a', 512), 0x80,
       "05b0bfef265dcee87654372777b7c44177e2ae4c13a27f103340d9cd11c86cb2426ffcad5bd964080c2aee"
       "97f03be1ca18e30a1f14e27bc11ebbd650f305269cc9fb1db08bf90bfc79b42a952b46daf810359e7bc364"
       "52684784a64952c343c52e5124cd1f71d474d5197fefc571a92929c9084ffe1112cf5eea5192ebff330b"},
  };
  for (const XmdVector& v : vectors) {
    SCOPED_TRACE(v.msg.substr(0, 16) + " len=" + std::to_string(v.len_in_bytes));
    EXPECT_EQ(HexEncode(ExpandMessageXmdSha512(AsBytes(v.msg), AsBytes(dst), v.len_in_bytes)),
              v.uniform_bytes);
  }
}

// ---------------------------------------------------------------------------
// RFC 9380 appendix J.5.2: edwards25519_XMD:SHA-512_ELL2_NU_.

struct EncodeVector {
  std::string msg;
  const char* u;   // big-endian
  const char* qx;  // map_to_curve(u), before clearing the cofactor
  const char* qy;
  const char* px;  // encode_to_curve(msg)
  const char* py;
};

TEST(VrfHashToCurveTest, Edwards25519Ell2NuRfc9380Vectors) {
  const std::string dst = "QUUX-V01-CS02-with-edwards25519_XMD:SHA-512_ELL2_NU_";
  const EncodeVector vectors[] = {
      {"", "7f3e7fb9428103ad7f52db32f9df32505d7b427d894c5093f7a0f0374a30641d",
       "42836f691d05211ebc65ef8fcf01e0fb6328ec9c4737c26050471e50803022eb",
       "22cb4aaa555e23bd460262d2130d6a3c9207aa8bbb85060928beb263d6d42a95",
       "1ff2b70ecf862799e11b7ae744e3489aa058ce805dd323a936375a84695e76da",
       "222e314d04a4d5725e9f2aff9fb2a6b69ef375a1214eb19021ceab2d687f0f9b"},
      {"abc", "09cfa30ad79bd59456594a0f5d3a76f6b71c6787b04de98be5cd201a556e253b",
       "333e41b61c6dd43af220c1ac34a3663e1cf537f996bab50ab66e33c4bd8e4e19",
       "51b6f178eb08c4a782c820e306b82c6e273ab22e258d972cd0c511787b2a3443",
       "5f13cc69c891d86927eb37bd4afc6672360007c63f68a33ab423a3aa040fd2a8",
       "67732d50f9a26f73111dd1ed5dba225614e538599db58ba30aaea1f5c827fa42"},
      {"abcdef0123456789", "475ccff99225ef90d78cc9338e9f6a6bb7b17607c0c4428937de75d33edba941",
       "55186c242c78e7d0ec5b6c9553f04c6aeef64e69ec2e824472394da32647cfc6",
       "5b9ea3c265ee42256a8f724f616307ef38496ef7eba391c08f99f3bea6fa88f0",
       "1dd2fefce934ecfd7aae6ec998de088d7dd03316aa1847198aecf699ba6613f1",
       "2f8a6c24dd1adde73909cada6a4a137577b0f179d336685c4a955a0a8e1a86fb"},
      {Repeat("q128_", 'q', 128),
       "049a1c8bd51bcb2aec339f387d1ff51428b88d0763a91bcdf6929814ac95d03d",
       "024b6e1621606dca8071aa97b43dce4040ca78284f2a527dcf5d0fbfac2b07e7",
       "5102353883d739bdc9f8a3af650342b171217167dcce34f8db57208ec1dfdbf2",
       "35fbdc5143e8a97afd3096f2b843e07df72e15bfca2eaf6879bf97c5d3362f73",
       "2af6ff6ef5ebba128b0774f4296cb4c2279a074658b083b8dcca91f57a603450"},
      {Repeat("a512_", 'a', 512),
       "3cb0178a8137cefa5b79a3a57c858d7eeeaa787b2781be4a362a2f0750d24fa0",
       "3e6368cff6e88a58e250c54bd27d2c989ae9b3acb6067f2651ad282ab8c21cd9",
       "38fb39f1566ca118ae6c7af42810c0bb9767ae5960abb5a8ca792530bfb9447d",
       "6e5e1f37e99345887fc12111575fc1c3e36df4b289b8759d23af14d774b66bff",
       "2c90c3d39eb18ff291d33441b35f3262cdd307162cc97c31bfcc7a4245891a37"},
  };
  for (const EncodeVector& v : vectors) {
    SCOPED_TRACE(v.msg.substr(0, 16));
    Ed25519FieldBytes u = Edwards25519HashToField(AsBytes(v.msg), AsBytes(dst));
    EXPECT_EQ(HexEncode(u), HexEncode(FieldFromBigEndianHex(v.u)));
    EXPECT_EQ(HexEncode(Edwards25519MapToCurveEll2(u)), EncodePointHex(v.qx, v.qy));
    EXPECT_EQ(HexEncode(Edwards25519EncodeToCurveEll2(AsBytes(v.msg), AsBytes(dst))),
              EncodePointHex(v.px, v.py));
  }
}

// libsodium 1.0.18's own Elligator 2 is not RFC 9380's map; this pins down
// why hash_to_curve.cc exists (if it ever matched, the file could go).
TEST(VrfHashToCurveTest, LibsodiumFromUniformIsNotTheRfcMap) {
  Ed25519FieldBytes u =
      FieldFromBigEndianHex("7f3e7fb9428103ad7f52db32f9df32505d7b427d894c5093f7a0f0374a30641d");
  Ed25519PointBytes libsodium_point;
  ASSERT_EQ(crypto_core_ed25519_from_uniform(libsodium_point.data(), u.data()), 0);
  EXPECT_NE(HexEncode(libsodium_point),
            EncodePointHex("1ff2b70ecf862799e11b7ae744e3489aa058ce805dd323a936375a84695e76da",
                           "222e314d04a4d5725e9f2aff9fb2a6b69ef375a1214eb19021ceab2d687f0f9b"));
}

// ---------------------------------------------------------------------------
// RFC 9381 appendix B.4: ECVRF-EDWARDS25519-SHA512-ELL2, examples 19-21.

struct VrfVector {
  const char* sk;
  const char* pk;
  const char* alpha;
  const char* h;  // encode_to_curve(PK || alpha), an intermediate value
  const char* pi;
  const char* beta;
};

const VrfVector kRfc9381Vectors[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "b8066ebbb706c72b64390324e4a3276f129569eab100c26b9f05011200c1bad9",
     "7d9c633ffeee27349264cf5c667579fc583b4bda63ab71d001f89c10003ab46f"
     "14adf9a3cd8b8412d9038531e865c341cafa73589b023d14311c331a9ad15ff2"
     "fb37831e00f0acaa6d73bc9997b06501",
     "9d574bf9b8302ec0fc1e21c3ec5368269527b87b462ce36dab2d14ccf80c53cc"
     "cf6758f058c5b1c856b116388152bbe509ee3b9ecfe63d93c3b4346c1fbc6c54"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "76ac3ccb86158a9104dff819b1ca293426d305fd76b39b13c9356d9b58c08e57",
     "47b327393ff2dd81336f8a2ef10339112401253b3c714eeda879f12c509072ef"
     "055b48372bb82efbdce8e10c8cb9a2f9d60e93908f93df1623ad78a86a028d6b"
     "c064dbfc75a6a57379ef855dc6733801",
     "38561d6b77b71d30eb97a062168ae12b667ce5c28caccdf76bc88e093e463598"
     "7cd96814ce55b4689b3dd2947f80e59aac7b7675f8083865b46c89b2ce9cc735"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "13d2a8b5ca32db7e98094a61f656a08c6c964344e058879a386a947a4e189ed1",
     "926e895d308f5e328e7aa159c06eddbe56d06846abf5d98c2512235eaa57fdce"
     "35b46edfc655bc828d44ad09d1150f31374e7ef73027e14760d42e77341fe054"
     "67bb286cc2c9d7fde29120a0b2320d04",
     "121b7f9b9aaaa29099fc04a94ba52784d44eac976dd1a3cca458733be5cd090a"
     "7b5fbd148444f17f8daf1fb55cb04b1ae85a626e30a54b4b0f8abf4a43314a58"},
};

const std::string kVrfDst = std::string("ECVRF_edwards25519_XMD:SHA-512_ELL2_NU_") + '\x04';

TEST(VrfTest, Rfc9381Ell2Vectors) {
  for (const VrfVector& v : kRfc9381Vectors) {
    SCOPED_TRACE(v.pk);
    SecretKey key = SecretKey::FromSeed(Hex(v.sk)).value();
    ASSERT_EQ(key.public_key().ToHex(), v.pk);
    Bytes alpha = Hex(v.alpha);

    Bytes salted(key.public_key().bytes.begin(), key.public_key().bytes.end());
    Append(salted, alpha);
    EXPECT_EQ(HexEncode(Edwards25519EncodeToCurveEll2(salted, AsBytes(kVrfDst))), v.h);

    VrfProof proof = VrfProve(key, alpha);
    EXPECT_EQ(HexEncode(proof.bytes), v.pi);
    EXPECT_EQ(VrfProofToHash(proof).ToHex(), v.beta);

    VrfProof rfc_proof = VrfProof::Parse(Hex(v.pi)).value();
    Result<VrfOutput> beta = VrfVerify(key.public_key(), rfc_proof, alpha);
    ASSERT_TRUE(beta.ok()) << beta.status().ToString();
    EXPECT_EQ(beta->ToHex(), v.beta);
  }
}

TEST(VrfTest, ParseChecksSize) {
  EXPECT_TRUE(VrfProof::Parse(Bytes(80)).ok());
  EXPECT_EQ(VrfProof::Parse(Bytes(79)).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(VrfProof::Parse(Bytes(81)).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(VrfProof::Parse({}).status().code(), StatusCode::kCorruption);
}

// ---------------------------------------------------------------------------
// Round trips on random keys and inputs.

uint64_t TestSeed() { return agora::testing::TestSeed(20250301u); }

std::string Reproduce() { return agora::testing::ReproduceLine(TestSeed()); }

Bytes RandomBytes(std::mt19937_64& rng, size_t n) {
  Bytes out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

TEST(VrfTest, ProveThenVerifyOnRandomKeys) {
  std::mt19937_64 rng(TestSeed());
  constexpr int kRounds = 64;
  for (int round = 0; round < kRounds; ++round) {
    SecretKey key = SecretKey::FromSeed(RandomBytes(rng, 32)).value();
    Bytes alpha = RandomBytes(rng, rng() % 100);
    VrfProof proof = VrfProve(key, alpha);
    EXPECT_EQ(VrfProve(key, alpha), proof) << "proving must be deterministic; " << Reproduce();
    Result<VrfOutput> beta = VrfVerify(key.public_key(), proof, alpha);
    ASSERT_TRUE(beta.ok()) << beta.status().ToString() << "; round " << round << "; "
                           << Reproduce();
    EXPECT_EQ(*beta, VrfProofToHash(proof)) << Reproduce();

    // A different input gives a different output under the same key.
    Bytes other_alpha = alpha;
    other_alpha.push_back(static_cast<uint8_t>(rng()));
    EXPECT_NE(VrfProofToHash(VrfProve(key, other_alpha)), *beta) << Reproduce();
  }
}

// ---------------------------------------------------------------------------
// Rejections.

struct ProofCase {
  SecretKey key = SecretKey::FromSeed(Hex(kRfc9381Vectors[2].sk)).value();
  Bytes alpha = ToBytes("agora beacon input");
  VrfProof proof = VrfProve(key, alpha);
};

void ExpectRejected(const PublicKey& key, const VrfProof& proof, ByteSpan alpha,
                    const std::string& why) {
  Result<VrfOutput> result = VrfVerify(key, proof, alpha);
  ASSERT_FALSE(result.ok()) << why;
  EXPECT_EQ(result.status().code(), StatusCode::kUnauthenticated) << why;
  EXPECT_FALSE(result.status().message().empty()) << why;
}

TEST(VrfTest, EveryBitFlipOfTheProofIsRejected) {
  ProofCase f;
  ASSERT_TRUE(VrfVerify(f.key.public_key(), f.proof, f.alpha).ok());
  for (size_t bit = 0; bit < VrfProof::kSize * 8; ++bit) {
    VrfProof flipped = f.proof;
    flipped.bytes[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    ExpectRejected(f.key.public_key(), flipped, f.alpha, "bit " + std::to_string(bit));
  }
}

TEST(VrfTest, WrongAlphaIsRejected) {
  ProofCase f;
  Bytes other = f.alpha;
  other.back() ^= 1;
  ExpectRejected(f.key.public_key(), f.proof, other, "changed last byte");
  ExpectRejected(f.key.public_key(), f.proof, {}, "empty alpha");
  Bytes longer = f.alpha;
  longer.push_back(0);
  ExpectRejected(f.key.public_key(), f.proof, longer, "appended zero byte");
}

TEST(VrfTest, WrongKeyIsRejected) {
  ProofCase f;
  SecretKey other = SecretKey::FromSeed(Hex(kRfc9381Vectors[0].sk)).value();
  ExpectRejected(other.public_key(), f.proof, f.alpha, "another valid key");
}

// RFC 9381 section 5.4.5 lists the y coordinates of the eight small-order
// points (and two non-canonical aliases); each, with either sign bit, must be
// refused as a key. A prover that registers a small-order key could predict
// its own outputs (RFC 9381 section 7.1.3), which the beacon must not allow.
TEST(VrfTest, SmallOrderAndNonCanonicalKeysAreRejected) {
  ProofCase f;
  const char* bad_y[] = {
      "0000000000000000000000000000000000000000000000000000000000000000",  // order 4
      "0100000000000000000000000000000000000000000000000000000000000000",  // identity
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  // order 8
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  // order 8
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // order 2
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p (= 0)
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p + 1 (= 1)
  };
  for (const char* y : bad_y) {
    for (uint8_t sign : {0x00, 0x80}) {
      PublicKey key = PublicKey::Parse(Hex(y)).value();
      key.bytes[31] |= sign;
      ExpectRejected(key, f.proof, f.alpha, key.ToHex());
    }
  }
  // The all-0xff encoding is non-canonical (y >= p).
  PublicKey ff;
  ff.bytes.fill(0xff);
  ExpectRejected(ff, f.proof, f.alpha, "all-0xff key");
}

// The attack key validation exists for: with Y = identity and Gamma =
// identity, s = k and c = the challenge over (Y, H, Gamma, kB, kH) satisfy
// both verification equations, and beta = Hash(8 * identity) is the same for
// every alpha. An RFC 9381 verifier without validate_key accepts this; ours
// must not (both the key check and the Gamma check refuse it).
TEST(VrfTest, ForgedProofUnderIdentityKeyIsRejected) {
  PublicKey identity;
  identity.bytes[0] = 1;
  const Bytes alpha = ToBytes("any input at all");
  Bytes salted(identity.bytes.begin(), identity.bytes.end());
  Append(salted, alpha);
  const Ed25519PointBytes h = Edwards25519EncodeToCurveEll2(salted, AsBytes(kVrfDst));
  std::array<uint8_t, 32> k{};
  k[0] = 5;
  std::array<uint8_t, 32> u;
  std::array<uint8_t, 32> v;
  ASSERT_EQ(crypto_scalarmult_ed25519_base_noclamp(u.data(), k.data()), 0);
  ASSERT_EQ(crypto_scalarmult_ed25519_noclamp(v.data(), k.data(), h.data()), 0);
  Bytes challenge_input = {0x04, 0x02};
  for (ByteSpan point : {ByteSpan(identity.bytes), ByteSpan(h), ByteSpan(identity.bytes),
                         ByteSpan(u), ByteSpan(v)}) {
    Append(challenge_input, point);
  }
  challenge_input.push_back(0x00);
  uint8_t digest[crypto_hash_sha512_BYTES];
  crypto_hash_sha512(digest, challenge_input.data(), challenge_input.size());

  VrfProof forged;
  std::copy(identity.bytes.begin(), identity.bytes.end(), forged.bytes.begin());
  std::copy(digest, digest + 16, forged.bytes.begin() + 32);
  std::copy(k.begin(), k.end(), forged.bytes.begin() + 48);
  ExpectRejected(identity, forged, alpha, "forged proof under the identity key");
}

// A key with a small-order component (PK + T8) has the right order-L part but
// is not a key any RFC 8032 key generation makes; it is refused.
TEST(VrfTest, MixedOrderKeyIsRejected) {
  ProofCase f;
  Bytes t8 = Hex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");
  PublicKey mixed;
  ASSERT_EQ(crypto_core_ed25519_add(mixed.bytes.data(), f.key.public_key().bytes.data(), t8.data()),
            0);
  ExpectRejected(mixed, f.proof, f.alpha, "PK + order-8 point");
}

// s + L multiplies every point exactly like s, so without the s < L check it
// would be a second valid encoding of the same proof.
TEST(VrfTest, NonCanonicalScalarIsRejected) {
  ProofCase f;
  const Bytes group_order = Hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
  VrfProof malleated = f.proof;
  unsigned carry = 0;
  for (size_t i = 0; i < 32; ++i) {
    unsigned sum = malleated.bytes[48 + i] + group_order[i] + carry;
    malleated.bytes[48 + i] = static_cast<uint8_t>(sum);
    carry = sum >> 8;
  }
  ASSERT_EQ(carry, 0u);  // s < L < 2^253, so s + L < 2^256
  Result<VrfOutput> result = VrfVerify(f.key.public_key(), malleated, f.alpha);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("group order"), std::string::npos)
      << result.status().ToString();
}

TEST(VrfTest, DegenerateProofsAreRejectedWithoutCrashing) {
  ProofCase f;
  VrfProof zeros;
  ExpectRejected(f.key.public_key(), zeros, f.alpha, "all-zero proof");
  VrfProof ones;
  ones.bytes.fill(0xff);
  ExpectRejected(f.key.public_key(), ones, f.alpha, "all-0xff proof");
  // Gamma = identity with a valid-looking rest.
  VrfProof identity_gamma = f.proof;
  std::fill(identity_gamma.bytes.begin(), identity_gamma.bytes.begin() + 32, 0);
  identity_gamma.bytes[0] = 1;
  ExpectRejected(f.key.public_key(), identity_gamma, f.alpha, "identity Gamma");
  // c = 0 and s = 0 exercise the zero-scalar paths.
  VrfProof zero_scalars = f.proof;
  std::fill(zero_scalars.bytes.begin() + 32, zero_scalars.bytes.end(), 0);
  ExpectRejected(f.key.public_key(), zero_scalars, f.alpha, "c = s = 0");
}

TEST(VrfTest, RandomProofsAreRejectedWithoutCrashing) {
  ProofCase f;
  std::mt19937_64 rng(TestSeed());
  for (int i = 0; i < 256; ++i) {
    VrfProof proof = VrfProof::Parse(RandomBytes(rng, VrfProof::kSize)).value();
    Result<VrfOutput> result = VrfVerify(f.key.public_key(), proof, f.alpha);
    EXPECT_FALSE(result.ok()) << Reproduce();
  }
}

}  // namespace
}  // namespace agora
