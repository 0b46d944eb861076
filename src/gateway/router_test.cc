#include "gateway/router.h"

#include <mutex>
#include <optional>
#include <vector>

#include "gateway/fake_instance_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/upstream_pool.h"

namespace berth::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace asio = http::asio;

std::shared_ptr<DeploymentRouting> Deployment(const std::string& name,
                                              std::vector<InstanceAddress> ready,
                                              int max_concurrent = 10, bool oip = false) {
  auto d = std::make_shared<DeploymentRouting>();
  d->name = name;
  d->request_settings.max_concurrent_requests_per_instance = max_concurrent;
  d->request_settings.max_queue_wait_ms = 60000;
  d->request_settings.request_timeout_ms = 2000;
  d->speaks_oip = oip;
  d->ready = std::move(ready);
  return d;
}

InstanceAddress At(int64_t id, int port, int grpc_port = 0) {
  return {id, static_cast<uint64_t>(port), "127.0.0.1", port, grpc_port};
}

class RouterTest : public ::testing::Test {
 protected:
  // Endpoint "ep" (keys k1, k2) with deployments Blue (ports 1001, 1002) and green (2001).
  void Publish(std::map<std::string, int> traffic, std::map<std::string, int> mirror = {},
               int blue_concurrency = 10) {
    auto ep = std::make_shared<EndpointRouting>();
    ep->name = "ep";
    ep->primary_key = "k1";
    ep->secondary_key = "k2";
    ep->token_secret = "secret";
    ep->traffic = std::move(traffic);
    ep->mirror_traffic = std::move(mirror);
    ep->deployments["blue"] = Deployment("Blue", {At(1, 1001), At(2, 1002)}, blue_concurrency);
    ep->deployments["green"] = Deployment("green", {At(1, 2001)});
    auto snapshot = std::make_shared<RoutingSnapshot>();
    snapshot->endpoints["ep"] = ep;
    endpoint_ = ep;
    router_.Publish(snapshot);
  }

  RouteRequest Request(std::optional<std::string> key = "k1",
                       std::optional<std::string> deployment = std::nullopt) {
    RouteRequest r;
    r.endpoint = "ep";
    if (key) r.authorization = "Bearer " + *key;
    r.deployment = std::move(deployment);
    return r;
  }

  // Starts a route; the result appears once the io_context ran far enough.
  std::shared_ptr<std::optional<RouteResult>> Start(RouteRequest request,
                                                    std::shared_ptr<FakeCall> call) {
    auto out = std::make_shared<std::optional<RouteResult>>();
    asio::co_spawn(
        io_,
        [this, request, call, out]() -> http::Awaitable<void> {
          *out = co_await router_.Route(request, *call, client_);
        },
        asio::detached);
    Poll();
    return out;
  }

  RouteResult Route(RouteRequest request, std::shared_ptr<FakeCall> call = nullptr) {
    if (!call) call = std::make_shared<FakeCall>("body");
    auto out = Start(std::move(request), call);
    for (int i = 0; i < 1000 && !out->has_value(); ++i) {
      io_.restart();
      io_.run_one_for(std::chrono::seconds(1));
    }
    EXPECT_TRUE(out->has_value());
    last_call_ = call;
    return out->value_or(RouteResult{Outcome::kCancelled, "did not finish", "", ""});
  }

  // Runs what is ready to run.
  void Poll() {
    io_.restart();
    io_.poll();
  }

