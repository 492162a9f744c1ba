-- Seed 000 (FOCO voice → plan, "production consolidation plan"), as one migration in phases:
--
--   expand    additive: plan_sessions, voice_intents, ai_suggestions, task_dependencies; the
--             ai_generated / confidence_score / dependency_links / voice_session_id / due_date
--             columns; the milestones_compat view (old readers keep seeing `deadline`)
--   indexes   CREATE INDEX CONCURRENTLY (btree and GIN), outside a transaction
--   backfill  milestones.due_date from deadline (keyset batches), task_dependencies from the
--             legacy tasks.blocked_by, one plan_sessions draft per existing project
--   flags     voice_capture, plan_orchestration, plan_commit, shadow_mode, dual_write
--   validate  every plan_sessions.plan_json valid against the plan-draft schema v1.0.0,
--             task_dependencies acyclic, nothing orphaned
--   cleanup   (waits for dual_write off) drops the compat view and milestones.deadline, adds
--             the CHECK constraints (NOT VALID, then VALIDATE) and the RLS policies; its verify
--             is the seed's final validation
--
-- Departures from the seed's SQL, because this database has no such objects:
-- `organizations` and `auth.users` do not exist, so organization_id / user_id / applied_by are
-- plain uuids without foreign keys; `current_organization_id()` does not exist, so the policies
-- read the setting `app.organization_id`; the seed's idx_plan_sessions_idempotency would duplicate
-- the index of the UNIQUE constraint on idempotency_key, so it is not built.

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

local CORE = { "projects", "milestones", "tasks" }

-- name, table, columns, options — built concurrently by the "indexes" phase
local INDEXES = {
  { "idx_plan_sessions_org_id", "plan_sessions", { "organization_id" } },
  { "idx_plan_sessions_user_id", "plan_sessions", { "user_id" } },
  { "idx_plan_sessions_created_at", "plan_sessions", { { sql = "created_at DESC" } } },
  { "idx_plan_sessions_plan_json", "plan_sessions", { "plan_json" }, { using = "gin" } },
  { "idx_voice_intents_session_id", "voice_intents", { "session_id" } },
  { "idx_voice_intents_type", "voice_intents", { "intent_type" } },
  { "idx_tasks_dependencies", "tasks", { "dependency_links" }, { using = "gin" } },
  { "idx_task_dependencies_task_id", "task_dependencies", { "task_id" } },
  { "idx_task_dependencies_depends_on", "task_dependencies", { "depends_on_task_id" } },
}

local FLAGS = {
  { "voice_capture", "voice recording and transcription (POST /api/voice/*)", false },
  { "plan_orchestration", "plan generation from a transcript (POST /api/plan/generate)", false },
  { "plan_commit", "committing a plan draft into projects/milestones/tasks", false },
  { "shadow_mode", "generate and validate plans without writing the core tables", false },
  -- On from the start: while it is on the application writes both milestones.deadline and
  -- milestones.due_date, and reads through milestones_compat. Cleanup waits for it to go off.
  { "dual_write", "write milestones.deadline and due_date both; cleanup waits for this to be off", true },
}

-- name, table, expression — added by cleanup (NOT VALID, then VALIDATE)
local CHECKS = {
  { "chk_confidence_range", "plan_sessions", "confidence >= 0.0 AND confidence <= 1.0" },
  { "chk_processing_time", "plan_sessions", "processing_time_ms >= 0" },
  { "chk_confidence_range", "projects", "confidence_score >= 0.0 AND confidence_score <= 1.0" },
  { "chk_confidence_range", "milestones", "confidence_score >= 0.0 AND confidence_score <= 1.0" },
  { "chk_confidence_range", "tasks", "confidence_score >= 0.0 AND confidence_score <= 1.0" },
  { "chk_estimate_hours", "tasks", "estimated_hours >= 0 AND estimated_hours <= 1000" },
}

local POLICIES = {
  { "Voice sessions organization isolation", "plan_sessions",
    "organization_id = nullif(current_setting('app.organization_id', true), '')::uuid" },
  { "Voice intents organization isolation", "voice_intents", [[session_id IN (
      SELECT id FROM public.plan_sessions
       WHERE organization_id = nullif(current_setting('app.organization_id', true), '')::uuid)]] },
}

local COMPAT_VIEW = [[
  SELECT id, name AS title, description, project_id,
         COALESCE(due_date, deadline) AS due_date,
         deadline AS deadline_legacy,
         status, priority, progress_percentage, created_by, created_at, updated_at
    FROM public.milestones]]

