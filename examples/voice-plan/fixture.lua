-- The application's database as it stands BEFORE seed 000 (FOCO voice → plan): the existing
-- projects / milestones / tasks tables, milestones still with their `deadline` column, and a
-- legacy single dependency per task (`tasks.blocked_by`).
--
--   weir run --db URL examples/voice-plan/fixture.lua
--
-- Deterministic: uuids from md5, fixed timestamps, generate_series, no random(), so two loads
-- hold identical rows: 6 projects, 18 milestones (one per project without a deadline), 72 tasks
-- (36 of them blocked by the task before them). It refuses to run when any table it creates,
-- or one the migration creates, already exists.

local MINE = { "projects", "milestones", "tasks" }
local MIGRATION = { "plan_sessions", "voice_intents", "ai_suggestions", "task_dependencies" }

local found = {}
for _, t in ipairs(MINE) do
  if db:value("SELECT to_regclass($1) IS NOT NULL", "public." .. t) then found[#found + 1] = "public." .. t end
end
for _, t in ipairs(MIGRATION) do
  if db:value("SELECT to_regclass($1) IS NOT NULL", "public." .. t) then found[#found + 1] = "public." .. t end
end
if #found > 0 then
  error(("fixture: refusing to run: %s already exist%s (%s); load it into an empty database"):format(
    #found == 1 and "a table" or (#found .. " tables"), #found == 1 and "s" or "", table.concat(found, ", ")), 0)
end

db:tx(function()
  db:exec [[
    CREATE TABLE public.projects (
      id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL,
      name            text NOT NULL,
      description     text,
      priority        text NOT NULL DEFAULT 'medium',
      created_by      uuid,
      created_at      timestamptz NOT NULL DEFAULT now(),
      updated_at      timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE public.milestones (
      id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      project_id          uuid NOT NULL REFERENCES public.projects (id) ON DELETE CASCADE,
      name                text NOT NULL,
      description         text,
      deadline            timestamptz,
      status              text NOT NULL DEFAULT 'planned',
      priority            text NOT NULL DEFAULT 'medium',
      progress_percentage integer NOT NULL DEFAULT 0,
      created_by          uuid,
      created_at          timestamptz NOT NULL DEFAULT now(),
      updated_at          timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX milestones_project_id_idx ON public.milestones (project_id);

    CREATE TABLE public.tasks (
      id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      project_id      uuid NOT NULL REFERENCES public.projects (id) ON DELETE CASCADE,
      milestone_id    uuid REFERENCES public.milestones (id) ON DELETE SET NULL,
      title           text NOT NULL,
      description     text,
      status          text NOT NULL DEFAULT 'todo',
      priority        text NOT NULL DEFAULT 'medium',
      estimated_hours numeric(6,1),
      blocked_by      uuid REFERENCES public.tasks (id) ON DELETE SET NULL,
      created_at      timestamptz NOT NULL DEFAULT now(),
      updated_at      timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX tasks_milestone_id_idx ON public.tasks (milestone_id);
  ]]

  db:exec [[
    INSERT INTO public.projects (id, organization_id, name, description, priority, created_by, created_at, updated_at)
    SELECT md5('project-' || p)::uuid, md5('org-' || (p % 2))::uuid, 'Project ' || p,
           'Fixture project number ' || p,
           (ARRAY['low', 'medium', 'high', 'critical'])[1 + p % 4],
           md5('user-' || p)::uuid,
           timestamptz '2025-01-01 00:00:00+00' + p * interval '1 day',
           timestamptz '2025-01-01 00:00:00+00' + p * interval '1 day'
      FROM generate_series(1, 6) p;

    INSERT INTO public.milestones (id, project_id, name, description, deadline, status, priority,
                                   progress_percentage, created_by, created_at, updated_at)
    SELECT md5('milestone-' || p || '-' || m)::uuid, md5('project-' || p)::uuid,
           'Milestone ' || p || '.' || m, 'Milestone ' || m || ' of project ' || p,
           CASE WHEN m = 3 THEN NULL
                ELSE timestamptz '2025-06-01 12:00:00+00' + (p * 10 + m) * interval '1 day' END,
           (ARRAY['planned', 'active', 'done'])[m], (ARRAY['low', 'medium', 'high', 'critical'])[1 + (p + m) % 4],
           (m - 1) * 40, md5('user-' || p)::uuid,
           timestamptz '2025-01-02 00:00:00+00' + p * interval '1 day',
           timestamptz '2025-01-02 00:00:00+00' + p * interval '1 day'
      FROM generate_series(1, 6) p, generate_series(1, 3) m;

    INSERT INTO public.tasks (id, project_id, milestone_id, title, description, status, priority,
                              estimated_hours, blocked_by, created_at, updated_at)
    SELECT md5('task-' || p || '-' || m || '-' || t)::uuid, md5('project-' || p)::uuid,
           md5('milestone-' || p || '-' || m)::uuid,
           'Task ' || p || '.' || m || '.' || t, 'Fixture task',
           (ARRAY['todo', 'in_progress', 'review', 'done', 'blocked'])[1 + (p + m + t) % 5],
           (ARRAY['low', 'medium', 'high', 'critical'])[1 + (p * m + t) % 4],
           CASE WHEN t = 4 THEN NULL ELSE (t * 2.5)::numeric(6,1) END,
           CASE WHEN t % 2 = 0 THEN md5('task-' || p || '-' || m || '-' || (t - 1))::uuid END,
           timestamptz '2025-01-03 00:00:00+00' + p * interval '1 day',
           timestamptz '2025-01-03 00:00:00+00' + p * interval '1 day'
      FROM generate_series(1, 6) p, generate_series(1, 3) m, generate_series(1, 4) t;
  ]]
end)

print(("fixture loaded into public: projects %d, milestones %d (%d with a deadline), tasks %d (%d blocked)"):format(
  db:value "SELECT count(*) FROM public.projects",
  db:value "SELECT count(*) FROM public.milestones",
  db:value "SELECT count(*) FROM public.milestones WHERE deadline IS NOT NULL",
  db:value "SELECT count(*) FROM public.tasks",
  db:value "SELECT count(*) FROM public.tasks WHERE blocked_by IS NOT NULL"))
