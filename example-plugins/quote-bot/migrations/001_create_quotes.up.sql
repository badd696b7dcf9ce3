-- Quotes added with `!quote add <text>`. added_at is in seconds since the Unix epoch.
CREATE TABLE quotes (
    id       INTEGER PRIMARY KEY,
    text     TEXT    NOT NULL,
    added_by TEXT    NOT NULL,
    added_at INTEGER NOT NULL
);
