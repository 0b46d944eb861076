#include "http/server.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/errors.h"
#include "http/raw_socket_for_test.h"
#include "spdlog/sinks/base_sink.h"
#include "spdlog/spdlog.h"

namespace berth::http {
namespace {

using ::testing::HasSubstr;
using testing::RawListener;
using testing::RawSocket;
using testing::StatusOf;
using testing::TempSocketDir;

// A server on a loopback port, its io_context on a thread of its own.
class ServerTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options, Handler handler = nullptr) {
    if (!handler) {
      handler = [this](Request& req, const RequestContext&) -> Awaitable<Response> {
        ++handled_;
        co_return MakeResponse(req, bhttp::status::ok, "got " + req.body(), "text/plain");
      };
    }
    options.port = 0;
    unix_socket_ = options.unix_socket;
    server_ = std::make_unique<HttpServer>(io_, std::move(options), std::move(handler));
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    if (server_) OnIo([this] { server_->Stop(); });
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  // Runs `f` on the server's thread and waits for it.
  template <typename F>
  void OnIo(F f) {
    std::promise<void> done;
    asio::post(io_, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

  // A fresh connection to the server, over its Unix socket when it has one.
  RawSocket ConnectClient() {
    return unix_socket_.empty() ? RawSocket::Connect(port_) : RawSocket::ConnectUnix(unix_socket_);
  }

  // Sends `raw` on a fresh connection and returns the answer ("" when none came).
  std::string Exchange(std::string_view raw) {
    RawSocket client = ConnectClient();
    EXPECT_TRUE(client.valid());
    client.Send(raw);
    return client.ReadMessage().value_or("");
  }

  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::string unix_socket_;
  std::atomic<int> handled_{0};
};

void ExpectRefusal(const std::string& answer, int status, std::string_view code) {
  EXPECT_EQ(StatusOf(answer), status) << answer;
  EXPECT_THAT(answer, HasSubstr("Connection: close")) << answer;
  EXPECT_THAT(answer, HasSubstr("\"code\":\"" + std::string(code) + "\"")) << answer;
}

TEST_F(ServerTest, AnswersWellFormedRequestsOnOneConnection) {
  StartServer({});
  RawSocket client = RawSocket::Connect(port_);
  client.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  auto first = client.ReadMessage();
  ASSERT_TRUE(first);
  EXPECT_EQ(StatusOf(*first), 200);
  client.Send(
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  auto second = client.ReadMessage();
  ASSERT_TRUE(second);
  EXPECT_THAT(*second, HasSubstr("got abc"));
}

TEST_F(ServerTest, MalformedRequestLineGets400) {
  StartServer({});
  ExpectRefusal(Exchange("GET /\x01 nonsense\r\n\r\n"), 400, "BadRequest");
}

TEST_F(ServerTest, OversizedHeaderGets431) {
  ServerOptions options;
  options.max_header_bytes = 4096;
  StartServer(options);
  ExpectRefusal(
      Exchange("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n"), 431,
      "RequestHeaderFieldsTooLarge");
}

TEST_F(ServerTest, FinalCodingOtherThanChunkedGets400) {
  StartServer({});
  ExpectRefusal(Exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc"), 400,
                "BadRequest");
  ExpectRefusal(
      Exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
      400, "BadRequest");
  EXPECT_EQ(handled_, 0);
}

TEST_F(ServerTest, ContentLengthWithTransferEncodingGets400) {
  StartServer({});
  ExpectRefusal(Exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                400, "BadRequest");
  ExpectRefusal(Exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         "Content-Length: 5\r\n\r\n0\r\n\r\n"),
                400, "BadRequest");
  ExpectRefusal(Exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
                         "Content-Length: 3\r\n\r\nabc"),
                400, "BadRequest");
  EXPECT_EQ(handled_, 0);
}

TEST_F(ServerTest, UnknownCodingBeforeChunkedGets501) {
  StartServer({});
  ExpectRefusal(Exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                         "0\r\n\r\n"),
                501, "Unsupported");
  ExpectRefusal(Exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                501, "Unsupported");
}

TEST_F(ServerTest, HeaderCheckRefusesBeforeTheBodyIsSent) {
  ServerOptions options;
  std::atomic<int> checked{0};
  options.on_headers = [&](const Request& head,
                           const RequestContext& context) -> std::optional<Response> {
    ++checked;
    EXPECT_FALSE(context.peer.empty());
    if (head.find(bhttp::field::authorization) != head.end()) return std::nullopt;
    return ErrorResponse(head, absl::UnauthenticatedError("no key"));
  };
  StartServer(options);
  // Only the header of a 50 MB body is sent: the answer must come without the body.
  RawSocket client = RawSocket::Connect(port_);
  client.Send("POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n");
  auto answer = client.ReadMessage();
  ASSERT_TRUE(answer) << "no answer before the body was sent";
  ExpectRefusal(*answer, 401, "Unauthorized");
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_EQ(handled_, 0);

  std::string allowed = Exchange(
      "POST /score HTTP/1.1\r\nHost: x\r\nAuthorization: k\r\n"
      "Content-Length: 2\r\n\r\nhi");
  EXPECT_EQ(StatusOf(allowed), 200) << allowed;
  EXPECT_EQ(handled_, 1);
  EXPECT_EQ(checked, 2);
}

TEST_F(ServerTest, ContentLengthOverTheLimitGets413BeforeTheBody) {
  ServerOptions options;
  options.max_body_bytes = 1000;
  StartServer(options);
  RawSocket client = RawSocket::Connect(port_);
  client.Send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
  auto answer = client.ReadMessage();
  ASSERT_TRUE(answer) << "no answer before the body was sent";
  ExpectRefusal(*answer, 413, "PayloadTooLarge");
  EXPECT_EQ(handled_, 0);
}

TEST_F(ServerTest, ChunkedBodyOverTheLimitGets413) {
  ServerOptions options;
  options.max_body_bytes = 10;
  StartServer(options);
  ExpectRefusal(Exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "10\r\n0123456789abcdef\r\n0\r\n\r\n"),
                413, "PayloadTooLarge");
}

