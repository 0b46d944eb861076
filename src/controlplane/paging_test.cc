// Paging of the management API's lists: the query rules, the slicing, the answer's nextLink,
// and ManagementService's lists walked page by page over a MemoryStateStore.

#include "controlplane/paging.h"

#include <stdlib.h>

#include <filesystem>
#include <memory>

#include "auth/secrets.h"
#include "common/clock.h"
#include "common/errors.h"
#include "controlplane/artifact_store.h"
#include "controlplane/management_service.h"
#include "controlplane/model_registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "state/memory/memory_state_store.h"

namespace berth::controlplane {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParsePageRequestTest, DefaultsToTheFirstPageOfTheDefaultSize) {
  absl::StatusOr<PageRequest> request = ParsePageRequest({{"name", "m"}});
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->top, kDefaultPageSize);
  EXPECT_EQ(request->skip_token, "");
}

TEST(ParsePageRequestTest, ReadsTopAndSkipTokenCaseInsensitively) {
  absl::StatusOr<PageRequest> request = ParsePageRequest({{"$top", "3"}, {"$skipToken", "ep-b"}});
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->top, 3);
  EXPECT_EQ(request->skip_token, "ep-b");
  request = ParsePageRequest({{"$TOP", "1000"}, {"$skiptoken", "x"}});
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->top, kMaxPageSize);
  EXPECT_EQ(request->skip_token, "x");
}

TEST(ParsePageRequestTest, RefusesABadTopNamingIt) {
  for (const char* bad : {"abc", "0", "-1", "1001", "", "3x", "99999999999"}) {
    absl::StatusOr<PageRequest> request = ParsePageRequest({{"$top", bad}});
    ASSERT_FALSE(request.ok()) << bad;
    EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(ErrorTarget(request.status()), "$top") << bad;
    EXPECT_THAT(request.status().message(), HasSubstr("1 to 1000")) << bad;
  }
}

TEST(ParsePageRequestTest, RefusesOffsetsNamingSkip) {
  absl::StatusOr<PageRequest> request = ParsePageRequest({{"$skip", "3"}});
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(ErrorTarget(request.status()), "$skip");
  EXPECT_THAT(request.status().message(), HasSubstr("nextLink"));
}

std::vector<std::string> Names(const Slice<std::string>& slice) {
  return {slice.items.begin(), slice.items.end()};
}

Slice<std::string> PageOfNames(const std::vector<std::string>& sorted, int top,
                               const std::string& token) {
  PageRequest request{top, token};
  return PageOf(sorted, request, [&](const std::string& name) { return name > token; });
}

TEST(PageOfTest, TakesTopItemsAfterTheToken) {
  std::vector<std::string> names = {"a", "b", "c", "d", "e"};
  Slice<std::string> first = PageOfNames(names, 2, "");
  EXPECT_THAT(Names(first), ElementsAre("a", "b"));
  EXPECT_TRUE(first.more);
  Slice<std::string> second = PageOfNames(names, 2, "b");
  EXPECT_THAT(Names(second), ElementsAre("c", "d"));
  EXPECT_TRUE(second.more);
  Slice<std::string> last = PageOfNames(names, 2, "d");
  EXPECT_THAT(Names(last), ElementsAre("e"));
  EXPECT_FALSE(last.more);
  // A page that ends exactly at the end has no next page.
  Slice<std::string> exact = PageOfNames(names, 5, "");
  EXPECT_EQ(exact.items.size(), 5u);
  EXPECT_FALSE(exact.more);
}

TEST(PageOfTest, ATokenWhoseItemIsGoneStillContinuesAfterIt) {
  // "b" was deleted after the first page was served; "bb" was created meanwhile.
  std::vector<std::string> names = {"a", "bb", "c"};
  EXPECT_THAT(Names(PageOfNames(names, 10, "b")), ElementsAre("bb", "c"));
  Slice<std::string> past_end = PageOfNames(names, 10, "zzz");
  EXPECT_TRUE(past_end.items.empty());
  EXPECT_FALSE(past_end.more);
  std::vector<std::string> none;
  EXPECT_TRUE(PageOfNames(none, 10, "").items.empty());
}

TEST(PageJsonTest, TheLastPageHasNoNextLink) {
  Page page;
  page.value = json::array({1, 2});
  json body = PageJson(page, PageRequest{}, "/api/v1/online-endpoints", {}, "127.0.0.1:8080");
  EXPECT_EQ(body, json({{"value", {1, 2}}}));
}

TEST(PageJsonTest, NextLinkKeepsTheOtherParametersAndCarriesTopAndToken) {
  Page page;
  page.value = json::array({1});
  page.next_token = "m/2";
  json body = PageJson(page, PageRequest{1, "m/1"}, "/api/v1/models",
                       {{"name", "m x"}, {"$top", "1"}, {"$skiptoken", "m/1"}}, "h:9");
  EXPECT_EQ(body["value"], json::array({1}));
  EXPECT_EQ(body["nextLink"], "http://h:9/api/v1/models?name=m%20x&$top=1&$skiptoken=m%2F2");
  // Without a Host header the link is a path.
  body = PageJson(page, PageRequest{kDefaultPageSize, ""}, "/api/v1/online-endpoints", {}, "");
  EXPECT_EQ(body["nextLink"], "/api/v1/online-endpoints?$top=100&$skiptoken=m%2F2");
}

