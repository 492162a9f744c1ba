// Connecting to a server that accepts TCP and never answers gives up: weir's default
// connect_timeout (10 s), or the URL's, or $PGCONNECT_TIMEOUT's — never a hang. The listener
// is a socket that listens and never accepts: the kernel completes the handshake, nothing
// ever replies to libpq's first packet.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "pg/connection.hpp"

using weir::pg::Connection;
using weir::pg::ConnectionError;

namespace {

class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(fd_, 8) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { close(fd_); }
  std::string url(const std::string& query = "") const {
    return "postgresql://u:hush@127.0.0.1:" + std::to_string(port_) + "/db" + query;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// The message of the ConnectionError connecting to `target` throws.
std::string connect_error(const std::string& target) {
  try {
    Connection c(target);
  } catch (const ConnectionError& e) {
    return e.what();
  }
  return "connected";
}

}  // namespace

TEST_CASE("connect timeout: weir's default gives up on a server that never answers",
          "[connect_timeout]") {
  SilentListener server;
  unsetenv("PGCONNECT_TIMEOUT");
  std::string m = connect_error(server.url());
  CHECK(m.find("timeout expired") != std::string::npos);
  CHECK(m.find("hush") == std::string::npos);
  CHECK(m.find('\n') == std::string::npos);
}

TEST_CASE("connect timeout: the URL's connect_timeout and $PGCONNECT_TIMEOUT are used",
          "[connect_timeout]") {
  SilentListener server;
  unsetenv("PGCONNECT_TIMEOUT");
  CHECK(connect_error(server.url("?connect_timeout=2")).find("timeout expired") !=
        std::string::npos);
  setenv("PGCONNECT_TIMEOUT", "2", 1);
  CHECK(connect_error(server.url()).find("timeout expired") != std::string::npos);
  unsetenv("PGCONNECT_TIMEOUT");
}
