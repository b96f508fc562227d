-- Tallies of what left conveyor_tasks, so /metrics can give monotonic totals per queue
-- (enqueued, completed, failed, failed attempts) as "rows in the table + rows tallied",
-- computed by any process at scrape time without a counter row on the hot path.
-- Triggers keep them, so every statement that deletes tasks (prune, purge, or one added
-- later) or replays a dead letter is counted without knowing about metrics.
CREATE TABLE conveyor_tallies (
    queue text   NOT NULL,
    name  text   NOT NULL,
    value bigint NOT NULL,
    PRIMARY KEY (queue, name)
);

-- Once per DELETE statement over its transition table, so a pruned batch of 500 tasks
-- costs one upsert per queue, not 500. Rows are upserted in key order, so a purge and
-- the pruner touching the same tallies wait on each other instead of deadlocking.
CREATE FUNCTION conveyor_tally_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conveyor_tallies AS t (queue, name, value)
    SELECT d.queue, k.name, sum(k.n)
    FROM deleted_rows AS d
    CROSS JOIN LATERAL (VALUES ('deleted', 1),
                               ('deleted_' || d.status, 1),
                               ('deleted_errors', jsonb_array_length(d.errors))) AS k (name, n)
    GROUP BY d.queue, k.name
    ORDER BY d.queue, k.name
    ON CONFLICT (queue, name) DO UPDATE SET value = t.value + excluded.value;
    RETURN NULL;
END
$$;

CREATE TRIGGER conveyor_tasks_tally_delete AFTER DELETE ON conveyor_tasks
REFERENCING OLD TABLE AS deleted_rows
FOR EACH STATEMENT EXECUTE FUNCTION conveyor_tally_deleted();

-- A replayed dead letter leaves the failed count: tally it, so failed stays monotonic.
-- A row trigger with a WHEN clause: claims and acknowledgements, which never move a task
-- out of failed, only evaluate the condition and queue no trigger event.
CREATE FUNCTION conveyor_tally_replayed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conveyor_tallies AS t (queue, name, value) VALUES (OLD.queue, 'replayed', 1)
    ON CONFLICT (queue, name) DO UPDATE SET value = t.value + excluded.value;
    RETURN NULL;
END
$$;

CREATE TRIGGER conveyor_tasks_tally_replay AFTER UPDATE OF status ON conveyor_tasks
FOR EACH ROW WHEN (OLD.status = 'failed' AND NEW.status <> 'failed')
EXECUTE FUNCTION conveyor_tally_replayed();
