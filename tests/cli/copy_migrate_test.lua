-- copy.update and copy.table inside migrations and scripts, as a user runs them: a copy that
-- quarantined rows says so on stderr, and misuse names the user's file:line.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")

local function project(files) return require("project").new("copymig", files) end

T.case("a copy that quarantined rows says so on stderr; with on_error = fail it stops at the row", function()
  local p = project {}
  p.conn:exec [[CREATE TABLE src (id int PRIMARY KEY, amount int);
                INSERT INTO src SELECT g, g FROM generate_series(1, 100) g;
                CREATE TABLE dst (id int PRIMARY KEY, amount int CHECK (amount % 10 <> 0))]]
  local script = shell.write(shell.dir .. "/q.lua", [[
    local st = copy.table { source = "src", target = "dst", batch = 30, checkpoint = arg[1], on_error = arg[2] }
    print(st.written, st.quarantined)
  ]])
  local function run(...)
    local args = ""
    for _, a in ipairs { ... } do args = args .. " " .. q(a) end
    return sh(q(weir_bin) .. " run --db " .. q(p.url) .. " " .. q(script) .. args)
  end
  local rc, out, err = run("q", "quarantine")
  T.eq(rc, 0, err)
  T.eq(out, "90\t10\n")
  T.eq(err, "weir: copy q: 90 written, 10 quarantined — see weir.quarantine\n")
  -- nothing quarantined: nothing said
  p.conn:exec "TRUNCATE dst; ALTER TABLE dst DROP CONSTRAINT dst_amount_check; ALTER TABLE dst ADD CHECK (amount <> 45)"
  rc, out, err = run("f", "fail")
  T.eq(rc, 1)
  T.eq(out, "")
  T.eq(err:match("^[^\n]*"), "copy.table f: batch 2 (id after 30 through 60) failed at id 45: 23514 new row for " ..
    "relation \"dst\" violates check constraint \"dst_amount_check\"")
  T.eq(p.value "SELECT count(*) FROM dst", 30)
  T.eq(p.value "SELECT value->'last' FROM weir.checkpoints WHERE key = 'copy/f'", { "30" })
  p.conn:exec "UPDATE src SET amount = 46 WHERE id = 45"
  rc, out, err = run("f", "fail")
  T.eq(rc, 0, err)
  T.eq(out, "70\t0\n")
  T.eq(err, "")
end)

T.case("misuse inside a migration names the migration's file and line, not weir's", function()
  local MIGRATION = [[
return migration "001_bad" {
  phase "copy" {
    transaction = false,
    up = function(db)
      db:exec "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY)"
      %s
    end,
    down = function(db) db:exec "DROP TABLE t" end,
  },
}
]]
  for call, expected in pairs {
    ['copy.table { source = "t", target = "t", checkpoint = true }'] =
      "copy.table: checkpoint must be a non-empty string, got boolean",
    ['copy.update { table = "t", set = function() end, pause_ms = "soon" }'] =
      "copy.update: pause_ms must be a number of milliseconds (0 or more), got string",
    ['copy.reset("t")'] = "copy.reset: argument #1 must be a connection (db), got string",
    ['ids.record(db, "n", 7)'] = "ids.record: legacy ids must be a list of strings or numbers, got number",
  } do
    local p = project { ["001_bad.lua"] = MIGRATION:format(call) }
    local rc, _, err = p.weir("up")
    T.eq(rc, 1)
    T.contains(err, "migrations/001_bad.lua:6: " .. expected)
    T.not_contains(err, "stdlib/")
  end
end)

shell.cleanup()
T.done()
