// libpq connection wrapper (see connection.hpp).
#include "pg/connection.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>

#include "pg/sql_parse.hpp"

namespace weir::pg {

namespace {

// The cancel handle of the connection a blocking libpq call is waiting on. A signal handler
// reads it; the call that set it clears it (only its own, so nested or concurrent calls on
// other threads never clear each other's).
std::atomic<PGcancel*> g_running{nullptr};

class Running {
 public:
  explicit Running(PGcancel* c) : mine_(c) {
    PGcancel* expected = nullptr;
    owner_ = c && g_running.compare_exchange_strong(expected, c);
  }
  ~Running() {
    if (!owner_) return;
    PGcancel* expected = mine_;
    g_running.compare_exchange_strong(expected, nullptr);
  }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;

 private:
  PGcancel* mine_;
  bool owner_ = false;
};

std::string field(const PGresult* r, int code) {
  const char* v = PQresultErrorField(r, code);
  return v ? v : "";
}

// libpq messages span lines ("…failed: x\n\tIs the server running…"): fold them into one.
std::string one_line(std::string s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == '\n' || c == '\r' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) {
      if (out.back() != ' ' && out.back() != ':') out += ";";
      out += ' ';
      space = false;
    }
    out.push_back(c);
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';'))
    out.pop_back();
  return out;
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Where secrets are written in a connection target, whatever its shape: a libpq URL, a URL
// with another or a misspelt scheme (postgresql+psycopg2://, jdbc:postgresql://, PostgreSQL://,
// postgresql//), or a key=value conninfo string. Masking errs towards hiding too much: a
// display that loses a host name costs less than one that shows a password.
using Span = std::pair<size_t, size_t>;

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// A connection key that holds a secret: password, sslpassword, any spelling or case.
bool secret_key(const std::string& key) {
  std::string k;
  for (char c : key)
    if (!std::isspace(static_cast<unsigned char>(c))) k.push_back(lower(c));
  return k.size() >= 8 && k.compare(k.size() - 8, 8, "password") == 0;
}

// user:PASSWORD@ after "://" (up to the last '@': a password may hold '@', '/' or '?').
void url_userinfo(const std::string& t, std::vector<Span>& out) {
  size_t scheme = t.find("://");
  if (scheme == std::string::npos) return;
  size_t start = scheme + 3;
  size_t first_at = t.find('@', start);
  if (first_at == std::string::npos) return;
  size_t colon = t.find(':', start);
  if (colon == std::string::npos || colon > first_at) return;
  out.emplace_back(colon + 1, t.rfind('@'));
}

// user:PASSWORD@ anywhere, for shapes without "://" (postgresql//u:p@h, postgresql:/u:p@h):
// the part of a word between its first ':' and an '@', the word starting after a '/' or
// white space.
void bare_userinfo(const std::string& t, std::vector<Span>& out) {
  for (size_t at = t.find('@'); at != std::string::npos; at = t.find('@', at + 1)) {
    size_t start = at;
    while (start > 0 && t[start - 1] != '/' &&
           !std::isspace(static_cast<unsigned char>(t[start - 1])))
      --start;
    size_t colon = t.find(':', start);
    if (colon < at) out.emplace_back(colon + 1, at);
  }
}

// ?…&KEY=VALUE… of a URL, keys percent-decoded as libpq decodes them (?%70assword=).
void url_query(const std::string& t, std::vector<Span>& out) {
  size_t scheme = t.find("://");
  if (scheme == std::string::npos) return;
  for (size_t q = t.find('?', scheme); q != std::string::npos; q = t.find('?', q + 1)) {
    size_t pos = q + 1;
    while (pos <= t.size()) {
      size_t end = t.find_first_of("&#", pos);
      if (end == std::string::npos) end = t.size();
      size_t eq = t.find('=', pos);
      if (eq != std::string::npos && eq < end &&
          secret_key(percent_decode(t.substr(pos, eq - pos))))
        out.emplace_back(eq + 1, end);
      if (end >= t.size() || t[end] == '#') break;
      pos = end + 1;
    }
  }
}

