-- Conversions: a source video of the project with its faces swapped by one of its models,
-- written by a convert job to projects/<project>/outputs/<stored_name> (a server-chosen
-- name; `label` is only what downloads are called). Like a model, a conversion's state is
-- its job's state, joined when read.
CREATE TABLE conversions (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    media_id    INTEGER REFERENCES media(id) ON DELETE SET NULL,
    model_id    INTEGER REFERENCES models(id) ON DELETE SET NULL,
    job_id      INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    label       TEXT    NOT NULL,
    stored_name TEXT    NOT NULL UNIQUE,
    -- Set when the output is complete.
    size_bytes  INTEGER,
    summary     TEXT,
    created_by  INTEGER REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    trashed_at  INTEGER
);
CREATE INDEX conversions_project ON conversions(project_id);