  void PollUntil(const std::function<bool()>& done) {
    for (int i = 0; i < 1000 && !done(); ++i) {
      io_.restart();
      io_.run_one_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(done());
  }

  asio::io_context io_;
  ManualClock clock_;
  FixedRandom random_;
  Metrics metrics_;
  Router router_{clock_, random_, metrics_};
  FakeInstanceClient client_{io_.get_executor()};
  std::shared_ptr<EndpointRouting> endpoint_;
  std::shared_ptr<FakeCall> last_call_;
};

TEST_F(RouterTest, SplitPicksByTheRandomDraw) {
  Publish({{"Blue", 30}, {"green", 70}});
  random_.value = 29;  // [0, 30) is Blue
  RouteResult r = Route(Request());
  EXPECT_EQ(r.outcome, Outcome::kAnswered);
  EXPECT_EQ(r.deployment, "Blue");
  EXPECT_EQ(last_call_->bound_to, "Blue");
  random_.value = 30;
  r = Route(Request());
  EXPECT_EQ(r.deployment, "green");
  EXPECT_EQ(last_call_->answered_by, "green#1");
}

TEST_F(RouterTest, HeaderNamesAnyDeploymentCaseInsensitively) {
  Publish({{"Blue", 100}});
  RouteResult r = Route(Request("k1", "GREEN"));
  EXPECT_EQ(r.outcome, Outcome::kAnswered);
  EXPECT_EQ(r.deployment, "green");
  r = Route(Request("k1", "blue"));
  EXPECT_EQ(r.deployment, "Blue");
  r = Route(Request("k1", "red"));
  EXPECT_EQ(r.outcome, Outcome::kNotFound);
  EXPECT_THAT(r.message, HasSubstr("deployment 'red' not found"));
}

TEST_F(RouterTest, NoTrafficIsNotFound) {
  Publish({});
  RouteResult r = Route(Request());
  EXPECT_EQ(r.outcome, Outcome::kNotFound);
  EXPECT_THAT(r.message, HasSubstr("no deployment with positive traffic"));
  EXPECT_TRUE(client_.sent.empty());
}

TEST_F(RouterTest, CredentialsAreCheckedAndNamesCannotBeProbed) {
  Publish({{"Blue", 100}});
  EXPECT_EQ(Route(Request(std::nullopt)).outcome, Outcome::kUnauthenticated);
  EXPECT_EQ(Route(Request("k2")).outcome, Outcome::kAnswered);
  RouteResult wrong = Route(Request("nope"));
  RouteRequest unknown = Request("nope");
  unknown.endpoint = "other";
  RouteResult missing = Route(unknown);
  EXPECT_EQ(wrong.outcome, Outcome::kUnauthenticated);
  EXPECT_EQ(missing.outcome, Outcome::kUnauthenticated);
  // The same words but the name the caller gave: nothing tells the two apart.
  EXPECT_EQ(missing.message, "no valid key or token for endpoint 'other'");
  EXPECT_EQ(wrong.message, "no valid key or token for endpoint 'ep'");
  EXPECT_TRUE(router_.CheckAccess("EP", std::string("Bearer k1")).ok());
  EXPECT_TRUE(absl::IsUnauthenticated(router_.CheckAccess("other", std::string("Bearer k1"))));
  EXPECT_EQ(client_.sent.size(), 1u);
}

TEST_F(RouterTest, ClosedToPublicNetworkAccessServesOnlyThePrivateListener) {
  Publish({{"Blue", 100}});
  auto closed = std::make_shared<EndpointRouting>(*endpoint_);
  closed->public_network_access = false;
  auto snapshot = std::make_shared<RoutingSnapshot>();
  snapshot->endpoints["ep"] = closed;
  router_.Publish(snapshot);

  // After the credential: a caller who may not use the endpoint learns nothing new.
  EXPECT_EQ(Route(Request(std::nullopt)).outcome, Outcome::kUnauthenticated);
  EXPECT_EQ(Route(Request("nope")).outcome, Outcome::kUnauthenticated);
  RouteResult refused = Route(Request("k1"));
  EXPECT_EQ(refused.outcome, Outcome::kForbidden);
  EXPECT_EQ(refused.message,
            "public network access to endpoint 'ep' is disabled; send requests to berthd's "
            "private listener");
  EXPECT_TRUE(client_.sent.empty());

  RouteRequest private_request = Request("k1");
  private_request.private_listener = true;
  EXPECT_EQ(Route(private_request).outcome, Outcome::kAnswered);
  EXPECT_EQ(client_.sent.size(), 1u);

  EXPECT_TRUE(absl::IsPermissionDenied(router_.CheckAccess("ep", std::string("Bearer k1"))));
  EXPECT_TRUE(router_.CheckAccess("ep", std::string("Bearer k1"), /*private_listener=*/true).ok());
  EXPECT_TRUE(absl::IsUnauthenticated(router_.CheckAccess("ep", std::string("Bearer nope"))));
  EXPECT_TRUE(absl::IsUnauthenticated(router_.CheckAccess("ghost", std::string("Bearer k1"))));
  // Open endpoints are served on both listeners.
  Publish({{"Blue", 100}});
  EXPECT_TRUE(router_.CheckAccess("ep", std::string("Bearer k1")).ok());
  EXPECT_TRUE(router_.CheckAccess("ep", std::string("Bearer k1"), true).ok());
}

TEST_F(RouterTest, WithoutRequiredCredentialsUnknownEndpointsAreNotFound) {
  Router open(clock_, random_, metrics_, RouterOptions{.require_credentials = false});
  auto ep = std::make_shared<EndpointRouting>();
  ep->name = "ep";
  ep->traffic = {{"Blue", 100}};
  ep->deployments["blue"] = Deployment("Blue", {At(1, 1001)});
  auto snapshot = std::make_shared<RoutingSnapshot>();
  snapshot->endpoints["ep"] = ep;
  open.Publish(snapshot);
  EXPECT_TRUE(open.CheckAccess("ep", std::nullopt).ok());
  EXPECT_TRUE(absl::IsNotFound(open.CheckAccess("other", std::nullopt)));
}

TEST_F(RouterTest, LabelsComeOnlyFromAuthenticatedEndpoints) {
  Publish({{"Blue", 100}});
  for (int i = 0; i < 50; ++i) {
    RouteRequest r = Request("nope");
    r.endpoint = "probe-" + std::to_string(i);
    router_.Record(Route(r), {.status = 401, .arrival = clock_.Now()});
  }
  router_.Record(Route(Request()), {.status = 200, .arrival = clock_.Now()});
  std::string text = metrics_.RenderPrometheus();
  EXPECT_THAT(text, Not(HasSubstr("probe-")));
  EXPECT_THAT(text, HasSubstr("endpoint=\"ep\",deployment=\"Blue\""));
}

TEST_F(RouterTest, DeadlineCountsFromArrivalAndOutcomesAreClassified) {
  Publish({{"Blue", 100}});
  SteadyTime arrival = clock_.Now();
  EXPECT_EQ(Route(Request()).outcome, Outcome::kAnswered);
  ASSERT_EQ(client_.sent.size(), 1u);
  EXPECT_EQ(client_.sent[0].deadline, arrival + std::chrono::milliseconds(2000));

  client_.Fail(1001, absl::DeadlineExceededError("slow"));
  client_.Fail(1002, absl::DeadlineExceededError("slow"));
  RouteResult r = Route(Request());
  EXPECT_EQ(r.outcome, Outcome::kTimedOut);
  EXPECT_THAT(r.message, HasSubstr("request_timeout_ms (2000 ms)"));
  client_.Fail(1001, absl::UnavailableError("refused"));
  client_.Fail(1002, absl::UnavailableError("refused"));
  EXPECT_EQ(Route(Request()).outcome, Outcome::kUpstreamFailed);
  // Both were found dead: passed over until republished or a second has passed.
  EXPECT_EQ(Route(Request()).outcome, Outcome::kUnavailable);
  clock_.Advance(std::chrono::seconds(2));
  client_.Fail(1001, absl::ResourceExhaustedError("too big"));
  client_.Fail(1002, absl::ResourceExhaustedError("too big"));
  EXPECT_EQ(Route(Request()).outcome, Outcome::kResponseTooLarge);
  client_.Fail(1001, absl::CancelledError("gone"));
  client_.Fail(1002, absl::CancelledError("gone"));
  EXPECT_EQ(Route(Request()).outcome, Outcome::kCancelled);
  EXPECT_EQ(router_.GateForTest("ep", "Blue")->running(), 0);
}

TEST_F(RouterTest, NoReadyInstanceAndProtocolMismatch) {
  auto ep = std::make_shared<EndpointRouting>();
  ep->name = "ep";
  ep->primary_key = "k1";
  ep->traffic = {{"empty", 100}};
  ep->deployments["empty"] = Deployment("empty", {});
  ep->deployments["rest"] = Deployment("rest", {At(1, 3001)});
  ep->deployments["native"] = Deployment("native", {At(1, 4001, 0)}, 10, /*oip=*/true);
  auto snapshot = std::make_shared<RoutingSnapshot>();
  snapshot->endpoints["ep"] = ep;
  router_.Publish(snapshot);
  RouteResult r = Route(Request());
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_THAT(r.message, HasSubstr("no ready instance"));
  RouteRequest infer = Request("k1", "rest");
  infer.kind = CallKind::kInfer;
  r = Route(infer);
  EXPECT_EQ(r.outcome, Outcome::kNotFound);
  EXPECT_THAT(r.message, HasSubstr("Open Inference Protocol"));
  RouteRequest grpc = Request("k1", "native");
  grpc.kind = CallKind::kInfer;
  grpc.needs_grpc = true;
  r = Route(grpc);
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_THAT(r.message, HasSubstr("gRPC"));
  EXPECT_TRUE(client_.sent.empty());
}

TEST_F(RouterTest, AdmissionQueuesThenRejectsAndLeavesNothingTaken) {
  Publish({{"Blue", 100}}, {}, /*blue_concurrency=*/1);  // 2 instances x 1 = 2 running
  client_.Hold(1001);
  client_.Hold(1002);
  std::vector<std::shared_ptr<std::optional<RouteResult>>> pending;
  for (int i = 0; i < 4; ++i) pending.push_back(Start(Request(), std::make_shared<FakeCall>("x")));
  auto gate = router_.GateForTest("ep", "Blue");
  EXPECT_EQ(gate->running(), 2);
  EXPECT_EQ(gate->waiting(), 2);
  // Two running and two waiting fill 2 x concurrency: the next is rejected at once.
  RouteResult rejected = Route(Request());
  EXPECT_EQ(rejected.outcome, Outcome::kRejected);
  EXPECT_THAT(rejected.message, HasSubstr("Too many pending requests"));
  // The least-loaded rule spread the running two over both instances.
  ASSERT_EQ(client_.sent.size(), 2u);
  EXPECT_NE(client_.sent[0].instance.port, client_.sent[1].instance.port);
  EXPECT_EQ(router_.InFlight("ep", "blue", 1) + router_.InFlight("ep", "BLUE", 2), 2);
  client_.ReleaseHeld();
  PollUntil([&] {
    for (auto& p : pending) {
      if (!p->has_value()) return false;
    }
    return true;
  });
  for (auto& p : pending) EXPECT_EQ((*p)->outcome, Outcome::kAnswered);
  EXPECT_EQ(gate->running(), 0);
  EXPECT_EQ(gate->waiting(), 0);
  EXPECT_EQ(router_.InFlight("ep", "Blue", 1), 0);
}

TEST_F(RouterTest, MirrorCopiesSplitRoutedRequestsOnly) {
  Publish({{"Blue", 100}}, {{"green", 50}});
  random_.value = 10;  // Blue, and 10 % 100 < 50 mirrors
  RouteResult r = Route(Request());
  EXPECT_EQ(r.deployment, "Blue");
  PollUntil([&] { return client_.sent.size() == 2; });
  int mirrored = 0;
  for (const auto& s : client_.sent) {
    if (s.mirrored) {
      ++mirrored;
      EXPECT_EQ(s.bound_to, "green");
      EXPECT_EQ(s.instance.port, 2001);
    }
  }
  EXPECT_EQ(mirrored, 1);
  PollUntil([&] {
    return metrics_.RenderPrometheus().find("deployment=\"green\",result=\"sent\"} 1") !=
           std::string::npos;
  });
  // Named by the header: never mirrored.
  client_.sent.clear();
  Route(Request("k1", "Blue"));
  Poll();
  EXPECT_EQ(client_.sent.size(), 1u);
  random_.value = 60;  // 60 % 100 >= 50: not mirrored
  Route(Request());
  Poll();
  EXPECT_EQ(client_.sent.size(), 2u);
}

TEST_F(RouterTest, StaleMirrorCopiesAreDroppedNotSentLate) {
  // green serves one request at a time: the first copy holds it, the next ones wait.
  auto ep = std::make_shared<EndpointRouting>();
  ep->name = "ep";
  ep->primary_key = "k1";
  ep->traffic = {{"Blue", 100}};
  ep->mirror_traffic = {{"green", 50}};
  ep->deployments["blue"] = Deployment("Blue", {At(1, 1001)});
  ep->deployments["green"] = Deployment("green", {At(1, 2001)}, /*max_concurrent=*/1);
  auto snapshot = std::make_shared<RoutingSnapshot>();
  snapshot->endpoints["ep"] = ep;
  router_.Publish(snapshot);
  client_.Hold(2001);
  random_.value = 0;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Route(Request()).outcome, Outcome::kAnswered);
  EXPECT_EQ(router_.MirrorQueueForTest("ep", "green"), std::make_pair(size_t{2}, 1));
  clock_.Advance(std::chrono::milliseconds(2001));  // older than request_timeout_ms
  client_.ReleaseHeld();
  PollUntil([&] { return router_.MirrorQueueForTest("ep", "green").second == 0; });
  EXPECT_EQ(router_.MirrorQueueForTest("ep", "green").first, 0u);
  int copies = 0;
  for (const auto& s : client_.sent) copies += s.mirrored ? 1 : 0;
  EXPECT_EQ(copies, 1);  // the two stale ones were never sent
  EXPECT_THAT(metrics_.RenderPrometheus(), HasSubstr("deployment=\"green\",result=\"expired\"} 2"));
}

