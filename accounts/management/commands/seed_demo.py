"""Load the demo organisations, customer users and staff (idempotent)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import demo, roles, services
from accounts.models import Organisation, Region
from accounts.selectors import user_by_email


class Command(BaseCommand):
    help = "Create demo organisations, users and staff with 2FA devices. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="seed even with DEBUG off (demo accounts have a published password)",
        )

    def handle(self, *args, allow_production: bool, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "seed_demo creates accounts with a published password; it runs only with DEBUG=1."
            )
        roles.ensure_roles()
        roles.ensure_regions()
        created = 0
        with transaction.atomic():
            regions = {r.code: r for r in Region.objects.all()}
            for spec in demo.ORGANISATIONS:
                org = Organisation.objects.filter(name=spec["name"]).first()
                if org is None:
                    org = services.organisation_create(
                        actor="system:seed",
                        name=spec["name"],
                        name_en=spec["name_en"],
                        tier=spec["tier"],
                        region=regions[spec["region"]],
                        contact_name=spec["contact_name"],
                        contact_email=spec["contact_email"],
                        contact_phone=spec["contact_phone"],
                        address=spec["address"],
                    )
                    created += 1
                for email, name, phone, language in spec["users"]:
                    if not _exists(email):
                        services.user_create(
                            email=email,
                            full_name=name,
                            phone=phone,
                            password=demo.DEMO_PASSWORD,
                            organisation=org,
                            language=language,
                            actor="system:seed",
                        )
                        created += 1
            for email, name, role_list, region_codes, language, superuser in demo.STAFF:
                user = user_by_email(email)
                if user is None:
                    user = services.user_create(
                        email=email,
                        full_name=name,
                        password=demo.DEMO_PASSWORD,
                        is_staff=True,
                        is_superuser=superuser,
                        roles=role_list,
                        regions=[regions[c] for c in region_codes],
                        language=language,
                        actor="system:seed",
                    )
                    created += 1
                if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
                    TOTPDevice.objects.create(
                        user=user, name="authenticator (demo)", confirmed=True, tolerance=1
                    )
            for seeder in demo.SEEDERS:
                added = seeder()
                created += added
                self.stdout.write(f"  {seeder.__module__}: {added} records created")
        self._print_summary(created)

    def _print_summary(self, created: int) -> None:
        out = self.stdout.write
        out(self.style.SUCCESS(f"Demo data ready ({created} records created)."))
        out("")
        site = settings.SITE_URL or "http://127.0.0.1:8000"
        out(f"  Open            {site}/            (portal and sign-in)")
        out(f"                  {site}/admin/      (agent workspace, staff only)")
        out(f"                  {site}/api/docs/   (REST API, Swagger UI)")
        out(f"  Password        {demo.DEMO_PASSWORD}   (every demo account)")
        out(
            "  Customers       "
            + ", ".join(u[0] for spec in demo.ORGANISATIONS for u in spec["users"][:1])
        )
        out(
            "  Staff           "
            + ", ".join(f"{s[0]} ({'/'.join(s[2]) or 'superuser'})" for s in demo.STAFF)
        )
        out("  Staff 2FA       after the password, the site asks for a 6-digit code. Get it with")
        out("                    make otp EMAIL=li.na@welddesk.example")
        out("                  (demo staff already have authenticators; each code works once).")


def _exists(email: str) -> bool:
    return user_by_email(email) is not None
