// A session-level advisory lock held on a connection of its own and kept alive by a background
// thread — what keeps two `weir up` apart for a whole run.
//
// Why a thread: the lock lives as long as its session, and a session that sits idle while a
// long phase runs on another connection is exactly what a server's idle_session_timeout (or a
// proxy, or an administrator) ends. The session gets `idle_session_timeout = 0`, and every
// `interval` the keeper thread asks the server whether the session still holds the lock. When
// the answer is no, or the session is gone, the lock is marked lost with the reason and
// on_lost runs (on the keeper thread; weir uses it to cancel the statement in progress).
//
// Guarantee: lost() reports a lost lock at most `interval` plus one round trip after the
// session ended; check() answers from a round trip made when it is called. The keeper thread
// uses libpq directly on its own connection (never pg::Connection::exec, so it is never the
// statement Ctrl-C cancels), blocks every signal, and never throws. Tested by
// tests/cli/runner_safety_test.lua (idle_session_timeout, pg_terminate_backend) and
// tests/lua/weir_test.lua.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "pg/connection.hpp"

namespace weir::pg {

class SessionLock {
 public:
  // Connects to `target` (throws ConnectionError) and prepares the session; does not lock yet.
  SessionLock(const std::string& target, int32_t key1, int32_t key2,
              const std::string& application_name, double interval_seconds);
  ~SessionLock();
  SessionLock(const SessionLock&) = delete;
  SessionLock& operator=(const SessionLock&) = delete;

  // pg_try_advisory_lock(key1, key2) on the lock's session. When it is granted the keeper
  // thread starts. True once held (also when called again). Throws SqlError/ConnectionError.
  bool try_acquire();
  bool held() const { return held_; }
  // Why the lock was lost, or nullopt while it is held (or was never taken).
  std::optional<std::string> lost() const;
  // Asks the server now. nullopt when the lock is held; otherwise why not (and it is marked
  // lost). Waits at most `wait_seconds` for the keeper's round trip in progress.
  std::optional<std::string> check(double wait_seconds = 10);
  int pid() const { return pid_; }
  // Runs on the keeper thread when the lock is found lost. Set it before try_acquire.
  void on_lost(std::function<void()> f) { on_lost_ = std::move(f); }
  // Stops the keeper, unlocks, closes the session. Idempotent.
  void release() noexcept;

 private:
  std::optional<std::string> probe();  // with conn_mu_ held
  void mark_lost(const std::string& reason);
  void keep();

  std::unique_ptr<Connection> conn_;
  std::string key1_, key2_;  // as pg_locks shows them: classid and objid (oids)
  int32_t k1_, k2_;
  double interval_;
  int pid_ = 0;
  std::atomic<bool> held_{false};

  std::timed_mutex conn_mu_;  // one user of the session at a time: the keeper or check()
  mutable std::mutex state_mu_;
  std::optional<std::string> lost_;
  std::function<void()> on_lost_;

  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread keeper_;
};

// Starts `thread_fn` on a thread that blocks every signal (so SIGINT/SIGTERM still reach the
// main thread, whose handler cancels its statement).
std::thread start_quiet_thread(std::function<void()> thread_fn);

}  // namespace weir::pg
