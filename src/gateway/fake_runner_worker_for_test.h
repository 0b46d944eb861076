#pragma once
// FakeRunnerWorker: plays one Python runner worker (or the runner's control socket) for tests:
// it listens on a Unix socket, reads berth runner frames and answers what the test's handler
// says, one request at a time per connection, each connection on a thread of its own. Every
// wait is bounded (raw_socket_for_test.h), so a client that never sends fails the test instead
// of hanging it.

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/runner_frames.h"
#include "http/raw_socket_for_test.h"

namespace berth::gateway::runner {

class FakeRunnerWorker {
 public:
  // What the worker does with a request.
  struct Reply {
    std::string bytes;   // written as they are (a whole message, or anything malformed)
    bool close = false;  // then close the connection
    bool hold = false;   // answer nothing; wait for the client to close
  };
  using Handler = std::function<Reply(const FrameRequest&)>;

  // An answer with `status`, `headers` and `body`.
  static Reply Answer(int status, const Headers& headers, std::string_view body) {
    return {*EncodeResponse(status, headers, body)};
  }

  FakeRunnerWorker(std::string path, Handler handler)
      : path_(std::move(path)), handler_(std::move(handler)) {
    ::unlink(path_.c_str());
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = http::testing::RawSocket::UnixAddress(path_);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listener_, 64);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~FakeRunnerWorker() {
    stop_ = true;
    accept_thread_.join();
    {
      std::lock_guard lock(mu_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : connection_threads_) t.join();
    ::close(listener_);
    ::unlink(path_.c_str());
  }

  int connections() const { return connections_; }
  // Connections accepted and not closed yet.
  int open_connections() const {
    std::lock_guard lock(mu_);
    return static_cast<int>(open_fds_.size());
  }
  int requests() const { return requests_; }
  // Connections the client closed while the worker held a request (hold = true).
  int closed_while_held() const { return closed_while_held_; }
  std::vector<FrameRequest> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      std::lock_guard lock(mu_);
      open_fds_.push_back(fd);
      connection_threads_.emplace_back([this, fd] {
        http::testing::RawSocket connection(fd);
        Serve(connection);
        // Forgotten before it is closed, so the destructor never shuts down a reused number.
        std::lock_guard lock(mu_);
        std::erase(open_fds_, fd);
      });
    }
  }

  void Serve(http::testing::RawSocket& connection) {
    while (!stop_) {
      auto prefix = connection.ReadExactly(kLengthPrefixBytes);
      if (!prefix) return;
      auto payload = connection.ReadExactly(ReadLengthPrefix(prefix->data()));
      if (!payload) return;
      auto request = DecodeRequest(*payload);
      if (!request.ok()) return;  // a protocol error: close without answering
      ++requests_;
      {
        std::lock_guard lock(mu_);
        received_.push_back(*request);
      }
      Reply reply = handler_(*request);
      if (reply.hold) {
        if (connection.WaitForClose()) ++closed_while_held_;
        return;
      }
      if (!reply.bytes.empty() && !connection.Send(reply.bytes)) return;
      if (reply.close) return;
    }
  }

  std::string path_;
  Handler handler_;
  int listener_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::atomic<int> closed_while_held_{0};
  mutable std::mutex mu_;
  std::vector<int> open_fds_;                    // guarded by mu_
  std::vector<FrameRequest> received_;           // guarded by mu_
  std::vector<std::thread> connection_threads_;  // guarded by mu_ while accepting
  std::thread accept_thread_;
};

}  // namespace berth::gateway::runner
