// Stopping a script on SIGINT/SIGTERM (see interrupt.hpp).
#include "lua/interrupt.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>

#include <unistd.h>

#include "pg/connection.hpp"

namespace weir::lua {

namespace {

volatile std::sig_atomic_t g_signal = 0;     // the last signal seen (0: none)
volatile std::sig_atomic_t g_stop = 0;       // the running script must stop
volatile std::sig_atomic_t g_held = 0;       // hold_interrupts(): signals are only recorded
bool g_repl_mode = false;                    // SIGINT never ends the process
std::atomic<lua_State*> g_main{nullptr};     // the state running a script or command
std::atomic<lua_State*> g_running{nullptr};  // the coroutine being resumed in it, if any

const char kInterruptKey = 0;  // registry: the interrupt value

// After the first raise the hook stays, firing every this many instructions: in case the
// first one landed where nothing passes it on (a __gc finalizer turns errors into warnings).
constexpr int kRearmCount = 1000;

// How long a script has to stop after the first SIGINT/SIGTERM before weir exits without it
// (docs/scripts.md); on_alarm's message says the same number.
constexpr unsigned kGraceSeconds = 5;

void stop_hook(lua_State* L, lua_Debug*);

// Safe in a signal handler: lua_sethook is meant to be called asynchronously (lua.c does).
void arm(lua_State* L) {
  lua_sethook(L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

void stop_hook(lua_State* L, lua_Debug*) {
  if (!stop_requested()) {
    lua_sethook(L, nullptr, 0, 0);
    return;
  }
  // Not every instruction any more: a message handler (xpcall's, the traceback) runs next and
  // must not be interrupted again and again.
  lua_sethook(L, stop_hook, LUA_MASKCOUNT, kRearmCount);
  raise_interrupt(L);
}

// Ends the process at once with 128 + sig, saying why on stderr: what weir cannot clean up
// itself is cleaned up for it (the server rolls back an open transaction when the connection
// drops; a throwaway cluster's watchdog removes it). Async-signal-safe.
[[noreturn]] void exit_now(int sig, const char* why) {
  const char* name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
  for (const char* part : {"weir: ", why, name, ": exiting at once\n"}) {
    ssize_t ignored = ::write(2, part, std::strlen(part));
    (void)ignored;
  }
  ::_exit(128 + sig);
}

// The last resort: a script that has not stopped kGraceSeconds after the first signal (a loop
// in a __gc finalizer, where Lua runs no hooks; a string pattern or other C code that never
// returns to Lua) is ended here.
void on_alarm(int) {
  exit_now(g_signal ? g_signal : SIGTERM, "the script did not stop within 5 s of ");
}

void on_signal(int sig) {
  bool again = g_signal != 0;
  if (again && !(g_repl_mode && sig == SIGINT))  // second signal: give up on a clean stop
    exit_now(sig, "a second ");
  g_signal = sig;
  if (g_held) return;
  if (!(g_repl_mode && sig == SIGINT)) ::alarm(kGraceSeconds);
  lua_State* L = g_main.load();
  if (!L) return;
  // A query in progress ends now, not when it is done. In the REPL its own error (57014,
  // canceling statement due to user request) is what stops the chunk, unless this is the
  // second Ctrl-C; a script is also stopped at its next instruction, in case it catches it.
  bool cancelled = pg::cancel_running_statement();
  if (g_repl_mode && sig == SIGINT && cancelled && !again) return;
  g_stop = 1;
  arm(L);
  if (lua_State* co = g_running.load()) arm(co);
}

}  // namespace

bool stop_requested() {
  return g_stop && !g_held;
}

int raise_interrupt(lua_State* L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kInterruptKey);
  return lua_error(L);
}

bool is_interrupt(lua_State* L, int idx) {
  if (!lua_istable(L, idx)) return false;
  idx = lua_absindex(L, idx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kInterruptKey);
  bool same = lua_rawequal(L, idx, -1);
  lua_pop(L, 1);
  return same;
}

lua_State* set_running_coroutine(lua_State* co) {
  return g_running.exchange(co);
}

void arm_if_stopping(lua_State* L) {
  if (stop_requested()) arm(L);
}

void watch_for_interrupts(lua_State* L) {
  lua_createtable(L, 0, 0);
  lua_createtable(L, 0, 2);
  lua_pushliteral(L, "weir.Interrupt");
  lua_setfield(L, -2, "__name");
  lua_pushcfunction(L, [](lua_State* S) -> int {
    lua_pushliteral(S, "interrupted");
    return 1;
  });
  lua_setfield(L, -2, "__tostring");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kInterruptKey);
}

void install_interrupt_handlers(lua_State*) {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGALRM, on_alarm);
  pg::set_connect_interrupt(stop_requested);
}

void begin_run(lua_State* L) {
  g_running.store(nullptr);
  g_main.store(L);
  if (g_signal && !g_held) {  // a signal before the run: it stops at once
    g_stop = 1;
    arm(L);
  }
}

void end_run(lua_State* L) {
  g_main.store(nullptr);
  g_running.store(nullptr);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  g_stop = 0;
  g_held = 0;
  lua_sethook(L, nullptr, 0, 0);
}

void sleep_interruptibly(lua_State* L, double seconds) {
  using Clock = std::chrono::steady_clock;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  for (;;) {
    if (stop_requested()) raise_interrupt(L);
    auto left = end - Clock::now();
    if (left <= Clock::duration::zero()) return;
    // At most 100 ms at a time: a signal cuts nanosleep short (EINTR), but one that comes just
    // before it starts would not.
    auto slice = std::min<Clock::duration>(left, std::chrono::milliseconds(100));
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(slice).count();
    timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    nanosleep(&ts, nullptr);
  }
}

void hold_interrupts() {
  g_held = 1;
  ::alarm(0);  // the script has stopped: weir's own cleanup runs to its end (a second signal
               // still ends it)
  lua_State* L = g_main.exchange(nullptr);  // before the hook is cleared: a signal now cannot
  std::atomic_signal_fence(std::memory_order_seq_cst);  // set it again
  if (L) lua_sethook(L, nullptr, 0, 0);
}

void install_repl_interrupt_handlers() {
  g_repl_mode = true;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a read at the prompt returns EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGALRM, on_alarm);
  pg::set_connect_interrupt(stop_requested);
}

void interrupt_lua_while(lua_State* L) {
  g_main.store(L);
}

int take_interrupt(lua_State* L) {
  int sig = g_signal;
  g_signal = 0;
  g_stop = 0;
  if (L) lua_sethook(L, nullptr, 0, 0);
  return sig;
}

int pending_interrupt() {
  return g_signal;
}

}  // namespace weir::lua
