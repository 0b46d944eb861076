#include "controlplane/supervisor/prober.h"
#include "http/upstream_pool.h"

namespace berth::controlplane {

namespace asio = http::asio;

void HttpProber::Probe(int port, const std::string& path, std::chrono::milliseconds timeout,
                       std::function<void(ProbeResult)> done) {
  asio::co_spawn(
      executor_,
      [executor = executor_, port, path, timeout,
       done = std::move(done)]() -> http::Awaitable<void> {
        auto status = co_await http::ProbeGet(executor, "127.0.0.1", port, path, timeout);
        ProbeResult result;
        result.healthy = status.ok() && *status >= 200 && *status < 400;
        result.detail = status.ok() ? "HTTP " + std::to_string(*status)
                                    : std::string(status.status().message());
        done(std::move(result));
      },
      asio::detached);
}

}  // namespace berth::controlplane