TEST_F(RouterTest, RepublishingKeepsRuntimeAndReleasesGoneInstances) {
  Publish({{"Blue", 100}});
  auto gate = router_.GateForTest("ep", "Blue");
  router_.AddClient(&client_);
  // The same endpoint object: nothing is rebuilt.
  auto same = std::make_shared<RoutingSnapshot>(*router_.Snapshot());
  router_.Publish(same);
  EXPECT_EQ(router_.GateForTest("ep", "Blue"), gate);
  EXPECT_TRUE(client_.released.empty());
  // Blue loses instance 2: its gate survives, the instance is released.
  auto ep = std::make_shared<EndpointRouting>(*endpoint_);
  ep->deployments["blue"] = Deployment("Blue", {At(1, 1001)});
  auto next = std::make_shared<RoutingSnapshot>();
  next->endpoints["ep"] = ep;
  router_.Publish(next);
  EXPECT_EQ(router_.GateForTest("ep", "Blue"), gate);
  ASSERT_EQ(client_.released.size(), 1u);
  EXPECT_EQ(client_.released[0].port, 1002);
  // The endpoint goes away: every instance left is released.
  router_.Publish(std::make_shared<RoutingSnapshot>());
  EXPECT_EQ(client_.released.size(), 3u);
  EXPECT_EQ(router_.GateForTest("ep", "Blue"), nullptr);
  router_.RemoveClient(&client_);
}