// KEY = VALUE and KEY = 'quoted \' value' of a conninfo string, wherever a key that holds a
// secret is followed by '=' (also inside text that is not a valid conninfo).
void conninfo_pairs(const std::string& t, std::vector<Span>& out) {
  for (size_t p = 0; p + 8 <= t.size(); ++p) {
    bool match = true;
    for (size_t k = 0; k < 8 && match; ++k)
      match = lower(t[p + k]) == "password"[k];
    if (!match) continue;
    size_t i = p + 8;
    while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i])))
      ++i;
    if (i >= t.size() || t[i] != '=') continue;
    ++i;
    while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i])))
      ++i;
    if (i < t.size() && t[i] == '\'') {
      size_t j = i + 1;
      while (j < t.size() && t[j] != '\'')
        j += (t[j] == '\\') ? 2 : 1;
      out.emplace_back(i + 1, std::min(j, t.size()));
    } else {
      size_t j = i;
      while (j < t.size() && !std::isspace(static_cast<unsigned char>(t[j])) && t[j] != '&' &&
             t[j] != '#')
        ++j;
      out.emplace_back(i, j);
    }
  }
}

// Every secret of `t`, sorted and merged: [begin, end) offsets.
std::vector<Span> secret_spans(const std::string& t) {
  std::vector<Span> found;
  url_userinfo(t, found);
  bare_userinfo(t, found);
  url_query(t, found);
  conninfo_pairs(t, found);
  std::sort(found.begin(), found.end());
  std::vector<Span> merged;
  for (const auto& s : found) {
    if (s.second <= s.first) continue;
    if (!merged.empty() && s.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, s.second);
    } else {
      merged.push_back(s);
    }
  }
  return merged;
}

}  // namespace

// ---- SqlError ------------------------------------------------------------------

SqlError::SqlError(std::string state, std::string msg, std::string q)
    : std::runtime_error(state + " " + msg),
      sqlstate(std::move(state)),
      message(std::move(msg)),
      query(std::move(q)) {}

std::string SqlError::line() const {
  std::string out = sqlstate + " " + message;
  std::string extra;
  if (!detail.empty()) extra += "detail: " + one_line(detail);
  if (!hint.empty()) extra += (extra.empty() ? "" : "; ") + std::string("hint: ") + one_line(hint);
  if (!extra.empty()) out += " (" + extra + ")";
  if (!query.empty()) {
    // a password spliced into the SQL (ALTER ROLE … PASSWORD '…') is shown as '***'
    Redacted redacted = redact_secrets(query);
    for (const auto& secret : redacted.secrets)
      out = scrub(out, secret);
    std::string q;  // the query with every run of whitespace folded into one space
    for (char c : redacted.text) {
      bool space = c == ' ' || c == '\n' || c == '\r' || c == '\t';
      if (!space) {
        q.push_back(c);
      } else if (!q.empty() && q.back() != ' ') {
        q.push_back(' ');
      }
    }
    while (!q.empty() && q.back() == ' ')
      q.pop_back();
    if (q.size() > 120) q = q.substr(0, 117) + "...";
    out += " in: " + q;
  }
  return out;
}

// ---- Result ----------------------------------------------------------------------

long long Result::affected() const {
  if (!r_) return 0;
  const char* n = PQcmdTuples(r_.get());
  return (n && *n) ? std::atoll(n) : 0;
}

// ---- password handling -----------------------------------------------------------

std::string password_of(const std::string& target) {
  // libpq's own reading when it can parse the target: exactly the password it would send.
  char* err = nullptr;
  if (PQconninfoOption* opts = PQconninfoParse(target.c_str(), &err)) {
    std::string password;
    for (PQconninfoOption* o = opts; o->keyword; ++o)
      if (std::strcmp(o->keyword, "password") == 0 && o->val) password = o->val;
    PQconninfoFree(opts);
    return password;
  }
  if (err) PQfreemem(err);
  auto spans = secret_spans(target);
  if (spans.empty()) return "";
  return percent_decode(target.substr(spans[0].first, spans[0].second - spans[0].first));
}

