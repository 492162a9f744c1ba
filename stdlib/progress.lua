--- progress: what weir says on stderr while it works — one facility for the runner's phases,
--- copy.table, copy.update, online backfills and any other long stdlib loop (docs/progress.md).
---
--- Styles (--progress, else $WEIR_PROGRESS, else auto):
---   tty    one live line, drawn in place and erased cleanly ("\r" … "\27[K", cut to the
---          terminal's width), its elapsed time moving every second
---   plain  for logs: a whole line every `interval` seconds (--progress-interval, else
---          $WEIR_PROGRESS_INTERVAL, else 10) while something runs
---   off    no live or periodic lines (the start and end lines of phases are still said)
---   auto   tty when stderr is a terminal, else plain
--- A copy worker process (WEIR_COPY_SPEC) never reports: the process that started it does.
--- The line itself is C++ ("progress.core", pg/status_line.hpp): a thread keeps it current
--- while one long statement runs.
local core = require "progress.core"

local P = {}

P.DEFAULT_INTERVAL = 10
P.STYLES = { "auto", "tty", "plain", "off" }

local chosen = {}   -- from the command line: mode, interval
local applied       -- "STYLE/INTERVAL" the live line was configured with
local open = {}     -- labels of what runs now, outermost first (a phase, then a copy in it)

local function one_of_styles(v)
  for _, s in ipairs(P.STYLES) do
    if v == s then return true end
  end
  return false
end

-- A setting from the environment, checked: a bad value is an error naming the variable.
local function env_mode()
  local v = os.getenv "WEIR_PROGRESS"
  if v == nil or v == "" then return nil end
  if not one_of_styles(v) then
    error(("$WEIR_PROGRESS: '%s' is not a progress style (expected auto, tty, plain or off)"):format(v), 0)
  end
  return v
end

local function env_interval()
  local v = os.getenv "WEIR_PROGRESS_INTERVAL"
  if v == nil or v == "" then return nil end
  local n = tonumber(v)
  if not n or n <= 0 or n ~= n or n == math.huge then
    error(("$WEIR_PROGRESS_INTERVAL: '%s' is not a number of seconds above 0"):format(v), 0)
  end
  return n
end

---Sets the style and the plain style's interval from the command line (nil keeps what the
---environment or the default says). Raises on a bad value.
---@param opts {mode?: string, interval?: number|string}
function P.configure(opts)
  opts = opts or {}
  if opts.mode ~= nil and not one_of_styles(opts.mode) then
    error(("--progress: '%s' is not a progress style (expected auto, tty, plain or off)"):format(tostring(opts.mode)), 0)
  end
  local interval = opts.interval ~= nil and tonumber(opts.interval) or nil
  if opts.interval ~= nil and not (interval and interval > 0 and interval < math.huge) then
    error(("--progress-interval: '%s' is not a number of seconds above 0"):format(tostring(opts.interval)), 0)
  end
  chosen = { mode = opts.mode, interval = interval }
  env_mode()
  env_interval()
end

---The style in effect: "tty", "plain" or "off".
function P.style()
  if os.getenv "WEIR_COPY_SPEC" then return "off" end
  local mode = chosen.mode or env_mode() or "auto"
  if mode == "auto" then return core.is_terminal(2) and "tty" or "plain" end
  return mode
end

---The plain style's period, in seconds.
function P.interval() return chosen.interval or env_interval() or P.DEFAULT_INTERVAL end

-- The live line, configured for the style in effect; false when the style is off.
local function live()
  local style, interval = P.style(), P.interval()
  local key = style .. "/" .. interval
  if applied ~= key then
    core.configure(style, interval)
    applied = key
  end
  return style ~= "off"
end

-- ---------------------------------------------------------------------------------------------
-- Words and numbers

---Whether stderr gets colour: a terminal, and $NO_COLOR unset or empty (no-color.org), and
---$TERM not "dumb".
function P.colour()
  return core.is_terminal(2) and (os.getenv "NO_COLOR" or "") == "" and os.getenv "TERM" ~= "dumb"
end

local COLOURS = { ok = "32", failed = "31", waiting = "33" }

---`text` in the colour of `kind` ("ok", "failed", "waiting") when stderr gets colour.
function P.paint(kind, text)
  if not P.colour() then return text end
  return "\27[" .. assert(COLOURS[kind], kind) .. "m" .. text .. "\27[0m"
end

---"1,234,567"
function P.count(n)
  local s = tostring(math.floor(n))
  local sign, digits = s:match("^(-?)(%d+)$")
  if not digits then return s end
  return sign .. digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
end

---"12s", "4m05s", "1h02m" (as the live line shows elapsed time).
function P.duration(seconds)
  local s = math.max(0, math.floor(seconds))
  if s < 60 then return s .. "s" end
  if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%dh%02dm"):format(s // 3600, (s % 3600) // 60)
end

local real_stderr = io.stderr

