-- The Markov chain: `count` times, the words in `prefix` were followed by
-- `next`. `ord` is the number of words in the prefix (1 to 3); the plugin
-- stores every order from 1 up to its `order` setting, so generation can
-- fall back to a shorter prefix. In `prefix` the words are joined by one
-- space, and a message's start is an empty word (so the order-2 prefix of a
-- message's first word "hi" is " hi"). An empty `next` is a message's end.
CREATE TABLE chain (
    ord    INTEGER NOT NULL CHECK (ord BETWEEN 1 AND 3),
    prefix TEXT    NOT NULL,
    next   TEXT    NOT NULL,
    count  INTEGER NOT NULL CHECK (count > 0),
    PRIMARY KEY (ord, prefix, next)
) WITHOUT ROWID;

-- One row of counters. `changes` grows with every change to the model;
-- `saved_changes` is its value when /data/model.json was last written, so
-- shutdown rewrites the snapshot only when something changed.
CREATE TABLE stats (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    messages      INTEGER NOT NULL DEFAULT 0,
    words         INTEGER NOT NULL DEFAULT 0,
    changes       INTEGER NOT NULL DEFAULT 0,
    saved_changes INTEGER NOT NULL DEFAULT 0,
    last_learned  INTEGER  -- seconds since the Unix epoch
);
INSERT INTO stats (id) VALUES (1);
