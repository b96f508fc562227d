-- Tallies of what left conveyor_tasks, so /metrics can give monotonic totals per queue
-- (enqueued, completed, failed, failed attempts) as "rows in the table + rows tallied",
-- computed by any process at scrape time without a counter row on the hot path.
-- Triggers keep them, so every statement that deletes tasks (prune, purge, or one added
-- later) or replays a dead letter is counted without knowing about metrics.
CREATE TABLE conveyor_tallies (
    queue TEXT    NOT NULL,
    name  TEXT    NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (queue, name)
);

CREATE TRIGGER conveyor_tasks_tally_delete AFTER DELETE ON conveyor_tasks
BEGIN
    INSERT INTO conveyor_tallies (queue, name, value)
    VALUES (OLD.queue, 'deleted', 1),
           (OLD.queue, 'deleted_' || OLD.status, 1),
           (OLD.queue, 'deleted_errors', json_array_length(OLD.errors))
    ON CONFLICT (queue, name) DO UPDATE SET value = value + excluded.value;
END;

-- A replayed dead letter leaves the failed count: tally it, so failed stays monotonic.
CREATE TRIGGER conveyor_tasks_tally_replay AFTER UPDATE OF status ON conveyor_tasks
WHEN OLD.status = 'failed' AND NEW.status <> 'failed'
BEGIN
    INSERT INTO conveyor_tallies (queue, name, value) VALUES (OLD.queue, 'replayed', 1)
    ON CONFLICT (queue, name) DO UPDATE SET value = value + excluded.value;
END;
