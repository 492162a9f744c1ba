-- copy.update and copy.table inside migrations and scripts, as a user runs them: a backfill
-- rolled back with copy.reset runs again on the next up, weir status shows copy.update runs,
-- a copy that quarantined rows says so on stderr, and misuse names the user's file:line.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")

local function project(files) return require("project").new("copymig", files) end

local ROWS = 5000

-- expand adds due_date; backfill fills it with copy.update (its down forgets the update with
-- copy.reset); expand's down drops the column, so up after down finds it empty again.
local BACKFILL = ([[
return migration "001_due" {
  phase "expand" {
    up = function(db) db:exec "ALTER TABLE milestones ADD COLUMN due_date date" end,
    down = function(db) db:exec "ALTER TABLE milestones DROP COLUMN due_date" end,
  },
  phase "backfill" {
    transaction = false,
    up = function(db)
      copy.update { table = "milestones", batch = 700, checkpoint = "due",
                    where = "due_date IS NULL AND deadline IS NOT NULL",
                    set = function(row) return { due_date = row.deadline } end }
    end,
    down = function(db) copy.reset(db, "due") end,
    verify = function(db)
      return db:value "SELECT count(*) FROM milestones WHERE due_date IS NULL" == 0, "due_date left NULL"
    end,
  },
}
]])

T.case("up, down, up: copy.reset forgets copy.update's checkpoint, so the backfill runs again", function()
  local p = project { ["001_due.lua"] = BACKFILL }
  p.conn:exec(([[CREATE TABLE milestones (id int PRIMARY KEY, deadline date NOT NULL);
                 INSERT INTO milestones SELECT g, date '2026-01-01' + g %% 300 FROM generate_series(1, %d) g]]):format(ROWS))
  local rc, _, err = p.weir("up")
  T.eq(rc, 0, err)
  T.eq(p.value "SELECT count(*) FROM milestones WHERE due_date = deadline", ROWS)
  rc, _, err = p.weir("down 001_due")
  T.eq(rc, 0, err)
  T.eq(p.value "SELECT count(*) FROM weir.checkpoints WHERE key LIKE 'update/%'", 0)
  T.eq(p.value "SELECT count(*) FROM weir.copies", 0)
  rc, _, err = p.weir("up")
  T.eq(p.value "SELECT count(*) FROM milestones WHERE due_date IS NULL", 0, "every row backfilled again")
  T.eq(rc, 0, err)
  T.eq(p.value "SELECT count(*) FROM milestones WHERE due_date = deadline", ROWS)
  -- weir status shows the update with its counters
  local out
  rc, out = p.weir("status")
  T.eq(rc, 0, out)
  T.contains(out, ("update   due: %d read, %d written, 0 quarantined (100.00%% success)\n"):format(ROWS, ROWS))
  local _, json_out = p.weir("status --json")
  local copies = json.decode(json_out).copies
  T.eq(#copies, 1)
  T.eq({ copies[1].kind, copies[1].name, copies[1].rows_written, copies[1].finished }, { "update", "due", ROWS, true })
end)

T.case("copy.reset forgets a copy whose checkpoint is named differently, and an update of the same name", function()
  local p = project {}
  p.conn:exec [[CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY, v text);
                INSERT INTO a SELECT g, 'v' || g FROM generate_series(1, 50) g]]
  local script = shell.write(shell.dir .. "/reset.lua", [[
    local st = copy.table { source = "a", target = "b", name = "ab", checkpoint = "ab_cp", batch = 20 }
    local up = copy.update { table = "b", name = "ab", checkpoint = "ab_up", set = function(r) return { v = "u" } end }
    print(st.written, up.written, db:value "SELECT count(*) FROM weir.checkpoints", db:value "SELECT count(*) FROM weir.copies")
    copy.reset(db, "ab")
    print(db:value "SELECT count(*) FROM weir.checkpoints", db:value "SELECT count(*) FROM weir.copies")
    db:exec "TRUNCATE b"
    st = copy.table { source = "a", target = "b", name = "ab", checkpoint = "ab_cp", batch = 20 }
    print(st.written)
  ]])
  local rc, out, err = sh(q(weir_bin) .. " run --db " .. q(p.url) .. " " .. q(script))
  T.eq(rc, 0, err)
  T.eq(out, "50\t50\t2\t2\n0\t0\n50\n")
end)

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

T.case("ids in a migration phase read the phase's database: an imported mapping, and derived UUIDs for the rest", function()
  local p = project { ["001_adopt.lua"] = [[
return migration "001_adopt" {
  phase "import" {
    up = function(db)
      ids.import(db, "office", { table = "migration_mappings", legacy = "legacy_id", new = "new_id", where = "entity_type = 'office'" })
    end,
    down = function(db) ids.forget(db, "office") end,
  },
  phase "use" {
    up = function(db)
      db:exec("CREATE TABLE seen AS SELECT $1::uuid AS a, $2::uuid AS b, $3::boolean AS imported", ids.lookup("office", 3),
        ids.map("office", 70), ids.imported("office", 3))
    end,
    down = function(db) db:exec "DROP TABLE seen" end,
  },
}
]] }
  p.conn:exec [[
    CREATE TABLE migration_mappings (entity_type text, legacy_id bigint, new_id uuid);
    INSERT INTO migration_mappings SELECT 'office', g, gen_random_uuid() FROM generate_series(1, 50) g;
  ]]
  local rc, _, err = p.weir("up")
  T.eq(rc, 0, err)
  T.eq(p.conn:one "SELECT a::text, b::text, imported FROM seen",
    { a = p.value "SELECT new_id::text FROM migration_mappings WHERE legacy_id = 3",
      b = ids.resolve(p.conn, "office", { 70 })[1], imported = true })
  T.ok(p.value "SELECT b FROM seen" == ids.lookup("office", 70), "70 is not in the mapping: derived")
  rc, _, err = p.weir("down 001_adopt")
  T.eq(rc, 0, err)
  T.eq(p.value "SELECT count(*) FROM weir.id_map", 0)
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