namespace {

// A value a service file line `key=value` can hold: libpq reads a line of at most 1,023 bytes,
// drops the white space at its end and takes the value as written (no quoting).
bool fits_service_file(const std::string& key, const std::string& value) {
  if (key.size() + 1 + value.size() > 1000) return false;
  if (value.find_first_of("\r\n") != std::string::npos) return false;
  return value.empty() || !std::isspace(static_cast<unsigned char>(value.back()));
}

}  // namespace

ClientTarget client_target(const std::string& target) {
  ClientTarget out;
  if (target.empty()) return out;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(target.c_str(), &err);
  if (!opts) {
    std::string why = err ? one_line(err) : "out of memory";
    if (err) PQfreemem(err);
    throw ConnectionError("cannot read " + mask_password(target) + ": " +
                          scrub_target(why, target));
  }
  struct Free {
    PQconninfoOption* o;
    ~Free() { PQconninfoFree(o); }
  } owned{opts};
  std::string service, file_text, others;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (!o->val) continue;
    std::string key = o->keyword, value = o->val;
    if (key == "service") {
      service = value;
      continue;
    }
    others += (others.empty() ? "" : ", ") + key;
    if (fits_service_file(key, value)) {
      file_text += key + "=" + value + "\n";
    } else if (o->envvar) {
      out.env.push_back(std::string(o->envvar) + "=" + value);
    } else {
      throw ConnectionError("cannot hand " + key + " of " + mask_password(target) +
                            " to a client program: its value has a line break, white space at "
                            "its end or more than 1,000 bytes, which a service file cannot hold");
    }
  }
  if (!service.empty()) {
    if (!others.empty())
      throw ConnectionError(mask_password(target) + " names service " + service +
                            " and also sets " + others +
                            ": put those in the service's definition, so that weir can hand a "
                            "client program the service alone");
    out.env.push_back("PGSERVICE=" + service);
    return out;
  }
  out.service_file = "[weir]\n" + file_text;
  out.args.push_back("--dbname=service=weir");
  return out;
}

int text_pipe(const std::string& text) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw ConnectionError(std::string("cannot make a pipe: ") + std::strerror(errno));
  // above stdin/stdout/stderr, which a child points elsewhere
  for (int& fd : fds) {
    if (fd > 2) continue;
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    ::close(fd);
    fd = moved;
  }
  if (fds[0] < 0 || fds[1] < 0) {
    int e = errno;
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
    throw ConnectionError(std::string("cannot make a pipe: ") + std::strerror(e));
  }
  // the write end never blocks: more than the pipe holds is an error, not a hang
  ::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) | O_NONBLOCK);
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fds[1], text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  ::close(fds[1]);
  if (written < text.size()) {
    ::close(fds[0]);
    throw ConnectionError("cannot hand a client program its settings: more than a pipe holds");
  }
  return fds[0];
}

std::string mask_password(const std::string& target) {
  std::string out;
  size_t from = 0;
  for (const auto& [b, e] : secret_spans(target)) {
    out += target.substr(from, b - from) + "***";
    from = e;
  }
  return out + target.substr(from);
}

std::string scrub(std::string message, const std::string& secret) {
  if (secret.empty()) return message;
  size_t p = 0;
  while ((p = message.find(secret, p)) != std::string::npos) {
    message.replace(p, secret.size(), "***");
    p += 3;
  }
  return message;
}

std::string scrub_target(std::string message, const std::string& target) {
  if (target.empty()) return message;
  // libpq quotes a target it cannot parse whole: show it masked
  std::string masked = mask_password(target);
  for (size_t p = 0; (p = message.find(target, p)) != std::string::npos; p += masked.size())
    message.replace(p, target.size(), masked);
  for (const auto& [b, e] : secret_spans(target)) {
    std::string raw = target.substr(b, e - b);
    message = scrub(scrub(message, raw), percent_decode(raw));
  }
  return scrub(message, password_of(target));
}

