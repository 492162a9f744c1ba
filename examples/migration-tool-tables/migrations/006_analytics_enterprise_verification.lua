-- Seed 004, part 6: the tables of the seed's "Enhanced Database Schema (Migration 091 Updates)",
-- which it names and describes but gives no SQL for: the columns, CHECKs, indexes and policies
-- below are this example's reading of its prose, each with its reason.
--
--   analytics     migration_analytics_events (the domain events: "Comprehensive event tracking
--                 with metadata", a correlation id per migration), migration_user_feedback
--                 ("User satisfaction and feedback collection": one rating per user and
--                 migration), migration_performance_metrics ("Aggregated performance data":
--                 one row per period, granularity and organization, filled by 007's
--                 migration_refresh_performance_metrics)
--   enterprise    organization_migration_config ("Custom budgets and enterprise settings":
--                 budgets with the same CHECKs as migration_projects', concurrency and monthly
--                 limits, support channel), organization_migration_customization ("Custom
--                 prompts and integration hooks"), bulk_migration_jobs ("Bulk migration
--                 operations with batching and scheduling": URLs, batch size and delay,
--                 scheduled time, progress counters). Their organization_id references
--                 organizations(id) only when that table exists (the expert review's
--                 "Conditional FK constraints … to prevent dev environment failures"); verify
--                 checks that the foreign keys are there exactly when it does.
--   verification  migration_verification_attempts ("Enhanced verification tracking": method,
--                 detected DNS provider, outcome, next automated poll) and
--                 migration_domain_providers ("DNS provider detection and caching": a cache
--                 entry per domain, with its expiry).
--
-- Every table has RLS on ("Row Level Security (RLS) on all new tables") with the seed's two
-- kinds of policy: the owner's (app.current_user_id, as in 001), or the organization's
-- (app.current_organization_id, set by the service like app.current_user_id), for reading;
-- and the expert review's service-only policy, (auth.jwt() ->> 'role') = 'service_role', for
-- everything. Tables with updated_at get 005's set_updated_at() trigger. All three phases are
-- transactional: the tables are new, so their indexes are plain CREATE INDEX.

local PHASES_SQL = "('ANALYZE', 'PLAN', 'TRANSFORM', 'VERIFY', 'DEPLOY')"
local OWNER = "nullif(current_setting('app.current_user_id', true), '')::uuid"
local ORGANIZATION = "nullif(current_setting('app.current_organization_id', true), '')::uuid"
local SERVICE = "(auth.jwt() ->> 'role') = 'service_role'"

-- The domain events of the seed's "Observability & Monitoring" and the stages its analytics
-- track (start, verification, phases, completion, cancellation).
local EVENT_TYPES = { "MIGRATION_STARTED", "VERIFICATION_COMPLETED", "PHASE_STARTED", "PHASE_COMPLETED",
  "BUDGET_NEAR_LIMIT", "MIGRATION_COMPLETED", "MIGRATION_FAILED", "MIGRATION_CANCELLED", "PROJECT_CREATED",
  "DEPLOYMENT_SUCCEEDED", "DEPLOYMENT_FAILED", "BUILDER_INCOMPATIBILITY_DETECTED" }

local function sql_list(values)
  local q = {}
  for i, v in ipairs(values) do q[i] = "'" .. v .. "'" end
  return "(" .. table.concat(q, ", ") .. ")"
end

-- Per phase, what verify expects of each table: validated constraints, valid indexes,
-- policies, triggers; RLS on.
local EXPECT = {
  analytics = {
    { "public.migration_analytics_events",
      constraints = { "migration_analytics_events_pkey", "migration_analytics_events_migration_project_id_fkey",
        "migration_analytics_events_user_id_fkey", "migration_analytics_events_event_type_check",
        "migration_analytics_events_phase_check", "migration_analytics_events_measures_check" },
      indexes = { "idx_migration_analytics_events_project_created", "idx_migration_analytics_events_type_created",
        "idx_migration_analytics_events_correlation" },
      policies = { "migration_analytics_events_owner_read", "migration_analytics_events_service_access" } },
    { "public.migration_user_feedback",
      constraints = { "migration_user_feedback_pkey", "migration_user_feedback_migration_project_id_fkey",
        "migration_user_feedback_user_id_fkey", "migration_user_feedback_rating_check", "migration_user_feedback_once" },
      indexes = { "migration_user_feedback_once", "idx_migration_user_feedback_user" },
      policies = { "migration_user_feedback_owner_access", "migration_user_feedback_service_access" } },
    { "public.migration_performance_metrics",
      constraints = { "migration_performance_metrics_pkey", "migration_performance_metrics_granularity_check",
        "migration_performance_metrics_counts_check" },
      indexes = { "uq_migration_performance_metrics_period" },
      policies = { "migration_performance_metrics_service_access" },
      triggers = { "migration_performance_metrics_set_updated_at" } },
  },
  enterprise = {
    { "public.organization_migration_config",
      constraints = { "organization_migration_config_pkey", "organization_migration_config_budget_check",
        "organization_migration_config_limits_check", "organization_migration_config_support_channel_check",
        "organization_migration_config_settings_check" },
      policies = { "organization_migration_config_member_read", "organization_migration_config_service_access" },
      triggers = { "organization_migration_config_set_updated_at" } },
    { "public.organization_migration_customization",
      constraints = { "organization_migration_customization_pkey", "organization_migration_customization_shape_check" },
      policies = { "organization_migration_customization_member_read", "organization_migration_customization_service_access" },
      triggers = { "organization_migration_customization_set_updated_at" } },
    { "public.bulk_migration_jobs",
      constraints = { "bulk_migration_jobs_pkey", "bulk_migration_jobs_created_by_fkey", "bulk_migration_jobs_status_check",
        "bulk_migration_jobs_urls_check", "bulk_migration_jobs_batch_check", "bulk_migration_jobs_progress_check" },
      indexes = { "idx_bulk_migration_jobs_organization", "idx_bulk_migration_jobs_due" },
      policies = { "bulk_migration_jobs_member_read", "bulk_migration_jobs_service_access" },
      triggers = { "bulk_migration_jobs_set_updated_at" } },
  },
  verification = {
    { "public.migration_verification_attempts",
      constraints = { "migration_verification_attempts_pkey", "migration_verification_attempts_migration_project_id_fkey",
        "migration_verification_attempts_method_check", "migration_verification_attempts_status_check" },
      indexes = { "idx_migration_verification_attempts_project", "idx_migration_verification_attempts_poll" },
      policies = { "migration_verification_attempts_owner_read", "migration_verification_attempts_service_access" } },
    { "public.migration_domain_providers",
      constraints = { "migration_domain_providers_pkey", "migration_domain_providers_domain_check",
        "migration_domain_providers_provider_check" },
      indexes = { "idx_migration_domain_providers_expires" },
      policies = { "migration_domain_providers_service_access" },
      triggers = { "migration_domain_providers_set_updated_at" } },
  },
}

-- The enterprise tables' foreign keys to organizations(id), made when that table exists.
local ORG_FKS = {
  { "public.organization_migration_config", "organization_migration_config_organization_id_fkey" },
  { "public.organization_migration_customization", "organization_migration_customization_organization_id_fkey" },
  { "public.bulk_migration_jobs", "bulk_migration_jobs_organization_id_fkey" },
}

local function verify_tables(db, list)
  for _, t in ipairs(list) do
    local name = t[1]
    check.has_table(db, name)
    check.rls_enabled(db, name)
    for _, c in ipairs(t.constraints or {}) do check.has_constraint(db, name, c) end
    for _, i in ipairs(t.indexes or {}) do check.has_index(db, name, i) end
    for _, p in ipairs(t.policies or {}) do check.has_policy(db, name, p) end
    for _, g in ipairs(t.triggers or {}) do check.has_trigger(db, name, g) end
  end
end

-- Drops the tables of `list`, last first, and says how many rows went with them.
local function drop_tables(db, list)
  local gone = {}
  for i = #list, 1, -1 do
    local name = list[i][1]
    gone[#gone + 1] = ("%s (%d rows)"):format(name:gsub("^public%.", ""), db:value("SELECT count(*) FROM " .. name))
    db:exec("DROP TABLE " .. name)
  end
  print("dropped " .. table.concat(gone, ", "))
end

local function updated_at_trigger(tbl)
  local bare = tbl:gsub("^public%.", "")
  return ("CREATE TRIGGER %s_set_updated_at BEFORE UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();")
    :format(bare, tbl)
end

return migration "006_analytics_enterprise_verification" {
  description = "seed 004: analytics, enterprise and verification tables with CHECKs, indexes, RLS, updated_at triggers, conditional FKs to organizations",

  phase "analytics" {
    description = "migration_analytics_events, migration_user_feedback, migration_performance_metrics",
    up = function(db)
      db:exec(([[
        CREATE TABLE public.migration_analytics_events (
          id                   bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT migration_analytics_events_pkey PRIMARY KEY,
          migration_project_id uuid NOT NULL
            CONSTRAINT migration_analytics_events_migration_project_id_fkey REFERENCES public.migration_projects (id),
          user_id              uuid CONSTRAINT migration_analytics_events_user_id_fkey REFERENCES auth.users (id),
          organization_id      uuid,  -- no foreign key: analytics outlive an organization
          correlation_id       uuid NOT NULL,  -- the seed's correlationId: one per migration, in every event
          event_type           text NOT NULL CONSTRAINT migration_analytics_events_event_type_check CHECK (event_type IN %s),
          phase                text CONSTRAINT migration_analytics_events_phase_check CHECK (phase IN %s),
          duration_ms          integer,
          ai_time_seconds      integer,
          metadata             jsonb NOT NULL DEFAULT '{}',
          created_at           timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT migration_analytics_events_measures_check
            CHECK (duration_ms >= 0 AND ai_time_seconds >= 0 AND jsonb_typeof(metadata) = 'object')
        );
        CREATE INDEX idx_migration_analytics_events_project_created
          ON public.migration_analytics_events (migration_project_id, created_at);
        -- success rates, failure spikes and alert windows ("> 5 %% in 1 h"): by type over time
        CREATE INDEX idx_migration_analytics_events_type_created
          ON public.migration_analytics_events (event_type, created_at);
        CREATE INDEX idx_migration_analytics_events_correlation
          ON public.migration_analytics_events (correlation_id);

        CREATE TABLE public.migration_user_feedback (
          id                   uuid CONSTRAINT migration_user_feedback_pkey PRIMARY KEY DEFAULT gen_random_uuid(),
          migration_project_id uuid NOT NULL
            CONSTRAINT migration_user_feedback_migration_project_id_fkey REFERENCES public.migration_projects (id),
          user_id              uuid NOT NULL
            CONSTRAINT migration_user_feedback_user_id_fkey REFERENCES auth.users (id),
          rating               smallint NOT NULL
            CONSTRAINT migration_user_feedback_rating_check CHECK (rating BETWEEN 1 AND 5),
          comment              text,
          created_at           timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT migration_user_feedback_once UNIQUE (migration_project_id, user_id)
        );
        CREATE INDEX idx_migration_user_feedback_user ON public.migration_user_feedback (user_id);

        CREATE TABLE public.migration_performance_metrics (
          id                   bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT migration_performance_metrics_pkey PRIMARY KEY,
          granularity          text NOT NULL
            CONSTRAINT migration_performance_metrics_granularity_check CHECK (granularity IN ('hour', 'day')),
          period_start         timestamptz NOT NULL,
          organization_id      uuid,  -- NULL: every migration
          migrations_started   integer NOT NULL DEFAULT 0,
          migrations_completed integer NOT NULL DEFAULT 0,
          migrations_failed    integer NOT NULL DEFAULT 0,
          retries              integer NOT NULL DEFAULT 0,
          ai_time_seconds      bigint NOT NULL DEFAULT 0,
          avg_duration_seconds numeric,
          p95_duration_seconds numeric,
          created_at           timestamptz NOT NULL DEFAULT now(),
          updated_at           timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT migration_performance_metrics_counts_check
            CHECK (migrations_started >= 0 AND migrations_completed >= 0 AND migrations_failed >= 0
                   AND retries >= 0 AND ai_time_seconds >= 0)
        );
        -- one row per period, granularity and organization (NULL, "all", counted as one value)
        CREATE UNIQUE INDEX uq_migration_performance_metrics_period ON public.migration_performance_metrics
          (granularity, period_start, coalesce(organization_id, '00000000-0000-0000-0000-000000000000'::uuid));

        ALTER TABLE public.migration_analytics_events ENABLE ROW LEVEL SECURITY;
        ALTER TABLE public.migration_user_feedback ENABLE ROW LEVEL SECURITY;
        ALTER TABLE public.migration_performance_metrics ENABLE ROW LEVEL SECURITY;

        CREATE POLICY migration_analytics_events_owner_read ON public.migration_analytics_events
          FOR SELECT USING (EXISTS (SELECT 1 FROM public.migration_projects mp
                                     WHERE mp.id = migration_analytics_events.migration_project_id AND mp.user_id = %s));
        CREATE POLICY migration_analytics_events_service_access ON public.migration_analytics_events FOR ALL USING (%s);

        -- a user rates their own migrations only, once each (the UNIQUE), and sees their own ratings
        CREATE POLICY migration_user_feedback_owner_access ON public.migration_user_feedback
          FOR ALL USING (user_id = %s AND EXISTS (SELECT 1 FROM public.migration_projects mp
                                                   WHERE mp.id = migration_user_feedback.migration_project_id
                                                     AND mp.user_id = migration_user_feedback.user_id));
        CREATE POLICY migration_user_feedback_service_access ON public.migration_user_feedback FOR ALL USING (%s);

        CREATE POLICY migration_performance_metrics_service_access ON public.migration_performance_metrics FOR ALL USING (%s);

        %s
      ]]):format(sql_list(EVENT_TYPES), PHASES_SQL, OWNER, SERVICE, OWNER, SERVICE, SERVICE,
        updated_at_trigger("public.migration_performance_metrics")))
    end,
    verify = function(db) verify_tables(db, EXPECT.analytics) end,
    down = function(db) drop_tables(db, EXPECT.analytics) end,
  },

  phase "enterprise" {
    description = "organization_migration_config, organization_migration_customization, bulk_migration_jobs; FKs to organizations when it exists",
    up = function(db)
      db:exec(([[
        CREATE TABLE public.organization_migration_config (
          organization_id           uuid CONSTRAINT organization_migration_config_pkey PRIMARY KEY,
          soft_budget_seconds       integer NOT NULL DEFAULT 1800,
          hard_budget_seconds       integer NOT NULL DEFAULT 3600,
          max_concurrent_migrations integer NOT NULL DEFAULT 5,
          monthly_migration_limit   integer,  -- NULL: no limit
          support_channel           text NOT NULL DEFAULT 'email'
            CONSTRAINT organization_migration_config_support_channel_check
            CHECK (support_channel IN ('email', 'slack', 'dedicated_manager')),
          white_glove               boolean NOT NULL DEFAULT false,
          settings                  jsonb NOT NULL DEFAULT '{}'
            CONSTRAINT organization_migration_config_settings_check CHECK (jsonb_typeof(settings) = 'object'),
          created_at                timestamptz NOT NULL DEFAULT now(),
          updated_at                timestamptz NOT NULL DEFAULT now(),
          -- as migration_projects' ck_budget_positive and ck_budget_hierarchy
          CONSTRAINT organization_migration_config_budget_check
            CHECK (soft_budget_seconds > 0 AND soft_budget_seconds <= hard_budget_seconds),
          CONSTRAINT organization_migration_config_limits_check
            CHECK (max_concurrent_migrations > 0 AND monthly_migration_limit > 0)
        );

        CREATE TABLE public.organization_migration_customization (
          organization_id   uuid CONSTRAINT organization_migration_customization_pkey PRIMARY KEY,
          custom_prompts    jsonb NOT NULL DEFAULT '{}',  -- agent name → prompt
          integration_hooks jsonb NOT NULL DEFAULT '[]',  -- [{event, url}, …]
          options           jsonb NOT NULL DEFAULT '{}',
          created_at        timestamptz NOT NULL DEFAULT now(),
          updated_at        timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT organization_migration_customization_shape_check
            CHECK (jsonb_typeof(custom_prompts) = 'object' AND jsonb_typeof(integration_hooks) = 'array'
                   AND jsonb_typeof(options) = 'object')
        );

        CREATE TABLE public.bulk_migration_jobs (
          id                  uuid CONSTRAINT bulk_migration_jobs_pkey PRIMARY KEY DEFAULT gen_random_uuid(),
          organization_id     uuid NOT NULL,
          created_by          uuid NOT NULL CONSTRAINT bulk_migration_jobs_created_by_fkey REFERENCES auth.users (id),
          status              text NOT NULL DEFAULT 'queued'
            CONSTRAINT bulk_migration_jobs_status_check
            CHECK (status IN ('scheduled', 'queued', 'running', 'paused', 'completed', 'failed', 'cancelled')),
          source_urls         text[] NOT NULL
            CONSTRAINT bulk_migration_jobs_urls_check CHECK (cardinality(source_urls) BETWEEN 1 AND 1000),
          batch_size          integer NOT NULL DEFAULT 10,
          batch_delay_seconds integer NOT NULL DEFAULT 60,
          scheduled_at        timestamptz,
          completed_count     integer NOT NULL DEFAULT 0,
          failed_count        integer NOT NULL DEFAULT 0,
          notify              jsonb NOT NULL DEFAULT '{}',
          created_at          timestamptz NOT NULL DEFAULT now(),
          updated_at          timestamptz NOT NULL DEFAULT now(),
          completed_at        timestamptz,
          -- (not `batch_size BETWEEN 1 AND 100 AND …`: PostgreSQL stores that as a nested AND, which
          -- a dump and restore flattens, so the restored CHECK would read differently)
          CONSTRAINT bulk_migration_jobs_batch_check
            CHECK (batch_size >= 1 AND batch_size <= 100 AND batch_delay_seconds >= 0),
          CONSTRAINT bulk_migration_jobs_progress_check
            CHECK (completed_count >= 0 AND failed_count >= 0
                   AND completed_count + failed_count <= cardinality(source_urls))
        );
        CREATE INDEX idx_bulk_migration_jobs_organization ON public.bulk_migration_jobs (organization_id, created_at DESC);
        -- the scheduler's queue: what is due to start
        CREATE INDEX idx_bulk_migration_jobs_due ON public.bulk_migration_jobs (scheduled_at)
          WHERE status IN ('scheduled', 'queued');

        ALTER TABLE public.organization_migration_config ENABLE ROW LEVEL SECURITY;
        ALTER TABLE public.organization_migration_customization ENABLE ROW LEVEL SECURITY;
        ALTER TABLE public.bulk_migration_jobs ENABLE ROW LEVEL SECURITY;

        CREATE POLICY organization_migration_config_member_read ON public.organization_migration_config
          FOR SELECT USING (organization_id = %s);
        CREATE POLICY organization_migration_config_service_access ON public.organization_migration_config FOR ALL USING (%s);
        CREATE POLICY organization_migration_customization_member_read ON public.organization_migration_customization
          FOR SELECT USING (organization_id = %s);
        CREATE POLICY organization_migration_customization_service_access ON public.organization_migration_customization
          FOR ALL USING (%s);
        CREATE POLICY bulk_migration_jobs_member_read ON public.bulk_migration_jobs
          FOR SELECT USING (organization_id = %s);
        CREATE POLICY bulk_migration_jobs_service_access ON public.bulk_migration_jobs FOR ALL USING (%s);

        %s
        %s
        %s
      ]]):format(ORGANIZATION, SERVICE, ORGANIZATION, SERVICE, ORGANIZATION, SERVICE,
        updated_at_trigger("public.organization_migration_config"),
        updated_at_trigger("public.organization_migration_customization"),
        updated_at_trigger("public.bulk_migration_jobs")))

      -- The conditional foreign keys: only where the platform has organizations. The tables are
      -- new and empty, so each is validated at once; organizations gets SHARE ROW EXCLUSIVE
      -- until the phase commits.
      if db:value "SELECT to_regclass('public.organizations') IS NOT NULL" then
        for _, fk in ipairs(ORG_FKS) do
          db:exec(("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (organization_id) REFERENCES public.organizations (id) ON DELETE CASCADE")
            :format(fk[1], fk[2]))
        end
        print("organizations exists: organization_id references organizations(id) in " .. #ORG_FKS .. " tables")
      else
        print("no table organizations: organization_id has no foreign key (add them once organizations exists)")
      end
    end,
    verify = function(db)
      verify_tables(db, EXPECT.enterprise)
      local has_orgs = db:value "SELECT to_regclass('public.organizations') IS NOT NULL"
      for _, fk in ipairs(ORG_FKS) do
        if has_orgs then
          check.fk_ok(db, fk[1], "organization_id", "public.organizations", "id")
        else
          check.sql(db, "SELECT NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = $1::regclass AND conname = $2)",
            fk[2] .. " exists although organizations does not", fk[1], fk[2])
        end
      end
    end,
    down = function(db) drop_tables(db, EXPECT.enterprise) end,
  },

  phase "verification" {
    description = "migration_verification_attempts, migration_domain_providers",
    up = function(db)
      db:exec(([[
        CREATE TABLE public.migration_verification_attempts (
          id                   uuid CONSTRAINT migration_verification_attempts_pkey PRIMARY KEY DEFAULT gen_random_uuid(),
          migration_project_id uuid NOT NULL
            CONSTRAINT migration_verification_attempts_migration_project_id_fkey REFERENCES public.migration_projects (id),
          method               text NOT NULL
            CONSTRAINT migration_verification_attempts_method_check
            CHECK (method IN ('dns_txt', 'dns_cname', 'file', 'meta_tag', 'skip')),  -- skip: development only
          provider             text,  -- the DNS provider detected (migration_domain_providers)
          status               text NOT NULL DEFAULT 'pending',
          error                text,
          attempted_at         timestamptz NOT NULL DEFAULT now(),
          next_poll_at         timestamptz,  -- automated polling, with backoff
          -- a failure says why; only a pending attempt is polled
          CONSTRAINT migration_verification_attempts_status_check
            CHECK (status IN ('pending', 'verified', 'failed') AND (status <> 'failed' OR error IS NOT NULL)
                   AND (status = 'pending' OR next_poll_at IS NULL))
        );
        CREATE INDEX idx_migration_verification_attempts_project
          ON public.migration_verification_attempts (migration_project_id, attempted_at DESC);
        CREATE INDEX idx_migration_verification_attempts_poll
          ON public.migration_verification_attempts (next_poll_at) WHERE status = 'pending';

        CREATE TABLE public.migration_domain_providers (
          domain      text CONSTRAINT migration_domain_providers_pkey PRIMARY KEY,
          provider    text NOT NULL,
          nameservers text[] NOT NULL DEFAULT '{}',
          detected_at timestamptz NOT NULL DEFAULT now(),
          expires_at  timestamptz NOT NULL DEFAULT now() + interval '1 day',
          updated_at  timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT migration_domain_providers_domain_check
            CHECK (domain = lower(domain) AND domain ~ '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$'),
          CONSTRAINT migration_domain_providers_provider_check
            CHECK (provider IN ('cloudflare', 'namecheap', 'godaddy', 'route53', 'google', 'other'))
        );
        CREATE INDEX idx_migration_domain_providers_expires ON public.migration_domain_providers (expires_at);

        ALTER TABLE public.migration_verification_attempts ENABLE ROW LEVEL SECURITY;
        ALTER TABLE public.migration_domain_providers ENABLE ROW LEVEL SECURITY;

        CREATE POLICY migration_verification_attempts_owner_read ON public.migration_verification_attempts
          FOR SELECT USING (EXISTS (SELECT 1 FROM public.migration_projects mp
                                     WHERE mp.id = migration_verification_attempts.migration_project_id AND mp.user_id = %s));
        CREATE POLICY migration_verification_attempts_service_access ON public.migration_verification_attempts FOR ALL USING (%s);
        CREATE POLICY migration_domain_providers_service_access ON public.migration_domain_providers FOR ALL USING (%s);

        %s
      ]]):format(OWNER, SERVICE, SERVICE, updated_at_trigger("public.migration_domain_providers")))
    end,
    verify = function(db) verify_tables(db, EXPECT.verification) end,
    down = function(db) drop_tables(db, EXPECT.verification) end,
  },
}
