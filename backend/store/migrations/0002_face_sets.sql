-- Face sets: the faces extracted from one source, on disk under
-- projects/<project>/facesets/<id>/ (face PNGs and the source's alignments store).
-- A face set's state is not stored: it is the state of its extraction job, joined when read,
-- so the two can never disagree (a restart, a cancel or a resume moves both at once).
CREATE TABLE face_sets (
    id           INTEGER PRIMARY KEY,
    project_id   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    source_media INTEGER REFERENCES media(id) ON DELETE SET NULL,
    job_id       INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    -- Summary of the last extraction run: faces in the set, frames looked at, one line for people.
    face_count   INTEGER NOT NULL DEFAULT 0,
    frame_count  INTEGER NOT NULL DEFAULT 0,
    summary      TEXT,
    created_by   INTEGER REFERENCES users(id),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    -- Like projects: set when moved to the trash, files kept until purged.
    trashed_at   INTEGER
);
CREATE INDEX face_sets_project ON face_sets(project_id);

-- The last word of a job that did its work, e.g. "no faces found in 354 frames looked at".
ALTER TABLE jobs ADD COLUMN message TEXT;
