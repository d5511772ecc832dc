from status.tests.conftest import components, sev  # noqa: F401 (the status fixtures)
from tickets.tests.conftest import (  # noqa: F401 (the ticket fixtures mail lands in)
    machine,
    make_unit,
    open_ticket,
    queue_setup,
    sla_setup,
)
