#include "batch/local/local_worker_launcher.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/clock.h"

namespace berth::batch {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kPollInterval(2);
constexpr milliseconds kStopGrace(2000);
constexpr uint32_t kMaxFrameBytes = 1u << 30;

// A connected Unix stream socket, or -1.
int ConnectUnix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return -1;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class LocalWorker final : public BatchWorker {
 public:
  LocalWorker(LocalWorkerLauncher& owner, compute::InstanceId id, int fd, std::string input_root,
              fs::path log_file)
      : owner_(owner),
        id_(id),
        fd_(fd),
        input_root_(std::move(input_root)),
        log_file_(std::move(log_file)) {}

  ~LocalWorker() override { Stop(); }

  absl::StatusOr<MiniBatchResult> Run(int64_t index, int attempt,
                                      const std::vector<std::string>& files,
                                      milliseconds timeout) override {
    json paths = json::array();
    for (const std::string& file : files) paths.push_back(input_root_ + "/" + file);
    const std::string body =
        json{{"mini_batch", std::move(paths)}, {"index", index}, {"attempt", attempt}}.dump();
    std::string frame(4, '\0');
    const uint32_t size = static_cast<uint32_t>(body.size());
    for (int i = 0; i < 4; ++i) frame[i] = static_cast<char>((size >> (24 - 8 * i)) & 0xff);
    frame += body;
    const SteadyTime deadline = std::chrono::steady_clock::now() + timeout;
    if (absl::Status sent = WriteAll(frame); !sent.ok()) return sent;
    char header[4];
    if (absl::Status read = ReadAll(header, 4, deadline); !read.ok()) return read;
    uint32_t length = 0;
    for (char byte : header) length = (length << 8) | static_cast<unsigned char>(byte);
    if (length > kMaxFrameBytes) return absl::InternalError("the worker sent an oversized frame");
    std::string answer(length, '\0');
    if (absl::Status read = ReadAll(answer.data(), length, deadline); !read.ok()) return read;
    json doc = json::parse(answer, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      return absl::InternalError("the worker answered something that is not a JSON object");
    }
    MiniBatchResult result;
    result.ok = doc.value("ok", false);
    if (!result.ok) {
      result.error = doc.value("error", std::string("run() failed"));
      return result;
    }
    result.count = doc.value("count", int64_t{0});
    if (auto lines = doc.find("lines"); lines != doc.end() && lines->is_array()) {
      result.lines.reserve(lines->size());
      for (json& line : *lines) {
        result.lines.push_back(line.is_string() ? line.get<std::string>() : line.dump());
      }
    }
    return result;
  }

  void Interrupt() override {
    std::lock_guard lock(mu_);
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
    owner_.driver().Stop(id_, milliseconds(0));
  }

  void Stop() override {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      stopped_ = true;
      if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
      }
    }
    owner_.driver().Stop(id_, kStopGrace);
    const SteadyTime deadline =
        std::chrono::steady_clock::now() + kStopGrace + std::chrono::seconds(3);
    while (!owner_.ExitOf(id_) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(kPollInterval);
    }
    owner_.Forget(id_);
  }

 private:
  absl::Status Gone(const std::string& what) {
    std::optional<compute::ExitInfo> exit = owner_.ExitOf(id_);
    if (!exit) {
      // The process may take a moment to be reaped after its socket closed.
      const SteadyTime deadline = std::chrono::steady_clock::now() + milliseconds(200);
      while (!exit && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(kPollInterval);
        exit = owner_.ExitOf(id_);
      }
    }
    return absl::UnavailableError(
        exit ? absl::StrCat("the worker process ended (", DescribeExit(*exit), ")")
             : absl::StrCat("lost the worker's socket (", what, ")"));
  }

  absl::Status WriteAll(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Gone(strerror(errno));
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status ReadAll(char* data, size_t size, SteadyTime deadline) {
    size_t done = 0;
    while (done < size) {
      auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return absl::DeadlineExceededError("run() timed out");
      pollfd pfd{fd_, POLLIN, 0};
      int ready = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return Gone(strerror(errno));
      if (ready == 0) continue;
      ssize_t n = ::recv(fd_, data + done, size - done, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return Gone(n == 0 ? "closed" : strerror(errno));
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  LocalWorkerLauncher& owner_;
  const compute::InstanceId id_;
  std::mutex mu_;  // fd_ against Interrupt/Stop from other threads
  int fd_;
  bool stopped_ = false;
  const std::string input_root_;
  const fs::path log_file_;
};

}  // namespace

std::string DescribeExit(const compute::ExitInfo& exit) {
  std::string text = exit.signal != 0 ? absl::StrCat("signal ", exit.signal)
                                      : absl::StrCat("exit status ", exit.exit_code);
  if (!exit.limit.empty()) absl::StrAppend(&text, ", stopped by its ", exit.limit);
  return text;
}

LocalWorkerLauncher::LocalWorkerLauncher(controlplane::Launcher& launcher,
                                         compute::ComputeDriver& driver)
    : launcher_(launcher), driver_(driver) {}

std::optional<compute::ExitInfo> LocalWorkerLauncher::ExitOf(compute::InstanceId id) {
  std::lock_guard lock(mu_);
  // Exits are collected when asked for: this launcher is the driver's only consumer.
  for (const compute::ExitInfo& exit : driver_.PollExits()) exits_[exit.id] = exit;
  auto it = exits_.find(id);
  if (it == exits_.end()) return std::nullopt;
  return it->second;
}

void LocalWorkerLauncher::Forget(compute::InstanceId id) {
  std::lock_guard lock(mu_);
  exits_.erase(id);
}

absl::StatusOr<std::unique_ptr<BatchWorker>> LocalWorkerLauncher::Start(
    const WorkerPlan& plan, const std::atomic<bool>& abandon) {
  controlplane::LaunchRequest request;
  request.endpoint = plan.deployment.endpoint_name;
  request.deployment = plan.deployment.name;
  request.instance_id = plan.slot;
  request.spec = core::WorkerDeploymentSpec(plan.deployment);
  for (const auto& [key, value] : plan.settings.settings.environment_variables) {
    request.spec.environment_variables[key] = value;
  }
  request.instance_dir = plan.instance_dir;
  controlplane::BatchWorkerRequest batch;
  batch.input = plan.input;
  batch.input_is_file = plan.input_is_file;
  batch.output = plan.output;
  batch.output_action = core::OutputActionName(plan.settings.settings.output_action);
  batch.logging_level = plan.settings.settings.logging_level;
  batch.node = plan.node;
  batch.process = plan.process;
  batch.log_file = plan.log_file;
  request.batch = batch;
  controlplane::LaunchResult launched = launcher_.Launch(request);
  if (!launched.process.ok()) {
    return absl::FailedPreconditionError(std::string(launched.process.status().message()));
  }
  const compute::InstanceId id = *launched.process;
  const std::string socket = launched.endpoints.batch_socket;
  const SteadyTime deadline = std::chrono::steady_clock::now() + plan.start_timeout;
  auto stop_and_forget = [&] {
    driver_.Stop(id, milliseconds(0));
    const SteadyTime gone = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!ExitOf(id) && std::chrono::steady_clock::now() < gone) {
      std::this_thread::sleep_for(kPollInterval);
    }
    Forget(id);
  };
  while (true) {
    if (abandon) {
      stop_and_forget();
      return absl::CancelledError("the worker was not needed any more");
    }
    if (std::optional<compute::ExitInfo> exit = ExitOf(id)) {
      Forget(id);
      return absl::FailedPreconditionError(
          absl::StrCat("the worker ended before it was ready (", DescribeExit(*exit),
                       "; did init() fail?); its last lines (", plan.log_file.string(), "):\n",
                       compute::TailLog(plan.log_file, 12)));
    }
    std::error_code ec;
    if (fs::exists(socket, ec)) {
      int fd = ConnectUnix(socket);
      if (fd >= 0) {
        return std::make_unique<LocalWorker>(*this, id, fd, launched.endpoints.batch_input_root,
                                             plan.log_file);
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop_and_forget();
      return absl::FailedPreconditionError(
          absl::StrCat("the worker was not ready within ", plan.start_timeout.count() / 1000,
                       " s (init() still running?); its last lines (", plan.log_file.string(),
                       "):\n", compute::TailLog(plan.log_file, 12)));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace berth::batch
