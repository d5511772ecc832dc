"""On PostgreSQL, protect the whole chain, not only its rows (issue 17, point 1).

* TRUNCATE is refused on the events, the head, the pending events and the checkpoints (row
  triggers never see a TRUNCATE).
* The chain head only moves forward, to an event that exists: no delete, no lower seq, no
  other hash at the same seq; a head inserted (rebuilt) must name the last event.
* A pending event is never updated, and leaves its table only into the chain: a DELETE
  whose rows are not, at the end of the statement, chained after the head is refused (the
  sealer deletes and inserts in one statement and moves the head afterwards).
* Checkpoint rows are append-only like the events.

One way around the TRUNCATE refusal exists, for test databases: `welddesk.audit_wipe = 'on'`
set in the transaction by a member of the table's owner role (pytest's flush between
transactional tests, conftest.py). It grants nothing new: the owner can disable the triggers.
A superuser can always get round triggers; the signed checkpoints outside the database are
what catches that (docs/security.md).
"""

from django.db import migrations

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION audit_refuse_truncate() RETURNS trigger AS $$
BEGIN
    IF current_setting('welddesk.audit_wipe', true) = 'on' AND pg_has_role(
        current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER'
    ) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% is append-only: TRUNCATE refused', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION audit_chainhead_forward_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit_chainhead: DELETE refused (the chain head only moves forward)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.id <> 1 THEN
        RAISE EXCEPTION 'audit_chainhead holds one row (id 1)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW.id = OLD.id AND NEW.seq = OLD.seq AND NEW.hash = OLD.hash THEN
            RETURN NEW;
        END IF;
        IF NEW.id <> OLD.id OR NEW.seq <= OLD.seq THEN
            RAISE EXCEPTION 'audit_chainhead only moves forward: seq % to % refused',
                OLD.seq, NEW.seq USING ERRCODE = 'insufficient_privilege';
        END IF;
    ELSIF NEW.seq <> (SELECT coalesce(max(seq), 0) FROM audit_auditevent) THEN
        -- Two sealers may rebuild a missing head at once: the second one's insert meets the
        -- first one's row (ON CONFLICT DO NOTHING). Checked after max(seq), whose events
        -- commit together with that row, so a head seen here is the one they belong to.
        IF EXISTS (SELECT 1 FROM audit_chainhead WHERE id = NEW.id) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'a new audit_chainhead must name the last event of the chain'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.seq = 0 THEN
        IF NEW.hash <> repeat('0', 64) THEN
            RAISE EXCEPTION 'audit_chainhead at seq 0 must carry the genesis hash'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    ELSIF NOT EXISTS (
        SELECT 1 FROM audit_auditevent WHERE seq = NEW.seq AND hash = NEW.hash
    ) THEN
        RAISE EXCEPTION 'audit_chainhead must name an event of the chain (seq %)', NEW.seq
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION audit_pending_sealed_only() RETURNS trigger AS $$
DECLARE
    lost bigint;
BEGIN
    SELECT count(*) INTO lost FROM gone g WHERE NOT EXISTS (
        SELECT 1 FROM audit_auditevent e
        WHERE e.seq > coalesce((SELECT seq FROM audit_chainhead WHERE id = 1), 0)
          AND e.at = g.at AND e.actor_ref = g.actor_ref AND e.action = g.action
          AND e.outcome = g.outcome AND e.target_type = g.target_type
          AND e.target_id = g.target_id AND e.changed_fields = g.changed_fields
          AND e.data = g.data AND e.ip IS NOT DISTINCT FROM g.ip
          AND e.request_id = g.request_id
    );
    IF lost > 0 THEN
        RAISE EXCEPTION
            'audit_pendingauditevent: DELETE of % pending event(s) refused; pending events '
            'leave only into the chain (audit_seal)', lost
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""
TRIGGERS = """
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_auditevent
FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate();

CREATE TRIGGER audit_chainhead_forward_only BEFORE INSERT OR UPDATE OR DELETE ON audit_chainhead
FOR EACH ROW EXECUTE FUNCTION audit_chainhead_forward_only();
CREATE TRIGGER audit_chainhead_no_truncate BEFORE TRUNCATE ON audit_chainhead
FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate();

CREATE TRIGGER audit_pending_no_update BEFORE UPDATE ON audit_pendingauditevent
FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
CREATE TRIGGER audit_pending_sealed_only AFTER DELETE ON audit_pendingauditevent
REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION audit_pending_sealed_only();
CREATE TRIGGER audit_pending_no_truncate BEFORE TRUNCATE ON audit_pendingauditevent
FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate();

CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_auditcheckpoint
FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_auditcheckpoint
FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate();
"""
DROP = """
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_chainhead_forward_only ON audit_chainhead;
DROP TRIGGER IF EXISTS audit_chainhead_no_truncate ON audit_chainhead;
DROP TRIGGER IF EXISTS audit_pending_no_update ON audit_pendingauditevent;
DROP TRIGGER IF EXISTS audit_pending_sealed_only ON audit_pendingauditevent;
DROP TRIGGER IF EXISTS audit_pending_no_truncate ON audit_pendingauditevent;
DROP TRIGGER IF EXISTS audit_checkpoint_append_only ON audit_auditcheckpoint;
DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON audit_auditcheckpoint;
DROP FUNCTION IF EXISTS audit_refuse_truncate();
DROP FUNCTION IF EXISTS audit_chainhead_forward_only();
DROP FUNCTION IF EXISTS audit_pending_sealed_only();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTIONS, params=None)
        schema_editor.execute(TRIGGERS, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_auditcheckpoint")]
    operations = [migrations.RunPython(create, drop)]
