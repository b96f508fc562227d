-- Conventions of this file:
--   * `coalesce(to_timestamp(%(now)s::float8), now())` is the clock: tests pass `now` as
--     seconds since the epoch, otherwise the database decides.
--   * Batches arrive as parallel arrays (or, for enqueue, one JSON array) and are
--     unnested, so a batch is one statement. The arrays of a worker's hot statements
--     travel in binary (`%(name)b`): psycopg quotes every element of a text array with a
--     regular expression, which costs more than the statement's own work per task.
--   * Statements that update rows picked by id lock them first in `seq` order (a
--     MATERIALIZED CTE with ORDER BY seq FOR UPDATE, or, in the hot complete and fail,
--     a LATERAL lock of one row at a time over rows sorted by seq), so two batches that share tasks
--     (a heartbeat and a completion, a cancel and a completion) wait on each other
--     instead of deadlocking. Background sweeps (claim, reaper, pruner) SKIP LOCKED.
--   * Statements returning task rows add `db_now`, the clock the row is displayed against
--     (a queued task whose run_at is later is shown as scheduled).

-- name: enqueue
-- Insert a batch, sent as one JSON array, in input order; a clash on (queue,
-- idempotency_key) inserts nothing. What a task leaves open (priority, retry policy)
-- comes from its queue's settings, else the defaults. No NOTIFY here: see
-- enqueue.enqueue_and_wake.
INSERT INTO conveyor_tasks (
    id, name, queue, status, priority, args, kwargs, max_attempts, min_backoff,
    max_backoff, max_doublings, timeout, created_at, run_at, idempotency_key, group_key,
    concurrency_key, workflow_id, waiting_on, pass_results, on_parent_failure, has_dependents
)
SELECT n.id, n.name, n.queue, CASE WHEN n.waiting_on > 0 THEN 'waiting' ELSE 'queued' END,
       coalesce(n.priority, q.priority, %(default_priority)s),
       n.args, n.kwargs,
       coalesce(n.max_attempts, q.max_attempts, %(default_max_attempts)s),
       coalesce(n.min_backoff, q.min_backoff, %(default_min_backoff)s),
       coalesce(n.max_backoff, q.max_backoff, %(default_max_backoff)s),
       coalesce(n.max_doublings, q.max_doublings, %(default_max_doublings)s),
       n.timeout, now(),
       coalesce(to_timestamp(n.run_at), now() + n.delay * interval '1 second'),
       n.idempotency_key, n.group_key, n.concurrency_key, n.workflow_id,
       n.waiting_on, n.pass_results, n.on_parent_failure, n.has_dependents
FROM ROWS FROM (json_to_recordset(%(tasks)s::json) AS (
    id text, name text, queue text, priority integer, args jsonb, kwargs jsonb,
    max_attempts integer, min_backoff float8, max_backoff float8, max_doublings integer,
    timeout float8, run_at float8, delay float8, idempotency_key text, group_key text,
    concurrency_key text, workflow_id text, waiting_on integer, pass_results text,
    on_parent_failure text, has_dependents boolean
)) WITH ORDINALITY AS n(
    id, name, queue, priority, args, kwargs, max_attempts, min_backoff, max_backoff,
    max_doublings, timeout, run_at, delay, idempotency_key, group_key, concurrency_key,
    workflow_id, waiting_on, pass_results, on_parent_failure, has_dependents, ord
)
LEFT JOIN conveyor_queues q ON q.name = n.queue
ORDER BY n.ord
ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id, status, created_at, run_at, now() AS db_now;

-- name: get_by_idempotency_key
-- The tasks that already hold these (queue, idempotency_key) pairs: what their receipts show.
SELECT t.id, t.queue, t.idempotency_key, t.status, t.created_at, t.run_at, now() AS db_now
FROM conveyor_tasks t
JOIN unnest(%(queue)s::text[], %(idempotency_key)s::text[]) AS k(queue, key)
  ON t.queue = k.queue AND t.idempotency_key = k.key;

-- name: queue_defaults
-- The clock of the enqueue's transaction, and what these queues give new tasks that
-- leave priority or retry policy open (a row with a NULL name when no queue has settings).
SELECT now() AS now, q.name, q.priority, q.max_attempts, q.min_backoff, q.max_backoff,
       q.max_doublings
FROM (SELECT) AS one
LEFT JOIN conveyor_queues q ON q.name = ANY(%(queues)s::text[]);

-- name: enqueue_copy
-- Stream new tasks, one row per task (enqueue_rows.COLUMNS), already resolved against
-- their queues' defaults; only for batches without idempotency keys (nothing can clash).
COPY conveyor_tasks (
    id, name, queue, status, priority, args, kwargs, max_attempts, min_backoff,
    max_backoff, max_doublings, timeout, created_at, run_at, idempotency_key, group_key,
    concurrency_key, workflow_id, waiting_on, pass_results, on_parent_failure, has_dependents
) FROM STDIN;

-- name: notify
-- Wake the workers listening for these queues, when the transaction commits.
SELECT pg_notify('conveyor', q) FROM unnest(%(queues)s::text[]) AS q;

-- name: wake
-- `notify` for libpq's own placeholders ($1: the queues as a JSON array of strings): the
-- enqueue sends it without psycopg's machinery (see enqueue._wake).
SELECT pg_notify('conveyor', q) FROM json_array_elements_text($1::json) AS q;

