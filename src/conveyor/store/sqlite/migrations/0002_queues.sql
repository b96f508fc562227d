-- Per-queue settings; a queue without a row has the defaults.
CREATE TABLE conveyor_queues (
    name       TEXT PRIMARY KEY,
    paused     INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
