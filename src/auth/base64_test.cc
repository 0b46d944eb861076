#include "auth/base64.h"

#include <string>

#include "gtest/gtest.h"

namespace berth::auth {
namespace {

TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<const char*, const char*> kVectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64Encode(plain, Base64Alphabet::kStandard), encoded);
    EXPECT_EQ(Base64Decode(encoded, Base64Alphabet::kStandard), std::string(plain));
    std::string unpadded(encoded);
    unpadded.erase(unpadded.find_last_not_of('=') + 1);
    EXPECT_EQ(Base64Encode(plain, Base64Alphabet::kUrl), unpadded);
    EXPECT_EQ(Base64Decode(unpadded, Base64Alphabet::kUrl), std::string(plain));
  }
}

TEST(Base64Test, AlphabetsDifferInTwoCharacters) {
  const std::string bytes("\xfb\xff\xbf", 3);
  EXPECT_EQ(Base64Encode(bytes, Base64Alphabet::kStandard), "+/+/");
  EXPECT_EQ(Base64Encode(bytes, Base64Alphabet::kUrl), "-_-_");
  EXPECT_EQ(Base64Decode("-_-_", Base64Alphabet::kStandard), std::nullopt);
  EXPECT_EQ(Base64Decode("+/+/", Base64Alphabet::kUrl), std::nullopt);
}

TEST(Base64Test, AllByteValuesRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 37) {
    const std::string part = all.substr(0, n);
    for (auto alphabet : {Base64Alphabet::kStandard, Base64Alphabet::kUrl}) {
      EXPECT_EQ(Base64Decode(Base64Encode(part, alphabet), alphabet), part);
    }
  }
}

TEST(Base64Test, RejectsNonCanonicalText) {
  for (const char* bad :
       {"Zg", "Zg=", "Zg===", "Z===", "Zm9=v", "Zh==", "Zm9vYmE", "Zm 9v", "Zm9v\n", "Z"}) {
    EXPECT_EQ(Base64Decode(bad, Base64Alphabet::kStandard), std::nullopt) << bad;
  }
  // Unpadded form: no '=' at all, nonzero leftover bits ("Zh" vs "Zg") refused.
  for (const char* bad : {"Zg==", "Zh", "Zm9", "Z", "Zm9v="}) {
    EXPECT_EQ(Base64Decode(bad, Base64Alphabet::kUrl), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace berth::auth
