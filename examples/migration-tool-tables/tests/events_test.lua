-- The expert review's trigger fixes: seq deprecated in favour of the id cursor (and the race
-- it warned of gone), the BUDGET_NEAR_LIMIT event on crossing 90 % of the soft budget, and
-- set_updated_at().
local H = dofile("tests/helpers.lua")

local function setup()
  project.fixture()
  project.up()
end

-- The writer the seed's first version had: seq = MAX(seq) + 1 of the migration's events.
local RACY_INSERT = [[
  INSERT INTO migration_events (migration_project_id, seq, type, payload)
  SELECT $1, coalesce(max(seq), 0) + 1, 'log', '{}' FROM migration_events WHERE migration_project_id = $1
  RETURNING id, seq]]
local INSERT = "INSERT INTO migration_events (migration_project_id, type, payload) VALUES ($1, 'log', '{}') RETURNING id, seq"

describe("migration_events.seq, deprecated", function()
  it("writers need not supply it: it is the row's id, so unique and increasing per migration", function(db)
    setup()
    local a, b = H.mp(db, 1), H.mp(db, 2)
    local rows = {}
    for i = 1, 6 do rows[i] = db:one(INSERT, i % 2 == 0 and a or b) end
    for _, r in ipairs(rows) do expect(r.seq):to_be(r.id) end
    -- a seq a writer still supplies is replaced: it could collide with a later id
    local r = db:one("INSERT INTO migration_events (migration_project_id, seq, type, payload) VALUES ($1, 2, 'log', '{}') RETURNING id, seq", a)
    expect(r.seq):to_be(r.id)
    -- the backfill cursor and the deprecated seq give the same order, per migration
    expect(db:value [[SELECT bool_and(ordered) FROM (
                        SELECT array_agg(id ORDER BY id) = array_agg(id ORDER BY seq) AS ordered
                          FROM migration_events GROUP BY migration_project_id) s]]):to_be(true)
    expect(db:value "SELECT col_description('migration_events'::regclass, 3)")
      :to_be("Deprecated: assigned from id by trigger migration_events_seq_from_id; use id as the cursor.")
  end)

  it("the race the review warned of is gone: two sessions writing one migration's events at once", function(db)
    project.fixture()
    project.up "004_migration_job_hygiene"  -- before seq_from_id: writers number the events themselves
    local p = H.mp(db, 1)
    local other <close> = db:clone()
    db:exec "BEGIN"
    expect(db:one(RACY_INSERT, p).seq):to_be(1)
    -- the second writer reads the same MAX (the first one's row is not committed) and takes the
    -- same number: its insert must wait for the first transaction, then fail on the key
    other:exec "BEGIN"
    other:exec "SET LOCAL lock_timeout = '200ms'"
    expect(function() other:one(RACY_INSERT, p) end):to_raise("55P03")
    other:exec "ROLLBACK"
    db:exec "COMMIT"
    -- (and once the first has committed, the key it took refuses the same number outright)
    expect(function() db:exec("INSERT INTO migration_events (migration_project_id, seq, type, payload) VALUES ($1, 1, 'log', '{}')", p) end)
      :to_raise("23505")

    project.up()  -- seq from id
    db:exec "BEGIN"
    local first = db:one(INSERT, p)
    other:exec "BEGIN"
    other:exec "SET LOCAL lock_timeout = '200ms'"  -- it must not wait at all
    local second = other:one(INSERT, p)
    -- even the old writer, still supplying MAX(seq) + 1, neither waits nor collides
    local third = other:one(RACY_INSERT, p)
    other:exec "COMMIT"
    db:exec "COMMIT"
    expect(first.seq):to_be(first.id)
    expect(second.seq):to_be(second.id)
    expect(third.seq):to_be(third.id)
    expect(db:value("SELECT count(DISTINCT seq) = count(*) FROM migration_events WHERE migration_project_id = $1", p)):to_be(true)
  end)

  it("up refuses to start assigning seq from id while existing seq values run ahead of the sequence", function(db)
    project.fixture()
    project.up "004_migration_job_hygiene"
    db:exec("INSERT INTO migration_events (migration_project_id, seq, type, payload) VALUES ($1, 500, 'log', '{}')", H.mp(db, 1))
    expect(function() project.up() end)
      :to_raise("migration_events: existing seq values reach 500, beyond the last id handed out (1): seq = id could repeat one")
    -- what the message says to do, and it goes on
    db:exec "SELECT setval('public.migration_events_id_seq', 500)"
    project.up()
    local r = db:one(INSERT, H.mp(db, 1))
    expect(r.seq):to_be(501)
  end)
end)

describe("BUDGET_NEAR_LIMIT", function()
  local function budget_events(db, mp)
    return db:query([[SELECT seq, type, payload FROM migration_events
                       WHERE migration_project_id = $1 AND payload ->> 'event' = 'BUDGET_NEAR_LIMIT' ORDER BY id]], mp)
  end

  it("is emitted once, when consumption crosses 90 % of the soft budget", function(db)
    setup()
    local mp = H.mp(db, 1)  -- soft budget 1800 s: 90 % is 1620 s
    local set = "UPDATE migration_projects SET ai_time_consumed_seconds = $2 WHERE id = $1"
    db:exec(set, mp, 1000)
    db:exec(set, mp, 1619)
    expect(#budget_events(db, mp)):to_be(0)
    db:exec(set, mp, 1620)
    local ev = budget_events(db, mp)
    expect(#ev):to_be(1)
    expect(ev[1].type):to_be("metric")
    expect(ev[1].payload):to_equal({ event = "BUDGET_NEAR_LIMIT", ai_time_consumed_seconds = 1620, soft_budget_seconds = 1800,
      hard_budget_seconds = 3600, threshold_percent = 90 })
    -- above the threshold already: no more events, however many updates
    for _, v in ipairs { 1700, 1790, 2500 } do db:exec(set, mp, v) end
    db:exec("UPDATE migration_projects SET progress = 50 WHERE id = $1", mp)
    expect(#budget_events(db, mp)):to_be(1)
    -- a raised budget puts it below again; crossing the new 90 % emits again
    db:exec("UPDATE migration_projects SET soft_budget_seconds = 3000 WHERE id = $1", mp)  -- 90 %: 2700
    expect(#budget_events(db, mp)):to_be(1)
    db:exec(set, mp, 2700)
    expect(#budget_events(db, mp)):to_be(2)
    -- lowering the budget under the consumption is a crossing too
    db:exec(set, mp, 100)
    db:exec("UPDATE migration_projects SET soft_budget_seconds = 110, hard_budget_seconds = 3600 WHERE id = $1", mp)
    expect(#budget_events(db, mp)):to_be(3)
    -- another migration is not affected
    expect(#budget_events(db, H.mp(db, 2))):to_be(0)
  end)

  it("is written for the owner updating their own migration under RLS, as for the service", function(db)
    setup()
    local mp = H.mp(db, 1)  -- user 2's
    H.as(db, "authenticated", { ["app.current_user_id"] = H.user(db, 2) }, function()
      expect(db:exec("UPDATE migration_projects SET ai_time_consumed_seconds = 1700 WHERE id = $1", mp)):to_be(1)
      expect(db:value("SELECT count(*) FROM migration_events WHERE migration_project_id = $1", mp)):to_be(1)
    end)
  end)
end)

describe("set_updated_at()", function()
  it("keeps updated_at on every UPDATE of the tables that have it", function(db)
    setup()
    local tables = db:query [[
      SELECT c.relname::text AS name FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
       WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attname = 'updated_at' ORDER BY 1]]
    local names = {}
    for i, t in ipairs(tables) do names[i] = t.name end
    -- every table with updated_at has the trigger
    expect(names):to_equal({ "bulk_migration_jobs", "migration_domain_providers", "migration_jobs",
      "migration_performance_metrics", "migration_projects", "organization_migration_config",
      "organization_migration_customization" })
    for _, n in ipairs(names) do
      expect(db:value("SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = $2", "public." .. n,
        n .. "_set_updated_at")):to_be(1)
    end
    H.rolled_back(db, function()
      local mp = H.mp(db, 3)
      expect(db:value("SELECT updated_at < now() FROM migration_projects WHERE id = $1", mp)):to_be(true)
      db:exec("UPDATE migration_projects SET progress = 20 WHERE id = $1", mp)
      expect(db:value("SELECT updated_at = now() FROM migration_projects WHERE id = $1", mp)):to_be(true)
      -- a writer cannot set it to something else
      db:exec("UPDATE migration_jobs SET updated_at = '2001-01-01' WHERE migration_project_id = $1", mp)
      expect(db:value("SELECT bool_and(updated_at = now()) FROM migration_jobs WHERE migration_project_id = $1", mp)):to_be(true)
      db:exec("INSERT INTO organization_migration_config (organization_id) VALUES ($1)", H.org(db, 1))
      db:exec("UPDATE organization_migration_config SET white_glove = true WHERE organization_id = $1", H.org(db, 1))
      expect(db:value("SELECT updated_at = now() FROM organization_migration_config WHERE organization_id = $1", H.org(db, 1))):to_be(true)
    end)
  end)
end)
