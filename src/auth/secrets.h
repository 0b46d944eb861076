#pragma once
// Secrets for endpoint auth and the admin credential, on OpenSSL.
//
// SecretBox seals small secrets (endpoint keys, token-signing secrets) with AES-256-GCM under a
// key-encryption key kept in a 0600 file in the data dir, so the state database never holds
// them in the clear but `get-credentials` can still return them.
// Thread-safety: all functions and SecretBox methods are safe to call concurrently.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::auth {

class SecretBox {
 public:
  // Reads the 32-byte key from `key_file`, creating it (mode 0600) with random bytes if absent.
  // FAILED_PRECONDITION if the file exists with another size or is readable by group/other.
  static absl::StatusOr<SecretBox> OpenOrCreate(const std::filesystem::path& key_file);
  // A box over a given 32-byte key (tests).
  static SecretBox FromKeyForTest(std::string key);

  // Returns base64 text of nonce || ciphertext || tag.
  absl::StatusOr<std::string> Seal(std::string_view plaintext) const;
  // DATA_LOSS when the text was not sealed by this key or was altered.
  absl::StatusOr<std::string> Open(std::string_view sealed) const;

 private:
  explicit SecretBox(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

// `bytes` random bytes from the OS CSPRNG, base64url without padding.
std::string NewSecret(size_t bytes = 32);

std::string Sha256Hex(std::string_view data);

// Compares in time that depends only on the lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

struct AmlToken {
  std::string access_token;
  int64_t expiry_unix_s = 0;
  int64_t refresh_after_unix_s = 0;  // halfway through the lifetime
};

// Token for `endpoint`: base64url(JSON claims {ep, iat, exp}) "." base64url(HMAC-SHA256).
AmlToken IssueToken(std::string_view endpoint, std::string_view secret,
                    std::chrono::system_clock::time_point now, std::chrono::seconds lifetime);

// UNAUTHENTICATED if malformed, signed with another secret, for another endpoint, or expired
// at `now`.
absl::Status VerifyToken(std::string_view token, std::string_view endpoint, std::string_view secret,
                         std::chrono::system_clock::time_point now);

}  // namespace berth::auth
