-- Workflows: tasks that wait for other tasks (chains, fan-in) and the edges between them.
ALTER TABLE conveyor_tasks ADD COLUMN workflow_id TEXT;
-- Parents not yet counted; a waiting task is queued when this reaches 0.
ALTER TABLE conveyor_tasks ADD COLUMN waiting_on INTEGER NOT NULL DEFAULT 0;
-- 'one': the parent's result becomes the first argument; 'all': the list of them.
ALTER TABLE conveyor_tasks ADD COLUMN pass_results TEXT;
ALTER TABLE conveyor_tasks ADD COLUMN on_parent_failure TEXT NOT NULL DEFAULT 'cancel';
-- Lets an outcome skip the edge lookup for the many tasks that nothing waits for.
ALTER TABLE conveyor_tasks ADD COLUMN has_dependents INTEGER NOT NULL DEFAULT 0;
CREATE INDEX conveyor_tasks_workflow ON conveyor_tasks (workflow_id, seq)
    WHERE workflow_id IS NOT NULL;

-- One row per (parent, child). `settled` flips once, when the parent's outcome has been
-- counted against the child, so an outcome is never counted twice and one that a crash
-- left uncounted is found again by the reaper.
CREATE TABLE conveyor_dependencies (
    parent_id TEXT    NOT NULL,
    child_id  TEXT    NOT NULL,
    position  INTEGER NOT NULL,
    settled   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX conveyor_dependencies_child ON conveyor_dependencies (child_id, position);
CREATE INDEX conveyor_dependencies_unsettled ON conveyor_dependencies (parent_id)
    WHERE settled = 0;
