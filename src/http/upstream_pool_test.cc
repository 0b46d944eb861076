#include "http/upstream_pool.h"

#include <future>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/raw_socket_for_test.h"
#include "http/server.h"

namespace berth::http {
namespace {

using ::testing::HasSubstr;
using testing::RawListener;
using testing::RawSocket;
using testing::TempSocketDir;

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
  UpstreamPool pool(io.get_executor(), Origin::Tcp("127.0.0.1", port),
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

// Runs `body` (a coroutine returning T) on a fresh io_context and returns what it returned.
template <typename T, typename F>
T RunOnIo(F body) {
  asio::io_context io;
  auto result = asio::co_spawn(io, body(io.get_executor()), asio::use_future);
  io.run();
  return result.get();
}

Request Post(std::string body) {
  Request req{bhttp::verb::post, "/score", 11};
  req.body() = std::move(body);
  return req;
}

SteadyTime In(std::chrono::milliseconds ms) { return std::chrono::steady_clock::now() + ms; }

TEST(UpstreamPoolUnixTest, KeepAliveConnectionIsReused) {
  TempSocketDir dir;
  std::string path = dir.File("origin.sock");
  RawListener listener(path);
  // Accepts one connection only and answers two requests on it: a second connection would
  // never be answered.
  std::promise<std::vector<std::string>> seen;
  std::thread origin([&] {
    std::vector<std::string> requests;
    RawSocket connection = listener.Accept();
    for (int i = 0; i < 2 && connection.valid(); ++i) {
      auto request = connection.ReadMessage();
      if (!request) break;
      requests.push_back(*request);
      connection.Send("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok" + std::to_string(i));
    }
    seen.set_value(requests);
    connection.WaitForClose();
  });
  auto answers = RunOnIo<std::vector<std::string>>(
      [&](asio::any_io_executor executor) -> Awaitable<std::vector<std::string>> {
        UpstreamPool pool(executor, Origin::Unix(path));
        std::vector<std::string> out;
        for (int i = 0; i < 2; ++i) {
          auto answer = co_await pool.Send(Post("x"), In(std::chrono::seconds(5)));
          out.push_back(answer.ok() ? answer->body() : answer.status().ToString());
        }
        co_return out;
      });
  origin.join();
  EXPECT_THAT(answers, ::testing::ElementsAre("ok0", "ok1"));
  std::vector<std::string> requests = seen.get_future().get();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_THAT(requests[0], HasSubstr("POST /score HTTP/1.1"));
}

TEST(UpstreamPoolUnixTest, NoAnswerByTheDeadlineClosesTheConnection) {
  TempSocketDir dir;
  std::string path = dir.File("origin.sock");
  RawListener listener(path);
  std::promise<bool> closed;
  std::thread origin([&] {
    RawSocket connection = listener.Accept();
    bool read = connection.valid() && connection.ReadMessage().has_value();
    closed.set_value(read && connection.WaitForClose());  // never answers
  });
  auto answer = RunOnIo<absl::StatusOr<Response>>(
      [&](asio::any_io_executor executor) -> Awaitable<absl::StatusOr<Response>> {
        UpstreamPool pool(executor, Origin::Unix(path));
        co_return co_await pool.Send(Post("x"), In(std::chrono::milliseconds(200)));
      });
  origin.join();
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kDeadlineExceeded) << answer.status();
  EXPECT_TRUE(closed.get_future().get()) << "the pool kept the connection open";
}

TEST(UpstreamPoolUnixTest, MissingSocketIsUnavailable) {
  TempSocketDir dir;
  auto answer = RunOnIo<absl::StatusOr<Response>>(
      [&](asio::any_io_executor executor) -> Awaitable<absl::StatusOr<Response>> {
        UpstreamPool pool(executor, Origin::Unix(dir.File("nobody.sock")));
        co_return co_await pool.Send(Post("x"), In(std::chrono::seconds(5)));
      });
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable) << answer.status();
  EXPECT_THAT(answer.status().message(), HasSubstr("unix:" + dir.File("nobody.sock")));
}

// The server and the pool together, over a Unix socket: requests and answers round trip and
// the server sees the listener's mark.
TEST(UpstreamPoolUnixTest, RoundTripsThroughHttpServer) {
  TempSocketDir dir;
  asio::io_context server_io(1);
  ServerOptions options;
  options.unix_socket = dir.File("server.sock");
  options.private_listener = true;
  HttpServer server(
      server_io, options, [](Request& req, const RequestContext& context) -> Awaitable<Response> {
        co_return MakeResponse(req, bhttp::status::ok,
                               req.body() + (context.private_listener ? " private" : " public"),
                               "text/plain");
      });
  ASSERT_TRUE(server.Start().ok());
  std::thread server_thread([&] { server_io.run(); });

  auto answers = RunOnIo<std::vector<std::string>>(
      [&](asio::any_io_executor executor) -> Awaitable<std::vector<std::string>> {
        UpstreamPool pool(executor, Origin::Unix(options.unix_socket));
        std::vector<std::string> out;
        for (std::string body : {"a", "b", "c"}) {
          auto answer = co_await pool.Send(Post(body), In(std::chrono::seconds(5)));
          out.push_back(answer.ok() ? answer->body() : answer.status().ToString());
        }
        auto probe = co_await ProbeGet(executor, Origin::Unix(options.unix_socket), "/ready",
                                       std::chrono::seconds(5));
        out.push_back(probe.ok() ? std::to_string(*probe) : probe.status().ToString());
        co_return out;
      });
  EXPECT_THAT(answers, ::testing::ElementsAre("a private", "b private", "c private", "200"));
  asio::post(server_io, [&] {
    server.Stop();
    server_io.stop();
  });
  server_thread.join();
}

TEST(UpstreamPoolTest, ProbeGetOverTcpReturnsTheStatus) {
  FakeOrigin origin("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
  auto status = RunOnIo<absl::StatusOr<int>>(
      [&](asio::any_io_executor executor) -> Awaitable<absl::StatusOr<int>> {
        co_return co_await ProbeGet(executor, Origin::Tcp("127.0.0.1", origin.port()), "/",
                                    std::chrono::seconds(5));
      });
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, 503);
  EXPECT_TRUE(origin.PoolClosedTheConnection());
}

}  // namespace
}  // namespace berth::http