-- name: claim
-- Lease the next due tasks of the unpaused queues without limits (limited ones go
-- through claim_limited): priority first, then enqueue order. A task of a group waits
-- while an earlier task of its group is queued (even one waiting out a retry backoff)
-- or any task of its group runs.
-- Each claim bumps the lease token, so whoever held an earlier lease is fenced out.
-- Each queue is read on its own down the claim index, already in (priority, seq) order,
-- then the heads are merged: `queue = ANY(...)` would make PostgreSQL fetch and sort
-- every due task of the queues on every claim. The price with several queues: up to
-- `limit` rows per queue stay locked (and skipped by others) until this statement ends.
WITH plain AS (
    -- Each asked-for queue without limits, with its lease, looked up once per queue
    -- rather than once per task.
    SELECT q.name, coalesce(s.lease_seconds, %(lease_seconds)s::float8) AS lease_seconds
    FROM unnest(%(queues)s::text[]) AS q(name)
    LEFT JOIN conveyor_queues s ON s.name = q.name
    WHERE s.name IS NULL
       OR NOT (s.paused OR s.rate IS NOT NULL OR s.max_concurrent IS NOT NULL
               OR s.max_per_key IS NOT NULL)
), picked AS MATERIALIZED (
    SELECT head.seq, plain.lease_seconds
    FROM plain
    CROSS JOIN LATERAL (
        SELECT t.seq, t.priority
        FROM conveyor_tasks t
        WHERE t.status = 'queued'
          AND t.queue = plain.name
          AND t.run_at <= coalesce(to_timestamp(%(now)s::float8), now())
          AND (t.group_key IS NULL OR NOT EXISTS (
              SELECT FROM conveyor_tasks g
              WHERE g.queue = t.queue AND g.group_key = t.group_key
                AND g.status IN ('queued', 'running') AND g.seq <> t.seq
                AND (g.status = 'running' OR g.seq < t.seq)
          ))
        ORDER BY t.priority, t.seq
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS head
    ORDER BY head.priority, head.seq
    LIMIT %(limit)s
)
UPDATE conveyor_tasks t
SET status = 'running',
    attempts = t.attempts + 1,
    lease_token = t.lease_token + 1,
    worker_id = %(worker_id)s,
    started_at = coalesce(to_timestamp(%(now)s::float8), now()),
    lease_expires_at = coalesce(to_timestamp(%(now)s::float8), now())
                       + picked.lease_seconds * interval '1 second'
FROM picked
WHERE t.seq = picked.seq
-- What a claimed task is built of (rows.CLAIMED_COLUMNS), no more: every column returned
-- is parsed into a Python object per row.
RETURNING t.id, t.name, t.queue, t.priority, t.args, t.kwargs, t.attempts, t.max_attempts,
          t.min_backoff, t.max_backoff, t.max_doublings, t.timeout, t.result, t.errors,
          t.created_at, t.run_at, t.started_at, t.finished_at, t.idempotency_key,
          t.worker_id, t.lease_expires_at, t.seq, t.group_key, t.concurrency_key,
          t.workflow_id, t.lease_token;

-- name: lock_queues
-- Lock the settings rows of limited queues, in name order: claims of one limited queue
-- take turns, so the counts and the bucket they read cannot change under them.
SELECT *, extract(epoch FROM tokens_at)::float8 AS tokens_at_seconds
FROM conveyor_queues
WHERE name = ANY(%(queues)s::text[])
ORDER BY name
FOR UPDATE;

-- name: running_count
-- Tasks of a queue running now, for its concurrency limit.
SELECT count(*) AS n FROM conveyor_tasks WHERE queue = %(queue)s AND status = 'running';

-- name: claim_candidates
-- The due head of one limited queue, in claim order; the queue row lock makes SKIP
-- LOCKED unnecessary (it would only skip rows a completion is touching).
SELECT t.seq, t.priority FROM conveyor_tasks t
WHERE t.status = 'queued' AND t.queue = %(queue)s
  AND t.run_at <= coalesce(to_timestamp(%(now)s::float8), now())
  AND (t.group_key IS NULL OR NOT EXISTS (
      SELECT FROM conveyor_tasks g
      WHERE g.queue = t.queue AND g.group_key = t.group_key
        AND g.status IN ('queued', 'running') AND g.seq <> t.seq
        AND (g.status = 'running' OR g.seq < t.seq)
  ))
ORDER BY t.priority, t.seq
LIMIT %(limit)s;

-- name: claim_candidates_per_key
-- As claim_candidates, and a task whose concurrency key already has max_per_key running
-- (counting those ahead of it in this claim) waits.
WITH running AS (
    SELECT concurrency_key AS k, count(*) AS n FROM conveyor_tasks
    WHERE queue = %(queue)s AND status = 'running' AND concurrency_key IS NOT NULL
    GROUP BY concurrency_key
), ranked AS (
    SELECT t.seq, t.priority, t.concurrency_key AS k,
           row_number() OVER (PARTITION BY t.concurrency_key ORDER BY t.priority, t.seq) AS nth
    FROM conveyor_tasks t
    WHERE t.status = 'queued' AND t.queue = %(queue)s
      AND t.run_at <= coalesce(to_timestamp(%(now)s::float8), now())
      AND (t.group_key IS NULL OR NOT EXISTS (
          SELECT FROM conveyor_tasks g
          WHERE g.queue = t.queue AND g.group_key = t.group_key
            AND g.status IN ('queued', 'running') AND g.seq <> t.seq
            AND (g.status = 'running' OR g.seq < t.seq)
      ))
)
SELECT ranked.seq, ranked.priority FROM ranked LEFT JOIN running ON running.k = ranked.k
WHERE ranked.k IS NULL OR ranked.nth + coalesce(running.n, 0) <= %(max_per_key)s
ORDER BY ranked.priority, ranked.seq
LIMIT %(limit)s;

-- name: claim_limited
-- Lease the tasks chosen under the limits of their queues.
UPDATE conveyor_tasks t
SET status = 'running',
    attempts = t.attempts + 1,
    lease_token = t.lease_token + 1,
    worker_id = %(worker_id)s,
    started_at = coalesce(to_timestamp(%(now)s::float8), now()),
    lease_expires_at = coalesce(to_timestamp(%(now)s::float8), now())
                       + coalesce((SELECT q.lease_seconds FROM conveyor_queues q
                                   WHERE q.name = t.queue), %(lease_seconds)s::float8)
                         * interval '1 second'
WHERE t.seq = ANY(%(seqs)s::bigint[]) AND t.status = 'queued'
-- What a claimed task is built of (rows.CLAIMED_COLUMNS), no more: every column returned
-- is parsed into a Python object per row.
RETURNING t.id, t.name, t.queue, t.priority, t.args, t.kwargs, t.attempts, t.max_attempts,
          t.min_backoff, t.max_backoff, t.max_doublings, t.timeout, t.result, t.errors,
          t.created_at, t.run_at, t.started_at, t.finished_at, t.idempotency_key,
          t.worker_id, t.lease_expires_at, t.seq, t.group_key, t.concurrency_key,
          t.workflow_id, t.lease_token;

-- name: spend_tokens
-- Take started tasks out of a queue's token bucket.
UPDATE conveyor_queues SET tokens = %(tokens)s, tokens_at = to_timestamp(%(now)s::float8)
WHERE name = %(queue)s;

-- name: heartbeat
-- Extend the leases whose tokens are current.
WITH target AS MATERIALIZED (
    SELECT t.seq
    FROM conveyor_tasks t
    JOIN unnest(%(ids)b::text[], %(tokens)b::bigint[]) AS b(id, token)
      ON t.id = b.id AND t.lease_token = b.token
    WHERE t.status = 'running'
    ORDER BY t.seq
    FOR UPDATE OF t
)
UPDATE conveyor_tasks t
SET lease_expires_at = coalesce(to_timestamp(%(now)s::float8), now())
                       + coalesce((SELECT q.lease_seconds FROM conveyor_queues q
                                   WHERE q.name = t.queue), %(lease_seconds)s::float8)
                         * interval '1 second'
FROM target
WHERE t.seq = target.seq
RETURNING t.id;

-- name: complete
-- Finish attempts successfully, where the lease is still held.
-- Each row of the batch is found through the id index, then locked alone through the
-- primary key, in seq order (the outer rows come sorted, and a LATERAL runs once per
-- row in that order). Joined as sets instead, the planner scans every running row of
-- the lease index, dead ones too until a vacuum: a claim-ahead worker holds hundreds,
-- and the cost of each acknowledgement grew with them.
WITH found AS MATERIALIZED (
    SELECT f.seq, b.token, b.result
    FROM unnest(%(ids)b::text[], %(tokens)b::bigint[], %(results)b::text[])
      AS b(id, token, result)
    CROSS JOIN LATERAL (SELECT seq FROM conveyor_tasks WHERE id = b.id) AS f
    ORDER BY f.seq
), target AS MATERIALIZED (
    SELECT locked.seq, found.result
    FROM found
    CROSS JOIN LATERAL (
        SELECT t.seq FROM conveyor_tasks t
        WHERE t.seq = found.seq AND t.lease_token = found.token AND t.status = 'running'
        FOR UPDATE
    ) AS locked
)
UPDATE conveyor_tasks t
SET status = 'completed',
    result = target.result::jsonb,
    finished_at = coalesce(to_timestamp(%(now)s::float8), now()),
    lease_expires_at = NULL
FROM target
WHERE t.seq = target.seq
RETURNING t.id, t.has_dependents;

-- name: fail
-- Record failed attempts: back to queued after the delay, or failed for good when the
-- delay is NULL, the attempts are used up, or the task is older than its queue's age limit.
-- Rows are found through the id index, then locked one by one in seq order, as in
-- complete.
WITH found AS MATERIALIZED (
    SELECT f.seq, b.token, b.retry_delay, b.error
    FROM unnest(%(ids)b::text[], %(tokens)b::bigint[], %(retry_delays)b::float8[],
                %(errors)b::text[]) AS b(id, token, retry_delay, error)
    CROSS JOIN LATERAL (SELECT seq FROM conveyor_tasks WHERE id = b.id) AS f
    ORDER BY f.seq
), locked AS MATERIALIZED (
    SELECT l.seq, l.attempts, l.max_attempts, l.queue, l.created_at,
           found.retry_delay, found.error
    FROM found
    CROSS JOIN LATERAL (
        SELECT t.seq, t.attempts, t.max_attempts, t.queue, t.created_at
        FROM conveyor_tasks t
        WHERE t.seq = found.seq AND t.lease_token = found.token AND t.status = 'running'
        FOR UPDATE
    ) AS l
), target AS (
    SELECT locked.seq, locked.retry_delay, locked.error,
           locked.retry_delay IS NOT NULL AND locked.attempts < locked.max_attempts
           AND (q.age_limit IS NULL
                OR coalesce(to_timestamp(%(now)s::float8), now()) - locked.created_at
                   < q.age_limit * interval '1 second') AS retry
    FROM locked
    LEFT JOIN conveyor_queues q ON q.name = locked.queue
), clock AS (
    SELECT coalesce(to_timestamp(%(now)s::float8), now()) AS now
)
UPDATE conveyor_tasks t
SET status = CASE WHEN target.retry THEN 'queued' ELSE 'failed' END,
    run_at = CASE WHEN target.retry
                  THEN clock.now + target.retry_delay * interval '1 second'
                  ELSE t.run_at END,
    finished_at = CASE WHEN target.retry THEN NULL ELSE clock.now END,
    errors = t.errors || jsonb_build_array(target.error::jsonb),
    lease_expires_at = NULL
FROM target, clock
WHERE t.seq = target.seq
RETURNING t.id, t.queue, t.status = 'queued' AND t.run_at <= clock.now AS due,
          t.has_dependents;

-- name: release
-- Give tasks back unrun: the attempt is not counted and each keeps its place in line.
WITH target AS MATERIALIZED (
    SELECT t.seq
    FROM conveyor_tasks t
    JOIN unnest(%(ids)b::text[], %(tokens)b::bigint[]) AS b(id, token)
      ON t.id = b.id AND t.lease_token = b.token
    WHERE t.status = 'running'
    ORDER BY t.seq
    FOR UPDATE OF t
)
UPDATE conveyor_tasks t
SET status = 'queued',
    attempts = t.attempts - 1,
    run_at = coalesce(to_timestamp(%(now)s::float8), now()),
    lease_expires_at = NULL,
    started_at = NULL
FROM target
WHERE t.seq = target.seq
RETURNING t.id, t.queue, true AS due;

-- name: cancel
-- Cancel unfinished tasks; a running attempt loses its lease and its result.
WITH target AS MATERIALIZED (
    SELECT seq FROM conveyor_tasks
    WHERE id = ANY(%(ids)s::text[]) AND status IN ('waiting', 'queued', 'running')
    ORDER BY seq
    FOR UPDATE
)
UPDATE conveyor_tasks t
SET status = 'cancelled',
    finished_at = coalesce(to_timestamp(%(now)s::float8), now()),
    lease_expires_at = NULL
FROM target
WHERE t.seq = target.seq
RETURNING t.id, t.has_dependents;

-- name: get
-- One task by id.
SELECT *, now() AS db_now FROM conveyor_tasks WHERE id = %(id)s;

-- name: reap_expired
-- Expired leases: back to queued, or failed when no attempt is left or the task is older
-- than its queue's age limit; the error history says whose lease expired.
WITH clock AS (
    SELECT coalesce(to_timestamp(%(now)s::float8), now()) AS now
), expired AS MATERIALIZED (
    SELECT t.seq,
           t.attempts < t.max_attempts
           AND (q.age_limit IS NULL
                OR clock.now - t.created_at < q.age_limit * interval '1 second') AS retry
    FROM conveyor_tasks t
    CROSS JOIN clock
    LEFT JOIN conveyor_queues q ON q.name = t.queue
    WHERE t.status = 'running'
      AND t.lease_expires_at < clock.now
    ORDER BY t.lease_expires_at
    LIMIT %(limit)s
    FOR UPDATE OF t SKIP LOCKED
)
UPDATE conveyor_tasks t
SET status = CASE WHEN expired.retry THEN 'queued' ELSE 'failed' END,
    run_at = clock.now,
    finished_at = CASE WHEN expired.retry THEN NULL ELSE clock.now END,
    errors = t.errors || jsonb_build_array(jsonb_build_object(
        'attempt', t.attempts,
        'error', 'lease expired: worker ' || coalesce(t.worker_id, '?')
                 || ' stopped reporting',
        'traceback', '',
        'at', to_char(clock.now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'worker_id', coalesce(t.worker_id, ''))),
    lease_expires_at = NULL
FROM expired, clock
WHERE t.seq = expired.seq
RETURNING t.id, t.queue, t.status = 'queued' AS due, t.has_dependents;

-- name: prune
-- Delete a bounded batch of finished tasks past their queue's retention (else the
-- default). The first condition uses the finished_at index; the second decides per task.
WITH c AS (
    SELECT coalesce(to_timestamp(%(now)s::float8), now()) AS now,
           %(completed_seconds)s::float8 AS completed,
           %(failed_seconds)s::float8 AS failed,
           least(%(completed_seconds)s::float8, %(failed_seconds)s::float8,
                 (SELECT min(least(completed_retention, failed_retention))
                  FROM conveyor_queues)) AS shortest
), doomed AS MATERIALIZED (
    SELECT t.seq FROM conveyor_tasks t
    CROSS JOIN c
    LEFT JOIN conveyor_queues q ON q.name = t.queue
    WHERE t.finished_at < c.now - c.shortest * interval '1 second'
      AND t.finished_at < c.now - interval '1 second' * CASE
              WHEN t.status = 'failed' THEN coalesce(q.failed_retention, c.failed)
              ELSE coalesce(q.completed_retention, c.completed) END
      -- A parent stays while a child still waits for it: the child needs its result.
      AND (NOT t.has_dependents OR NOT EXISTS (
          SELECT FROM conveyor_dependencies d
          JOIN conveyor_tasks ch ON ch.id = d.child_id
          WHERE d.parent_id = t.id AND (NOT d.settled OR ch.status = 'waiting')))
    LIMIT %(limit)s
    FOR UPDATE OF t SKIP LOCKED
), gone AS (
    DELETE FROM conveyor_tasks t
    USING doomed
    WHERE t.seq = doomed.seq
    RETURNING t.id
), into_gone AS (
    DELETE FROM conveyor_dependencies d USING gone WHERE d.child_id = gone.id
), out_of_gone AS (
    DELETE FROM conveyor_dependencies d USING gone WHERE d.parent_id = gone.id
)
SELECT count(*) AS n FROM gone;

-- name: replay
-- Dead letters back to queued, with a fresh set of attempts and their history kept.
WITH target AS MATERIALIZED (
    SELECT seq FROM conveyor_tasks
    WHERE status = 'failed'
      AND (%(ids)s::text[] IS NULL OR id = ANY(%(ids)s::text[]))
      AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
    ORDER BY seq
    FOR UPDATE
)
UPDATE conveyor_tasks t
SET status = 'queued',
    attempts = 0,
    run_at = coalesce(to_timestamp(%(now)s::float8), now()),
    finished_at = NULL,
    started_at = NULL,
    worker_id = NULL
FROM target
WHERE t.seq = target.seq
RETURNING t.id, t.seq, t.queue, t.has_dependents, true AS due;

-- name: purge
-- Delete dead letters.
WITH target AS MATERIALIZED (
    SELECT seq FROM conveyor_tasks
    WHERE status = 'failed'
      AND (%(ids)s::text[] IS NULL OR id = ANY(%(ids)s::text[]))
      AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
    ORDER BY seq
    FOR UPDATE
)
DELETE FROM conveyor_tasks t
USING target
WHERE t.seq = target.seq;

-- name: stats
-- Counts by queue and stored state; scheduled is split out of queued by run_at.
WITH clock AS (
    SELECT coalesce(to_timestamp(%(now)s::float8), now()) AS now
)
SELECT t.queue,
       CASE WHEN t.status = 'queued' AND t.run_at > clock.now THEN 'scheduled'
            ELSE t.status END AS state,
       count(*) AS n,
       extract(epoch FROM clock.now - min(CASE WHEN t.status = 'queued'
                                               AND t.run_at <= clock.now
                                               THEN t.run_at END))::float8 AS oldest_age
FROM conveyor_tasks t, clock
GROUP BY t.queue, state, clock.now;

-- name: activity_counts
-- Tasks finished per queue and bucket of the window [now - window, now].
WITH c AS (
    SELECT coalesce(to_timestamp(%(now)s::float8), now()) AS now,
           %(window)s::float8 AS window_seconds,
           %(bucket)s::float8 AS bucket_seconds
)
SELECT t.queue,
       floor(extract(epoch FROM t.finished_at - (c.now - c.window_seconds * interval '1 second'))
             / c.bucket_seconds)::int AS bucket,
       count(*) FILTER (WHERE t.status = 'completed') AS completed,
       count(*) FILTER (WHERE t.status = 'failed') AS failed
FROM conveyor_tasks t CROSS JOIN c
WHERE t.finished_at >= c.now - c.window_seconds * interval '1 second'
  AND t.finished_at <= c.now
  AND t.status IN ('completed', 'failed')
GROUP BY t.queue, bucket;

-- name: activity_percentiles
-- Nearest-rank p50 and p95 of the processing seconds of tasks completed in the window.
WITH c AS (
    SELECT coalesce(to_timestamp(%(now)s::float8), now()) AS now,
           %(window)s::float8 AS window_seconds
)
SELECT queue,
       min(CASE WHEN rank >= 0.50 * n THEN seconds END) AS p50,
       min(CASE WHEN rank >= 0.95 * n THEN seconds END) AS p95
FROM (
    SELECT t.queue, extract(epoch FROM t.finished_at - t.started_at)::float8 AS seconds,
           row_number() OVER (PARTITION BY t.queue ORDER BY t.finished_at - t.started_at) AS rank,
           count(*) OVER (PARTITION BY t.queue) AS n
    FROM conveyor_tasks t CROSS JOIN c
    WHERE t.finished_at >= c.now - c.window_seconds * interval '1 second'
      AND t.finished_at <= c.now
      AND t.status = 'completed' AND t.started_at IS NOT NULL
) AS ranked
GROUP BY queue;

-- name: acquire_duty
-- Take a duty's lease if it is free or expired, or renew it if we hold it.
INSERT INTO conveyor_duties (name, holder, expires_at)
VALUES (%(name)s, %(holder)s,
        coalesce(to_timestamp(%(now)s::float8), now()) + %(ttl)s::float8 * interval '1 second')
ON CONFLICT (name) DO UPDATE
SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE conveyor_duties.holder = excluded.holder
   OR conveyor_duties.expires_at < coalesce(to_timestamp(%(now)s::float8), now())
RETURNING holder;

-- name: next_due
-- Seconds until the earliest queued task of each queue is due: one probe per queue.
SELECT q.queue, extract(epoch FROM due.run_at
                        - coalesce(to_timestamp(%(now)s::float8), now()))::float8 AS seconds
FROM unnest(%(queues)s::text[]) AS q(queue)
CROSS JOIN LATERAL (
    SELECT run_at FROM conveyor_tasks
    WHERE status = 'queued' AND queue = q.queue
    ORDER BY run_at
    LIMIT 1
) AS due;

-- name: limited_queues
-- Queues whose claims must respect limits.
SELECT name FROM conveyor_queues
WHERE rate IS NOT NULL OR max_concurrent IS NOT NULL OR max_per_key IS NOT NULL;

-- name: queue_settings
-- The stored settings of these queues, with their token buckets (no lock).
SELECT *, extract(epoch FROM tokens_at)::float8 AS tokens_at_seconds
FROM conveyor_queues WHERE name = ANY(%(queues)s::text[]);

-- name: now
-- The database clock.
SELECT now() AS now;

-- name: clock
-- The database clock as it reads now, not when the transaction began, in epoch seconds.
SELECT extract(epoch FROM clock_timestamp())::float8 AS now;

-- name: migration_lock
-- Serialise schema migrations across processes until the transaction ends.
SELECT pg_advisory_xact_lock(hashtext('conveyor_migrations'));

-- name: migrations_table
-- The ledger of applied schema versions.
CREATE TABLE IF NOT EXISTS conveyor_migrations (
    version    integer     PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: migrations_done
-- The schema versions already applied.
SELECT version FROM conveyor_migrations;

-- name: migration_record
-- Record one applied schema version.
INSERT INTO conveyor_migrations (version) VALUES (%(version)s);

-- name: set_queue
-- Store a queue's settings, replacing what was there; a changed rate refills the bucket.
INSERT INTO conveyor_queues (
    name, paused, rate, burst, max_concurrent, max_per_key, max_attempts, min_backoff,
    max_backoff, max_doublings, age_limit, lease_seconds, completed_retention,
    failed_retention, priority, secret_fields, target_url, target_method, target_headers,
    target_deadline, secret, previous_secret, updated_at
) VALUES (
    %(name)s, %(paused)s, %(rate)s, %(burst)s, %(max_concurrent)s, %(max_per_key)s,
    %(max_attempts)s, %(min_backoff)s, %(max_backoff)s, %(max_doublings)s, %(age_limit)s,
    %(lease_seconds)s, %(completed_retention)s, %(failed_retention)s, %(priority)s,
    %(secret_fields)s, %(target_url)s, %(target_method)s, %(target_headers)s,
    %(target_deadline)s, %(secret)s, %(previous_secret)s, now()
)
ON CONFLICT (name) DO UPDATE SET
    paused = excluded.paused, rate = excluded.rate, burst = excluded.burst,
    max_concurrent = excluded.max_concurrent, max_per_key = excluded.max_per_key,
    max_attempts = excluded.max_attempts, min_backoff = excluded.min_backoff,
    max_backoff = excluded.max_backoff, max_doublings = excluded.max_doublings,
    age_limit = excluded.age_limit, lease_seconds = excluded.lease_seconds,
    completed_retention = excluded.completed_retention,
    failed_retention = excluded.failed_retention, priority = excluded.priority,
    secret_fields = excluded.secret_fields,
    target_url = excluded.target_url, target_method = excluded.target_method,
    target_headers = excluded.target_headers, target_deadline = excluded.target_deadline,
    secret = excluded.secret, previous_secret = excluded.previous_secret,
    updated_at = excluded.updated_at,
    tokens = CASE WHEN conveyor_queues.rate IS NOT DISTINCT FROM excluded.rate
                   AND conveyor_queues.burst IS NOT DISTINCT FROM excluded.burst
                  THEN conveyor_queues.tokens END;

-- name: get_queue
-- One queue's stored settings.
SELECT * FROM conveyor_queues WHERE name = %(name)s;

-- name: list_queues
-- Every queue with stored settings.
SELECT * FROM conveyor_queues ORDER BY name;

-- name: register_worker
-- Add a worker to the registry, or renew its row when it registers again (after a prune).
INSERT INTO conveyor_workers
    (id, host, pid, queues, concurrency, in_flight, heartbeat_seconds, started_at, last_seen)
SELECT %(id)s, %(host)s, %(pid)s, %(queues)s::jsonb, %(concurrency)s, 0,
       %(heartbeat_seconds)s, c.now, c.now
FROM (SELECT coalesce(to_timestamp(%(now)s::float8), now()) AS now) AS c
ON CONFLICT (id) DO UPDATE
SET last_seen = excluded.last_seen, stopped_at = NULL,
    heartbeat_seconds = excluded.heartbeat_seconds;

-- name: heartbeat_worker
-- Record that a running worker is alive and how many tasks it holds.
UPDATE conveyor_workers
SET last_seen = coalesce(to_timestamp(%(now)s::float8), now()), in_flight = %(in_flight)s
WHERE id = %(id)s AND stopped_at IS NULL
RETURNING id;

-- name: deregister_worker
-- Mark a worker stopped after a graceful stop.
UPDATE conveyor_workers
SET stopped_at = coalesce(to_timestamp(%(now)s::float8), now()),
    last_seen = coalesce(to_timestamp(%(now)s::float8), now()),
    in_flight = 0
WHERE id = %(id)s;

-- name: list_workers
-- Every registered worker, oldest first; alive when running and heard from lately enough.
SELECT w.*,
       w.stopped_at IS NULL
       AND w.last_seen + %(dead_after_beats)s * w.heartbeat_seconds * interval '1 second' >= c.now AS alive
FROM conveyor_workers AS w
CROSS JOIN (SELECT coalesce(to_timestamp(%(now)s::float8), now()) AS now) AS c
ORDER BY w.started_at, w.id;

-- name: prune_workers
-- Forget workers that stopped or were last heard from longer ago than the retention.
DELETE FROM conveyor_workers
WHERE coalesce(stopped_at, last_seen)
      < coalesce(to_timestamp(%(now)s::float8), now()) - %(retention_seconds)s * interval '1 second';

-- name: add_dependencies
-- The edges of a workflow: each child waits for its parents.
INSERT INTO conveyor_dependencies (parent_id, child_id, position)
SELECT * FROM unnest(%(parents)s::text[], %(children)s::text[], %(positions)s::integer[]);

-- name: settle_edges
-- Mark the edges out of finished (or deleted) parents as counted, once; the edges that
-- were not counted yet come back. Locked in key order, like the outcomes.
WITH target AS MATERIALIZED (
    SELECT d.parent_id, d.child_id FROM conveyor_dependencies d
    LEFT JOIN conveyor_tasks p ON p.id = d.parent_id
    WHERE NOT d.settled AND d.parent_id = ANY(%(ids)s::text[])
      AND (p.id IS NULL OR p.status IN ('completed', 'failed', 'cancelled'))
    ORDER BY d.parent_id, d.child_id
    FOR UPDATE OF d
)
UPDATE conveyor_dependencies d SET settled = true
FROM target
WHERE d.parent_id = target.parent_id AND d.child_id = target.child_id
RETURNING d.child_id, d.parent_id;

-- name: task_states
-- Name and state of these tasks.
SELECT id, name, status FROM conveyor_tasks WHERE id = ANY(%(ids)s::text[]);

-- name: waiting_children
-- The tasks among these still waiting for parents.
SELECT id, on_parent_failure FROM conveyor_tasks
WHERE id = ANY(%(ids)s::text[]) AND status = 'waiting'
ORDER BY seq;

-- name: cancel_dependent
-- Cancel a waiting task because a parent did not complete; the reason names the parent.
WITH clock AS (
    SELECT coalesce(to_timestamp(%(now)s::float8), now()) AS now
)
UPDATE conveyor_tasks t
SET status = 'cancelled', finished_at = clock.now,
    errors = t.errors || jsonb_build_array(jsonb_build_object(
        'attempt', t.attempts,
        'error', 'cancelled: ' || %(reason)s::text,
        'traceback', '',
        'at', to_char(clock.now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'worker_id', ''))
FROM clock
WHERE t.id = %(id)s AND t.status = 'waiting'
RETURNING t.id, t.has_dependents;

-- name: cancelled_children
-- Dependents of these tasks that a parent's outcome cancelled (their last error is that
-- notice) and none of whose parents is failed, cancelled or deleted now.
SELECT DISTINCT c.id, c.seq
FROM conveyor_dependencies d
JOIN conveyor_tasks c ON c.id = d.child_id
WHERE d.parent_id = ANY(%(ids)s::text[])
  AND c.status = 'cancelled'
  AND (c.errors -> -1 ->> 'error') LIKE 'cancelled: parent task %%'
  AND NOT EXISTS (
      SELECT 1 FROM conveyor_dependencies o
      LEFT JOIN conveyor_tasks p ON p.id = o.parent_id
      WHERE o.child_id = c.id AND (p.id IS NULL OR p.status IN ('failed', 'cancelled')))
ORDER BY c.seq;

-- name: lock_edges
-- Lock the edges into a task, in settling's key order: a parent being settled meanwhile
-- is either counted before this revival reads the edges or after it, never lost between.
SELECT parent_id FROM conveyor_dependencies
WHERE child_id = %(id)s
ORDER BY parent_id, child_id
FOR UPDATE;

-- name: unsettle_edges
-- The edges into a task from parents that have not completed count again.
UPDATE conveyor_dependencies d SET settled = false
WHERE d.child_id = %(id)s AND d.settled
  AND EXISTS (
      SELECT 1 FROM conveyor_tasks p WHERE p.id = d.parent_id AND p.status <> 'completed')
RETURNING d.parent_id;

-- name: revive_dependent
-- A cancelled dependent back to waiting for its uncounted parents, the cancellation
-- notice dropped (the cancellation is undone).
UPDATE conveyor_tasks
SET status = 'waiting', finished_at = NULL, errors = errors - (-1),
    waiting_on = (
        SELECT count(*) FROM conveyor_dependencies
        WHERE child_id = %(id)s AND NOT settled)
WHERE id = %(id)s AND status = 'cancelled'
RETURNING id, has_dependents;

-- name: count_parents
-- Count parents' outcomes against a waiting task.
UPDATE conveyor_tasks SET waiting_on = waiting_on - %(n)s
WHERE id = %(id)s AND status = 'waiting'
RETURNING waiting_on;

-- name: parent_results
-- A waiting task's arguments with its parents' results, in parent order.
SELECT c.args, c.pass_results, d.parent_id, p.result
FROM conveyor_tasks c
LEFT JOIN conveyor_dependencies d ON d.child_id = c.id
LEFT JOIN conveyor_tasks p ON p.id = d.parent_id
WHERE c.id = %(id)s AND c.status = 'waiting'
ORDER BY d.position;

-- name: promote
-- Queue a task whose parents are all counted, with the arguments it runs with.
UPDATE conveyor_tasks
SET status = 'queued', args = %(args)s::jsonb, waiting_on = 0,
    run_at = greatest(run_at, coalesce(to_timestamp(%(now)s::float8), now()))
WHERE id = %(id)s AND status = 'waiting'
RETURNING queue;

-- name: unsettled_parents
-- Finished (or deleted) parents whose outcome a crash left uncounted.
SELECT DISTINCT d.parent_id
FROM conveyor_dependencies d
LEFT JOIN conveyor_tasks p ON p.id = d.parent_id
WHERE NOT d.settled AND (p.id IS NULL OR p.status IN ('completed', 'failed', 'cancelled'))
LIMIT %(limit)s;

-- name: workflow_tasks
-- The members of a workflow, in enqueue order.
SELECT *, now() AS db_now FROM conveyor_tasks WHERE workflow_id = %(workflow_id)s ORDER BY seq;

-- name: workflow_edges
-- The edges between the members of a workflow, children in enqueue order.
SELECT d.parent_id, d.child_id
FROM conveyor_tasks c JOIN conveyor_dependencies d ON d.child_id = c.id
WHERE c.workflow_id = %(workflow_id)s
ORDER BY c.seq, d.position;

-- name: workflow_counts
-- Members of a workflow by state.
SELECT CASE WHEN status = 'queued'
             AND run_at > coalesce(to_timestamp(%(now)s::float8), now())
            THEN 'scheduled' ELSE status END AS state,
       count(*) AS n
FROM conveyor_tasks WHERE workflow_id = %(workflow_id)s
GROUP BY 1;

-- name: set_schedule
-- Store a schedule, replacing one of the same name.
INSERT INTO conveyor_schedules (
    name, task, queue, cron, every, timezone, args, kwargs, misfire
) VALUES (
    %(name)s, %(task)s, %(queue)s, %(cron)s, %(every)s, %(timezone)s, %(args)s::jsonb,
    %(kwargs)s::jsonb, %(misfire)s
)
ON CONFLICT (name) DO UPDATE SET
    task = excluded.task, queue = excluded.queue, cron = excluded.cron,
    every = excluded.every, timezone = excluded.timezone, args = excluded.args,
    kwargs = excluded.kwargs, misfire = excluded.misfire, updated_at = now();

-- name: delete_schedules
-- Remove stored schedules by name.
DELETE FROM conveyor_schedules WHERE name = ANY(%(names)s::text[]) RETURNING name;

-- name: list_schedules
-- Every stored schedule, by name.
SELECT * FROM conveyor_schedules ORDER BY name;

-- name: totals
-- Monotonic totals per queue: tasks where they stand plus what the tallies kept of tasks
-- that left the table, and the claims limits cut short (see migration 0007). One statement, so one snapshot of both.
SELECT queue,
       sum(enqueued)::bigint AS enqueued,
       sum(completed)::bigint AS completed,
       sum(failed)::bigint AS failed,
       sum(failed_attempts)::bigint AS failed_attempts,
       sum(throttled_claims)::bigint AS throttled_claims
FROM (
    SELECT queue,
           count(*) AS enqueued,
           count(*) FILTER (WHERE status = 'completed') AS completed,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           coalesce(sum(jsonb_array_length(errors)) FILTER (WHERE errors <> '[]'), 0)
               AS failed_attempts,
           0 AS throttled_claims
    FROM conveyor_tasks
    GROUP BY queue
    UNION ALL
    SELECT queue,
           coalesce(sum(value) FILTER (WHERE name = 'deleted'), 0),
           coalesce(sum(value) FILTER (WHERE name = 'deleted_completed'), 0),
           coalesce(sum(value) FILTER (WHERE name IN ('deleted_failed', 'replayed')), 0),
           coalesce(sum(value) FILTER (WHERE name = 'deleted_errors'), 0),
           coalesce(sum(value) FILTER (WHERE name = 'throttled_claims'), 0)
    FROM conveyor_tallies
    GROUP BY queue
) AS parts
GROUP BY queue
ORDER BY queue;

-- name: processing_times
-- For tasks finished in the window: per queue and final status, how many ran at most each
-- bucket's bound (the last attempt, started_at to finished_at), their count and sum.
WITH clock AS (
    SELECT coalesce(to_timestamp(%(now)s::float8), now()) AS now
), finished AS (
    SELECT t.queue, t.status, extract(epoch FROM t.finished_at - t.started_at)::float8 AS d
    FROM conveyor_tasks AS t, clock
    WHERE t.finished_at >= clock.now - %(window_seconds)s::float8 * interval '1 second'
      AND t.status IN ('completed', 'failed')
      AND t.started_at IS NOT NULL
)
SELECT f.queue, f.status, b.le,
       count(*) FILTER (WHERE f.d <= b.le) AS n,
       count(*) AS count,
       sum(f.d) AS total
FROM finished AS f CROSS JOIN unnest(%(buckets)s::float8[]) AS b (le)
GROUP BY f.queue, f.status, b.le
ORDER BY f.queue, f.status, b.le;

-- name: count_throttled
-- Count claims that the queues' rate or concurrency limits cut short (see migration 0007).
-- The claim holds these queues' settings rows, so no other claim waits on these tallies.
INSERT INTO conveyor_tallies AS t (queue, name, value)
SELECT q, 'throttled_claims', 1 FROM unnest(%(queues)s::text[]) AS q ORDER BY q
ON CONFLICT (queue, name) DO UPDATE SET value = t.value + 1;