// ---- Connection --------------------------------------------------------------------

namespace {

bool (*g_connect_interrupt)() = nullptr;

std::string option_value(PGconn* conn, const char* key) {
  std::string out;
  if (PQconninfoOption* opts = PQconninfo(conn)) {
    for (PQconninfoOption* o = opts; o->keyword; ++o)
      if (std::strcmp(o->keyword, key) == 0 && o->val) out = o->val;
    PQconninfoFree(opts);
  }
  return out;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t from = 0;
  for (size_t comma; (comma = s.find(',', from)) != std::string::npos; from = comma + 1)
    out.push_back(s.substr(from, comma - from));
  out.push_back(s.substr(from));
  return out;
}

std::string join_from(const std::vector<std::string>& items, size_t first) {
  std::string out;
  for (size_t i = first; i < items.size(); ++i)
    out += (i > first ? "," : "") + items[i];
  return out;
}

// libpq's reading of connect_timeout: seconds per host tried, under 2 taken as 2, 0 or none
// for no limit.
int timeout_seconds(PGconn* conn) {
  std::string t = option_value(conn, "connect_timeout");
  int seconds = t.empty() ? 0 : std::atoi(t.c_str());
  return seconds > 0 && seconds < 2 ? 2 : std::max(seconds, 0);
}

// A connection attempt like `conn`'s, on the hosts after the one at `index` of its host list:
// what libpq does itself when a host does not answer within connect_timeout. nullptr when
// there is none after it.
PGconn* start_on_next_host(PGconn* conn, size_t index) {
  std::vector<std::string> hosts = split_list(option_value(conn, "host"));
  std::vector<std::string> addrs = split_list(option_value(conn, "hostaddr"));
  std::vector<std::string> ports = split_list(option_value(conn, "port"));
  size_t count = std::max(hosts.size(), addrs.size());
  if (index + 1 >= count) return nullptr;
  std::vector<std::string> keys, values;
  if (PQconninfoOption* opts = PQconninfo(conn)) {
    for (PQconninfoOption* o = opts; o->keyword; ++o) {
      if (!o->val) continue;
      std::string key = o->keyword, value = o->val;
      if (key == "host" && hosts.size() > 1) value = join_from(hosts, index + 1);
      if (key == "hostaddr" && addrs.size() > 1) value = join_from(addrs, index + 1);
      if (key == "port" && ports.size() > 1) value = join_from(ports, index + 1);
      keys.push_back(key);
      values.push_back(value);
    }
    PQconninfoFree(opts);
  }
  std::vector<const char*> k, v;
  for (size_t i = 0; i < keys.size(); ++i) {
    k.push_back(keys[i].c_str());
    v.push_back(values[i].c_str());
  }
  k.push_back(nullptr);
  v.push_back(nullptr);
  return PQconnectStartParams(k.data(), v.data(), 0);
}

// Which of the target's hosts `conn` is trying now (libpq tries them in order from `from`).
size_t current_host(PGconn* conn, size_t from) {
  std::vector<std::string> hosts = split_list(option_value(conn, "host"));
  std::vector<std::string> addrs = split_list(option_value(conn, "hostaddr"));
  const char* now = PQhost(conn);
  std::string h = now ? now : "";
  for (size_t i = from; i < std::max(hosts.size(), addrs.size()); ++i)
    if ((i < hosts.size() && hosts[i] == h) || (i < addrs.size() && addrs[i] == h)) return i;
  return from;
}

}  // namespace

void set_connect_interrupt(bool (*stop)()) {
  g_connect_interrupt = stop;
}

