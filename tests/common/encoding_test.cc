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
