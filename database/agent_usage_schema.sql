-- =============================================================================
-- NexusCRM agent-usage schema for PostgreSQL (hand-written mirror of Alembic 0001-0007)
-- =============================================================================
--
-- What this is
--   The schema that `nexus-crm db upgrade` creates on PostgreSQL (Alembic revisions
--   0001 to 0007, src/nexus_crm/migrations/versions/), written out as
--   plain SQL for people who bootstrap a database by hand or in Supabase's SQL
--   editor, plus the SQL functions (not in the migration)
--   calculate_usage_percentage(), "how much of their plan has this customer
--   used?", and detect_usage_anomalies(), "whose use of which agent was unusual
--   on a day?", inside the database.
--
--   The migrations stay the source of truth. tests/test_schema_sql.py applies this
--   file to an empty database and checks that tables, columns, types, defaults,
--   nullability, keys and indexes equal those of a migrated database, and that the
--   functions give exactly the answers of the Python engine.
--
-- How to run it
--     psql -v ON_ERROR_STOP=1 -d nexus_crm -f database/agent_usage_schema.sql
--   or paste it into Supabase's SQL editor. Objects are created in the first schema
--   of the search_path (normally `public`).
--
-- Idempotent
--   Everything is IF NOT EXISTS / OR REPLACE / ON CONFLICT DO NOTHING, and the
--   whole file is one transaction: running it again, or on a database already
--   migrated by Alembic, changes nothing except (re)creating the functions, the
--   view and the policies of the Row Level Security section (at the end). It never
--   alters an existing table beyond adding the columns a later migration added
--   (ADD COLUMN IF NOT EXISTS), so that a database bootstrapped by an older copy of
--   this file is brought to the current revision; a table that exists with another
--   shape is otherwise left as it is.
--
-- Supabase note
--   Supabase exposes tables and functions of `public` through its Data API to the
--   `anon` and `authenticated` roles unless Row Level Security is enabled or the
--   grants are revoked. The last section of this file (not in the migrations) does
--   it: RLS on every table, service_role full access, authenticated reads
--   non-personal analytics only, anon nothing (tests/security/test_rls.py). It
--   creates those three roles when they are missing (plain PostgreSQL).
-- =============================================================================

BEGIN;

-- Second runs would print a NOTICE per existing object; keep the output to what matters.
SET LOCAL client_min_messages = warning;

-- -----------------------------------------------------------------------------
-- agent_usage_events: one row per usage event received from GENESIS.
-- Ingestion is idempotent on event_id (unique). `day` is the event's calendar day
-- in the service's configured time zone (NEXUS_CRM_TIMEZONE), fixed at
-- ingest time.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS agent_usage_events (
    id                  uuid                     NOT NULL,
    event_id            varchar(128)             NOT NULL,
    user_id             varchar(128)             NOT NULL,
    agent_id            varchar(64)              NOT NULL,
    session_id          varchar(128)             NOT NULL,
    tokens_used         bigint                   NOT NULL,
    response_time_ms    integer                  NOT NULL,
    subscription_tier   varchar(32)              NOT NULL,
    occurred_at         timestamptz              NOT NULL,
    day                 date                     NOT NULL,
    received_at         timestamptz              NOT NULL,
    metadata            jsonb                    NOT NULL,
    CONSTRAINT pk_agent_usage_events PRIMARY KEY (id),
    CONSTRAINT uq_agent_usage_events_event_id UNIQUE (event_id)
);
CREATE INDEX IF NOT EXISTS ix_agent_usage_events_occurred_at
    ON agent_usage_events (occurred_at);
CREATE INDEX IF NOT EXISTS ix_agent_usage_events_user_id_occurred_at
    ON agent_usage_events (user_id, occurred_at);

-- -----------------------------------------------------------------------------
-- agent_usage_daily: day x user x agent totals, incremented on ingest; every read
-- (insights, usage against limits, the function below) sums these rows.
-- The rt_* columns are a non-cumulative histogram of response times: rt_le_N
-- counts interactions with (previous bound) < ms <= N; rt_gt_60000 the rest.
-- The default is written '0' (a string literal), as Alembic renders it, so that
-- the catalog shows the same default as on a migrated database.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS agent_usage_daily (
    day                     date             NOT NULL,
    user_id                 varchar(128)     NOT NULL,
    agent_id                varchar(64)      NOT NULL,
    interactions            bigint           NOT NULL,
    tokens                  bigint           NOT NULL,
    response_time_sum_ms    bigint           NOT NULL,
    response_time_max_ms    integer          NOT NULL,
    rt_le_50                bigint           NOT NULL DEFAULT '0',
    rt_le_100               bigint           NOT NULL DEFAULT '0',
    rt_le_150               bigint           NOT NULL DEFAULT '0',
    rt_le_200               bigint           NOT NULL DEFAULT '0',
    rt_le_250               bigint           NOT NULL DEFAULT '0',
    rt_le_300               bigint           NOT NULL DEFAULT '0',
    rt_le_400               bigint           NOT NULL DEFAULT '0',
    rt_le_500               bigint           NOT NULL DEFAULT '0',
    rt_le_650               bigint           NOT NULL DEFAULT '0',
    rt_le_800               bigint           NOT NULL DEFAULT '0',
    rt_le_1000              bigint           NOT NULL DEFAULT '0',
    rt_le_1250              bigint           NOT NULL DEFAULT '0',
    rt_le_1500              bigint           NOT NULL DEFAULT '0',
    rt_le_2000              bigint           NOT NULL DEFAULT '0',
    rt_le_2500              bigint           NOT NULL DEFAULT '0',
    rt_le_3000              bigint           NOT NULL DEFAULT '0',
    rt_le_4000              bigint           NOT NULL DEFAULT '0',
    rt_le_5000              bigint           NOT NULL DEFAULT '0',
    rt_le_6500              bigint           NOT NULL DEFAULT '0',
    rt_le_8000              bigint           NOT NULL DEFAULT '0',
    rt_le_10000             bigint           NOT NULL DEFAULT '0',
    rt_le_15000             bigint           NOT NULL DEFAULT '0',
    rt_le_20000             bigint           NOT NULL DEFAULT '0',
    rt_le_30000             bigint           NOT NULL DEFAULT '0',
    rt_le_60000             bigint           NOT NULL DEFAULT '0',
    rt_gt_60000             bigint           NOT NULL DEFAULT '0',
    first_at                timestamptz      NOT NULL,
    last_at                 timestamptz      NOT NULL,
    CONSTRAINT pk_agent_usage_daily PRIMARY KEY (day, user_id, agent_id)
);
CREATE INDEX IF NOT EXISTS ix_agent_usage_daily_user_id_day
    ON agent_usage_daily (user_id, day);
