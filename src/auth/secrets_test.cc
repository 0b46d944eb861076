#include "auth/secrets.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "auth/base64.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace berth::auth {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "berth_auth_XXXXXX";
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

mode_t ModeOf(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0);
  return info.st_mode & 07777;
}

SecretBox TestBox(char fill) { return SecretBox::FromKeyForTest(std::string(32, fill)); }

// ---- SecretBox ----

TEST(SecretBoxTest, SealOpenRoundTrip) {
  SecretBox box = TestBox('k');
  for (std::string plain : {std::string(), std::string("primary-key"), std::string(1000, 'x'),
                            std::string("bin\0ary\xff", 8)}) {
    auto sealed = box.Seal(plain);
    ASSERT_TRUE(sealed.ok()) << sealed.status();
    if (plain.size() > 4) {
      EXPECT_EQ(sealed->find(plain), std::string::npos);  // not in the clear
    }
    auto opened = box.Open(*sealed);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(*opened, plain);
  }
}

TEST(SecretBoxTest, SealingTwiceUsesFreshNonces) {
  SecretBox box = TestBox('k');
  EXPECT_NE(*box.Seal("same"), *box.Seal("same"));
}

TEST(SecretBoxTest, TamperedCiphertextIsDataLoss) {
  SecretBox box = TestBox('k');
  const std::string sealed = *box.Seal("a secret worth keeping");
  std::string raw = *Base64Decode(sealed, Base64Alphabet::kStandard);
  // Flip one bit in each region: nonce, ciphertext, tag.
  for (size_t index : {size_t{0}, size_t{12}, size_t{20}, raw.size() - 1}) {
    std::string altered = raw;
    altered[index] ^= 0x01;
    auto opened = box.Open(Base64Encode(altered, Base64Alphabet::kStandard));
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << index;
  }
  // Truncated, garbage, empty.
  EXPECT_EQ(box.Open(sealed.substr(0, 16)).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(box.Open("not base64 at all!").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(box.Open("").status().code(), absl::StatusCode::kDataLoss);
}

TEST(SecretBoxTest, AnotherKeyIsDataLoss) {
  const std::string sealed = *TestBox('a').Seal("secret");
  auto opened = TestBox('b').Open(sealed);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
}

TEST(SecretBoxTest, KeyFileIsCreatedPrivateAndReused) {
  TempDir dir;
  const fs::path key_file = dir.path() / "secret.key";
  std::string sealed;
  {
    const mode_t old_umask = ::umask(0);  // even a permissive umask must not widen the mode
    auto box = SecretBox::OpenOrCreate(key_file);
    ::umask(old_umask);
    ASSERT_TRUE(box.ok()) << box.status();
    sealed = *box->Seal("endpoint key");
  }
  EXPECT_EQ(ModeOf(key_file), 0600);
  EXPECT_EQ(fs::file_size(key_file), 32u);
  // No temp files are left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);

  auto reopened = SecretBox::OpenOrCreate(key_file);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(*reopened->Open(sealed), "endpoint key");
}

TEST(SecretBoxTest, ConcurrentCreatorsAgreeOnOneKey) {
  TempDir dir;
  const fs::path key_file = dir.path() / "secret.key";
  constexpr int kThreads = 4;
  std::vector<std::string> sealed(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto box = SecretBox::OpenOrCreate(key_file);
      ASSERT_TRUE(box.ok()) << box.status();
      sealed[i] = *box->Seal("v");
    });
  }
  for (auto& t : threads) t.join();
  auto box = SecretBox::OpenOrCreate(key_file);
  ASSERT_TRUE(box.ok());
  for (const std::string& s : sealed) EXPECT_EQ(*box->Open(s), "v");
}

