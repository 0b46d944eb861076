#include "cli/api_client.h"

#include "cli/fake_http_server_for_test.h"
#include "common/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

using nlohmann::json;
using testing::ErrorAnswer;
using testing::FakeHttpServer;
using ::testing::HasSubstr;
using testing::JsonAnswer;
using testing::RecordedRequest;

TEST(ParseHttpUrlTest, SplitsHostPortAndTarget) {
  absl::StatusOr<HttpUrl> url = ParseHttpUrl("http://127.0.0.1:8080/endpoints/e/score");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, "8080");
  EXPECT_EQ(url->target, "/endpoints/e/score");
  EXPECT_EQ(url->ToString(), "http://127.0.0.1:8080/endpoints/e/score");

  url = ParseHttpUrl("HTTP://example.com");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->port, "80");
  EXPECT_EQ(url->target, "/");

  url = ParseHttpUrl("http://[::1]:9000?x=1");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->target, "/?x=1");
  EXPECT_EQ(url->ToString(), "http://[::1]:9000/?x=1");
}

TEST(ParseHttpUrlTest, RejectsHttpsAndJunk) {
  absl::StatusOr<HttpUrl> url = ParseHttpUrl("https://example.com");
  ASSERT_FALSE(url.ok());
  EXPECT_THAT(url.status().message(), HasSubstr("https:// is not supported"));
  EXPECT_FALSE(ParseHttpUrl("example.com:80").ok());
  EXPECT_FALSE(ParseHttpUrl("http://:80").ok());
  EXPECT_FALSE(ParseHttpUrl("http://host:99999").ok());
  EXPECT_FALSE(ParseHttpUrl("http://host:x").ok());
}

TEST(EncodeComponentTest, EncodesReservedCharacters) {
  EXPECT_EQ(EncodeComponent("my-endpoint_1.x~"), "my-endpoint_1.x~");
  EXPECT_EQ(EncodeComponent("sha256:ab"), "sha256:ab");
  EXPECT_EQ(EncodeComponent("a b/c?d"), "a%20b%2Fc%3Fd");
}

TEST(StatusFromResponseTest, MapsStatusesAndKeepsServerMessage) {
  HttpResponse response =
      ErrorAnswer(400, "BadArgument", "instance_count: must be >= 1", "instance_count");
  absl::Status status = StatusFromResponse(response);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "instance_count: must be >= 1");
  EXPECT_EQ(ErrorTarget(status), "instance_count");
  EXPECT_EQ(HttpStatusOf(status), 400);

  struct Case {
    int http;
    bool create;
    absl::StatusCode code;
  } cases[] = {{401, false, absl::StatusCode::kUnauthenticated},
               {404, false, absl::StatusCode::kNotFound},
               {408, false, absl::StatusCode::kDeadlineExceeded},
               {409, true, absl::StatusCode::kAlreadyExists},
               {409, false, absl::StatusCode::kFailedPrecondition},
               {413, false, absl::StatusCode::kResourceExhausted},
               {429, false, absl::StatusCode::kResourceExhausted},
               {500, false, absl::StatusCode::kInternal},
               {503, false, absl::StatusCode::kUnavailable}};
  for (const Case& c : cases) {
    absl::Status mapped = StatusFromResponse(ErrorAnswer(c.http, "X", "m"), c.create);
    EXPECT_EQ(mapped.code(), c.code) << c.http;
    EXPECT_EQ(HttpStatusOf(mapped), c.http);
  }
  EXPECT_TRUE(StatusFromResponse(JsonAnswer(201, json::object())).ok());
}

TEST(StatusFromResponseTest, NonJsonBodyIsQuoted) {
  absl::Status status = StatusFromResponse(HttpResponse{502, {}, "upstream died"});
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "HTTP 502 Bad Gateway: upstream died");
  EXPECT_FALSE(HttpStatusOf(absl::InternalError("x")).has_value());
}

