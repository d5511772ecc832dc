"""Print the current TOTP code of a demo staff member (development only)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from core import crypto


class Command(BaseCommand):
    help = "Show the current 6-digit 2FA code of a user's authenticator (DEBUG only)."

    def add_arguments(self, parser):
        parser.add_argument("email", nargs="?", default="li.na@welddesk.example")

    def handle(self, *args, email: str, **options):
        if not settings.DEBUG:
            raise CommandError("demo_otp works only with DEBUG=1.")
        user = User.objects.filter(email_bidx=crypto.blind_index("email", email)).first()
        if user is None:
            raise CommandError(f"No user with the email address {email!r}.")
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            raise CommandError("That user has no authenticator yet; sign in and set one up.")
        code = totp(
            device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift
        )
        self.stdout.write(f"{code:0{device.digits}d}")
