#include "auth/secrets.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "auth/base64.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace berth::auth {
namespace {

namespace fs = std::filesystem;

constexpr size_t kKeySize = 32;    // AES-256
constexpr size_t kNonceSize = 12;  // GCM's native IV size
constexpr size_t kTagSize = 16;
// Bound into every seal as associated data: text sealed for another purpose under the same
// key (should one ever exist) cannot be opened as a SecretBox secret.
constexpr char kAssociatedData[] = "berth.secretbox.v1";
constexpr size_t kHmacSize = 32;

// Failures of the OS random source or of hashing leave no safe way on: carrying on with a
// predictable secret would be worse than stopping.
[[noreturn]] void CryptoFailure(const char* what) {
  std::fprintf(stderr, "berth: fatal: %s failed (OpenSSL error %lu)\n", what, ERR_get_error());
  std::abort();
}

std::string RandomBytes(size_t size) {
  std::string out(size, '\0');
  if (size > 0 &&
      RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(size)) != 1) {
    CryptoFailure("RAND_bytes");
  }
  return out;
}

const unsigned char* Bytes(std::string_view s) {
  // OpenSSL rejects null pointers even for zero lengths in places; "" has a real address.
  return reinterpret_cast<const unsigned char*>(s.empty() ? "" : s.data());
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  if (key.size() > INT_MAX ||
      HMAC(EVP_sha256(), Bytes(key), static_cast<int>(key.size()), Bytes(data), data.size(), mac,
           &mac_size) == nullptr ||
      mac_size != kHmacSize) {
    CryptoFailure("HMAC-SHA256");
  }
  return std::string(reinterpret_cast<const char*>(mac), mac_size);
}

absl::Status ErrnoError(int error, const std::string& context) {
  std::string message = absl::StrCat(context, ": ", std::strerror(error));
  switch (error) {
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case ENOENT:
    case ENOTDIR:
      return absl::FailedPreconditionError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting the error (close can report a failed delayed write).
  int Close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

absl::Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Writes a fresh random key so that `key_file` appears complete or not at all: a temp file
// (O_EXCL, 0600) is filled and synced, then linked into place. link(2) rather than rename(2)
// because rename would silently replace a key another process created a moment earlier, and
// everything sealed under that key would be lost; link fails with EEXIST instead and the
// other process's key is used.
absl::Status CreateKeyFile(const fs::path& key_file) {
  const fs::path temp = key_file.string() + ".tmp-" + Sha256Hex(RandomBytes(16)).substr(0, 16);
  std::string key = RandomBytes(kKeySize);
  absl::Status status = [&]() -> absl::Status {
    Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd.get() < 0) return ErrnoError(errno, "creating key file " + temp.string());
    // The umask can only take bits away; this makes the mode exactly 0600 whatever it is.
    if (::fchmod(fd.get(), 0600) != 0) return ErrnoError(errno, "chmod " + temp.string());
    RETURN_IF_ERROR(WriteAll(fd.get(), key));
    if (::fsync(fd.get()) != 0) return ErrnoError(errno, "fsync " + temp.string());
    if (fd.Close() != 0) return ErrnoError(errno, "closing " + temp.string());
    if (::link(temp.c_str(), key_file.c_str()) != 0) {
      const int error = errno;
      if (error == EEXIST) return absl::OkStatus();  // lost a race; the winner's key stands
      // File systems without hard links: fall back to rename, losing only the race guard.
      if (error != EPERM && error != ENOTSUP && error != EOPNOTSUPP && error != ENOSYS) {
        return ErrnoError(error, "creating key file " + key_file.string());
      }
      if (::rename(temp.c_str(), key_file.c_str()) != 0) {
        return ErrnoError(errno, "creating key file " + key_file.string());
      }
    }
    return absl::OkStatus();
  }();
  OPENSSL_cleanse(key.data(), key.size());
  ::unlink(temp.c_str());  // already gone after a rename
  RETURN_IF_ERROR(status);
  // Make the new directory entry durable: losing the key loses every sealed secret.
  fs::path dir = key_file.parent_path().empty() ? fs::path(".") : key_file.parent_path();
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) {
    return ErrnoError(errno, "fsync " + dir.string());
  }
  return absl::OkStatus();
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

absl::Status OpenSslError(const char* what) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  char text[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, text, sizeof(text));
  return absl::InternalError(absl::StrCat(what, " failed: ", text));
}

