#include "gateway/runner_frames.h"

#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::gateway::runner {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
namespace bhttp = http::bhttp;

// Builds payloads byte by byte, to write malformed ones the encoders would refuse to make.
struct Bytes {
  std::string s;
  Bytes& U8(uint8_t v) {
    s.push_back(static_cast<char>(v));
    return *this;
  }
  Bytes& U16(uint16_t v) { return U8(v >> 8).U8(v & 0xff); }
  Bytes& U32(uint32_t v) { return U16(v >> 16).U16(v & 0xffff); }
  Bytes& Str(std::string_view v) {
    s.append(v);
    return *this;
  }
};

http::RequestHead Head(bhttp::verb method, std::string target) {
  http::RequestHead head;
  head.method(method);
  head.target(target);
  return head;
}

// The payload of a whole message, checking that its prefix counts it exactly.
std::string PayloadOf(const std::string& message) {
  EXPECT_GE(message.size(), kLengthPrefixBytes);
  EXPECT_EQ(ReadLengthPrefix(message.data()), message.size() - kLengthPrefixBytes);
  return message.substr(kLengthPrefixBytes);
}

TEST(RunnerFramesTest, RequestRoundTripsWithItsExactBytes) {
  http::RequestHead head = Head(bhttp::verb::post, "/score?verbose=1&x=%2F");
  head.insert("Content-Type", "application/json");
  head.insert("X-Custom", "a");
  head.insert("x-custom", "b");
  auto prefix = EncodeRequestPrefix(head, 5, {"::1", 4242});
  ASSERT_TRUE(prefix.ok()) << prefix.status();
  std::string message = *prefix + "hello";
  std::string payload = PayloadOf(message);

  Bytes expected;
  expected.U8(1).U8(4).Str("POST").U32(22).Str("/score?verbose=1&x=%2F");
  expected.U8(3).Str("::1").U16(4242).U16(3);
  expected.U16(12).Str("Content-Type").U32(16).Str("application/json");
  expected.U16(8).Str("X-Custom").U32(1).Str("a");
  expected.U16(8).Str("x-custom").U32(1).Str("b");
  expected.Str("hello");
  EXPECT_EQ(payload, expected.s);

  auto decoded = DecodeRequest(payload);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->method, "POST");
  EXPECT_EQ(decoded->target, "/score?verbose=1&x=%2F");
  EXPECT_EQ(decoded->client.address, "::1");
  EXPECT_EQ(decoded->client.port, 4242);
  EXPECT_THAT(decoded->headers, ElementsAre(Pair("Content-Type", "application/json"),
                                            Pair("X-Custom", "a"), Pair("x-custom", "b")));
  EXPECT_EQ(decoded->body, "hello");
}

TEST(RunnerFramesTest, RequestLeavesOutFramingHeaders) {
  http::RequestHead head = Head(bhttp::verb::get, "/");
  for (const char* name :
       {"Connection", "Keep-Alive", "Transfer-Encoding", "TE", "Upgrade", "Proxy-Authorization",
        "proxy-connection", "Content-Length", "Trailer"}) {
    head.insert(name, "x");
  }
  head.insert("Accept", "*/*");
  auto prefix = EncodeRequestPrefix(head, 0, {});
  ASSERT_TRUE(prefix.ok());
  auto decoded = DecodeRequest(PayloadOf(*prefix));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_THAT(decoded->headers, ElementsAre(Pair("Accept", "*/*")));
  EXPECT_EQ(decoded->client.address, "");
  EXPECT_EQ(decoded->client.port, 0);
  EXPECT_EQ(decoded->body, "");
}

TEST(RunnerFramesTest, RequestFieldsThatDoNotFitAreRefused) {
  http::RequestHead head = Head(bhttp::verb::get, "/");
  EXPECT_FALSE(EncodeRequestPrefix(head, 0, {std::string(256, 'a'), 1}).ok());
  http::RequestHead long_method;
  long_method.method_string(std::string(256, 'M'));
  long_method.target("/");
  EXPECT_FALSE(EncodeRequestPrefix(long_method, 0, {}).ok());
  auto too_big = EncodeRequestPrefix(head, kMaxPayloadBytes, {});
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_big.status().message(), HasSubstr("2^31-1"));
}

