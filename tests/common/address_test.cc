#include "common/address.h"

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "common/hash.h"

namespace agora {
namespace {

Address SampleAddress() {
  SecretKey key = SecretKey::FromSeed(
      *HexDecode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")).value();
  return Address::FromPublicKey(key.public_key());
}

TEST(AddressTest, FormatAndRoundTrip) {
  Address a = SampleAddress();
  std::string text = a.ToString();
  EXPECT_EQ(text.substr(0, 6), "agora1");
  EXPECT_EQ(text.size(), 6u + 32u + 6u);  // 160 bits in 5-bit characters, 6 checksum characters
  auto parsed = Address::Parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, a);
  // Upper case as a whole is the same address (bech32 allows it).
  std::string upper = text;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(*Address::Parse(upper), a);
}

TEST(AddressTest, DerivedFromTheKeyHash) {
  SecretKey key = SecretKey::Generate();
  Address a = Address::FromPublicKey(key.public_key());
  Bytes digest = Blake2b(key.public_key().bytes, Address::kSize);
  EXPECT_EQ(Bytes(a.bytes().begin(), a.bytes().end()), digest);
  EXPECT_NE(Address::FromPublicKey(SecretKey::Generate().public_key()), a);
}

// Every way of changing one character of a sample address: each position
// replaced by every other printable ASCII character. None may parse.
TEST(AddressTest, EverySingleCharacterChangeIsCaught) {
  const std::string text = SampleAddress().ToString();
  int tried = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    for (int c = 33; c <= 126; ++c) {
      if (c == text[i]) continue;
      std::string typo = text;
      typo[i] = static_cast<char>(c);
      EXPECT_FALSE(Address::Parse(typo).ok()) << "accepted typo '" << typo << "'";
      ++tried;
    }
  }
  EXPECT_EQ(tried, static_cast<int>(text.size()) * 93);
}

TEST(AddressTest, InsertionsAndDeletionsAreCaught) {
  const std::string text = SampleAddress().ToString();
  for (size_t i = 0; i < text.size(); ++i) {
    std::string deleted = text;
    deleted.erase(i, 1);
    EXPECT_FALSE(Address::Parse(deleted).ok()) << deleted;
    for (char c : std::string("qpzry9x8gf2tvdw0s3jn54khce6mua7l")) {
      std::string inserted = text;
      inserted.insert(i, 1, c);
      EXPECT_FALSE(Address::Parse(inserted).ok()) << inserted;
    }
  }
}

TEST(AddressTest, ErrorsSayWhatIsWrong) {
  EXPECT_NE(Address::Parse("").status().message().find("separator"), std::string::npos);
  EXPECT_NE(Address::Parse("cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq").status().message()
                .find("agora1"),
            std::string::npos);
  std::string text = SampleAddress().ToString();
  std::string mixed = text;
  mixed[8] = static_cast<char>(std::toupper(static_cast<unsigned char>(mixed[8])));
  if (mixed != text) {
    EXPECT_NE(Address::Parse(mixed).status().message().find("case"), std::string::npos);
  }
  EXPECT_FALSE(Address::FromBytes(Bytes(19)).ok());
}

}  // namespace
}  // namespace agora
