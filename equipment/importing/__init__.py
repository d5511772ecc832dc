"""Importing and exporting the installed base (organisations, contacts, units) as CSV or XLSX.

parse.py reads a file into rows, plan.py checks them and works out the changes (a dry run),
apply.py writes them in one transaction with their audit rows, export.py writes the same
format. Why not django-import-export: docs/operations.md ("Importing the installed base").
"""

from equipment.importing.apply import import_installed_base, may_import, preview
from equipment.importing.export import export
from equipment.importing.parse import COLUMNS, MAX_BYTES, ImportRefused

__all__ = [
    "COLUMNS",
    "MAX_BYTES",
    "ImportRefused",
    "export",
    "import_installed_base",
    "may_import",
    "preview",
]
