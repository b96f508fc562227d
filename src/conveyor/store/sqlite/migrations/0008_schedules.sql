-- Schedules kept in the store (queue file, HTTP API); those in code stay in code.
CREATE TABLE conveyor_schedules (
    name       TEXT PRIMARY KEY,
    task       TEXT NOT NULL,
    queue      TEXT NOT NULL,
    cron       TEXT,
    every      REAL,
    timezone   TEXT NOT NULL,
    args       TEXT NOT NULL,
    kwargs     TEXT NOT NULL,
    misfire    TEXT NOT NULL,
    updated_at REAL NOT NULL
);
