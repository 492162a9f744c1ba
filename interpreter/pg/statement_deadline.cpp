// A time limit that cancels the running statement (see statement_deadline.hpp).
#include "pg/statement_deadline.hpp"

#include <chrono>

#include "pg/connection.hpp"
#include "pg/session_lock.hpp"

namespace weir::pg {

StatementDeadline::StatementDeadline(double seconds) {
  auto until = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double>(seconds));
  timer_ = start_quiet_thread([this, until] {
    std::unique_lock<std::mutex> w(mu_);
    if (wake_.wait_until(w, until, [this] { return stop_; })) return;
    expired_ = true;
    cancel_running_statement();
  });
}

StatementDeadline::~StatementDeadline() {
  disarm();
}

void StatementDeadline::disarm() noexcept {
  try {
    {
      std::lock_guard<std::mutex> w(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (timer_.joinable()) timer_.join();
  } catch (const std::exception&) {
  }
}

}  // namespace weir::pg
