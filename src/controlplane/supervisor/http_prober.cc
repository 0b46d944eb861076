#include "controlplane/supervisor/prober.h"
#include "gateway/runner_pool.h"
#include "http/upstream_pool.h"

namespace berth::controlplane {

namespace asio = http::asio;

void HttpProber::Probe(const ProbeTarget& target, const std::string& path,
                       std::chrono::milliseconds timeout, std::function<void(ProbeResult)> done) {
  asio::co_spawn(
      executor_,
      [executor = executor_, target, path, timeout,
       done = std::move(done)]() -> http::Awaitable<void> {
        ProbeResult result;
        if (!target.runner_control_socket.empty()) {
          auto status = co_await gateway::runner::ProbeRunner(
              executor, target.runner_control_socket, path, timeout);
          result.healthy = status.ok() && *status == 200;
          result.detail = status.ok() ? "HTTP " + std::to_string(*status)
                                      : std::string(status.status().message());
        } else {
          http::Origin origin = target.http_socket.empty()
                                    ? http::Origin::Tcp("127.0.0.1", target.port)
                                    : http::Origin::Unix(target.http_socket);
          auto status = co_await http::ProbeGet(executor, std::move(origin), path, timeout);
          result.healthy = status.ok() && *status >= 200 && *status < 400;
          result.detail = status.ok() ? "HTTP " + std::to_string(*status)
                                      : std::string(status.status().message());
        }
        done(std::move(result));
      },
      asio::detached);
}

}  // namespace berth::controlplane
