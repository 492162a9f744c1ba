-- Row-level security of every table seed 004 adds, exercised as Supabase's roles (which the
-- fixture creates when the cluster lacks them): `authenticated` for a user's session (the seed's
-- app.current_user_id, and app.current_organization_id for organization data), `service_role`
-- for the service. None of them owns the tables, so RLS applies to all but service_role,
-- which bypasses it as on Supabase.
local H = dofile("tests/helpers.lua")

local SERVICE_JWT = '{"role": "service_role"}'
local USER_JWT = '{"role": "authenticated"}'

-- Every table 001–006 create (and the fixture's migration_projects): RLS is on for all.
local NEW_TABLES = { "migration_retries", "migration_project_links", "migration_events", "migration_idempotency",
  "migration_job_dlq", "migration_tracking_context", "migration_retry_reasons", "migration_analytics_events",
  "migration_user_feedback", "migration_performance_metrics", "organization_migration_config",
  "organization_migration_customization", "bulk_migration_jobs", "migration_verification_attempts",
  "migration_domain_providers" }

-- Rows for two users (user 2 owns mp-1, user 3 owns mp-2) and two organizations, written as the
-- owner (who is not subject to RLS).
local function rows(db)
  local mine, theirs = H.mp(db, 1), H.mp(db, 2)
  for i, p in ipairs { mine, theirs } do
    local owner = db:value("SELECT user_id::text FROM migration_projects WHERE id = $1", p)
    db:exec([[INSERT INTO migration_job_dlq (job_id, migration_project_id, phase, attempts, reason_type, job)
              VALUES (gen_random_uuid(), $1, 'ANALYZE', 3, 'tool_timeout', '{}')]], p)
    db:exec([[INSERT INTO migration_tracking_context (tracking_id, migration_project_id, phase, user_id)
              VALUES ('migration-' || $1 || '-ANALYZE', $1::uuid, 'ANALYZE', $2)]], p, owner)
    db:exec("INSERT INTO migration_retry_reasons (migration_project_id, reason_type, attempt) VALUES ($1, 'tool_timeout', 1)", p)
    db:exec([[INSERT INTO migration_analytics_events (migration_project_id, user_id, correlation_id, event_type)
              VALUES ($1, $2, $1, 'MIGRATION_STARTED')]], p, owner)
    db:exec("INSERT INTO migration_user_feedback (migration_project_id, user_id, rating) VALUES ($1, $2, 4)", p, owner)
    db:exec("INSERT INTO migration_verification_attempts (migration_project_id, method) VALUES ($1, 'dns_txt')", p)
    local org = H.org(db, i)
    db:exec("INSERT INTO organization_migration_config (organization_id) VALUES ($1)", org)
    db:exec("INSERT INTO organization_migration_customization (organization_id) VALUES ($1)", org)
    db:exec([[INSERT INTO bulk_migration_jobs (organization_id, created_by, source_urls)
              VALUES ($1, $2, ARRAY['https://a.example.com', 'https://b.example.com'])]], org, owner)
  end
  db:exec "INSERT INTO migration_performance_metrics (granularity, period_start) VALUES ('day', '2025-08-01')"
  db:exec "INSERT INTO migration_domain_providers (domain, provider) VALUES ('site1.example.com', 'cloudflare')"
  return mine, theirs
end

local COUNTED = { "migration_job_dlq", "migration_tracking_context", "migration_retry_reasons", "migration_analytics_events",
  "migration_user_feedback", "migration_performance_metrics", "organization_migration_config",
  "organization_migration_customization", "bulk_migration_jobs", "migration_verification_attempts",
  "migration_domain_providers" }

local function counts(db)
  local out = {}
  for _, t in ipairs(COUNTED) do out[t] = db:value("SELECT count(*) FROM " .. t) end
  return out
end

local function all(n)
  local out = {}
  for _, t in ipairs(COUNTED) do out[t] = n end
  return out
end

describe("row-level security", function()
  it("is enabled on every new table, none owned by the API roles", function(db)
    project.fixture()
    project.up()
    for _, t in ipairs(NEW_TABLES) do
      local r = db:one([[SELECT relrowsecurity, pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = $1::regclass]], "public." .. t)
      expect(t .. " " .. tostring(r.relrowsecurity)):to_be(t .. " true")
      expect(({ anon = true, authenticated = true, service_role = true })[r.owner]):to_be_nil()
    end
    -- Supabase's default privileges granted the API roles the new tables: RLS alone decides
    expect(db:value "SELECT has_table_privilege('authenticated', 'public.migration_job_dlq', 'SELECT')"):to_be(true)
  end)

  it("a user sees their own migration's rows, their organization's, and nothing of the service's", function(db)
    project.fixture()
    project.up()
    rows(db)
    local user2 = { ["app.current_user_id"] = H.user(db, 2), ["app.current_organization_id"] = H.org(db, 1),
      ["request.jwt.claims"] = USER_JWT }
    local seen = H.as(db, "authenticated", user2, function() return counts(db) end)
    expect(seen):to_equal({
      migration_job_dlq = 0,                      -- the service's alone
      migration_tracking_context = 1,             -- their own session
      migration_retry_reasons = 1,                -- their own migration's
      migration_analytics_events = 1,
      migration_user_feedback = 1,
      migration_performance_metrics = 0,          -- the service's alone
      organization_migration_config = 1,          -- their organization's
      organization_migration_customization = 1,
      bulk_migration_jobs = 1,
      migration_verification_attempts = 1,
      migration_domain_providers = 0,             -- the service's cache
    })
    -- no user, no organization: nothing at all
    expect(H.as(db, "authenticated", { ["request.jwt.claims"] = USER_JWT }, function() return counts(db) end)):to_equal(all(0))
    expect(H.as(db, "anon", {}, function() return counts(db) end)):to_equal(all(0))
  end)

  it("a user writes only where the seed lets them: their own feedback, once; nothing of the service's", function(db)
    project.fixture()
    project.up()
    local mine, theirs = H.mp(db, 1), H.mp(db, 2)
    local user2 = H.user(db, 2)
    H.as(db, "authenticated", { ["app.current_user_id"] = user2, ["app.current_organization_id"] = H.org(db, 1),
      ["request.jwt.claims"] = USER_JWT }, function()
      expect(db:exec("INSERT INTO migration_user_feedback (migration_project_id, user_id, rating) VALUES ($1, $2, 5)", mine, user2)):to_be(1)
      H.rejects(db, "23505", "INSERT INTO migration_user_feedback (migration_project_id, user_id, rating) VALUES ($1, $2, 1)", mine, user2)
      H.rejects(db, "23514", "UPDATE migration_user_feedback SET rating = 6 WHERE migration_project_id = $1", mine)
      -- rating someone else's migration, or as someone else
      H.rejects(db, "42501", "INSERT INTO migration_user_feedback (migration_project_id, user_id, rating) VALUES ($1, $2, 5)", theirs, user2)
      H.rejects(db, "42501", "INSERT INTO migration_user_feedback (migration_project_id, user_id, rating) VALUES ($1, $2, 5)",
        theirs, H.user(db, 3))
      -- the service's tables and the organization's settings are read-only or invisible
      H.rejects(db, "42501", [[INSERT INTO migration_job_dlq (job_id, migration_project_id, phase, attempts, reason_type, job)
                               VALUES (gen_random_uuid(), $1, 'ANALYZE', 1, 'tool_timeout', '{}')]], mine)
      H.rejects(db, "42501", "INSERT INTO migration_retry_reasons (migration_project_id, reason_type, attempt) VALUES ($1, 'tool_timeout', 1)", mine)
      H.rejects(db, "42501", [[INSERT INTO migration_tracking_context (tracking_id, migration_project_id, phase, user_id)
                               VALUES ('t', $1, 'ANALYZE', $2)]], mine, user2)
      H.rejects(db, "42501", "INSERT INTO organization_migration_config (organization_id) VALUES ($1)", H.org(db, 1))
      H.rejects(db, "42501", "INSERT INTO migration_domain_providers (domain, provider) VALUES ('x.example.com', 'other')")
    end)
  end)

  it("the seed's listed tables: a user sees and writes only their own migrations' rows; replay records only the service", function(db)
    project.fixture()
    project.up()
    local mine, theirs = H.mp(db, 1), H.mp(db, 2)  -- user 2's, user 3's
    for _, p in ipairs { mine, mine, theirs } do
      db:exec("INSERT INTO migration_events (migration_project_id, type, payload) VALUES ($1, 'log', '{}')", p)
      db:exec("INSERT INTO migration_retries (migration_project_id, retry_reason) VALUES ($1, 'tool_timeout')", p)
    end
    db:exec([[INSERT INTO migration_project_links (migration_project_id, target_project_id)
              VALUES ($1, md5('project-1')::uuid), ($2, md5('project-2')::uuid)]], mine, theirs)
    db:exec [[INSERT INTO migration_idempotency (idempotency_key, request_fingerprint, response_payload, status)
              VALUES ('k1', 'f', '{}', 200), ('k2', 'f', '{}', 409)]]
    local function seen()
      return { projects = db:value "SELECT count(*) FROM migration_projects", events = db:value "SELECT count(*) FROM migration_events",
        retries = db:value "SELECT count(*) FROM migration_retries", links = db:value "SELECT count(*) FROM migration_project_links",
        replays = db:value "SELECT count(*) FROM migration_idempotency", jobs = db:value "SELECT count(*) FROM migration_jobs" }
    end
    H.as(db, "authenticated", { ["request.jwt.claims"] = USER_JWT }, function()
      expect(seen()):to_equal({ projects = 0, events = 0, retries = 0, links = 0, replays = 0, jobs = 0 })
      db:exec("SELECT set_config('app.current_user_id', $1, true)", H.user(db, 2))
      expect(seen()):to_equal({ projects = 6, events = 2, retries = 2, links = 1, replays = 0, jobs = 12 })
      -- writing into another user's migration is refused (USING doubles as WITH CHECK for ALL)
      H.rejects(db, "42501", "INSERT INTO migration_events (migration_project_id, type, payload) VALUES ($1, 'log', '{}')", theirs)
      H.rejects(db, "42501", "INSERT INTO migration_retries (migration_project_id, retry_reason) VALUES ($1, 'tool_timeout')", theirs)
      H.rejects(db, "42501", "INSERT INTO migration_project_links (migration_project_id, target_project_id) VALUES ($1, md5('project-3')::uuid)", theirs)
      expect(db:exec("INSERT INTO migration_events (migration_project_id, type, payload) VALUES ($1, 'log', '{}')", mine)):to_be(1)
      -- another user's rows cannot be changed either: they are invisible
      expect(db:exec("DELETE FROM migration_events WHERE migration_project_id = $1", theirs)):to_be(0)
      -- a reset setting reads as '' (not NULL) in this session: no 22P02, just no rows
      db:exec "SELECT set_config('app.current_user_id', '', true)"
      expect(seen()):to_equal({ projects = 0, events = 0, retries = 0, links = 0, replays = 0, jobs = 0 })
      H.rejects(db, "42501", "INSERT INTO migration_idempotency (idempotency_key, request_fingerprint, response_payload, status) VALUES ('k3', 'f', '{}', 201)")
    end)
    H.as(db, "service_role", { ["request.jwt.claims"] = SERVICE_JWT }, function()
      expect(db:value "SELECT count(*) FROM migration_idempotency"):to_be(2)
      expect(db:exec("INSERT INTO migration_idempotency (idempotency_key, request_fingerprint, response_payload, status) VALUES ('k3', 'f', '{}', 201)"))
        :to_be(1)
    end)
  end)

  it("the service sees and writes everything: as service_role, and by the expert review's JWT policy", function(db)
    project.fixture()
    project.up()
    rows(db)
    local everything = { migration_job_dlq = 2, migration_tracking_context = 2, migration_retry_reasons = 2,
      migration_analytics_events = 2, migration_user_feedback = 2, migration_performance_metrics = 1,
      organization_migration_config = 2, organization_migration_customization = 2, bulk_migration_jobs = 2,
      migration_verification_attempts = 2, migration_domain_providers = 1 }
    expect(H.as(db, "service_role", { ["request.jwt.claims"] = SERVICE_JWT }, function() return counts(db) end)):to_equal(everything)
    -- the policy itself, for a role that does not bypass RLS: a service_role JWT opens every table
    expect(H.as(db, "authenticated", { ["request.jwt.claims"] = SERVICE_JWT }, function() return counts(db) end)):to_equal(everything)
    H.as(db, "authenticated", { ["request.jwt.claims"] = SERVICE_JWT }, function()
      expect(db:exec("INSERT INTO migration_domain_providers (domain, provider) VALUES ('x.example.com', 'other')")):to_be(1)
    end)
  end)
end)
