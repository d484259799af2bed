-- Accounts, projects, roles, uploaded media and jobs. Times are unix seconds.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE projects (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    trashed_at INTEGER
);

CREATE TABLE members (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (project_id, user_id)
);

CREATE TABLE media (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    label       TEXT    NOT NULL,
    stored_name TEXT    NOT NULL UNIQUE,
    size_bytes  INTEGER NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('probing', 'ready', 'rejected')),
    error       TEXT,
    facts       TEXT,
    uploaded_by INTEGER REFERENCES users(id),
    created_at  INTEGER NOT NULL
);
CREATE INDEX media_project ON media(project_id);

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    params      TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
    done        INTEGER NOT NULL DEFAULT 0,
    total       INTEGER NOT NULL DEFAULT 0,
    rate        REAL,
    eta_secs    REAL,
    log_tail    TEXT    NOT NULL DEFAULT '',
    error       TEXT,
    created_by  INTEGER REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX jobs_project ON jobs(project_id);
CREATE INDEX jobs_state ON jobs(state);
