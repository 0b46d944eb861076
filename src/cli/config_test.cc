#include "cli/config.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("berth_config_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "home");
    vars_["HOME"] = (dir_ / "home").string();
    packaged_ = {dir_ / "etc/default/berthd", dir_ / "var/lib/berth/admin-token"};
  }
  void TearDown() override { fs::remove_all(dir_); }

  EnvLookup Env() {
    return [this](const std::string& name) -> std::optional<std::string> {
      auto it = vars_.find(name);
      if (it == vars_.end()) return std::nullopt;
      return it->second;
    };
  }

  void WriteFile(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }

  fs::path dir_;
  PackagedDaemon packaged_;  // no packaged berthd unless a test writes its files
  std::map<std::string, std::string> vars_;
};

TEST_F(ConfigTest, DefaultsUrlAndReadsTokenFile) {
  WriteFile(dir_ / "admin-token", "secret-token\n");
  vars_["BERTH_TOKEN_FILE"] = (dir_ / "admin-token").string();
  absl::StatusOr<ClientConfig> config = ResolveConfig(Env(), {}, packaged_);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->url, "http://127.0.0.1:8080");
  EXPECT_EQ(config->token, "secret-token");
}

TEST_F(ConfigTest, EnvironmentWinsOverConfigFile) {
  WriteFile(dir_ / "home/.config/berth/config", "url = http://file:1\ntoken = file-token\n");
  vars_["BERTH_URL"] = "http://env:2/";
  vars_["BERTH_TOKEN"] = "env-token";
  absl::StatusOr<ClientConfig> config = ResolveConfig(Env(), {}, packaged_);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->url, "http://env:2");
  EXPECT_EQ(config->token, "env-token");
}

TEST_F(ConfigTest, FlagsWinOverEverything) {
  WriteFile(dir_ / "home/.config/berth/config", "url = http://file:1\ntoken = file-token\n");
  vars_["BERTH_URL"] = "http://env:2";
  vars_["BERTH_TOKEN"] = "env-token";
  absl::StatusOr<ClientConfig> config =
      ResolveConfig(Env(), {std::string("http://flag:3"), std::string("flag-token")}, packaged_);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->url, "http://flag:3");
  EXPECT_EQ(config->token, "flag-token");
}

TEST_F(ConfigTest, ConfigFileWinsOverTokenFileVariable) {
  WriteFile(dir_ / "home/.config/berth/config",
            "# berth client\n\nurl = http://file:1\n  token = \"file-token\"  \n");
  WriteFile(dir_ / "admin-token", "other");
  vars_["BERTH_TOKEN_FILE"] = (dir_ / "admin-token").string();
  absl::StatusOr<ClientConfig> config = ResolveConfig(Env(), {}, packaged_);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->url, "http://file:1");
  EXPECT_EQ(config->token, "file-token");
}

TEST_F(ConfigTest, ConfigFileTokenFileKey) {
  WriteFile(dir_ / "data/admin-token", "from-data-dir\n");
  WriteFile(dir_ / "home/.config/berth/config",
            "token_file = " + (dir_ / "data/admin-token").string() + "\n");
  absl::StatusOr<ClientConfig> config = ResolveConfig(Env(), {}, packaged_);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->token, "from-data-dir");
}

TEST_F(ConfigTest, RespectsXdgConfigHome) {
  WriteFile(dir_ / "xdg/berth/config", "token = xdg-token\n");
  WriteFile(dir_ / "home/.config/berth/config", "token = home-token\n");
  vars_["XDG_CONFIG_HOME"] = (dir_ / "xdg").string();
  absl::StatusOr<ClientConfig> config = ResolveConfig(Env(), {}, packaged_);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->token, "xdg-token");
  EXPECT_EQ(*ConfigFilePath(Env()), dir_ / "xdg/berth/config");
}

TEST_F(ConfigTest, RelativeXdgConfigHomeIsIgnored) {
  vars_["XDG_CONFIG_HOME"] = "relative/dir";
  EXPECT_EQ(*ConfigFilePath(Env()), dir_ / "home/.config/berth/config");
}

