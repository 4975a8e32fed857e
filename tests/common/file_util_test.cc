#include "common/file_util.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/test_util.h"

namespace agora {
namespace {

using testing::TempDir;

TEST(FileUtilTest, AtomicWriteReplacesAndSetsMode) {
  TempDir dir;
  auto path = dir.path() / "f";
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("one"), 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("two"), 0600).ok());
  EXPECT_EQ(*ReadFile(path, 100), "two");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(FileUtilTest, RefuseKeepsTheOldFileAndLeavesNoTemp) {
  TempDir dir;
  auto path = dir.path() / "f";
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("one"), 0600, Overwrite::kRefuse).ok());
  Status s = WriteFileAtomic(path, AsBytes("two"), 0600, Overwrite::kRefuse);
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(*ReadFile(path, 100), "one");
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(FileUtilTest, ReadFileBoundsAndErrors) {
  TempDir dir;
  auto path = dir.path() / "f";
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes(std::string(100, 'x')), 0600).ok());
  EXPECT_EQ(ReadFile(path, 99).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ReadFile(path, 100)->size(), 100u);
  EXPECT_EQ(ReadFile(dir.path() / "missing", 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(WriteFileAtomic(dir.path() / "no" / "dir", AsBytes("x"), 0600).code(),
            StatusCode::kNotFound);
}

}  // namespace
}  // namespace agora