Connection::Connection(const std::string& target) {
  safe_url_ = target.empty() ? "(libpq defaults)" : mask_password(target);

  // connect_timeout comes before dbname, which expands `target`: a connect_timeout in the URL
  // or conninfo wins over weir's default, and $PGCONNECT_TIMEOUT replaces it (libpq reads it
  // only for a parameter nobody set).
  const char* env_timeout = std::getenv("PGCONNECT_TIMEOUT");
  bool default_timeout = !(env_timeout && *env_timeout);
  std::string timeout = std::to_string(kDefaultConnectTimeoutSeconds);
  const char* keys[] = {"connect_timeout", "dbname", "fallback_application_name", "client_encoding",
                        nullptr};
  const char* values[] = {default_timeout ? timeout.c_str() : nullptr,
                          target.empty() ? nullptr : target.c_str(), "weir", "UTF8", nullptr};
  conn_ = PQconnectStartParams(keys, values, 1);
  if (!conn_) throw ConnectionError("cannot connect: out of memory");
  auto fail = [&](std::string why) {
    PQfinish(conn_);
    conn_ = nullptr;
    throw ConnectionError("cannot connect to " + safe_url_ + ": " + scrub_target(why, target));
  };
  // libpq's connectDBComplete, but waiting at most 100 ms at a time, so that a signal (the
  // interrupt check) ends a connection to a server that accepts TCP and never answers at once;
  // connect_timeout is kept per host, and a host that runs out of it is left for the next one.
  using Clock = std::chrono::steady_clock;
  std::string timed_out;  // libpq's words for each host that ran out of time
  size_t host = 0;
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  int seconds = timeout_seconds(conn_);
  auto deadline = Clock::now() + std::chrono::seconds(seconds);
  int last_socket = PQsocket(conn_);
  const char* last_host = PQhost(conn_);
  std::string attempt = last_host ? last_host : "";
  while (state != PGRES_POLLING_OK) {
    if (PQstatus(conn_) == CONNECTION_BAD || state == PGRES_POLLING_FAILED)
      fail(timed_out + one_line(PQerrorMessage(conn_)));
    int sock = PQsocket(conn_);
    if (sock < 0) {  // no socket yet to wait on: libpq has a step to take first
      state = PQconnectPoll(conn_);
      continue;
    }
    const char* now_host = PQhost(conn_);
    if (sock != last_socket || (now_host ? now_host : "") != attempt) {  // a new attempt
      last_socket = sock;
      attempt = now_host ? now_host : "";
      deadline = Clock::now() + std::chrono::seconds(seconds);
    }
    pollfd pfd{sock, static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    int slice = 100;
    if (seconds > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      slice = static_cast<int>(std::max<long long>(0, std::min<long long>(slice, left.count())));
    }
    int ready = ::poll(&pfd, 1, slice);
    if (ready < 0 && errno != EINTR) fail(std::string("poll: ") + std::strerror(errno));
    if (g_connect_interrupt && g_connect_interrupt()) fail("interrupted");
    if (ready <= 0) {
      if (seconds <= 0 || Clock::now() < deadline) continue;
      const char* h = PQhost(conn_);
      const char* p = PQport(conn_);
      timed_out += std::string("connection to server at \"") + (h ? h : "") + "\", port " +
                   (p ? p : "") + " failed: timeout expired; ";
      host = current_host(conn_, host);
      PGconn* next = start_on_next_host(conn_, host);
      if (!next) fail(timed_out.substr(0, timed_out.size() - 2));
      PQfinish(conn_);
      conn_ = next;
      host = 0;  // the new attempt's list starts after the host that timed out
      state = PGRES_POLLING_WRITING;
      last_socket = -2;
      continue;
    }
    state = PQconnectPoll(conn_);
  }
  PQsetNoticeReceiver(conn_, &Connection::on_notice, this);
  cancel_ = PQgetCancel(conn_);
}

Connection::~Connection() {
  wait_background();
  if (cancel_) PQfreeCancel(cancel_);
  if (copy_buf_) PQfreemem(copy_buf_);
  if (conn_) PQfinish(conn_);
}

void Connection::on_notice(void* self, const PGresult* r) {
  auto* c = static_cast<Connection*>(self);
  std::string severity = field(r, PG_DIAG_SEVERITY_NONLOCALIZED);
  std::string message = field(r, PG_DIAG_MESSAGE_PRIMARY);
  if (c->sink_) c->sink_(c->sink_ctx_, severity, message);
}

namespace {

// Whether a result is a success: a command, rows, nothing, or a COPY started.
bool succeeded(const PGresult* r) {
  switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
      return true;
    default:
      return false;
  }
}

}  // namespace

