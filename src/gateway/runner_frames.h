#pragma once
// berth runner frames, version 1: how berthd talks to the Python runner's worker processes over
// their Unix sockets (docs/runner-protocol.md). berthd has parsed the client's HTTP request
// already, so the runner gets it as one length-prefixed binary message and answers with one;
// nothing is parsed twice and no HTTP is spoken on the socket.
//
//   message  := u32 payload_length | payload              (big-endian, <= 2^31 - 1)
//   request  := u8 version=1 | u8 method_len | method | u32 target_len | target
//               | u8 remote_addr_len | remote_addr | u16 remote_port
//               | u16 header_count | { u16 name_len | name | u32 value_len | value } | body
//   response := u8 version=1 | u16 status (100..599) | u16 header_count | headers | body
//
// This file is the codec only, pure functions without I/O; runner_pool.h moves the messages.
// Decoding is strict: a field that runs past the payload, a version other than 1, a status
// outside 100..599, or a header that could not be written back as HTTP (a name that is not a
// token, a value with CR, LF or NUL) is a protocol error (INVALID_ARGUMENT), after which the
// connection must be closed.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "http/asio.h"

namespace berth::gateway::runner {

constexpr uint8_t kVersion = 1;
constexpr uint32_t kMaxPayloadBytes = 0x7fffffffu;  // the protocol's own limit
constexpr size_t kLengthPrefixBytes = 4;

using Headers = std::vector<std::pair<std::string, std::string>>;

// The client that sent a request, as berthd saw it: "127.0.0.1" / "::1" and its port; "" and 0
// when unknown (a Unix-socket listener).
struct ClientAddress {
  std::string address;
  uint16_t port = 0;
};

// Headers a frame never carries: the message framing replaces them (RFC 9110 hop-by-hop
// fields, Proxy-*, Content-Length). Case-insensitive.
bool IsFramingHeader(std::string_view name);

// The request message up to its body: the length prefix (counting `body_size`) and every field
// before the body, so the body can be written after it without a copy. Framing headers in
// `head` are left out. INVALID_ARGUMENT when a field does not fit its length (a method over
// 255 bytes, more than 65535 headers, ...) or the payload would exceed kMaxPayloadBytes.
absl::StatusOr<std::string> EncodeRequestPrefix(const http::RequestHead& head, size_t body_size,
                                                const ClientAddress& client);

// The response payload (without its length prefix) as an HTTP/1.1 response: status, the
// headers in their order (framing headers dropped: berthd frames the answer itself) and the
// body. The payload's storage becomes the body's. INVALID_ARGUMENT on a protocol error.
absl::StatusOr<http::Response> DecodeResponse(std::string payload);

// The other side, for tests and tools that play the runner.
struct FrameRequest {
  std::string method;
  std::string target;
  ClientAddress client;
  Headers headers;
  std::string body;
};
absl::StatusOr<FrameRequest> DecodeRequest(std::string_view payload);
// A whole response message, length prefix included.
absl::StatusOr<std::string> EncodeResponse(int status, const Headers& headers,
                                           std::string_view body);

// The payload length announced by a message's first four bytes.
uint32_t ReadLengthPrefix(const char* bytes);

}  // namespace berth::gateway::runner
