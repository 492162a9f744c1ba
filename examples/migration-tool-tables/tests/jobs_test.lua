-- The job system of seed 004 from SQL, as the worker (service_role) uses it: retries with 2^n
-- backoff, the dead-letter queue after 3 attempts, requeue, phase-level resume, the tracking
-- context (no UUID parsing, no double charge) and the watchdog.
local H = dofile("tests/helpers.lua")

-- The worker: service_role, with a service_role JWT (as the seed's policies expect).
local SERVICE = { ["request.jwt.claims"] = '{"role": "service_role"}' }

local function setup()
  project.fixture()
  project.up()
end

local function job_of(db, mp, phase)
  return db:value("SELECT id::text FROM migration_jobs WHERE migration_project_id = $1 AND phase = $2", mp, phase)
end

describe("retries and the dead-letter queue", function()
  it("a failing job is queued again with 2^n backoff, and moved to the DLQ at its 3rd failure", function(db)
    setup()
    local mp = H.mp(db, 1)  -- analyzing: its ANALYZE job is running
    local job = job_of(db, mp, "ANALYZE")
    H.as(db, "service_role", SERVICE, function()
      -- 1st failure: attempts 1, queued again, due 2 s after the attempt
      local r = db:one("SELECT outcome, attempts, retry_at = now() + interval '2 seconds' AS in_2s FROM migration_job_fail($1, 'tool timed out')", job)
      expect(r):to_equal({ outcome = "retry", attempts = 1, in_2s = true })
      local j = db:one("SELECT status, attempts, last_error, last_attempt_at = now() AS now FROM migration_jobs WHERE id = $1", job)
      expect(j):to_equal({ status = "queued", attempts = 1, last_error = "tool timed out", now = true })
      -- not claimed before it is due; claimed when it is
      expect(db:value("SELECT (migration_job_claim('ANALYZE', now() + interval '1 second')).id")):to_be_nil()
      expect(db:value("SELECT (migration_job_claim('ANALYZE', now() + interval '2 seconds')).id::text")):to_be(job)
      expect(db:value("SELECT status FROM migration_jobs WHERE id = $1", job)):to_be("running")
      -- 2nd failure: due 4 s after it
      r = db:one("SELECT outcome, attempts, retry_at = now() + interval '4 seconds' AS in_4s FROM migration_job_fail($1, 'tool timed out again')", job)
      expect(r):to_equal({ outcome = "retry", attempts = 2, in_4s = true })
      expect(db:value("SELECT (migration_job_claim('ANALYZE', now() + interval '3 seconds')).id")):to_be_nil()
      expect(db:value("SELECT (migration_job_claim('ANALYZE', now() + interval '4 seconds')).id::text")):to_be(job)
      -- 3rd failure: the job leaves the queue for the DLQ, whole
      r = db:one("SELECT outcome, attempts, retry_at FROM migration_job_fail($1, 'tool timed out a third time')", job)
      expect(r.outcome):to_be("dead_lettered")
      expect(r.attempts):to_be(3)
      expect(r.retry_at):to_be_nil()
      expect(db:value("SELECT count(*) FROM migration_jobs WHERE id = $1", job)):to_be(0)
      local d = db:one([[SELECT job_id::text, migration_project_id::text AS mp, phase, attempts, reason_type, last_error,
                                job ->> 'id' AS job_row_id, (job ->> 'attempts')::int AS job_attempts, requeued_at
                           FROM migration_job_dlq]])
      expect(d.job_id):to_be(job)
      expect(d.mp):to_be(mp)
      expect(d.phase):to_be("ANALYZE")
      expect(d.attempts):to_be(3)
      expect(d.reason_type):to_be("tool_timeout")
      expect(d.last_error):to_be("tool timed out a third time")
      expect(d.job_row_id):to_be(job)
      expect(d.job_attempts):to_be(3)
      expect(d.requeued_at):to_be_nil()
      -- each attempt is in the retry taxonomy
      expect(db:value("SELECT string_agg(attempt || ':' || reason_type, ',' ORDER BY attempt) FROM migration_retry_reasons WHERE job_id = $1", job))
        :to_be("1:tool_timeout,2:tool_timeout,3:tool_timeout")
      -- a job that is not queued or running cannot fail again
      H.rejects(db, "P0002", "SELECT migration_job_fail($1, 'again')", job)
    end)
  end)

  it("requeue puts a dead-lettered job back with attempts at 0; it can be dead-lettered again", function(db)
    setup()
    local job = job_of(db, H.mp(db, 12), "TRANSFORM")  -- processing: TRANSFORM running
    H.as(db, "service_role", SERVICE, function()
      expect(db:value("SELECT outcome FROM migration_job_fail($1, 'deploy broke', 'deployment_error', 1)", job)):to_be("dead_lettered")
      local dlq = db:value "SELECT id::text FROM migration_job_dlq"
      expect(db:value("SELECT migration_job_requeue($1)::text", dlq)):to_be(job)
      expect(db:one("SELECT status, attempts, phase FROM migration_jobs WHERE id = $1", job))
        :to_equal({ status = "queued", attempts = 0, phase = "TRANSFORM" })
      expect(db:value("SELECT requeued_at = now() FROM migration_job_dlq WHERE id = $1", dlq)):to_be(true)
      H.rejects(db, "P0002", "SELECT migration_job_requeue($1)", dlq)
      -- and once more: a second DLQ entry, the first kept as history
      expect(db:value("SELECT outcome FROM migration_job_fail($1, 'deploy broke again', 'deployment_error', 1)", job)):to_be("dead_lettered")
      expect(db:value("SELECT count(*) FROM migration_job_dlq WHERE job_id = $1", job)):to_be(2)
      expect(db:value("SELECT count(*) FROM migration_job_dlq WHERE job_id = $1 AND requeued_at IS NULL", job)):to_be(1)
    end)
  end)

  it("refuses what the seed's taxonomy and guardrails do not allow", function(db)
    setup()
    local job = job_of(db, H.mp(db, 1), "ANALYZE")
    H.as(db, "service_role", SERVICE, function()
      H.rejects(db, "23514", "SELECT migration_job_fail($1, 'x', 'bored')", job)  -- reason_type CHECK
      H.rejects(db, "22023", "SELECT migration_job_fail($1, 'x', 'tool_timeout', 0)", job)
      H.rejects(db, "23514", "UPDATE migration_jobs SET attempts = -1 WHERE id = $1", job)
      H.rejects(db, "23514", [[INSERT INTO migration_retry_reasons (migration_project_id, reason_type, attempt)
                               VALUES ($1, 'tool_timeout', 0)]], H.mp(db, 1))
    end)
    -- the functions are the service's: an authenticated user cannot call them
    H.as(db, "authenticated", { ["app.current_user_id"] = H.user(db, 2) }, function()
      H.rejects(db, "42501", "SELECT migration_job_claim()")
      for _, call in ipairs { "SELECT migration_job_fail($1::uuid, 'x')", "SELECT migration_job_resume($1::uuid)",
                              "SELECT migration_job_requeue($1::uuid)" } do
        H.rejects(db, "42501", call, job)
      end
    end)
  end)
end)

describe("phase-level resume", function()
  it("skips completed phases, makes one job however often it is called, and ends when all are done", function(db)
    setup()
    H.as(db, "service_role", SERVICE, function()
      local function resume(n)
        return db:one("SELECT (j).id::text AS id, (j).phase AS phase, (j).status AS status FROM migration_job_resume($1) j", H.mp(db, n))
      end
      -- questionnaire (ANALYZE completed): PLAN next, queued; asked again, the same job
      local first = resume(6)
      expect(first.phase):to_be("PLAN")
      expect(first.status):to_be("queued")
      expect(resume(6).id):to_be(first.id)
      expect(db:value("SELECT count(*) FROM migration_jobs WHERE migration_project_id = $1 AND phase = 'PLAN'", H.mp(db, 6))):to_be(1)
      -- PLAN completes: TRANSFORM next
      db:exec("UPDATE migration_jobs SET status = 'completed', completed_at = now() WHERE id = $1", first.id)
      expect(resume(6).phase):to_be("TRANSFORM")
      -- failed at PLAN (ANALYZE completed, PLAN failed): PLAN again, ANALYZE skipped
      expect(resume(24).phase):to_be("PLAN")
      -- processing, TRANSFORM running: that job
      expect(resume(12)):to_equal({ id = job_of(db, H.mp(db, 12), "TRANSFORM"), phase = "TRANSFORM", status = "running" })
      -- every phase completed: nothing to resume
      expect(resume(18).id):to_be_nil()
      H.rejects(db, "P0002", "SELECT migration_job_resume('00000000-0000-0000-0000-000000000000')")
    end)
  end)
end)

describe("AI-time tracking context", function()
  it("is found by its tracking id, which is never parsed, and allows one open session per phase", function(db)
    setup()
    local mp = H.mp(db, 1)
    local tracking = "migration-" .. mp .. "-ANALYZE"  -- the seed's format: hyphens inside the UUID too
    H.as(db, "service_role", SERVICE, function()
      db:exec([[INSERT INTO migration_tracking_context (tracking_id, migration_project_id, phase, user_id)
                VALUES ($1, $2, 'ANALYZE', $3)]], tracking, mp, H.user(db, 2))
      expect(db:one("SELECT migration_project_id::text AS mp, phase, operation_type FROM migration_tracking_context WHERE tracking_id = $1", tracking))
        :to_equal({ mp = mp, phase = "ANALYZE", operation_type = "website_migration" })
      -- an overlapping start of the same phase would bill twice: refused
      local e = H.rejects(db, "23505", [[INSERT INTO migration_tracking_context (tracking_id, migration_project_id, phase, user_id)
                                          VALUES ($1 || '-retry', $2, 'ANALYZE', $3)]], tracking, mp, H.user(db, 2))
      expect(e.message):to_contain("idx_migration_tracking_context_open")
      -- a session ends with its outcome
      H.rejects(db, "23514", "UPDATE migration_tracking_context SET ended_at = now() WHERE tracking_id = $1", tracking)
      H.rejects(db, "23514", "UPDATE migration_tracking_context SET consumed_seconds = -1 WHERE tracking_id = $1", tracking)
      db:exec("UPDATE migration_tracking_context SET ended_at = now(), success = true, consumed_seconds = 95 WHERE tracking_id = $1", tracking)
      -- once ended, the phase may be tracked again
      db:exec([[INSERT INTO migration_tracking_context (tracking_id, migration_project_id, phase, user_id)
                VALUES ($1 || '-retry', $2, 'ANALYZE', $3)]], tracking, mp, H.user(db, 2))
    end)
  end)

  it("the watchdog fails running jobs that stopped updating, closes their sessions and ends their SSE stream", function(db)
    setup()
    local stale = H.mp(db, 1)  -- its running ANALYZE job was last updated when the fixture was made
    local fresh = H.mp(db, 2)
    H.as(db, "service_role", SERVICE, function()
      -- a worker that is alive touches its job (set_updated_at gives it now())
      db:exec("UPDATE migration_jobs SET payload = '{\"heartbeat\": 1}' WHERE migration_project_id = $1 AND status = 'running'", fresh)
      for _, mp in ipairs { stale, fresh } do
        db:exec([[INSERT INTO migration_tracking_context (tracking_id, migration_project_id, phase, user_id)
                  SELECT 'migration-' || $1 || '-ANALYZE', $1::uuid, 'ANALYZE', user_id FROM migration_projects WHERE id = $1::uuid]], mp)
      end
      local running = db:value "SELECT count(*) FROM migration_jobs WHERE status = 'running'"
      expect(db:value "SELECT migration_jobs_watchdog(interval '2 hours')"):to_be(running - 1)
      expect(db:one("SELECT status, last_error FROM migration_jobs WHERE migration_project_id = $1 AND phase = 'ANALYZE'", stale))
        :to_equal({ status = "failed", last_error = "watchdog: running with no update for 02:00:00" })
      expect(db:value("SELECT status FROM migration_jobs WHERE migration_project_id = $1 AND phase = 'ANALYZE'", fresh)):to_be("running")
      -- the stale phase's AI-time session is closed, unsuccessful; the live one stays open
      expect(db:one("SELECT ended_at = now() AS closed, success FROM migration_tracking_context WHERE migration_project_id = $1", stale))
        :to_equal({ closed = true, success = false })
      expect(db:value("SELECT ended_at FROM migration_tracking_context WHERE migration_project_id = $1", fresh)):to_be_nil()
      -- its SSE stream gets an error, then the terminal done, in cursor order
      expect(db:value("SELECT string_agg(type, ',' ORDER BY id) FROM migration_events WHERE migration_project_id = $1", stale))
        :to_be("error,done")
      expect(db:value("SELECT payload ->> 'reason' FROM migration_events WHERE migration_project_id = $1 AND type = 'error'", stale))
        :to_be("watchdog_timeout")
      -- and nothing is left for a second run
      expect(db:value "SELECT migration_jobs_watchdog(interval '2 hours')"):to_be(0)
    end)
  end)
end)