// ------------------------------------------------------------------ crash retry and waiting

class RecordingDemand final : public DemandObserver {
 public:
  void OnDemand(const std::string& endpoint, const std::string& deployment) override {
    calls.push_back(endpoint + "/" + deployment);
  }
  std::vector<std::string> calls;
};

// Endpoint "solo" with deployment "d": `ready` instances, waiting for one when none is ready.
void PublishSolo(Router& router, std::vector<InstanceAddress> ready, int max_concurrent = 1,
                 bool retry = true, int timeout_ms = 2000) {
  auto ep = std::make_shared<EndpointRouting>();
  ep->name = "solo";
  ep->primary_key = "k1";
  ep->traffic = {{"d", 100}};
  auto d = Deployment("d", std::move(ready), max_concurrent);
  d->expects_instances = true;
  d->retry_on_instance_failure = retry;
  d->request_settings.request_timeout_ms = timeout_ms;
  d->request_settings.max_queue_wait_ms = 10;
  ep->deployments["d"] = d;
  auto snapshot = std::make_shared<RoutingSnapshot>();
  snapshot->endpoints["solo"] = ep;
  router.Publish(snapshot);
}

RouteRequest SoloRequest() {
  RouteRequest r;
  r.endpoint = "solo";
  r.authorization = "Bearer k1";
  return r;
}

