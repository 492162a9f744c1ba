-- Seed 000 (FOCO voice → plan, "production consolidation plan"), as one migration whose schema
-- change is one `online` change (docs/online.md): the old application and the new one both keep
-- working on the same data from `start` to `complete`, and no write either makes is lost.
--
--   flags        the seed's flags with the seed's defaults (shadow_mode on, the others off)
--   start        the new shape: plan_sessions, voice_intents, ai_suggestions, task_dependencies
--                (new tables); ai_generated / confidence_score / dependency_links /
--                voice_session_id (shadow columns the old application's writes fill with `up`);
--                milestones.deadline → due_date (a view renames it); the indexes, concurrently;
--                all of it in the version schema public_voice_plan, which the new application
--                puts first on its search_path
--   backfill     the new columns of the rows that existed before start
--   import       task_dependencies from the legacy tasks.blocked_by; one plan draft per existing
--                project (copy.table: a draft the plan-draft schema rejects is quarantined with
--                the reason, not a failed phase)
--   validate     every plan_sessions.plan_json valid against plan-draft v1.0.0, task_dependencies
--                acyclic, nothing orphaned
--   complete     (only after shadow mode, then a dual-write period, both over) the contract: the
--                columns renamed into place, the CHECKs added NOT VALID and validated outside the
--                exclusive lock, the foreign key, RLS and the isolation policies; its verify is
--                the seed's final validation
--   retire_flags the temporary flags (shadow_mode, dual_write) go, as the seed's cleanup deletes them
--
-- Departures from the seed's SQL, because this database has no such objects:
-- `organizations` and `auth.users` do not exist, so organization_id / user_id / applied_by are
-- plain uuids without foreign keys; `current_organization_id()` does not exist, so the policies
-- read the setting `app.organization_id`; the seed's idx_plan_sessions_idempotency would duplicate
-- the index of the UNIQUE constraint on idempotency_key, so it is not built, and
-- idx_plan_sessions_created_at is a plain (ascending) index, which serves DESC scans as well.
-- plan_sessions' own CHECKs are part of the new table (it has no rows to validate).

local ID = "001_voice_plan"

-- The seed's "Plan Draft Schema v1.0.0", verbatim (contract A).
local PLAN_DRAFT_SCHEMA = [==[
{
  "$id": "https://foco.mx/schemas/plan-draft.v1.json",
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "FOCO Plan Draft",
  "type": "object",
  "required": ["schema_version", "project", "milestones"],
  "properties": {
    "schema_version": { 
      "const": "1.0.0",
      "description": "Schema version for compatibility"
    },
    "project": {
      "type": "object",
      "required": ["title", "description"],
      "properties": {
        "title": { 
          "type": "string", 
          "minLength": 3,
          "maxLength": 200,
          "description": "Project title"
        },
        "description": { 
          "type": "string",
          "maxLength": 2000,
          "description": "Project description"
        },
        "start_date": { 
          "type": ["string", "null"], 
          "format": "date-time",
          "description": "Project start date"
        },
        "due_date": { 
          "type": ["string", "null"], 
          "format": "date-time",
          "description": "Project due date"
        },
        "priority": {
          "enum": ["low", "medium", "high", "critical"],
          "default": "medium"
        }
      }
    },
    "milestones": {
      "type": "array",
      "minItems": 1,
      "maxItems": 20,
      "items": {
        "type": "object",
        "required": ["title", "tasks"],
        "properties": {
          "title": { 
            "type": "string", 
            "minLength": 3,
            "maxLength": 200
          },
          "description": { 
            "type": "string",
            "maxLength": 1000
          },
          "start_date": { 
            "type": ["string", "null"], 
            "format": "date-time"
          },
          "due_date": { 
            "type": ["string", "null"], 
            "format": "date-time"
          },
          "priority": {
            "enum": ["low", "medium", "high", "critical"],
            "default": "medium"
          },
          "tasks": {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {
              "type": "object",
              "required": ["title", "status", "priority"],
              "properties": {
                "title": { 
                  "type": "string",
                  "minLength": 1,
                  "maxLength": 200
                },
                "description": { 
                  "type": "string",
                  "maxLength": 2000
                },
                "status": { 
                  "enum": ["todo", "in_progress", "review", "done", "blocked"],
                  "default": "todo"
                },
                "priority": {
                  "enum": ["low", "medium", "high", "critical"],
                  "default": "medium"
                },
                "assignee_hint": { 
                  "type": ["string", "null"],
                  "maxLength": 100
                },
                "estimate_hours": { 
                  "type": ["number", "null"], 
                  "minimum": 0,
                  "maximum": 1000
                },
                "depends_on": { 
                  "type": "array",
                  "items": { 
                    "type": "string",
                    "minLength": 1
                  },
                  "maxItems": 10
                },
                "tags": {
                  "type": "array",
                  "items": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 50
                  },
                  "maxItems": 10
                }
              }
            }
          }
        }
      }
    },
    "risks": { 
      "type": "array",
      "items": { 
        "type": "string",
        "minLength": 1,
        "maxLength": 500
      },
      "maxItems": 20
    },
    "assumptions": { 
      "type": "array",
      "items": { 
        "type": "string",
        "minLength": 1,
        "maxLength": 500
      },
      "maxItems": 20
    },
    "open_questions": { 
      "type": "array",
      "items": { 
        "type": "string",
        "minLength": 1,
        "maxLength": 500
      },
      "maxItems": 20
    },
    "metadata": {
      "type": "object",
      "properties": {
        "confidence_score": {
          "type": "number",
          "minimum": 0.0,
          "maximum": 1.0
        },
        "processing_time_ms": {
          "type": "number",
          "minimum": 0
        },
        "ai_model_version": {
          "type": "string"
        }
      }
    }
  }
}
]==]

