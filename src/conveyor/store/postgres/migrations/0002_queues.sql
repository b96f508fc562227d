-- Per-queue settings; a queue without a row has the defaults.
CREATE TABLE conveyor_queues (
    name       text        PRIMARY KEY,
    paused     boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL
);
