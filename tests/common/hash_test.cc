#include "common/hash.h"

#include <gtest/gtest.h>

#include "common/encoding.h"

namespace agora {
namespace {

// RFC 7693 appendix A: BLAKE2b-512("abc").
TEST(Blake2bTest, Rfc7693Abc512) {
  EXPECT_EQ(HexEncode(Blake2b(AsBytes("abc"), 64)),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
            "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923");
}

// BLAKE2b-256 reference values (the reference implementation's b2sum -l 256).
TEST(Blake2bTest, Blake2b256Vectors) {
  EXPECT_EQ(Blake2b256(std::string_view("")).ToHex(),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  EXPECT_EQ(Blake2b256(std::string_view("abc")).ToHex(),
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

TEST(Blake2bTest, IncrementalEqualsOneShot) {
  std::string data(1000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + 7);
  for (size_t split : {size_t{0}, size_t{1}, size_t{127}, size_t{128}, size_t{129}, size_t{999}}) {
    Blake2b256Hasher hasher;
    hasher.Update(std::string_view(data).substr(0, split));
    hasher.Update(std::string_view(data).substr(split));
    EXPECT_EQ(hasher.Finish(), Blake2b256(data)) << "split at " << split;
  }
}

TEST(Hash256Test, HexRoundTripAndErrors) {
  Hash256 h = Blake2b256(std::string_view("agora"));
  EXPECT_EQ(*Hash256::FromHex(h.ToHex()), h);
  EXPECT_FALSE(Hash256::FromHex("abcd").ok());
  EXPECT_FALSE(Hash256::FromHex(std::string(64, 'g')).ok());
  EXPECT_FALSE(Hash256::Parse(Bytes(31)).ok());
  EXPECT_TRUE(Hash256{}.IsZero());
  EXPECT_FALSE(h.IsZero());
}

}  // namespace
}  // namespace agora