TEST_F(ServerTest, ExpectContinueIsAnsweredAfterTheHeaderChecks) {
  StartServer({});
  RawSocket client = RawSocket::Connect(port_);
  client.Send("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  auto go_on = client.ReadMessage();
  ASSERT_TRUE(go_on);
  EXPECT_EQ(StatusOf(*go_on), 100);
  client.Send("abc");
  auto answer = client.ReadMessage();
  ASSERT_TRUE(answer);
  EXPECT_THAT(*answer, HasSubstr("got abc"));
}

TEST_F(ServerTest, ConnectionsOverTheCapGet503) {
  ServerOptions options;
  options.max_connections = 2;
  StartServer(options);
  std::vector<RawSocket> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(RawSocket::Connect(port_));
    held.back().Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(StatusOf(held.back().ReadMessage().value_or("")), 200);
  }
  std::string refused = Exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ExpectRefusal(refused, 503, "ServiceUnavailable");
  EXPECT_THAT(refused, HasSubstr("Retry-After: 1"));

  // Below the cap again once a connection closes.
  held.pop_back();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int status = 0;
  while (status != 200 && std::chrono::steady_clock::now() < deadline) {
    status = StatusOf(Exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  EXPECT_EQ(status, 200);
}

// A handler that answers when the test says so.
struct Gate {
  std::atomic<int> waiting{0};
  std::promise<void> open;
  std::shared_future<void> opened = open.get_future().share();
};

// Shared: the handler may poll it after the test body has returned.
Handler GatedHandler(std::shared_ptr<Gate> gate) {
  return [gate](Request& req, const RequestContext&) -> Awaitable<Response> {
    ++gate->waiting;
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer poll(executor);
    while (gate->opened.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      poll.expires_after(std::chrono::milliseconds(5));
      co_await poll.async_wait(asio::use_awaitable);
    }
    co_return MakeResponse(req, bhttp::status::ok, "done", "text/plain");
  };
}

void WaitFor(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!condition() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(condition());
}

TEST_F(ServerTest, DrainFinishesRequestsInFlightAndRefusesNewConnections) {
  auto gate = std::make_shared<Gate>();
  StartServer({}, GatedHandler(gate));
  RawSocket idle = RawSocket::Connect(port_);
  RawSocket busy = RawSocket::Connect(port_);
  busy.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  WaitFor([&] { return gate->waiting == 1 && server_->open_connections() == 2; });

  std::promise<void> drained;
  auto drained_future = drained.get_future();
  OnIo([&] {
    server_->Drain(std::chrono::steady_clock::now() + std::chrono::seconds(30),
                   [&] { drained.set_value(); });
  });
  EXPECT_TRUE(idle.WaitForClose()) << "an idle keep-alive connection stays open while draining";
  EXPECT_FALSE(RawSocket::Connect(port_).valid()) << "a new connection was accepted";
  EXPECT_EQ(drained_future.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);

  gate->open.set_value();
  auto answer = busy.ReadMessage();
  ASSERT_TRUE(answer);
  EXPECT_EQ(StatusOf(*answer), 200);
  EXPECT_THAT(*answer, HasSubstr("Connection: close"));
  EXPECT_EQ(drained_future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
}

TEST_F(ServerTest, DrainGivesUpAtTheDeadline) {
  auto gate = std::make_shared<Gate>();
  StartServer({}, GatedHandler(gate));
  RawSocket busy = RawSocket::Connect(port_);
  busy.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  WaitFor([&] { return gate->waiting == 1; });
  std::promise<void> drained;
  auto drained_future = drained.get_future();
  OnIo([&] {
    server_->Drain(std::chrono::steady_clock::now() + std::chrono::milliseconds(100),
                   [&] { drained.set_value(); });
  });
  EXPECT_EQ(drained_future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  gate->open.set_value();
}

TEST_F(ServerTest, DrainWithNothingInFlightCompletesAtOnce) {
  StartServer({});
  std::promise<void> drained;
  auto drained_future = drained.get_future();
  OnIo([&] {
    server_->Drain(std::chrono::steady_clock::now() + std::chrono::seconds(30),
                   [&] { drained.set_value(); });
  });
  EXPECT_EQ(drained_future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
}

// Counts log messages instead of printing them.
class CountingSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::atomic<int> messages{0};

 protected:
  void sink_it_(const spdlog::details::log_msg&) override { ++messages; }
  void flush_() override {}
};

double ThreadCpuSeconds(std::thread& thread) {
  clockid_t clock;
  pthread_getcpuclockid(thread.native_handle(), &clock);
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

TEST_F(ServerTest, RunningOutOfDescriptorsNeitherSpinsNorFloodsTheLog) {
  auto sink = std::make_shared<CountingSink>();
  auto previous_logger = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("counting", sink));
  StartServer({});
  // The clients' descriptors exist first; then the process may open no more, and only then
  // do the clients connect: every accept fails, whatever the threads' timing.
  std::vector<RawSocket> clients;
  for (int i = 0; i < 16; ++i) clients.push_back(RawSocket::Unconnected());
  rlimit original{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &original), 0);
  auto open_now = std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                std::filesystem::directory_iterator());
  rlimit low = original;
  low.rlim_cur = static_cast<rlim_t>(open_now - 1);  // the iterator's own descriptor is gone
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  for (auto& client : clients) ASSERT_TRUE(client.ConnectTo(port_));
  WaitFor([&] { return sink->messages > 0; });  // the first "accept failed"
  double cpu_before = ThreadCpuSeconds(thread_);
  int messages_before = sink->messages;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a measurement window
  double cpu = ThreadCpuSeconds(thread_) - cpu_before;
  int messages = sink->messages - messages_before;
  setrlimit(RLIMIT_NOFILE, &original);
  EXPECT_LT(cpu, 0.05) << "the accept loop spins";
  EXPECT_LE(messages, 1) << "the accept loop floods the log";

  // Serves again once descriptors are there.
  clients.clear();
  std::string answer;
  WaitFor([&] {
    answer = Exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    return StatusOf(answer) == 200;
  });
  spdlog::set_default_logger(previous_logger);
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

TEST_F(ServerTest, ServesOnAUnixSocketWithMode0600AndRemovesItWhenStopped) {
  TempSocketDir dir;
  ServerOptions options;
  options.unix_socket = dir.File("http.sock");
  options.private_listener = true;
  std::atomic<bool> seen_private{false};
  StartServer(options, [&](Request& req, const RequestContext& context) -> Awaitable<Response> {
    seen_private = context.private_listener;
    EXPECT_EQ(context.peer, "unix");
    EXPECT_EQ(context.remote_address, "");
    co_return MakeResponse(req, bhttp::status::ok, "got " + req.body(), "text/plain");
  });
  EXPECT_EQ(port_, 0);
  struct stat st;
  ASSERT_EQ(::stat(options.unix_socket.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Keep-alive: two requests on one connection.
  RawSocket client = ConnectClient();
  ASSERT_TRUE(client.valid());
  for (std::string body : {"one", "two"}) {
    client.Send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n" + body);
    auto answer = client.ReadMessage();
    ASSERT_TRUE(answer);
    EXPECT_EQ(StatusOf(*answer), 200);
    EXPECT_THAT(*answer, HasSubstr("got " + body));
  }
  EXPECT_TRUE(seen_private);

  OnIo([this] { server_->Stop(); });
  EXPECT_FALSE(Exists(options.unix_socket));
}

TEST_F(ServerTest, RefusalsOnAUnixSocketComeFromTheHeader) {
  TempSocketDir dir;
  ServerOptions options;
  options.unix_socket = dir.File("http.sock");
  options.max_body_bytes = 1000;
  options.on_headers = [](const Request& head,
                          const RequestContext& context) -> std::optional<Response> {
    // Not marked private: the listener was not.
    if (!context.private_listener && head.target() == "/private") {
      return ErrorResponse(head, absl::PermissionDeniedError("private only"));
    }
    return std::nullopt;
  };
  StartServer(options);
  RawSocket client = ConnectClient();
  client.Send("POST /private HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n");
  auto answer = client.ReadMessage();
  ASSERT_TRUE(answer) << "no answer before the body was sent";
  ExpectRefusal(*answer, 403, "Forbidden");
  ExpectRefusal(Exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"), 413,
                "PayloadTooLarge");
  ExpectRefusal(Exchange("GET /\x01 nonsense\r\n\r\n"), 400, "BadRequest");
  EXPECT_EQ(handled_, 0);
}

TEST_F(ServerTest, DrainOnAUnixSocketRemovesTheSocketFile) {
  TempSocketDir dir;
  ServerOptions options;
  options.unix_socket = dir.File("http.sock");
  StartServer(options);
  std::promise<void> drained;
  OnIo([&] {
    server_->Drain(std::chrono::steady_clock::now() + std::chrono::seconds(30),
                   [&] { drained.set_value(); });
  });
  EXPECT_EQ(drained.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_FALSE(Exists(options.unix_socket));
  EXPECT_FALSE(ConnectClient().valid());
}

TEST(ServerUnixSocketTest, AStaleSocketFileIsReplaced) {
  TempSocketDir dir;
  std::string path = dir.File("http.sock");
  { RawListener stale(path); }  // closed, and its file removed: make one that stays
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr = RawSocket::UnixAddress(path);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);  // the file stays, nobody listens
  ASSERT_TRUE(Exists(path));

  asio::io_context io;
  ServerOptions options;
  options.unix_socket = path;
  HttpServer server(io, options, [](Request& req, const RequestContext&) -> Awaitable<Response> {
    co_return MakeResponse(req, bhttp::status::ok, "", "text/plain");
  });
  auto started = server.Start();
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_TRUE(RawSocket::ConnectUnix(path).valid());
  server.Stop();
  EXPECT_FALSE(Exists(path));
}

TEST(ServerUnixSocketTest, ALiveServerOrAnotherFileIsLeftAlone) {
  TempSocketDir dir;
  asio::io_context io;
  auto handler = [](Request& req, const RequestContext&) -> Awaitable<Response> {
    co_return MakeResponse(req, bhttp::status::ok, "", "text/plain");
  };

  RawListener live(dir.File("live.sock"));
  ServerOptions on_live;
  on_live.unix_socket = dir.File("live.sock");
  HttpServer second(io, on_live, handler);
  auto refused = second.Start();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("another server listens there"));
  EXPECT_TRUE(RawSocket::ConnectUnix(dir.File("live.sock")).valid());

  std::string plain = dir.File("plain");
  std::system(("echo data > '" + plain + "'").c_str());
  ServerOptions on_file;
  on_file.unix_socket = plain;
  HttpServer third(io, on_file, handler);
  auto not_a_socket = third.Start();
  EXPECT_EQ(not_a_socket.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(not_a_socket.status().message(), HasSubstr("not a socket"));
  EXPECT_TRUE(Exists(plain));

  ServerOptions too_long;
  too_long.unix_socket = "/tmp/" + std::string(200, 'x');
  HttpServer fourth(io, too_long, handler);
  EXPECT_EQ(fourth.Start().status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace berth::http
