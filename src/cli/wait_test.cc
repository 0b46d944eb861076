#include "cli/wait.h"

#include <deque>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class WaitTest : public ::testing::Test {
 protected:
  WaitEnv Env(bool live) {
    WaitEnv env;
    env.clock = &clock_;
    env.sleep = [this](std::chrono::milliseconds d) {
      ++sleeps_;
      clock_.Advance(d);
    };
    env.progress = &progress_;
    env.live = live;
    return env;
  }

  // Answers from the queue, then repeats the last one.
  PollFn Poll() {
    return [this]() -> absl::StatusOr<json> {
      absl::StatusOr<json> next = answers_.front();
      if (answers_.size() > 1) answers_.pop_front();
      return next;
    };
  }

  static json State(const std::string& state, const std::string& reason = "") {
    return json{{"name", "blue"}, {"provisioning_state", state}, {"reason", reason}};
  }

  WaitSpec Spec(bool until_gone = false) {
    WaitSpec spec;
    spec.action = until_gone ? "Deleting" : "Creating";
    spec.kind = "deployment";
    spec.name = "blue";
    spec.until_gone = until_gone;
    spec.show_command = "berth online-deployment show -e e -n blue";
    return spec;
  }

  ManualClock clock_;
  std::ostringstream progress_;
  std::deque<absl::StatusOr<json>> answers_;
  int sleeps_ = 0;
};

TEST_F(WaitTest, PollsUntilSucceededPrintingStateChanges) {
  answers_ = {State("Creating"), State("Creating"), State("Succeeded")};
  absl::StatusOr<json> result = WaitForResource(Poll(), Spec(), Env(/*live=*/false));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ((*result)["provisioning_state"], "Succeeded");
  EXPECT_EQ(sleeps_, 2);
  EXPECT_EQ(progress_.str(),
            "Creating deployment blue: Creating (0 s)\n"
            "Creating deployment blue: Succeeded (0 s)\n");
}

TEST_F(WaitTest, LiveLineIsRewritten) {
  answers_ = {State("Creating")};
  for (int i = 0; i < 8; ++i) answers_.push_back(State("Creating"));
  answers_.push_back(State("Succeeded"));
  absl::StatusOr<json> result = WaitForResource(Poll(), Spec(), Env(/*live=*/true));
  ASSERT_TRUE(result.ok()) << result.status();
  std::string text = progress_.str();
  EXPECT_THAT(text, HasSubstr("\rCreating deployment blue: Creating (0 s)\x1b[K"));
  EXPECT_THAT(text, HasSubstr("\rCreating deployment blue: Creating (2 s)\x1b[K"));
  EXPECT_THAT(text, HasSubstr("\rCreating deployment blue: Succeeded (2 s)\x1b[K\n"));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
}

TEST_F(WaitTest, FailedReportsReason) {
  answers_ = {State("Creating"), State("Failed", "readiness probe failed 30 times")};
  absl::StatusOr<json> result = WaitForResource(Poll(), Spec(), Env(false));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(result.status().message(), "deployment blue failed: readiness probe failed 30 times");
}

TEST_F(WaitTest, DeleteWaitsForNotFound) {
  answers_ = {State("Deleting"), absl::NotFoundError("no such deployment")};
  absl::StatusOr<json> result = WaitForResource(Poll(), Spec(/*until_gone=*/true), Env(false));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->is_null());
  EXPECT_THAT(progress_.str(), HasSubstr("Deleting deployment blue: deleted"));
}

TEST_F(WaitTest, DeleteKeepsWaitingThroughSucceeded) {
  // A delete that has not started yet may still show the old state.
  answers_ = {State("Succeeded"), State("Deleting"), absl::NotFoundError("gone")};
  absl::StatusOr<json> result = WaitForResource(Poll(), Spec(true), Env(false));
  ASSERT_TRUE(result.ok()) << result.status();
}

TEST_F(WaitTest, TimesOut) {
  answers_ = {State("Creating")};
  WaitSpec spec = Spec();
  spec.timeout = std::chrono::seconds(5);
  absl::StatusOr<json> result = WaitForResource(Poll(), spec, Env(false));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(result.status().message(), HasSubstr("timed out after 5 s"));
  EXPECT_THAT(result.status().message(), HasSubstr("last state: Creating"));
  EXPECT_THAT(result.status().message(), HasSubstr("berth online-deployment show"));
  EXPECT_EQ(sleeps_, 20);
}

TEST_F(WaitTest, RetriesUnavailable) {
  answers_ = {absl::UnavailableError("connection refused"), State("Succeeded")};
  absl::StatusOr<json> result = WaitForResource(Poll(), Spec(), Env(false));
  ASSERT_TRUE(result.ok()) << result.status();
}

TEST_F(WaitTest, OtherErrorsEndTheWait) {
  answers_ = {absl::UnauthenticatedError("bad token")};
  absl::StatusOr<json> result = WaitForResource(Poll(), Spec(), Env(false));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(WaitTest, VanishingDuringCreateIsAnError) {
  answers_ = {State("Creating"), absl::NotFoundError("no such deployment")};
  absl::StatusOr<json> result = WaitForResource(Poll(), Spec(), Env(false));
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("disappeared while Creating"));
}

}  // namespace
}  // namespace berth::cli