CREATE INDEX IF NOT EXISTS ix_agent_usage_daily_agent_id_day
    ON agent_usage_daily (agent_id, day);

-- -----------------------------------------------------------------------------
-- usage_alerts: alerts and their lifecycle (active -> acknowledged -> resolved /
-- dismissed; snoozed_until hides an alert for a while).
-- At most one *open* alert per (type, subject, period): the partial unique index
-- uq_usage_alerts_open enforces it, so an alert is raised again only after the
-- previous one was resolved or dismissed.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS usage_alerts (
    id              uuid             NOT NULL,
    alert_type      varchar(40)      NOT NULL,
    severity        varchar(16)      NOT NULL,
    status          varchar(16)      NOT NULL,
    subject         varchar(200)     NOT NULL,
    user_id         varchar(128),
    agent_id        varchar(64),
    period_key      varchar(32)      NOT NULL,
    title           varchar(200)     NOT NULL,
    message         text             NOT NULL,
    data            jsonb            NOT NULL,
    created_at      timestamptz      NOT NULL,
    updated_at      timestamptz      NOT NULL,
    snoozed_until   timestamptz,
    resolved_at     timestamptz,
    acknowledged_at timestamptz,
    dismissed_at    timestamptz,
    CONSTRAINT pk_usage_alerts PRIMARY KEY (id)
);
-- Added by revision 0002: a table created by the 0001 version of this file gets them
-- here (at the end, where the migration's ALTER TABLE puts them too).
ALTER TABLE usage_alerts ADD COLUMN IF NOT EXISTS acknowledged_at timestamptz;
ALTER TABLE usage_alerts ADD COLUMN IF NOT EXISTS dismissed_at timestamptz;
CREATE INDEX IF NOT EXISTS ix_usage_alerts_status_created_at
    ON usage_alerts (status, created_at);
CREATE INDEX IF NOT EXISTS ix_usage_alerts_user_id
    ON usage_alerts (user_id);
CREATE UNIQUE INDEX IF NOT EXISTS uq_usage_alerts_open
    ON usage_alerts (alert_type, subject, period_key)
    WHERE status IN ('active', 'acknowledged');

-- -----------------------------------------------------------------------------
-- usage_alert_events: every transition of an alert (raised, acknowledged, resolved,
-- dismissed, snoozed) with who did it (actor: key:<prefix>, cli or system), when,
-- and an optional note. from_status is NULL for "raised"; snoozed_until is set for
-- a snooze. Deleting an alert deletes its history.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS usage_alert_events (
    id              uuid             NOT NULL,
    alert_id        uuid             NOT NULL,
    action          varchar(16)      NOT NULL,
    from_status     varchar(16),
    to_status       varchar(16)      NOT NULL,
    actor           varchar(200)     NOT NULL,
    note            text,
    snoozed_until   timestamptz,
    at              timestamptz      NOT NULL,
    CONSTRAINT pk_usage_alert_events PRIMARY KEY (id),
    CONSTRAINT fk_usage_alert_events_alert_id_usage_alerts FOREIGN KEY (alert_id)
        REFERENCES usage_alerts (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS ix_usage_alert_events_alert_id_at
    ON usage_alert_events (alert_id, at);

-- -----------------------------------------------------------------------------
-- agent_usage_hourly: hour x agent totals over all customers, incremented on
-- ingest (hour = the UTC start of the hour); same rt_* histogram as the daily table.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS agent_usage_hourly (
    hour                    timestamptz      NOT NULL,
    agent_id                varchar(64)      NOT NULL,
    interactions            bigint           NOT NULL,
    tokens                  bigint           NOT NULL,
    response_time_sum_ms    bigint           NOT NULL,
    response_time_max_ms    integer          NOT NULL,
    rt_le_50                bigint           NOT NULL DEFAULT '0',
    rt_le_100               bigint           NOT NULL DEFAULT '0',
    rt_le_150               bigint           NOT NULL DEFAULT '0',
    rt_le_200               bigint           NOT NULL DEFAULT '0',
    rt_le_250               bigint           NOT NULL DEFAULT '0',
    rt_le_300               bigint           NOT NULL DEFAULT '0',
    rt_le_400               bigint           NOT NULL DEFAULT '0',
    rt_le_500               bigint           NOT NULL DEFAULT '0',
    rt_le_650               bigint           NOT NULL DEFAULT '0',
    rt_le_800               bigint           NOT NULL DEFAULT '0',
    rt_le_1000              bigint           NOT NULL DEFAULT '0',
    rt_le_1250              bigint           NOT NULL DEFAULT '0',
    rt_le_1500              bigint           NOT NULL DEFAULT '0',
    rt_le_2000              bigint           NOT NULL DEFAULT '0',
    rt_le_2500              bigint           NOT NULL DEFAULT '0',
    rt_le_3000              bigint           NOT NULL DEFAULT '0',
    rt_le_4000              bigint           NOT NULL DEFAULT '0',
    rt_le_5000              bigint           NOT NULL DEFAULT '0',
    rt_le_6500              bigint           NOT NULL DEFAULT '0',
    rt_le_8000              bigint           NOT NULL DEFAULT '0',
    rt_le_10000             bigint           NOT NULL DEFAULT '0',
    rt_le_15000             bigint           NOT NULL DEFAULT '0',
    rt_le_20000             bigint           NOT NULL DEFAULT '0',
    rt_le_30000             bigint           NOT NULL DEFAULT '0',
    rt_le_60000             bigint           NOT NULL DEFAULT '0',
    rt_gt_60000             bigint           NOT NULL DEFAULT '0',
    CONSTRAINT pk_agent_usage_hourly PRIMARY KEY (hour, agent_id)
);
CREATE INDEX IF NOT EXISTS ix_agent_usage_hourly_agent_id_hour
    ON agent_usage_hourly (agent_id, hour);

-- -----------------------------------------------------------------------------
-- usage_tier_limits: monthly limits and price of each subscription tier.
-- rank orders tiers (1 = cheapest; an upgrade goes to a higher rank). Prices are
-- in cents of `currency`. Editable with PUT /agent-usage/tiers/{tier}.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS usage_tier_limits (
    tier                    varchar(32)      NOT NULL,
    display_name            varchar(64)      NOT NULL,
    rank                    integer          NOT NULL,
    monthly_tokens          bigint           NOT NULL,
    monthly_interactions    bigint           NOT NULL,
    monthly_price_cents     integer          NOT NULL,
    currency                varchar(3)       NOT NULL,
    updated_at              timestamptz      NOT NULL,
    CONSTRAINT pk_usage_tier_limits PRIMARY KEY (tier),
    CONSTRAINT uq_usage_tier_limits_rank UNIQUE (rank)
);

-- The tiers shipped with NexusCRM (same values as the migration). Existing rows
-- win: limits edited since are kept, and a tier whose rank is already taken by
-- another tier is skipped rather than failing the script.
INSERT INTO usage_tier_limits
    (tier, display_name, rank, monthly_tokens, monthly_interactions,
     monthly_price_cents, currency, updated_at)
VALUES
    ('essential', 'Essential', 1,    200000,   1000,   2900, 'USD', now()),
    ('pro',       'Pro',       2,   1000000,   5000,   9900, 'USD', now()),
    ('elite',     'Elite',     3,   4000000,  20000,  29900, 'USD', now()),
    ('prime',     'PRIME',     4,  15000000,  75000,  79900, 'USD', now()),
    ('longevity', 'LONGEVITY', 5,  50000000, 250000, 199900, 'USD', now())
ON CONFLICT DO NOTHING;

-- -----------------------------------------------------------------------------
-- customers: GENESIS users with a subscription and their current state.
-- tier matches usage_tier_limits.tier (not a foreign key: a customer may be on a
-- tier whose limits are not configured yet). billing_anchor_day (1-31, NULL =
-- calendar month) is the day of month a billing period starts; state_at is when
-- tier/status last changed.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS customers (
    id                  uuid             NOT NULL,
    user_id             varchar(128)     NOT NULL,
    tier                varchar(32)      NOT NULL,
    status              varchar(16)      NOT NULL,
    email               varchar(320),
    name                varchar(200),
    billing_anchor_day  smallint,
    state_at            timestamptz      NOT NULL,
    created_at          timestamptz      NOT NULL,
    updated_at          timestamptz      NOT NULL,
    CONSTRAINT pk_customers PRIMARY KEY (id),
    CONSTRAINT uq_customers_user_id UNIQUE (user_id)
);

-- -----------------------------------------------------------------------------
-- subscription_changes: history of tier/status changes and where each came from
-- (source). Used for conversion rates and for training the churn model.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS subscription_changes (
    id              uuid             NOT NULL,
    user_id         varchar(128)     NOT NULL,
    from_tier       varchar(32),
    to_tier         varchar(32)      NOT NULL,
    from_status     varchar(16),
    to_status       varchar(16)      NOT NULL,
    changed_at      timestamptz      NOT NULL,
    recorded_at     timestamptz      NOT NULL,
    source          varchar(32)      NOT NULL,
    CONSTRAINT pk_subscription_changes PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS ix_subscription_changes_user_id_changed_at
    ON subscription_changes (user_id, changed_at);

-- -----------------------------------------------------------------------------
-- api_keys: API keys for scripts and NGX_Closer.Agent. Only a hash of the key is
-- stored (key_hash); prefix identifies a key in lists; scopes is a JSON array.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS api_keys (
    id              uuid             NOT NULL,
    name            varchar(100)     NOT NULL,
    prefix          varchar(16)      NOT NULL,
    key_hash        varchar(64)      NOT NULL,
    scopes          jsonb            NOT NULL,
    created_at      timestamptz      NOT NULL,
    revoked_at      timestamptz,
    CONSTRAINT pk_api_keys PRIMARY KEY (id),
    CONSTRAINT uq_api_keys_key_hash UNIQUE (key_hash)
);

-- -----------------------------------------------------------------------------
-- dashboard_users (revision 0003): people who log in to the dashboard. Only an
-- argon2id hash of the password is stored; role is admin, analyst or sales;
-- session_epoch grows on logout and voids every older session cookie (and JWT);
-- token_generation (revision 0006) moves on with every JWT login or refresh, so a
-- refresh token works once.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS dashboard_users (
    id              uuid             NOT NULL,
    email           varchar(254)     NOT NULL,
    password_hash   varchar(255)     NOT NULL,
    role            varchar(16)      NOT NULL,
    session_epoch   integer          NOT NULL,
    created_at      timestamptz      NOT NULL,
    last_login_at   timestamptz,
    disabled_at     timestamptz,
    token_generation integer         NOT NULL DEFAULT 0,
    CONSTRAINT pk_dashboard_users PRIMARY KEY (id),
    CONSTRAINT uq_dashboard_users_email UNIQUE (email)
);
ALTER TABLE dashboard_users
    ADD COLUMN IF NOT EXISTS token_generation integer NOT NULL DEFAULT 0;

-- -----------------------------------------------------------------------------
-- upsell_sequences (revision 0004): NGX_Closer upsell sequences (docs/upsell.md).
-- status: active -> converted | cancelled | replied | completed. At most one
-- *active* sequence per customer: the partial unique index enforces it.
-- automatic is true for sequences started by auto-upsell (no human).
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS upsell_sequences (
    id               uuid             NOT NULL,
    user_id          varchar(128)     NOT NULL,
    current_tier     varchar(32)      NOT NULL,
    recommended_tier varchar(32)      NOT NULL,
    reason           varchar(500)     NOT NULL,
    status           varchar(16)      NOT NULL,
    automatic        boolean          NOT NULL,
    alert_id         uuid,
    created_by       varchar(200)     NOT NULL,
    created_at       timestamptz      NOT NULL,
    updated_at       timestamptz      NOT NULL,
    ended_at         timestamptz,
    CONSTRAINT pk_upsell_sequences PRIMARY KEY (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS uq_upsell_sequences_active
    ON upsell_sequences (user_id)
    WHERE status = 'active';
CREATE INDEX IF NOT EXISTS ix_upsell_sequences_user_id
    ON upsell_sequences (user_id);
CREATE INDEX IF NOT EXISTS ix_upsell_sequences_status_created_at
    ON upsell_sequences (status, created_at);

-- -----------------------------------------------------------------------------
-- upsell_steps (revision 0004): the messages of a sequence (initial, follow_up,
-- last_offer) and their delivery: scheduled -> sending -> sent | failed, or
-- skipped when the sequence ends first. next_attempt_at is when a worker may
-- claim the step (the due time, moved on by retries); message_id is the
-- idempotency key sent with the message (webhook-id, Message-ID).
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS upsell_steps (
    id               uuid             NOT NULL,
    sequence_id      uuid             NOT NULL,
    step_index       smallint         NOT NULL,
    kind             varchar(16)      NOT NULL,
    channel          varchar(16)      NOT NULL,
    due_at           timestamptz      NOT NULL,
    next_attempt_at  timestamptz      NOT NULL,
    status           varchar(16)      NOT NULL,
    attempts         integer          NOT NULL,
    message_id       varchar(64)      NOT NULL,
    claimed_at       timestamptz,
    sent_at          timestamptz,
    last_error       text,
    CONSTRAINT pk_upsell_steps PRIMARY KEY (id),
    CONSTRAINT uq_upsell_steps_sequence_id_step_index UNIQUE (sequence_id, step_index),
    CONSTRAINT fk_upsell_steps_sequence_id_upsell_sequences FOREIGN KEY (sequence_id)
        REFERENCES upsell_sequences (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS ix_upsell_steps_status_next_attempt_at
    ON upsell_steps (status, next_attempt_at);

-- -----------------------------------------------------------------------------
-- upsell_sequence_events (revision 0004): the audit trail of every sequence:
-- started, cancelled, replied, converted, completed, with the actor (key:<prefix>,
-- user:<email>, system, system:auto-upsell), the time, a note and whether the
-- action was automatic.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS upsell_sequence_events (
    id               uuid             NOT NULL,
    sequence_id      uuid             NOT NULL,
    action           varchar(16)      NOT NULL,
    from_status      varchar(16),
    to_status        varchar(16)      NOT NULL,
    actor            varchar(200)     NOT NULL,
    automatic        boolean          NOT NULL,
    note             text,
    at               timestamptz      NOT NULL,
    CONSTRAINT pk_upsell_sequence_events PRIMARY KEY (id),
    CONSTRAINT fk_upsell_sequence_events_sequence_id_upsell_sequences FOREIGN KEY (sequence_id)
        REFERENCES upsell_sequences (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS ix_upsell_sequence_events_sequence_id_at
    ON upsell_sequence_events (sequence_id, at);

-- -----------------------------------------------------------------------------
-- audit_log (revision 0005): the append-only record of every mutation — alert
-- transitions, sequence actions, tier-limit edits, key and user changes, privacy
-- exports and erasures, automatic actions — with the actor (user:<email>,
-- key:<prefix>, system:<component>), the time, the action (area.verb), the target
-- (kind:id), the source IP and details. A trigger refuses UPDATE and DELETE.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS audit_log (
    id          uuid             NOT NULL,
    at          timestamptz      NOT NULL,
    actor       varchar(200)     NOT NULL,
    action      varchar(64)      NOT NULL,
    target      varchar(300)     NOT NULL,
    source_ip   varchar(64),
    details     jsonb            NOT NULL,
    CONSTRAINT pk_audit_log PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS ix_audit_log_at ON audit_log (at);
CREATE INDEX IF NOT EXISTS ix_audit_log_actor_at ON audit_log (actor, at);
CREATE INDEX IF NOT EXISTS ix_audit_log_action_at ON audit_log (action, at);

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE OR REPLACE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- -----------------------------------------------------------------------------
-- privacy_erasures (revision 0007): customers erased on request (GDPR/CCPA),
-- known only by subject_hash = HMAC-SHA256(user_id) under a key derived from
-- SESSION_SECRET (never the id itself). Events GENESIS sends again for an erased
-- customer are answered as suppressed and not stored until a new subscription
-- (resubscribed_at); from then on, events that happened at or after it are stored.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS privacy_erasures (
    id               uuid             NOT NULL,
    subject_hash     varchar(64)      NOT NULL,
    erased_at        timestamptz      NOT NULL,
    resubscribed_at  timestamptz,
    CONSTRAINT pk_privacy_erasures PRIMARY KEY (id),
    CONSTRAINT uq_privacy_erasures_subject_hash UNIQUE (subject_hash)
);

-- -----------------------------------------------------------------------------
-- alembic_version: tells `nexus-crm db upgrade` which migration this database is
-- at, so that a database bootstrapped by this file counts as migrated and later
-- migrations apply on top of it.
--
-- !! Bump '0007' below whenever a new migration is added (and add the previous
-- !! head to the UPDATE), and update this file with what that migration creates
-- !! (tests/test_schema_sql.py fails until both are done).
--
-- A database this file bootstrapped at an older revision (0001 to 0006) now has
-- what 0002 to 0007 add, so its stamp moves to '0007'. Otherwise the row is
-- only written into an empty table: a database already stamped (by Alembic, perhaps at a newer
-- revision) keeps its revision. A second row would make Alembic see two heads.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS alembic_version (
    version_num varchar(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
UPDATE alembic_version SET version_num = '0007'
    WHERE version_num IN ('0001', '0002', '0003', '0004', '0005', '0006');
INSERT INTO alembic_version (version_num)
SELECT '0007'
WHERE NOT EXISTS (SELECT 1 FROM alembic_version)
ON CONFLICT DO NOTHING;

-- -----------------------------------------------------------------------------
-- calculate_usage_percentage(user_id, as_of, timezone)
--
-- The same number as nexus_crm.analytics.service.calculate_usage_percentage:
--
--   1. today  = the calendar date of p_as_of in p_timezone (an IANA name such as
--               'UTC' or 'Asia/Tokyo'; nexus_crm.kit.time.local_day).
--   2. period = [start, end) of the billing period containing today
--               (nexus_crm.kit.time.billing_period):
--               anchor = customers.billing_anchor_day, or 1 when NULL (calendar
--               month); anchored(month) = that month's anchor day, clamped to the
--               month's last day (31 -> 30 Apr, 28/29 Feb);
--               start = anchored(today's month), or anchored(previous month) when
--               that is after today; end = anchored(month after start's month).
--   3. tokens, interactions = sums over agent_usage_daily of the customer's rows
--               with start <= day < end (0 when none). `day` is the local date
--               chosen at ingest (in the service's configured zone); only the
--               period boundaries depend on p_timezone.
--   4. result = greatest(100.0 * tokens / monthly_tokens,
--                        100.0 * interactions / monthly_interactions)
--               in double precision, evaluated in this order (multiply, then
--               divide) as Python does, so both give the same bits; not rounded.
--
-- NULL for an unknown customer, a customer whose tier has no row in
-- usage_tier_limits, or a NULL argument (STRICT).
-- STABLE: reads tables, and now() is fixed within a transaction.
-- Its search_path is pinned (below, after CREATE) to the schema the tables were
-- created in, then pg_temp, so callers with another search_path read the same
-- tables and nobody can shadow them with objects of their own.
-- -----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION calculate_usage_percentage(
    p_user_id   text,
    p_as_of     timestamptz DEFAULT now(),
    p_timezone  text        DEFAULT 'UTC'
) RETURNS double precision
LANGUAGE plpgsql
STABLE
STRICT
AS $function$
DECLARE
    v_anchor                integer;
    v_monthly_tokens        bigint;
    v_monthly_interactions  bigint;
    v_today                 date;
    v_month                 date;     -- first day of a month
    v_start                 date;
    v_end                   date;
    v_tokens                numeric;  -- sum(bigint) is numeric: no overflow
    v_interactions          numeric;
BEGIN
    SELECT c.billing_anchor_day, t.monthly_tokens, t.monthly_interactions
      INTO v_anchor, v_monthly_tokens, v_monthly_interactions
      FROM customers AS c
      JOIN usage_tier_limits AS t ON t.tier = c.tier
     WHERE c.user_id = p_user_id;
    IF NOT FOUND THEN
        RETURN NULL;  -- unknown customer, or its tier has no limits
    END IF;

    -- Python: `anchor_day or 1` (NULL and 0 both mean the calendar month).
    v_anchor := coalesce(nullif(v_anchor, 0), 1);
    IF v_anchor < 1 THEN  -- Python's date() raises for these too
        RAISE EXCEPTION 'customer % has an invalid billing_anchor_day %', p_user_id, v_anchor
            USING ERRCODE = 'data_exception';
    END IF;

    v_today := (p_as_of AT TIME ZONE p_timezone)::date;

    -- anchored(m) = least(m + (anchor - 1) days, last day of m), for m = 1st of a month.
    v_month := date_trunc('month', v_today)::date;
    v_start := least(v_month + (v_anchor - 1), (v_month + interval '1 month')::date - 1);
    IF v_start > v_today THEN
        v_month := (v_month - interval '1 month')::date;
        v_start := least(v_month + (v_anchor - 1), (v_month + interval '1 month')::date - 1);
    END IF;
    v_month := (v_month + interval '1 month')::date;
    v_end := least(v_month + (v_anchor - 1), (v_month + interval '1 month')::date - 1);

    SELECT coalesce(sum(d.tokens), 0), coalesce(sum(d.interactions), 0)
      INTO v_tokens, v_interactions
      FROM agent_usage_daily AS d
     WHERE d.user_id = p_user_id
       AND d.day >= v_start
       AND d.day < v_end;

    RETURN greatest(
        100.0::double precision * v_tokens::double precision
            / v_monthly_tokens::double precision,
        100.0::double precision * v_interactions::double precision
            / v_monthly_interactions::double precision
    );
END;
$function$;

-- current_schema() is where the CREATE TABLEs above put the tables (`public` on
-- Supabase); ALTER FUNCTION ... SET needs a literal, hence the dynamic statement.
DO $pin$
BEGIN
    EXECUTE format(
        'ALTER FUNCTION calculate_usage_percentage(text, timestamptz, text) '
        'SET search_path = %I, pg_temp',
        current_schema()
    );
END
$pin$;

COMMENT ON FUNCTION calculate_usage_percentage(text, timestamptz, text) IS
'Usage percentage of a customer''s plan in the billing period containing p_as_of '
'(a local date in time zone p_timezone, an IANA name): greatest(100 * tokens / '
'monthly_tokens, 100 * interactions / monthly_interactions) over agent_usage_daily rows '
'with period_start <= day < period_end. The period is the calendar month, or runs from '
'customers.billing_anchor_day to the same day next month, clamped to short months. '
'Same value as nexus_crm.analytics.service.calculate_usage_percentage. NULL for an '
'unknown customer or a tier without limits in usage_tier_limits. '
'Example: SELECT calculate_usage_percentage(''cliente_123'', now(), ''America/Mexico_City'');';

-- -----------------------------------------------------------------------------
-- detect_usage_anomalies(day, baseline_days, min_history, threshold, min_excess,
--                        method, global_method)
--
-- The same rows as nexus_crm.analytics.anomalies.detect_anomalies for one day
-- (nexus_crm.analytics.anomaly_engine; docs/analytics.md, "Anomalies"):
--
--   series   = each customer x agent of agent_usage_daily, and each agent over
--              all customers (user_id NULL in the result), with use in
--              [p_day - p_baseline_days, p_day]; first use = its first day ever.
--   baseline = the days p_day - p_baseline_days ... p_day - 1 on or after the
--              first use, zero-filled; n = their number; judged if
--              n >= greatest(p_min_history, 1).
--   z        = (x - mean) / greatest(std, 1), std = population std computed as
--              sqrt(n * sum(x^2) - sum(x)^2) / n (exact integers, then one sqrt).
--   robust_z = (x - median) / greatest(spread, sqrt(median), 1);
--              median = percentile_cont(0.5), MAD = the median of |x - median|,
--              spread = 1.4826 * MAD, or 1.2533 * avg |x - median| when MAD = 0.
--   flagged  = |z| >= p_threshold and |x - mean| >= p_min_excess (plain),
--              |robust_z| >= p_threshold and |x - median| >= p_min_excess
--              (robust), or both; customer series by p_method, agents' global
--              series by p_global_method.
--   direction = 'spike' above the method's centre (mean for plain, else the
--              median), 'drop' below.
--
-- Every step is the Python engine's operation in the same order in double
-- precision, so z and robust_z are the same bits. The CTEs are MATERIALIZED so
-- that each series' first use is looked up once (inlined, the planner re-ran the
-- lookups for every joined row: 3 s instead of ~20 ms on 1,300 rows). STABLE; the search_path is
-- pinned as for calculate_usage_percentage.
-- -----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION detect_usage_anomalies(
    p_day            date,
    p_baseline_days  integer          DEFAULT 28,
    p_min_history    integer          DEFAULT 7,
    p_threshold      double precision DEFAULT 3.0,
    p_min_excess     double precision DEFAULT 5.0,
    p_method         text             DEFAULT 'robust',
    p_global_method  text             DEFAULT 'both'
) RETURNS TABLE (
    user_id          varchar,
    agent_id         varchar,
    day              date,
    observed         bigint,
    baseline_mean    double precision,
    baseline_std     double precision,
    z                double precision,
    robust_z         double precision,
    direction        text,
    baseline_median  double precision,
    baseline_mad     double precision,
    baseline_days    integer
)
LANGUAGE plpgsql
STABLE
STRICT
AS $function$
BEGIN
    IF p_method NOT IN ('plain', 'robust', 'both')
       OR p_global_method NOT IN ('plain', 'robust', 'both') THEN
        RAISE EXCEPTION 'method must be plain, robust or both (got %, %)',
            p_method, p_global_method USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_baseline_days < 1 THEN
        RAISE EXCEPTION 'p_baseline_days must be at least 1 (got %)', p_baseline_days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH windowed AS MATERIALIZED (  -- g: the agent's global series; u = '' stands for NULL there
        SELECT false AS g, d.user_id::text AS u, d.agent_id::text AS a, d.day AS dd,
               d.interactions::bigint AS n
          FROM agent_usage_daily AS d
         WHERE d.day BETWEEN p_day - p_baseline_days AND p_day
        UNION ALL
        SELECT true, '', d.agent_id::text, d.day, sum(d.interactions)::bigint
          FROM agent_usage_daily AS d
         WHERE d.day BETWEEN p_day - p_baseline_days AND p_day
         GROUP BY d.agent_id, d.day
    ), series AS MATERIALIZED (
        SELECT DISTINCT w.g, w.u, w.a FROM windowed AS w
    ), firsts AS MATERIALIZED (
        SELECT s.g, s.u, s.a,
               CASE WHEN s.g
                    THEN (SELECT min(d.day) FROM agent_usage_daily AS d WHERE d.agent_id = s.a)
                    ELSE (SELECT min(d.day) FROM agent_usage_daily AS d
                           WHERE d.user_id = s.u AND d.agent_id = s.a)
               END AS first_day
          FROM series AS s
    ), spans AS MATERIALIZED (
        SELECT f.g, f.u, f.a, greatest(p_day - p_baseline_days, f.first_day) AS start_day
          FROM firsts AS f
         WHERE f.first_day < p_day
           AND p_day - greatest(p_day - p_baseline_days, f.first_day)
               >= greatest(p_min_history, 1)
    ), filled AS MATERIALIZED (
        SELECT sp.g, sp.u, sp.a, coalesce(w.n, 0)::bigint AS n
          FROM spans AS sp
         CROSS JOIN LATERAL generate_series(0, p_day - 1 - sp.start_day) AS k(i)
          LEFT JOIN windowed AS w
            ON w.g = sp.g AND w.u = sp.u AND w.a = sp.a AND w.dd = sp.start_day + k.i
    ), stats AS MATERIALIZED (
        SELECT f.g, f.u, f.a, count(*) AS cnt, sum(f.n) AS total, sum(f.n * f.n) AS squares,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY f.n::double precision) AS med
          FROM filled AS f
         GROUP BY f.g, f.u, f.a
    ), mads AS (
        SELECT st.g, st.u, st.a,
               percentile_cont(0.5) WITHIN GROUP
                   (ORDER BY abs(f.n::double precision - st.med)) AS mad,
               sum(abs(f.n::double precision - st.med))
                   / st.cnt::double precision AS mean_ad
          FROM stats AS st
          JOIN filled AS f ON f.g = st.g AND f.u = st.u AND f.a = st.a
         GROUP BY st.g, st.u, st.a, st.med, st.cnt
    ), scored AS (
        SELECT st.g, st.u, st.a, st.cnt, st.med, m.mad,
               CASE WHEN m.mad > 0 THEN 1.4826::double precision * m.mad
                    ELSE 1.2533::double precision * m.mean_ad END AS spread,
               coalesce(w.n, 0)::bigint AS x,
               st.total::double precision / st.cnt::double precision AS mean,
               sqrt((st.cnt * st.squares - st.total * st.total)::double precision)
                   / st.cnt::double precision AS std,
               CASE WHEN st.g THEN p_global_method ELSE p_method END AS method
          FROM stats AS st
          JOIN mads AS m ON m.g = st.g AND m.u = st.u AND m.a = st.a
          LEFT JOIN windowed AS w ON w.g = st.g AND w.u = st.u AND w.a = st.a AND w.dd = p_day
    ), judged AS (
        SELECT sc.*,
               (sc.x::double precision - sc.mean) / greatest(sc.std, 1.0::double precision)
                   AS zz,
               (sc.x::double precision - sc.med)
                   / greatest(sc.spread, sqrt(sc.med), 1.0::double precision) AS rz
          FROM scored AS sc
    ), flagged AS (
        SELECT j.*,
               abs(j.zz) >= p_threshold
                   AND abs(j.x::double precision - j.mean) >= p_min_excess AS plain_ok,
               abs(j.rz) >= p_threshold
                   AND abs(j.x::double precision - j.med) >= p_min_excess AS robust_ok
          FROM judged AS j
    )
    SELECT CASE WHEN fl.g THEN NULL ELSE fl.u END::varchar,
           fl.a::varchar, p_day, fl.x, fl.mean, fl.std, fl.zz, fl.rz,
           CASE WHEN fl.x::double precision
                     > CASE WHEN fl.method = 'plain' THEN fl.mean ELSE fl.med END
                THEN 'spike' ELSE 'drop' END,
           fl.med, fl.mad, fl.cnt::integer
      FROM flagged AS fl
     WHERE CASE fl.method
               WHEN 'plain' THEN fl.plain_ok
               WHEN 'robust' THEN fl.robust_ok
               ELSE fl.plain_ok AND fl.robust_ok
           END
     ORDER BY fl.g DESC, fl.u COLLATE "C", fl.a COLLATE "C";
END;
$function$;

DO $pin$
BEGIN
    EXECUTE format(
        'ALTER FUNCTION detect_usage_anomalies(date, integer, integer, double precision, '
        'double precision, text, text) SET search_path = %I, pg_temp',
        current_schema()
    );
END
$pin$;

COMMENT ON FUNCTION detect_usage_anomalies(date, integer, integer, double precision,
    double precision, text, text) IS
'Anomalous days of usage: for p_day, each customer x agent series of agent_usage_daily '
'(and each agent over all customers, user_id NULL) against its trailing baseline of '
'p_baseline_days zero-filled days since its first use (judged with >= p_min_history). '
'z = (x - mean) / greatest(std, 1); robust_z = (x - median) / greatest(1.4826 * MAD '
'(or 1.2533 * mean |x - median| when MAD = 0), sqrt(median), 1); flagged at |z| >= p_threshold with |x - centre| >= p_min_excess by '
'p_method (plain, robust, both; agents'' series by p_global_method). Same rows as '
'nexus_crm.analytics.anomalies.detect_anomalies. '
'Example: SELECT * FROM detect_usage_anomalies(current_date - 1);';

-- =============================================================================
-- Row Level Security for Supabase (not in the migrations; tests/security/test_rls.py)
-- =============================================================================
--
-- Supabase's Data API (PostgREST) reaches the database as three roles: `anon`
-- (no login), `authenticated` (a logged-in Supabase user) and `service_role`
-- (a trusted backend). The promise:
--
--   service_role   full access to every table, by policies rather than BYPASSRLS,
--                  so it holds where the role lacks that flag too (audit_log stays
--                  append-only: its trigger refuses UPDATE and DELETE to everyone);
--   authenticated  SELECT on non-personal analytics only, and nothing else;
--   anon           nothing.
--
-- Non-personal analytics are data with no customer identifier in them:
--   usage_tier_limits           the plans' limits and prices;
--   agent_usage_hourly          hour x agent totals over all customers;
--   agent_usage_by_agent_daily  (a view, below) day x agent totals over all
--                               customers, from agent_usage_daily without user_id.
-- agent_usage_daily itself is personal: its user_id is a pseudonymous identifier
-- of a GENESIS customer, and pseudonymous data is personal data under the GDPR
-- (Recital 26); joined with customers it names a person. Everything else is
-- personal or secret too (emails and names, raw events with session ids and
-- metadata, alerts and their history, upsell sequences, steps and messages, API
-- key hashes, dashboard users' password hashes, the audit trail, privacy records)
-- or internal (alembic_version): service_role only.
--
-- How it is kept
--   * Every table of this file is in exactly one of the two lists below; a table
--     gets RLS enabled, no privilege for PUBLIC, anon or authenticated, ALL for
--     service_role and the policy service_role_all; a table of the analytics list
--     also gets SELECT and the policy authenticated_read for authenticated.
--     anon has no policy anywhere: with RLS enabled, no policy means no row.
--     ** A new table goes into one of the lists in the same change that adds it
--     ** to this file (tests/security/test_rls.py fails until it does). A listed
--     ** table that the file does not create (yet) is skipped.
--   * Only the tables listed are touched: other tables of a shared schema keep
--     their own grants and policies.
--   * The policies do not filter rows (USING true): no NexusCRM table maps a row
--     to a Supabase user (auth.uid()), so a role sees all rows of a table or none.
--     RLS keeps "none" true even after a GRANT given by mistake.
--   * The NexusCRM service connects as the tables' owner (DATABASE_URL) and is
--     not subject to RLS (not FORCEd); apply this file as that owner.
--   * Default privileges: tables, sequences and functions this role creates
--     later in the schema (e.g. by a future `nexus-crm db upgrade`, which does not
--     enable RLS) grant nothing to anon and authenticated, and ALL to
--     service_role. (EXECUTE on new functions still comes from PUBLIC's global
--     default, which a per-schema rule cannot remove; functions here are invoker's
--     rights, so they can read no more than their caller.)
--   * The SQL functions read customers' data: EXECUTE for service_role only.
-- Idempotent: roles are created only when missing, policies are dropped and
-- created again, grants and revokes repeat to the same result.
-- -----------------------------------------------------------------------------

-- Plain PostgreSQL has no Supabase roles; Supabase has them (then nothing happens).
-- Roles belong to the whole cluster, so a concurrent run in another database may
-- create one first: that is not an error.
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$roles$;

-- Day x agent totals over all customers: agent_usage_daily without user_id.
-- A plain (definer's rights) view on purpose: it reads agent_usage_daily with
-- its owner's rights, so authenticated sees the totals and never the rows.
-- customers = how many customers used the agent that day. A migration that
-- changes a column read here must drop and re-create the view.
CREATE OR REPLACE VIEW agent_usage_by_agent_daily AS
SELECT d.day,
       d.agent_id,
       count(*)::bigint                     AS customers,
       sum(d.interactions)::bigint          AS interactions,
       sum(d.tokens)::bigint                AS tokens,
       sum(d.response_time_sum_ms)::bigint  AS response_time_sum_ms,
       max(d.response_time_max_ms)          AS response_time_max_ms
  FROM agent_usage_daily AS d
 GROUP BY d.day, d.agent_id;

COMMENT ON VIEW agent_usage_by_agent_daily IS
'Day x agent usage totals over all customers (no user_id): what the Supabase role '
'authenticated may read of agent_usage_daily. customers = distinct customers that day.';

DO $rls$
DECLARE
    -- SELECT for authenticated: no customer identifier in these.
    analytics text[] := ARRAY[
        'usage_tier_limits',
        'agent_usage_hourly'
    ];
    -- service_role only: personal data, secrets, internals.
    private text[] := ARRAY[
        'agent_usage_events',
        'agent_usage_daily',
        'usage_alerts',
        'usage_alert_events',
        'customers',
        'subscription_changes',
        'api_keys',
        'dashboard_users',
        'upsell_sequences',
        'upsell_steps',
        'upsell_sequence_events',
        'audit_log',
        'privacy_erasures',
        'alembic_version'
    ];
    -- The functions above: invoker's rights, results about customers.
    functions text[] := ARRAY[
        'calculate_usage_percentage(text, timestamptz, text)',
        'detect_usage_anomalies(date, integer, integer, double precision, '
            || 'double precision, text, text)'
    ];
    s text := current_schema();
    t text;
    f text;
BEGIN
    FOREACH t IN ARRAY analytics || private LOOP
        CONTINUE WHEN to_regclass(format('%I.%I', s, t)) IS NULL;  -- not in this file yet
        EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', s, t);
        EXECUTE format('REVOKE ALL ON TABLE %I.%I FROM PUBLIC, anon, authenticated', s, t);
        EXECUTE format('GRANT ALL ON TABLE %I.%I TO service_role', s, t);
        EXECUTE format('DROP POLICY IF EXISTS service_role_all ON %I.%I', s, t);
        EXECUTE format('CREATE POLICY service_role_all ON %I.%I AS PERMISSIVE FOR ALL '
                       'TO service_role USING (true) WITH CHECK (true)', s, t);
        EXECUTE format('DROP POLICY IF EXISTS authenticated_read ON %I.%I', s, t);
    END LOOP;
    FOREACH t IN ARRAY analytics LOOP
        CONTINUE WHEN to_regclass(format('%I.%I', s, t)) IS NULL;
        EXECUTE format('GRANT SELECT ON TABLE %I.%I TO authenticated', s, t);
        EXECUTE format('CREATE POLICY authenticated_read ON %I.%I AS PERMISSIVE FOR SELECT '
                       'TO authenticated USING (true)', s, t);
    END LOOP;

    EXECUTE format('REVOKE ALL ON TABLE %I.agent_usage_by_agent_daily '
                   'FROM PUBLIC, anon, authenticated', s);
    EXECUTE format('GRANT SELECT ON TABLE %I.agent_usage_by_agent_daily '
                   'TO authenticated, service_role', s);

    FOREACH f IN ARRAY functions LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %I.%s FROM PUBLIC, anon, authenticated', s, f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %I.%s TO service_role', s, f);
    END LOOP;

    -- USAGE on the schema, where it is missing (a schema other than public).
    IF NOT has_schema_privilege('authenticated', s, 'USAGE') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO authenticated', s);
    END IF;
    IF NOT has_schema_privilege('service_role', s, 'USAGE') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO service_role', s);
    END IF;

    -- Objects created later by this role in this schema.
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
                   'REVOKE ALL ON TABLES FROM anon, authenticated', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
                   'REVOKE ALL ON SEQUENCES FROM anon, authenticated', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
                   'REVOKE ALL ON FUNCTIONS FROM anon, authenticated', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
                   'GRANT ALL ON TABLES TO service_role', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
                   'GRANT ALL ON SEQUENCES TO service_role', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
                   'GRANT EXECUTE ON FUNCTIONS TO service_role', s);
END
$rls$;

COMMIT;
