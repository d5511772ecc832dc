from status.tests.conftest import components, sev  # noqa: F401 (the status fixtures)
