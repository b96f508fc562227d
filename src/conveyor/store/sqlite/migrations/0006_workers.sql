-- The worker registry: one row per worker process, beaten while it runs. A row whose
-- last_seen is older than three beats is a dead worker; stopped_at marks a graceful stop.
-- The pruner deletes rows of workers that stopped or died long ago.
CREATE TABLE conveyor_workers (
    id                TEXT    PRIMARY KEY,
    host              TEXT    NOT NULL,
    pid               INTEGER NOT NULL,
    queues            TEXT    NOT NULL,
    concurrency       INTEGER NOT NULL,
    in_flight         INTEGER NOT NULL DEFAULT 0,
    heartbeat_seconds REAL    NOT NULL,
    started_at        REAL    NOT NULL,
    last_seen         REAL    NOT NULL,
    stopped_at        REAL
);
