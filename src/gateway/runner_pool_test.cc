#include "gateway/runner_pool.h"

#include <future>
#include <thread>

#include "gateway/fake_runner_worker_for_test.h"
#include "gateway/runner_frames.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/raw_socket_for_test.h"

namespace berth::gateway::runner {
namespace {

using http::testing::TempSocketDir;
using ::testing::HasSubstr;
namespace asio = http::asio;
namespace bhttp = http::bhttp;

using Reply = FakeRunnerWorker::Reply;

// Polls `condition` until it holds or five seconds pass.
bool Eventually(const std::function<bool()>& condition) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

class RunnerPoolTest : public ::testing::Test {
 protected:
  std::string Socket() const { return dir_.File("worker-0.sock"); }

  // Sends `count` requests one after another through one pool; their answers or errors.
  std::vector<absl::StatusOr<http::Response>> SendMany(
      int count, std::chrono::milliseconds timeout = std::chrono::seconds(5),
      RunnerPoolOptions options = {}) {
    asio::io_context io;
    std::vector<absl::StatusOr<http::Response>> out;
    asio::co_spawn(
        io,
        [&]() -> http::Awaitable<void> {
          RunnerPool pool(co_await asio::this_coro::executor, Socket(), options);
          for (int i = 0; i < count; ++i) {
            http::RequestHead head;
            head.method(bhttp::verb::post);
            head.target("/score");
            head.insert("x-n", std::to_string(i));
            std::string body = "body" + std::to_string(i);
            auto prefix = EncodeRequestPrefix(head, body.size(), {"127.0.0.1", 5000});
            out.push_back(
                co_await pool.Send(*prefix, body, std::chrono::steady_clock::now() + timeout));
          }
        },
        asio::detached);
    io.run();
    return out;
  }

  TempSocketDir dir_;
};

TEST_F(RunnerPoolTest, ExchangesReuseOneConnection) {
  FakeRunnerWorker worker(Socket(), [](const FrameRequest& req) {
    return FakeRunnerWorker::Answer(200, {{"x-echo", req.headers.at(0).second}},
                                    req.method + " " + req.target + " " + req.body);
  });
  auto answers = SendMany(3);
  ASSERT_EQ(answers.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(answers[i].ok()) << answers[i].status();
    EXPECT_EQ(answers[i]->result_int(), 200);
    EXPECT_EQ(answers[i]->body(), "POST /score body" + std::to_string(i));
    EXPECT_EQ((*answers[i])["x-echo"], std::to_string(i));
  }
  EXPECT_EQ(worker.connections(), 1);
  std::vector<FrameRequest> seen = worker.received();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].client.address, "127.0.0.1");
  EXPECT_EQ(seen[0].client.port, 5000);
}

TEST_F(RunnerPoolTest, AConnectionTheWorkerClosedBetweenExchangesIsReplaced) {
  FakeRunnerWorker worker(Socket(), [](const FrameRequest& req) {
    Reply reply = FakeRunnerWorker::Answer(200, {}, req.body);
    reply.close = true;  // either side may close between exchanges
    return reply;
  });
  asio::io_context io;
  RunnerPool pool(io.get_executor(), Socket());
  auto send = [&](std::string body) {
    http::RequestHead head;
    head.method(bhttp::verb::post);
    head.target("/score");
    std::string prefix = *EncodeRequestPrefix(head, body.size(), {});
    auto result = asio::co_spawn(
        io, pool.Send(prefix, body, std::chrono::steady_clock::now() + std::chrono::seconds(5)),
        asio::use_future);
    io.restart();
    io.run();
    return result.get();
  };
  auto first = send("one");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(Eventually([&] { return worker.open_connections() == 0; }));
  auto second = send("two");  // the pooled connection is closed: a fresh one takes it
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->body(), "two");
  EXPECT_EQ(worker.connections(), 2);
  EXPECT_EQ(worker.requests(), 2);
}

TEST_F(RunnerPoolTest, ARequestTheWorkerDiedOnIsNotSentAgain) {
  // The second request kills the worker (it closes without answering, as a crashed or
  // watchdog-killed worker does): it must not be run a second time elsewhere.
  FakeRunnerWorker worker(Socket(), [](const FrameRequest& req) {
    if (req.body == "body1") return Reply{.close = true};
    return FakeRunnerWorker::Answer(200, {}, req.body);
  });
  auto answers = SendMany(2);
  ASSERT_TRUE(answers[0].ok()) << answers[0].status();
  EXPECT_EQ(answers[1].status().code(), absl::StatusCode::kAborted) << answers[1].status();
  EXPECT_THAT(answers[1].status().message(), HasSubstr("closed the connection without answering"));
  EXPECT_EQ(worker.requests(), 2);
}

TEST_F(RunnerPoolTest, NoAnswerByTheDeadlineClosesTheConnection) {
  FakeRunnerWorker worker(Socket(), [](const FrameRequest&) { return Reply{.hold = true}; });
  auto answers = SendMany(1, std::chrono::milliseconds(200));
  EXPECT_EQ(answers[0].status().code(), absl::StatusCode::kDeadlineExceeded) << answers[0].status();
  EXPECT_TRUE(Eventually([&] { return worker.closed_while_held() == 1; }))
      << "the worker never saw the cancel";
}

TEST_F(RunnerPoolTest, NoWorkerIsUnavailable) {
  auto answers = SendMany(1);
  EXPECT_EQ(answers[0].status().code(), absl::StatusCode::kUnavailable) << answers[0].status();
}

