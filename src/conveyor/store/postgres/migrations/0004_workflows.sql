-- Workflows: tasks that wait for other tasks (chains, fan-in) and the edges between them.
-- Columns with constant defaults: adding them rewrites nothing.
ALTER TABLE conveyor_tasks
    ADD COLUMN workflow_id text,
    -- Parents not yet counted; a waiting task is queued when this reaches 0.
    ADD COLUMN waiting_on integer NOT NULL DEFAULT 0,
    -- 'one': the parent's result becomes the first argument; 'all': the list of them.
    ADD COLUMN pass_results text CHECK (pass_results IN ('one', 'all')),
    ADD COLUMN on_parent_failure text NOT NULL DEFAULT 'cancel'
        CHECK (on_parent_failure IN ('cancel', 'run')),
    -- Lets an outcome skip the edge lookup for the many tasks that nothing waits for.
    ADD COLUMN has_dependents boolean NOT NULL DEFAULT false;
CREATE INDEX conveyor_tasks_workflow ON conveyor_tasks (workflow_id, seq)
    WHERE workflow_id IS NOT NULL;

-- One row per (parent, child). `settled` flips once, when the parent's outcome has been
-- counted against the child, so an outcome is never counted twice and one that a crash
-- left uncounted is found again by the reaper.
CREATE TABLE conveyor_dependencies (
    parent_id text    NOT NULL,
    child_id  text    NOT NULL,
    position  integer NOT NULL,
    settled   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX conveyor_dependencies_child ON conveyor_dependencies (child_id, position);
CREATE INDEX conveyor_dependencies_unsettled ON conveyor_dependencies (parent_id)
    WHERE NOT settled;