TEST(ApiClientTest, SendsTokenAndJsonAndParsesAnswer) {
  FakeHttpServer server([](const RecordedRequest& request) {
    if (request.method == "POST") return JsonAnswer(201, {{"name", "e"}, {"echo", request.body}});
    return JsonAnswer(200, {{"value", json::array()}});
  });
  absl::StatusOr<ApiClient> client = ApiClient::Create({server.url() + "/", "tok"});
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<json> list = client->Get("/online-endpoints");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(*list, json({{"value", json::array()}}));
  absl::StatusOr<json> created = client->Post("/online-endpoints", {{"name", "e"}}, true);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["echo"], "{\"name\":\"e\"}");

  std::vector<RecordedRequest> requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, "/api/v1/online-endpoints");
  EXPECT_EQ(requests[0].headers["authorization"], "Bearer tok");
  EXPECT_FALSE(requests[0].headers["x-ms-client-request-id"].empty());
  EXPECT_EQ(requests[1].headers["content-type"], "application/json");
}

TEST(ApiClientTest, ErrorsCarryServerMessage) {
  FakeHttpServer server([](const RecordedRequest&) {
    return ErrorAnswer(409, "Conflict", "endpoint e already exists");
  });
  ApiClient client = *ApiClient::Create({server.url(), "tok"});
  absl::StatusOr<json> created = client.Post("/online-endpoints", {{"name", "e"}}, true);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(created.status().message(), "endpoint e already exists");
}

TEST(ApiClientTest, ArtifactHeadAndPut) {
  FakeHttpServer server([](const RecordedRequest& request) {
    if (request.method == "HEAD") {
      return request.target.find("sha256:aa") != std::string::npos
                 ? HttpResponse{200, {}, "{}"}
                 : ErrorAnswer(404, "NotFound", "no artifact");
    }
    return JsonAnswer(201, {{"digest", "sha256:bb"}});
  });
  ApiClient client = *ApiClient::Create({server.url(), "tok"});
  EXPECT_EQ(*client.HasArtifact("sha256:aa"), true);
  EXPECT_EQ(*client.HasArtifact("sha256:bb"), false);
  EXPECT_TRUE(client.PutArtifact("sha256:bb", std::string("tar\0bytes", 9)).ok());
  std::vector<RecordedRequest> requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].target, "/api/v1/artifacts/sha256:aa");
  EXPECT_EQ(requests[2].method, "PUT");
  EXPECT_EQ(requests[2].headers["content-type"], "application/x-tar");
  EXPECT_EQ(requests[2].body, std::string("tar\0bytes", 9));
}

TEST(ApiClientTest, GetTextReturnsPlainBody) {
  FakeHttpServer server([](const RecordedRequest&) {
    return HttpResponse{200, {{"Content-Type", "text/plain"}}, "line 1\nline 2\n"};
  });
  ApiClient client = *ApiClient::Create({server.url(), "tok"});
  absl::StatusOr<std::string> text = client.GetText("/online-endpoints/e/deployments/d/logs");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "line 1\nline 2\n");
}

TEST(ApiClientTest, PathPrefixOfTheServerUrlIsKept) {
  FakeHttpServer server([](const RecordedRequest&) { return JsonAnswer(200, json::object()); });
  ApiClient client = *ApiClient::Create({server.url() + "/berth/", "tok"});
  ASSERT_TRUE(client.Get("/online-endpoints").ok());
  EXPECT_EQ(server.requests()[0].target, "/berth/api/v1/online-endpoints");
}

TEST(ApiClientTest, ConnectionRefusedIsUnavailableWithHint) {
  std::string url;
  {
    FakeHttpServer server([](const RecordedRequest&) { return JsonAnswer(200, {}); });
    url = server.url();
  }
  ApiClient client = *ApiClient::Create({url, "tok"});
  absl::StatusOr<json> answer = client.Get("/online-endpoints");
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(answer.status().message(), HasSubstr("is berthd running"));
}

