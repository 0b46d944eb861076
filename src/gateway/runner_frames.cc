#include "gateway/runner_frames.h"

#include <array>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace berth::gateway::runner {

namespace bhttp = http::bhttp;

namespace {

void PutU8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
void PutU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}
void PutU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// Reads the fields of one payload front to back; every read checks the bytes left.
class Reader {
 public:
  explicit Reader(std::string_view payload) : rest_(payload) {}

  bool U8(uint8_t& v) {
    if (rest_.size() < 1) return false;
    v = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return true;
  }
  bool U16(uint16_t& v) {
    if (rest_.size() < 2) return false;
    v = static_cast<uint16_t>((Byte(0) << 8) | Byte(1));
    rest_.remove_prefix(2);
    return true;
  }
  bool U32(uint32_t& v) {
    if (rest_.size() < 4) return false;
    v = (Byte(0) << 24) | (Byte(1) << 16) | (Byte(2) << 8) | Byte(3);
    rest_.remove_prefix(4);
    return true;
  }
  bool Bytes(size_t n, std::string_view& out) {
    if (rest_.size() < n) return false;
    out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }
  size_t remaining() const { return rest_.size(); }

 private:
  uint32_t Byte(size_t i) const { return static_cast<uint8_t>(rest_[i]); }
  std::string_view rest_;
};

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError("malformed runner frame: " + std::string(what));
}

// RFC 9110 token characters.
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  static constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        kSpecials.find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// A value that can be written into an HTTP header as it is (no line breaks to smuggle fields).
bool IsFieldValue(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

absl::Status ReadHeaders(Reader& in, Headers& headers) {
  uint16_t count;
  if (!in.U16(count)) return Malformed("header count runs past the payload");
  headers.reserve(count);
  for (uint16_t i = 0; i < count; ++i) {
    uint16_t name_length;
    uint32_t value_length;
    std::string_view name, value;
    if (!in.U16(name_length) || !in.Bytes(name_length, name) || !in.U32(value_length) ||
        !in.Bytes(value_length, value)) {
      return Malformed("header " + std::to_string(i) + " runs past the payload");
    }
    if (!IsToken(name)) return Malformed("header name is not an HTTP token");
    if (!IsFieldValue(value)) {
      return Malformed("value of header '" + std::string(name) + "' has CR, LF or NUL");
    }
    headers.emplace_back(name, value);
  }
  return absl::OkStatus();
}

absl::Status PutHeader(std::string& out, std::string_view name, std::string_view value) {
  if (name.size() > std::numeric_limits<uint16_t>::max()) {
    return absl::InvalidArgumentError("header name over 65535 bytes");
  }
  if (value.size() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("header value over 4 GiB");
  }
  PutU16(out, static_cast<uint16_t>(name.size()));
  out.append(name);
  PutU32(out, static_cast<uint32_t>(value.size()));
  out.append(value);
  return absl::OkStatus();
}

// Writes the payload length into the 4 bytes reserved at the front of `message`.
absl::Status SetLength(std::string& message, size_t body_size) {
  size_t payload = message.size() - kLengthPrefixBytes + body_size;
  if (payload > kMaxPayloadBytes) {
    return absl::InvalidArgumentError("runner frame of " + std::to_string(payload) +
                                      " bytes exceeds the protocol's limit of 2^31-1");
  }
  std::string prefix;
  PutU32(prefix, static_cast<uint32_t>(payload));
  message.replace(0, kLengthPrefixBytes, prefix);
  return absl::OkStatus();
}

}  // namespace

bool IsFramingHeader(std::string_view name) {
  static constexpr std::array<std::string_view, 7> kNames = {
      "connection",     "keep-alive", "transfer-encoding", "te", "upgrade",
      "content-length", "trailer"};
  for (std::string_view n : kNames) {
    if (absl::EqualsIgnoreCase(absl::string_view(name.data(), name.size()),
                               absl::string_view(n.data(), n.size()))) {
      return true;
    }
  }
  return absl::StartsWithIgnoreCase(absl::string_view(name.data(), name.size()), "proxy-");
}

uint32_t ReadLengthPrefix(const char* bytes) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

