-- What weir says while it works (docs/progress.md): the start and end lines of each phase, the
-- live line on a terminal (drawn in place, erased without debris, never wider than the
-- terminal, out of the way of what scripts print), the plain lines off a terminal every
-- --progress-interval during copy.table, copy.update and a phase's one long statement,
-- --progress off, the options' errors, and colour on a real terminal unless NO_COLOR.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")

local function project(files) return require("project").new("prog", files) end

-- `weir COMMAND --db URL REST` in the project's directory, with environment settings `env`
-- ("A=1 B=2").
local function run(p, env, args)
  local command, rest = args:match("^(%S+)(.*)$")
  return sh("cd " .. q(p.dir) .. " && env " .. (env or "") .. " " .. q(weir_bin) .. " " .. command ..
    " --db " .. q(p.url) .. rest)
end

local function lines_of(text)
  local out = {}
  for l in text:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

local function matching(text, pattern)
  local out = {}
  for _, l in ipairs(lines_of(text)) do
    if l:match(pattern) then out[#out + 1] = l end
  end
  return out
end

local TWO = [[
return migration "001_two" {
  phase "expand" {
    up = function(db) db:exec "CREATE TABLE two (id bigint PRIMARY KEY)" end,
    down = function(db) db:exec "DROP TABLE two" end,
  },
  phase "fill" {
    transaction = false,
    up = function(db) db:exec "INSERT INTO two SELECT g FROM generate_series(1, 10) g ON CONFLICT DO NOTHING" end,
    down = function(db) db:exec "DELETE FROM two" end,
  },
}
]]

T.case("weir up and down say when each phase starts and when it ends, with its duration", function()
  local p = project { ["001_two.lua"] = TWO }
  local rc, out, err = p.weir("up")
  T.eq(rc, 0, err)
  T.eq(out, "")
  local said = matching(err, "^weir: 001_two:")
  T.eq(#said, 4, err)
  T.eq(said[1], "weir: 001_two:expand started")
  T.ok(said[2]:match("^weir: 001_two:expand done %(%d+%.%d%ds%)$"), said[2])
  T.eq(said[3], "weir: 001_two:fill started")
  T.ok(said[4]:match("^weir: 001_two:fill done %(%d+%.%d%ds%)$"), said[4])
  rc, out, err = p.weir("down --steps 2")
  T.eq(rc, 0, err)
  said = matching(err, "^weir: 001_two:")
  T.eq(said[1], "weir: 001_two:fill rolling back")
  T.ok(said[2]:match("^weir: 001_two:fill rolled back %(%d+%.%d%ds%)$"), said[2])
  T.eq(said[3], "weir: 001_two:expand rolling back")
  -- a failure ends the phase too: its line, then what went wrong
  p.write("002_bad.lua", [[
return migration "002_bad" { phase "boom" { up = function(db) db:exec "SELECT 1/0" end } }
]])
  rc, out, err = p.weir("up")
  T.eq({ rc, out }, { 1, "" })
  local bad = matching(err, "^weir: 002_bad:")
  T.eq(bad[1], "weir: 002_bad:boom started")
  T.ok(bad[2]:match("^weir: 002_bad:boom failed %(%d+%.%d%ds%)$"), err)
  T.contains(bad[3], "weir: 002_bad:boom: up failed: ")
  T.contains(bad[3], "22012 division by zero")
end)

-- ---------------------------------------------------------------------------------------------
-- Off a terminal: a plain line every interval

-- The lines come from a clock, not from the work: a short interval on 200,000 rows shows what a
-- 1M-row copy does with the default 10 s (docs/progress.md has such a run's lines).
T.case("off a terminal, copy.table prints a plain line every interval while it runs, then its total", function()
  local p = project {}
  p.conn:exec [[
    CREATE TABLE big_src (id bigint PRIMARY KEY, name text);
    INSERT INTO big_src SELECT g, 'n' || g FROM generate_series(1, 200000) g;
    ANALYZE big_src;
    CREATE TABLE big_dst (id bigint PRIMARY KEY, name text)]]
  local script = shell.write(p.dir .. "/copy.lua", [[
local st = copy.table { source = "big_src", target = "big_dst", batch = 10000 }
print(st.written)
]])
  -- an interval far below what one batch takes, so the lines do not depend on the machine's speed
  local rc, out, err = run(p, "WEIR_PROGRESS_INTERVAL=0.01", "run " .. q(script))
  T.eq(rc, 0, err)
  T.eq(out, "200000\n")
  T.not_contains(err, "\r", "no terminal: no line drawn in place")
  T.not_contains(err, "\27[", "no terminal: no escape sequences")
  local periodic = matching(err, "^weir: copy big_dst %(%d+s%): ")
  T.ok(#periodic >= 2, "lines while the copy ran:\n" .. err)
  -- each says the rows so far against the planner's estimate, the rate and the time left
  local last = periodic[#periodic]
  T.ok(last:match("^weir: copy big_dst %(%d+s%): [%d,]+/[%d,]+ rows %(%d+%%%), [%d,]+ rows/s")
    or last:match("^weir: copy big_dst %(%d+s%): [%d,]+ rows, [%d,]+ rows/s"), last)
  local counts = {}
  for i, l in ipairs(periodic) do counts[i] = tonumber((l:match(": ([%d,]+)[ /]"):gsub(",", ""))) end
  for i = 2, #counts do T.ok(counts[i] >= counts[i - 1], "the count never goes back: " .. err) end
  local final = matching(err, "^weir: copy big_dst: ")
  T.eq(#final, 1, err)
  T.ok(final[1]:match("^weir: copy big_dst: 200,000 rows in %d+%.%ds, [%d,]+ rows/s$"), final[1])
  T.eq(p.value "SELECT count(*) FROM big_dst", 200000)
end)

T.case("off a terminal, copy.update and a phase's long statement print plain lines too", function()
  local p = project {
    ["001_backfill.lua"] = [[
return migration "001_backfill" {
  phase "slugs" {
    transaction = false,
    up = function(db)
      copy.update { db = db, table = "items", batch = 500, where = "slug IS NULL",
        set = function(row) return { slug = "item-" .. row.id } end }
    end,
    down = function(db) db:exec "UPDATE items SET slug = NULL" end,
  },
  phase "wait" {
    up = function(db) db:exec "SELECT pg_sleep(0.3)" end,
    down = function() end,
  },
}
]],
  }
  p.conn:exec [[
    CREATE TABLE items (id bigint PRIMARY KEY, slug text);
    INSERT INTO items SELECT g FROM generate_series(1, 20000) g;
    ANALYZE items]]
  local rc, _, err = run(p, "", "up --progress-interval 0.01")
  T.eq(rc, 0, err)
  T.eq(p.value "SELECT count(*) FROM items WHERE slug IS NULL", 0)
  local update = matching(err, "^weir: 001_backfill:slugs %(%d+s%): update items: ")
  T.ok(#update >= 2, "lines while copy.update ran:\n" .. err)
  T.ok(update[1]:match(": update items: [%d,]+/[%d,]+ rows %(%d+%%%)") or update[1]:match(": update items: [%d,]+ rows"),
    update[1])
  -- one statement of 0.3 s: the lines come from the clock, not from the work
  local waiting = matching(err, "^weir: 001_backfill:wait %(%d+s%): running$")
  T.ok(#waiting >= 2, "lines while pg_sleep ran:\n" .. err)
  -- the interval from the environment works as the option does
  T.eq((p.weir("down --steps 2")), 0)
  rc, _, err = run(p, "WEIR_PROGRESS_INTERVAL=0.01", "up")
  T.eq(rc, 0, err)
  T.ok(#matching(err, "^weir: 001_backfill:wait %(%d+s%): running$") >= 2, err)
end)

T.case("--progress off: no live or periodic lines; the phases' start and end lines stay", function()
  local p = project {
    ["001_wait.lua"] = [[
return migration "001_wait" {
  phase "wait" { up = function(db) db:exec "SELECT pg_sleep(0.2)" end, down = function() end },
}
]],
  }
  local rc, _, err = run(p, "WEIR_PROGRESS_INTERVAL=0.01", "up --progress off")
  T.eq(rc, 0, err)
  T.eq(#matching(err, "%(%d+s%):"), 0, err)
  T.contains(err, "weir: 001_wait:wait started\n")
  T.ok(err:match("weir: 001_wait:wait done %(0%.%d%ds%)\n"), err)
  -- the environment's setting, as --progress
  T.eq((p.weir("down --steps 1")), 0)
  rc, _, err = run(p, "WEIR_PROGRESS=off WEIR_PROGRESS_INTERVAL=0.01", "up")
  T.eq(rc, 0, err)
  T.eq(#matching(err, "%(%d+s%):"), 0, err)
end)

T.case("bad progress settings: a usage error naming the option, or one line naming the variable", function()
  local p = project { ["001_two.lua"] = TWO }
  local rc, _, err = p.weir("up --progress sometimes")
  T.eq(rc, 2)
  T.contains(err, "--progress: 'sometimes' is not one of auto, tty, plain, off")
  rc, _, err = p.weir("up --progress-interval 0")
  T.eq(rc, 2)
  T.contains(err, "--progress-interval: must be above 0")
  rc, _, err = p.weir("up --progress-interval soon")
  T.eq(rc, 2)
  T.contains(err, "--progress-interval: 'soon' is not a duration")
  rc, _, err = run(p, "WEIR_PROGRESS=loud", "up")
  T.eq({ rc, err }, { 1, "weir: $WEIR_PROGRESS: 'loud' is not a progress style (expected auto, tty, plain or off)\n" })
  rc, _, err = run(p, "WEIR_PROGRESS_INTERVAL=-1", "up")
  T.eq({ rc, err }, { 1, "weir: $WEIR_PROGRESS_INTERVAL: '-1' is not a number of seconds above 0\n" })
  T.eq(p.value "SELECT to_regclass('weir.phases') IS NULL", true, "nothing ran")
end)

-- ---------------------------------------------------------------------------------------------
-- The live line

-- The pieces of a stream written with "\r": each drawn line and each erase, and the whole
-- lines written in between.
local function display_width(s) return utf8.len(s) or #s end

T.case("--progress tty: the live line is drawn in place, erased without debris, never wider than the terminal", function()
  local p = project {
    ["001_copy.lua"] = [[
return migration "001_copy" {
  phase "copy" {
    transaction = false,
    up = function(db)
      copy.table { source = "src", target = "dst", batch = 5000, pause_ms = 20, checkpoint = "src" }
      print("copied")
    end,
  },
}
]],
  }
  p.conn:exec [[
    CREATE TABLE src (id bigint PRIMARY KEY, name text);
    INSERT INTO src SELECT g, repeat('x', 20) FROM generate_series(1, 100000) g;
    ANALYZE src;
    CREATE TABLE dst (id bigint PRIMARY KEY, name text)]]
  local rc, _, err = run(p, "COLUMNS=60", "up --progress tty")
  T.eq(rc, 0, err)
  local live, erases = 0, 0
  -- After each "\r": an erase ("\27[K" at once), or a line that ends with "\27[K" before any
  -- newline (so a shorter line leaves nothing of a longer one), at most 59 columns wide.
  local pos = 1
  while true do
    local cr = err:find("\r", pos, true)
    if not cr then break end
    local rest = err:sub(cr + 1)
    if rest:sub(1, 3) == "\27[K" then
      erases = erases + 1
      pos = cr + 4
    else
      local text = rest:match("^([^\r\n]-)\27%[K")
      T.ok(text, "a live line that does not end with an erase: " .. T.show(rest:sub(1, 80)))
      T.ok(display_width(text) <= 59, "wider than the terminal: " .. text)
      T.ok(text:match("^weir: 001_copy:copy %(%d+s%): "), text)
      live = live + 1
      pos = cr + 1 + #text + 3
    end
  end
  T.ok(live >= 2, "the live line was drawn: " .. T.show(err))
  T.ok(erases >= 1, "and erased")
  -- what is left on the screen: every whole line, none of them holding a piece of the live one
  local screen = {}
  for line in err:gmatch("([^\n]*)\n") do
    local last = line
    for piece in (line .. "\r"):gmatch("([^\r]*)\r") do
      if piece ~= "" then last = piece end
    end
    screen[#screen + 1] = (last:gsub("\27%[K", ""))
  end
  T.eq(matching(table.concat(screen, "\n"), "%(%d+s%):"), {}, "no debris of the live line")
  T.contains(table.concat(screen, "\n"), "weir: copy src: 100,000 rows in ")
  T.contains(table.concat(screen, "\n"), "weir: 001_copy:copy started")
  T.ok(table.concat(screen, "\n"):match("weir: 001_copy:copy done %(%d+%.%d%ds%)"), table.concat(screen, "\n"))
end)

-- On a real terminal (script(1) gives weir one): auto picks the live line, and the words
-- done / failed / waiting are coloured unless NO_COLOR is set.
local has_script = sh("command -v script") == 0

local function on_terminal(p, env, args)
  local cmd = "cd " .. q(p.dir) .. " && env " .. env .. " " .. q(weir_bin) .. " " .. args .. " --db " .. q(p.url)
  return sh("script -qec " .. q(cmd) .. " /dev/null")
end

T.case("on a terminal: done, failed and waiting in colour, none with NO_COLOR; the live line by default", function()
  if not has_script then
    print("       (skipped: no script(1) to give weir a terminal)")
    return
  end
  local p = project { ["001_two.lua"] = TWO:gsub('db:exec "CREATE TABLE two', 'print("hello from expand"); %0') }
  local _, out = on_terminal(p, "TERM=xterm", "up")
  T.contains(out, "001_two:expand \27[32mdone\27[0m (")
  T.contains(out, "\rweir: 001_two:expand (0s): running\27[K", "the live line")
  -- what the phase prints erases the live line first: nothing of it stays on the print's line
  T.contains(out, "\r\27[Khello from expand\r\n")
  T.eq((p.weir("down --steps 2")), 0)
  _, out = on_terminal(p, "TERM=xterm NO_COLOR=1", "up")
  T.contains(out, "001_two:expand done (")
  T.not_contains(out, "\27[3", "NO_COLOR: no colour")
  p.write("002_bad.lua", [[
return migration "002_bad" { phase "boom" { up = function(db) db:exec "SELECT 1/0" end } }
]])
  _, out = on_terminal(p, "TERM=xterm", "up")
  T.contains(out, "002_bad:boom \27[31mfailed\27[0m (")
  -- another runner holds the migration lock: waiting, in yellow
  local holder = weir.connect(p.url)
  holder:exec("SELECT pg_advisory_lock(x'77656972'::int, hashtext('weir'))")
  _, out = on_terminal(p, "TERM=xterm", "up --lock-wait 1")
  holder:close()
  T.contains(out, "weir: \27[33mwaiting\27[0m for the migration lock, held by backend pid")
end)

shell.cleanup()
T.done()