absl::Status SealIsBad(absl::string_view why) {
  ERR_clear_error();
  return absl::DataLossError(absl::StrCat("sealed secret cannot be opened: ", why));
}

absl::Status MalformedToken() { return absl::UnauthenticatedError("malformed token"); }

int64_t UnixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

// ---- SecretBox ----

absl::StatusOr<SecretBox> SecretBox::OpenOrCreate(const fs::path& key_file) {
  const std::string path = key_file.string();
  int raw_fd = ::open(key_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw_fd < 0 && errno == ENOENT) {
    RETURN_IF_ERROR(CreateKeyFile(key_file));
    raw_fd = ::open(key_file.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (raw_fd < 0) return ErrnoError(errno, "opening key file " + path);
  Fd fd(raw_fd);

  struct stat info;
  if (::fstat(fd.get(), &info) != 0) return ErrnoError(errno, "stat " + path);
  if (!S_ISREG(info.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("key file ", path, " is not a regular file"));
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "key file %s is accessible by group or other users (mode %04o); run `chmod 600 %s`", path,
        info.st_mode & 07777, path));
  }
  if (info.st_size != static_cast<off_t>(kKeySize)) {
    return absl::FailedPreconditionError(
        absl::StrCat("key file ", path, " holds ", info.st_size, " bytes, expected ", kKeySize));
  }
  std::string key(kKeySize, '\0');
  size_t got = 0;
  while (got < key.size()) {
    ssize_t n = ::read(fd.get(), key.data() + got, key.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "reading key file " + path);
    if (n == 0) {
      return absl::FailedPreconditionError(absl::StrCat("key file ", path, " is truncated"));
    }
    got += static_cast<size_t>(n);
  }
  return SecretBox(std::move(key));
}

SecretBox SecretBox::FromKeyForTest(std::string key) { return SecretBox(std::move(key)); }

absl::StatusOr<std::string> SecretBox::Seal(std::string_view plaintext) const {
  if (key_.size() != kKeySize) {
    return absl::FailedPreconditionError("secret box key must be 32 bytes");
  }
  if (plaintext.size() > INT_MAX - kTagSize) {
    return absl::InvalidArgumentError("secret too large to seal");
  }
  std::string out = RandomBytes(kNonceSize);
  out.resize(kNonceSize + plaintext.size() + kTagSize);
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  unsigned char* ciphertext = nonce + kNonceSize;
  unsigned char* tag = ciphertext + plaintext.size();

  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  if (ctx == nullptr ||
      EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), Bytes(key_), nonce, nullptr) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(kAssociatedData),
                        sizeof(kAssociatedData) - 1) != 1 ||
      EVP_EncryptUpdate(ctx.get(), ciphertext, &len, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), ciphertext + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, tag) != 1) {
    return OpenSslError("AES-256-GCM seal");
  }
  return Base64Encode(out, Base64Alphabet::kStandard);
}