TEST(RunnerFramesTest, ResponseDecodesStatusHeadersInOrderAndBody) {
  auto message = EncodeResponse(500,
                                {{"Content-Type", "text/plain"},
                                 {"x-ms-run-function-failed", "True"},
                                 {"x-ms-request-id", "abc"},
                                 {"Set-Cookie", "a=1"},
                                 {"Set-Cookie", "b=2"},
                                 {"Content-Length", "999"},
                                 {"Transfer-Encoding", "chunked"},
                                 {"Connection", "close"}},
                                "boom");
  ASSERT_TRUE(message.ok());
  auto res = DecodeResponse(PayloadOf(*message));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->result_int(), 500);
  EXPECT_EQ(res->version(), 11);
  EXPECT_EQ(res->body(), "boom");
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& field : *res) headers.emplace_back(field.name_string(), field.value());
  // Framing headers are berthd's to set, not the runner's.
  EXPECT_THAT(headers,
              ElementsAre(Pair("Content-Type", "text/plain"),
                          Pair("x-ms-run-function-failed", "True"), Pair("x-ms-request-id", "abc"),
                          Pair("Set-Cookie", "a=1"), Pair("Set-Cookie", "b=2")));
}

TEST(RunnerFramesTest, ResponseWithEmptyBodyAndBinaryBody) {
  auto empty = DecodeResponse(PayloadOf(*EncodeResponse(204, {}, "")));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->result_int(), 204);
  EXPECT_EQ(empty->body(), "");
  std::string binary("\0\x01\xff\r\n", 5);
  auto raw = DecodeResponse(PayloadOf(*EncodeResponse(200, {}, binary)));
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->body(), binary);
}

