"""The floor of the create benchmark: a bare Django + DRF endpoint that inserts one row."""
