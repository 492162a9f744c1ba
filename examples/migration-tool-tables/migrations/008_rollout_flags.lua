-- Seed 004, part 8: the seed's "Feature Flags (Start Conservative)" and its canary, as weir
-- flags that the application reads with SELECT weir.flag_enabled(name, subject):
--
--   migration_sse_progress           on: "SSE updates (start enabled)"
--   migration_websocket_progress     off: "future enhancement only if bidirectional control needed"
--   migration_advanced_retry         off: "gate until metrics clean"
--   migration_builder_compatibility  off: "gate behind flag"
--   migration_project_creation       on for 10 % of users: "Auto-project creation (canary 10%)".
--                                    A user's bucket is a hash of flag and user id, so the same
--                                    users stay in, and stay in as the percentage grows.
--   migration_enterprise_features    off: "Enterprise-only features"
--
--   flags         defines them; a flag that exists keeps the state someone gave it (flags.define
--                 never changes one), so `up` again after `down` does not undo a rollout or a
--                 rollback. `down` leaves them defined, in whatever state they are: they are
--                 operational state with an audit trail (weir.flag_history), not schema.
--   canary_health migration_project_creation_health([window]): of the migrations whose project
--                 was created in the window (default 1 h), how many had their deployment fail
--                 (PROJECT_CREATED and DEPLOYMENT_FAILED in migration_analytics_events) — the
--                 seed's auto-rollback trigger "> 5 % in 1 h". canary_guard.lua reads it and
--                 turns migration_project_creation off when it is above 5 %.

local FLAGS = {
  { "migration_sse_progress", "SSE progress updates (start enabled)", enabled = true },
  { "migration_websocket_progress", "WebSocket progress updates (future: only if bidirectional control is needed)" },
  { "migration_advanced_retry", "enhanced error recovery (gated until base metrics are clean)" },
  { "migration_builder_compatibility", "builder optimization (gated)" },
  { "migration_project_creation", "automatic project creation (canary: 10 % of users, auto-rollback above 5 % failed deployments in 1 h)",
    enabled = true, percent = 10 },
  { "migration_enterprise_features", "enterprise-only features" },
}

return migration "008_rollout_flags" {
  description = "seed 004: the rollout flags (project creation as a 10 % canary) and the canary's health function",

  phase "flags" {
    description = "define the six flags; migration_project_creation on for 10 % of users",
    up = function(db)
      local created, kept = {}, {}
      for _, f in ipairs(FLAGS) do
        if flags.define(db, f[1], { description = f[2] }) then
          if f.enabled then flags.enable(db, f[1]) end
          if f.percent then flags.set_percent(db, f[1], f.percent) end
          created[#created + 1] = f[1] .. (f.percent and (" (" .. f.percent .. " %)") or f.enabled and " (on)" or " (off)")
        else
          kept[#kept + 1] = f[1]
        end
      end
      print("flags: defined " .. (#created > 0 and table.concat(created, ", ") or "none") ..
        (#kept > 0 and ("; kept as they are: " .. table.concat(kept, ", ")) or ""))
    end,
    verify = function(db)
      local have = {}
      for _, f in ipairs(flags.list(db)) do have[f.name] = true end
      for _, f in ipairs(FLAGS) do
        if not have[f[1]] then return false, "flag " .. f[1] .. " is not defined" end
      end
      return true
    end,
    down = function() end,
  },

  phase "canary_health" {
    description = "migration_project_creation_health(window): created projects and failed deployments in the window",
    up = function(db)
      db:exec [[
        CREATE FUNCTION public.migration_project_creation_health(p_window interval DEFAULT interval '1 hour',
                                                                 OUT created bigint, OUT deploy_failed bigint,
                                                                 OUT failed_percent numeric)
          LANGUAGE sql
          STABLE
          SET search_path = pg_catalog, public
        AS $$
          WITH projects_created AS (
            SELECT DISTINCT migration_project_id FROM public.migration_analytics_events
             WHERE event_type = 'PROJECT_CREATED' AND created_at >= now() - p_window
          )
          SELECT count(*),
                 count(*) FILTER (WHERE EXISTS (SELECT 1 FROM public.migration_analytics_events f
                                                 WHERE f.migration_project_id = projects_created.migration_project_id
                                                   AND f.event_type = 'DEPLOYMENT_FAILED'
                                                   AND f.created_at >= now() - p_window)),
                 round(100.0 * count(*) FILTER (WHERE EXISTS (SELECT 1 FROM public.migration_analytics_events f
                                                               WHERE f.migration_project_id = projects_created.migration_project_id
                                                                 AND f.event_type = 'DEPLOYMENT_FAILED'
                                                                 AND f.created_at >= now() - p_window))
                       / nullif(count(*), 0), 2)
            FROM projects_created
        $$;
        REVOKE ALL ON FUNCTION public.migration_project_creation_health(interval) FROM PUBLIC;
        DO $$
        BEGIN
          IF to_regrole('anon') IS NOT NULL AND to_regrole('authenticated') IS NOT NULL THEN
            REVOKE ALL ON FUNCTION public.migration_project_creation_health(interval) FROM anon, authenticated;
          END IF;
          IF to_regrole('service_role') IS NOT NULL THEN
            GRANT EXECUTE ON FUNCTION public.migration_project_creation_health(interval) TO service_role;
          END IF;
        END $$;
      ]]
    end,
    verify = function(db)
      check.has_function(db, "public.migration_project_creation_health(interval)")
    end,
    down = function(db)
      db:exec "DROP FUNCTION public.migration_project_creation_health(interval)"
    end,
  },
}, { flags = FLAGS }