TEST_F(RouterTest, AnInstanceThatDiesBeforeAnsweringIsRetriedOnAnother) {
  Publish({{"Blue", 100}});
  client_.Fail(1001, http::NoAnswerError("closed without answering"));
  RouteResult r = Route(Request());
  EXPECT_EQ(r.outcome, Outcome::kAnswered);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(r.instance, 2);
  EXPECT_EQ(last_call_->answered_by, "Blue#2");
  ASSERT_EQ(client_.sent.size(), 2u);
  EXPECT_EQ(client_.sent[0].instance.port, 1001);
  EXPECT_EQ(client_.sent[1].instance.port, 1002);
  // The dead one is passed over by the requests that follow, until republished.
  client_.sent.clear();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Route(Request()).attempts, 1);
  for (const auto& sent : client_.sent) EXPECT_EQ(sent.instance.port, 1002);
  EXPECT_EQ(router_.GateForTest("ep", "Blue")->running(), 0);
}

TEST_F(RouterTest, ARetryIsTriedOnceOnly) {
  Publish({{"Blue", 100}});
  client_.Fail(1001, http::NoAnswerError("closed"));
  client_.Fail(1002, http::NoAnswerError("closed"));
  RouteResult r = Route(Request());
  EXPECT_EQ(r.outcome, Outcome::kUpstreamFailed);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(client_.sent.size(), 2u);
}

