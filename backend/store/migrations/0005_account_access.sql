-- Ending access: a session holds the user's `session_epoch` from its login and is honoured
-- only while the user's is the same (a password change, disabling or deleting bumps it, which
-- ends every other session at once); a disabled user cannot log in.
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
