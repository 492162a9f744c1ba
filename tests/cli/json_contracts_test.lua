-- Every JSON document weir prints, and its event stream, held to its schema in grammar/ with
-- json.validate: status, plan, up/down --json, --events -, inspect and diff. Empty lists are
-- [], times RFC 3339 UTC, a format_version in each; a phase's started_at is read before it ran
-- (a transactional one too), a rerun records its own start, attempts are counted; stdout
-- carries only JSON when it carries events or a document (what scripts print goes to stderr).
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
shell.tmpdir()

local src = assert(os.getenv "WEIR_SOURCE_DIR", "WEIR_SOURCE_DIR")
local weir_bin = assert(os.getenv "WEIR")

local function project(files) return require("project").new("jsonc", files) end

local function schema_text(name) return T.read(src .. "/grammar/" .. name) end

-- Fails naming every place `doc` differs from grammar/`name`.
local function conforms(doc, name, what)
  local ok, errs = json.validate(doc, schema_text(name))
  if ok then return true end
  local lines = {}
  for _, e in ipairs(errs) do lines[#lines + 1] = ("  %s %s: %s"):format(e.pointer, e.keyword, e.message) end
  T.ok(false, (what or "the document") .. " does not conform to grammar/" .. name .. ":\n" .. table.concat(lines, "\n"))
  return false
end

local function refused(doc, name, what)
  T.eq((json.validate(doc, schema_text(name))), false, "grammar/" .. name .. " refuses " .. what)
end

local function lines_of(text)
  local out = {}
  for l in text:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

local RFC3339 = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%d%d%d%dZ$"

local MIG = [[
return migration "001_shop" {
  description = "orders and their totals",
  phase "tables" {
    up = function(db)
      db:exec "CREATE TABLE orders (id bigint PRIMARY KEY, total int, note text)"
      db:exec "INSERT INTO orders SELECT g, g FROM generate_series(1, 3000) g"
      db:exec "SELECT pg_sleep(0.05)"
      print("tables: made")
    end,
    down = function(db) db:exec "DROP TABLE orders" end,
  },
  phase "notes" {
    transaction = false,
    up = function(db)
      copy.update { db = db, table = "orders", batch = 1000, set = function(r) return { note = "n" .. r.id } end }
      weir.checkpoint("noted", 3000)
    end,
    down = function(db) db:exec "UPDATE orders SET note = NULL" end,
  },
  phase "gated" {
    up = function(db)
      db:exec "SELECT pg_sleep(0.05)"
      if db:value "SELECT to_regclass('gate') IS NULL" then error("no gate yet", 0) end
    end,
    down = function() end,
  },
}
]]

T.case("status --json: conforms; [] for empty lists; RFC 3339 times; real starts; a rerun's own start; attempts", function()
  local p = project { ["001_shop.lua"] = MIG }
  -- before anything ran: no state schema at all
  local rc, out, err = p.weir("status --json")
  T.eq(rc, 0, err)
  T.contains(out, '"missing_files":[]')
  T.contains(out, '"copies":[]')
  T.contains(out, '"online":[]')
  local doc = json.decode(out)
  conforms(doc, "status.schema.json", "status before anything ran")
  T.eq(doc.format_version, 1)
  -- the schema is strict: what it does not declare, and {} for a list, are refused
  doc.surprise = true
  refused(doc, "status.schema.json", "an undeclared field")
  doc.surprise, doc.missing_files = nil, json.object()
  refused(doc, "status.schema.json", "missing_files as {}")

  rc, out, err = p.weir("up")
  T.eq(rc, 1, "the gated phase fails the first time")
  T.contains(err, "no gate yet")
  rc, out = p.weir("status --json")
  T.eq(rc, 0)
  doc = json.decode(out)
  conforms(doc, "status.schema.json", "status after a failed run")
  local phases = doc.migrations[1].phases
  local tables, gated = phases[1], phases[3]
  T.eq({ tables.state, tables.attempts }, { "done", 1 })
  T.ok(tables.started_at:match(RFC3339) and tables.finished_at:match(RFC3339), tables.started_at)
  -- a transactional phase's start is read before it runs, not taken from its transaction
  T.ok(tables.started_at < tables.finished_at, "started_at before finished_at: " .. json.encode(tables))
  T.ok(tables.duration_seconds >= 0.05, json.encode(tables))
  T.eq({ gated.state, gated.attempts, gated.error }, { "failed", 1, "no gate yet" })
  T.ok(gated.started_at < gated.finished_at, json.encode(gated))
  local first_start = gated.started_at

  p.conn:exec "CREATE TABLE gate ()"
  rc, out, err = p.weir("up")
  T.eq(rc, 0, err)
  rc, out = p.weir("status --json")
  doc = json.decode(out)
  conforms(doc, "status.schema.json", "status when applied")
  local m = doc.migrations[1]
  gated = m.phases[3]
  T.eq({ gated.state, gated.attempts, gated.error }, { "done", 2, json.null })
  T.ok(gated.started_at > first_start, "the rerun recorded its own start: " .. first_start .. " then " .. gated.started_at)
  T.ok(m.applied_at:match(RFC3339), m.applied_at)
  T.eq(m.applied_by, p.value "SELECT current_user")
  T.eq(m.baseline, false)
  T.eq(#doc.copies, 1)
  T.eq(doc.copies[1].kind, "update")

  -- an applied migration whose file is gone: missing_files lists it (and status exits 1)
  os.remove(p.dir .. "/migrations/001_shop.lua")
  rc, out = p.weir("status --json")
  T.eq(rc, 1)
  doc = json.decode(out)
  conforms(doc, "status.schema.json", "status with a missing file")
  T.eq(doc.missing_files, { "001_shop" })
  T.eq(#doc.migrations, 0)
  T.contains(out, '"migrations":[]')
end)

T.case("weir status for people: applied time, duration, applied by, baseline, and why the next phase is blocked", function()
  local p = project {
    ["001_old.lua"] = [[
return migration "001_old" { phase "made" { up = function(db) db:exec "CREATE TABLE old_t (id int)" end } }
]],
    ["002_new.lua"] = [[
return migration "002_new" {
  phase "expand" { up = function(db) db:exec "SELECT pg_sleep(0.02)" end },
  phase "contract" {
    requires = { flag_off = "dual_write", check = function(db) print("checking"); return true end },
    up = function(db) end,
  },
}
]],
  }
  T.eq((p.weir("baseline 001_old")), 0)
  local rc, _, err = p.weir("up")
  T.eq(rc, 1)
  T.contains(err, "002_new:contract cannot run: requires feature flag 'dual_write', which is not defined")
  local out
  rc, out = p.weir("status")
  T.eq(rc, 0, out)
  local user = p.value "SELECT current_user"
  T.contains(out, "applied  001_old  [baseline: recorded as applied, not run]\n")
  T.ok(out:match("\n         applied %d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d UTC by " .. user .. "\n"), out)
  T.ok(out:match("\n    done         expand +0%.%d%ds\n"), out)
  T.contains(out, "    pending      contract\n                 blocked: requires feature flag 'dual_write', which is not defined\n")
  -- the same reason in JSON, on that phase only; what the check prints goes to stderr
  local _, jout, jerr = p.weir("status --json")
  T.contains(jerr, "checking")
  local doc = json.decode(jout)
  conforms(doc, "status.schema.json", "status with a baseline and a blocked phase")
  T.eq(doc.migrations[1].baseline, true)
  T.eq(doc.migrations[2].phases[1].blocked, json.null)
  T.eq(doc.migrations[2].phases[2].blocked, "requires feature flag 'dual_write', which is not defined")
  -- once the flag says so, nothing is blocked, and status changed nothing meanwhile
  local rc2 = sh(q(weir_bin) .. " run --db " .. q(p.url) .. " -e " .. q('flags.define(db, "dual_write")'))
  T.eq(rc2, 0)
  _, jout = p.weir("status --json")
  T.eq(json.decode(jout).migrations[2].phases[2].blocked, json.null)
  T.eq(p.value "SELECT count(*) FROM weir.phases WHERE phase = 'contract'", 0)
end)

-- ---------------------------------------------------------------------------------------------
-- up and down: --json and --events -

local function check_events(events, what)
  local by_type = {}
  for i, e in ipairs(events) do
    conforms(e, "event.schema.json", what .. " event " .. i .. " (" .. tostring(e.type) .. ")")
    by_type[e.type] = by_type[e.type] or {}
    table.insert(by_type[e.type], e)
    T.ok(e.ts:match(RFC3339), e.ts)
  end
  return by_type
end

T.case("up --json and down --json: one document on stdout (scripts print to stderr), conforming, with every event", function()
  local p = project { ["001_shop.lua"] = MIG }
  p.conn:exec "CREATE TABLE gate ()"
  local rc, out, err = p.weir("up --json")
  T.eq(rc, 0, err)
  T.eq(#lines_of(out), 1, "one line: " .. out)
  T.contains(err, "tables: made", "print went to stderr")
  local doc = json.decode(out)
  conforms(doc, "run.schema.json", "up --json")
  T.eq({ doc.command, doc.ok, doc.exit_code, doc.error }, { "up", true, 0, json.null })
  local by = check_events(doc.events, "up --json")
  T.eq(#by.phase_done, 3)
  -- checkpoint and copy events inside a phase carry it
  T.eq({ by.checkpoint[1].migration, by.checkpoint[1].phase }, { "001_shop", "notes" })
  T.eq(#by.copy_batch, 3)
  for _, e in ipairs(by.copy_batch) do
    T.eq({ e.migration, e.phase, e.details.copy, e.details.kind }, { "001_shop", "notes", "orders", "update" })
  end
  rc, out, err = p.weir("down --steps 3 --json")
  T.eq(rc, 0, err)
  doc = json.decode(out)
  conforms(doc, "run.schema.json", "down --json")
  T.eq(#check_events(doc.events, "down --json").rollback_done, 3)

  -- a failure is in the document too
  p.conn:exec "DROP TABLE gate"
  rc, out = p.weir("up --json")
  T.eq(rc, 1)
  doc = json.decode(out)
  conforms(doc, "run.schema.json", "a failed up --json")
  T.eq({ doc.ok, doc.exit_code }, { false, 1 })
  T.contains(doc.error, "001_shop:gated: up failed: no gate yet")
  T.eq(#check_events(doc.events, "failed up").phase_failed, 1)
  -- and so is a script that does not load: no event, the reason
  p.write("002_broken.lua", "return migration \"002_broken\" {\n")
  rc, out, err = p.weir("up --json")
  T.eq(rc, 1)
  doc = json.decode(out)
  conforms(doc, "run.schema.json", "up --json of a broken script")
  T.eq(#doc.events, 0)
  T.contains(doc.error, "002_broken.lua:")
  T.contains(err, "002_broken.lua:")
end)

T.case("--events -: stdout is JSON lines only, each conforming; --json with it is a usage error", function()
  local p = project { ["001_shop.lua"] = MIG }
  p.conn:exec "CREATE TABLE gate ()"
  local rc, out, err = p.weir("up --events -")
  T.eq(rc, 0, err)
  T.contains(err, "tables: made", "print went to stderr")
  local events = {}
  for _, line in ipairs(lines_of(out)) do events[#events + 1] = json.decode(line) end
  local by = check_events(events, "--events -")
  T.eq(#by.run_start, 1)
  T.eq(#by.run_done, 1)
  T.eq({ by.checkpoint[1].migration, by.checkpoint[1].phase }, { "001_shop", "notes" })
  -- the stream's events are the ones recorded in weir.events
  T.eq(p.value "SELECT count(*) FROM weir.events", #events)
  rc, out, err = p.weir("down --steps 1 --json --events -")
  T.eq(rc, 2)
  T.contains(err, "--json and --events - both write to stdout")
end)

T.case("run.schema.json's event is event.schema.json", function()
  local run = json.decode(schema_text("run.schema.json"))
  local event = json.decode(schema_text("event.schema.json"))
  event["$schema"], event["$id"], event.title = nil, nil, nil
  T.eq(json.encode(run.definitions.event), json.encode(event))
end)

-- ---------------------------------------------------------------------------------------------
-- plan, inspect, diff

T.case("plan --json conforms: statements with their kind, observed and inferred locks with theirs", function()
  local p = project {
    ["001_idx.lua"] = [[
return migration "001_idx" {
  phase "col" { up = function(db) db:exec "ALTER TABLE things ADD COLUMN note text" end },
  phase "idx" {
    transaction = false,
    up = function(db) db:exec "CREATE INDEX CONCURRENTLY IF NOT EXISTS things_note_idx ON things (note)" end,
  },
}
]],
  }
  p.conn:exec "CREATE TABLE things (id bigint PRIMARY KEY)"
  local rc, out, err = p.weir("plan --json")
  T.eq(rc, 0, err)
  local doc = json.decode(out)
  conforms(doc, "plan.schema.json", "plan --json")
  T.eq(doc.format_version, 1)
  T.eq(doc.phases[1].statements[1].kind, "AlterTableStmt")
  local observed, inferred = doc.phases[1].changes.locks[1], doc.phases[2].changes.locks[1]
  T.eq({ observed.relation, observed.kind, observed.observed }, { "public.things", "table", true })
  T.eq({ inferred.relation, inferred.kind, inferred.observed, inferred.mode },
    { "things", "table", false, "ShareUpdateExclusiveLock" })
  T.contains(inferred.statement, "CREATE INDEX CONCURRENTLY")
end)

T.case("inspect --json and diff --json carry format_version and conform", function()
  local p = project {}
  p.conn:exec "CREATE TABLE a (id bigint PRIMARY KEY)"
  local rc, out, err = p.weir("inspect --json")
  T.eq(rc, 0, err)
  local model = json.decode(out)
  T.eq(model.format_version, 1)
  conforms(model, "schema-model.schema.json", "inspect --json")
  local sqlfile = shell.write(p.dir .. "/want.sql", "CREATE TABLE a (id bigint PRIMARY KEY, b text);\n")
  rc, out, err = sh("cd " .. q(p.dir) .. " && " .. q(weir_bin) .. " diff --json " .. q(p.url) .. " " .. q(sqlfile))
  T.eq(rc, 0, err)
  local d = json.decode(out)
  T.eq(d.format_version, 1)
  conforms(d, "schema-diff.schema.json", "diff --json")
end)

T.case("ddl.move_to_schema's summary: empty lists are [] in JSON", function()
  local p = project {}
  p.conn:exec "CREATE TABLE moved (id int)"
  local rc, out, err = sh(q(weir_bin) .. " run --db " .. q(p.url) .. " -e " ..
    q('local _, s = ddl.move_to_schema(db, { tables = { "moved" } }, "archive"); print(json.encode(s))'))
  T.eq(rc, 0, err)
  T.eq(out, '{"already":{"enums":[],"tables":[]},"enums":[],"schema_created":true,"tables":["moved"]}\n')
end)

shell.cleanup()
T.done()
