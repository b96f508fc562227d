-- Push delivery: a queue's HTTP target and the secrets that sign its requests.
ALTER TABLE conveyor_queues ADD COLUMN target_url TEXT;
ALTER TABLE conveyor_queues ADD COLUMN target_method TEXT;
ALTER TABLE conveyor_queues ADD COLUMN target_headers TEXT;
ALTER TABLE conveyor_queues ADD COLUMN target_deadline REAL;
ALTER TABLE conveyor_queues ADD COLUMN secret TEXT;
ALTER TABLE conveyor_queues ADD COLUMN previous_secret TEXT;