Result Connection::check(PGresult* r, const std::string& sql) {
  Result result(r);
  if (!r) {
    throw ConnectionError("connection lost: " + one_line(PQerrorMessage(conn_)));
  }
  if (succeeded(r)) return result;
  std::string state = field(r, PG_DIAG_SQLSTATE);
  if (state.empty() && PQstatus(conn_) != CONNECTION_OK) {
    throw ConnectionError("connection lost: " + one_line(PQerrorMessage(conn_)));
  }
  SqlError e(state.empty() ? "XX000" : state, field(r, PG_DIAG_MESSAGE_PRIMARY), sql);
  if (e.message.empty()) e.message = one_line(PQresultErrorMessage(r));
  e.severity = field(r, PG_DIAG_SEVERITY_NONLOCALIZED);
  e.detail = field(r, PG_DIAG_MESSAGE_DETAIL);
  e.hint = field(r, PG_DIAG_MESSAGE_HINT);
  e.context = field(r, PG_DIAG_CONTEXT);
  std::string pos = field(r, PG_DIAG_STATEMENT_POSITION);
  e.position = pos.empty() ? 0 : std::atoi(pos.c_str());
  throw e;
}

Result Connection::exec(const std::string& sql) {
  if (!conn_) throw ConnectionError("connection is closed");
  Running running(cancel_);
  return check(PQexec(conn_, sql.c_str()), sql);
}

void Connection::copy_out(const std::string& sql) {
  Result r = exec(sql);
  if (PQresultStatus(r.get()) != PGRES_COPY_OUT)
    throw SqlError("42601", "not a COPY … TO STDOUT statement", sql);
  copy_sql_ = sql;
}

long Connection::read_copy(const char** buf) {
  if (copy_buf_) {
    PQfreemem(copy_buf_);
    copy_buf_ = nullptr;
  }
  Running running(cancel_);
  int n = PQgetCopyData(conn_, &copy_buf_, 0);
  if (n >= 0) {
    *buf = copy_buf_;
    return n;
  }
  if (n == -2) throw ConnectionError("connection lost: " + one_line(PQerrorMessage(conn_)));
  // -1: the COPY is over; its result says whether it succeeded.
  Result done = check(PQgetResult(conn_), copy_sql_);
  copied_out_ = done.affected();
  while (PGresult* extra = PQgetResult(conn_))
    PQclear(extra);
  return -1;
}

void Connection::copy_in(const std::string& sql) {
  Result r = exec(sql);
  if (PQresultStatus(r.get()) != PGRES_COPY_IN)
    throw SqlError("42601", "not a COPY … FROM STDIN statement", sql);
  copy_sql_ = sql;
}

void Connection::write_copy(const char* data, size_t n) {
  Running running(cancel_);
  if (PQputCopyData(conn_, data, static_cast<int>(n)) != 1)
    throw ConnectionError("connection lost: " + one_line(PQerrorMessage(conn_)));
}

Result Connection::end_copy(const char* error) {
  Running running(cancel_);
  if (PQputCopyEnd(conn_, error) != 1)
    throw ConnectionError("connection lost: " + one_line(PQerrorMessage(conn_)));
  Result r = check(PQgetResult(conn_), copy_sql_);
  while (PGresult* extra = PQgetResult(conn_))
    PQclear(extra);
  return r;
}

