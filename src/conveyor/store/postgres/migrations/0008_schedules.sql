-- Schedules kept in the store (queue file, HTTP API); those in code stay in code.
CREATE TABLE conveyor_schedules (
    name       text        PRIMARY KEY,
    task       text        NOT NULL,
    queue      text        NOT NULL,
    cron       text,
    every      float8,
    timezone   text        NOT NULL,
    args       jsonb       NOT NULL,
    kwargs     jsonb       NOT NULL,
    misfire    text        NOT NULL CHECK (misfire IN ('once', 'skip')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((cron IS NULL) <> (every IS NULL))
);
