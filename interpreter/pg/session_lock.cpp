// A session-level advisory lock kept alive by a background thread (see session_lock.hpp).
#include "pg/session_lock.hpp"

#include <pthread.h>
#include <signal.h>

#include <chrono>

namespace weir::pg {

namespace {

// libpq's messages end in a newline and may span lines: one line, trimmed.
std::string folded(const char* text) {
  std::string out;
  for (const char* p = text ? text : ""; *p; ++p) {
    char c = *p;
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out.push_back(c);
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

const char* const kHeld =
    "SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_catalog.pg_backend_pid() AND classid = $1::pg_catalog.oid"
    " AND objid = $2::pg_catalog.oid AND objsubid = 2";

}  // namespace

std::thread start_quiet_thread(std::function<void()> thread_fn) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the new thread inherits this mask
  struct Restore {
    sigset_t* old;
    ~Restore() { pthread_sigmask(SIG_SETMASK, old, nullptr); }
  } restore{&old};
  return std::thread(std::move(thread_fn));
}

SessionLock::SessionLock(const std::string& target, int32_t key1, int32_t key2,
                         const std::string& application_name, double interval_seconds)
    : conn_(std::make_unique<Connection>(target)),
      key1_(std::to_string(static_cast<uint32_t>(key1))),
      key2_(std::to_string(static_cast<uint32_t>(key2))),
      k1_(key1),
      k2_(key2),
      interval_(interval_seconds) {
  pid_ = PQbackendPID(conn_->raw());
  conn_->exec("SET application_name = " + conn_->quote_literal(application_name));
  // An idle lock session is the normal case: it must not be ended for idling. (Servers
  // before 14 have no idle_session_timeout, and end no idle session.)
  try {
    conn_->exec("SET idle_session_timeout = 0");
  } catch (const SqlError&) {
  }
  conn_->exec("SET statement_timeout = 0");
}

SessionLock::~SessionLock() {
  release();
}

bool SessionLock::try_acquire() {
  if (held_) return true;
  if (!conn_) throw ConnectionError("the lock's session is closed");
  bool got;
  {
    std::lock_guard<std::timed_mutex> c(conn_mu_);
    Result r = conn_->exec_params(
        "SELECT pg_catalog.pg_try_advisory_lock($1::int4, $2::int4)",
        {Param{false, false, 0, std::to_string(k1_)}, Param{false, false, 0, std::to_string(k2_)}});
    got = r.rows() == 1 && std::string(r.value(0, 0)) == "t";
  }
  if (!got) return false;
  held_ = true;
  keeper_ = start_quiet_thread([this] { keep(); });
  return true;
}

std::optional<std::string> SessionLock::lost() const {
  std::lock_guard<std::mutex> s(state_mu_);
  return lost_;
}

void SessionLock::mark_lost(const std::string& reason) {
  std::function<void()> notify;
  {
    std::lock_guard<std::mutex> s(state_mu_);
    if (lost_) return;
    lost_ = reason;
    notify = on_lost_;
  }
  if (notify) notify();
}

std::optional<std::string> SessionLock::probe() {
  PGconn* c = conn_ ? conn_->raw() : nullptr;
  if (!c || PQstatus(c) != CONNECTION_OK) return std::string("its session's connection is closed");
  const char* values[] = {key1_.c_str(), key2_.c_str()};
  PGresult* r = PQexecParams(c, kHeld, 2, nullptr, values, nullptr, nullptr, 0);
  std::optional<std::string> why;
  if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    std::string text = folded(r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    if (text.empty()) text = folded(PQerrorMessage(c));
    // libpq's explanation of a closed socket guesses at a crash; the first clause is the fact
    if (auto cut = text.find(" This probably means"); cut != std::string::npos) text.resize(cut);
    why = "its session (backend pid " + std::to_string(pid_) + ") ended: " + text +
          (state ? std::string(" (") + state + ")" : "");
  } else if (std::string(PQgetvalue(r, 0, 0)) == "0") {
    why = "its session (backend pid " + std::to_string(pid_) + ") no longer holds it";
  }
  if (r) PQclear(r);
  return why;
}

std::optional<std::string> SessionLock::check(double wait_seconds) {
  if (auto l = lost()) return l;
  if (!held_) return std::string("it was never taken");
  std::unique_lock<std::timed_mutex> c(conn_mu_, std::defer_lock);
  if (!c.try_lock_for(std::chrono::duration<double>(wait_seconds))) {
    std::string why =
        "its session did not answer within " + std::to_string(int(wait_seconds)) + " s";
    mark_lost(why);
    return why;
  }
  auto why = probe();
  c.unlock();
  if (why) mark_lost(*why);
  return lost();
}

void SessionLock::keep() {
  try {
    std::unique_lock<std::mutex> w(wake_mu_);
    while (!stop_) {
      if (wake_.wait_for(w, std::chrono::duration<double>(interval_), [this] { return stop_; }))
        break;
      w.unlock();
      std::optional<std::string> why;
      {
        std::lock_guard<std::timed_mutex> c(conn_mu_);
        why = probe();
      }
      if (why) mark_lost(*why);
      w.lock();
      if (why) break;
    }
  } catch (const std::exception& e) {
    mark_lost(std::string("its keeper stopped: ") + e.what());
  }
}

void SessionLock::release() noexcept {
  try {
    {
      std::lock_guard<std::mutex> w(wake_mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (keeper_.joinable()) keeper_.join();
    if (conn_ && held_ && !lost() && PQstatus(conn_->raw()) == CONNECTION_OK) {
      const char* values[] = {nullptr, nullptr};
      std::string a = std::to_string(k1_), b = std::to_string(k2_);
      values[0] = a.c_str();
      values[1] = b.c_str();
      PGresult* r =
          PQexecParams(conn_->raw(), "SELECT pg_catalog.pg_advisory_unlock($1::int4, $2::int4)", 2,
                       nullptr, values, nullptr, nullptr, 0);
      if (r) PQclear(r);
    }
    held_ = false;
    conn_.reset();
  } catch (const std::exception&) {
    conn_.reset();
  }
}

}  // namespace weir::pg
