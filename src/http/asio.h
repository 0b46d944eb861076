#pragma once
// One include for Asio and Beast. Boost 1.74's Asio needs <utility> first under GCC 12, and its
// coroutine support predates `as_tuple`, so errors come back through redirect_error.

// clang-format off: <utility> must come first.
#include <utility>
// clang-format on

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace berth::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;
using RequestHead = bhttp::request_header<>;
// Connections over TCP and Unix sockets alike (asio's generic stream protocol), with Beast's
// timeouts: a stream whose expiry passes is closed and its operation fails with
// beast::error::timeout.
using StreamProtocol = asio::generic::stream_protocol;
using Stream = beast::basic_stream<StreamProtocol>;
template <typename T>
using Awaitable = asio::awaitable<T>;

// `co_await op(..., Await(ec))` stores the error in `ec` instead of throwing.
inline auto Await(boost::system::error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
}

}  // namespace berth::http
