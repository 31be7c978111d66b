-- The admins' channel health page reads the ledger's last hour by when each delivery was
-- recorded; without this index every view would scan the whole ledger.
CREATE INDEX deliveries_created ON deliveries (created_at);
