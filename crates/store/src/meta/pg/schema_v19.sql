-- SQLite's migration 19 (V19_NODES): the nodes sharing the store and the node of each storage
-- and Query job.
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT COLLATE "C" PRIMARY KEY,
    started_ms BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL
);
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS node_id TEXT COLLATE "C";
ALTER TABLE query_jobs ADD COLUMN IF NOT EXISTS node_id TEXT COLLATE "C";
