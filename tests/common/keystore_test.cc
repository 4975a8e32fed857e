#include "common/keystore.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json.hpp>

#include "common/encoding.h"
#include "tests/test_util.h"

namespace agora {
namespace {

using testing::ReadTextFile;
using testing::TempDir;
using testing::WriteTextFile;

class KeystoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() / "alice.json";
    ASSERT_TRUE(WriteKeystore(path_, "alice", key_, "correct horse", KdfParams::Fast()).ok());
  }

  TempDir dir_;
  std::filesystem::path path_;
  SecretKey key_ = SecretKey::Generate();
};

TEST_F(KeystoreTest, RoundTrip) {
  auto key = ReadKeystore(path_, "correct horse");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->public_key(), key_.public_key());
  EXPECT_EQ(key->seed(), key_.seed());
  auto info = ReadKeystoreInfo(path_);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->name, "alice");
  EXPECT_EQ(info->address, Address::FromPublicKey(key_.public_key()));
}

TEST_F(KeystoreTest, FileIsPrivateAndHoldsNoPlainSeed) {
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string text = ReadTextFile(path_);
  EXPECT_EQ(text.find(HexEncode(key_.seed())), std::string::npos);
  // Nothing else is left in the directory (no temp files).
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.path()),
                          std::filesystem::directory_iterator()),
            1);
}

TEST_F(KeystoreTest, WrongPassword) {
  auto key = ReadKeystore(path_, "wrong horse");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(key.status().message().find("wrong password"), std::string::npos);
}

TEST_F(KeystoreTest, EveryTruncationIsCorruption) {
  std::string text = ReadTextFile(path_);
  std::filesystem::path cut = dir_.path() / "cut.json";
  for (size_t len = 0; len < text.size() - 1; ++len) {  // the last byte is a newline
    WriteTextFile(cut, text.substr(0, len));
    auto key = ReadKeystore(cut, "correct horse");
    ASSERT_FALSE(key.ok()) << "accepted a keystore cut to " << len << " bytes";
    EXPECT_EQ(key.status().code(), StatusCode::kCorruption) << len;
    EXPECT_NE(key.status().message().find("truncated"), std::string::npos)
        << key.status().message();
    EXPECT_NE(key.status().message().find("backup"), std::string::npos);
  }
}

TEST_F(KeystoreTest, TamperedCiphertextIsCorruptionNotWrongPassword) {
  auto doc = boost::json::parse(ReadTextFile(path_)).as_object();
  std::string ct(doc["cipher"].as_object()["ciphertext"].as_string());
  for (size_t i : {size_t{0}, ct.size() / 2, ct.size() - 1}) {
    std::string bad = ct;
    bad[i] = bad[i] == '0' ? '1' : '0';
    auto tampered = doc;
    tampered["cipher"].as_object()["ciphertext"] = bad;
    std::filesystem::path p = dir_.path() / "tampered.json";
    WriteTextFile(p, boost::json::serialize(tampered));
    auto key = ReadKeystore(p, "correct horse");
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.status().code(), StatusCode::kCorruption);
    EXPECT_NE(key.status().message().find("integrity"), std::string::npos)
        << key.status().message();
  }
}

TEST_F(KeystoreTest, SwappedPublicKeyIsCaught) {
  auto doc = boost::json::parse(ReadTextFile(path_)).as_object();
  SecretKey other = SecretKey::Generate();
  doc["public_key"] = other.public_key().ToHex();
  doc["address"] = Address::FromPublicKey(other.public_key()).ToString();
  std::filesystem::path p = dir_.path() / "swapped.json";
  WriteTextFile(p, boost::json::serialize(doc));
  auto key = ReadKeystore(p, "correct horse");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), StatusCode::kCorruption);
}

TEST_F(KeystoreTest, HostileKdfParametersAreRefusedBeforeRunning) {
  auto doc = boost::json::parse(ReadTextFile(path_)).as_object();
  doc["kdf"].as_object()["memlimit_bytes"] = uint64_t{1} << 40;
  std::filesystem::path p = dir_.path() / "hostile.json";
  WriteTextFile(p, boost::json::serialize(doc));
  auto key = ReadKeystore(p, "correct horse");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), StatusCode::kCorruption);
  EXPECT_NE(key.status().message().find("out of range"), std::string::npos);
}

TEST_F(KeystoreTest, RefusesToOverwrite) {
  Status s = WriteKeystore(path_, "alice", SecretKey::Generate(), "x", KdfParams::Fast());
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadKeystore(path_, "correct horse")->public_key(), key_.public_key());
}

TEST_F(KeystoreTest, RejectsBadNamesAndEmptyPassword) {
  EXPECT_FALSE(WriteKeystore(dir_.path() / "a.json", "../evil", key_, "pw", KdfParams::Fast()).ok());
  EXPECT_FALSE(WriteKeystore(dir_.path() / "b.json", "", key_, "pw", KdfParams::Fast()).ok());
  EXPECT_FALSE(WriteKeystore(dir_.path() / "c.json", "bob", key_, "", KdfParams::Fast()).ok());
}

TEST_F(KeystoreTest, MissingFileAndNotAKeystore) {
  EXPECT_EQ(ReadKeystore(dir_.path() / "none.json", "x").status().code(), StatusCode::kNotFound);
  std::filesystem::path p = dir_.path() / "other.json";
  WriteTextFile(p, R"({"hello": "world"})");
  auto key = ReadKeystore(p, "x");
  EXPECT_EQ(key.status().code(), StatusCode::kCorruption);
  EXPECT_NE(key.status().message().find("not an Agora keystore"), std::string::npos);
}

}  // namespace
}  // namespace agora