TEST_F(ConfigTest, MissingTokenExplainsHowToSetIt) {
  absl::StatusOr<ClientConfig> config = ResolveConfig(Env(), {}, packaged_);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(config.status().message(), HasSubstr("<data-dir>/admin-token"));
  EXPECT_THAT(config.status().message(), HasSubstr("BERTH_TOKEN"));
  EXPECT_THAT(config.status().message(), HasSubstr("--token"));
}

TEST_F(ConfigTest, UnreadableTokenFileIsAnError) {
  vars_["BERTH_TOKEN_FILE"] = (dir_ / "missing").string();
  absl::StatusOr<ClientConfig> config = ResolveConfig(Env(), {}, packaged_);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr((dir_ / "missing").string()));
}

TEST_F(ConfigTest, MalformedConfigLineNamesFileAndLine) {
  WriteFile(dir_ / "home/.config/berth/config", "url = http://x\nthis is wrong\n");
  absl::StatusOr<ClientConfig> config = ResolveConfig(Env(), {}, packaged_);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("config:2:"));
}

TEST_F(ConfigTest, UnknownConfigKeyIsAnError) {
  WriteFile(dir_ / "home/.config/berth/config", "tokn = x\n");
  absl::StatusOr<ClientConfig> config = ResolveConfig(Env(), {}, packaged_);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("unknown key \"tokn\""));
}

TEST_F(ConfigTest, PackagedDaemonGivesUrlAndReadableToken) {
  WriteFile(packaged_.defaults_file,
            "# berthd\nBERTHD_HOST=\"0.0.0.0\"\nexport BERTHD_PORT=9090  # the port\n"
            "BERTHD_OPTS=\"--port 1\"\n");
  WriteFile(packaged_.token_file, "packaged-token\n");
  absl::StatusOr<ClientConfig> config = ResolveConfig(Env(), {}, packaged_);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->url, "http://127.0.0.1:9090");
  EXPECT_EQ(config->token, "packaged-token");
}

TEST_F(ConfigTest, PackagedDaemonDefaultsAreBerthdsDefaults) {
  WriteFile(packaged_.defaults_file, "BERTHD_HOST=\nBERTHD_PORT=\n");
  WriteFile(packaged_.token_file, "packaged-token");
  absl::StatusOr<ClientConfig> config = ResolveConfig(Env(), {}, packaged_);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->url, "http://127.0.0.1:8080");
  WriteFile(packaged_.defaults_file, "BERTHD_HOST=::\nBERTHD_PORT=8081\n");
  EXPECT_EQ(PackagedDaemonUrl(packaged_), "http://[::1]:8081");
}

TEST_F(ConfigTest, PackagedTokenIsNeverSentToAnotherUrl) {
  WriteFile(packaged_.defaults_file, "BERTHD_PORT=9090\n");
  WriteFile(packaged_.token_file, "packaged-token");
  vars_["BERTH_URL"] = "http://elsewhere:9090";
  absl::StatusOr<ClientConfig> config = ResolveConfig(Env(), {}, packaged_);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ConfigTest, OtherSourcesWinOverThePackagedDaemon) {
  WriteFile(packaged_.defaults_file, "BERTHD_PORT=9090\n");
  WriteFile(packaged_.token_file, "packaged-token");
  vars_["BERTH_TOKEN"] = "env-token";
  WriteFile(dir_ / "home/.config/berth/config", "url = http://file:1\n");
  absl::StatusOr<ClientConfig> config = ResolveConfig(Env(), {}, packaged_);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->url, "http://file:1");
  EXPECT_EQ(config->token, "env-token");
}

TEST_F(ConfigTest, UnreadablePackagedTokenSaysWhoCanReadIt) {
  WriteFile(packaged_.defaults_file, "BERTHD_PORT=9090\n");
  // A folder where the file should be: unreadable as a token whoever runs the test (root too).
  fs::create_directories(packaged_.token_file);
  absl::StatusOr<ClientConfig> config = ResolveConfig(Env(), {}, packaged_);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("readable by root only"));
  EXPECT_THAT(config.status().message(), HasSubstr(packaged_.token_file.string()));
}

}  // namespace
}  // namespace berth::cli
