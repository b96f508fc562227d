-- name: enqueue
-- Insert new tasks, one row of values per task (enqueue_rows.COLUMNS), already resolved
-- against their queues' defaults; a clash on (queue, idempotency_key) inserts nothing.
-- A bulk enqueue repeats the row of values (see store.ROWS_PER_INSERT): one statement
-- per 50 tasks costs SQLite far less than one per task.
INSERT INTO conveyor_tasks (
    id, name, queue, status, priority, args, kwargs, max_attempts, min_backoff,
    max_backoff, max_doublings, timeout, created_at, run_at, idempotency_key, group_key,
    concurrency_key, workflow_id, waiting_on, pass_results, on_parent_failure, has_dependents
)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING;

-- name: queue_defaults
-- What these queues give new tasks that leave priority or retry policy open.
SELECT name, priority, max_attempts, min_backoff, max_backoff, max_doublings
FROM conveyor_queues WHERE name IN (SELECT value FROM json_each(:queues));

-- name: queue_defaults_one
-- `queue_defaults` of one queue, as most enqueues have: json_each costs half of it.
SELECT name, priority, max_attempts, min_backoff, max_backoff, max_doublings
FROM conveyor_queues WHERE name = :queue;

-- name: get_by_idempotency_key
-- The task that already holds an idempotency key in a queue: what its receipt shows.
SELECT id, status, created_at, run_at FROM conveyor_tasks
WHERE queue = :queue AND idempotency_key = :idempotency_key;

-- name: queue_settings
-- The stored settings of these queues, with their token buckets.
SELECT * FROM conveyor_queues WHERE name IN (SELECT value FROM json_each(:queues));

-- name: running_count
-- Tasks of a queue running now, for its concurrency limit.
SELECT count(*) FROM conveyor_tasks WHERE queue = :queue AND status = 'running';

-- name: claim_candidates
-- The head of one queue: due tasks in claim order, straight down the claim index.
-- Claiming queue by queue keeps SQLite from sorting a whole backlog on every claim.
-- A task of a group waits while an earlier task of its group is queued (even one
-- waiting out a retry backoff) or any task of its group runs.
SELECT t.seq, t.priority FROM conveyor_tasks AS t INDEXED BY conveyor_tasks_claim
WHERE t.status = 'queued' AND t.queue = :queue AND t.run_at <= :now
  AND (t.group_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM conveyor_tasks AS g
      WHERE g.queue = t.queue AND g.group_key = t.group_key
        AND g.status IN ('queued', 'running') AND g.seq <> t.seq
        AND (g.status = 'running' OR g.seq < t.seq)
  ))
ORDER BY t.priority, t.seq
LIMIT :limit;

-- name: claim_candidates_per_key
-- The head of a queue with a per-key limit: as claim_candidates, and a task whose
-- concurrency key already has max_per_key running (counting those ahead of it in this
-- claim) waits.
WITH running AS (
    SELECT concurrency_key AS k, count(*) AS n FROM conveyor_tasks
    WHERE queue = :queue AND status = 'running' AND concurrency_key IS NOT NULL
    GROUP BY concurrency_key
), ranked AS (
    SELECT t.seq, t.priority, t.concurrency_key AS k,
           row_number() OVER (PARTITION BY t.concurrency_key ORDER BY t.priority, t.seq) AS nth
    FROM conveyor_tasks AS t INDEXED BY conveyor_tasks_claim
    WHERE t.status = 'queued' AND t.queue = :queue AND t.run_at <= :now
  AND (t.group_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM conveyor_tasks AS g
      WHERE g.queue = t.queue AND g.group_key = t.group_key
        AND g.status IN ('queued', 'running') AND g.seq <> t.seq
        AND (g.status = 'running' OR g.seq < t.seq)
  ))
)
SELECT ranked.seq, ranked.priority FROM ranked LEFT JOIN running ON running.k = ranked.k
WHERE ranked.k IS NULL OR ranked.nth + coalesce(running.n, 0) <= :max_per_key
ORDER BY ranked.priority, ranked.seq
LIMIT :limit;

-- name: spend_tokens
-- Take started tasks out of a queue's token bucket.
UPDATE conveyor_queues SET tokens = :tokens, tokens_at = :now WHERE name = :queue;

