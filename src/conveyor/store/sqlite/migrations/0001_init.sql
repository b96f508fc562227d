-- Tasks live in one table: a task's state is a column, never a second queue.
CREATE TABLE conveyor_tasks (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    name             TEXT    NOT NULL,
    queue            TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    priority         INTEGER NOT NULL,
    args             TEXT    NOT NULL,
    kwargs           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    min_backoff      REAL    NOT NULL,
    max_backoff      REAL    NOT NULL,
    max_doublings    INTEGER NOT NULL,
    timeout          REAL,
    result           TEXT,
    errors           TEXT    NOT NULL DEFAULT '[]',
    created_at       REAL    NOT NULL,
    run_at           REAL    NOT NULL,
    started_at       REAL,
    finished_at      REAL,
    idempotency_key  TEXT,
    worker_id        TEXT,
    lease_token      INTEGER NOT NULL DEFAULT 0,
    lease_expires_at REAL
);

-- The claim walks this index in order: priority, then enqueue order.
CREATE INDEX conveyor_tasks_claim ON conveyor_tasks (queue, priority, seq)
    WHERE status = 'queued';
CREATE UNIQUE INDEX conveyor_tasks_idempotency ON conveyor_tasks (queue, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX conveyor_tasks_lease ON conveyor_tasks (lease_expires_at)
    WHERE status = 'running';
CREATE INDEX conveyor_tasks_state ON conveyor_tasks (queue, status, seq);
CREATE INDEX conveyor_tasks_finished ON conveyor_tasks (finished_at)
    WHERE finished_at IS NOT NULL;

-- One row per leader duty (reaper, pruner, cron): whoever holds an unexpired row acts.
CREATE TABLE conveyor_duties (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at REAL NOT NULL
);