---Writes "weir: TEXT" on stderr as one line (erasing the live line first, and drawing it again
---under it). `fmt` is a string.format format when more arguments follow. While a caller has put
---something else in io.stderr (weir test's project helpers capture what weir says), the line
---goes there instead.
function P.say(fmt, ...)
  local text = select("#", ...) > 0 and fmt:format(...) or fmt
  if io.stderr ~= real_stderr then
    io.stderr:write("weir: ", text, "\n")
    return
  end
  live()
  core.say("weir: " .. text)
end

-- ---------------------------------------------------------------------------------------------
-- Tasks: something that runs (a phase), shown with its elapsed time

local Task = {}
Task.__index = Task

-- After an inner task ended: the line shows the task now on top again (its elapsed time goes
-- on from the outermost task's start).
local function show_top()
  local top = open[#open]
  if not top then return end
  if #open == 1 then
    core.detail(top.text or "")
  else
    core.detail(top.label .. (top.text and (": " .. top.text) or ""))
  end
end

-- While a live line is drawn, what scripts `print` would land on it when stdout shares its
-- terminal (or print goes to stderr: --json): `print` erases it first and draws it again after
-- (installed for the outermost task).
local saved_print, guarded_print

local function guard_print()
  if P.style() ~= "tty" then return end
  saved_print = rawget(_G, "print")
  local inner = saved_print
  guarded_print = function(...)
    core.clear()
    inner(...)
    io.stdout:flush()
    core.redraw()
  end
  rawset(_G, "print", guarded_print)
end

local function unguard_print()
  if guarded_print and rawget(_G, "print") == guarded_print then rawset(_G, "print", saved_print) end
  saved_print, guarded_print = nil, nil
end

---Starts showing `label` (e.g. "001_x:backfill") on the live line; returns the task, whose
---:done() stops showing it. Tasks nest: a copy inside a phase shows as the phase's detail.
---@param label string
function P.task(label)
  local t = setmetatable({ label = label, started = weir.clock(), on = live() }, Task)
  if not t.on then return t end
  open[#open + 1] = t
  if #open == 1 then
    core.begin(label)
    guard_print()
  else
    core.detail(label)
  end
  return t
end

---Sets what the task is doing now (shown after its label, or as its phase's detail).
function Task:set(text)
  self.text = text
  if not self.on or open[#open] ~= self then return end
  if #open == 1 then core.detail(text) else core.detail(self.label .. ": " .. text) end
end

---Stops showing the task, and what it started that has not ended (a copy an error unwound
---past). Idempotent. Returns its seconds.
function Task:done()
  local took = weir.clock() - self.started
  if not self.on or self.finished then return took end
  self.finished = true
  for i = #open, 1, -1 do
    if open[i] == self then
      for j = #open, i, -1 do
        open[j].finished = true
        open[j] = nil
      end
      break
    end
  end
  if #open == 0 then
    core.finish()
    unguard_print()
  else
    show_top()
  end
  return took
end

---Ends every task still shown (after an error unwound past their :done()).
function P.reset()
  for i = #open, 1, -1 do
    open[i].finished = true
    open[i] = nil
  end
  core.finish()
  unguard_print()
end

-- ---------------------------------------------------------------------------------------------
-- Counters: work with a count (rows), and a total when it is known

local Counter = setmetatable({}, { __index = Task })
Counter.__index = Counter
P.Counter = Counter

-- "120,000/1,000,000 rows (12%), 40,000 rows/s, ETA 22s"
local function counter_text(c, final)
  local secs = weir.clock() - c.started
  local unit = c.unit
  local parts = {}
  if c.total and c.total > 0 and c.n <= c.total and not final then
    parts[1] = ("%s/%s %s (%d%%)"):format(P.count(c.n), P.count(c.total), unit, c.n * 100 // c.total)
  else
    parts[1] = P.count(c.n) .. " " .. unit
  end
  if final then parts[1] = parts[1] .. " in " .. ("%.1fs"):format(secs) end
  if secs > 0 and c.n > 0 then parts[#parts + 1] = P.count(c.n / secs) .. " " .. unit .. "/s" end
  if c.extra and c.extra ~= "" then parts[#parts + 1] = c.extra end
  if not final and c.total and c.n > 0 and c.n < c.total and secs > 0 then
    parts[#parts + 1] = "ETA " .. P.duration((c.total - c.n) / (c.n / secs))
  end
  return table.concat(parts, ", ")
end

---Starts a counter: `label` ("copy things"), `unit` ("rows"), `total` when known (an estimate
---is fine: past it the line shows the count alone). Returns it: :add(n [, extra]) counts,
---:finish() ends it — on a terminal it leaves one final line (count, time, rate); in plain
---style too when it ran for at least one interval (the log showed it running, so it shows its
---end).
---@param opts {label: string, unit?: string, total?: integer}
function P.counter(opts)
  -- Counters do not nest: one still open was left by an error that unwound past its finish.
  for i = #open, 1, -1 do
    if getmetatable(open[i]) == P.Counter then
      open[i]:done()
      break
    end
  end
  local c = P.task(opts.label)
  setmetatable(c, Counter)
  c.unit, c.n = opts.unit or "rows", 0
  local total = opts.total
  c.total = (math.type(total) == "integer" or (type(total) == "number" and total == total)) and total > 0
    and math.floor(total) or nil
  if c.on then c:set(counter_text(c, false)) end
  return c
end

---Adds `n` to the count; `extra` is a short note shown after it ("3 quarantined").
function Counter:add(n, extra)
  self.n = self.n + (n or 0)
  if extra ~= nil then self.extra = extra end
  if self.on then self:set(counter_text(self, false)) end
end

---Ends the counter (idempotent); says its final line as described at P.counter.
function Counter:finish()
  if self.finished or not self.on then
    self.finished = true
    return
  end
  local took = self:done()
  local style = P.style()
  if style == "tty" or (style == "plain" and took >= P.interval()) then
    P.say("%s: %s", self.label, counter_text(self, true))
  end
end

return P
