-- Seed 004, part 4: the job system's hygiene from the seed's expert review ("Critical Fixes
-- Applied" 2 and 3) and its retry taxonomy: attempts, last_error and last_attempt_at on the
-- existing migration_jobs, the dead-letter queue migration_job_dlq, migration_tracking_context
-- (the AI-time tracking id's context, stored so that nobody parses the id: "UUIDs contain
-- hyphens"), and migration_retry_reasons (CHECK on reason_type). Then the functions that make
-- them one mechanism, callable from SQL by the worker (the service role):
--
--   migration_job_claim([phase][, now])  the oldest due queued job, FOR UPDATE SKIP LOCKED, now
--                                        running; a retried job is due 2^attempts seconds after
--                                        its last attempt ("2^n backoff")
--   migration_job_fail(job, error[, reason][, max_attempts])
--                                        records the attempt (attempts, last_error,
--                                        last_attempt_at, a migration_retry_reasons row); below
--                                        max_attempts (default 3, the seed's "MAX 3/tool_timeout")
--                                        the job is queued again, else moved to the DLQ whole
--   migration_job_requeue(dlq_id)        puts a dead-lettered job back, attempts at 0
--   migration_job_resume(project)        phase-level resume: the project's active job, else a new
--                                        queued job for the first phase (ANALYZE, PLAN, TRANSFORM,
--                                        VERIFY, DEPLOY) that has no completed job; completed
--                                        phases are skipped, and calling it twice creates one job
--
-- Phases:
--   columns    ADD COLUMN ×3 on migration_jobs and its CHECK NOT VALID: catalog only (a brief
--              ACCESS EXCLUSIVE lock, no rewrite, no scan)
--   validate   VALIDATE CONSTRAINT: a scan under SHARE UPDATE EXCLUSIVE (reads and writes go on)
--   tables     the three new tables with their CHECKs, indexes, RLS and policies
--   functions  the four functions, executable by service_role only
--
-- Choices the seed leaves open, and why:
--   * attempts is NOT NULL DEFAULT 0 with CHECK (attempts >= 0): a NULL count would slip past
--     both the CHECK and `attempts + 1`.
--   * A dead-lettered job is moved: its row leaves migration_jobs (so no worker claims it) and
--     the DLQ keeps the whole row as jsonb with the reason and the last error. A partial unique
--     index lets a job be in the DLQ once at a time; requeued entries stay as history.
--   * migration_retry_reasons.job_id has no foreign key: the job it names may have moved to the
--     DLQ. Its reason_type takes the seed's RetryOptions.retryReason values.
--   * migration_tracking_context allows one open session per (migration, phase) (a partial
--     unique index): two overlapping starts of the same phase cannot both bill (the seed's
--     "Start multiple overlapping phases → verify no double charge").
--   * RLS: the DLQ is the service's alone (the expert review's service-only policy); retry
--     reasons and tracking contexts are readable by the migration's owner and written by the
--     service.

local PHASES_SQL = "('ANALYZE', 'PLAN', 'TRANSFORM', 'VERIFY', 'DEPLOY')"
local REASONS_SQL = "('tool_timeout', 'ownership_failed', 'budget_exceeded', 'builder_incompatibility', 'deployment_error')"

-- What verify expects of each new table (beyond its existence): validated constraints, valid
-- indexes, policies; RLS on.
local TABLES = {
  ["public.migration_job_dlq"] = {
    constraints = { "migration_job_dlq_pkey", "migration_job_dlq_migration_project_id_fkey", "migration_job_dlq_phase_check",
      "migration_job_dlq_attempts_check", "migration_job_dlq_reason_type_check" },
    indexes = { "idx_migration_job_dlq_project", "idx_migration_job_dlq_open_job" },
    policies = { "migration_job_dlq_service_access" },
  },
  ["public.migration_tracking_context"] = {
    constraints = { "migration_tracking_context_pkey", "migration_tracking_context_migration_project_id_fkey",
      "migration_tracking_context_user_id_fkey", "migration_tracking_context_phase_check",
      "migration_tracking_context_consumed_check", "migration_tracking_context_ended_check" },
    indexes = { "idx_migration_tracking_context_open", "idx_migration_tracking_context_project" },
    policies = { "migration_tracking_context_owner_read", "migration_tracking_context_service_access" },
  },
  ["public.migration_retry_reasons"] = {
    constraints = { "migration_retry_reasons_pkey", "migration_retry_reasons_migration_project_id_fkey",
      "migration_retry_reasons_reason_type_check", "migration_retry_reasons_phase_check", "migration_retry_reasons_attempt_check" },
    indexes = { "idx_migration_retry_reasons_type_created", "idx_migration_retry_reasons_project" },
    policies = { "migration_retry_reasons_owner_read", "migration_retry_reasons_service_access" },
  },
}
local TABLE_ORDER = { "public.migration_job_dlq", "public.migration_tracking_context", "public.migration_retry_reasons" }

local FUNCTIONS = {
  "public.migration_job_claim(text, timestamp with time zone)",
  "public.migration_job_fail(uuid, text, text, integer)",
  "public.migration_job_requeue(uuid)",
  "public.migration_job_resume(uuid)",
}

return migration "004_migration_job_hygiene" {
  description = "seed 004: migration_jobs attempts/last_error/last_attempt_at, the DLQ, tracking context, retry reasons, and the retry/DLQ/resume functions",

  phase "columns" {
    description = "migration_jobs: attempts, last_error, last_attempt_at and CHECK (attempts >= 0) NOT VALID (catalog only)",
    up = function(db)
      db:exec [[
        ALTER TABLE public.migration_jobs
          ADD COLUMN attempts integer NOT NULL DEFAULT 0,
          ADD COLUMN last_error text,
          ADD COLUMN last_attempt_at timestamptz,
          ADD CONSTRAINT migration_jobs_attempts_check CHECK (attempts >= 0) NOT VALID
      ]]
    end,
    verify = function(db)
      check.has_column(db, "public.migration_jobs", "attempts", "integer")
      check.col_not_null(db, "public.migration_jobs", "attempts")
      check.has_column(db, "public.migration_jobs", "last_error", "text")
      check.has_column(db, "public.migration_jobs", "last_attempt_at", "timestamptz")
      check.sql(db, [[SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.migration_jobs'::regclass
                                      AND conname = 'migration_jobs_attempts_check')]], "no constraint migration_jobs_attempts_check")
    end,
    down = function(db)
      db:exec [[
        ALTER TABLE public.migration_jobs
          DROP CONSTRAINT migration_jobs_attempts_check,
          DROP COLUMN last_attempt_at,
          DROP COLUMN last_error,
          DROP COLUMN attempts
      ]]
    end,
  },

  phase "validate" {
    description = "VALIDATE migration_jobs_attempts_check (a scan that lets reads and writes go on)",
    requires = { "columns" },
    up = function(db)
      db:exec "ALTER TABLE public.migration_jobs VALIDATE CONSTRAINT migration_jobs_attempts_check"
    end,
    verify = function(db)
      check.has_constraint(db, "public.migration_jobs", "migration_jobs_attempts_check")
    end,
    -- back to NOT VALID, as `columns` left it (drop and add again: catalog only)
    down = function(db)
      db:exec [[
        ALTER TABLE public.migration_jobs
          DROP CONSTRAINT migration_jobs_attempts_check,
          ADD CONSTRAINT migration_jobs_attempts_check CHECK (attempts >= 0) NOT VALID
      ]]
    end,
  },

  phase "tables" {
    description = "migration_job_dlq, migration_tracking_context, migration_retry_reasons with CHECKs, indexes, RLS and policies",
    up = function(db)
      db:exec(([[
        CREATE TABLE public.migration_job_dlq (
          id                   uuid CONSTRAINT migration_job_dlq_pkey PRIMARY KEY DEFAULT gen_random_uuid(),
          job_id               uuid NOT NULL,  -- the job's id in migration_jobs, which it left
          migration_project_id uuid NOT NULL
            CONSTRAINT migration_job_dlq_migration_project_id_fkey REFERENCES public.migration_projects (id),
          phase                text NOT NULL CONSTRAINT migration_job_dlq_phase_check CHECK (phase IN %s),
          attempts             integer NOT NULL CONSTRAINT migration_job_dlq_attempts_check CHECK (attempts > 0),
          reason_type          text NOT NULL CONSTRAINT migration_job_dlq_reason_type_check CHECK (reason_type IN %s),
          last_error           text,
          job                  jsonb NOT NULL,  -- the migration_jobs row as it was
          dead_lettered_at     timestamptz NOT NULL DEFAULT now(),
          requeued_at          timestamptz
        );
        CREATE INDEX idx_migration_job_dlq_project ON public.migration_job_dlq (migration_project_id, dead_lettered_at DESC);
        -- a job is dead-lettered once at a time; requeued entries stay as its history
        CREATE UNIQUE INDEX idx_migration_job_dlq_open_job ON public.migration_job_dlq (job_id) WHERE requeued_at IS NULL;

        CREATE TABLE public.migration_tracking_context (
          tracking_id          text CONSTRAINT migration_tracking_context_pkey PRIMARY KEY,  -- e.g. migration-<uuid>-ANALYZE: looked up, never parsed
          migration_project_id uuid NOT NULL
            CONSTRAINT migration_tracking_context_migration_project_id_fkey REFERENCES public.migration_projects (id),
          phase                text NOT NULL CONSTRAINT migration_tracking_context_phase_check CHECK (phase IN %s),
          user_id              uuid NOT NULL
            CONSTRAINT migration_tracking_context_user_id_fkey REFERENCES auth.users (id),
          operation_type       text NOT NULL DEFAULT 'website_migration',
          started_at           timestamptz NOT NULL DEFAULT now(),
          ended_at             timestamptz,
          success              boolean,
          consumed_seconds     integer CONSTRAINT migration_tracking_context_consumed_check CHECK (consumed_seconds >= 0),
          -- a closed session has its outcome, an open one none; it cannot end before it started
          CONSTRAINT migration_tracking_context_ended_check
            CHECK ((ended_at IS NULL) = (success IS NULL) AND (ended_at IS NULL OR ended_at >= started_at))
        );
        -- one open session per migration phase: overlapping starts of a phase cannot both bill
        CREATE UNIQUE INDEX idx_migration_tracking_context_open
          ON public.migration_tracking_context (migration_project_id, phase) WHERE ended_at IS NULL;
        CREATE INDEX idx_migration_tracking_context_project
          ON public.migration_tracking_context (migration_project_id, started_at);

        CREATE TABLE public.migration_retry_reasons (
          id                   bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT migration_retry_reasons_pkey PRIMARY KEY,
          migration_project_id uuid NOT NULL
            CONSTRAINT migration_retry_reasons_migration_project_id_fkey REFERENCES public.migration_projects (id),
          job_id               uuid,  -- no foreign key: the job may be in the DLQ by now
          phase                text CONSTRAINT migration_retry_reasons_phase_check CHECK (phase IN %s),
          reason_type          text NOT NULL CONSTRAINT migration_retry_reasons_reason_type_check CHECK (reason_type IN %s),
          attempt              integer NOT NULL CONSTRAINT migration_retry_reasons_attempt_check CHECK (attempt > 0),
          error                text,
          details              jsonb NOT NULL DEFAULT '{}',
          created_at           timestamptz NOT NULL DEFAULT now()
        );
        -- retry patterns: by reason over time, and a migration's own history
        CREATE INDEX idx_migration_retry_reasons_type_created ON public.migration_retry_reasons (reason_type, created_at);
        CREATE INDEX idx_migration_retry_reasons_project ON public.migration_retry_reasons (migration_project_id, created_at DESC);

        ALTER TABLE public.migration_job_dlq ENABLE ROW LEVEL SECURITY;
        ALTER TABLE public.migration_tracking_context ENABLE ROW LEVEL SECURITY;
        ALTER TABLE public.migration_retry_reasons ENABLE ROW LEVEL SECURITY;

        CREATE POLICY migration_job_dlq_service_access ON public.migration_job_dlq
          FOR ALL USING ((auth.jwt() ->> 'role') = 'service_role');

        CREATE POLICY migration_tracking_context_owner_read ON public.migration_tracking_context
          FOR SELECT USING (user_id = nullif(current_setting('app.current_user_id', true), '')::uuid);
        CREATE POLICY migration_tracking_context_service_access ON public.migration_tracking_context
          FOR ALL USING ((auth.jwt() ->> 'role') = 'service_role');

        CREATE POLICY migration_retry_reasons_owner_read ON public.migration_retry_reasons
          FOR SELECT USING (
            EXISTS (SELECT 1 FROM public.migration_projects mp
                     WHERE mp.id = migration_retry_reasons.migration_project_id
                       AND mp.user_id = nullif(current_setting('app.current_user_id', true), '')::uuid));
        CREATE POLICY migration_retry_reasons_service_access ON public.migration_retry_reasons
          FOR ALL USING ((auth.jwt() ->> 'role') = 'service_role');
      ]]):format(PHASES_SQL, REASONS_SQL, PHASES_SQL, PHASES_SQL, REASONS_SQL))
    end,
    verify = function(db)
      for _, name in ipairs(TABLE_ORDER) do
        local t = TABLES[name]
        check.has_table(db, name)
        check.rls_enabled(db, name)
        for _, c in ipairs(t.constraints) do check.has_constraint(db, name, c) end
        for _, i in ipairs(t.indexes) do check.has_index(db, name, i) end
        for _, p in ipairs(t.policies) do check.has_policy(db, name, p) end
      end
    end,
    down = function(db)
      local counts = {}
      for i = #TABLE_ORDER, 1, -1 do
        local name = TABLE_ORDER[i]
        counts[#counts + 1] = ("%s (%d rows)"):format(name:gsub("^public%.", ""), db:value("SELECT count(*) FROM " .. name))
        db:exec("DROP TABLE " .. name)
      end
      print("dropped " .. table.concat(counts, ", "))
    end,
  },

  phase "functions" {
    description = "migration_job_claim, migration_job_fail (2^n backoff, DLQ after max attempts), migration_job_requeue, migration_job_resume",
    up = function(db)
      db:exec [[
        -- The oldest due job, claimed: queued, of `p_phase` if given, and past its backoff (a job
        -- that failed n times is due 2^n seconds after its last attempt). p_now is the clock to
        -- compare with (now() unless given). NULL when none is due.
        CREATE FUNCTION public.migration_job_claim(p_phase text DEFAULT NULL, p_now timestamptz DEFAULT now())
          RETURNS public.migration_jobs
          LANGUAGE plpgsql
          SET search_path = pg_catalog, public
        AS $$
        DECLARE
          j public.migration_jobs;
        BEGIN
          SELECT * INTO j FROM public.migration_jobs
           WHERE status = 'queued' AND (p_phase IS NULL OR phase = p_phase)
             AND (last_attempt_at IS NULL OR last_attempt_at + make_interval(secs => 2 ^ attempts) <= p_now)
           ORDER BY created_at, id
           LIMIT 1
             FOR UPDATE SKIP LOCKED;
          IF NOT FOUND THEN RETURN NULL; END IF;
          UPDATE public.migration_jobs SET status = 'running' WHERE id = j.id RETURNING * INTO j;
          RETURN j;
        END $$;

        -- A failed attempt of a queued or running job: attempts + 1, last_error, last_attempt_at,
        -- and a migration_retry_reasons row. Below p_max_attempts the job is queued again and
        -- retry_at says when it is due; at p_max_attempts it moves to migration_job_dlq.
        CREATE FUNCTION public.migration_job_fail(p_job_id uuid, p_error text, p_reason text DEFAULT 'tool_timeout',
                                                  p_max_attempts integer DEFAULT 3,
                                                  OUT outcome text, OUT attempts integer, OUT retry_at timestamptz)
          LANGUAGE plpgsql
          SET search_path = pg_catalog, public
        AS $$
        DECLARE
          j public.migration_jobs;
        BEGIN
          IF p_max_attempts IS NULL OR p_max_attempts < 1 THEN
            RAISE EXCEPTION 'migration_job_fail: max attempts must be 1 or more, got %', p_max_attempts
              USING ERRCODE = 'invalid_parameter_value';
          END IF;
          UPDATE public.migration_jobs AS mj
             SET attempts = mj.attempts + 1, last_error = p_error, last_attempt_at = now(), status = 'failed'
           WHERE mj.id = p_job_id AND mj.status IN ('queued', 'running')
          RETURNING * INTO j;
          IF NOT FOUND THEN
            RAISE EXCEPTION 'migration_job_fail: no queued or running job %', p_job_id USING ERRCODE = 'no_data_found';
          END IF;
          INSERT INTO public.migration_retry_reasons (migration_project_id, job_id, phase, reason_type, attempt, error)
          VALUES (j.migration_project_id, j.id, j.phase, p_reason, j.attempts, p_error);
          attempts := j.attempts;
          IF j.attempts >= p_max_attempts THEN
            INSERT INTO public.migration_job_dlq (job_id, migration_project_id, phase, attempts, reason_type, last_error, job)
            VALUES (j.id, j.migration_project_id, j.phase, j.attempts, p_reason, p_error, to_jsonb(j));
            DELETE FROM public.migration_jobs WHERE id = j.id;
            outcome := 'dead_lettered';
          ELSE
            UPDATE public.migration_jobs SET status = 'queued' WHERE id = j.id;
            outcome := 'retry';
            retry_at := j.last_attempt_at + make_interval(secs => 2 ^ j.attempts);
          END IF;
        END $$;

        -- Puts a dead-lettered job back in the queue, as it was but with attempts at 0; the DLQ
        -- entry is kept, marked requeued. Returns the job's id.
        CREATE FUNCTION public.migration_job_requeue(p_dlq_id uuid)
          RETURNS uuid
          LANGUAGE plpgsql
          SET search_path = pg_catalog, public
        AS $$
        DECLARE
          d public.migration_job_dlq;
        BEGIN
          UPDATE public.migration_job_dlq SET requeued_at = now()
           WHERE id = p_dlq_id AND requeued_at IS NULL
          RETURNING * INTO d;
          IF NOT FOUND THEN
            RAISE EXCEPTION 'migration_job_requeue: no dead-lettered job %', p_dlq_id USING ERRCODE = 'no_data_found';
          END IF;
          INSERT INTO public.migration_jobs
          SELECT (jsonb_populate_record(NULL::public.migration_jobs,
                    d.job || jsonb_build_object('status', 'queued', 'attempts', 0, 'completed_at', NULL))).*;
          RETURN d.job_id;
        END $$;

        -- Phase-level resume: the project's queued or running job if it has one; else a new
        -- queued job for the first phase without a completed job (completed phases are skipped);
        -- NULL when every phase is completed. The project's row is locked, so two resumes at
        -- once make one job.
        CREATE FUNCTION public.migration_job_resume(p_project uuid)
          RETURNS public.migration_jobs
          LANGUAGE plpgsql
          SET search_path = pg_catalog, public
        AS $$
        DECLARE
          j public.migration_jobs;
          next_phase text;
        BEGIN
          PERFORM 1 FROM public.migration_projects WHERE id = p_project FOR UPDATE;
          IF NOT FOUND THEN
            RAISE EXCEPTION 'migration_job_resume: no migration project %', p_project USING ERRCODE = 'no_data_found';
          END IF;
          SELECT * INTO j FROM public.migration_jobs
           WHERE migration_project_id = p_project AND status IN ('queued', 'running')
           ORDER BY created_at LIMIT 1;
          IF FOUND THEN RETURN j; END IF;
          SELECT p.phase INTO next_phase
            FROM unnest(ARRAY['ANALYZE', 'PLAN', 'TRANSFORM', 'VERIFY', 'DEPLOY']) WITH ORDINALITY AS p (phase, n)
           WHERE NOT EXISTS (SELECT 1 FROM public.migration_jobs mj
                              WHERE mj.migration_project_id = p_project AND mj.phase = p.phase AND mj.status = 'completed')
           ORDER BY p.n LIMIT 1;
          IF next_phase IS NULL THEN RETURN NULL; END IF;
          INSERT INTO public.migration_jobs (migration_project_id, phase) VALUES (p_project, next_phase)
          RETURNING * INTO j;
          RETURN j;
        END $$;

        -- The worker's functions: the service's alone.
        REVOKE ALL ON FUNCTION public.migration_job_claim(text, timestamptz), public.migration_job_fail(uuid, text, text, integer),
                               public.migration_job_requeue(uuid), public.migration_job_resume(uuid)
          FROM PUBLIC;
        DO $$
        BEGIN
          IF to_regrole('anon') IS NOT NULL AND to_regrole('authenticated') IS NOT NULL THEN
            REVOKE ALL ON FUNCTION public.migration_job_claim(text, timestamptz), public.migration_job_fail(uuid, text, text, integer),
                                   public.migration_job_requeue(uuid), public.migration_job_resume(uuid)
              FROM anon, authenticated;
          END IF;
          IF to_regrole('service_role') IS NOT NULL THEN
            GRANT EXECUTE ON FUNCTION public.migration_job_claim(text, timestamptz), public.migration_job_fail(uuid, text, text, integer),
                                      public.migration_job_requeue(uuid), public.migration_job_resume(uuid)
              TO service_role;
          END IF;
        END $$;
      ]]
    end,
    verify = function(db)
      for _, f in ipairs(FUNCTIONS) do check.has_function(db, f) end
      check.sql(db, [[SELECT NOT has_function_privilege('public', 'public.migration_job_fail(uuid, text, text, integer)', 'EXECUTE')]],
        "migration_job_fail is executable by PUBLIC")
    end,
    down = function(db)
      db:exec [[
        DROP FUNCTION public.migration_job_resume(uuid);
        DROP FUNCTION public.migration_job_requeue(uuid);
        DROP FUNCTION public.migration_job_fail(uuid, text, text, integer);
        DROP FUNCTION public.migration_job_claim(text, timestamptz);
      ]]
    end,
  },
}