// One payload per way a response can be malformed.
TEST(RunnerFramesTest, MalformedResponsesAreProtocolErrors) {
  struct Case {
    std::string name;
    std::string payload;
  };
  std::vector<Case> cases = {
      {"empty", ""},
      {"version 2", Bytes().U8(2).U16(200).U16(0).s},
      {"version 0", Bytes().U8(0).U16(200).U16(0).s},
      {"status cut", Bytes().U8(1).U8(200).s},
      {"status 99", Bytes().U8(1).U16(99).U16(0).s},
      {"status 600", Bytes().U8(1).U16(600).U16(0).s},
      {"count cut", Bytes().U8(1).U16(200).U8(0).s},
      {"missing header", Bytes().U8(1).U16(200).U16(1).s},
      {"name past end", Bytes().U8(1).U16(200).U16(1).U16(10).Str("abc").s},
      {"value length cut", Bytes().U8(1).U16(200).U16(1).U16(1).Str("a").U16(0).s},
      {"value past end", Bytes().U8(1).U16(200).U16(1).U16(1).Str("a").U32(100).Str("xy").s},
      {"value length huge",
       Bytes().U8(1).U16(200).U16(1).U16(1).Str("a").U32(0xffffffff).Str("xy").s},
      {"empty name", Bytes().U8(1).U16(200).U16(1).U16(0).U32(1).Str("v").s},
      {"name with space", Bytes().U8(1).U16(200).U16(1).U16(3).Str("a b").U32(1).Str("v").s},
      {"name with colon", Bytes().U8(1).U16(200).U16(1).U16(2).Str("a:").U32(1).Str("v").s},
      {"value with CRLF",
       Bytes().U8(1).U16(200).U16(1).U16(1).Str("a").U32(16).Str("x\r\nSet-Cookie: y").s},
      {"value with LF", Bytes().U8(1).U16(200).U16(1).U16(1).Str("a").U32(3).Str("x\ny").s},
      {"value with NUL",
       Bytes().U8(1).U16(200).U16(1).U16(1).Str("a").U32(3).Str(std::string("x\0y", 3)).s},
  };
  for (const Case& c : cases) {
    auto res = DecodeResponse(c.payload);
    EXPECT_EQ(res.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(res.status().message(), HasSubstr("malformed runner frame")) << c.name;
  }
}

TEST(RunnerFramesTest, MalformedRequestsAreProtocolErrors) {
  std::vector<std::string> payloads = {
      "",
      Bytes().U8(2).U8(3).Str("GET").U32(1).Str("/").U8(0).U16(0).U16(0).s,
      Bytes().U8(1).U8(10).Str("GET").s,
      Bytes().U8(1).U8(3).Str("GET").U32(5).Str("/").s,
      Bytes().U8(1).U8(3).Str("GET").U32(1).Str("/").U8(9).Str("1.2").s,
      Bytes().U8(1).U8(3).Str("GET").U32(1).Str("/").U8(0).U8(0).s,
      Bytes().U8(1).U8(3).Str("GET").U32(1).Str("/").U8(0).U16(0).U16(2).U16(1).Str("a").U32(0).s,
      Bytes().U8(1).U8(3).Str("G T").U32(1).Str("/").U8(0).U16(0).U16(0).s,
  };
  for (size_t i = 0; i < payloads.size(); ++i) {
    EXPECT_EQ(DecodeRequest(payloads[i]).status().code(), absl::StatusCode::kInvalidArgument)
        << "payload " << i;
  }
}

// Every cut of a valid payload before its body is a protocol error, never a crash or a read
// past the end (the address sanitizer build would see one); cuts inside the body are shorter
// bodies.
TEST(RunnerFramesTest, EveryTruncationIsRejectedOrShortensTheBody) {
  auto message = EncodeResponse(201, {{"a", "1"}, {"Bee", "twenty two"}}, "body!");
  ASSERT_TRUE(message.ok());
  std::string payload = PayloadOf(*message);
  const size_t body_at = payload.size() - 5;
  for (size_t cut = 0; cut < payload.size(); ++cut) {
    auto res = DecodeResponse(payload.substr(0, cut));
    if (cut < body_at) {
      EXPECT_FALSE(res.ok()) << "cut at " << cut;
    } else {
      ASSERT_TRUE(res.ok()) << "cut at " << cut;
      EXPECT_EQ(res->body(), payload.substr(body_at, cut - body_at));
    }
  }

  http::RequestHead head = Head(bhttp::verb::put, "/x");
  head.insert("k", "v");
  std::string request = PayloadOf(*EncodeRequestPrefix(head, 0, {"10.0.0.1", 80}));
  for (size_t cut = 0; cut < request.size(); ++cut) {
    EXPECT_FALSE(DecodeRequest(request.substr(0, cut)).ok()) << "cut at " << cut;
  }
  EXPECT_TRUE(DecodeRequest(request).ok());
}

// Random bytes and random single-byte corruptions of a valid payload: decoding returns an
// answer or an error and never reads out of bounds.
TEST(RunnerFramesTest, RandomBytesNeverCrashTheDecoders) {
  std::mt19937 random(12345);
  std::string valid = PayloadOf(*EncodeResponse(200, {{"x-a", "1"}, {"x-b", "2"}}, "body"));
  for (int i = 0; i < 20000; ++i) {
    std::string bytes;
    if (i % 2 == 0) {
      bytes.resize(random() % 64);
      for (char& c : bytes) c = static_cast<char>(random());
    } else {
      bytes = valid;
      bytes[random() % bytes.size()] = static_cast<char>(random());
    }
    auto res = DecodeResponse(bytes);
    if (res.ok()) {
      EXPECT_GE(res->result_int(), 100);
      EXPECT_LE(res->result_int(), 599);
    }
    (void)DecodeRequest(bytes);
  }
}

TEST(RunnerFramesTest, ResponseEncoderRefusesWhatTheProtocolCannotCarry) {
  EXPECT_FALSE(EncodeResponse(99, {}, "").ok());
  EXPECT_FALSE(EncodeResponse(600, {}, "").ok());
  EXPECT_FALSE(EncodeResponse(200, {{std::string(70000, 'a'), "v"}}, "").ok());
}

}  // namespace
}  // namespace berth::gateway::runner
