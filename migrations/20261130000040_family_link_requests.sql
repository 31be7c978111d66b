-- Once a child has a parent, another adult joins the family only with that parent's
-- confirmation: a request the linked parent confirms or declines, or a link code the
-- linked parent created (`link_codes.created_by`).

ALTER TABLE link_codes ADD COLUMN created_by uuid REFERENCES accounts (id);

ALTER TABLE family_links DROP CONSTRAINT family_links_via_check;
ALTER TABLE family_links ADD CONSTRAINT family_links_via_check
    CHECK (via IN ('code', 'invitation', 'parent_code'));
-- The linked parent who confirmed this link, when one had to.
ALTER TABLE family_links ADD COLUMN confirmed_by uuid REFERENCES accounts (id);

CREATE TABLE family_link_requests (
    id            uuid PRIMARY KEY,
    student_id    uuid NOT NULL REFERENCES accounts (id),
    requester_id  uuid NOT NULL REFERENCES accounts (id),
    via           text NOT NULL CHECK (via IN ('code', 'invitation')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    decided_at    timestamptz,
    decided_by    uuid REFERENCES accounts (id),
    decision      text CHECK (decision IN ('confirmed', 'declined')),
    CONSTRAINT family_link_requests_decided CHECK ((decided_at IS NULL) = (decision IS NULL))
);
-- One open request per adult and child.
CREATE UNIQUE INDEX family_link_requests_open ON family_link_requests (student_id, requester_id)
    WHERE decided_at IS NULL;
CREATE INDEX family_link_requests_requester ON family_link_requests (requester_id);
