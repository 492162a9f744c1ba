// The live line (pg/status_line.hpp): what it draws on a terminal and writes to a log, through
// a pipe standing in for stderr.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "pg/status_line.hpp"
#include "pg/text_width.hpp"

using weir::pg::StatusLine;

namespace {

// A pipe whose write end stands in for stderr; read() takes what was written so far.
struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() {
    REQUIRE(::pipe(fds) == 0);
    ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  }
  ~Pipe() {
    ::close(fds[0]);
    if (fds[1] >= 0) ::close(fds[1]);
  }
  std::string read() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0)
      out.append(buf, static_cast<size_t>(n));
    return out;
  }
  // Waits (up to `seconds`) until what was written contains `needle` `count` times.
  std::string wait_for(const std::string& needle, int count, double seconds) {
    std::string all;
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
      all += read();
      int found = 0;
      for (size_t at = all.find(needle); at != std::string::npos; at = all.find(needle, at + 1))
        ++found;
      if (found >= count) break;
      struct pollfd p {
        fds[0], POLLIN, 0
      };
      ::poll(&p, 1, 50);
    }
    return all;
  }
};

}  // namespace

TEST_CASE("status_line: fit cuts to the width with ..., never inside a UTF-8 character") {
  CHECK(StatusLine::fit("short", 20) == "short");
  CHECK(StatusLine::fit("exactly ten", 11) == "exactly ten");
  CHECK(StatusLine::fit("a line that is too long", 10) == "a line ...");
  CHECK(StatusLine::fit("a line that is too long", 10).size() == 10);
  std::string cut =
      StatusLine::fit("copy \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9 rows", 10);
  CHECK(cut.substr(cut.size() - 3) == "...");
  CHECK(weir::pg::display_width(cut) <= 10);
  // every byte before "..." belongs to a whole character
  std::string body = cut.substr(0, cut.size() - 3);
  CHECK((body.back() & 0xC0) != 0xC0);
}

TEST_CASE("status_line: elapsed time and the line's text") {
  CHECK(StatusLine::elapsed_text(0.4) == "0s");
  CHECK(StatusLine::elapsed_text(59.9) == "59s");
  CHECK(StatusLine::elapsed_text(65) == "1m05s");
  CHECK(StatusLine::elapsed_text(3725) == "1h02m");
  CHECK(StatusLine::render("001_x:fill", "", 3) == "weir: 001_x:fill (3s): running");
  CHECK(StatusLine::render("001_x:fill", "copy t: 10 rows", 3) ==
        "weir: 001_x:fill (3s): copy t: 10 rows");
}

TEST_CASE("status_line: on a terminal, drawn in place within the width and erased at the end") {
  Pipe p;
  {
    StatusLine line(p.fds[1], StatusLine::Style::kTerminal, 10, 40);
    line.begin("001_x:fill");
    CHECK(p.read() == "\rweir: 001_x:fill (0s): running\x1b[K");
    line.write_line("weir: something to say");
    // erased, the line written, then drawn again under it (the thread may have drawn it
    // once more meanwhile)
    CHECK(p.read().find("\r\x1b[Kweir: something to say\n\rweir: 001_x:fill (0s): running\x1b[K") !=
          std::string::npos);
    line.detail("copy things: 123,456/1,000,000 rows (12%)");
    // drawn at once or by the thread within a second, cut to 39 columns
    std::string again = p.wait_for("copy", 1, 5);
    auto start = again.rfind('\r');
    auto end = again.find("\x1b[K", start);
    REQUIRE(end != std::string::npos);
    std::string shown = again.substr(start + 1, end - start - 1);
    CHECK(shown.rfind("weir: 001_x:fill (", 0) == 0);
    CHECK(shown.substr(shown.size() - 3) == "...");
    CHECK(weir::pg::display_width(shown) == 39);
    CHECK(line.end() == 0);
    CHECK(p.read().substr(0, 4) == "\r\x1b[K");
    // nothing is written while nothing runs
    line.write_line("after");
    CHECK(p.read() == "after\n");
  }
  CHECK(p.read() == "");
}

TEST_CASE("status_line: for a log, a whole line every interval while something runs") {
  Pipe p;
  StatusLine line(p.fds[1], StatusLine::Style::kPlain, 0.02);
  line.begin("001_x:index");
  CHECK(p.read() == "");  // nothing at the start: the start line is the caller's
  std::string lines = p.wait_for("\n", 2, 10);
  CHECK(lines.find("weir: 001_x:index (0s): running\n") == 0);
  CHECK(lines.find('\r') == std::string::npos);
  CHECK(lines.find('\x1b') == std::string::npos);
  line.detail("update t: 5 rows");
  std::string more = p.wait_for("update t", 1, 10);
  CHECK(more.find("weir: 001_x:index (0s): update t: 5 rows\n") != std::string::npos);
  int printed = line.end();
  CHECK(printed >= 3);
  // after the end no more lines come
  p.read();
  line.write_line("weir: 001_x:index done (0.10s)");
  CHECK(p.read() == "weir: 001_x:index done (0.10s)\n");
}
