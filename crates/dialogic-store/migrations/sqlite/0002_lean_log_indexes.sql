-- Fewer index entries per stored turn (each one is a B-tree write on every message):
-- * logs_environment served no query: dropped.
-- * logs_customer_order holds only the turns that have a customer_id (most have none): every
--   query through it asks for `customer_id = ?`, which implies NOT NULL, so it still applies.
DROP INDEX logs_environment;
DROP INDEX logs_customer_order;
CREATE INDEX logs_customer_order ON logs (customer_id, request_timestamp, log_id)
    WHERE customer_id IS NOT NULL;