-- name: claim
-- Lease the chosen tasks of one queue, for :lease_seconds (the queue's lease when it sets
-- one, read in the same transaction). Each claim bumps the lease token, so whoever held an
-- earlier lease on the task is fenced out. Runs in the same write transaction as the
-- candidates.
UPDATE conveyor_tasks
SET status = 'running',
    attempts = attempts + 1,
    lease_token = lease_token + 1,
    worker_id = :worker_id,
    started_at = :now,
    lease_expires_at = :now + :lease_seconds
WHERE seq IN (SELECT value FROM json_each(:seqs)) AND status = 'queued'
-- What a claimed task is built of (rows.CLAIMED_COLUMNS), no more: every column returned
-- is a Python object made per row.
RETURNING id, name, queue, priority, args, kwargs, attempts, max_attempts, min_backoff,
          max_backoff, max_doublings, timeout, result, errors, created_at, run_at,
          started_at, finished_at, idempotency_key, worker_id, lease_expires_at, seq,
          group_key, concurrency_key, workflow_id, lease_token;

-- name: heartbeat
-- Extend one lease while its token is current.
UPDATE conveyor_tasks
SET lease_expires_at = :now + coalesce(
    (SELECT q.lease_seconds FROM conveyor_queues AS q WHERE q.name = conveyor_tasks.queue),
    :lease_seconds)
WHERE id = :id AND lease_token = :token AND status = 'running'
RETURNING id;

