"""Machines that report their own faults (issue 23, point 3): alarms in, tickets out."""
