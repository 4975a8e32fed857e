#include "common/encoding.h"
#include "tests/test_util.h"

#include <gtest/gtest.h>

#include <random>

namespace agora {
namespace {

TEST(HexTest, KnownValues) {
  EXPECT_EQ(HexEncode(Bytes{}), "");
  EXPECT_EQ(HexEncode(Bytes{0x00, 0x7f, 0xab, 0xff}), "007fabff");
  EXPECT_EQ(*HexDecode("007FaBff"), (Bytes{0x00, 0x7f, 0xab, 0xff}));
}

TEST(HexTest, RejectsMalformed) {
  EXPECT_FALSE(HexDecode("abc").ok());    // odd length
  EXPECT_FALSE(HexDecode("zz").ok());     // not hex
  EXPECT_FALSE(HexDecode("ab cd").ok());  // space
  EXPECT_FALSE(HexDecode("0x00").ok());   // prefix
  EXPECT_EQ(HexDecode("abzz").status().code(), StatusCode::kInvalidArgument);
}

// RFC 4648 section 10 test vectors.
TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},       {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(AsBytes(plain)), encoded);
    auto decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded;
    EXPECT_EQ(ToString(*decoded), plain);
  }
}

TEST(Base64Test, RejectsMalformed) {
  EXPECT_FALSE(Base64Decode("Zg").ok());        // missing padding
  EXPECT_FALSE(Base64Decode("Zg===").ok());     // too much padding
  EXPECT_FALSE(Base64Decode("Zm9v!").ok());     // bad character
  EXPECT_FALSE(Base64Decode("Zm9vYg==Zg==").ok());  // data after padding
  EXPECT_FALSE(Base64Decode("Zm9v\n").ok());    // whitespace
  EXPECT_FALSE(Base64Decode("Zh==").ok());      // non-zero padding bits
}

TEST(EncodingTest, TruncateUtf8CutsBetweenCharacters) {
  EXPECT_EQ(TruncateUtf8("abc", 5), "abc");
  EXPECT_EQ(TruncateUtf8("abcdef", 3), "abc");
  EXPECT_EQ(TruncateUtf8("abc", 0), "");
  const std::string e_acute = "\xC3\xA9";          // U+00E9, 2 bytes
  const std::string euro = "\xE2\x82\xAC";         // U+20AC, 3 bytes
  const std::string clef = "\xF0\x9D\x84\x9E";     // U+1D11E, 4 bytes
  EXPECT_EQ(TruncateUtf8("a" + e_acute, 2), "a");
  EXPECT_EQ(TruncateUtf8("a" + e_acute, 3), "a" + e_acute);
  for (size_t max = 1; max <= 2; ++max) EXPECT_EQ(TruncateUtf8(euro + "x", max), "") << max;
  EXPECT_EQ(TruncateUtf8(euro + "x", 3), euro);
  EXPECT_EQ(TruncateUtf8(euro + "x", 4), euro + "x");
  for (size_t max = 5; max <= 8; ++max) {
    EXPECT_EQ(TruncateUtf8("x" + clef + clef, max), "x" + clef) << max;
  }
  // 200 two-byte characters cut at 256 bytes keep 128 of them; one ASCII
  // byte in front shifts the cut back by one.
  std::string many;
  for (int i = 0; i < 200; ++i) many += e_acute;
  EXPECT_EQ(TruncateUtf8(many, 256).size(), 256u);
  EXPECT_EQ(TruncateUtf8("a" + many, 256).size(), 255u);
  // Not UTF-8 (a run of continuation bytes): cut where asked, not emptied.
  const std::string junk(300, '\x80');
  EXPECT_EQ(TruncateUtf8(junk, 256).size(), 256u);
}

TEST(EncodingTest, RandomRoundTrips) {
  const uint64_t seed = agora::testing::TestSeed(7);
  SCOPED_TRACE(agora::testing::ReproduceLine(seed));
  std::mt19937 rng(static_cast<uint32_t>(seed));
  for (int n = 0; n < 200; ++n) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    EXPECT_EQ(*HexDecode(HexEncode(b)), b);
    EXPECT_EQ(*Base64Decode(Base64Encode(b)), b);
  }
}

}  // namespace
}  // namespace agora
