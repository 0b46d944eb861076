#include "cli/local_daemon.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "cli/fake_http_server_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

EnvLookup EnvOf(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(LocalDaemonDirTest, BerthLocalDirWinsThenXdgStateHomeThenHome) {
  EXPECT_EQ(*LocalDaemonDir(
                EnvOf({{"BERTH_LOCAL_DIR", "/tmp/x"}, {"XDG_STATE_HOME", "/s"}, {"HOME", "/h"}})),
            fs::path("/tmp/x"));
  EXPECT_EQ(*LocalDaemonDir(EnvOf({{"XDG_STATE_HOME", "/s"}, {"HOME", "/h"}})),
            fs::path("/s/berth/local"));
  EXPECT_EQ(*LocalDaemonDir(EnvOf({{"HOME", "/h"}})), fs::path("/h/.local/state/berth/local"));
  EXPECT_EQ(*LocalDaemonDir(EnvOf({{"BERTH_LOCAL_DIR", ""}, {"HOME", "/h"}})),
            fs::path("/h/.local/state/berth/local"));
}

TEST(LocalDaemonDirTest, RelativeFolderIsMadeAbsoluteAndNoneIsAnError) {
  absl::StatusOr<fs::path> dir = LocalDaemonDir(EnvOf({{"BERTH_LOCAL_DIR", "rel/dir"}}));
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(*dir, (fs::current_path() / "rel/dir").lexically_normal());
  absl::StatusOr<fs::path> none = LocalDaemonDir(EnvOf({}));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(none.status().message(), HasSubstr("BERTH_LOCAL_DIR"));
}

TEST(DaemonRecordTest, RoundTrips) {
  DaemonRecord record{"http://127.0.0.1:41234", 4321, 987654};
  absl::StatusOr<DaemonRecord> parsed =
      ParseDaemonRecord(DaemonRecordJson(record).dump(), "daemon.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, record);
}

TEST(DaemonRecordTest, ErrorsNameTheFileAndField) {
  auto error = [](std::string_view text) {
    return std::string(ParseDaemonRecord(text, "/d/daemon.json").status().message());
  };
  EXPECT_THAT(error("not json"), HasSubstr("/d/daemon.json: not a JSON object"));
  EXPECT_THAT(error(R"({"pid": 1, "start_time": 2})"), HasSubstr("/d/daemon.json: field url"));
  EXPECT_THAT(error(R"({"url": "https://x", "pid": 1, "start_time": 2})"), HasSubstr("field url"));
  EXPECT_THAT(error(R"({"url": "http://127.0.0.1:1", "pid": 0, "start_time": 2})"),
              HasSubstr("field pid: expected a positive integer"));
  EXPECT_THAT(error(R"({"url": "http://127.0.0.1:1", "pid": 5, "start_time": -2})"),
              HasSubstr("field start_time"));
}

TEST(ListeningUrlTest, TakesTheLastListeningLine) {
  EXPECT_EQ(ListeningUrl("berthd: admin token in /d/admin-token\n"
                         "[info] starting\n"
                         "berthd: listening on http://127.0.0.1:4000\n"
                         "berthd: listening on http://127.0.0.1:4001  \n"),
            "http://127.0.0.1:4001");
  EXPECT_EQ(ListeningUrl("berthd: admin token in /d/admin-token\n"), std::nullopt);
  EXPECT_EQ(ListeningUrl("x berthd: listening on http://a:1\n"), std::nullopt);
}

TEST(JudgeDaemonTest, UsesOnlyARunningAnsweringDaemon) {
  DaemonRecord record{"http://127.0.0.1:1", 10, 20};
  EXPECT_EQ(JudgeDaemon(std::nullopt, false, false), DaemonVerdict::kStart);
  EXPECT_EQ(JudgeDaemon(record, false, false), DaemonVerdict::kStart);
  EXPECT_EQ(JudgeDaemon(record, true, false), DaemonVerdict::kUnresponsive);
  EXPECT_EQ(JudgeDaemon(record, true, true), DaemonVerdict::kUse);
}

TEST(ProcessStartTimeTest, KnowsLiveProcessesOnly) {
  std::optional<uint64_t> self = ProcessStartTime(::getpid());
  ASSERT_TRUE(self.has_value());
  EXPECT_EQ(ProcessStartTime(::getpid()), self);
  EXPECT_EQ(ProcessStartTime(0), std::nullopt);
  EXPECT_EQ(ProcessStartTime(-1), std::nullopt);

  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  // Until it is reaped the child is a zombie, which counts as gone.
  for (int i = 0; i < 400 && ProcessStartTime(child).has_value(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(ProcessStartTime(child), std::nullopt);
  ::waitpid(child, nullptr, 0);
  EXPECT_EQ(ProcessStartTime(child), std::nullopt);
}

TEST(LocalDaemonSettingsTest, InstalledFilesUnlessTheEnvironmentNamesOthers) {
  const InstallPaths installed = {.berthd = "/opt/b/berthd",
                                  .worker = "/opt/b/berth-worker",
                                  .python_dir = "/src/python",
                                  .studio_dir = "/opt/share/berth/studio"};
  absl::StatusOr<LocalDaemonSettings> settings =
      ResolveLocalDaemonSettings(EnvOf({{"BERTH_LOCAL_DIR", "/l"}}), "/usr/bin/python3", installed);
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ(settings->berthd, "/opt/b/berthd");
  EXPECT_EQ(settings->worker, "/opt/b/berth-worker");
  EXPECT_EQ(settings->python, "/usr/bin/python3");
  EXPECT_EQ(settings->python_dir, "/src/python");
  EXPECT_THAT(LocalDaemonArgv(*settings),
              ElementsAre("/opt/b/berthd", "--data-dir", "/l", "--host", "127.0.0.1", "--port", "0",
                          "--no-scoring-auth", "--python", "/usr/bin/python3", "--python-dir",
                          "/src/python", "--worker", "/opt/b/berth-worker"));

  settings = ResolveLocalDaemonSettings(EnvOf({{"BERTH_LOCAL_DIR", "/l"},
                                               {"BERTH_DAEMON", "/x/berthd"},
                                               {"BERTH_WORKER", "/x/w"},
                                               {"BERTH_PYTHON", "/venv/python"},
                                               {"BERTH_PYTHON_DIR", "/x/py"}}),
                                        "/usr/bin/python3", installed);
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ(settings->berthd, "/x/berthd");
  EXPECT_EQ(settings->worker, "/x/w");
  EXPECT_EQ(settings->python, "/venv/python");
  EXPECT_EQ(settings->python_dir, "/x/py");
}

class LocalDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("berth_local_daemon_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "bin");
    settings_.dir = dir_ / "local";
    settings_.berthd = (dir_ / "bin" / "berthd").string();
    wait_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
    wait_.interval = std::chrono::milliseconds(10);
    wait_.start_timeout = std::chrono::seconds(20);
    wait_.stop_timeout = std::chrono::seconds(20);
    wait_.progress = &progress_;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A stand-in for berthd: a shell script run with berthd's arguments in the local folder.
  void WriteFakeBerthd(const std::string& body) {
    std::ofstream(settings_.berthd) << "#!/bin/sh\n" << body;
    ::chmod(settings_.berthd.c_str(), 0755);
  }

  void WriteRecord(const DaemonRecord& record) {
    fs::create_directories(settings_.dir);
    std::ofstream(settings_.dir / "daemon.json") << DaemonRecordJson(record).dump();
  }

  fs::path dir_;
  LocalDaemonSettings settings_;
  DaemonWaitEnv wait_;
  std::ostringstream progress_;
};

HttpResponse Healthy(const testing::RecordedRequest& request) {
  return request.target == "/healthz" ? HttpResponse{200, {}, "berthd is running\n"}
                                      : HttpResponse{404, {}, ""};
}

TEST_F(LocalDaemonTest, UsesTheRecordedDaemonWhileItRunsAndAnswers) {
  testing::FakeHttpServer server(Healthy);
  // This test process stands in for the daemon: it runs, with its own start time.
  WriteRecord({server.url(), ::getpid(), *ProcessStartTime(::getpid())});
  std::ofstream(settings_.dir / "admin-token") << "berth_secret\n";

  absl::StatusOr<ClientConfig> config = EnsureLocalDaemon(settings_, wait_);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->url, server.url());
  EXPECT_EQ(config->token, "berth_secret");
  EXPECT_EQ(progress_.str(), "");  // nothing started
  absl::StatusOr<std::optional<DaemonRecord>> running = RunningLocalDaemon(settings_.dir);
  ASSERT_TRUE(running.ok());
  EXPECT_TRUE(running->has_value());
}

TEST_F(LocalDaemonTest, ARunningDaemonThatDoesNotAnswerIsAnErrorNotASecondDaemon) {
  // Nothing listens on the recorded port.
  WriteRecord({"http://127.0.0.1:9", ::getpid(), *ProcessStartTime(::getpid())});
  absl::StatusOr<ClientConfig> config = EnsureLocalDaemon(settings_, wait_);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(config.status().message(), HasSubstr("runs but does not answer"));
  EXPECT_THAT(config.status().message(), HasSubstr("berth local-daemon stop"));
}

TEST_F(LocalDaemonTest, AStaleRecordIsReplacedByANewDaemon) {
  // A pid with another start time: not the daemon any more.
  WriteRecord({"http://127.0.0.1:9", ::getpid(), *ProcessStartTime(::getpid()) + 1});
  absl::StatusOr<ClientConfig> missing = EnsureLocalDaemon(settings_, wait_);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.status().message(), HasSubstr("BERTH_DAEMON"));
  EXPECT_FALSE(fs::exists(settings_.dir / "daemon.json"));
}

TEST_F(LocalDaemonTest, StartsWaitsForTheListeningLineAndStops) {
  testing::FakeHttpServer server(Healthy);
  WriteFakeBerthd(
      "echo berth_tok > admin-token\n"
      "echo \"args: $*\"\n"
      "echo 'berthd: listening on " +
      server.url() +
      "'\n"
      "exec sleep 60\n");
  absl::StatusOr<ClientConfig> config = EnsureLocalDaemon(settings_, wait_);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->url, server.url());
  EXPECT_EQ(config->token, "berth_tok");
  EXPECT_THAT(progress_.str(), HasSubstr("Started the local berthd"));
  std::string log = ReadFile(settings_.dir / "berthd.log");
  EXPECT_THAT(log, HasSubstr("--data-dir " + settings_.dir.string() +
                             " --host 127.0.0.1 --port 0 --no-scoring-auth"));

  absl::StatusOr<DaemonRecord> record =
      ParseDaemonRecord(ReadFile(settings_.dir / "daemon.json"), "daemon.json");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->url, server.url());
  EXPECT_EQ(ProcessStartTime(record->pid), record->start_time);

  // A second command uses it rather than starting another.
  progress_.str("");
  ASSERT_TRUE(EnsureLocalDaemon(settings_, wait_).ok());
  EXPECT_EQ(progress_.str(), "");

  absl::StatusOr<std::optional<DaemonRecord>> stopped = StopLocalDaemon(settings_.dir, wait_);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  ASSERT_TRUE(stopped->has_value());
  EXPECT_EQ((*stopped)->pid, record->pid);
  int status = 0;
  ASSERT_EQ(::waitpid(record->pid, &status, 0), record->pid);  // this test is its parent
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  EXPECT_FALSE(fs::exists(settings_.dir / "daemon.json"));

  // Stopping again finds nothing to stop.
  stopped = StopLocalDaemon(settings_.dir, wait_);
  ASSERT_TRUE(stopped.ok());
  EXPECT_FALSE(stopped->has_value());
}

TEST_F(LocalDaemonTest, ADaemonThatExitsAtStartIsReportedWithItsLog) {
  WriteFakeBerthd("echo 'berthd: cannot create --data-dir: no room' >&2\nexit 3\n");
  absl::StatusOr<ClientConfig> config = EnsureLocalDaemon(settings_, wait_);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(config.status().message(), HasSubstr("exited with code 3 at start"));
  EXPECT_THAT(config.status().message(), HasSubstr("no room"));
  EXPECT_FALSE(fs::exists(settings_.dir / "daemon.json"));
}

TEST_F(LocalDaemonTest, StopWithoutAFolderOrDaemonDoesNothing) {
  absl::StatusOr<std::optional<DaemonRecord>> stopped = StopLocalDaemon(dir_ / "none", wait_);
  ASSERT_TRUE(stopped.ok());
  EXPECT_FALSE(stopped->has_value());
  EXPECT_FALSE(fs::exists(dir_ / "none"));
}

}  // namespace
}  // namespace berth::cli
