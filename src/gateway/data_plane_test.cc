// The REST data plane over real sockets: a public listener (TCP) and a private one (a Unix
// socket) share one DataPlane, as berthd's --private-listen does; instances are a runner
// reached with frames and an HTTP server on a Unix socket, answering alike.

#include "gateway/data_plane.h"

#include <thread>

#include "gateway/fake_runner_worker_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/raw_socket_for_test.h"
#include "http/server.h"

namespace berth::gateway {
namespace {

using http::testing::RawSocket;
using http::testing::StatusOf;
using http::testing::TempSocketDir;
using runner::FakeRunnerWorker;
using runner::FrameRequest;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
namespace asio = http::asio;
namespace bhttp = http::bhttp;

// What an instance answers, whichever transport reaches it, chosen by the request body.
struct Answer {
  int status;
  runner::Headers headers;
  std::string body;
};
Answer AnswerFor(std::string_view body) {
  if (body == "fail") {
    return {500,
            {{"Content-Type", "application/json"},
             {"x-ms-run-function-failed", "True"},
             {"x-ms-request-id", "rid-1"}},
            R"({"message":"run() failed"})"};
  }
  if (body == "empty") return {204, {{"x-ms-request-id", "rid-2"}}, ""};
  return {200,
          {{"Content-Type", "application/json"},
           {"x-ms-request-id", "rid-3"},
           {"Set-Cookie", "a=1"},
           {"Set-Cookie", "b=2"}},
          "[1, 2]"};
}

// A response as the client saw it: status line, header lines in order, body.
struct Seen {
  int status = 0;
  std::vector<std::string> lines;
  std::string body;
};
Seen Parse(const std::string& message) {
  Seen seen;
  seen.status = StatusOf(message);
  size_t head_end = message.find("\r\n\r\n");
  std::string head = message.substr(0, head_end);
  seen.body = head_end == std::string::npos ? "" : message.substr(head_end + 4);
  size_t at = 0;
  while (at < head.size()) {
    size_t end = std::min(head.find("\r\n", at), head.size());
    seen.lines.push_back(head.substr(at, end - at));
    at = end + 2;
  }
  return seen;
}

class DataPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_plane_.AddThread(io_);
    http::ServerOptions public_options{.host = "127.0.0.1", .port = 0};
    public_options.on_headers = OnHeaders();
    public_ = std::make_unique<http::HttpServer>(io_, public_options, Handler());
    auto port = public_->Start();
    ASSERT_TRUE(port.ok());
    public_port_ = *port;
    http::ServerOptions private_options;
    private_options.unix_socket = dir_.File("berthd-private.sock");
    private_options.private_listener = true;
    private_options.on_headers = OnHeaders();
    private_ = std::make_unique<http::HttpServer>(io_, private_options, Handler());
    ASSERT_TRUE(private_->Start().ok());

    http::ServerOptions origin_options;
    origin_options.unix_socket = dir_.File("http.sock");
    origin_ = std::make_unique<http::HttpServer>(
        io_, origin_options,
        [](http::Request& req, const http::RequestContext&) -> http::Awaitable<http::Response> {
          Answer a = AnswerFor(req.body());
          http::Response res{static_cast<bhttp::status>(a.status), 11};
          for (const auto& [name, value] : a.headers) res.insert(name, value);
          res.body() = a.body;
          res.keep_alive(req.keep_alive());
          res.prepare_payload();
          co_return res;
        });
    ASSERT_TRUE(origin_->Start().ok());
    thread_ = std::thread([this] { io_.run(); });

    auto open = std::make_shared<EndpointRouting>();
    open->name = "open";
    open->primary_key = "k1";
    open->traffic = {{"runner", 100}};
    open->deployments["runner"] = Deployment(
        "runner", [&](InstanceAddress& a) { a.runner_sockets = {dir_.File("worker-0.sock")}; });
    open->deployments["http"] =
        Deployment("http", [&](InstanceAddress& a) { a.http_socket = dir_.File("http.sock"); });
    auto closed = std::make_shared<EndpointRouting>(*open);
    closed->name = "Closed";
    closed->public_network_access = false;
    auto snapshot = std::make_shared<RoutingSnapshot>();
    snapshot->endpoints["open"] = open;
    snapshot->endpoints["closed"] = closed;
    router_.Publish(snapshot);
  }

  void TearDown() override {
    asio::post(io_, [this] {
      public_->Stop();
      private_->Stop();
      origin_->Stop();
    });
    work_.reset();
    io_.stop();
    thread_.join();
  }

