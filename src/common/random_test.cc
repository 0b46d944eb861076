#include "common/random.h"

#include <set>

#include "gtest/gtest.h"

namespace berth {
namespace {

TEST(NewGuidTest, HasVersion4ShapeAndIsUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string g = NewGuid();
    ASSERT_EQ(g.size(), 36u);
    EXPECT_EQ(g[14], '4');
    EXPECT_TRUE(seen.insert(g).second);
  }
}

}  // namespace
}  // namespace berth
