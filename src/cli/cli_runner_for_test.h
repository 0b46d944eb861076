#pragma once
// A gtest fixture that runs `berth` commands in-process (cli::Run) against a fake server, with
// a temporary folder for the files they read and string streams for what they print.

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

class CliRunnerTest : public ::testing::Test {
 protected:
  // The fake server's URL; the commands find it (and the token "tok") in BERTH_URL/BERTH_TOKEN.
  virtual std::string ServerUrl() const = 0;

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("berth_cli_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    vars_ = {
        {"BERTH_URL", ServerUrl()}, {"BERTH_TOKEN", "tok"}, {"HOME", (dir_ / "home").string()}};
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs `berth args...`; returns the exit code, with stdout in out_ and stderr in err_.
  int Berth(std::vector<std::string> args) {
    args.insert(args.begin(), "berth");
    out_.str("");
    err_.str("");
    CliEnv env;
    env.out = &out_;
    env.err = &err_;
    env.in = &in_;
    env.stdin_is_tty = stdin_tty_;
    env.stderr_is_tty = stderr_tty_;
    env.env = [this](const std::string& name) -> std::optional<std::string> {
      auto it = vars_.find(name);
      return it == vars_.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    env.sleep = [](std::chrono::milliseconds) {};
    env.poll_interval = std::chrono::milliseconds(1);
    // A berthd installed on the test machine (the package test) must not answer for the tests.
    env.packaged = {"/nonexistent/berth-test/default-berthd",
                    "/nonexistent/berth-test/admin-token"};
    return cli::Run(args, env);
  }

  // Writes `contents` to `relative` below the test's folder; returns the file's path.
  std::string Write(const std::string& relative, const std::string& contents) {
    std::filesystem::create_directories((dir_ / relative).parent_path());
    std::ofstream(dir_ / relative) << contents;
    return (dir_ / relative).string();
  }

  nlohmann::json Out() const { return nlohmann::json::parse(out_.str()); }

  std::filesystem::path dir_;
  std::map<std::string, std::string> vars_;
  std::ostringstream out_;
  std::ostringstream err_;
  std::istringstream in_;
  bool stdin_tty_ = false;
  bool stderr_tty_ = false;
};

}  // namespace berth::cli
