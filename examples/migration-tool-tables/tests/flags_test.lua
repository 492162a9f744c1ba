-- The seed's rollout: conservative flags, automatic project creation as a 10 % canary (stable
-- per user), and the auto-rollback when more than 5 % of its deployments fail in an hour.
local H = dofile("tests/helpers.lua")

local CANARY = "migration_project_creation"

local function setup()
  project.fixture()
  return project.up()
end

-- The users (of `n` made-up ones) for whom the application's query says the canary is on.
local function in_canary(db, n)
  local out = {}
  for _, r in ipairs(db:query([[SELECT g FROM generate_series(1, $1) g
                                 WHERE weir.flag_enabled($2, md5('user-' || g)::uuid::text) ORDER BY g]], n, CANARY)) do
    out[#out + 1] = r.g
  end
  return out
end

-- canary_guard.lua as `weir run --db URL canary_guard.lua ARGS` runs it, on the test's
-- database; returns what it printed.
local function canary_guard(db, ...)
  local printed = {}
  local env = setmetatable({ db = db, arg = { [0] = "canary_guard.lua", ... },
    print = function(...) printed[#printed + 1] = table.concat({ ... }, "\t") end }, { __index = _G })
  assert(loadfile("canary_guard.lua", "t", env))(...)
  return table.concat(printed, "\n")
end

describe("rollout flags", function()
  it("start conservative: SSE on, project creation on for 10 %, the rest off", function(db)
    local out = setup()
    expect(out):to_contain("flags: defined migration_sse_progress (on), migration_websocket_progress (off), " ..
      "migration_advanced_retry (off), migration_builder_compatibility (off), migration_project_creation (10 %), " ..
      "migration_enterprise_features (off)")
    local state = {}
    for _, f in ipairs(flags.list(db)) do state[f.name] = (f.enabled and "on" or "off") .. " " .. f.percent end
    expect(state):to_equal({
      migration_sse_progress = "on 100", migration_websocket_progress = "off 100", migration_advanced_retry = "off 100",
      migration_builder_compatibility = "off 100", migration_project_creation = "on 10", migration_enterprise_features = "off 100",
    })
    expect(db:value "SELECT weir.flag_enabled('migration_sse_progress', 'anyone')"):to_be(true)
    expect(db:value "SELECT weir.flag_enabled('migration_advanced_retry', 'anyone')"):to_be(false)
  end)

  it("put about 10 % of users in the canary, always the same ones, who stay in as it grows", function(db)
    setup()
    local first = in_canary(db, 10000)
    expect(#first >= 900 and #first <= 1100):to_be(true)
    -- another session, and the Lua API, give the same answer for the same users
    local other <close> = db:clone()
    expect(in_canary(other, 10000)):to_equal(first)
    for _, g in ipairs { first[1], first[2], first[#first] } do
      expect(flags.enabled(db, CANARY, { subject = db:value("SELECT md5('user-' || $1::int)::uuid::text", g) })):to_be(true)
    end
    -- widening keeps everyone who was in; narrowing back gives the same 10 %
    flags.set_percent(db, CANARY, 25)
    local wider = in_canary(db, 10000)
    expect(#wider > #first):to_be(true)
    local set = {}
    for _, g in ipairs(wider) do set[g] = true end
    for _, g in ipairs(first) do expect(set[g]):to_be(true) end
    flags.set_percent(db, CANARY, 10)
    expect(in_canary(db, 10000)):to_equal(first)
  end)

  it("keep what someone changed when the migration runs again", function(db)
    setup()
    flags.set_percent(db, CANARY, 50)
    flags.enable(db, "migration_advanced_retry")
    project.down "008_rollout_flags"
    expect(project.up()):to_contain("flags: defined none; kept as they are: migration_sse_progress")
    local state = {}
    for _, f in ipairs(flags.list(db)) do state[f.name] = f end
    expect(state[CANARY].percent):to_be(50)
    expect(state.migration_advanced_retry.enabled):to_be(true)
  end)
end)

describe("the canary's auto-rollback (canary_guard.lua)", function()
  it("keeps the canary at 5 % failed deployments in the last hour, and turns it off above", function(db)
    setup()
    -- 20 projects created in the last hour by the canary path, one deployment failed: 5 %
    db:exec [[
      INSERT INTO migration_analytics_events (migration_project_id, correlation_id, event_type, created_at)
      SELECT md5('mp-' || g)::uuid, md5('mp-' || g)::uuid, 'PROJECT_CREATED', now() - interval '10 minutes'
        FROM generate_series(1, 20) g]]
    db:exec [[INSERT INTO migration_analytics_events (migration_project_id, correlation_id, event_type)
              VALUES (md5('mp-1')::uuid, md5('mp-1')::uuid, 'DEPLOYMENT_FAILED')]]
    -- failures of projects created earlier than the hour do not count
    db:exec [[INSERT INTO migration_analytics_events (migration_project_id, correlation_id, event_type, created_at)
              VALUES (md5('mp-25')::uuid, md5('mp-25')::uuid, 'PROJECT_CREATED', now() - interval '2 hours'),
                     (md5('mp-25')::uuid, md5('mp-25')::uuid, 'DEPLOYMENT_FAILED', now() - interval '5 minutes')]]
    expect(db:one "SELECT created, deploy_failed, failed_percent::float8 AS pct FROM migration_project_creation_health()")
      :to_equal({ created = 20, deploy_failed = 1, pct = 5 })
    expect(canary_guard(db)):to_be("canary: healthy: 20 projects created in the last hour, 1 deployments failed " ..
      "(5.00 %, threshold 5 %; migration_project_creation on for 10 % of users)")
    expect(#in_canary(db, 10000) > 0):to_be(true)
    -- a second failure: 10 %
    db:exec [[INSERT INTO migration_analytics_events (migration_project_id, correlation_id, event_type)
              VALUES (md5('mp-2')::uuid, md5('mp-2')::uuid, 'DEPLOYMENT_FAILED')]]
    expect(canary_guard(db)):to_be("canary: ROLLED BACK: 20 projects created in the last hour, 2 deployments failed " ..
      "(10.00 % > 5 %): migration_project_creation is now off")
    -- the application's answer is off for every user, and the change is on record
    expect(#in_canary(db, 10000)):to_be(0)
    local last = flags.history(db, CANARY)
    expect(last[#last].change):to_be("disable")
    -- it never turns the flag back on
    expect(canary_guard(db)):to_be("canary: migration_project_creation is off; 20 projects created in the last hour, 2 deployments failed")
    -- the threshold is an argument
    flags.enable(db, CANARY)
    expect(canary_guard(db, "20")):to_contain("canary: healthy:")
  end)
end)