TEST_F(RouterTest, AFailureAfterAnswerBytesIsNotRetried) {
  Publish({{"Blue", 100}});
  client_.Fail(1001, absl::AbortedError("reset in the middle of the answer"));
  RouteResult r = Route(Request());
  EXPECT_EQ(r.outcome, Outcome::kUpstreamFailed);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(client_.sent.size(), 1u);
}

TEST_F(RouterTest, OptingOutRetriesOnlyWhatWasNeverSent) {
  PublishSolo(router_, {At(1, 1001), At(2, 1002)}, 1, /*retry=*/false);
  client_.Fail(1001, http::NoAnswerError("closed"));
  RouteResult r = Route(SoloRequest());
  EXPECT_EQ(r.outcome, Outcome::kUpstreamFailed);
  EXPECT_EQ(r.attempts, 1);
  clock_.Advance(std::chrono::seconds(2));
  client_.Fail(1001, absl::UnavailableError("connection refused"));
  r = Route(SoloRequest());
  EXPECT_EQ(r.outcome, Outcome::kAnswered);
  EXPECT_EQ(r.attempts, 2);
}

TEST_F(RouterTest, RequestsWaitForAnExpectedInstanceAndTheObserverHears) {
  RecordingDemand demand;
  router_.SetDemandObserver(&demand);
  PublishSolo(router_, {}, /*max_concurrent=*/1);
  auto first = Start(SoloRequest(), std::make_shared<FakeCall>("a"));
  auto second = Start(SoloRequest(), std::make_shared<FakeCall>("b"));
  // 2 x max_concurrent_requests_per_instance may wait; the third is turned away.
  RouteResult third = Route(SoloRequest());
  EXPECT_EQ(third.outcome, Outcome::kRejected);
  EXPECT_THAT(third.message, HasSubstr("may wait while an instance starts"));
  EXPECT_FALSE(first->has_value());
  EXPECT_FALSE(second->has_value());
  EXPECT_EQ(demand.calls.size(), 3u);
  EXPECT_EQ(demand.calls[0], "solo/d");
  DeploymentLoad load = router_.Load("solo", "d");
  EXPECT_EQ(load.waiting, 2);
  EXPECT_EQ(load.arrivals, 3u);

  PublishSolo(router_, {At(7, 1007)});  // the instance is ready
  PollUntil([&] { return first->has_value() && second->has_value(); });
  EXPECT_EQ((*first)->outcome, Outcome::kAnswered);
  EXPECT_EQ((*second)->outcome, Outcome::kAnswered);
  EXPECT_EQ((*first)->instance, 7);
  EXPECT_EQ(router_.Load("solo", "d").running, 0);
}

