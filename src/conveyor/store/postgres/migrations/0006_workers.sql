-- The worker registry: one row per worker process, beaten while it runs. A row whose
-- last_seen is older than three beats is a dead worker; stopped_at marks a graceful stop.
-- The pruner deletes rows of workers that stopped or died long ago.
-- Every beat rewrites last_seen and in_flight; no index covers them, so with room left on
-- the page each beat is a HOT update. The table holds a row per worker process, so the
-- listing and the prune scan it whole.
CREATE TABLE conveyor_workers (
    id                text        PRIMARY KEY,
    host              text        NOT NULL,
    pid               integer     NOT NULL,
    queues            jsonb       NOT NULL,
    concurrency       integer     NOT NULL,
    in_flight         integer     NOT NULL DEFAULT 0,
    heartbeat_seconds float8      NOT NULL,
    started_at        timestamptz NOT NULL,
    last_seen         timestamptz NOT NULL,
    stopped_at        timestamptz
) WITH (fillfactor = 50);
