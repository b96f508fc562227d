-- Push delivery: a queue's HTTP target and the secrets that sign its requests.
ALTER TABLE conveyor_queues ADD COLUMN target_url text;
ALTER TABLE conveyor_queues ADD COLUMN target_method text;
ALTER TABLE conveyor_queues ADD COLUMN target_headers text;
ALTER TABLE conveyor_queues ADD COLUMN target_deadline float8;
ALTER TABLE conveyor_queues ADD COLUMN secret text;
ALTER TABLE conveyor_queues ADD COLUMN previous_secret text;
