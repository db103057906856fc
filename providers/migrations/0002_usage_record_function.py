"""providers.usage_record(): quota check, usage upsert and cost alerts as one SQL step.

Why one function (see docs/providers.md, "Why the counters are exact"):
- a per-user transaction-scoped advisory lock serializes one user's recorders, and
  under READ COMMITTED each statement of a VOLATILE plpgsql function takes a new
  snapshot, so the sums read *after* the lock see every earlier holder's commit: the
  quota decision is made on exact totals, with no window between check and increment;
- the increment is a single INSERT ... ON CONFLICT DO UPDATE (never read-modify-write);
- alerts are INSERT ... ON CONFLICT DO NOTHING on the (user, alert_type, period_start)
  unique constraint, so each one exists at most once whatever the concurrency;
- one round trip instead of five keeps the lock short and the hot path fast.
"""

from django.db import migrations

FORWARD = r"""
-- RFC 9562 version 7 UUIDs (as core.ids.uuid7), for rows created inside SQL.
CREATE FUNCTION providers.uuid7() RETURNS uuid
LANGUAGE sql VOLATILE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

CREATE FUNCTION providers.usage_record(
    p_user uuid,
    p_provider uuid,
    p_model text,
    p_day date,            -- today in QUOTA_TIMEZONE
    p_month date,          -- first day of this month in QUOTA_TIMEZONE
    p_next_month date,     -- first day of next month
    p_requests bigint,
    p_tokens_input bigint,
    p_tokens_output bigint,
    p_now timestamptz,
    p_default_daily_requests bigint,
    p_default_monthly_requests bigint,
    p_default_daily_cost numeric,
    p_default_monthly_cost numeric
) RETURNS TABLE (
    admitted boolean,
    refused text[],
    cost numeric,
    day_requests bigint,
    day_cost numeric,
    month_requests bigint,
    month_cost numeric,
    daily_limit bigint,
    monthly_limit bigint,
    daily_cost_limit numeric,
    monthly_cost_limit numeric,
    row_id bigint,
    row_requests bigint,
    row_tokens_input bigint,
    row_tokens_output bigint,
    row_cost numeric,
    new_alerts text[]
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_price numeric;
    v_active boolean;
    v_alerts text[];
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'providers.usage_record() needs READ COMMITTED (its sums must see earlier commits)';
    END IF;
    -- The catalog entry: unknown or inactive providers are refused before any lock.
    SELECT pr.cost_per_1k_tokens, pr.is_active INTO v_price, v_active
      FROM providers.providers pr WHERE pr.id = p_provider;
    IF v_active IS NOT TRUE THEN
        admitted := false;
        refused := ARRAY[CASE WHEN v_active IS NULL THEN 'provider_unknown' ELSE 'provider_inactive' END];
        RETURN NEXT;
        RETURN;
    END IF;
    cost := (p_tokens_input + p_tokens_output) * v_price * 0.001;

    -- One recorder per user at a time, until commit. Two users whose ids hash alike
    -- merely share a queue.
    PERFORM pg_advisory_xact_lock(7307001, hashtext(p_user::text));

    SELECT coalesce(q.daily_limit, p_default_daily_requests),
           coalesce(q.monthly_limit, p_default_monthly_requests),
           coalesce(q.daily_cost_limit, p_default_daily_cost),
           coalesce(q.monthly_cost_limit, p_default_monthly_cost)
      INTO daily_limit, monthly_limit, daily_cost_limit, monthly_cost_limit
      FROM (SELECT 1) AS one
      LEFT JOIN providers.user_quotas q ON q.user_id = p_user;

    SELECT coalesce(sum(u.requests_count) FILTER (WHERE u.date = p_day), 0),
           coalesce(sum(u.cost_usd) FILTER (WHERE u.date = p_day), 0),
           coalesce(sum(u.requests_count), 0),
           coalesce(sum(u.cost_usd), 0)
      INTO day_requests, day_cost, month_requests, month_cost
      FROM providers.usage_tracking u
     WHERE u.user_id = p_user AND u.date >= p_month AND u.date < p_next_month;

    -- Request counts are exact: admitted only if they fit. Cost is admitted while the
    -- period's spend is below its limit, so the request that crosses it is recorded in
    -- full (overspend is at most that one request's cost) and no request is refused
    -- while real spend is under the limit.
    refused := array_remove(ARRAY[
        CASE WHEN day_requests + p_requests > daily_limit THEN 'daily_requests' END,
        CASE WHEN month_requests + p_requests > monthly_limit THEN 'monthly_requests' END,
        CASE WHEN day_cost >= daily_cost_limit THEN 'daily_cost' END,
        CASE WHEN month_cost >= monthly_cost_limit THEN 'monthly_cost' END
    ], NULL);
    admitted := cardinality(refused) = 0;
    IF NOT admitted THEN
        RETURN NEXT;
        RETURN;
    END IF;

    INSERT INTO providers.usage_tracking AS u
           (user_id, provider_id, model, date, requests_count, tokens_input, tokens_output, cost_usd,
            created_at, updated_at)
    VALUES (p_user, p_provider, p_model, p_day, p_requests, p_tokens_input, p_tokens_output, cost, p_now, p_now)
    ON CONFLICT (user_id, provider_id, model, date) DO UPDATE SET
           requests_count = u.requests_count + EXCLUDED.requests_count,
           tokens_input = u.tokens_input + EXCLUDED.tokens_input,
           tokens_output = u.tokens_output + EXCLUDED.tokens_output,
           cost_usd = u.cost_usd + EXCLUDED.cost_usd,
           updated_at = EXCLUDED.updated_at
    RETURNING u.id, u.requests_count, u.tokens_input, u.tokens_output, u.cost_usd
         INTO row_id, row_requests, row_tokens_input, row_tokens_output, row_cost;

    day_requests := day_requests + p_requests;
    month_requests := month_requests + p_requests;
    day_cost := day_cost + cost;
    month_cost := month_cost + cost;

    -- Thresholds reached (not only the ones this request crossed: a limit lowered
    -- mid-period still alerts). Existing alerts make the insert a no-op.
    IF (daily_cost_limit > 0 AND day_cost * 100 >= daily_cost_limit * 80)
       OR (monthly_cost_limit > 0 AND month_cost * 100 >= monthly_cost_limit * 80) THEN
        WITH candidate (alert_type, pct, period_start, spent, lim) AS (
            VALUES ('daily_80', 80, p_day, day_cost, daily_cost_limit),
                   ('daily_90', 90, p_day, day_cost, daily_cost_limit),
                   ('daily_100', 100, p_day, day_cost, daily_cost_limit),
                   ('monthly_80', 80, p_month, month_cost, monthly_cost_limit),
                   ('monthly_90', 90, p_month, month_cost, monthly_cost_limit),
                   ('monthly_100', 100, p_month, month_cost, monthly_cost_limit)
        ), inserted AS (
            INSERT INTO providers.cost_alerts AS a
                   (id, user_id, alert_type, threshold_percentage, period_start, triggered_at,
                    spent_usd, limit_usd, acknowledged, created_at)
            SELECT providers.uuid7(), p_user, c.alert_type, c.pct, c.period_start, p_now,
                   c.spent, c.lim, false, p_now
              FROM candidate c
             WHERE c.lim > 0 AND c.spent * 100 >= c.lim * c.pct
            ON CONFLICT (user_id, alert_type, period_start) DO NOTHING
            RETURNING a.id::text || ':' || a.alert_type
        )
        SELECT array_agg(i.a ORDER BY i.a) INTO v_alerts FROM inserted AS i(a);
    END IF;
    new_alerts := coalesce(v_alerts, ARRAY[]::text[]);
    RETURN NEXT;
END
$$;
"""

REVERSE = r"""
DROP FUNCTION IF EXISTS providers.usage_record(
    uuid, uuid, text, date, date, date, bigint, bigint, bigint, timestamptz, bigint, bigint, numeric, numeric
);
DROP FUNCTION IF EXISTS providers.uuid7();
"""


class Migration(migrations.Migration):
    dependencies = [("providers", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
