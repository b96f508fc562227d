-- Tasks live in one table: a task's state is a column, never a second queue.
--
-- Storage settings, because this is a high-churn table: every task is inserted, updated
-- two or three times (claim, heartbeats, outcome) and finally deleted by the pruner.
--
-- fillfactor = 80: every state change touches an indexed column (status is in the claim
-- and state indexes, lease_expires_at in the lease index), so these updates cannot be HOT.
-- The free fifth of each page still lets the new version of a row land on the page of
-- the old one, so a task's short life stays on one page instead of spreading new
-- versions over the end of the table between vacuums.
--
-- autovacuum: the default (vacuum once 20% of the table is dead) lets a table that keeps
-- a long retention of finished tasks pile up dead row versions by the hundred thousand.
-- They cost the claim most: its partial index keeps pointing at rows that were queued a
-- moment ago. Vacuum and analyze after about 1% / 2% churn instead, without the cost-based
-- sleep, so each run is short and the planner's idea of how many rows are queued stays
-- current.
CREATE TABLE conveyor_tasks (
    seq              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               text        NOT NULL UNIQUE,
    name             text        NOT NULL,
    queue            text        NOT NULL,
    status           text        NOT NULL CHECK (status IN
                         ('waiting', 'queued', 'running', 'completed', 'failed', 'cancelled')),
    priority         integer     NOT NULL,
    args             jsonb       NOT NULL,
    kwargs           jsonb       NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL,
    min_backoff      float8      NOT NULL,
    max_backoff      float8      NOT NULL,
    max_doublings    integer     NOT NULL,
    timeout          float8,
    result           jsonb,
    errors           jsonb       NOT NULL DEFAULT '[]',
    created_at       timestamptz NOT NULL,
    run_at           timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    idempotency_key  text,
    worker_id        text,
    lease_token      bigint      NOT NULL DEFAULT 0,
    lease_expires_at timestamptz
) WITH (
    fillfactor = 80,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);

-- The claim walks this index in order: priority, then enqueue order.
CREATE INDEX conveyor_tasks_claim ON conveyor_tasks (queue, priority, seq)
    WHERE status = 'queued';
-- When the next queued task is due: one index probe per queue for an idle worker, even
-- when many tasks are scheduled far ahead.
CREATE INDEX conveyor_tasks_due ON conveyor_tasks (queue, run_at)
    WHERE status = 'queued';
CREATE UNIQUE INDEX conveyor_tasks_idempotency ON conveyor_tasks (queue, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX conveyor_tasks_lease ON conveyor_tasks (lease_expires_at)
    WHERE status = 'running';
CREATE INDEX conveyor_tasks_state ON conveyor_tasks (queue, status, seq);
CREATE INDEX conveyor_tasks_finished ON conveyor_tasks (finished_at)
    WHERE finished_at IS NOT NULL;

-- One row per leader duty (reaper, pruner, cron): whoever holds an unexpired row acts.
-- Renewals change no indexed column, so with room on the page every renewal is HOT.
CREATE TABLE conveyor_duties (
    name       text        PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
) WITH (fillfactor = 50);
