-- Dialogic store schema, SQLite flavour. Timestamps are INTEGER microseconds since the Unix
-- epoch (exact, sortable); JSON is TEXT, kept byte for byte (key order matters to clients).

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY NOT NULL,
    assistant_id   TEXT NOT NULL,
    environment_id TEXT NOT NULL,
    context        TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    last_active    INTEGER NOT NULL,
    timeout_secs   INTEGER NOT NULL,
    -- last_active + timeout_secs, maintained by every write, so expiry is one indexed compare.
    expires_at     INTEGER NOT NULL,
    version        INTEGER NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE logs (
    log_id             TEXT PRIMARY KEY NOT NULL,
    assistant_id       TEXT NOT NULL,
    environment_id     TEXT NOT NULL,
    session_id         TEXT NOT NULL,
    customer_id        TEXT,
    request_timestamp  INTEGER NOT NULL,
    response_timestamp INTEGER NOT NULL,
    record             TEXT NOT NULL
);
CREATE INDEX logs_assistant_order ON logs (assistant_id, request_timestamp, log_id);
CREATE INDEX logs_session_order ON logs (session_id, request_timestamp, log_id);
CREATE INDEX logs_customer_order ON logs (customer_id, request_timestamp, log_id);
CREATE INDEX logs_environment ON logs (environment_id);

-- The last webhook-sequence handed out per session; never reused, even after deletions.
CREATE TABLE delivery_sequences (
    session_id    TEXT PRIMARY KEY NOT NULL,
    last_sequence INTEGER NOT NULL
);

-- The transactional outbox.
CREATE TABLE deliveries (
    id             TEXT PRIMARY KEY NOT NULL,
    log_id         TEXT,
    assistant_id   TEXT NOT NULL,
    environment_id TEXT NOT NULL,
    session_id     TEXT NOT NULL,
    sequence       INTEGER NOT NULL,
    event          TEXT NOT NULL,
    body           TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'failed', 'delivered', 'dead')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    due_at         INTEGER NOT NULL,
    lease_until    INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (session_id, sequence)
);
CREATE INDEX deliveries_open_by_session ON deliveries (session_id, sequence)
    WHERE status IN ('pending', 'failed');
CREATE INDEX deliveries_open_by_due ON deliveries (due_at)
    WHERE status IN ('pending', 'failed');
CREATE INDEX deliveries_status_created ON deliveries (status, created_at);
CREATE INDEX deliveries_created ON deliveries (created_at);
CREATE INDEX deliveries_log ON deliveries (log_id);

CREATE TABLE delivery_attempts (
    n             INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    at            INTEGER NOT NULL,
    status_code   INTEGER,
    latency_ms    INTEGER NOT NULL,
    response_body TEXT,
    error         TEXT
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, n);

CREATE TABLE webhook_calls (
    n              INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    at             INTEGER NOT NULL,
    assistant_id   TEXT NOT NULL,
    environment_id TEXT NOT NULL,
    session_id     TEXT,
    kind           TEXT NOT NULL,
    url            TEXT NOT NULL,
    status_code    INTEGER,
    latency_ms     INTEGER NOT NULL,
    error          TEXT,
    request_body   TEXT NOT NULL,
    response_body  TEXT
);
CREATE INDEX webhook_calls_at ON webhook_calls (at, n);
CREATE INDEX webhook_calls_assistant_at ON webhook_calls (assistant_id, at, n);
