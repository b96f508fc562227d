-- Payload keys whose values are secret: shown as "***" in the API and logs (JSON list).
ALTER TABLE conveyor_queues ADD COLUMN secret_fields text;
