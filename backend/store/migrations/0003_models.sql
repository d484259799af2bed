-- Swap models: trained from two face sets of the project, on disk under
-- projects/<project>/models/<id>/ (the engine's config.json, save/, preview.png, and the
-- timelapse/ frames). Like a face set, a model's state is not stored: it is the state of its
-- current training job, joined when read. Training more after a run ended gives the model a
-- new job; the old ones stay in the job table.
CREATE TABLE models (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    -- The engine's model name: original, lightweight, dfaker, dfl-h128.
    kind        TEXT    NOT NULL,
    face_set_a  INTEGER REFERENCES face_sets(id) ON DELETE SET NULL,
    face_set_b  INTEGER REFERENCES face_sets(id) ON DELETE SET NULL,
    job_id      INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    -- At the last save: iterations done in all and the last losses (NULL before the first).
    iteration   INTEGER NOT NULL DEFAULT 0,
    loss_a      REAL,
    loss_b      REAL,
    created_by  INTEGER REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    -- Like face sets: set when moved to the trash, files kept until purged.
    trashed_at  INTEGER
);
CREATE INDEX models_project ON models(project_id);