  http::HeaderCheck OnHeaders() {
    return [this](const http::Request& head,
                  const http::RequestContext& context) -> std::optional<http::Response> {
      if (!DataPlane::Matches(head.target())) return std::nullopt;
      return data_plane_.CheckHeaders(head, context);
    };
  }
  http::Handler Handler() {
    return [this](http::Request& req, const http::RequestContext& context) {
      return data_plane_.Handle(req, context);
    };
  }

  static std::shared_ptr<DeploymentRouting> Deployment(
      const std::string& name, const std::function<void(InstanceAddress&)>& reach) {
    auto d = std::make_shared<DeploymentRouting>();
    d->name = name;
    d->speaks_oip = true;
    d->routes.scoring_path = "/score";
    d->request_settings.max_concurrent_requests_per_instance = 10;
    d->request_settings.max_queue_wait_ms = 1000;
    d->request_settings.request_timeout_ms = 5000;
    InstanceAddress address;
    address.id = 1;
    address.incarnation = 1;
    reach(address);
    d->ready.push_back(address);
    return d;
  }

  // POST <target> with `body` through the public (TCP) or private (Unix) listener.
  std::string Post(bool via_private, const std::string& target, const std::string& body,
                   std::optional<std::string> key = "k1",
                   std::optional<std::string> deployment = std::nullopt) {
    RawSocket client = via_private ? RawSocket::ConnectUnix(dir_.File("berthd-private.sock"))
                                   : RawSocket::Connect(public_port_);
    EXPECT_TRUE(client.valid());
    std::string request = "POST " + target + " HTTP/1.1\r\nHost: berthd\r\n";
    if (key) request += "Authorization: Bearer " + *key + "\r\n";
    if (deployment) request += "azureml-model-deployment: " + *deployment + "\r\n";
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    client.Send(request);
    return client.ReadMessage().value_or("");
  }

  TempSocketDir dir_;
  FakeRunnerWorker worker_{dir_.File("worker-0.sock"), [](const FrameRequest& req) {
                             if (req.body == "garbage") {
                               return FakeRunnerWorker::Reply{std::string("\0\0\0\1\7", 5)};
                             }
                             Answer a = AnswerFor(req.body);
                             return FakeRunnerWorker::Answer(a.status, a.headers, a.body);
                           }};
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(io_)};
  std::thread thread_;
  DefaultRandom random_{7};
  Metrics metrics_;
  Router router_{SystemClock::Get(), random_, metrics_};
  DataPlane data_plane_{router_, SystemClock::Get()};
  std::unique_ptr<http::HttpServer> public_;
  std::unique_ptr<http::HttpServer> private_;
  std::unique_ptr<http::HttpServer> origin_;
  int public_port_ = 0;
};

TEST_F(DataPlaneTest, ClosedEndpointIsForbiddenOnThePublicListenerOnly) {
  std::string refused = Post(false, "/endpoints/closed/score", "x");
  EXPECT_EQ(StatusOf(refused), 403) << refused;
  EXPECT_EQ(Parse(refused).body,
            R"({"error":{"code":"Forbidden","message":"public network access to endpoint )"
            R"('Closed' is disabled; send requests to berthd's private listener"}})");
  // Refused from the header, like the other header-time refusals.
  EXPECT_THAT(refused, HasSubstr("Connection: close"));

  std::string oip = Post(false, "/endpoints/closed/v2/models/m/infer", "{}");
  EXPECT_EQ(StatusOf(oip), 403) << oip;
  EXPECT_EQ(Parse(oip).body,
            R"({"error":"public network access to endpoint 'Closed' is disabled; send )"
            R"(requests to berthd's private listener"})");

  // Nothing more than a 401 tells to a caller without a valid credential.
  EXPECT_EQ(StatusOf(Post(false, "/endpoints/closed/score", "x", std::nullopt)), 401);
  EXPECT_EQ(StatusOf(Post(false, "/endpoints/closed/score", "x", "wrong")), 401);
  EXPECT_EQ(StatusOf(Post(false, "/endpoints/ghost/score", "x")), 401);

  std::string served = Post(true, "/endpoints/closed/score", "ok");
  EXPECT_EQ(StatusOf(served), 200) << served;
  EXPECT_EQ(Parse(served).body, "[1, 2]");
  // Open endpoints answer on both listeners.
  EXPECT_EQ(StatusOf(Post(false, "/endpoints/open/score", "ok")), 200);
  EXPECT_EQ(StatusOf(Post(true, "/endpoints/open/score", "ok")), 200);
}

