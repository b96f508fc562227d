-- Queue limits, retry policy and retention; the token bucket's state lives in the row.
ALTER TABLE conveyor_queues ADD COLUMN rate float8;
ALTER TABLE conveyor_queues ADD COLUMN burst integer;
ALTER TABLE conveyor_queues ADD COLUMN max_concurrent integer;
ALTER TABLE conveyor_queues ADD COLUMN max_per_key integer;
ALTER TABLE conveyor_queues ADD COLUMN max_attempts integer;
ALTER TABLE conveyor_queues ADD COLUMN min_backoff float8;
ALTER TABLE conveyor_queues ADD COLUMN max_backoff float8;
ALTER TABLE conveyor_queues ADD COLUMN max_doublings integer;
ALTER TABLE conveyor_queues ADD COLUMN age_limit float8;
ALTER TABLE conveyor_queues ADD COLUMN lease_seconds float8;
ALTER TABLE conveyor_queues ADD COLUMN completed_retention float8;
ALTER TABLE conveyor_queues ADD COLUMN failed_retention float8;
ALTER TABLE conveyor_queues ADD COLUMN priority integer;
ALTER TABLE conveyor_queues ADD COLUMN tokens float8;
ALTER TABLE conveyor_queues ADD COLUMN tokens_at timestamptz;

-- Ordered groups and per-key concurrency.
ALTER TABLE conveyor_tasks ADD COLUMN group_key text;
ALTER TABLE conveyor_tasks ADD COLUMN concurrency_key text;
CREATE INDEX conveyor_tasks_group ON conveyor_tasks (queue, group_key, seq)
    WHERE group_key IS NOT NULL AND status IN ('queued', 'running');
CREATE INDEX conveyor_tasks_key ON conveyor_tasks (queue, concurrency_key)
    WHERE concurrency_key IS NOT NULL AND status = 'running';