TEST(NextLinkPathTest, KeepsThePathAndQueryBelowTheApi) {
  EXPECT_EQ(*NextLinkPath("http://h:1/api/v1/online-endpoints?$top=3&$skiptoken=b"),
            "/online-endpoints?$top=3&$skiptoken=b");
  EXPECT_EQ(*NextLinkPath("/api/v1/models?name=m&$skiptoken=m%2F2"),
            "/models?name=m&$skiptoken=m%2F2");
  // Behind a path-routing proxy: the prefix is the client's, not the link's.
  EXPECT_EQ(*NextLinkPath("https://proxy/berth/api/v1/online-endpoints?$skiptoken=x"),
            "/online-endpoints?$skiptoken=x");
  for (const char* bad : {"http://h:1/", "http://h:1", "/other?x=1", ""}) {
    absl::StatusOr<std::string> path = NextLinkPath(bad);
    ASSERT_FALSE(path.ok()) << bad;
    EXPECT_THAT(path.status().message(), HasSubstr("nextLink")) << bad;
  }
}

// Answers GET /api/v1/online-endpoints in pages of two from a list of five names, with
// nextLinks on another host (the client must send them to its own server).
HttpResponse FivePagedByTwo(const RecordedRequest& request) {
  static const std::vector<std::string> kNames = {"a", "b", "c", "d", "e"};
  size_t start = 0;
  if (size_t token = request.target.find("$skiptoken="); token != std::string::npos) {
    std::string after = request.target.substr(token + 11);
    while (start < kNames.size() && kNames[start] <= after) ++start;
  }
  json page = {{"value", json::array()}};
  for (size_t i = start; i < std::min(start + 2, kNames.size()); ++i) {
    page["value"].push_back({{"name", kNames[i]}});
  }
  if (start + 2 < kNames.size()) {
    page["nextLink"] =
        "http://elsewhere.invalid:1/api/v1/online-endpoints?$top=2&$skiptoken=" + kNames[start + 1];
  }
  return JsonAnswer(200, page);
}

TEST(ApiClientTest, ListAllFollowsNextLinkToTheEnd) {
  FakeHttpServer server(FivePagedByTwo);
  ApiClient client = *ApiClient::Create({server.url() + "/berth", "tok"});
  absl::StatusOr<json> all = client.ListAll("/online-endpoints");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, json::parse(R"([{"name":"a"},{"name":"b"},{"name":"c"},{"name":"d"},
                                  {"name":"e"}])"));
  std::vector<RecordedRequest> requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].target, "/berth/api/v1/online-endpoints?$top=1000");
  EXPECT_EQ(requests[1].target, "/berth/api/v1/online-endpoints?$top=2&$skiptoken=b");
  EXPECT_EQ(requests[2].target, "/berth/api/v1/online-endpoints?$top=2&$skiptoken=d");
  for (const RecordedRequest& request : requests) {
    EXPECT_EQ(request.headers.at("authorization"), "Bearer tok");
  }
}

TEST(ApiClientTest, ListAllStopsOnARepeatedNextLink) {
  FakeHttpServer server([](const RecordedRequest&) {
    return JsonAnswer(
        200, {{"value", {{{"name", "a"}}}}, {"nextLink", "/api/v1/online-endpoints?$skiptoken=a"}});
  });
  ApiClient client = *ApiClient::Create({server.url(), "tok"});
  absl::StatusOr<json> all = client.ListAll("/online-endpoints");
  ASSERT_FALSE(all.ok());
  EXPECT_THAT(all.status().message(), HasSubstr("repeats"));
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(ApiClientTest, ListAllRefusesAnAnswerWithoutAList) {
  FakeHttpServer server([](const RecordedRequest&) { return JsonAnswer(200, {{"x", 1}}); });
  ApiClient client = *ApiClient::Create({server.url(), "tok"});
  absl::StatusOr<json> all = client.ListAll("/online-endpoints");
  ASSERT_FALSE(all.ok());
  EXPECT_THAT(all.status().message(), HasSubstr("no \"value\" list"));
}

TEST(ApiClientTest, RejectsHttpsServer) {
  EXPECT_FALSE(ApiClient::Create({"https://example.com", "tok"}).ok());
}

}  // namespace
}  // namespace berth::cli
