#include "http/upstream_pool.h"

#include <future>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/raw_socket_for_test.h"

namespace berth::http {
namespace {

using ::testing::HasSubstr;
using testing::RawListener;
using testing::RawSocket;

// A fake origin that answers one request with `answer` and then reports whether the pool closed
// the connection.
class FakeOrigin {
 public:
  explicit FakeOrigin(std::string answer)
      : thread_([this, answer = std::move(answer)] {
          RawSocket connection = listener_.Accept();
          if (!connection.valid() || !connection.ReadMessage()) return closed_.set_value(false);
          connection.Send(answer);
          closed_.set_value(connection.WaitForClose());
        }) {}
  ~FakeOrigin() { thread_.join(); }
  int port() const { return listener_.port(); }
  bool PoolClosedTheConnection() { return closed_.get_future().get(); }

 private:
  RawListener listener_;
  std::promise<bool> closed_;
  std::thread thread_;
};

absl::StatusOr<Response> SendOne(int port, uint64_t max_response_body_bytes) {
  asio::io_context io;
  UpstreamPool pool(io.get_executor(), "127.0.0.1", port,
                    {.max_response_body_bytes = max_response_body_bytes});
  Request req{bhttp::verb::post, "/score", 11};
  req.body() = "{}";
  auto result = asio::co_spawn(
      io, pool.Send(std::move(req), std::chrono::steady_clock::now() + std::chrono::seconds(5)),
      asio::use_future);
  io.run();
  return result.get();
}

TEST(UpstreamPoolTest, AnswerWithinTheLimitIsReturned) {
  FakeOrigin origin("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  auto answer = SendOne(origin.port(), 5);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->body(), "hello");
  // The pool (destroyed with SendOne) closes its idle connection.
  EXPECT_TRUE(origin.PoolClosedTheConnection());
}

TEST(UpstreamPoolTest, ContentLengthOverTheLimitFailsWithoutReadingTheBody) {
  // Announces 500 MB and sends only a little: the limit must act on the announcement.
  FakeOrigin origin("HTTP/1.1 200 OK\r\nContent-Length: 500000000\r\n\r\n" +
                    std::string(1000, 'x'));
  auto answer = SendOne(origin.port(), 1 << 20);
  ASSERT_EQ(answer.status().code(), absl::StatusCode::kResourceExhausted) << answer.status();
  EXPECT_THAT(answer.status().message(), HasSubstr("1048576 bytes (--max-response-body)"));
  EXPECT_THAT(answer.status().message(), HasSubstr("too large"));
  EXPECT_TRUE(origin.PoolClosedTheConnection());
}

TEST(UpstreamPoolTest, ChunkedAnswerOverTheLimitFails) {
  std::string chunk(4096, 'y');
  std::string answer_text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) answer_text += "1000\r\n" + chunk + "\r\n";
  answer_text += "0\r\n\r\n";
  FakeOrigin origin(answer_text);
  auto answer = SendOne(origin.port(), 10000);
  ASSERT_EQ(answer.status().code(), absl::StatusCode::kResourceExhausted) << answer.status();
  EXPECT_TRUE(origin.PoolClosedTheConnection());
}

}  // namespace
}  // namespace berth::http
