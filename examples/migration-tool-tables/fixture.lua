-- The application's database as it stands BEFORE seed 004 (the website-migration tool's
-- "migration 091"): what the seed's SQL references but does not create.
--
--   weir run --db URL examples/migration-tool-tables/fixture.lua [without-organizations]
--
--   roles anon, authenticated, service_role
--                           Supabase's API roles, created when the cluster lacks them (roles are
--                           cluster-wide: they are left in place, as Supabase has them).
--                           service_role bypasses RLS, as on Supabase. Schema `public`'s default
--                           privileges grant them its tables, sequences and functions, as
--                           Supabase's do, so the tables the migrations create are granted too
--                           and RLS alone decides what each role sees.
--   auth.users              Supabase-style users (the seed: `initiated_by ... REFERENCES auth.users(id)`)
--   auth.jwt(), auth.uid(), auth.role()
--                           Supabase's accessors for the request's JWT claims (the seed's hardened
--                           service-only policy: `(auth.jwt() ->> 'role') = 'service_role'`)
--   public.organizations    the platform's organizations, unless `without-organizations` is given:
--                           the seed's foreign keys to organizations(id) exist only when it does
--   public.projects         the platform's projects (owner_id, subdomain, config)
--   public.migration_projects
--                           the tool's projects from its "migration 088": status, progress with its
--                           CHECK (progress BETWEEN 0 AND 100), user_id, the nullable
--                           normalized_source_url, and its owner-only RLS policy
--   public.migration_jobs   the tool's job queue from "migration 088": one job per migration phase
--                           (ANALYZE, PLAN, TRANSFORM, VERIFY, DEPLOY) with its status and
--                           completed_at (the seed's phase-level resume skips completed ones)
--
-- Everything is built in one transaction with deterministic rows (uuids from md5, fixed
-- timestamps, generate_series — no random()), so two loads hold identical data. Among the
-- migration projects: the same normalized URL for different users while both are active, and
-- for the same user with only one of them active — both allowed by the dedupe index that
-- migration 003 builds — and rows without a normalized URL.
--
-- Not idempotent: it refuses to run when any of its objects already exists.

local with_organizations = true
for _, a in ipairs(arg or {}) do
  if a == "without-organizations" then
    with_organizations = false
  else
    error(("fixture: unknown argument %q (the one argument it takes: without-organizations)"):format(a), 0)
  end
end

local found = {}
for _, rel in ipairs { "auth.users", "public.organizations", "public.projects", "public.migration_projects",
                       "public.migration_jobs" } do
  if db:value("SELECT to_regclass($1) IS NOT NULL", rel) then found[#found + 1] = rel end
end
for _, fn in ipairs { "auth.jwt()", "auth.uid()", "auth.role()" } do
  if db:value("SELECT to_regprocedure($1) IS NOT NULL", fn) then found[#found + 1] = fn end
end
if #found > 0 then
  error(("fixture: refusing to run: %s already exist%s (%s). Load it into an empty database."):format(
    #found == 1 and "an object" or (#found .. " objects"), #found == 1 and "s" or "",
    table.concat(found, ", ")), 0)
end

db:tx(function()
  -- Supabase's roles. Several databases of one cluster may load the fixture at once: a role
  -- another session is creating meanwhile arrives as 23505 once it commits.
  db:exec [[
    DO $$
    DECLARE r text;
    BEGIN
      FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        BEGIN
          IF r = 'service_role' THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT BYPASSRLS', r);
          ELSE
            EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', r);
          END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
          NULL;  -- the cluster has it already
        END;
      END LOOP;
    END $$;
  ]]
  db:exec [[
    CREATE SCHEMA IF NOT EXISTS auth;

    CREATE TABLE auth.users (
      id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      email      text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT users_email_key UNIQUE (email)
    );

    -- As Supabase defines them: the claims PostgREST puts in request.jwt.claims, as jsonb, and
    -- the user id (`sub`) and role they carry.
    CREATE FUNCTION auth.jwt() RETURNS jsonb
      LANGUAGE sql STABLE
      AS $$ SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $$;
    CREATE FUNCTION auth.uid() RETURNS uuid
      LANGUAGE sql STABLE
      AS $$ SELECT nullif(coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                                  auth.jwt() ->> 'sub'), '')::uuid $$;
    CREATE FUNCTION auth.role() RETURNS text
      LANGUAGE sql STABLE
      AS $$ SELECT coalesce(nullif(current_setting('request.jwt.claim.role', true), ''), auth.jwt() ->> 'role') $$;

    GRANT USAGE ON SCHEMA public, auth TO anon, authenticated, service_role;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA auth TO anon, authenticated, service_role;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO anon, authenticated, service_role;
  ]]
  if with_organizations then
    db:exec [[
      CREATE TABLE public.organizations (
        id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name       text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      INSERT INTO public.organizations (id, name, created_at)
      SELECT md5('org-' || g)::uuid, 'Organization ' || g, timestamptz '2025-05-01 00:00:00+00' + g * interval '1 day'
        FROM generate_series(1, 3) g;
    ]]
  end
  db:exec [[
    CREATE TABLE public.projects (
      id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      owner_id   uuid NOT NULL REFERENCES auth.users (id),
      subdomain  text NOT NULL,
      config     jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT projects_subdomain_key UNIQUE (subdomain)
    );
    CREATE INDEX projects_owner_id_idx ON public.projects (owner_id);

    CREATE TABLE public.migration_projects (
      id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id               uuid NOT NULL REFERENCES auth.users (id),
      source_url            text NOT NULL,
      normalized_source_url text,
      status                text NOT NULL DEFAULT 'analyzing',
      progress              integer NOT NULL DEFAULT 0,
      created_at            timestamptz NOT NULL DEFAULT now(),
      updated_at            timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT migration_projects_status_check
        CHECK (status IN ('analyzing', 'questionnaire', 'processing', 'completed', 'failed', 'cancelled')),
      CONSTRAINT migration_projects_progress_check CHECK (progress BETWEEN 0 AND 100)
    );
    CREATE INDEX migration_projects_user_id_idx ON public.migration_projects (user_id);

    ALTER TABLE public.migration_projects ENABLE ROW LEVEL SECURITY;
    CREATE POLICY migration_projects_owner_access ON public.migration_projects
      FOR ALL USING (user_id = nullif(current_setting('app.current_user_id', true), '')::uuid);

    INSERT INTO auth.users (id, email, created_at)
    SELECT md5('user-' || g)::uuid, 'user' || g || '@example.com',
           timestamptz '2025-06-01 00:00:00+00' + g * interval '1 day'
      FROM generate_series(1, 6) g;

    INSERT INTO public.projects (id, owner_id, subdomain, config, created_at)
    SELECT md5('project-' || g)::uuid, md5('user-' || (1 + g % 6))::uuid, 'site-' || g,
           jsonb_build_object('framework', 'next', 'version', 14),
           timestamptz '2025-07-01 00:00:00+00' + g * interval '1 day'
      FROM generate_series(1, 8) g;

    -- 30 migration projects over 6 users and 10 sites, statuses cycling; every fifth has no
    -- normalized URL yet (the seed leaves its SET NOT NULL for after a backfill).
    INSERT INTO public.migration_projects (id, user_id, source_url, normalized_source_url, status, progress,
                                           created_at, updated_at)
    SELECT md5('mp-' || g)::uuid,
           md5('user-' || (1 + g % 6))::uuid,
           'https://www.site' || (g % 10) || '.example.com/?ref=' || g,
           CASE WHEN g % 5 <> 0 THEN 'site' || (g % 10) || '.example.com' END,
           (ARRAY['analyzing', 'questionnaire', 'processing', 'completed', 'failed', 'cancelled'])[1 + (g / 6) % 6],
           CASE (g / 6) % 6 WHEN 3 THEN 100 WHEN 0 THEN 0 ELSE 10 * (g % 10) END,
           timestamptz '2025-08-01 00:00:00+00' + g * interval '3 hours',
           timestamptz '2025-08-01 00:00:00+00' + g * interval '3 hours' + interval '20 minutes'
      FROM generate_series(1, 30) g;

    -- Two earlier attempts of active ones (same user, same normalized URL), since finished.
    INSERT INTO public.migration_projects (id, user_id, source_url, normalized_source_url, status, progress,
                                           created_at, updated_at)
    SELECT md5('mp-old-' || g)::uuid, p.user_id, p.source_url, p.normalized_source_url,
           CASE WHEN g = 1 THEN 'completed' ELSE 'failed' END, CASE WHEN g = 1 THEN 100 ELSE 40 END,
           p.created_at - interval '2 days', p.created_at - interval '1 day'
      FROM generate_series(1, 2) g
      JOIN public.migration_projects p ON p.id = md5('mp-' || g)::uuid;

    CREATE TABLE public.migration_jobs (
      id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      migration_project_id uuid NOT NULL REFERENCES public.migration_projects (id),
      phase                text NOT NULL
        CONSTRAINT migration_jobs_phase_check CHECK (phase IN ('ANALYZE', 'PLAN', 'TRANSFORM', 'VERIFY', 'DEPLOY')),
      status               text NOT NULL DEFAULT 'queued'
        CONSTRAINT migration_jobs_status_check CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
      payload              jsonb NOT NULL DEFAULT '{}',
      result_meta          jsonb,
      created_at           timestamptz NOT NULL DEFAULT now(),
      updated_at           timestamptz NOT NULL DEFAULT now(),
      completed_at         timestamptz,
      CONSTRAINT migration_jobs_completed_check CHECK ((status = 'completed') = (completed_at IS NOT NULL))
    );
    CREATE INDEX migration_jobs_project_idx ON public.migration_jobs (migration_project_id, created_at);
    CREATE INDEX migration_jobs_queued_idx ON public.migration_jobs (created_at) WHERE status = 'queued';
    ALTER TABLE public.migration_jobs ENABLE ROW LEVEL SECURITY;
    CREATE POLICY migration_jobs_owner_access ON public.migration_jobs
      FOR ALL USING (EXISTS (SELECT 1 FROM public.migration_projects mp
                              WHERE mp.id = migration_jobs.migration_project_id
                                AND mp.user_id = nullif(current_setting('app.current_user_id', true), '')::uuid));

    -- One job per phase reached, by the project's status: analyzing → ANALYZE running;
    -- questionnaire → ANALYZE done; processing → ANALYZE, PLAN done, TRANSFORM running;
    -- completed → all five done; failed → ANALYZE done, PLAN failed; cancelled → ANALYZE cancelled.
    INSERT INTO public.migration_jobs (id, migration_project_id, phase, status, created_at, updated_at, completed_at)
    SELECT md5('job-' || p.id || '-' || j.phase)::uuid, p.id, j.phase, j.status,
           p.created_at + j.n * interval '5 minutes', p.created_at + j.n * interval '5 minutes' + interval '2 minutes',
           CASE WHEN j.status = 'completed' THEN p.created_at + j.n * interval '5 minutes' + interval '2 minutes' END
      FROM public.migration_projects p
      JOIN (VALUES ('analyzing', 1, 'ANALYZE', 'running'),
                   ('questionnaire', 1, 'ANALYZE', 'completed'),
                   ('processing', 1, 'ANALYZE', 'completed'), ('processing', 2, 'PLAN', 'completed'),
                   ('processing', 3, 'TRANSFORM', 'running'),
                   ('completed', 1, 'ANALYZE', 'completed'), ('completed', 2, 'PLAN', 'completed'),
                   ('completed', 3, 'TRANSFORM', 'completed'), ('completed', 4, 'VERIFY', 'completed'),
                   ('completed', 5, 'DEPLOY', 'completed'),
                   ('failed', 1, 'ANALYZE', 'completed'), ('failed', 2, 'PLAN', 'failed'),
                   ('cancelled', 1, 'ANALYZE', 'cancelled')) AS j (project_status, n, phase, status)
        ON j.project_status = p.status
     WHERE p.id <> ALL (SELECT md5('mp-old-' || g)::uuid FROM generate_series(1, 2) g);
  ]]
end)

print(("fixture loaded: auth.users %d, %s, projects %d, migration_projects %d (%d active), migration_jobs %d"):format(
  db:value "SELECT count(*) FROM auth.users",
  with_organizations and ("organizations " .. db:value "SELECT count(*) FROM public.organizations") or "no organizations table",
  db:value "SELECT count(*) FROM public.projects",
  db:value "SELECT count(*) FROM public.migration_projects",
  db:value "SELECT count(*) FROM public.migration_projects WHERE status IN ('analyzing', 'questionnaire', 'processing')",
  db:value "SELECT count(*) FROM public.migration_jobs"))