local DRAFT_SCHEMA = json.decode(PLAN_DRAFT_SCHEMA)

local CORE = { "projects", "milestones", "tasks" }

local FLAGS = {  -- name, description, the seed's default
  { "voice_capture", "voice recording and transcription (POST /api/voice/*)", false },
  { "plan_orchestration", "plan generation from a transcript (POST /api/plan/generate)", false },
  { "plan_commit", "committing a plan draft into projects/milestones/tasks", false },
  -- Phase 2: the new application generates and validates plans, reading the new shape, without
  -- writing the core tables. Phase 3: it writes them too, while the old application still runs.
  { "shadow_mode", "generate and validate plans without writing the core tables (temporary)", true },
  { "dual_write", "the old and the new application both write the core tables (temporary)", false },
}
local TEMPORARY = { "shadow_mode", "dual_write" }

local POLICIES = {
  { "Voice sessions organization isolation", "plan_sessions",
    "organization_id = nullif(current_setting('app.organization_id', true), '')::uuid" },
  { "Voice intents organization isolation", "voice_intents", [[session_id IN (
      SELECT id FROM public.plan_sessions
       WHERE organization_id = nullif(current_setting('app.organization_id', true), '')::uuid)]] },
}

local function policies_sql(up)
  local out = {}
  for _, t in ipairs { "plan_sessions", "voice_intents" } do
    out[#out + 1] = ("ALTER TABLE public.%s %s ROW LEVEL SECURITY"):format(t, up and "ENABLE" or "DISABLE")
  end
  for _, p in ipairs(POLICIES) do
    out[#out + 1] = up and ('CREATE POLICY "%s" ON public.%s FOR ALL USING (%s)'):format(p[1], p[2], p[3])
      or ('DROP POLICY IF EXISTS "%s" ON public.%s'):format(p[1], p[2])
  end
  return table.concat(out, ";\n")
end

-- The schema change: everything the new application sees, as one online change.
local spec = { batch = 500, separate_backfill = true,
  online.create_table { table = "plan_sessions", columns = [[
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id      uuid NOT NULL,
    user_id              uuid,
    transcript           text NOT NULL,
    language             varchar(10) DEFAULT 'en',
    plan_json            jsonb NOT NULL,
    confidence           numeric(3,2) DEFAULT 0.0,
    committed_project_id uuid REFERENCES public.projects (id),
    processing_time_ms   integer,
    audio_file_url       text,
    idempotency_key      uuid UNIQUE,
    request_hash         varchar(64),
    created_at           timestamptz DEFAULT now(),
    CONSTRAINT chk_confidence_range CHECK (confidence >= 0.0 AND confidence <= 1.0),
    CONSTRAINT chk_processing_time CHECK (processing_time_ms >= 0)]] },
  online.create_table { table = "voice_intents", columns = [[
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id     uuid NOT NULL REFERENCES public.plan_sessions (id) ON DELETE CASCADE,
    intent_type    varchar(50) NOT NULL,
    slot_name      varchar(100),
    slot_value     text,
    confidence     numeric(3,2) DEFAULT 0.0,
    start_position integer,
    end_position   integer,
    created_at     timestamptz DEFAULT now()]] },
  online.create_table { table = "ai_suggestions", columns = [[
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL,
    suggestion_type varchar(50) NOT NULL,
    content         jsonb NOT NULL,
    context         text,
    applied         boolean DEFAULT false,
    applied_by      uuid,
    created_at      timestamptz DEFAULT now()]] },
  online.create_table { table = "task_dependencies", columns = [[
    task_id            uuid NOT NULL REFERENCES public.tasks (id) ON DELETE CASCADE,
    depends_on_task_id uuid NOT NULL REFERENCES public.tasks (id) ON DELETE CASCADE,
    created_at         timestamptz DEFAULT now(),
    PRIMARY KEY (task_id, depends_on_task_id),
    CHECK (task_id <> depends_on_task_id)]] },
  online.create_index { table = "plan_sessions", columns = "organization_id", name = "idx_plan_sessions_org_id" },
  online.create_index { table = "plan_sessions", columns = "user_id", name = "idx_plan_sessions_user_id" },
  online.create_index { table = "plan_sessions", columns = "created_at", name = "idx_plan_sessions_created_at" },
  online.create_index { table = "plan_sessions", columns = "plan_json", using = "gin", name = "idx_plan_sessions_plan_json" },
  online.create_index { table = "voice_intents", columns = "session_id", name = "idx_voice_intents_session_id" },
  online.create_index { table = "voice_intents", columns = "intent_type", name = "idx_voice_intents_type" },
  online.create_index { table = "task_dependencies", columns = "task_id", name = "idx_task_dependencies_task_id" },
  online.create_index { table = "task_dependencies", columns = "depends_on_task_id",
                        name = "idx_task_dependencies_depends_on" },

  online.add_column { table = "projects", column = "voice_session_id", type = "uuid" },
  online.add_foreign_key { table = "projects", columns = "voice_session_id", references = "plan_sessions" },
  online.add_column { table = "tasks", column = "dependency_links", type = "jsonb", not_null = true,
                      default = "'[]'::jsonb", up = "'[]'::jsonb" },
  online.create_index { table = "tasks", columns = "dependency_links", using = "gin", name = "idx_tasks_dependencies" },
  online.add_check { table = "tasks", name = "chk_estimate_hours", check = "estimated_hours >= 0 AND estimated_hours <= 1000" },

  -- deadline → due_date: one column under two names until complete renames it
  online.rename_column { table = "milestones", from = "deadline", to = "due_date" },

  -- RLS and the isolation policies, at complete (undone by reopen)
  online.sql { at = "complete", up = policies_sql(true), down = policies_sql(false) },
}
for _, t in ipairs(CORE) do
  spec[#spec + 1] = online.add_column { table = t, column = "ai_generated", type = "boolean", default = false, up = "false" }
  spec[#spec + 1] = online.add_column { table = t, column = "confidence_score", type = "numeric(3,2)", not_null = true,
    default = "0.0", up = "0.0" }
  spec[#spec + 1] = online.add_check { table = t, name = "chk_confidence_range",
    check = "confidence_score >= 0.0 AND confidence_score <= 1.0" }
end
local voice = online.change "voice_plan" (spec)

-- The plan drafts of the existing projects, read from the new shape: one per project that has a
-- milestone with tasks, in the plan-draft shape (RFC 3339 dates). The id comes from the
-- project's, so a draft is imported once.
local DRAFTS = [[
  SELECT md5('plan-import-' || p.id::text)::uuid AS id, p.organization_id,
         'imported from project ' || p.name AS transcript, 'en' AS language,
         jsonb_build_object(
           'schema_version', '1.0.0',
           'project', jsonb_build_object('title', p.name, 'description', coalesce(p.description, ''),
                                         'priority', p.priority),
           'milestones', (
             SELECT jsonb_agg(jsonb_build_object(
                      'title', m.name,
                      'due_date', to_char(m.due_date AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                      'priority', m.priority,
                      'tasks', (SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                                         'title', t.title, 'status', t.status, 'priority', t.priority,
                                         'estimate_hours', t.estimated_hours)) ORDER BY t.title)
                                  FROM public_voice_plan.tasks t WHERE t.milestone_id = m.id))
                    ORDER BY m.name)
               FROM public_voice_plan.milestones m WHERE m.project_id = p.id
                AND EXISTS (SELECT 1 FROM public.tasks t WHERE t.milestone_id = m.id)),
           'metadata', jsonb_build_object('confidence_score', 1, 'ai_model_version', 'import')) AS plan_json,
         1.0 AS confidence, p.id AS committed_project_id,
         md5('plan-import-' || p.id::text)::uuid AS idempotency_key, p.created_at
    FROM public_voice_plan.projects p
   WHERE EXISTS (SELECT 1 FROM public.milestones m JOIN public.tasks t ON t.milestone_id = m.id
                  WHERE m.project_id = p.id)]]

local function valid_draft(row)
  local ok, errors = json.validate(row.plan_json, DRAFT_SCHEMA)
  if not ok then
    error(("the draft of project %s does not match plan-draft v1.0.0 at %s: %s"):format(
      row.committed_project_id, errors[1].pointer == "" and "/" or errors[1].pointer, errors[1].message), 0)
  end
  return row
end

-- The order of the rollout: shadow mode, then a dual-write period, both over before complete.
local function rollout_over(db)
  if flags.enabled(db, "shadow_mode") then
    return false, "shadow_mode is on: the new application does not write yet (turn it off and dual_write on)"
  end
  if flags.enabled(db, "dual_write") then
    return false, "dual_write is on: the old application may still be writing (turn it off once it is gone)"
  end
  for _, h in ipairs(flags.history(db, "dual_write")) do
    if type(h.new) == "table" and h.new.enabled == true then return true end
  end
  return false, "dual_write was never on: the new application has not written yet"
end

return migration "001_voice_plan" {
  description = "seed 000: voice → plan consolidation on an online change (flags, start, backfill, import, validate, complete)",

  phase "flags" {
    description = "the seed's feature flags, with its defaults",
    up = function(db)
      local created = {}
      for _, f in ipairs(FLAGS) do
        if flags.define(db, f[1], { description = f[2], default = f[3] }) then created[#created + 1] = f[1] end
      end
      print(("flags: defined %s"):format(#created > 0 and table.concat(created, ", ") or "none (all existed)"))
    end,
    -- Flags are operational state with an audit trail: rolling the schema back leaves them as they
    -- are, and `up` again keeps their state (flags.define never changes an existing flag).
    down = function() end,
  },

  phase "start" {
    description = "the new shape in public_voice_plan: views, shadow columns, sync triggers, indexes",
    transaction = false,
    up = voice.start,
    down = voice.rollback,
    verify = function(db)
      check.sql(db, "SELECT to_regclass('public_voice_plan.milestones') IS NOT NULL", "no version schema")
      return true
    end,
  },

  phase "backfill" {
    description = "the new columns of the rows that existed before start (keyset batches, resumable)",
    transaction = false,
    up = voice.backfill,
    down = function() end,  -- what it filled goes with start's rollback
    verify = function(db)
      for _, t in ipairs(CORE) do
        check.sql(db, ("SELECT NOT EXISTS (SELECT 1 FROM public_voice_plan.%s WHERE confidence_score IS NULL)"):format(t),
          t .. " not backfilled")
      end
      return true
    end,
  },

  phase "import" {
    description = "task_dependencies from tasks.blocked_by; a plan draft per existing project",
    transaction = false,
    up = function(db)
      db:exec [[
        INSERT INTO public.task_dependencies (task_id, depends_on_task_id, created_at)
        SELECT id, blocked_by, created_at FROM public.tasks WHERE blocked_by IS NOT NULL
        ON CONFLICT DO NOTHING]]
      local st = copy.table { query = DRAFTS, target = "plan_sessions", key = "id", transform = valid_draft,
                              checkpoint = "voice_plan_drafts", name = "plan_drafts" }
      print(("import: %d task dependencies; %d plan drafts imported, %d quarantined"):format(
        db:value "SELECT count(*) FROM public.task_dependencies", st.written, st.quarantined))
    end,
    down = function(db)
      db:exec [[DELETE FROM public.plan_sessions WHERE id = md5('plan-import-' || committed_project_id::text)::uuid]]
      copy.reset(db, "plan_drafts")
      db:exec [[DELETE FROM public.task_dependencies d USING public.tasks t
                 WHERE t.id = d.task_id AND t.blocked_by = d.depends_on_task_id]]
    end,
    verify = function(db)
      check.sql(db, [[SELECT NOT EXISTS (SELECT 1 FROM public.tasks t WHERE t.blocked_by IS NOT NULL
                        AND NOT EXISTS (SELECT 1 FROM public.task_dependencies d
                                         WHERE d.task_id = t.id AND d.depends_on_task_id = t.blocked_by))]],
        "tasks.blocked_by not carried into task_dependencies")
      return true
    end,
  },

  phase "validate" {
    description = "plan_json valid against plan-draft v1.0.0; task_dependencies acyclic",
    -- it only reads; outside a transaction, `weir plan` runs it on its copy after start, whose
    -- tables it checks (a transactional phase would be planned on the target without them)
    transaction = false,
    up = function(db)
      print(("validate: %d plan sessions, %d task dependencies"):format(
        db:value "SELECT count(*) FROM public.plan_sessions", db:value "SELECT count(*) FROM public.task_dependencies"))
    end,
    down = function() end,  -- checks only
    verify = function(db)
      check.json_schema(db, "plan_sessions", "plan_json", PLAN_DRAFT_SCHEMA, "id")
      check.acyclic(db, "task_dependencies", "task_id", "depends_on_task_id")
      check.no_orphans(db, "plan_sessions", "committed_project_id", "projects", "id")
      check.no_orphans(db, "voice_intents", "session_id", "plan_sessions", "id")
      return true
    end,
  },

  phase "complete" {
    description = "the contract: due_date, the new columns in place, CHECKs validated, RLS policies",
    transaction = false,
    requires = { "validate", check = rollout_over },
    up = voice.complete,
    down = voice.reopen,
    -- The seed's final validation: the target schema, the data integrity, the security.
    verify = function(db)
      for _, t in ipairs { "projects", "milestones", "tasks", "plan_sessions", "voice_intents",
                           "ai_suggestions", "task_dependencies" } do
        check.has_table(db, t)
        check.has_pk(db, t)
      end
      for _, t in ipairs(CORE) do
        check.has_column(db, t, "ai_generated", "boolean")
        check.has_column(db, t, "confidence_score", "numeric")
      end
      check.has_column(db, "projects", "voice_session_id", "uuid")
      check.has_column(db, "milestones", "due_date", "timestamptz")
      check.hasnt_column(db, "milestones", "deadline")
      check.has_column(db, "tasks", "dependency_links", "jsonb")
      check.col_not_null(db, "plan_sessions", "plan_json")
      check.sql(db, "SELECT to_regnamespace('public_voice_plan') IS NULL", "the version schema is still there")
      check.has_index(db, "plan_sessions", { "idempotency_key" })
      check.has_index(db, "tasks", "idx_tasks_dependencies")
      check.fk_ok(db, "task_dependencies", { "depends_on_task_id" }, "tasks", { "id" })
      check.fk_ok(db, "projects", { "voice_session_id" }, "plan_sessions", { "id" })
      check.sql(db, [[SELECT count(*) = 6 FROM pg_catalog.pg_constraint
                       WHERE contype = 'c' AND convalidated
                         AND conname IN ('chk_confidence_range', 'chk_processing_time', 'chk_estimate_hours')
                         AND connamespace = 'public'::regnamespace]],
        "the CHECK constraints are not all there and validated")
      for _, p in ipairs(POLICIES) do check.has_policy(db, p[2], p[1]) end
      check.sql(db, [[SELECT bool_and(relrowsecurity) FROM pg_catalog.pg_class
                       WHERE oid IN ('public.plan_sessions'::regclass, 'public.voice_intents'::regclass)]],
        "row level security is not enabled on plan_sessions and voice_intents")
      check.no_orphans(db, "tasks", "milestone_id", "milestones", "id")
      check.no_orphans(db, "task_dependencies", "depends_on_task_id", "tasks", "id")
      for _, t in ipairs(CORE) do check.not_null(db, t, "confidence_score") end
      check.json_schema(db, "plan_sessions", "plan_json", PLAN_DRAFT_SCHEMA, "id")
      check.acyclic(db, "task_dependencies", "task_id", "depends_on_task_id")
      return true
    end,
  },

  phase "retire_flags" {
    description = "the temporary flags go (the seed's cleanup deletes shadow_mode and dual_write)",
    up = function(db)
      -- weir.flag_history keeps their audit trail; the flags module has no remove of its own
      for _, name in ipairs(TEMPORARY) do
        db:exec([[INSERT INTO weir.flag_history (name, change, old, new)
                  SELECT name, 'remove', jsonb_build_object('enabled', enabled, 'percent', percent), NULL
                    FROM weir.flags WHERE name = $1]], name)
        db:exec("DELETE FROM weir.flags WHERE name = $1", name)
      end
    end,
    down = function(db)
      for _, f in ipairs(FLAGS) do
        for _, name in ipairs(TEMPORARY) do
          if f[1] == name then flags.define(db, name, { description = f[2], default = false }) end
        end
      end
    end,
    verify = function(db)
      check.sql(db, "SELECT NOT EXISTS (SELECT 1 FROM weir.flags WHERE name IN ('shadow_mode', 'dual_write'))",
        "a temporary flag is still defined")
      return true
    end,
  },
}