TEST_F(RouterTest, AWaitForAnInstanceEndsWithTheRequestTimeout) {
  PublishSolo(router_, {}, 1, true, /*timeout_ms=*/30);
  RouteResult r = Route(SoloRequest());
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_THAT(r.message, HasSubstr("no instance became ready"));
}

TEST_F(RouterTest, WithNoInstanceExpectedRequestsFailAtOnce) {
  auto ep = std::make_shared<EndpointRouting>();
  ep->name = "solo";
  ep->primary_key = "k1";
  ep->traffic = {{"d", 100}};
  ep->deployments["d"] = Deployment("d", {});
  auto snapshot = std::make_shared<RoutingSnapshot>();
  snapshot->endpoints["solo"] = ep;
  router_.Publish(snapshot);
  RouteResult r = Route(SoloRequest());
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_THAT(r.message, HasSubstr("has no ready instance"));
}

TEST_F(RouterTest, WhenTheOnlyInstanceDiesTheRetryWaitsForItsReplacement) {
  PublishSolo(router_, {At(1, 1001)});
  client_.Fail(1001, http::NoAnswerError("closed"));
  auto out = Start(SoloRequest(), std::make_shared<FakeCall>("x"));
  Poll();
  EXPECT_FALSE(out->has_value());
  EXPECT_EQ(router_.Load("solo", "d").waiting, 1);
  // The control plane restarts it: same id, new incarnation.
  InstanceAddress restarted = At(1, 1009);
  PublishSolo(router_, {restarted});
  PollUntil([&] { return out->has_value(); });
  EXPECT_EQ((*out)->outcome, Outcome::kAnswered);
  EXPECT_EQ((*out)->attempts, 2);
  EXPECT_EQ(client_.sent.back().instance.port, 1009);
}

TEST_F(RouterTest, AnOnlyInstanceThatRecoversWithoutARestartGetsTheRetry) {
  PublishSolo(router_, {At(1, 1001)}, 1, true, /*timeout_ms=*/5000);
  client_.Fail(1001, http::NoAnswerError("closed"));
  auto out = Start(SoloRequest(), std::make_shared<FakeCall>("x"));
  Poll();
  EXPECT_FALSE(out->has_value());
  // Not republished: the mark expires (kDownFor) and the waiting retry goes to the same one.
  client_.Fail(1001, absl::OkStatus());
  clock_.Advance(std::chrono::seconds(2));
  PollUntil([&] { return out->has_value(); });
  EXPECT_EQ((*out)->outcome, Outcome::kAnswered);
  EXPECT_EQ((*out)->attempts, 2);
  EXPECT_EQ(client_.sent.size(), 2u);
}

