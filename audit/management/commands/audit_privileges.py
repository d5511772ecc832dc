"""Print the SQL that limits the application's database role on the audit tables."""

from django.core.management.base import BaseCommand, CommandError

from audit.privileges import app_role_statements


class Command(BaseCommand):
    help = (
        "Print REVOKE/GRANT statements giving ROLE only SELECT and INSERT on the audit events "
        "and checkpoints (no UPDATE, DELETE or TRUNCATE), for the tables' owner to run."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="the database role the desk connects as")

    def handle(self, *args, **options):
        try:
            statements = app_role_statements(options["role"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for statement in statements:
            self.stdout.write(statement)
