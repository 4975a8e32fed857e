#include "common/keys.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include "common/encoding.h"

namespace agora {
namespace {

struct Rfc8032Vector {
  const char* secret;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 section 7.1, tests 1, 2 and 3.
const Rfc8032Vector kVectors[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
     "b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
     "1d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984d"
     "c6594a7c15e9716ed28dc027beceea1ec40a"},
};

TEST(Ed25519Test, Rfc8032Vectors) {
  for (const auto& v : kVectors) {
    SecretKey key = SecretKey::FromSeed(*HexDecode(v.secret)).value();
    EXPECT_EQ(key.public_key().ToHex(), v.public_key);
    Bytes message = *HexDecode(v.message);
    Signature sig = key.SignRaw(message);
    EXPECT_EQ(sig.ToHex(), v.signature);
    EXPECT_TRUE(VerifyRaw(key.public_key(), message, sig));
    EXPECT_EQ(HexEncode(key.seed()), v.secret);
  }
}

// RFC 8032 section 7.1, test SHA(abc): the message is SHA-512("abc").
TEST(Ed25519Test, Rfc8032ShaAbc) {
  SecretKey key = SecretKey::FromSeed(
      *HexDecode("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")).value();
  EXPECT_EQ(key.public_key().ToHex(),
            "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf");
  Bytes digest(crypto_hash_sha512_BYTES);
  crypto_hash_sha512(digest.data(), reinterpret_cast<const uint8_t*>("abc"), 3);
  EXPECT_EQ(key.SignRaw(digest).ToHex(),
            "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
            "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704");
}

TEST(Ed25519Test, RejectsTamperedMessageSignatureAndKey) {
  SecretKey key = SecretKey::FromSeed(*HexDecode(kVectors[2].secret)).value();
  Bytes message = *HexDecode(kVectors[2].message);
  Signature sig = key.SignRaw(message);
  for (size_t i = 0; i < Signature::kSize; ++i) {
    Signature bad = sig;
    bad.bytes[i] ^= 0x01;
    EXPECT_FALSE(VerifyRaw(key.public_key(), message, bad)) << "signature byte " << i;
  }
  Bytes other = message;
  other[0] ^= 0x80;
  EXPECT_FALSE(VerifyRaw(key.public_key(), other, sig));
  SecretKey stranger = SecretKey::Generate();
  EXPECT_FALSE(VerifyRaw(stranger.public_key(), message, sig));
}

TEST(Ed25519Test, GeneratedKeysDiffer) {
  SecretKey a = SecretKey::Generate();
  SecretKey b = SecretKey::Generate();
  EXPECT_NE(a.public_key(), b.public_key());
  EXPECT_EQ(SecretKey::FromSeed(a.seed())->public_key(), a.public_key());
  EXPECT_FALSE(SecretKey::FromSeed(Bytes(31)).ok());
}

TEST(DomainTest, SignatureNeverVerifiesUnderAnotherDomain) {
  SecretKey key = SecretKey::Generate();
  Bytes payload = ToBytes("the same payload bytes");
  const std::string chains[] = {"agora-devnet", "agora-mainnet", "a"};
  const SignKind kinds[] = {SignKind::kTransaction, SignKind::kBlockHeader, SignKind::kProposal,
                            SignKind::kPrevote,     SignKind::kPrecommit,   SignKind::kHandshake,
                            SignKind::kVerdict,     SignKind::kValidatorKey};
  for (const auto& sign_chain : chains) {
    for (SignKind sign_kind : kinds) {
      SignDomain signed_under{sign_chain, sign_kind};
      Signature sig = key.Sign(signed_under, payload);
      // The raw signature is over the tagged bytes, not the bare payload.
      EXPECT_FALSE(VerifyRaw(key.public_key(), payload, sig));
      for (const auto& chain : chains) {
        for (SignKind kind : kinds) {
          bool same = chain == sign_chain && kind == sign_kind;
          EXPECT_EQ(Verify(key.public_key(), {chain, kind}, payload, sig), same)
              << "signed " << sign_chain << "/" << SignKindName(sign_kind) << ", checked "
              << chain << "/" << SignKindName(kind);
        }
      }
    }
  }
}

// Moving bytes between the chain id and the payload must change the signed
// bytes; the length prefixes are what guarantee it.
TEST(DomainTest, TagIsUnambiguous) {
  Bytes a = SigningBytes({"ab", SignKind::kTransaction}, AsBytes("c"));
  Bytes b = SigningBytes({"a", SignKind::kTransaction}, AsBytes("bc"));
  EXPECT_NE(a, b);
  std::string expected_prefix = std::string("agora-sig-v1") + '\0' + '\x02' + "ab" + '\x0b' +
                                "transaction";
  EXPECT_EQ(ToString(ByteSpan(a).first(expected_prefix.size())), expected_prefix);
}

TEST(DomainTest, ChainIdValidation) {
  EXPECT_TRUE(ValidateChainId("agora-devnet-1").ok());
  EXPECT_FALSE(ValidateChainId("").ok());
  EXPECT_FALSE(ValidateChainId(std::string(65, 'a')).ok());
  EXPECT_FALSE(ValidateChainId("Agora").ok());
  EXPECT_FALSE(ValidateChainId("agora net").ok());
}

}  // namespace
}  // namespace agora
