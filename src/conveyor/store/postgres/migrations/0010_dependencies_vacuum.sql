-- The workflow edges churn like the tasks do: each is inserted with its child, updated
-- when its parent settles, and deleted with its tasks by the pruner. The default
-- autovacuum (once a fifth of the table is dead) lets a large edges table carry that
-- fifth as bloat; vacuum it on the tasks table's terms instead (see 0001_init.sql).
ALTER TABLE conveyor_dependencies SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);
