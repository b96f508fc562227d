-- Queue limits, retry policy and retention; the token bucket's state lives in the row.
ALTER TABLE conveyor_queues ADD COLUMN rate REAL;
ALTER TABLE conveyor_queues ADD COLUMN burst INTEGER;
ALTER TABLE conveyor_queues ADD COLUMN max_concurrent INTEGER;
ALTER TABLE conveyor_queues ADD COLUMN max_per_key INTEGER;
ALTER TABLE conveyor_queues ADD COLUMN max_attempts INTEGER;
ALTER TABLE conveyor_queues ADD COLUMN min_backoff REAL;
ALTER TABLE conveyor_queues ADD COLUMN max_backoff REAL;
ALTER TABLE conveyor_queues ADD COLUMN max_doublings INTEGER;
ALTER TABLE conveyor_queues ADD COLUMN age_limit REAL;
ALTER TABLE conveyor_queues ADD COLUMN lease_seconds REAL;
ALTER TABLE conveyor_queues ADD COLUMN completed_retention REAL;
ALTER TABLE conveyor_queues ADD COLUMN failed_retention REAL;
ALTER TABLE conveyor_queues ADD COLUMN priority INTEGER;
ALTER TABLE conveyor_queues ADD COLUMN tokens REAL;
ALTER TABLE conveyor_queues ADD COLUMN tokens_at REAL;

-- Ordered groups and per-key concurrency.
ALTER TABLE conveyor_tasks ADD COLUMN group_key TEXT;
ALTER TABLE conveyor_tasks ADD COLUMN concurrency_key TEXT;
CREATE INDEX conveyor_tasks_group ON conveyor_tasks (queue, group_key, seq)
    WHERE group_key IS NOT NULL AND status IN ('queued', 'running');
CREATE INDEX conveyor_tasks_key ON conveyor_tasks (queue, concurrency_key)
    WHERE concurrency_key IS NOT NULL AND status = 'running';
