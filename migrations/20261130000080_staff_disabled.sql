-- Staff accounts an admin disabled in the console: a disabled account cannot sign in,
-- and its console sessions and device sessions end when it is disabled. Re-enabling it
-- clears the mark; the sessions stay ended.
ALTER TABLE accounts ADD COLUMN disabled_at timestamptz;
