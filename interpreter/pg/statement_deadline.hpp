// A time limit for work that runs statements: when it passes, the statement this process is
// waiting on is cancelled (pg::cancel_running_statement, the same request Ctrl-C sends), from
// a thread of its own. expired() tells the caller why its statement failed (57014), and lets
// it refuse to start another one — weir's phase `timeout`.
//
// Guarantee: after disarm() returns, no cancel is sent any more; a deadline cancels at most
// once. Tested by tests/cli/runner_safety_test.lua and tests/lua/weir_test.lua.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace weir::pg {

class StatementDeadline {
 public:
  explicit StatementDeadline(double seconds);
  ~StatementDeadline();
  StatementDeadline(const StatementDeadline&) = delete;
  StatementDeadline& operator=(const StatementDeadline&) = delete;

  bool expired() const { return expired_; }
  // Stops the clock (idempotent): nothing is cancelled after this returns.
  void disarm() noexcept;

 private:
  std::atomic<bool> expired_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread timer_;
};

}  // namespace weir::pg
