-- The application's database as it stands BEFORE seed 001: the feature planner's 8 tables and
-- 11 enums live in `public` next to the production tables, three of them referencing
-- public.users.
--
--   weir run --db URL examples/feature-planner-schema/fixture.lua
--
-- Everything is built in one transaction with deterministic data (fixed uuids from md5, fixed
-- timestamps, generate_series — no random()), so two loads of the fixture hold identical rows.
-- The fixture is not idempotent: it refuses to run when any of its objects already exists in
-- `public` or in `feature_planner`, rather than piling a second copy on top of the first.

local TABLES = {
  "feature_plans", "feature_refinements", "file_discovery_sessions", "discovered_files",
  "implementation_plan_generations", "plan_steps", "plan_step_templates", "plan_execution_logs",
}
local ENUMS = {
  "complexity", "confidence_level", "estimated_scope", "execution_step", "file_discovery_status",
  "file_priority", "implementation_plan_status", "plan_status", "refinement_status", "risk_level",
  "technical_complexity",
}

-- Refuse to run twice (or on top of a database that already went through the migration).
local found = {}
for _, schema in ipairs { "public", "feature_planner" } do
  for _, t in ipairs(TABLES) do
    if db:value("SELECT to_regclass($1) IS NOT NULL", schema .. "." .. t) then found[#found + 1] = schema .. "." .. t end
  end
  for _, e in ipairs(ENUMS) do
    if db:value("SELECT to_regtype($1) IS NOT NULL", schema .. "." .. e) then found[#found + 1] = "type " .. schema .. "." .. e end
  end
end
if db:value "SELECT to_regclass('public.users') IS NOT NULL" then found[#found + 1] = "public.users" end
if #found > 0 then
  error(("fixture: refusing to run: %s already exist%s (%s). This fixture builds the feature planner's " ..
    "tables from scratch; load it into an empty database."):format(
      #found == 1 and "an object" or (#found .. " objects"), #found == 1 and "s" or "",
      table.concat(found, ", ", 1, math.min(#found, 6)) .. (#found > 6 and ", …" or "")), 0)
end

db:tx(function()
  -- -------------------------------------------------------------------------------------------
  -- The production side: users. The feature planner references it from three tables.
  db:exec [[
    CREATE TABLE public.users (
      id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      email        text NOT NULL,
      display_name text NOT NULL,
      is_admin     boolean NOT NULL DEFAULT false,
      created_at   timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT users_email_unique UNIQUE (email)
    );
    INSERT INTO public.users (id, email, display_name, is_admin, created_at)
    SELECT md5('user-' || g)::uuid, 'user' || g || '@example.com', 'User ' || g, g <= 2,
           timestamptz '2025-01-01 00:00:00+00' + g * interval '1 day'
      FROM generate_series(1, 40) g;
  ]]

  -- -------------------------------------------------------------------------------------------
  -- The 11 enums, with the labels of the seed's SQL.
  db:exec [[
    CREATE TYPE public.complexity AS ENUM ('low', 'medium', 'high');
    CREATE TYPE public.confidence_level AS ENUM ('high', 'medium', 'low');
    CREATE TYPE public.estimated_scope AS ENUM ('small', 'medium', 'large');
    CREATE TYPE public.execution_step AS ENUM ('refinement', 'discovery', 'planning');
    CREATE TYPE public.file_discovery_status AS ENUM ('pending', 'processing', 'completed', 'failed');
    CREATE TYPE public.file_priority AS ENUM ('critical', 'high', 'medium', 'low');
    CREATE TYPE public.implementation_plan_status AS ENUM ('pending', 'processing', 'completed', 'failed');
    CREATE TYPE public.plan_status AS ENUM ('draft', 'refining', 'discovering', 'planning', 'completed', 'failed', 'cancelled');
    CREATE TYPE public.refinement_status AS ENUM ('pending', 'processing', 'completed', 'failed');
    CREATE TYPE public.risk_level AS ENUM ('low', 'medium', 'high');
    CREATE TYPE public.technical_complexity AS ENUM ('high', 'medium', 'low');
  ]]

  -- -------------------------------------------------------------------------------------------
  -- The 8 tables.
  db:exec [[
    CREATE TABLE public.feature_plans (
      id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id                uuid NOT NULL,
      original_request       text NOT NULL,
      refined_request        text,
      status                 public.plan_status NOT NULL DEFAULT 'draft',
      current_step           integer NOT NULL DEFAULT 0,
      complexity             public.complexity,
      estimated_scope        public.estimated_scope,
      risk_level             public.risk_level,
      selected_refinement_id uuid,
      workflow_metadata      jsonb NOT NULL DEFAULT '{}',
      total_duration_ms      integer,
      created_at             timestamptz NOT NULL DEFAULT now(),
      updated_at             timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT feature_plans_user_id_users_id_fk
        FOREIGN KEY (user_id) REFERENCES public.users (id) ON DELETE CASCADE,
      CONSTRAINT feature_plans_current_step_range CHECK (current_step BETWEEN 0 AND 3),
      CONSTRAINT feature_plans_total_duration_non_negative CHECK (total_duration_ms IS NULL OR total_duration_ms >= 0),
      CONSTRAINT feature_plans_request_not_blank CHECK (length(btrim(original_request)) > 0)
    );
    CREATE INDEX feature_plans_user_id_idx ON public.feature_plans (user_id);
    CREATE INDEX feature_plans_status_idx ON public.feature_plans (status);
    CREATE INDEX feature_plans_created_at_idx ON public.feature_plans (created_at DESC);
    -- partial: the planner's dashboard lists a user's plans that are still in flight
    CREATE INDEX feature_plans_in_flight_idx ON public.feature_plans (user_id, updated_at DESC)
      WHERE status NOT IN ('completed', 'failed', 'cancelled');

    CREATE TABLE public.feature_refinements (
      id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      plan_id              uuid NOT NULL,
      agent_id             text NOT NULL,
      refined_request      text NOT NULL,
      status               public.refinement_status NOT NULL DEFAULT 'pending',
      technical_complexity public.technical_complexity,
      word_count           integer,
      execution_time_ms    integer,
      token_usage          jsonb,
      created_at           timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT feature_refinements_plan_id_feature_plans_id_fk
        FOREIGN KEY (plan_id) REFERENCES public.feature_plans (id) ON DELETE CASCADE,
      CONSTRAINT feature_refinements_plan_agent_unique UNIQUE (plan_id, agent_id),
      CONSTRAINT feature_refinements_word_count_non_negative CHECK (word_count IS NULL OR word_count >= 0)
    );
    CREATE INDEX feature_refinements_plan_id_idx ON public.feature_refinements (plan_id);
    CREATE INDEX feature_refinements_status_idx ON public.feature_refinements (status);

    -- a plan points back at the refinement the user picked: a cycle between the two tables
    ALTER TABLE public.feature_plans
      ADD CONSTRAINT feature_plans_selected_refinement_id_feature_refinements_id_fk
      FOREIGN KEY (selected_refinement_id) REFERENCES public.feature_refinements (id) ON DELETE SET NULL;

    CREATE TABLE public.file_discovery_sessions (
      id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      plan_id             uuid NOT NULL,
      status              public.file_discovery_status NOT NULL DEFAULT 'pending',
      total_files_found   integer NOT NULL DEFAULT 0,
      high_priority_count integer NOT NULL DEFAULT 0,
      discovery_metadata  jsonb,
      execution_time_ms   integer,
      created_at          timestamptz NOT NULL DEFAULT now(),
      completed_at        timestamptz,
      CONSTRAINT file_discovery_sessions_plan_id_feature_plans_id_fk
        FOREIGN KEY (plan_id) REFERENCES public.feature_plans (id) ON DELETE CASCADE,
      CONSTRAINT file_discovery_sessions_counts_non_negative
        CHECK (total_files_found >= 0 AND high_priority_count BETWEEN 0 AND total_files_found),
      CONSTRAINT file_discovery_sessions_completed_after_created
        CHECK (completed_at IS NULL OR completed_at >= created_at)
    );
    CREATE INDEX file_discovery_sessions_plan_id_idx ON public.file_discovery_sessions (plan_id);

    CREATE TABLE public.discovered_files (
      id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      discovery_session_id uuid NOT NULL,
      file_path            text NOT NULL,
      priority             public.file_priority NOT NULL,
      relevance_score      integer NOT NULL,
      role                 text,
      reasoning            text,
      is_manually_added    boolean NOT NULL DEFAULT false,
      added_by_user_id     uuid,
      is_selected          boolean NOT NULL DEFAULT false,
      created_at           timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT discovered_files_discovery_session_id_file_discovery_sessions_id_fk
        FOREIGN KEY (discovery_session_id) REFERENCES public.file_discovery_sessions (id) ON DELETE CASCADE,
      CONSTRAINT discovered_files_added_by_user_id_users_id_fk
        FOREIGN KEY (added_by_user_id) REFERENCES public.users (id),
      CONSTRAINT discovered_files_relevance_score_range CHECK (relevance_score BETWEEN 0 AND 100),
      CONSTRAINT discovered_files_manual_has_user CHECK (NOT is_manually_added OR added_by_user_id IS NOT NULL)
    );
    CREATE UNIQUE INDEX discovered_files_session_path_unique ON public.discovered_files (discovery_session_id, file_path);
    CREATE INDEX discovered_files_priority_idx ON public.discovered_files (priority);
    CREATE INDEX discovered_files_selected_idx ON public.discovered_files (discovery_session_id) WHERE is_selected;

    CREATE TABLE public.implementation_plan_generations (
      id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      plan_id             uuid NOT NULL,
      status              public.implementation_plan_status NOT NULL DEFAULT 'pending',
      complexity          public.complexity,
      risk_level          public.risk_level,
      estimated_duration  text,
      total_steps         integer NOT NULL DEFAULT 0,
      implementation_plan text,
      generation_metadata jsonb,
      created_at          timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT implementation_plan_generations_plan_id_feature_plans_id_fk
        FOREIGN KEY (plan_id) REFERENCES public.feature_plans (id) ON DELETE CASCADE,
      CONSTRAINT implementation_plan_generations_total_steps_non_negative CHECK (total_steps >= 0)
    );
    CREATE INDEX implementation_plan_generations_plan_id_idx ON public.implementation_plan_generations (plan_id);

    CREATE TABLE public.plan_steps (
      id                  serial PRIMARY KEY,
      plan_generation_id  uuid NOT NULL,
      step_number         integer NOT NULL,
      title               text NOT NULL,
      description         text,
      confidence_level    public.confidence_level,
      files_to_modify     jsonb NOT NULL DEFAULT '[]',
      validation_commands text[] NOT NULL DEFAULT '{}',
      CONSTRAINT plan_steps_plan_generation_id_implementation_plan_generations_id_fk
        FOREIGN KEY (plan_generation_id) REFERENCES public.implementation_plan_generations (id) ON DELETE CASCADE,
      CONSTRAINT plan_steps_generation_step_unique UNIQUE (plan_generation_id, step_number),
      CONSTRAINT plan_steps_step_number_positive CHECK (step_number > 0)
    );

    CREATE TABLE public.plan_step_templates (
      id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id          uuid,
      name             text NOT NULL,
      category         text NOT NULL,
      title            text NOT NULL,
      description      text,
      confidence_level public.confidence_level NOT NULL DEFAULT 'medium',
      is_public        boolean NOT NULL DEFAULT false,
      usage_count      integer NOT NULL DEFAULT 0,
      created_at       timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT plan_step_templates_user_id_users_id_fk
        FOREIGN KEY (user_id) REFERENCES public.users (id) ON DELETE CASCADE,
      CONSTRAINT plan_step_templates_usage_count_non_negative CHECK (usage_count >= 0)
    );
    CREATE UNIQUE INDEX plan_step_templates_user_name_unique ON public.plan_step_templates (user_id, name);
    CREATE INDEX plan_step_templates_category_idx ON public.plan_step_templates (category) WHERE is_public;

    CREATE TABLE public.plan_execution_logs (
      id                bigserial PRIMARY KEY,
      plan_id           uuid NOT NULL,
      step              public.execution_step NOT NULL,
      agent_id          text,
      input_tokens      integer,
      output_tokens     integer,
      execution_time_ms integer,
      is_error          boolean NOT NULL DEFAULT false,
      error_message     text,
      metadata          jsonb,
      created_at        timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT plan_execution_logs_plan_id_feature_plans_id_fk
        FOREIGN KEY (plan_id) REFERENCES public.feature_plans (id) ON DELETE CASCADE,
      CONSTRAINT plan_execution_logs_tokens_non_negative CHECK (coalesce(input_tokens, 0) >= 0 AND coalesce(output_tokens, 0) >= 0),
      CONSTRAINT plan_execution_logs_error_has_message CHECK (NOT is_error OR error_message IS NOT NULL)
    );
    CREATE INDEX plan_execution_logs_plan_id_created_at_idx ON public.plan_execution_logs (plan_id, created_at);
    CREATE INDEX plan_execution_logs_step_idx ON public.plan_execution_logs (step);
  ]]

  -- -------------------------------------------------------------------------------------------
  -- Deterministic data. Ids are md5 of a name, times count from a fixed instant; the plan's
  -- number g decides its status, step and which child rows it has.
  db:exec [[
    INSERT INTO public.feature_plans (id, user_id, original_request, status, current_step, complexity,
                                      estimated_scope, risk_level, workflow_metadata, total_duration_ms,
                                      created_at, updated_at)
    SELECT md5('plan-' || g)::uuid,
           md5('user-' || (1 + g % 40))::uuid,
           'Feature request #' || g || ': let collectors ' ||
             (ARRAY['tag', 'share', 'export', 'import', 'rate'])[1 + g % 5] || ' their bobbleheads',
           (ARRAY['draft', 'refining', 'discovering', 'planning', 'completed', 'completed', 'failed', 'cancelled']
             )[1 + g % 8]::public.plan_status,
           (ARRAY[0, 1, 2, 3, 3, 3, 2, 1])[1 + g % 8],
           (ARRAY['low', 'medium', 'high'])[1 + g % 3]::public.complexity,
           (ARRAY['small', 'medium', 'large'])[1 + g % 3]::public.estimated_scope,
           (ARRAY['low', 'medium', 'high'])[1 + (g / 3) % 3]::public.risk_level,
           jsonb_build_object('source', 'fixture', 'seq', g, 'parallel_refinements', 3,
                              'tags', jsonb_build_array('planner', 'g' || g % 4)),
           CASE WHEN g % 8 IN (4, 5) THEN 60000 + g * 137 END,
           timestamptz '2025-10-01 00:00:00+00' + g * interval '37 minutes',
           timestamptz '2025-10-01 00:00:00+00' + g * interval '37 minutes' + (g % 11) * interval '1 minute'
      FROM generate_series(1, 120) g;

    -- three refinements per plan that got past the draft stage
    INSERT INTO public.feature_refinements (id, plan_id, agent_id, refined_request, status, technical_complexity,
                                            word_count, execution_time_ms, token_usage, created_at)
    SELECT md5('refinement-' || g || '-' || a)::uuid, md5('plan-' || g)::uuid, 'refiner-' || a,
           'Refined request #' || g || '/' || a || ': ' || repeat('detail ', 5 + (g + a) % 20),
           CASE WHEN g % 8 = 1 AND a = 3 THEN 'processing' WHEN g % 8 = 6 AND a = 2 THEN 'failed'
                ELSE 'completed' END::public.refinement_status,
           (ARRAY['high', 'medium', 'low'])[1 + (g + a) % 3]::public.technical_complexity,
           100 + (g * 7 + a * 13) % 300,
           1500 + (g * 31 + a * 17) % 9000,
           jsonb_build_object('input', 800 + g % 100, 'output', 300 + a * 10),
           timestamptz '2025-10-01 00:00:00+00' + g * interval '37 minutes' + a * interval '10 seconds'
      FROM generate_series(1, 120) g, generate_series(1, 3) a
     WHERE g % 8 <> 0;

    UPDATE public.feature_plans p
       SET selected_refinement_id = md5('refinement-' || s.g || '-1')::uuid,
           refined_request = 'Refined request #' || s.g || '/1'
      FROM generate_series(1, 120) s(g)
     WHERE p.id = md5('plan-' || s.g)::uuid AND s.g % 8 IN (2, 3, 4, 5);

    -- one discovery session per plan that reached discovery
    INSERT INTO public.file_discovery_sessions (id, plan_id, status, total_files_found, high_priority_count,
                                                discovery_metadata, execution_time_ms, created_at, completed_at)
    SELECT md5('session-' || g)::uuid, md5('plan-' || g)::uuid,
           CASE WHEN g % 8 = 2 THEN 'processing' WHEN g % 8 = 6 THEN 'failed'
                ELSE 'completed' END::public.file_discovery_status,
           5, 2, jsonb_build_object('globs', jsonb_build_array('src/**/*.ts', 'src/**/*.tsx'), 'seq', g),
           4000 + g * 11,
           timestamptz '2025-10-01 02:00:00+00' + g * interval '37 minutes',
           CASE WHEN g % 8 <> 2 THEN timestamptz '2025-10-01 02:00:00+00' + g * interval '37 minutes' + interval '4 seconds' END
      FROM generate_series(1, 120) g
     WHERE g % 8 IN (2, 3, 4, 5, 6);

    -- five files per session; every seventh is one a user added by hand
    INSERT INTO public.discovered_files (discovery_session_id, file_path, priority, relevance_score, role, reasoning,
                                         is_manually_added, added_by_user_id, is_selected, created_at)
    SELECT md5('session-' || g)::uuid,
           'src/lib/' || (ARRAY['queries', 'facades', 'actions', 'components', 'validations'])[f] ||
             '/feature-' || g || '.ts',
           (ARRAY['critical', 'high', 'medium', 'low'])[1 + (g + f) % 4]::public.file_priority,
           (g * 13 + f * 29) % 101,
           (ARRAY['query', 'facade', 'action', 'component', 'schema'])[f],
           'Touches the ' || (ARRAY['queries', 'facades', 'actions', 'components', 'validations'])[f] || ' layer',
           (g * 5 + f) % 7 = 0,
           CASE WHEN (g * 5 + f) % 7 = 0 THEN md5('user-' || (1 + g % 40))::uuid END,
           f <= 3,
           timestamptz '2025-10-01 02:00:00+00' + g * interval '37 minutes' + f * interval '1 second'
      FROM generate_series(1, 120) g, generate_series(1, 5) f
     WHERE g % 8 IN (2, 3, 4, 5, 6)
     ORDER BY g, f;

    -- one or two plan generations per plan that reached planning
    INSERT INTO public.implementation_plan_generations (id, plan_id, status, complexity, risk_level,
                                                        estimated_duration, total_steps, implementation_plan,
                                                        generation_metadata, created_at)
    SELECT md5('generation-' || g || '-' || v)::uuid, md5('plan-' || g)::uuid,
           CASE WHEN g % 8 = 3 AND v = 2 THEN 'processing' WHEN g % 8 = 6 THEN 'failed'
                ELSE 'completed' END::public.implementation_plan_status,
           (ARRAY['low', 'medium', 'high'])[1 + (g + v) % 3]::public.complexity,
           (ARRAY['low', 'medium', 'high'])[1 + g % 3]::public.risk_level,
           (2 + g % 5) || ' hours', 5,
           '## Plan ' || g || '.' || v || E'\n1. Schema\n2. Queries\n3. Actions\n4. UI\n5. Tests',
           jsonb_build_object('model', 'planner-v' || v, 'seq', g),
           timestamptz '2025-10-01 03:00:00+00' + g * interval '37 minutes' + v * interval '1 minute'
      FROM generate_series(1, 120) g, generate_series(1, 2) v
     WHERE g % 8 IN (3, 4, 5, 6) AND (v = 1 OR g % 2 = 1);

    -- five steps per generation
    INSERT INTO public.plan_steps (plan_generation_id, step_number, title, description, confidence_level,
                                   files_to_modify, validation_commands)
    SELECT gen.id, s,
           (ARRAY['Schema', 'Queries', 'Actions', 'UI', 'Tests'])[s] || ' for plan ' || gen.created_at::date,
           'Step ' || s || ' of generation ' || left(gen.id::text, 8),
           (ARRAY['high', 'medium', 'low'])[1 + s % 3]::public.confidence_level,
           jsonb_build_array('src/step-' || s || '.ts'),
           ARRAY['npm run lint', 'npm run typecheck'] || CASE WHEN s = 5 THEN ARRAY['npm test'] ELSE '{}'::text[] END
      FROM public.implementation_plan_generations gen, generate_series(1, 5) s
     ORDER BY gen.created_at, gen.id, s;

    -- templates: 30 private ones owned by users, 6 public ones without an owner
    INSERT INTO public.plan_step_templates (id, user_id, name, category, title, description, confidence_level,
                                            is_public, usage_count, created_at)
    SELECT md5('template-' || g)::uuid,
           CASE WHEN g <= 30 THEN md5('user-' || (1 + g % 40))::uuid END,
           'template-' || g,
           (ARRAY['schema', 'query', 'action', 'ui', 'test', 'docs'])[1 + g % 6],
           'Template ' || g,
           CASE WHEN g % 3 <> 0 THEN 'Reusable step ' || g END,
           (ARRAY['high', 'medium', 'low'])[1 + g % 3]::public.confidence_level,
           g > 30, g * 3,
           timestamptz '2025-09-01 00:00:00+00' + g * interval '1 day'
      FROM generate_series(1, 36) g;

    -- one log row per step a plan went through
    INSERT INTO public.plan_execution_logs (plan_id, step, agent_id, input_tokens, output_tokens, execution_time_ms,
                                            is_error, error_message, metadata, created_at)
    SELECT md5('plan-' || g)::uuid,
           (ARRAY['refinement', 'discovery', 'planning'])[st]::public.execution_step,
           (ARRAY['refiner', 'discoverer', 'planner'])[st] || '-' || (1 + g % 3),
           900 + g * 3 + st, 250 + g + st * 5, 1000 + (g * st * 97) % 20000,
           g % 8 = 6 AND st = 3,
           CASE WHEN g % 8 = 6 AND st = 3 THEN 'planner timed out after 120s' END,
           jsonb_build_object('attempt', 1, 'step', st),
           timestamptz '2025-10-01 00:00:00+00' + g * interval '37 minutes' + st * interval '1 hour'
      FROM generate_series(1, 120) g, generate_series(1, 3) st
     WHERE st <= (ARRAY[0, 1, 2, 3, 3, 3, 3, 1])[1 + g % 8]
     ORDER BY g, st;
  ]]
end)

local counts = {}
for _, t in ipairs(TABLES) do
  counts[#counts + 1] = ("%s %d"):format(t, db:value("SELECT count(*) FROM public." .. t))
end
print("fixture loaded into public: users " .. db:value "SELECT count(*) FROM public.users" .. ", " ..
  table.concat(counts, ", "))