-- name: complete
-- Finish attempts successfully, where the lease is still held: the whole batch in one
-- statement. :leases is a JSON array of [id, token, result], the result being the JSON
-- text of the value (stored as given, not re-encoded by SQLite's JSON functions).
UPDATE conveyor_tasks
SET status = 'completed', result = b.result, finished_at = :now, lease_expires_at = NULL
FROM (
    SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS token,
           json_extract(value, '$[2]') AS result
    FROM json_each(:leases)
) AS b
WHERE conveyor_tasks.id = b.id AND conveyor_tasks.lease_token = b.token
  AND conveyor_tasks.status = 'running'
RETURNING conveyor_tasks.id, conveyor_tasks.has_dependents;

-- name: fail
-- Record a failed attempt: back to queued after the delay, or failed for good when the
-- delay is NULL, the attempts are used up, or the task is older than its queue's age limit.
WITH verdict AS (
    SELECT t.seq,
           :retry_delay IS NOT NULL AND t.attempts < t.max_attempts
           AND (q.age_limit IS NULL OR :now - t.created_at < q.age_limit) AS retry
    FROM conveyor_tasks AS t LEFT JOIN conveyor_queues AS q ON q.name = t.queue
    WHERE t.id = :id AND t.lease_token = :token AND t.status = 'running'
)
UPDATE conveyor_tasks
SET status = CASE WHEN verdict.retry THEN 'queued' ELSE 'failed' END,
    run_at = CASE WHEN verdict.retry THEN :now + :retry_delay ELSE run_at END,
    finished_at = CASE WHEN verdict.retry THEN NULL ELSE :now END,
    errors = json_insert(errors, '$[#]', json(:error)),
    lease_expires_at = NULL
FROM verdict
WHERE conveyor_tasks.seq = verdict.seq
RETURNING id, has_dependents;

-- name: release
-- Give a task back unrun: the attempt is not counted and it keeps its place in line.
UPDATE conveyor_tasks
SET status = 'queued', attempts = attempts - 1, run_at = :now, lease_expires_at = NULL,
    started_at = NULL
WHERE id = :id AND lease_token = :token AND status = 'running'
RETURNING id;

-- name: cancel
-- Cancel an unfinished task; a running attempt loses its lease and its result.
UPDATE conveyor_tasks
SET status = 'cancelled', finished_at = :now, lease_expires_at = NULL
WHERE id = :id AND status IN ('waiting', 'queued', 'running')
RETURNING id, has_dependents;

-- name: get
-- One task by id.
SELECT * FROM conveyor_tasks WHERE id = :id;

-- name: reap_expired
-- Expired leases: back to queued, or failed when no attempt is left or the task is older
-- than its queue's age limit; the error history says whose lease expired.
UPDATE conveyor_tasks
SET status = CASE WHEN attempts < max_attempts AND coalesce(:now - created_at < (
                      SELECT q.age_limit FROM conveyor_queues AS q
                      WHERE q.name = conveyor_tasks.queue), 1)
                  THEN 'queued' ELSE 'failed' END,
    run_at = :now,
    finished_at = CASE WHEN attempts < max_attempts AND coalesce(:now - created_at < (
                           SELECT q.age_limit FROM conveyor_queues AS q
                           WHERE q.name = conveyor_tasks.queue), 1)
                       THEN NULL ELSE :now END,
    errors = json_insert(errors, '$[#]', json_object(
        'attempt', attempts,
        'error', 'lease expired: worker ' || coalesce(worker_id, '?') || ' stopped reporting',
        'traceback', '',
        'at', strftime('%Y-%m-%dT%H:%M:%fZ', :now, 'unixepoch'),
        'worker_id', coalesce(worker_id, ''))),
    lease_expires_at = NULL
WHERE seq IN (
    SELECT seq FROM conveyor_tasks
    WHERE status = 'running' AND lease_expires_at < :now
    LIMIT :limit
)
RETURNING id, has_dependents;

-- name: prune
-- Delete a bounded batch of finished tasks past their queue's retention. A parent stays
-- while a child still waits for it: the child needs its outcome and result.
DELETE FROM conveyor_tasks
WHERE seq IN (
    SELECT t.seq FROM conveyor_tasks AS t LEFT JOIN conveyor_queues AS q ON q.name = t.queue
    WHERE t.finished_at IS NOT NULL
      AND t.finished_at < :now - CASE WHEN t.status = 'failed'
                                      THEN coalesce(q.failed_retention, :failed_seconds)
                                      ELSE coalesce(q.completed_retention, :completed_seconds)
                                 END
      AND (t.has_dependents = 0 OR NOT EXISTS (
          SELECT 1 FROM conveyor_dependencies AS d
          JOIN conveyor_tasks AS c ON c.id = d.child_id
          WHERE d.parent_id = t.id AND (d.settled = 0 OR c.status = 'waiting')))
    LIMIT :limit
)
RETURNING id, has_dependents, workflow_id;

-- name: prune_child_edges
-- The edges into pruned tasks.
DELETE FROM conveyor_dependencies WHERE child_id IN (SELECT value FROM json_each(:ids));

-- name: prune_parent_edges
-- The edges out of pruned tasks; their children no longer wait for them.
DELETE FROM conveyor_dependencies WHERE parent_id IN (SELECT value FROM json_each(:ids));

-- name: replay
-- A dead letter back to queued, with a fresh set of attempts and its history kept.
UPDATE conveyor_tasks
SET status = 'queued', attempts = 0, run_at = :now, finished_at = NULL, started_at = NULL,
    worker_id = NULL
WHERE status = 'failed'
  AND (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
  AND (:queue IS NULL OR queue = :queue)
RETURNING id, has_dependents;

-- name: purge
-- Delete dead letters.
DELETE FROM conveyor_tasks
WHERE status = 'failed'
  AND (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
  AND (:queue IS NULL OR queue = :queue);

-- name: stats
-- Counts by queue and stored state; scheduled is split out of queued by run_at.
SELECT queue,
       CASE WHEN status = 'queued' AND run_at > :now THEN 'scheduled' ELSE status END AS state,
       count(*) AS n,
       min(CASE WHEN status = 'queued' AND run_at <= :now THEN run_at END) AS oldest_due
FROM conveyor_tasks
GROUP BY queue, state;

-- name: activity_counts
-- Tasks finished per queue and bucket of the window [:now - :window, :now].
SELECT queue,
       CAST((finished_at - (:now - :window)) / :bucket AS INTEGER) AS bucket,
       sum(status = 'completed') AS completed,
       sum(status = 'failed') AS failed
FROM conveyor_tasks
WHERE finished_at >= :now - :window AND finished_at <= :now
  AND status IN ('completed', 'failed')
GROUP BY queue, bucket;

-- name: activity_percentiles
-- Nearest-rank p50 and p95 of the processing seconds of tasks completed in the window.
SELECT queue,
       min(CASE WHEN rank >= 0.50 * n THEN seconds END) AS p50,
       min(CASE WHEN rank >= 0.95 * n THEN seconds END) AS p95
FROM (
    SELECT queue, finished_at - started_at AS seconds,
           row_number() OVER (PARTITION BY queue ORDER BY finished_at - started_at) AS rank,
           count(*) OVER (PARTITION BY queue) AS n
    FROM conveyor_tasks
    WHERE finished_at >= :now - :window AND finished_at <= :now
      AND status = 'completed' AND started_at IS NOT NULL
) AS ranked
GROUP BY queue;

-- name: acquire_duty
-- Take a duty's lease if it is free or expired, or renew it if we hold it.
INSERT INTO conveyor_duties (name, holder, expires_at) VALUES (:name, :holder, :now + :ttl)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE conveyor_duties.holder = excluded.holder OR conveyor_duties.expires_at < :now
RETURNING holder;

-- name: next_due
-- When the earliest queued task of one queue is due.
SELECT min(run_at) FROM conveyor_tasks WHERE status = 'queued' AND queue = :queue;

-- name: set_queue
-- Store a queue's settings, replacing what was there; a changed rate refills the bucket.
INSERT INTO conveyor_queues (
    name, paused, rate, burst, max_concurrent, max_per_key, max_attempts, min_backoff,
    max_backoff, max_doublings, age_limit, lease_seconds, completed_retention,
    failed_retention, priority, secret_fields, target_url, target_method, target_headers,
    target_deadline, secret, previous_secret, updated_at
) VALUES (
    :name, :paused, :rate, :burst, :max_concurrent, :max_per_key, :max_attempts, :min_backoff,
    :max_backoff, :max_doublings, :age_limit, :lease_seconds, :completed_retention,
    :failed_retention, :priority, :secret_fields,
    :target_url, :target_method, :target_headers, :target_deadline, :secret, :previous_secret,
    :now
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
    tokens = CASE WHEN conveyor_queues.rate IS excluded.rate
                   AND conveyor_queues.burst IS excluded.burst
                  THEN conveyor_queues.tokens END;

-- name: get_queue
-- One queue's stored settings.
SELECT * FROM conveyor_queues WHERE name = :name;

-- name: list_queues
-- Every queue with stored settings.
SELECT * FROM conveyor_queues ORDER BY name;

-- name: register_worker
-- Add a worker to the registry, or renew its row when it registers again (after a prune).
INSERT INTO conveyor_workers
    (id, host, pid, queues, concurrency, in_flight, heartbeat_seconds, started_at, last_seen)
VALUES (:id, :host, :pid, :queues, :concurrency, 0, :heartbeat_seconds, :now, :now)
ON CONFLICT (id) DO UPDATE
SET last_seen = excluded.last_seen, stopped_at = NULL, heartbeat_seconds = excluded.heartbeat_seconds;

-- name: heartbeat_worker
-- Record that a running worker is alive and how many tasks it holds.
UPDATE conveyor_workers SET last_seen = :now, in_flight = :in_flight
WHERE id = :id AND stopped_at IS NULL
RETURNING id;

-- name: deregister_worker
-- Mark a worker stopped after a graceful stop.
UPDATE conveyor_workers SET stopped_at = :now, last_seen = :now, in_flight = 0
WHERE id = :id;

-- name: list_workers
-- Every registered worker, oldest first; alive when running and heard from lately enough.
SELECT *, stopped_at IS NULL AND last_seen + :dead_after_beats * heartbeat_seconds >= :now AS alive
FROM conveyor_workers
ORDER BY started_at, id;

-- name: prune_workers
-- Forget workers that stopped or were last heard from longer ago than the retention.
DELETE FROM conveyor_workers
WHERE coalesce(stopped_at, last_seen) < :now - :retention_seconds;

-- name: add_dependency
-- One edge of a workflow: the child waits for the parent.
INSERT INTO conveyor_dependencies (parent_id, child_id, position)
VALUES (:parent_id, :child_id, :position);

-- name: settle_edges
-- Mark the edges out of finished (or deleted) parents as counted, once; the edges that
-- were not counted yet come back.
UPDATE conveyor_dependencies SET settled = 1
WHERE settled = 0 AND parent_id IN (SELECT value FROM json_each(:ids))
  AND NOT EXISTS (
      SELECT 1 FROM conveyor_tasks AS p
      WHERE p.id = conveyor_dependencies.parent_id
        AND p.status NOT IN ('completed', 'failed', 'cancelled'))
RETURNING child_id, parent_id;

-- name: task_states
-- Name and state of these tasks.
SELECT id, name, status FROM conveyor_tasks WHERE id IN (SELECT value FROM json_each(:ids));

-- name: waiting_children
-- The tasks among these still waiting for parents.
SELECT id, on_parent_failure FROM conveyor_tasks
WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'waiting'
ORDER BY seq;

-- name: cancel_dependent
-- Cancel a waiting task because a parent did not complete; the reason names the parent.
UPDATE conveyor_tasks
SET status = 'cancelled', finished_at = :now,
    errors = json_insert(errors, '$[#]', json_object(
        'attempt', attempts,
        'error', 'cancelled: ' || :reason,
        'traceback', '',
        'at', strftime('%Y-%m-%dT%H:%M:%fZ', :now, 'unixepoch'),
        'worker_id', ''))
WHERE id = :id AND status = 'waiting'
RETURNING id, has_dependents;

-- name: cancelled_children
-- Dependents of these tasks that a parent's outcome cancelled (their last error is that
-- notice) and none of whose parents is failed, cancelled or deleted now.
SELECT DISTINCT c.id, c.seq
FROM conveyor_dependencies AS d
JOIN conveyor_tasks AS c ON c.id = d.child_id
WHERE d.parent_id IN (SELECT value FROM json_each(:ids))
  AND c.status = 'cancelled'
  AND json_extract(c.errors, '$[#-1].error') LIKE 'cancelled: parent task %'
  AND NOT EXISTS (
      SELECT 1 FROM conveyor_dependencies AS o
      LEFT JOIN conveyor_tasks AS p ON p.id = o.parent_id
      WHERE o.child_id = c.id AND (p.id IS NULL OR p.status IN ('failed', 'cancelled')))
ORDER BY c.seq;

-- name: lock_edges
-- The edges into a task (SQLite's write lock already keeps settling out meanwhile).
SELECT parent_id FROM conveyor_dependencies WHERE child_id = :id;

-- name: unsettle_edges
-- The edges into a task from parents that have not completed count again.
UPDATE conveyor_dependencies SET settled = 0
WHERE child_id = :id AND settled = 1
  AND EXISTS (
      SELECT 1 FROM conveyor_tasks AS p
      WHERE p.id = conveyor_dependencies.parent_id AND p.status <> 'completed')
RETURNING parent_id;

-- name: revive_dependent
-- A cancelled dependent back to waiting for its uncounted parents, the cancellation
-- notice dropped (the cancellation is undone).
UPDATE conveyor_tasks
SET status = 'waiting', finished_at = NULL, errors = json_remove(errors, '$[#-1]'),
    waiting_on = (SELECT count(*) FROM conveyor_dependencies WHERE child_id = :id AND settled = 0)
WHERE id = :id AND status = 'cancelled'
RETURNING id, has_dependents;

-- name: count_parents
-- Count parents' outcomes against a waiting task.
UPDATE conveyor_tasks SET waiting_on = waiting_on - :n
WHERE id = :id AND status = 'waiting'
RETURNING waiting_on;

-- name: parent_results
-- A waiting task's arguments with its parents' results, in parent order.
SELECT c.args, c.pass_results, d.parent_id, p.result
FROM conveyor_tasks AS c
LEFT JOIN conveyor_dependencies AS d ON d.child_id = c.id
LEFT JOIN conveyor_tasks AS p ON p.id = d.parent_id
WHERE c.id = :id AND c.status = 'waiting'
ORDER BY d.position;

-- name: promote
-- Queue a task whose parents are all counted, with the arguments it runs with.
UPDATE conveyor_tasks
SET status = 'queued', args = :args, waiting_on = 0, run_at = max(run_at, :now)
WHERE id = :id AND status = 'waiting'
RETURNING queue;

-- name: unsettled_parents
-- Finished (or deleted) parents whose outcome a crash left uncounted.
SELECT DISTINCT d.parent_id
FROM conveyor_dependencies AS d INDEXED BY conveyor_dependencies_unsettled
LEFT JOIN conveyor_tasks AS p ON p.id = d.parent_id
WHERE d.settled = 0 AND (p.id IS NULL OR p.status IN ('completed', 'failed', 'cancelled'))
LIMIT :limit;

-- name: workflow_tasks
-- The members of a workflow, in enqueue order.
SELECT * FROM conveyor_tasks WHERE workflow_id = :workflow_id ORDER BY seq;

-- name: workflow_edges
-- The edges between the members of a workflow, children in enqueue order.
SELECT d.parent_id, d.child_id
FROM conveyor_tasks AS c JOIN conveyor_dependencies AS d ON d.child_id = c.id
WHERE c.workflow_id = :workflow_id
ORDER BY c.seq, d.position;

-- name: workflow_counts
-- Members of a workflow by state.
SELECT CASE WHEN status = 'queued' AND run_at > :now THEN 'scheduled' ELSE status END
       AS state, count(*) AS n
FROM conveyor_tasks WHERE workflow_id = :workflow_id
GROUP BY state;

-- name: set_schedule
-- Store a schedule, replacing one of the same name.
INSERT INTO conveyor_schedules (
    name, task, queue, cron, every, timezone, args, kwargs, misfire, updated_at
) VALUES (
    :name, :task, :queue, :cron, :every, :timezone, :args, :kwargs, :misfire, :now
)
ON CONFLICT (name) DO UPDATE SET
    task = excluded.task, queue = excluded.queue, cron = excluded.cron,
    every = excluded.every, timezone = excluded.timezone, args = excluded.args,
    kwargs = excluded.kwargs, misfire = excluded.misfire, updated_at = excluded.updated_at;

-- name: delete_schedules
-- Remove stored schedules by name.
DELETE FROM conveyor_schedules WHERE name IN (SELECT value FROM json_each(:names))
RETURNING name;

-- name: list_schedules
-- Every stored schedule, by name.
SELECT * FROM conveyor_schedules ORDER BY name;

-- name: totals
-- Monotonic totals per queue: tasks where they stand plus what the tallies kept of tasks
-- that left the table, and the claims limits cut short (see migration 0007).
SELECT queue,
       sum(enqueued) AS enqueued,
       sum(completed) AS completed,
       sum(failed) AS failed,
       sum(failed_attempts) AS failed_attempts,
       sum(throttled_claims) AS throttled_claims
FROM (
    SELECT queue,
           count(*) AS enqueued,
           sum(status = 'completed') AS completed,
           sum(status = 'failed') AS failed,
           sum(CASE WHEN errors = '[]' THEN 0 ELSE json_array_length(errors) END)
               AS failed_attempts,
           0 AS throttled_claims
    FROM conveyor_tasks
    GROUP BY queue
    UNION ALL
    SELECT queue,
           sum(CASE WHEN name = 'deleted' THEN value ELSE 0 END),
           sum(CASE WHEN name = 'deleted_completed' THEN value ELSE 0 END),
           sum(CASE WHEN name IN ('deleted_failed', 'replayed') THEN value ELSE 0 END),
           sum(CASE WHEN name = 'deleted_errors' THEN value ELSE 0 END),
           sum(CASE WHEN name = 'throttled_claims' THEN value ELSE 0 END)
    FROM conveyor_tallies
    GROUP BY queue
)
GROUP BY queue
ORDER BY queue;

-- name: processing_times
-- For tasks finished in the window: per queue and final status, how many ran at most each
-- bucket's bound (the last attempt, started_at to finished_at), their count and sum.
SELECT t.queue, t.status, b.value AS le,
       sum(t.finished_at - t.started_at <= b.value) AS n,
       count(*) AS count,
       sum(t.finished_at - t.started_at) AS total
FROM conveyor_tasks AS t, json_each(:buckets) AS b
WHERE t.finished_at >= :now - :window_seconds
  AND t.status IN ('completed', 'failed')
  AND t.started_at IS NOT NULL
GROUP BY t.queue, t.status, b.value
ORDER BY t.queue, t.status, b.value;

-- name: count_throttled
-- Count a claim that a queue's rate or concurrency limit cut short (see migration 0007).
INSERT INTO conveyor_tallies (queue, name, value) VALUES (:queue, 'throttled_claims', 1)
ON CONFLICT (queue, name) DO UPDATE SET value = value + 1;