TEST_F(RunnerPoolTest, AWorkerThatClosesWithoutAnsweringAborts) {
  FakeRunnerWorker worker(Socket(), [](const FrameRequest&) { return Reply{.close = true}; });
  auto answers = SendMany(1);
  EXPECT_EQ(answers[0].status().code(), absl::StatusCode::kAborted) << answers[0].status();
}

TEST_F(RunnerPoolTest, AMalformedAnswerIsAProtocolErrorAndTheConnectionIsClosed) {
  // Version 2, then a second request that must go on a new connection.
  std::atomic<int> n{0};
  FakeRunnerWorker worker(Socket(), [&](const FrameRequest& req) {
    if (n++ == 0) return Reply{std::string("\0\0\0\5\2\0\xc8\0\0", 9)};
    return FakeRunnerWorker::Answer(200, {}, req.body);
  });
  auto answers = SendMany(2);
  EXPECT_EQ(answers[0].status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(answers[0].status().message(), HasSubstr("protocol error"));
  ASSERT_TRUE(answers[1].ok()) << answers[1].status();
  EXPECT_EQ(worker.connections(), 2);
}

TEST_F(RunnerPoolTest, BytesAfterTheAnswerAreAProtocolError) {
  // One request, one answer: a worker that sends more broke the exchange.
  std::atomic<int> n{0};
  FakeRunnerWorker worker(Socket(), [&](const FrameRequest& req) {
    Reply reply = FakeRunnerWorker::Answer(200, {}, req.body);
    if (n++ == 0) reply.bytes += "extra";
    return reply;
  });
  auto answers = SendMany(2);
  EXPECT_EQ(answers[0].status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(answers[0].status().message(), HasSubstr("after the end of the answer"));
  ASSERT_TRUE(answers[1].ok()) << answers[1].status();
  EXPECT_EQ(worker.connections(), 2);
}

TEST_F(RunnerPoolTest, AnAnswerLargerThanTheFirstReadIsReadWhole) {
  std::string big(100 * 1024, 'x');
  FakeRunnerWorker worker(
      Socket(), [&](const FrameRequest&) { return FakeRunnerWorker::Answer(200, {}, big); });
  auto answers = SendMany(2);
  for (const auto& answer : answers) {
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(answer->body(), big);
  }
  EXPECT_EQ(worker.connections(), 1);
}

TEST_F(RunnerPoolTest, AnAnswerCutShortAborts) {
  FakeRunnerWorker worker(Socket(), [](const FrameRequest&) {
    Reply reply = FakeRunnerWorker::Answer(200, {}, "0123456789");
    reply.bytes.resize(reply.bytes.size() - 3);
    reply.close = true;
    return reply;
  });
  auto answers = SendMany(1);
  EXPECT_EQ(answers[0].status().code(), absl::StatusCode::kAborted) << answers[0].status();
}

TEST_F(RunnerPoolTest, AnswersOverTheLimitAreRefused) {
  // A length announced far over the limit is refused before anything is read or allocated.
  FakeRunnerWorker announcer(
      Socket(), [](const FrameRequest&) { return Reply{std::string("\x7f\xff\xff\xff\x01", 5)}; });
  auto announced = SendMany(1, std::chrono::seconds(5), {.max_response_body_bytes = 1000});
  EXPECT_EQ(announced[0].status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(announced[0].status().message(), HasSubstr("1000 bytes (--max-response-body)"));
}

TEST_F(RunnerPoolTest, ABodyOverTheLimitIsRefused) {
  FakeRunnerWorker worker(Socket(), [](const FrameRequest&) {
    return FakeRunnerWorker::Answer(200, {}, std::string(1001, 'x'));
  });
  auto answers = SendMany(1, std::chrono::seconds(5), {.max_response_body_bytes = 1000});
  EXPECT_EQ(answers[0].status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(RunnerPoolTest, APayloadLengthOverTheProtocolLimitIsAProtocolError) {
  FakeRunnerWorker worker(
      Socket(), [](const FrameRequest&) { return Reply{std::string("\x80\x00\x00\x00", 4)}; });
  auto answers = SendMany(1);
  EXPECT_EQ(answers[0].status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(answers[0].status().message(), HasSubstr("protocol error"));
}

TEST_F(RunnerPoolTest, ProbeRunnerSendsABareGetAndReturnsTheStatus) {
  std::atomic<int> status{503};
  FakeRunnerWorker control(Socket(), [&](const FrameRequest& req) {
    bool bare = req.method == "GET" && req.headers.empty() && req.body.empty();
    return FakeRunnerWorker::Answer(bare && req.target == "/" ? status.load() : 404, {}, "");
  });
  auto probe = [&] {
    asio::io_context io;
    auto result =
        asio::co_spawn(io, ProbeRunner(io.get_executor(), Socket(), "/", std::chrono::seconds(5)),
                       asio::use_future);
    io.run();
    return result.get();
  };
  auto before = probe();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, 503);
  status = 200;
  auto after = probe();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, 200);
}

TEST(RunnerLoadTest, ThreadsShareTheCountsOfOneIncarnation) {
  RunnerLoad load;
  auto a = load.For("/s/worker-0.sock", 1, 2);
  auto b = load.For("/s/worker-0.sock", 1, 2);
  EXPECT_EQ(a, b);
  auto restarted = load.For("/s/worker-0.sock", 2, 2);
  EXPECT_NE(a, restarted);
  a.reset();
  b.reset();
  auto fresh = load.For("/s/worker-0.sock", 1, 2);
  EXPECT_EQ(fresh->in_flight[0].load(), 0);
}

}  // namespace
}  // namespace berth::gateway::runner