void Connection::send_query(const std::string& sql) {
  if (!conn_) throw ConnectionError("connection is closed");
  if (PQsendQuery(conn_, sql.c_str()) != 1)
    throw ConnectionError("connection lost: " + one_line(PQerrorMessage(conn_)));
  copy_sql_ = sql;
}

Result Connection::next_result() {
  Running running(cancel_);
  PGresult* r = PQgetResult(conn_);
  if (!r) return Result();
  if (succeeded(r)) return Result(r);
  while (PGresult* extra = PQgetResult(conn_))
    PQclear(extra);
  return check(r, copy_sql_);
}

long long Connection::send_with_copies(const std::string& sql, const std::function<void()>& rows) {
  long long copied = 0;
  bool in_copy = false;
  try {
    send_query(sql);
    for (;;) {
      Result r = next_result();
      if (!r.get()) break;
      if (PQresultStatus(r.get()) == PGRES_COPY_IN) {
        in_copy = true;
        rows();
        copy_done();
        in_copy = false;
      } else if (r.command().compare(0, 5, "COPY ") == 0) {
        copied += r.affected();
      }
    }
  } catch (const std::exception&) {
    try {
      if (in_copy) copy_done("copy aborted");
      for (Result r; (r = next_result()).get() && PQresultStatus(r.get()) != PGRES_COPY_IN;) {
      }
    } catch (const std::exception&) {
      // the first error is the one to show
    }
    throw;
  }
  return copied;
}

void Connection::copy_done(const char* error) {
  Running running(cancel_);
  if (PQputCopyEnd(conn_, error) != 1)
    throw ConnectionError("connection lost: " + one_line(PQerrorMessage(conn_)));
}

Result Connection::send_copy(const char* data, size_t n) {
  try {
    constexpr size_t kChunk = 1 << 16;
    for (size_t at = 0; at < n; at += kChunk)
      write_copy(data + at, std::min(kChunk, n - at));
  } catch (const std::exception&) {
    try {
      end_copy("copy aborted");
    } catch (const std::exception&) {
    }
    throw;
  }
  return end_copy();
}

Result Connection::exec_params(const std::string& sql, const std::vector<Param>& params) {
  if (!conn_) throw ConnectionError("connection is closed");
  std::vector<Oid> types(params.size());
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size()), formats(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    types[i] = p.type;
    values[i] = p.null ? nullptr : p.value.data();
    lengths[i] = static_cast<int>(p.value.size());
    formats[i] = p.binary ? 1 : 0;
  }
  Running running(cancel_);
  return check(PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), types.data(),
                            values.data(), lengths.data(), formats.data(), 0),
               sql);
}

