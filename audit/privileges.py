"""The database privileges of the application's role on the audit tables (PostgreSQL).

The desk runs as a role that does not own the tables (the owner runs the migrations), so it
can neither switch the protecting triggers off (ALTER TABLE needs the owner) nor rewrite the
chain: on the audit tables it gets exactly what the code needs, and no UPDATE, DELETE or
TRUNCATE of what must stay. `manage.py audit_privileges <role>` prints the statements.
"""

from __future__ import annotations

import re

from django.db import connection

# table -> privileges the application's role needs, and why.
APP_ROLE_PRIVILEGES = {
    # Events are only ever added (audit_record, the sealer) and read.
    "audit_auditevent": ("SELECT", "INSERT"),
    # The head is locked and moved forward by every sealer; rebuilt (INSERT) when missing.
    "audit_chainhead": ("SELECT", "INSERT", "UPDATE"),
    # Pending events are written by services and moved into the chain by the sealer (DELETE,
    # which a trigger allows only into the chain).
    "audit_pendingauditevent": ("SELECT", "INSERT", "DELETE"),
    # Checkpoints are only ever added and read.
    "audit_auditcheckpoint": ("SELECT", "INSERT"),
}


def app_role_statements(role: str) -> list[str]:
    """Return the SQL that gives `role` exactly its privileges on the audit tables.

    Run it as the tables' owner after the general grant to the role (docs/operations.md) and
    again after migrations that add audit tables; it is idempotent.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]{0,62}", role):
        raise ValueError(f"not a plain role name: {role!r}")
    quote = connection.ops.quote_name
    statements = []
    for table, privileges in APP_ROLE_PRIVILEGES.items():
        statements.append(f"REVOKE ALL ON TABLE {quote(table)} FROM {quote(role)};")
        statements.append(
            f"GRANT {', '.join(privileges)} ON TABLE {quote(table)} TO {quote(role)};"
        )
    return statements