absl::StatusOr<std::string> SecretBox::Open(std::string_view sealed) const {
  if (key_.size() != kKeySize) {
    return absl::FailedPreconditionError("secret box key must be 32 bytes");
  }
  std::optional<std::string> raw = Base64Decode(sealed, Base64Alphabet::kStandard);
  if (!raw) return SealIsBad("not base64");
  if (raw->size() < kNonceSize + kTagSize || raw->size() > INT_MAX) {
    return SealIsBad("wrong length");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(raw->data());
  const unsigned char* ciphertext = nonce + kNonceSize;
  const size_t ciphertext_size = raw->size() - kNonceSize - kTagSize;
  // EVP_CTRL_GCM_SET_TAG takes a non-const pointer but only reads it.
  auto* tag = const_cast<unsigned char*>(ciphertext + ciphertext_size);

  std::string plaintext(ciphertext_size, '\0');
  auto* out = reinterpret_cast<unsigned char*>(plaintext.data());
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  if (ctx == nullptr ||
      EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), Bytes(key_), nonce, nullptr) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(kAssociatedData),
                        sizeof(kAssociatedData) - 1) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out, &len, ciphertext, static_cast<int>(ciphertext_size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag) != 1) {
    return OpenSslError("AES-256-GCM open");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), out + len, &len) != 1) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return SealIsBad("altered, or sealed under another key");
  }
  return plaintext;
}

// ---- Free functions ----

std::string NewSecret(size_t bytes) {
  std::string raw = RandomBytes(bytes);
  std::string text = Base64Encode(raw, Base64Alphabet::kUrl);
  OPENSSL_cleanse(raw.data(), raw.size());
  return text;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(Bytes(data), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    CryptoFailure("SHA-256");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xF]);
  }
  return hex;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(Bytes(a), Bytes(b), a.size()) == 0;
}

// ---- Tokens ----

AmlToken IssueToken(std::string_view endpoint, std::string_view secret,
                    std::chrono::system_clock::time_point now, std::chrono::seconds lifetime) {
  const int64_t issued = UnixSeconds(now);
  AmlToken token;
  token.expiry_unix_s = issued + lifetime.count();
  token.refresh_after_unix_s = issued + lifetime.count() / 2;
  const nlohmann::json claims = {
      {"ep", std::string(endpoint)}, {"iat", issued}, {"exp", token.expiry_unix_s}};
  // Endpoint names are validated ASCII; replacing bad UTF-8 keeps dump() from throwing, and
  // such a token then simply fails the endpoint check.
  const std::string claims_b64 = Base64Encode(
      claims.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), Base64Alphabet::kUrl);
  token.access_token =
      claims_b64 + "." + Base64Encode(HmacSha256(secret, claims_b64), Base64Alphabet::kUrl);
  return token;
}

absl::Status VerifyToken(std::string_view token, std::string_view endpoint, std::string_view secret,
                         std::chrono::system_clock::time_point now) {
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) != std::string_view::npos) {
    return MalformedToken();
  }
  const std::string_view claims_b64 = token.substr(0, dot);
  std::optional<std::string> claims_text = Base64Decode(claims_b64, Base64Alphabet::kUrl);
  std::optional<std::string> signature = Base64Decode(token.substr(dot + 1), Base64Alphabet::kUrl);
  if (claims_b64.empty() || !claims_text || !signature || signature->size() != kHmacSize) {
    return MalformedToken();
  }
  // Nothing in the claims is trusted, or even parsed, before the signature checks out.
  if (!ConstantTimeEquals(*signature, HmacSha256(secret, claims_b64))) {
    return absl::UnauthenticatedError("token signature invalid");
  }
  const nlohmann::json claims =
      nlohmann::json::parse(*claims_text, nullptr, /*allow_exceptions=*/false);
  if (!claims.is_object()) return MalformedToken();
  auto ep = claims.find("ep");
  auto exp = claims.find("exp");
  auto iat = claims.find("iat");
  if (ep == claims.end() || !ep->is_string() || exp == claims.end() || !exp->is_number_integer() ||
      iat == claims.end() || !iat->is_number_integer()) {
    return MalformedToken();
  }
  if (ep->get_ref<const std::string&>() != endpoint) {
    return absl::UnauthenticatedError("token is for another endpoint");
  }
  if (UnixSeconds(now) >= exp->get<int64_t>()) {
    return absl::UnauthenticatedError("token expired");
  }
  return absl::OkStatus();
}

}  // namespace berth::auth