bool Connection::in_transaction() const {
  if (!conn_) return false;
  PGTransactionStatusType s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

const TypeDesc& Connection::describe_type(Oid type) {
  if (const TypeDesc* b = builtin_type(type)) return *b;
  auto it = types_.find(type);
  if (it == types_.end()) {
    resolve_types({type});
    it = types_.find(type);
  }
  return it->second;
}

std::vector<const TypeDesc*> Connection::describe_columns(const Result& r) {
  std::vector<Oid> unknown;
  for (int c = 0; c < r.columns(); ++c) {
    Oid t = r.column_type(c);
    if (!builtin_type(t) && !types_.count(t)) unknown.push_back(t);
  }
  if (!unknown.empty()) resolve_types(unknown);
  std::vector<const TypeDesc*> out;
  for (int c = 0; c < r.columns(); ++c)
    out.push_back(&describe_type(r.column_type(c)));
  return out;
}

// Looks types up in pg_type, following domains to their base type and arrays to their
// element type, until every referenced type is known. One query per level of indirection.
void Connection::resolve_types(const std::vector<Oid>& oids) {
  struct Row {
    std::string name;
    char category;
    char delim;
    Oid elem, base;
  };
  std::map<Oid, Row> rows;
  std::set<Oid> pending(oids.begin(), oids.end());
  const std::string sql =
      "SELECT t.oid, t.typname, t.typcategory, t.typdelim, t.typelem, t.typbasetype\n"
      "  FROM pg_catalog.pg_type t\n"
      " WHERE t.oid = ANY ($1::pg_catalog.oid[])";
  for (int level = 0; level < 8 && !pending.empty(); ++level) {
    std::string list = "{";
    for (Oid o : pending)
      list += (list.size() > 1 ? "," : "") + std::to_string(o);
    list += "}";
    Param p;
    p.value = list;
    Result r = exec_params(sql, {p});
    pending.clear();
    for (int i = 0; i < r.rows(); ++i) {
      Row row{r.value(i, 1), r.value(i, 2)[0], r.value(i, 3)[0],
              static_cast<Oid>(std::strtoul(r.value(i, 4), nullptr, 10)),
              static_cast<Oid>(std::strtoul(r.value(i, 5), nullptr, 10))};
      Oid self = static_cast<Oid>(std::strtoul(r.value(i, 0), nullptr, 10));
      rows[self] = row;
      for (Oid ref : {row.elem, row.base}) {
        if (ref && !builtin_type(ref) && !types_.count(ref) && !rows.count(ref))
          pending.insert(ref);
      }
    }
  }
  // Resolve in an order where references come first: a simple fixpoint over the small map.
  std::function<TypeDesc(Oid, int)> build = [&](Oid o, int depth) -> TypeDesc {
    if (const TypeDesc* b = builtin_type(o)) return *b;
    if (auto it = types_.find(o); it != types_.end()) return it->second;
    auto it = rows.find(o);
    if (it == rows.end() || depth > 8) return TypeDesc{};
    const Row& row = it->second;
    TypeDesc d;
    if (row.base) {
      d = build(row.base, depth + 1);
    } else if (row.category == 'A' && row.elem) {
      TypeDesc e = build(row.elem, depth + 1);
      d.kind = Kind::Array;
      d.elem = e.kind == Kind::Array ? Kind::Text : e.kind;
      d.delim = e.delim;  // arrays use their element type's delimiter (';' for box)
    } else {
      d.kind = kind_for_category(row.category) == Kind::Bool ? Kind::Bool : Kind::Text;
      d.delim = row.delim;
    }
    d.name = row.name;
    types_[o] = d;
    return d;
  };
  for (Oid o : oids) {
    if (!types_.count(o)) types_[o] = build(o, 0);
  }
}

std::string Connection::quote_ident(const std::string& name) const {
  char* q = PQescapeIdentifier(conn_, name.data(), name.size());
  if (!q) throw ConnectionError("quote_ident: " + one_line(PQerrorMessage(conn_)));
  std::string out(q);
  PQfreemem(q);
  return out;
}

std::string Connection::quote_literal(const std::string& text) const {
  char* q = PQescapeLiteral(conn_, text.data(), text.size());
  if (!q) throw ConnectionError("quote_literal: " + one_line(PQerrorMessage(conn_)));
  std::string out(q);
  PQfreemem(q);
  return out;
}

ConnInfo Connection::info() const {
  ConnInfo i;
  if (!conn_) return i;
  auto s = [](const char* v) { return std::string(v ? v : ""); };
  i.database = s(PQdb(conn_));
  i.user = s(PQuser(conn_));
  i.host = s(PQhost(conn_));
  i.port = s(PQport(conn_));
  i.server_version = s(PQparameterStatus(conn_, "server_version"));
  i.url = safe_url_;
  return i;
}

void Connection::cancel() const {
  if (!conn_) return;
  PGcancel* c = PQgetCancel(conn_);
  if (!c) return;
  char buf[256];
  PQcancel(c, buf, sizeof buf);
  PQfreeCancel(c);
}

bool cancel_running_statement() noexcept {
  PGcancel* c = g_running.load();
  if (!c) return false;
  char buf[256];
  return PQcancel(c, buf, sizeof buf) == 1;
}

}  // namespace weir::pg