-- Plans imported from the existing projects: one draft per project, in the plan-draft shape
-- (RFC 3339 dates, the task statuses and priorities of the contract). Idempotent through the
-- deterministic idempotency_key.
local IMPORT_KEY = "md5('plan-import-' || p.id::text)::uuid"
local IMPORT_PLANS = [[
  INSERT INTO public.plan_sessions (organization_id, transcript, language, plan_json, confidence,
                                    committed_project_id, idempotency_key, created_at)
  SELECT p.organization_id, 'imported from project ' || p.name, 'en',
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
                                  FROM public.tasks t WHERE t.milestone_id = m.id))
                    ORDER BY m.name)
               FROM public.milestones m WHERE m.project_id = p.id
                AND EXISTS (SELECT 1 FROM public.tasks t WHERE t.milestone_id = m.id)),
           'metadata', jsonb_build_object('confidence_score', 1, 'ai_model_version', 'import')),
         1.0, p.id, ]] .. IMPORT_KEY .. [[, p.created_at
    FROM public.projects p
   WHERE EXISTS (SELECT 1 FROM public.milestones m JOIN public.tasks t ON t.milestone_id = m.id
                  WHERE m.project_id = p.id)
  ON CONFLICT (idempotency_key) DO NOTHING]]

return migration "001_voice_plan" {
  description = "seed 000: voice → plan consolidation (expand, indexes, backfill, flags, validate, cleanup)",

  phase "expand" {
    description = "additive tables and columns, milestones_compat view",
    up = function(db)
      db:exec [[
        CREATE TABLE public.plan_sessions (
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
          created_at           timestamptz DEFAULT now()
        );
        CREATE TABLE public.voice_intents (
          id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          session_id     uuid NOT NULL REFERENCES public.plan_sessions (id) ON DELETE CASCADE,
          intent_type    varchar(50) NOT NULL,
          slot_name      varchar(100),
          slot_value     text,
          confidence     numeric(3,2) DEFAULT 0.0,
          start_position integer,
          end_position   integer,
          created_at     timestamptz DEFAULT now()
        );
        CREATE TABLE public.ai_suggestions (
          id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          organization_id uuid NOT NULL,
          suggestion_type varchar(50) NOT NULL,
          content         jsonb NOT NULL,
          context         text,
          applied         boolean DEFAULT false,
          applied_by      uuid,
          created_at      timestamptz DEFAULT now()
        );
        CREATE TABLE public.task_dependencies (
          task_id            uuid NOT NULL REFERENCES public.tasks (id) ON DELETE CASCADE,
          depends_on_task_id uuid NOT NULL REFERENCES public.tasks (id) ON DELETE CASCADE,
          created_at         timestamptz DEFAULT now(),
          PRIMARY KEY (task_id, depends_on_task_id),
          CHECK (task_id <> depends_on_task_id)
        );
      ]]
      -- catalog-only ADD COLUMNs on the live tables (constant defaults: no rewrite)
      ddl.add_column(db, "projects", "voice_session_id", "uuid")
      ddl.add_foreign_key(db, "projects", { "voice_session_id" }, "plan_sessions", { "id" })
      for _, t in ipairs(CORE) do
        ddl.add_column(db, t, "ai_generated", "boolean", { default = false })
        ddl.add_column(db, t, "confidence_score", "numeric(3,2)", { default = "0.0" })
      end
      ddl.add_column(db, "milestones", "due_date", "timestamptz")  -- deadline stays for now
      ddl.add_column(db, "tasks", "dependency_links", "jsonb", { default = "'[]'::jsonb" })
      ddl.create_view(db, "milestones_compat", COMPAT_VIEW)
    end,
    down = function(db)
      ddl.drop_view(db, "milestones_compat")
      ddl.drop_column(db, "tasks", "dependency_links")
      ddl.drop_column(db, "milestones", "due_date")
      for _, t in ipairs(CORE) do
        ddl.drop_column(db, t, "confidence_score")
        ddl.drop_column(db, t, "ai_generated")
      end
      ddl.drop_column(db, "projects", "voice_session_id")  -- its foreign key goes with it
      db:exec "DROP TABLE public.task_dependencies, public.ai_suggestions, public.voice_intents, public.plan_sessions"
    end,
    verify = function(db)
      for _, t in ipairs { "plan_sessions", "voice_intents", "ai_suggestions", "task_dependencies" } do
        check.has_table(db, t)
      end
      check.has_column(db, "plan_sessions", "plan_json", "jsonb")
      check.has_column(db, "milestones", "due_date", "timestamptz")
      check.has_column(db, "milestones", "deadline", "timestamptz")
      check.has_column(db, "tasks", "dependency_links", "jsonb")
      for _, t in ipairs(CORE) do
        check.has_column(db, t, "ai_generated", "boolean")
        check.has_column(db, t, "confidence_score", "numeric")
      end
      check.fk_ok(db, "projects", { "voice_session_id" }, "plan_sessions", { "id" })
      check.fk_ok(db, "task_dependencies", { "task_id" }, "tasks", { "id" })
      check.has_view(db, "milestones_compat")
      return true
    end,
  },

  phase "indexes" {
    description = "CREATE INDEX CONCURRENTLY: btree and GIN",
    transaction = false,
    requires = { "expand" },
    up = function(db)
      for _, ix in ipairs(INDEXES) do
        local opts = { name = ix[1] }
        for k, v in pairs(ix[4] or {}) do opts[k] = v end
        ddl.create_index(db, ix[2], ix[3], opts)
      end
    end,
    down = function(db)
      for i = #INDEXES, 1, -1 do ddl.drop_index(db, INDEXES[i][1]) end
    end,
    verify = function(db)
      for _, ix in ipairs(INDEXES) do check.has_index(db, ix[2], ix[1]) end
      check.sql(db, [[SELECT count(*) = 2 FROM pg_catalog.pg_indexes
                       WHERE indexname IN ('idx_tasks_dependencies', 'idx_plan_sessions_plan_json')
                         AND indexdef LIKE '%USING gin%']], "the jsonb indexes are not GIN indexes")
      return true
    end,
  },

  phase "backfill" {
    description = "due_date from deadline (keyset batches), task_dependencies, plan drafts of existing projects",
    transaction = false,  -- each batch commits on its own; re-running skips finished rows
    requires = { "expand" },
    up = function(db)
      local st = copy.update {
        table = "milestones", key = "id", batch = 500,
        where = "due_date IS NULL AND deadline IS NOT NULL",
        set = function(row) return { due_date = row.deadline } end,
      }
      db:exec [[
        INSERT INTO public.task_dependencies (task_id, depends_on_task_id, created_at)
        SELECT id, blocked_by, created_at FROM public.tasks WHERE blocked_by IS NOT NULL
        ON CONFLICT DO NOTHING]]
      db:exec(IMPORT_PLANS)
      print(("backfill: due_date set on %d milestones; %d task dependencies; %d plan sessions"):format(
        st.updated or st.written or 0, db:value "SELECT count(*) FROM public.task_dependencies",
        db:value "SELECT count(*) FROM public.plan_sessions"))
    end,
    -- Undoes what up added. due_date itself goes with expand's down (the column is dropped).
    down = function(db)
      db:exec("DELETE FROM public.plan_sessions p USING public.projects pr " ..
        "WHERE pr.id = p.committed_project_id AND p.idempotency_key = " .. IMPORT_KEY:gsub("p%.id", "pr.id"))
      db:exec [[DELETE FROM public.task_dependencies d USING public.tasks t
                 WHERE t.id = d.task_id AND t.blocked_by = d.depends_on_task_id]]
    end,
    verify = function(db)
      check.sql(db, "SELECT NOT EXISTS (SELECT 1 FROM public.milestones WHERE due_date IS NULL AND deadline IS NOT NULL)",
        "milestones with a deadline but no due_date")
      check.sql(db, [[SELECT NOT EXISTS (SELECT 1 FROM public.tasks t WHERE t.blocked_by IS NOT NULL
                        AND NOT EXISTS (SELECT 1 FROM public.task_dependencies d
                                         WHERE d.task_id = t.id AND d.depends_on_task_id = t.blocked_by))]],
        "tasks.blocked_by not carried into task_dependencies")
      return true
    end,
  },

  phase "flags" {
    description = "feature flags of the rollout (dual_write starts on)",
    up = function(db)
      local created = {}
      for _, f in ipairs(FLAGS) do
        if flags.define(db, f[1], { description = f[2], default = f[3] }) then created[#created + 1] = f[1] end
      end
      print(("flags: defined %s"):format(#created > 0 and table.concat(created, ", ") or "none (all existed)"))
    end,
    -- Flags are operational state the application reads (weir.flag_enabled) with an audit trail
    -- in weir.flag_history: rolling the schema back leaves them defined, in whatever state
    -- someone put them. `up` again keeps that state (flags.define never changes an existing flag).
    down = function() end,
    verify = function(db)
      local have = {}
      for _, f in ipairs(flags.list(db)) do have[f.name] = true end
      for _, f in ipairs(FLAGS) do
        if not have[f[1]] then return false, "flag " .. f[1] .. " is not defined" end
      end
      return true
    end,
  },

  phase "validate" {
    description = "plan_json valid against plan-draft v1.0.0; task_dependencies acyclic",
    requires = { "backfill" },
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

  phase "cleanup" {
    description = "drop milestones_compat and milestones.deadline; CHECK constraints; RLS policies",
    requires = { "validate", flag_off = "dual_write" },
    up = function(db)
      ddl.drop_view(db, "milestones_compat")
      ddl.drop_column(db, "milestones", "deadline")
      for _, c in ipairs(CHECKS) do ddl.add_check(db, c[2], c[1], c[3]) end
      for _, t in ipairs { "plan_sessions", "voice_intents" } do
        db:exec("ALTER TABLE public." .. t .. " ENABLE ROW LEVEL SECURITY")
      end
      for _, p in ipairs(POLICIES) do
        db:exec(("CREATE POLICY %s ON public.%s FOR ALL USING (%s)"):format(db:quote_ident(p[1]), p[2], p[3]))
      end
    end,
    down = function(db)
      for _, p in ipairs(POLICIES) do
        db:exec(("DROP POLICY IF EXISTS %s ON public.%s"):format(db:quote_ident(p[1]), p[2]))
      end
      for _, t in ipairs { "plan_sessions", "voice_intents" } do
        db:exec("ALTER TABLE public." .. t .. " DISABLE ROW LEVEL SECURITY")
      end
      for _, c in ipairs(CHECKS) do
        db:exec(("ALTER TABLE public.%s DROP CONSTRAINT IF EXISTS %s"):format(c[2], c[1]))
      end
      -- deadline comes back with the values due_date holds now (the application wrote due_date
      -- only since dual_write went off); the compat view over it too
      ddl.add_column(db, "milestones", "deadline", "timestamptz")
      db:exec "UPDATE public.milestones SET deadline = due_date WHERE deadline IS DISTINCT FROM due_date"
      ddl.create_view(db, "milestones_compat", COMPAT_VIEW)
    end,
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
      check.sql(db, "SELECT to_regclass('public.milestones_compat') IS NULL", "view milestones_compat still exists")
      -- (the concurrent indexes are checked by the indexes phase's verify: `weir plan` plans this
      -- transactional phase without the effects of that non-transactional one)
      check.has_index(db, "plan_sessions", { "idempotency_key" })
      check.fk_ok(db, "task_dependencies", { "depends_on_task_id" }, "tasks", { "id" })
      check.fk_ok(db, "projects", { "voice_session_id" }, "plan_sessions", { "id" })
      check.sql(db, string.format([[SELECT count(*) = %d FROM pg_catalog.pg_constraint
                                      WHERE contype = 'c' AND convalidated
                                        AND conname IN ('chk_confidence_range', 'chk_processing_time', 'chk_estimate_hours')
                                        AND connamespace = 'public'::regnamespace]], #CHECKS),
        "the CHECK constraints are not all there and validated")
      for _, p in ipairs(POLICIES) do check.has_policy(db, p[2], p[1]) end
      check.sql(db, [[SELECT bool_and(relrowsecurity) FROM pg_catalog.pg_class
                       WHERE oid IN ('public.plan_sessions'::regclass, 'public.voice_intents'::regclass)]],
        "row level security is not enabled on plan_sessions and voice_intents")
      -- data integrity: no orphans, no NULL scores, every plan still valid, no cycles
      check.no_orphans(db, "tasks", "milestone_id", "milestones", "id")
      check.no_orphans(db, "task_dependencies", "depends_on_task_id", "tasks", "id")
      for _, t in ipairs(CORE) do check.not_null(db, t, "confidence_score") end
      check.json_schema(db, "plan_sessions", "plan_json", PLAN_DRAFT_SCHEMA, "id")
      check.acyclic(db, "task_dependencies", "task_id", "depends_on_task_id")
      return true
    end,
  },
}
