"""Strings of Django's own admin that its Simplified Chinese catalogue lacks (Django 5.2), and
django_otp's model names.

Listed here so `makemessages` copies them into the project's catalogue, which LOCALE_PATHS
puts before Django's: the admin index's table headers (read out by screen readers) then speak
Chinese too. servicedesk/tests/test_admin_zh.py finds any new such gap.
"""

from django.utils.translation import gettext_noop

DJANGO_ADMIN_GAPS = [
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
]

# django_otp's TOTP device model names (plain strings there; made lazy in accounts/apps.py).
DJANGO_OTP_NAMES = [gettext_noop("TOTP device"), gettext_noop("TOTP devices")]