TEST_F(DataPlaneTest, TheAnswerNamesTheDeploymentThatServedIt) {
  auto deployment_of = [](const std::string& message) {
    for (const std::string& line : Parse(message).lines) {
      if (line.starts_with("azureml-model-deployment: ")) {
        return line.substr(std::string_view("azureml-model-deployment: ").size());
      }
    }
    return std::string("(none)");
  };
  // By the traffic split (all to "runner"), and by the header.
  EXPECT_EQ(deployment_of(Post(false, "/endpoints/open/score", "ok")), "runner");
  EXPECT_EQ(deployment_of(Post(false, "/endpoints/open/score", "ok", "k1", "http")), "http");
  // A model's failure is still the deployment's answer.
  std::string failed = Post(false, "/endpoints/open/score", "fail", "k1", "http");
  EXPECT_EQ(StatusOf(failed), 424) << failed;
  EXPECT_EQ(deployment_of(failed), "http");
  // No deployment answered an unknown one.
  std::string unknown = Post(false, "/endpoints/open/score", "ok", "k1", "ghost");
  EXPECT_EQ(StatusOf(unknown), 404) << unknown;
  EXPECT_EQ(deployment_of(unknown), "(none)");
}

TEST_F(DataPlaneTest, RunnerFramesAndHttpGiveTheClientTheSameResponse) {
  for (std::string body : {"ok", "fail", "empty"}) {
    Seen via_runner = Parse(Post(false, "/endpoints/open/score", body, "k1", "runner"));
    Seen via_http = Parse(Post(false, "/endpoints/open/score", body, "k1", "http"));
    auto drop_deployment = [](std::vector<std::string> lines) {
      std::erase_if(
          lines, [](const std::string& l) { return l.starts_with("azureml-model-deployment:"); });
      return lines;
    };
    EXPECT_EQ(via_runner.status, via_http.status) << body;
    EXPECT_THAT(drop_deployment(via_runner.lines),
                ElementsAreArray(drop_deployment(via_http.lines)))
        << body;
    EXPECT_EQ(via_runner.body, via_http.body) << body;
  }
  // Azure's rule on /score holds for both: a model's 500 is a 424 naming it.
  std::string failed = Post(false, "/endpoints/open/score", "fail", "k1", "runner");
  EXPECT_EQ(StatusOf(failed), 424) << failed;
  EXPECT_THAT(failed, HasSubstr("ms-azureml-model-error-statuscode: 500"));
  EXPECT_THAT(failed, HasSubstr("ms-azureml-model-error-reason: Internal Server Error"));
  EXPECT_THAT(failed, HasSubstr("x-ms-run-function-failed: True"));
  EXPECT_THAT(failed, HasSubstr("x-ms-request-id: rid-1"));
}

TEST_F(DataPlaneTest, RunnersSeeTheClientAddressAndProtocolErrorsAre502) {
  ASSERT_EQ(StatusOf(Post(false, "/endpoints/open/score", "ok")), 200);
  ASSERT_EQ(StatusOf(Post(true, "/endpoints/open/score", "ok")), 200);
  std::vector<FrameRequest> seen = worker_.received();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].client.address, "127.0.0.1");
  EXPECT_NE(seen[0].client.port, 0);
  EXPECT_EQ(seen[1].client.address, "");  // the private listener is a Unix socket
  EXPECT_EQ(seen[1].client.port, 0);
  EXPECT_EQ(seen[0].target, "/score");

  std::string broken = Post(false, "/endpoints/open/score", "garbage");
  EXPECT_EQ(StatusOf(broken), 502) << broken;
  EXPECT_THAT(broken, HasSubstr("protocol error"));
}

// berthd's handler awaits Handle(req) inside its own coroutine; the one-argument form is a
// public listener without a client address.
TEST_F(DataPlaneTest, HandleWithoutContextIsAPublicRequest) {
  auto handle = [this](std::string endpoint) {
    auto result = asio::co_spawn(
        io_,
        [this, endpoint]() -> http::Awaitable<int> {
          http::Request req{bhttp::verb::post, "/endpoints/" + endpoint + "/score", 11};
          req.set(bhttp::field::authorization, "Bearer k1");
          req.body() = "ok";
          http::Response res = co_await data_plane_.Handle(req);
          co_return res.result_int();
        },
        asio::use_future);
    return result.get();
  };
  EXPECT_EQ(handle("open"), 200);
  EXPECT_EQ(handle("closed"), 403);
  EXPECT_EQ(worker_.received().back().client.address, "");
}

}  // namespace
}  // namespace berth::gateway
