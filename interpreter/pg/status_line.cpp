// The live line on stderr (see status_line.hpp).
#include "pg/status_line.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "pg/session_lock.hpp"  // start_quiet_thread
#include "pg/text_width.hpp"

namespace weir::pg {

namespace {

constexpr auto kTerminalPeriod = std::chrono::seconds(1);
constexpr auto kMinRedraw = std::chrono::milliseconds(100);

}  // namespace

StatusLine::StatusLine(int fd, Style style, double interval_seconds, int width)
    : fd_(fd),
      style_(style),
      interval_(interval_seconds > 0 ? interval_seconds : 10),
      width_(width) {
  thread_ = start_quiet_thread([this] { run(); });
}

StatusLine::~StatusLine() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    erase_locked();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string StatusLine::elapsed_text(double seconds) {
  long s = static_cast<long>(std::floor(seconds < 0 ? 0 : seconds));
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%lds", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  return buf;
}

std::string StatusLine::render(const std::string& label, const std::string& detail,
                               double elapsed) {
  return "weir: " + label + " (" + elapsed_text(elapsed) +
         "): " + (detail.empty() ? std::string("running") : detail);
}

std::string StatusLine::fit(const std::string& text, int width) {
  if (width < 4) width = 4;
  if (display_width(text) <= width) return text;
  // Whole characters (a UTF-8 sequence is never split) up to width - 3 columns, then "...".
  std::string out;
  int used = 0;
  for (size_t i = 0; i < text.size();) {
    auto lead = static_cast<unsigned char>(text[i]);
    size_t n = static_cast<size_t>(utf8_sequence_length(lead));
    if (n == 0 || i + n > text.size()) n = 1;
    int w = display_width(std::string_view(text).substr(i, n));
    if (used + w > width - 3) break;
    out.append(text, i, n);
    used += w;
    i += n;
  }
  return out + "...";
}

int StatusLine::columns() const {
  if (width_ > 0) return width_;
  struct winsize ws {};
  if (ioctl(fd_, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS"); c && std::atoi(c) > 0) return std::atoi(c);
  return 80;
}

void StatusLine::write_all(const std::string& bytes) noexcept {
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a closed or full stderr: the line is lost, nothing else is
    p += n;
    left -= static_cast<size_t>(n);
  }
}

double StatusLine::elapsed_locked() const {
  return std::chrono::duration<double>(Clock::now() - started_).count();
}

void StatusLine::draw_locked(bool force) {
  if (style_ != Style::kTerminal || !active_) return;
  auto now = Clock::now();
  if (!force && drawn_ && now - last_draw_ < kMinRedraw) return;
  // One column short of the width: a line that fills the last column makes some terminals
  // move to the next line, and "\r" would then no longer reach its start.
  write_all("\r" + fit(render(label_, detail_, elapsed_locked()), columns() - 1) + "\x1b[K");
  drawn_ = true;
  last_draw_ = now;
}

void StatusLine::erase_locked() {
  if (!drawn_) return;
  write_all("\r\x1b[K");
  drawn_ = false;
}

void StatusLine::begin(const std::string& label) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_ = true;
    label_ = label;
    detail_.clear();
    started_ = Clock::now();
    next_plain_ = started_ + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(interval_));
    plain_lines_ = 0;
    draw_locked(true);
  }
  wake_.notify_all();
}

void StatusLine::detail(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  detail_ = text;
  draw_locked(false);
}

int StatusLine::end() {
  std::lock_guard<std::mutex> lock(mu_);
  erase_locked();
  active_ = false;
  label_.clear();
  detail_.clear();
  return plain_lines_;
}

bool StatusLine::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return active_;
}

void StatusLine::write_line(const std::string& line) {
  std::lock_guard<std::mutex> lock(mu_);
  bool was = drawn_;
  erase_locked();
  write_all(line + "\n");
  if (was) draw_locked(true);
}

void StatusLine::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  erase_locked();
}

void StatusLine::redraw() {
  std::lock_guard<std::mutex> lock(mu_);
  draw_locked(true);
}

void StatusLine::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!active_) {
      wake_.wait(lock);
      continue;
    }
    if (style_ == Style::kTerminal) {
      wake_.wait_for(lock, kTerminalPeriod);
      if (!stop_ && active_) draw_locked(true);
    } else {
      wake_.wait_until(lock, next_plain_);
      if (stop_ || !active_ || Clock::now() < next_plain_) continue;
      write_all(render(label_, detail_, elapsed_locked()) + "\n");
      ++plain_lines_;
      auto period =
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval_));
      while (next_plain_ <= Clock::now())
        next_plain_ += period;
    }
  }
}

}  // namespace weir::pg
