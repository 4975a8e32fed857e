#include "common/status.h"

#include <gtest/gtest.h>

namespace agora {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument(std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  AGORA_ASSIGN_OR_RETURN(int half, Half(x));
  AGORA_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

Status CheckEven(int x) {
  AGORA_RETURN_IF_ERROR(Half(x).status());
  return Status::Ok();
}

TEST(StatusTest, CodesAndMessages) {
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::Ok().ToString(), "ok");
  Status s = Status::NotFound("no key named 'x'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "not found: no key named 'x'");
  EXPECT_EQ(s.WithContext("keys show").message(), "keys show: no key named 'x'");
  EXPECT_TRUE(Status::Ok().WithContext("anything").ok());
}

TEST(StatusTest, ResultPropagates) {
  EXPECT_EQ(*Quarter(12), 3);
  Result<int> odd = Quarter(6);  // 6 / 2 = 3 is odd
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(odd.status().message(), "3 is odd");
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(5).message(), "5 is odd");
}

TEST(StatusDeathTest, ValueOfErrorAborts) {
  Result<int> r = Status::Internal("boom");
  EXPECT_DEATH((void)r.value(), "AGORA_CHECK.*boom");
}

TEST(StatusDeathTest, CheckStaysOnAndNamesTheCondition) {
  int x = 1;
  EXPECT_DEATH(AGORA_CHECK(x == 2), "AGORA_CHECK\\(x == 2\\) failed");
}

}  // namespace
}  // namespace agora