// ---------------------------------------------------------------- ManagementService's lists

class ServiceListTest : public ::testing::Test {
 protected:
  ServiceListTest()
      : secrets_(auth::SecretBox::FromKeyForTest(std::string(32, 'k'))),
        dir_(MakeTempDir()),
        artifacts_(dir_),
        service_(store_, secrets_, artifacts_, clock_, ServiceOptions{},
                 [](const std::string&, const std::string&) {}),
        registry_(store_, artifacts_, clock_) {
    service_.SetModelRegistry(&registry_);
  }
  ~ServiceListTest() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  static std::filesystem::path MakeTempDir() {
    std::string pattern = ::testing::TempDir() + "berth_paging_XXXXXX";
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    return pattern;
  }

  // Every page from the first, following next_token; the names on each page.
  template <typename List>
  std::vector<std::vector<std::string>> Walk(int top, List list, const std::string& key = "name") {
    std::vector<std::vector<std::string>> pages;
    PageRequest request{top, ""};
    for (int guard = 0; guard < 100; ++guard) {
      absl::StatusOr<Page> page = list(request);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      std::vector<std::string> names;
      for (const json& item : page->value) names.push_back(item[key].get<std::string>());
      pages.push_back(names);
      if (page->next_token.empty()) break;
      request.skip_token = page->next_token;
    }
    return pages;
  }

  void CreateEndpoint(const std::string& name) {
    auto written = service_.CreateEndpoint(json{{"name", name}, {"auth_mode", "key"}});
    ASSERT_TRUE(written.ok()) << written.status();
  }

  state::MemoryStateStore store_;
  auth::SecretBox secrets_;
  ManualClock clock_;
  std::filesystem::path dir_;
  ArtifactStore artifacts_;
  ManagementService service_;
  ModelRegistry registry_;
};

TEST_F(ServiceListTest, EndpointsComeInPagesByName) {
  for (const char* name : {"ep-g", "ep-a", "ep-e", "ep-c", "ep-b", "ep-f", "ep-d"}) {
    CreateEndpoint(name);
  }
  auto list = [&](const PageRequest& r) { return service_.ListEndpoints(r); };
  EXPECT_THAT(Walk(3, list), ElementsAre(ElementsAre("ep-a", "ep-b", "ep-c"),
                                         ElementsAre("ep-d", "ep-e", "ep-f"), ElementsAre("ep-g")));
  EXPECT_THAT(Walk(7, list),
              ElementsAre(ElementsAre("ep-a", "ep-b", "ep-c", "ep-d", "ep-e", "ep-f", "ep-g")));
}

TEST_F(ServiceListTest, EndpointsCreatedOrDeletedBetweenPagesMoveNoOtherOne) {
  for (const char* name : {"ep-a", "ep-b", "ep-c", "ep-d", "ep-e"}) CreateEndpoint(name);
  absl::StatusOr<Page> first = service_.ListEndpoints(PageRequest{2, ""});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->next_token, "ep-b");
  // Before the second page: the first page's last item goes, one sorting before it comes.
  ASSERT_TRUE(store_.DeleteEndpoint("ep-b").ok());
  CreateEndpoint("ep-0");
  absl::StatusOr<Page> second = service_.ListEndpoints(PageRequest{2, first->next_token});
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->value.size(), 2u);
  EXPECT_EQ(second->value[0]["name"], "ep-c");
  EXPECT_EQ(second->value[1]["name"], "ep-d");
  EXPECT_EQ(second->next_token, "ep-d");
}

TEST_F(ServiceListTest, DeploymentsComeInPagesAndAnUnknownEndpointIsNotFound) {
  CreateEndpoint("ep-a");
  for (const char* name : {"green", "blue", "red"}) {
    state::DeploymentRecord record;
    record.endpoint = "ep-a";
    record.name = name;
    record.spec = {{"name", name}, {"endpoint_name", "ep-a"}};  // views show the spec's name
    ASSERT_TRUE(store_.CreateDeployment(record).ok());
  }
  auto list = [&](const PageRequest& r) { return service_.ListDeployments("ep-a", r); };
  EXPECT_THAT(Walk(2, list), ElementsAre(ElementsAre("blue", "green"), ElementsAre("red")));
  EXPECT_EQ(service_.ListDeployments("missing", PageRequest{}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ServiceListTest, ModelsComeInPagesInTheRegistryOrder) {
  for (const auto& [name, version] : std::vector<std::pair<std::string, std::string>>{
           {"m", "10"}, {"m", "2"}, {"m", "beta"}, {"a", "1"}, {"m", "1"}}) {
    state::ModelRecord record;
    record.name = name;
    record.version = version;
    ASSERT_TRUE(store_.CreateModel(record).ok());
  }
  auto all = [&](const PageRequest& r) { return service_.ListModels("", r); };
  EXPECT_THAT(Walk(2, all, "version"),
              ElementsAre(ElementsAre("1", "1"), ElementsAre("2", "10"), ElementsAre("beta")));
  absl::StatusOr<Page> page = service_.ListModels("", PageRequest{2, ""});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->next_token, "m/1");
  auto of_m = [&](const PageRequest& r) { return service_.ListModels("m", r); };
  EXPECT_THAT(Walk(3, of_m, "version"),
              ElementsAre(ElementsAre("1", "2", "10"), ElementsAre("beta")));
}

}  // namespace
}  // namespace berth::controlplane
