#include "node/keyring.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/test_util.h"

namespace agora::node {
namespace {

using testing::TempDir;

TEST(KeyringTest, CreateListShowUnlock) {
  TempDir home;
  Keyring keyring(home.path(), KdfParams::Fast());
  EXPECT_TRUE(keyring.List()->empty());
  auto bob = keyring.Create("bob", "pw-bob");
  auto alice = keyring.Create("alice", "pw-alice");
  ASSERT_TRUE(bob.ok() && alice.ok());
  EXPECT_NE(bob->address, alice->address);

  auto list = keyring.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "alice");  // sorted by name
  EXPECT_EQ((*list)[1].address, bob->address);

  EXPECT_EQ(keyring.Show("alice")->public_key, alice->public_key);
  auto key = keyring.Unlock("alice", "pw-alice");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->public_key(), alice->public_key);
  EXPECT_EQ(keyring.Unlock("alice", "pw-bob").status().code(), StatusCode::kUnauthenticated);

  struct stat st {};
  ASSERT_EQ(::stat(keyring.dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(KeyringTest, ClearErrors) {
  TempDir home;
  Keyring keyring(home.path(), KdfParams::Fast());
  ASSERT_TRUE(keyring.Create("alice", "pw").ok());
  auto again = keyring.Create("alice", "pw");
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find("another name"), std::string::npos);
  auto missing = keyring.Show("carol");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("agora keys list"), std::string::npos);
  EXPECT_EQ(keyring.Show("../alice").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(keyring.Create("a/b", "pw").status().code(), StatusCode::kInvalidArgument);
}

TEST(KeyringTest, DamagedFileIsReportedByList) {
  TempDir home;
  Keyring keyring(home.path(), KdfParams::Fast());
  ASSERT_TRUE(keyring.Create("alice", "pw").ok());
  testing::WriteTextFile(keyring.dir() / "broken.json", "{\"format\":");
  auto list = keyring.List();
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), StatusCode::kCorruption);
  EXPECT_NE(list.status().message().find("broken.json"), std::string::npos);
}

}  // namespace
}  // namespace agora::node
