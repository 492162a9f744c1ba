-- Seed 004, part 5: the expert review's fixes that are triggers ("Critical Fixes Applied" 1, 2
-- and 4):
--
--   seq_from_id     `seq` deprecated: "Use BIGSERIAL id as primary cursor, deprecated seq column".
--                   A BEFORE INSERT trigger sets migration_events.seq to the row's id, so writers
--                   no longer supply it and nobody computes MAX(seq)+1 (the race the review
--                   found: two writers reading the same MAX and colliding, or waiting on each
--                   other's uncommitted key). id comes from the identity sequence, which never
--                   hands out a value twice, so seq stays unique and increasing per migration
--                   without any reader or writer waiting. A seq a writer still supplies is
--                   replaced (its own number could collide with a later id); the column keeps
--                   NOT NULL, its UNIQUE (migration_project_id, seq) and a COMMENT saying it is
--                   deprecated. Readers use id (the cursor index of 002).
--   updated_at      set_updated_at() and a BEFORE UPDATE trigger on each existing table with an
--                   updated_at column (migration_projects, migration_jobs); 006 adds the
--                   triggers of its new tables. A set_updated_at() the database already has is
--                   used as it is, and left in place by `down`.
--   budget_trigger  BUDGET_NEAR_LIMIT: an AFTER UPDATE trigger on migration_projects that emits
--                   one 'metric' event into migration_events when ai_time_consumed_seconds
--                   crosses 90 % of soft_budget_seconds ("only emit on threshold crossing (90 %
--                   soft budget)"): its WHEN clause compares OLD with NEW, so updates below or
--                   already above the threshold run no function at all (the review's
--                   "hot-spotting" of a BEFORE UPDATE trigger that inserted on every update).
--
-- All three are transactional: CREATE TRIGGER takes SHARE ROW EXCLUSIVE on its table until the
-- phase commits (writes wait milliseconds; weir.lua's lock_timeout keeps it from queueing
-- behind a long transaction).

local SEQ_COMMENT = "Deprecated: assigned from id by trigger migration_events_seq_from_id; use id as the cursor."

local UPDATED_AT_TABLES = { "public.migration_projects", "public.migration_jobs" }

local function trigger_name(tbl) return tbl:gsub("^public%.", "") .. "_set_updated_at" end

return migration "005_events_seq_triggers" {
  description = "seed 004: seq deprecated (assigned from id), set_updated_at() triggers, the 90 % budget-threshold event",

  phase "seq_from_id" {
    description = "migration_events.seq assigned from id by a BEFORE INSERT trigger (writers need not supply it)",
    up = function(db)
      -- seq = id from now on must not meet a seq written before: every existing seq must be at
      -- most the identity sequence's last value (true when writers numbered from 1; a writer
      -- that numbered from elsewhere needs the sequence moved past it first)
      local sequence = db:value "SELECT pg_get_serial_sequence('public.migration_events', 'id')"
      local max_seq = db:value "SELECT max(seq) FROM public.migration_events"
      -- the last id handed out (0 before the first)
      local last_id = db:value("SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM " .. sequence)
      if not db.isnull(max_seq) and max_seq > last_id then
        error(("migration_events: existing seq values reach %d, beyond the last id handed out (%d): seq = id could repeat one. " ..
          "Move the sequence past them first: SELECT setval('%s', %d);"):format(max_seq, last_id, sequence, max_seq), 0)
      end
      db:exec [[
        CREATE FUNCTION public.migration_events_seq_from_id() RETURNS trigger
          LANGUAGE plpgsql
          SET search_path = pg_catalog, public
        AS $$
        BEGIN
          NEW.seq := NEW.id;  -- the identity value, assigned before BEFORE triggers run
          RETURN NEW;
        END $$;
        CREATE TRIGGER migration_events_seq_from_id
          BEFORE INSERT ON public.migration_events
          FOR EACH ROW EXECUTE FUNCTION public.migration_events_seq_from_id();
      ]]
      db:exec("COMMENT ON COLUMN public.migration_events.seq IS " .. db:quote_literal(SEQ_COMMENT))
    end,
    verify = function(db)
      check.has_function(db, "public.migration_events_seq_from_id()")
      check.has_trigger(db, "public.migration_events", "migration_events_seq_from_id")
      check.sql(db, [[SELECT col_description(attrelid, attnum) = $1 FROM pg_attribute
                       WHERE attrelid = 'public.migration_events'::regclass AND attname = 'seq']],
        "migration_events.seq has no deprecation comment", SEQ_COMMENT)
    end,
    down = function(db)
      db:exec [[
        DROP TRIGGER migration_events_seq_from_id ON public.migration_events;
        DROP FUNCTION public.migration_events_seq_from_id();
        COMMENT ON COLUMN public.migration_events.seq IS NULL;
      ]]
    end,
  },

  phase "updated_at" {
    description = "set_updated_at() and BEFORE UPDATE triggers on migration_projects and migration_jobs",
    up = function(db)
      if db:value "SELECT to_regprocedure('public.set_updated_at()') IS NULL" then
        db:exec [[
          CREATE FUNCTION public.set_updated_at() RETURNS trigger
            LANGUAGE plpgsql
            SET search_path = pg_catalog
          AS $$
          BEGIN
            NEW.updated_at := now();
            RETURN NEW;
          END $$;
        ]]
        weir.checkpoint("created_function", true)
      else
        print("set_updated_at(): the database has one already; using it")
      end
      for _, t in ipairs(UPDATED_AT_TABLES) do
        db:exec(("CREATE TRIGGER %s BEFORE UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION public.set_updated_at()"):format(
          trigger_name(t), t))
      end
    end,
    verify = function(db)
      check.has_function(db, "public.set_updated_at()")
      for _, t in ipairs(UPDATED_AT_TABLES) do check.has_trigger(db, t, trigger_name(t)) end
    end,
    down = function(db)
      for i = #UPDATED_AT_TABLES, 1, -1 do
        local t = UPDATED_AT_TABLES[i]
        db:exec(("DROP TRIGGER %s ON %s"):format(trigger_name(t), t))
      end
      -- only the function this phase created; RESTRICT: refuses while another trigger uses it
      if weir.checkpoint("created_function") then db:exec "DROP FUNCTION public.set_updated_at()" end
    end,
  },

  phase "budget_trigger" {
    description = "AFTER UPDATE trigger: one BUDGET_NEAR_LIMIT event when consumption crosses 90 % of the soft budget",
    requires = { "seq_from_id" },  -- the event it writes leaves seq to the trigger
    up = function(db)
      db:exec [[
        -- SECURITY DEFINER: the event is written whoever updates the row (the owner's session
        -- under RLS, or the service); the function does nothing else.
        CREATE FUNCTION public.migration_projects_budget_near_limit() RETURNS trigger
          LANGUAGE plpgsql
          SECURITY DEFINER
          SET search_path = pg_catalog, public
        AS $$
        BEGIN
          INSERT INTO public.migration_events (migration_project_id, type, payload)
          VALUES (NEW.id, 'metric', jsonb_build_object(
            'event', 'BUDGET_NEAR_LIMIT',
            'ai_time_consumed_seconds', NEW.ai_time_consumed_seconds,
            'soft_budget_seconds', NEW.soft_budget_seconds,
            'hard_budget_seconds', NEW.hard_budget_seconds,
            'threshold_percent', 90));
          RETURN NULL;
        END $$;
        REVOKE ALL ON FUNCTION public.migration_projects_budget_near_limit() FROM PUBLIC;

        -- Fires only on the crossing: below 90 % before, at or above it after (bigint: no
        -- overflow for any integer budget).
        CREATE TRIGGER migration_projects_budget_near_limit
          AFTER UPDATE OF ai_time_consumed_seconds, soft_budget_seconds ON public.migration_projects
          FOR EACH ROW
          WHEN (OLD.ai_time_consumed_seconds::bigint * 10 < OLD.soft_budget_seconds::bigint * 9
                AND NEW.ai_time_consumed_seconds::bigint * 10 >= NEW.soft_budget_seconds::bigint * 9)
          EXECUTE FUNCTION public.migration_projects_budget_near_limit();
      ]]
    end,
    verify = function(db)
      check.has_function(db, "public.migration_projects_budget_near_limit()")
      check.has_trigger(db, "public.migration_projects", "migration_projects_budget_near_limit")
      check.sql(db, [[SELECT tgtype & 2 = 0 FROM pg_trigger  -- not BEFORE: AFTER
                       WHERE tgrelid = 'public.migration_projects'::regclass AND tgname = 'migration_projects_budget_near_limit']],
        "migration_projects_budget_near_limit is not an AFTER trigger")
    end,
    down = function(db)
      db:exec [[
        DROP TRIGGER migration_projects_budget_near_limit ON public.migration_projects;
        DROP FUNCTION public.migration_projects_budget_near_limit();
      ]]
    end,
  },
}
