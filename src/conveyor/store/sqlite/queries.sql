-- name: enqueue
-- Insert one task; a clash on (queue, idempotency_key) inserts nothing and returns no row.
INSERT INTO conveyor_tasks (
    id, name, queue, status, priority, args, kwargs, max_attempts, min_backoff,
    max_backoff, max_doublings, timeout, created_at, run_at, idempotency_key
) VALUES (
    :id, :name, :queue, 'queued', :priority, :args, :kwargs, :max_attempts, :min_backoff,
    :max_backoff, :max_doublings, :timeout, :now, coalesce(:run_at, :now + :delay),
    :idempotency_key
)
ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING *;

-- name: get_by_idempotency_key
-- The task that already holds an idempotency key in a queue.
SELECT * FROM conveyor_tasks WHERE queue = :queue AND idempotency_key = :idempotency_key;

-- name: paused_queues
-- Queues whose tasks are not handed out.
SELECT name FROM conveyor_queues WHERE paused;

-- name: claim_candidates
-- The head of one queue: due tasks in claim order, straight down the claim index.
-- Claiming queue by queue keeps SQLite from sorting a whole backlog on every claim.
SELECT seq, priority FROM conveyor_tasks INDEXED BY conveyor_tasks_claim
WHERE status = 'queued' AND queue = :queue AND run_at <= :now
ORDER BY priority, seq
LIMIT :limit;

-- name: claim
-- Lease the chosen tasks. Each claim bumps the lease token, so whoever held an earlier
-- lease on the task is fenced out. Runs in the same write transaction as the candidates.
UPDATE conveyor_tasks
SET status = 'running',
    attempts = attempts + 1,
    lease_token = lease_token + 1,
    worker_id = :worker_id,
    started_at = :now,
    lease_expires_at = :now + :lease_seconds
WHERE seq IN (SELECT value FROM json_each(:seqs)) AND status = 'queued'
RETURNING *;

-- name: heartbeat
-- Extend one lease while its token is current.
UPDATE conveyor_tasks SET lease_expires_at = :now + :lease_seconds
WHERE id = :id AND lease_token = :token AND status = 'running'
RETURNING id;

-- name: complete
-- Finish an attempt successfully, if the lease is still held.
UPDATE conveyor_tasks
SET status = 'completed', result = :result, finished_at = :now, lease_expires_at = NULL
WHERE id = :id AND lease_token = :token AND status = 'running'
RETURNING id;

-- name: fail
-- Record a failed attempt: back to queued after the delay, or failed for good when the
-- delay is NULL or the attempts are used up.
UPDATE conveyor_tasks
SET status = CASE WHEN :retry_delay IS NOT NULL AND attempts < max_attempts
                  THEN 'queued' ELSE 'failed' END,
    run_at = CASE WHEN :retry_delay IS NOT NULL AND attempts < max_attempts
                  THEN :now + :retry_delay ELSE run_at END,
    finished_at = CASE WHEN :retry_delay IS NOT NULL AND attempts < max_attempts
                       THEN NULL ELSE :now END,
    errors = json_insert(errors, '$[#]', json(:error)),
    lease_expires_at = NULL
WHERE id = :id AND lease_token = :token AND status = 'running'
RETURNING id;

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
RETURNING id;

-- name: get
-- One task by id.
SELECT * FROM conveyor_tasks WHERE id = :id;

-- name: reap_expired
-- Expired leases: back to queued, or failed when no attempt is left; the error history
-- says whose lease expired.
UPDATE conveyor_tasks
SET status = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
    run_at = :now,
    finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE :now END,
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
RETURNING id;

-- name: prune
-- Delete a bounded batch of finished tasks past their retention.
DELETE FROM conveyor_tasks
WHERE seq IN (
    SELECT seq FROM conveyor_tasks
    WHERE finished_at IS NOT NULL
      AND ((status = 'completed' AND finished_at < :now - :completed_seconds)
        OR (status = 'cancelled' AND finished_at < :now - :completed_seconds)
        OR (status = 'failed' AND finished_at < :now - :failed_seconds))
    LIMIT :limit
);

-- name: replay
-- A dead letter back to queued, with a fresh set of attempts and its history kept.
UPDATE conveyor_tasks
SET status = 'queued', attempts = 0, run_at = :now, finished_at = NULL, started_at = NULL,
    worker_id = NULL
WHERE status = 'failed'
  AND (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
  AND (:queue IS NULL OR queue = :queue)
RETURNING id;

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

-- name: acquire_duty
-- Take a duty's lease if it is free or expired, or renew it if we hold it.
INSERT INTO conveyor_duties (name, holder, expires_at) VALUES (:name, :holder, :now + :ttl)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE conveyor_duties.holder = excluded.holder OR conveyor_duties.expires_at < :now
RETURNING holder;

-- name: next_due
-- When the earliest queued task of these unpaused queues is due.
SELECT min(run_at) FROM conveyor_tasks
WHERE status = 'queued'
  AND queue IN (
      SELECT value FROM json_each(:queues)
      WHERE value NOT IN (SELECT name FROM conveyor_queues WHERE paused)
  );

-- name: set_queue
-- Store a queue's settings, replacing what was there.
INSERT INTO conveyor_queues (name, paused, updated_at) VALUES (:name, :paused, :now)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at;

-- name: get_queue
-- One queue's stored settings.
SELECT name, paused FROM conveyor_queues WHERE name = :name;

-- name: list_queues
-- Every queue with stored settings.
SELECT name, paused FROM conveyor_queues ORDER BY name;