TEST(SecretBoxTest, GroupReadableKeyFileIsRefused) {
  TempDir dir;
  const fs::path key_file = dir.path() / "secret.key";
  ASSERT_TRUE(SecretBox::OpenOrCreate(key_file).ok());
  ASSERT_EQ(::chmod(key_file.c_str(), 0640), 0);
  auto box = SecretBox::OpenOrCreate(key_file);
  EXPECT_EQ(box.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(box.status().message()), HasSubstr(key_file.string()));
  EXPECT_THAT(std::string(box.status().message()), HasSubstr("chmod 600"));

  ASSERT_EQ(::chmod(key_file.c_str(), 0604), 0);
  EXPECT_EQ(SecretBox::OpenOrCreate(key_file).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_EQ(::chmod(key_file.c_str(), 0400), 0);  // owner-only read is fine
  EXPECT_TRUE(SecretBox::OpenOrCreate(key_file).ok());
}

TEST(SecretBoxTest, KeyFileOfWrongSizeIsRefused) {
  TempDir dir;
  const fs::path key_file = dir.path() / "secret.key";
  std::ofstream(key_file) << "short";
  ASSERT_EQ(::chmod(key_file.c_str(), 0600), 0);
  auto box = SecretBox::OpenOrCreate(key_file);
  EXPECT_EQ(box.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(box.status().message()), HasSubstr("expected 32"));
}

TEST(SecretBoxTest, MissingFolderIsAnError) {
  TempDir dir;
  EXPECT_FALSE(SecretBox::OpenOrCreate(dir.path() / "missing" / "secret.key").ok());
}

// ---- Secrets and hashing ----

TEST(NewSecretTest, LengthAlphabetAndUniqueness) {
  EXPECT_EQ(NewSecret().size(), 43u);  // 32 bytes, base64url unpadded
  EXPECT_EQ(NewSecret(3).size(), 4u);
  EXPECT_EQ(NewSecret(1).size(), 2u);
  EXPECT_EQ(NewSecret(0), "");
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string secret = NewSecret(16);
    EXPECT_THAT(secret, MatchesRegex("[A-Za-z0-9_-]{22}"));
    EXPECT_EQ(Base64Decode(secret, Base64Alphabet::kUrl)->size(), 16u);
    seen.insert(secret);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(Sha256HexTest, KnownVectors) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ConstantTimeEqualsTest, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "Secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_TRUE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

// ---- Tokens ----

constexpr std::chrono::system_clock::time_point kNow{std::chrono::seconds(1'700'000'000)};

TEST(TokenTest, IssuedTokenVerifies) {
  AmlToken token = IssueToken("my-endpoint", "signing-secret", kNow, 3600s);
  EXPECT_EQ(token.expiry_unix_s, 1'700'003'600);
  EXPECT_EQ(token.refresh_after_unix_s, 1'700'001'800);
  EXPECT_THAT(token.access_token, MatchesRegex("[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{43}"));
  EXPECT_TRUE(VerifyToken(token.access_token, "my-endpoint", "signing-secret", kNow).ok());
  EXPECT_TRUE(VerifyToken(token.access_token, "my-endpoint", "signing-secret", kNow + 3599s).ok());

  // The claims are readable JSON.
  const std::string claims_b64 = token.access_token.substr(0, token.access_token.find('.'));
  auto claims = nlohmann::json::parse(*Base64Decode(claims_b64, Base64Alphabet::kUrl));
  EXPECT_EQ(claims, (nlohmann::json{
                        {"ep", "my-endpoint"}, {"iat", 1'700'000'000}, {"exp", 1'700'003'600}}));
}

TEST(TokenTest, Expired) {
  AmlToken token = IssueToken("ep", "s", kNow, 60s);
  absl::Status status = VerifyToken(token.access_token, "ep", "s", kNow + 60s);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(status.message(), "token expired");
  EXPECT_EQ(VerifyToken(token.access_token, "ep", "s", kNow + 24h).message(), "token expired");
}

TEST(TokenTest, WrongSecret) {
  AmlToken token = IssueToken("ep", "right", kNow, 60s);
  absl::Status status = VerifyToken(token.access_token, "ep", "wrong", kNow);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(status.message(), "token signature invalid");
}

TEST(TokenTest, OtherEndpoint) {
  AmlToken token = IssueToken("ep-a", "s", kNow, 60s);
  absl::Status status = VerifyToken(token.access_token, "ep-b", "s", kNow);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(status.message(), "token is for another endpoint");
}

TEST(TokenTest, MalformedPieces) {
  const std::string good = IssueToken("ep", "s", kNow, 60s).access_token;
  const size_t dot = good.find('.');
  const std::string claims = good.substr(0, dot);
  const std::string sig = good.substr(dot + 1);
  for (const std::string& bad : std::vector<std::string>{
           std::string(), std::string("."), claims, claims + ".", "." + sig, good + "." + sig,
           claims + "." + sig + "=", claims + "." + sig.substr(1), "!!!." + sig, claims + ".AAAA",
           "not a token"}) {
    absl::Status status = VerifyToken(bad, "ep", "s", kNow);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << bad;
    EXPECT_EQ(status.message(), "malformed token") << bad;
  }
}

// A token signed with the right secret whose claims are not ours: HMAC computed here
// independently of secrets.cc.
std::string SignedToken(const std::string& claims_json, const std::string& secret) {
  const std::string claims = Base64Encode(claims_json, Base64Alphabet::kUrl);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(claims.data()), claims.size(), mac, &size);
  return claims + "." +
         Base64Encode(std::string(reinterpret_cast<char*>(mac), size), Base64Alphabet::kUrl);
}

TEST(TokenTest, SignatureIsHmacSha256OfTheClaimsText) {
  const std::string claims = R"({"ep":"ep","exp":1700000060,"iat":1700000000})";
  EXPECT_EQ(IssueToken("ep", "s", kNow, 60s).access_token, SignedToken(claims, "s"));
}

TEST(TokenTest, SignedClaimsOfTheWrongShapeAreMalformed) {
  for (const char* claims :
       {"[1,2]", "not json", R"({"ep":"ep"})", R"({"ep":1,"iat":1,"exp":2000000000})",
        R"({"ep":"ep","iat":"1","exp":2000000000})", R"({"ep":"ep","iat":1,"exp":2.5e9})"}) {
    absl::Status status = VerifyToken(SignedToken(claims, "s"), "ep", "s", kNow);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << claims;
    EXPECT_EQ(status.message(), "malformed token") << claims;
  }
  // The same claims with a bad signature are never parsed: the signature fails first.
  EXPECT_EQ(VerifyToken(SignedToken("[1,2]", "other"), "ep", "s", kNow).message(),
            "token signature invalid");
}

TEST(TokenTest, AnyFlippedCharacterIsRejected) {
  const std::string good = IssueToken("ep", "s", kNow, 60s).access_token;
  for (size_t i = 0; i < good.size(); ++i) {
    if (good[i] == '.') continue;
    std::string bad = good;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    absl::Status status = VerifyToken(bad, "ep", "s", kNow);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << "position " << i;
  }
}

TEST(TokenTest, EmptySecretStillSignsAndVerifies) {
  AmlToken token = IssueToken("ep", "", kNow, 60s);
  EXPECT_TRUE(VerifyToken(token.access_token, "ep", "", kNow).ok());
  EXPECT_FALSE(VerifyToken(token.access_token, "ep", "x", kNow).ok());
}

}  // namespace
}  // namespace berth::auth
