"""Machine models, installed units with their warranty, and the fault-code catalogue."""