absl::StatusOr<std::string> EncodeRequestPrefix(const http::RequestHead& head, size_t body_size,
                                                const ClientAddress& client) {
  std::string_view method = head.method_string();
  std::string_view target = head.target();
  if (method.empty() || method.size() > 255) {
    return absl::InvalidArgumentError("method must be 1 to 255 bytes");
  }
  if (target.size() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("request target over 4 GiB");
  }
  if (client.address.size() > 255) {
    return absl::InvalidArgumentError("client address over 255 bytes");
  }
  std::string out(kLengthPrefixBytes, '\0');
  PutU8(out, kVersion);
  PutU8(out, static_cast<uint8_t>(method.size()));
  out.append(method);
  PutU32(out, static_cast<uint32_t>(target.size()));
  out.append(target);
  PutU8(out, static_cast<uint8_t>(client.address.size()));
  out.append(client.address);
  PutU16(out, client.port);
  size_t count_at = out.size();
  PutU16(out, 0);
  size_t count = 0;
  for (const auto& field : head) {
    std::string_view name = field.name_string();
    if (IsFramingHeader(name)) continue;
    if (++count > std::numeric_limits<uint16_t>::max()) {
      return absl::InvalidArgumentError("more than 65535 headers");
    }
    if (absl::Status put = PutHeader(out, name, field.value()); !put.ok()) return put;
  }
  out[count_at] = static_cast<char>(count >> 8);
  out[count_at + 1] = static_cast<char>(count & 0xff);
  if (absl::Status sized = SetLength(out, body_size); !sized.ok()) return sized;
  return out;
}

absl::StatusOr<http::Response> DecodeResponse(std::string payload) {
  Reader in(payload);
  uint8_t version;
  uint16_t status;
  if (!in.U8(version)) return Malformed("empty payload");
  if (version != kVersion) return Malformed("version " + std::to_string(version) + ", not 1");
  if (!in.U16(status)) return Malformed("status runs past the payload");
  if (status < 100 || status > 599) return Malformed("status " + std::to_string(status));
  Headers headers;
  if (absl::Status read = ReadHeaders(in, headers); !read.ok()) return read;
  http::Response res{static_cast<bhttp::status>(status), 11};
  for (auto& [name, value] : headers) {
    if (IsFramingHeader(name)) continue;
    res.insert(name, value);
  }
  // The body is the rest: erase the fields in front of it rather than copy it.
  payload.erase(0, payload.size() - in.remaining());
  res.body() = std::move(payload);
  return res;
}

absl::StatusOr<FrameRequest> DecodeRequest(std::string_view payload) {
  Reader in(payload);
  FrameRequest req;
  uint8_t version, method_length, address_length;
  uint32_t target_length;
  std::string_view method, target, address;
  if (!in.U8(version)) return Malformed("empty payload");
  if (version != kVersion) return Malformed("version " + std::to_string(version) + ", not 1");
  if (!in.U8(method_length) || !in.Bytes(method_length, method)) {
    return Malformed("method runs past the payload");
  }
  if (!in.U32(target_length) || !in.Bytes(target_length, target)) {
    return Malformed("target runs past the payload");
  }
  if (!in.U8(address_length) || !in.Bytes(address_length, address) || !in.U16(req.client.port)) {
    return Malformed("client address runs past the payload");
  }
  if (!IsToken(method)) return Malformed("method is not an HTTP token");
  if (absl::Status read = ReadHeaders(in, req.headers); !read.ok()) return read;
  req.method = method;
  req.target = target;
  req.client.address = address;
  std::string_view body;
  in.Bytes(in.remaining(), body);
  req.body = body;
  return req;
}

absl::StatusOr<std::string> EncodeResponse(int status, const Headers& headers,
                                           std::string_view body) {
  if (status < 100 || status > 599) return absl::InvalidArgumentError("status out of range");
  if (headers.size() > std::numeric_limits<uint16_t>::max()) {
    return absl::InvalidArgumentError("more than 65535 headers");
  }
  std::string out(kLengthPrefixBytes, '\0');
  PutU8(out, kVersion);
  PutU16(out, static_cast<uint16_t>(status));
  PutU16(out, static_cast<uint16_t>(headers.size()));
  for (const auto& [name, value] : headers) {
    if (absl::Status put = PutHeader(out, name, value); !put.ok()) return put;
  }
  if (absl::Status sized = SetLength(out, body.size()); !sized.ok()) return sized;
  out.append(body);
  return out;
}

}  // namespace berth::gateway::runner
