-- The application's database as it stands BEFORE seed 004 (the website-migration tool's
-- "migration 091"): what the seed's SQL references but does not create.
--
--   weir run --db URL examples/migration-tool-tables/fixture.lua
--
--   auth.users              Supabase-style users (the seed: `initiated_by ... REFERENCES auth.users(id)`)
--   auth.jwt()              Supabase's accessor for the request's JWT claims (the seed's hardened
--                           service-only policy: `(auth.jwt() ->> 'role') = 'service_role'`)
--   public.projects         the platform's projects (owner_id, subdomain, config)
--   public.migration_projects
--                           the tool's projects from its "migration 088": status, progress with its
--                           CHECK (progress BETWEEN 0 AND 100), user_id, the nullable
--                           normalized_source_url, and its owner-only RLS policy
--
-- Everything is built in one transaction with deterministic rows (uuids from md5, fixed
-- timestamps, generate_series — no random()), so two loads hold identical data. Among the
-- migration projects: the same normalized URL for different users while both are active, and
-- for the same user with only one of them active — both allowed by the dedupe index that
-- migration 003 builds — and rows without a normalized URL.
--
-- Not idempotent: it refuses to run when any of its objects already exists.

local found = {}
for _, rel in ipairs { "auth.users", "public.projects", "public.migration_projects" } do
  if db:value("SELECT to_regclass($1) IS NOT NULL", rel) then found[#found + 1] = rel end
end
if db:value "SELECT to_regprocedure('auth.jwt()') IS NOT NULL" then found[#found + 1] = "auth.jwt()" end
if #found > 0 then
  error(("fixture: refusing to run: %s already exist%s (%s). Load it into an empty database."):format(
    #found == 1 and "an object" or (#found .. " objects"), #found == 1 and "s" or "",
    table.concat(found, ", ")), 0)
end

db:tx(function()
  db:exec [[
    CREATE SCHEMA IF NOT EXISTS auth;

    CREATE TABLE auth.users (
      id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      email      text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT users_email_key UNIQUE (email)
    );

    -- As Supabase defines it: the claims PostgREST puts in request.jwt.claims, as jsonb.
    CREATE FUNCTION auth.jwt() RETURNS jsonb
      LANGUAGE sql STABLE
      AS $$ SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $$;

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
  ]]
end)

print(("fixture loaded: auth.users %d, projects %d, migration_projects %d (%d active)"):format(
  db:value "SELECT count(*) FROM auth.users", db:value "SELECT count(*) FROM public.projects",
  db:value "SELECT count(*) FROM public.migration_projects",
  db:value "SELECT count(*) FROM public.migration_projects WHERE status IN ('analyzing', 'questionnaire', 'processing')"))
