#pragma once
// A tiny HTTP/1.1 server on 127.0.0.1 for the CLI's tests: one connection at a time, one
// request per connection, answers from a handler. Test-only (header-only, so it stays out of
// the berth_cli library).

// clang-format off
// Asio on Boost 1.74 uses std::exchange without including <utility>.
#include <utility>
// clang-format on

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "cli/api_client.h"

namespace berth::cli::testing {

struct RecordedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
};

class FakeHttpServer {
 public:
  using Handler = std::function<HttpResponse(const RecordedRequest&)>;

  explicit FakeHttpServer(Handler handler)
      : handler_(std::move(handler)),
        acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { Serve(); });
  }

  ~FakeHttpServer() {
    stopping_ = true;
    // Unblock accept() with a connection of our own.
    boost::system::error_code ec;
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket socket(ioc);
    socket.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }

  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    namespace http = boost::beast::http;
    while (!stopping_) {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket socket(ioc_);
      acceptor_.accept(socket, ec);
      if (ec || stopping_) continue;
      boost::beast::flat_buffer buffer;
      http::request_parser<http::string_body> parser;
      parser.body_limit(1 << 30);
      http::read(socket, buffer, parser, ec);
      if (ec) continue;
      const auto& req = parser.get();
      RecordedRequest recorded;
      recorded.method = std::string(req.method_string());
      recorded.target = std::string(req.target());
      for (const auto& field : req) {
        recorded.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
            std::string(field.value());
      }
      recorded.body = req.body();
      {
        std::lock_guard lock(mu_);
        requests_.push_back(recorded);
      }
      HttpResponse answer = handler_(recorded);
      http::response<http::string_body> res{static_cast<http::status>(answer.status), 11};
      bool has_type = false;
      for (const auto& [name, value] : answer.headers) {
        res.set(name, value);
        if (absl::EqualsIgnoreCase(name, "content-type")) has_type = true;
      }
      if (!has_type) res.set(http::field::content_type, "application/json");
      res.keep_alive(false);
      res.body() = answer.body;
      res.prepare_payload();
      if (recorded.method == "HEAD") {
        // HEAD answers carry the length of the body they would have, but no body.
        http::response<http::empty_body> head{res.result(), 11};
        for (const auto& field : res) head.set(field.name_string(), field.value());
        http::serializer<false, http::empty_body> serializer(head);
        serializer.split(false);
        http::write(socket, serializer, ec);
      } else {
        http::write(socket, res, ec);
      }
      socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    }
  }

  Handler handler_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<RecordedRequest> requests_;
  std::thread thread_;
};

inline HttpResponse JsonAnswer(int status, const nlohmann::json& body) {
  return HttpResponse{status, {{"Content-Type", "application/json"}}, body.dump()};
}

inline HttpResponse ErrorAnswer(int status, const std::string& code, const std::string& message,
                                const std::string& target = "") {
  nlohmann::json error = {{"code", code}, {"message", message}};
  if (!target.empty()) error["target"] = target;
  return JsonAnswer(status, {{"error", error}});
}

}  // namespace berth::cli::testing