TEST_F(RouterTest, QueueAndModelTimeAreMeasured) {
  Publish({{"Blue", 100}});
  RouteResult r = Route(Request());
  EXPECT_EQ(r.outcome, Outcome::kAnswered);
  EXPECT_EQ(r.instance, 1);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_GE(r.queue_time.count(), 0);
  EXPECT_GE(r.model_time.count(), 0);
}

// Keeps what Record writes.
class RecordingAccessLog final : public AccessLog {
 public:
  void Write(const AccessLogEntry& entry) override {
    std::lock_guard lock(mu_);
    entries_.push_back(entry);
  }
  std::vector<AccessLogEntry> entries() const {
    std::lock_guard lock(mu_);
    return entries_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<AccessLogEntry> entries_;
};

TEST_F(RouterTest, RecordCountsTheRequestAndWritesOneAccessLogLine) {
  using std::chrono::milliseconds;
  RecordingAccessLog log;
  router_.SetAccessLog(&log);
  const SteadyTime arrival = clock_.Now();
  clock_.Advance(milliseconds(30));
  RouteResult answered;
  answered.endpoint = "ep";
  answered.deployment = "Blue";
  answered.instance = 3;
  answered.queue_time = milliseconds(5);
  answered.model_time = milliseconds(20);
  answered.attempts = 2;
  router_.Record(answered, {.request_id = "r1",
                            .method = "POST",
                            .path = "/endpoints/ep/score",
                            .status = 200,
                            .bytes_in = 10,
                            .bytes_out = 20,
                            .arrival = arrival});
  RouteResult refused;  // no valid credential: no names in the labels or the log
  refused.deployment = "Blue";
  refused.instance = 3;
  router_.Record(refused, {.request_id = "r2",
                           .method = "POST",
                           .path = "/endpoints/probe/score",
                           .status = 401,
                           .arrival = arrival});
  router_.SetAccessLog(nullptr);
  router_.Record(answered, {.status = 200, .arrival = arrival});  // counted, not logged

  std::vector<AccessLogEntry> entries = log.entries();
  ASSERT_EQ(entries.size(), 2u);
  const AccessLogEntry& first = entries[0];
  EXPECT_EQ(first.time, clock_.WallNow() - milliseconds(30));  // arrival
  EXPECT_EQ(first.request_id, "r1");
  EXPECT_EQ(first.protocol, "http");
  EXPECT_EQ(first.method, "POST");
  EXPECT_EQ(first.path, "/endpoints/ep/score");
  EXPECT_EQ(first.endpoint, "ep");
  EXPECT_EQ(first.deployment, "Blue");
  EXPECT_EQ(first.instance, 3);
  EXPECT_EQ(first.status, 200);
  EXPECT_DOUBLE_EQ(first.queue_ms, 5);
  EXPECT_DOUBLE_EQ(first.model_ms, 20);
  EXPECT_DOUBLE_EQ(first.total_ms, 30);
  EXPECT_EQ(first.attempts, 2);
  EXPECT_EQ(first.bytes_in, 10u);
  EXPECT_EQ(first.bytes_out, 20u);
  const AccessLogEntry& second = entries[1];
  EXPECT_EQ(second.endpoint, "");
  EXPECT_EQ(second.deployment, "");
  EXPECT_EQ(second.instance, 0);
  EXPECT_EQ(second.status, 401);
  EXPECT_EQ(second.path, "/endpoints/probe/score");

  std::string text = metrics_.RenderPrometheus();
  const std::string blue = "{endpoint=\"ep\",deployment=\"Blue\"}";
  EXPECT_THAT(text, HasSubstr("berth_retried_requests_total" + blue + " 2\n"));
  EXPECT_THAT(text, HasSubstr("berth_request_model_seconds_count" + blue + " 2\n"));
  EXPECT_THAT(text, HasSubstr("berth_request_queue_seconds_count" + blue + " 2\n"));
  EXPECT_THAT(text,
              HasSubstr("berth_requests_total{endpoint=\"\",deployment=\"\",code=\"401\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("probe")));
}

}  // namespace
}  // namespace berth::gateway
