-- Which process holds a delivery's lease: when that process is gone (its presence in
-- Redis lapsed), the lease is given back at once instead of when it runs out.
ALTER TABLE deliveries ADD COLUMN leased_by text;
