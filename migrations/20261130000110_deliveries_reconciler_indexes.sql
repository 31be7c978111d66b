-- The reconciler's pass must cost the same whatever the healthy backlog. `deliveries_due`
-- held every pending delivery, so each pass (every 0.5 s) walked all those already in a
-- stream only to filter them out: about 45 ms at 100,000, growing with the backlog. Its
-- two questions now each have an index holding only their candidates:
--   * due and never queued for this attempt (escalations, retries, the end of quiet
--     hours): few at any moment;
--   * queued for this attempt, by channel and time: walked from the oldest, and only as
--     far as the channel's staleness threshold, so a fresh backlog is not read at all.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_unqueued ON deliveries (next_attempt_at)
    WHERE status = 'pending' AND (queued_at IS NULL OR queued_at < next_attempt_at);
CREATE INDEX deliveries_queued ON deliveries (channel, queued_at)
    WHERE status = 'pending' AND queued_at >= next_attempt_at;
