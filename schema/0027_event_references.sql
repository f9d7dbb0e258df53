-- Writing events (issues 15-17): every `sent`, `opened` and `clicked` row
-- checked its contact and its outbox row through foreign keys, each check a
-- query that locks a different parent row (a WAL record and a dirtied page
-- of contacts or outbox per event). The database writes events only from the
-- rows it has just read or updated in the same statement, so the check
-- proves nothing; what the keys also did, clearing the reference when the
-- contact or the message is deleted, stays: a statement trigger on each
-- parent does it, once per deleting statement.
ALTER TABLE email_events
    DROP CONSTRAINT email_events_contact_id_user_id_fkey,
    DROP CONSTRAINT email_events_outbox_id_user_id_fkey;

-- As the table owner: the keys' actions ignored row-level security too.
CREATE FUNCTION flowsend_events_forget_contacts() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    UPDATE email_events e SET contact_id = NULL
      FROM gone g WHERE e.contact_id = g.id AND e.user_id = g.user_id;
    RETURN NULL;
END $$;
CREATE TRIGGER contacts_forget_events AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION flowsend_events_forget_contacts();

CREATE FUNCTION flowsend_events_forget_outbox() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    UPDATE email_events e SET outbox_id = NULL
      FROM gone g WHERE e.outbox_id = g.id AND e.user_id = g.user_id;
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_forget_events AFTER DELETE ON outbox
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION flowsend_events_forget_outbox();
