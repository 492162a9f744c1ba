-- Seed 004, part 7: the "cleanup functions for maintenance", the watchdog ("Mark jobs failed
-- after wall-clock timeout, close open AI-time sessions") and the aggregation behind
-- migration_performance_metrics, scheduled with pg_cron where the database has it (the
-- expert review: "Added commented pg_cron scheduling for production environments").
--
--   functions  migration_cleanup_idempotency([older_than])  replay records older than 24 h (the
--                                                  seed's created_at index "for cleanup")
--              migration_cleanup_events([older_than])       events of finished migrations (no
--                                                  client backfills them any more) older than 30 days
--              migration_cleanup_domain_providers()         expired DNS-provider cache entries
--              migration_jobs_watchdog([timeout])           running jobs not updated for 2 h: failed,
--                                                  their open tracking sessions closed (success
--                                                  false), and an 'error' then a 'done' event for
--                                                  the SSE stream ("SSE emits terminal event")
--              migration_refresh_performance_metrics([day]) one day of analytics events and retry
--                                                  reasons into migration_performance_metrics, for
--                                                  all migrations and per organization (UPSERT: run
--                                                  it again and the day is recomputed)
--              Each returns what it did (rows deleted, jobs failed, rows written), so a scheduler
--              can log it; each is executable by service_role only.
--   schedule   with pg_cron in this database: cron.schedule for each, under the names in
--              SCHEDULES (cron.schedule by name replaces a job of the same name, so `up` again
--              does not duplicate them); `down` unschedules what `up` scheduled. Without pg_cron
--              it schedules nothing and says which functions to call from another scheduler.
--              The decision is `schedule_plan`, returned as the file's second value so that
--              tests/ can check it both ways on a server without pg_cron.

local SCHEDULES = {
  { "migration-cleanup-idempotency", "17 * * * *", "SELECT public.migration_cleanup_idempotency()" },
  { "migration-cleanup-events", "23 3 * * *", "SELECT public.migration_cleanup_events()" },
  { "migration-cleanup-domain-providers", "41 * * * *", "SELECT public.migration_cleanup_domain_providers()" },
  { "migration-jobs-watchdog", "*/5 * * * *", "SELECT public.migration_jobs_watchdog()" },
  { "migration-performance-metrics", "7 0 * * *", "SELECT public.migration_refresh_performance_metrics()" },
}

local FUNCTIONS = {
  "public.migration_cleanup_idempotency(interval)",
  "public.migration_cleanup_events(interval)",
  "public.migration_cleanup_domain_providers()",
  "public.migration_jobs_watchdog(interval)",
  "public.migration_refresh_performance_metrics(date)",
}

---What the schedule phase does on a database: { pg_cron = true|false } → the cron.schedule
---calls to make ({name, schedule, command} each, empty without pg_cron) and what to say.
local function schedule_plan(facts)
  if facts.pg_cron then
    local names = {}
    for i, s in ipairs(SCHEDULES) do names[i] = s[1] end
    return SCHEDULES, "pg_cron: scheduled " .. table.concat(names, ", ")
  end
  local calls = {}
  for i, s in ipairs(SCHEDULES) do calls[i] = ("%s (%s)"):format(s[3]:gsub("^SELECT ", ""), s[2]) end
  return {}, "pg_cron is not installed in this database: nothing scheduled; call from your scheduler: " ..
    table.concat(calls, "; ")
end

local function has_pg_cron(db)
  return db:value "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron')"
end

return migration "007_maintenance" {
  description = "seed 004: cleanup functions, the jobs watchdog and the metrics aggregation; scheduled with pg_cron when the database has it",

  phase "functions" {
    description = "migration_cleanup_idempotency, migration_cleanup_events, migration_cleanup_domain_providers, migration_jobs_watchdog, migration_refresh_performance_metrics",
    up = function(db)
      db:exec [[
        CREATE FUNCTION public.migration_cleanup_idempotency(p_older_than interval DEFAULT interval '24 hours')
          RETURNS bigint
          LANGUAGE sql
          SET search_path = pg_catalog, public
        AS $$
          WITH gone AS (DELETE FROM public.migration_idempotency WHERE created_at < now() - p_older_than RETURNING 1)
          SELECT count(*) FROM gone
        $$;

        CREATE FUNCTION public.migration_cleanup_events(p_older_than interval DEFAULT interval '30 days')
          RETURNS bigint
          LANGUAGE sql
          SET search_path = pg_catalog, public
        AS $$
          WITH gone AS (
            DELETE FROM public.migration_events e
             USING public.migration_projects mp
             WHERE mp.id = e.migration_project_id
               AND mp.status IN ('completed', 'failed', 'cancelled')
               AND e.ts < now() - p_older_than
            RETURNING 1)
          SELECT count(*) FROM gone
        $$;

        CREATE FUNCTION public.migration_cleanup_domain_providers()
          RETURNS bigint
          LANGUAGE sql
          SET search_path = pg_catalog, public
        AS $$
          WITH gone AS (DELETE FROM public.migration_domain_providers WHERE expires_at < now() RETURNING 1)
          SELECT count(*) FROM gone
        $$;

        CREATE FUNCTION public.migration_jobs_watchdog(p_timeout interval DEFAULT interval '2 hours')
          RETURNS integer
          LANGUAGE plpgsql
          SET search_path = pg_catalog, public
        AS $$
        DECLARE
          j record;
          n integer := 0;
        BEGIN
          FOR j IN
            UPDATE public.migration_jobs
               SET status = 'failed', last_error = format('watchdog: running with no update for %s', p_timeout)
             WHERE status = 'running' AND updated_at < now() - p_timeout
            RETURNING id, migration_project_id, phase
          LOOP
            n := n + 1;
            -- the AI-time session of that phase ends, unsuccessful: no dangling billing
            UPDATE public.migration_tracking_context
               SET ended_at = greatest(now(), started_at), success = false
             WHERE migration_project_id = j.migration_project_id AND phase = j.phase AND ended_at IS NULL;
            -- the SSE stream ends for its clients: an error, then done
            INSERT INTO public.migration_events (migration_project_id, type, payload)
            VALUES (j.migration_project_id, 'error',
                    jsonb_build_object('reason', 'watchdog_timeout', 'job_id', j.id, 'phase', j.phase)),
                   (j.migration_project_id, 'done', jsonb_build_object('status', 'failed', 'job_id', j.id));
          END LOOP;
          RETURN n;
        END $$;

        CREATE FUNCTION public.migration_refresh_performance_metrics(p_day date DEFAULT current_date - 1)
          RETURNS integer
          LANGUAGE plpgsql
          SET search_path = pg_catalog, public
        AS $$
        DECLARE
          day_start timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
          day_end timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
          written integer;
        BEGIN
          WITH events AS (
            SELECT e.organization_id, e.event_type, e.duration_ms, e.ai_time_seconds
              FROM public.migration_analytics_events e
             WHERE e.created_at >= day_start AND e.created_at < day_end
          ), day_retries AS (
            SELECT count(*) AS retry_count FROM public.migration_retry_reasons
             WHERE created_at >= day_start AND created_at < day_end
          ), per AS (
            -- all migrations (organization NULL), and each organization's
            SELECT CASE WHEN grouping(organization_id) = 1 THEN NULL ELSE organization_id END AS organization_id,
                   grouping(organization_id) = 1 AS everyone,
                   count(*) FILTER (WHERE event_type = 'MIGRATION_STARTED') AS started,
                   count(*) FILTER (WHERE event_type = 'MIGRATION_COMPLETED') AS completed,
                   count(*) FILTER (WHERE event_type = 'MIGRATION_FAILED') AS failed,
                   coalesce(sum(ai_time_seconds), 0) AS ai_time,
                   avg(duration_ms) FILTER (WHERE event_type = 'MIGRATION_COMPLETED') / 1000.0 AS avg_s,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)
                     FILTER (WHERE event_type = 'MIGRATION_COMPLETED') / 1000.0 AS p95_s
              FROM events
             GROUP BY GROUPING SETS ((), (organization_id))
            HAVING grouping(organization_id) = 1 OR organization_id IS NOT NULL
          )
          INSERT INTO public.migration_performance_metrics AS m
                 (granularity, period_start, organization_id, migrations_started, migrations_completed,
                  migrations_failed, retries, ai_time_seconds, avg_duration_seconds, p95_duration_seconds)
          SELECT 'day', day_start, per.organization_id, per.started, per.completed, per.failed,
                 CASE WHEN per.everyone THEN (SELECT retry_count FROM day_retries) ELSE 0 END, per.ai_time, per.avg_s, per.p95_s
            FROM per
          ON CONFLICT (granularity, period_start, coalesce(organization_id, '00000000-0000-0000-0000-000000000000'::uuid))
          DO UPDATE SET migrations_started = excluded.migrations_started, migrations_completed = excluded.migrations_completed,
                        migrations_failed = excluded.migrations_failed, retries = excluded.retries,
                        ai_time_seconds = excluded.ai_time_seconds, avg_duration_seconds = excluded.avg_duration_seconds,
                        p95_duration_seconds = excluded.p95_duration_seconds;
          GET DIAGNOSTICS written = ROW_COUNT;
          RETURN written;
        END $$;

        -- Maintenance is the service's (and pg_cron's, which runs as the scheduling role).
        REVOKE ALL ON FUNCTION public.migration_cleanup_idempotency(interval), public.migration_cleanup_events(interval),
                               public.migration_cleanup_domain_providers(), public.migration_jobs_watchdog(interval),
                               public.migration_refresh_performance_metrics(date)
          FROM PUBLIC;
        DO $$
        BEGIN
          IF to_regrole('anon') IS NOT NULL AND to_regrole('authenticated') IS NOT NULL THEN
            REVOKE ALL ON FUNCTION public.migration_cleanup_idempotency(interval), public.migration_cleanup_events(interval),
                                   public.migration_cleanup_domain_providers(), public.migration_jobs_watchdog(interval),
                                   public.migration_refresh_performance_metrics(date)
              FROM anon, authenticated;
          END IF;
          IF to_regrole('service_role') IS NOT NULL THEN
            GRANT EXECUTE ON FUNCTION public.migration_cleanup_idempotency(interval), public.migration_cleanup_events(interval),
                                      public.migration_cleanup_domain_providers(), public.migration_jobs_watchdog(interval),
                                      public.migration_refresh_performance_metrics(date)
              TO service_role;
          END IF;
        END $$;
      ]]
    end,
    verify = function(db)
      for _, f in ipairs(FUNCTIONS) do check.has_function(db, f) end
    end,
    down = function(db)
      for i = #FUNCTIONS, 1, -1 do db:exec("DROP FUNCTION " .. FUNCTIONS[i]) end
    end,
  },

  phase "schedule" {
    description = "pg_cron present: cron.schedule each maintenance function; absent: nothing, and say what to call",
    up = function(db)
      local calls, message = schedule_plan { pg_cron = has_pg_cron(db) }
      local names = {}
      for _, c in ipairs(calls) do
        db:value("SELECT cron.schedule($1, $2, $3)", c[1], c[2], c[3])
        names[#names + 1] = c[1]
      end
      if #names > 0 then weir.checkpoint("scheduled", names) end
      print(message)
    end,
    verify = function(db)
      local calls = schedule_plan { pg_cron = has_pg_cron(db) }
      for _, c in ipairs(calls) do
        check.sql(db, "SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1 AND schedule = $2 AND command = $3)",
          "pg_cron has no job " .. c[1], c[1], c[2], c[3])
      end
    end,
    down = function(db)
      local names = weir.checkpoint("scheduled")
      if names and has_pg_cron(db) then
        for _, name in ipairs(names) do
          db:value("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = $1", name)
        end
        print("pg_cron: unscheduled " .. table.concat(names, ", "))
      end
    end,
  },
}, { schedule_plan = schedule_plan, schedules = SCHEDULES }
