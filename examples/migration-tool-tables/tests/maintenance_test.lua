-- The cleanup functions, the metrics aggregation and their scheduling: with pg_cron in the
-- database they are scheduled, without it (this server) they are callable and the migration
-- says what to call. pg_cron itself is not faked: the decision is tested both ways through the
-- migration's schedule_plan, and every command it would schedule is run here by hand.
local H = dofile("tests/helpers.lua")

local exported = H.exports("007_maintenance")

local function setup()
  project.fixture()
  return project.up()
end

describe("cleanup functions", function()
  it("delete old replay records, old events of finished migrations and expired provider cache entries", function(db)
    setup()
    db:exec [[
      INSERT INTO migration_idempotency (idempotency_key, request_fingerprint, response_payload, status, created_at)
      VALUES ('old', 'f', '{}', 200, now() - interval '25 hours'), ('recent', 'f', '{}', 200, now() - interval '1 hour'),
             ('week', 'f', '{}', 200, now() - interval '7 days');
      INSERT INTO migration_domain_providers (domain, provider, expires_at)
      VALUES ('expired.example.com', 'other', now() - interval '1 minute'), ('cached.example.com', 'other', now() + interval '1 hour');
    ]]
    local finished, active = H.mp(db, 18), H.mp(db, 1)  -- completed; analyzing
    for _, p in ipairs { finished, active } do
      db:exec([[INSERT INTO migration_events (migration_project_id, ts, type, payload)
                VALUES ($1, now() - interval '40 days', 'log', '{}'), ($1, now() - interval '1 day', 'log', '{}')]], p)
    end
    expect(db:value "SELECT migration_cleanup_idempotency()"):to_be(2)
    expect(db:value "SELECT string_agg(idempotency_key, ',') FROM migration_idempotency"):to_be("recent")
    expect(db:value "SELECT migration_cleanup_idempotency(interval '30 minutes')"):to_be(1)
    expect(db:value "SELECT migration_cleanup_events()"):to_be(1)
    -- an active migration's events stay whatever their age: its clients may still backfill
    expect(db:value("SELECT count(*) FROM migration_events WHERE migration_project_id = $1", active)):to_be(2)
    expect(db:value("SELECT count(*) FROM migration_events WHERE migration_project_id = $1", finished)):to_be(1)
    expect(db:value "SELECT migration_cleanup_domain_providers()"):to_be(1)
    expect(db:value "SELECT string_agg(domain, ',') FROM migration_domain_providers"):to_be("cached.example.com")
    -- the cleanup of replay records uses the seed's created_at index
    db:exec "SET enable_seqscan = off"
    local plan = {}
    for _, r in ipairs(db:query "EXPLAIN (COSTS OFF) DELETE FROM migration_idempotency WHERE created_at < now() - interval '1 day'") do
      plan[#plan + 1] = r["QUERY PLAN"]
    end
    expect(table.concat(plan, "\n")):to_contain("idx_migration_idempotency_created_at")
  end)

  it("are the service's: an authenticated user cannot run them", function(db)
    setup()
    H.as(db, "authenticated", { ["app.current_user_id"] = H.user(db, 2) }, function()
      for _, f in ipairs { "migration_cleanup_idempotency()", "migration_cleanup_events()", "migration_cleanup_domain_providers()",
                           "migration_jobs_watchdog()", "migration_refresh_performance_metrics()" } do
        H.rejects(db, "42501", "SELECT " .. f)
      end
    end)
    H.as(db, "service_role", { ["request.jwt.claims"] = '{"role": "service_role"}' }, function()
      expect(db:value "SELECT migration_cleanup_idempotency()"):to_be(0)
    end)
  end)
end)

describe("migration_refresh_performance_metrics", function()
  it("aggregates one day of analytics events and retries, for everyone and per organization, and recomputes on a rerun", function(db)
    setup()
    local org = H.org(db, 1)
    local day = "2025-08-01"
    db:exec([[
      INSERT INTO migration_analytics_events (migration_project_id, organization_id, correlation_id, event_type, duration_ms,
                                              ai_time_seconds, created_at)
      SELECT md5('mp-' || g)::uuid, CASE WHEN g <= 2 THEN $2::uuid END, md5('mp-' || g)::uuid, e.type, e.ms, e.ai,
             $1::date + interval '10 hours'
        FROM generate_series(1, 4) g
        JOIN (VALUES (1, 'MIGRATION_STARTED', NULL, 100), (2, 'MIGRATION_STARTED', NULL, 200),
                     (3, 'MIGRATION_STARTED', NULL, 300), (4, 'MIGRATION_STARTED', NULL, 400),
                     (1, 'MIGRATION_COMPLETED', 60000, NULL), (3, 'MIGRATION_COMPLETED', 120000, NULL),
                     (2, 'MIGRATION_FAILED', NULL, NULL)) AS e (g, type, ms, ai) USING (g)]], day, org)
    -- the day before and after: not counted
    db:exec([[
      INSERT INTO migration_analytics_events (migration_project_id, correlation_id, event_type, created_at)
      VALUES (md5('mp-5')::uuid, md5('mp-5')::uuid, 'MIGRATION_STARTED', $1::date - interval '1 minute'),
             (md5('mp-5')::uuid, md5('mp-5')::uuid, 'MIGRATION_STARTED', $1::date + interval '1 day')]], day)
    db:exec([[
      INSERT INTO migration_retry_reasons (migration_project_id, reason_type, attempt, created_at)
      SELECT md5('mp-1')::uuid, 'tool_timeout', g, $1::date + interval '11 hours' FROM generate_series(1, 3) g]], day)
    expect(db:value("SELECT migration_refresh_performance_metrics($1)", day)):to_be(2)
    local function row(where, ...)
      return db:one([[SELECT migrations_started AS started, migrations_completed AS completed, migrations_failed AS failed,
                             retries, ai_time_seconds AS ai, avg_duration_seconds::float8 AS avg_s, p95_duration_seconds::float8 AS p95_s,
                             period_start = $1::date::timestamp AT TIME ZONE 'UTC' AS day_start
                        FROM migration_performance_metrics WHERE granularity = 'day' AND ]] .. where, day, ...)
    end
    expect(row "organization_id IS NULL")
      :to_equal({ started = 4, completed = 2, failed = 1, retries = 3, ai = 1000, avg_s = 90, p95_s = 117, day_start = true })
    expect(row("organization_id = $2", org))
      :to_equal({ started = 2, completed = 1, failed = 1, retries = 0, ai = 300, avg_s = 60, p95_s = 60, day_start = true })
    -- success rate, as the seed's analytics report it
    expect(db:value "SELECT round(100.0 * migrations_completed / (migrations_completed + migrations_failed))::int FROM migration_performance_metrics WHERE organization_id IS NULL")
      :to_be(67)
    -- a rerun recomputes the same rows
    db:exec([[INSERT INTO migration_analytics_events (migration_project_id, correlation_id, event_type, created_at)
              VALUES (md5('mp-6')::uuid, md5('mp-6')::uuid, 'MIGRATION_STARTED', $1::date + interval '12 hours')]], day)
    expect(db:value("SELECT migration_refresh_performance_metrics($1)", day)):to_be(2)
    expect(db:value "SELECT count(*) FROM migration_performance_metrics"):to_be(2)
    expect(row("organization_id IS NULL").started):to_be(5)
  end)
end)

describe("scheduling", function()
  it("without pg_cron (this server): nothing is scheduled, and up says what to call", function(db)
    local out = setup()
    expect(db:value "SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'"):to_be(0)
    expect(db:value "SELECT to_regnamespace('cron')"):to_be_nil()
    expect(out):to_contain("pg_cron is not installed in this database: nothing scheduled; call from your scheduler: " ..
      "public.migration_cleanup_idempotency() (17 * * * *); public.migration_cleanup_events() (23 3 * * *)")
    expect(db:value "SELECT count(*) FROM weir.checkpoints WHERE key LIKE '007_maintenance%'"):to_be(0)
    -- and down has nothing to unschedule
    expect(project.down "007_maintenance:schedule"):to_contain("007_maintenance:schedule rolled back")
  end)

  it("with pg_cron: one cron.schedule per function, by name, and every command it would run works", function(db)
    local calls, message = exported.schedule_plan { pg_cron = true }
    local names = {}
    for i, c in ipairs(calls) do names[i] = c[1] .. " " .. c[2] end
    expect(names):to_equal({ "migration-cleanup-idempotency 17 * * * *", "migration-cleanup-events 23 3 * * *",
      "migration-cleanup-domain-providers 41 * * * *", "migration-jobs-watchdog */5 * * * *",
      "migration-performance-metrics 7 0 * * *" })
    expect(message):to_be("pg_cron: scheduled migration-cleanup-idempotency, migration-cleanup-events, " ..
      "migration-cleanup-domain-providers, migration-jobs-watchdog, migration-performance-metrics")
    local none = exported.schedule_plan { pg_cron = false }
    expect(#none):to_be(0)
    -- what pg_cron would run, run here as the role that schedules it
    setup()
    for _, c in ipairs(calls) do
      expect(c[3]:match("^SELECT public%.migration_[%w_]+%(%)$") ~= nil):to_be(true)
      db:exec(c[3])
    end
  end)
end)
