"""Every write of the accounts app: users, organisations, sign-in and two-factor devices."""

from accounts.services.api_keys import api_key_create, api_key_revoke
from accounts.services.auth import (
    LoginRefused,
    login_attempt,
    logout_record,
    password_reset_completed,
    session_expired_record,
)
from accounts.services.imports import (
    WantedContact,
    WantedOrganisation,
    contact_problems,
    contacts_import,
    organisation_problems,
    organisations_import,
)
from accounts.services.organisations import (
    PriorityChange,
    organisation_create,
    organisation_priority_set,
    organisation_update,
    organisations_priority_set_many,
)
from accounts.services.otp import (
    OtpRefused,
    backup_codes_regenerate,
    otp_device_confirm,
    otp_device_start,
    otp_devices_reset,
    otp_verify,
)
from accounts.services.reauth import (
    Reauthentication,
    reauthenticate,
    reauthenticated_by_provider,
)
from accounts.services.users import (
    user_change_password,
    user_create,
    user_set_access,
    user_update_profile,
)

__all__ = [
    "LoginRefused",
    "OtpRefused",
    "PriorityChange",
    "Reauthentication",
    "WantedContact",
    "WantedOrganisation",
    "api_key_create",
    "api_key_revoke",
    "backup_codes_regenerate",
    "contact_problems",
    "contacts_import",
    "login_attempt",
    "logout_record",
    "organisation_create",
    "organisation_priority_set",
    "organisation_problems",
    "organisation_update",
    "organisations_import",
    "organisations_priority_set_many",
    "otp_device_confirm",
    "otp_device_start",
    "otp_devices_reset",
    "otp_verify",
    "password_reset_completed",
    "reauthenticate",
    "reauthenticated_by_provider",
    "session_expired_record",
    "user_change_password",
    "user_create",
    "user_set_access",
    "user_update_profile",
]
