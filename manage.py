#!/usr/bin/env python
"""Django's command-line utility for WeldDesk."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "servicedesk.settings")
    from django.core.management import execute_from_command_line

    from servicedesk.startup import check_command

    check_command(sys.argv)  # the encryption keys must fit the data (servicedesk/startup.py)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
