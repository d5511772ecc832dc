"""Regions, customer organisations, users (email login, encrypted contact data) and throttles."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone as dj_timezone
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device

from core import crypto
from core.fields import BlindIndexField, EncryptedCharField, EncryptedEmailField, EncryptedTextField
from core.models import TimeStampedModel


class Region(models.Model):
    """A sales and service region (e.g. East China); hotlines, queues and agents belong to one."""

    code = models.SlugField(max_length=32, unique=True, verbose_name=_("code"))
    name_en = models.CharField(_("name (English)"), max_length=100)
    name_zh = models.CharField(_("name (Chinese)"), max_length=100)

    class Meta:
        ordering = ["code"]
        verbose_name = _("region")
        verbose_name_plural = _("regions")

    def __str__(self) -> str:
        return f"{self.name_en} / {self.name_zh}"


# An ERP's customer number: letters and digits, with dots, slashes, hyphens or underscores.
ORGANISATION_CODE = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}$",
    _("Use 1 to 40 letters, digits, dots, slashes, hyphens or underscores."),
)


class Tier(models.TextChoices):
    STANDARD = "standard", _("Standard")
    PLUS = "plus", _("Plus")
    PREMIUM = "premium", _("Premium")


class Organisation(TimeStampedModel):
    """A customer company. Its name is public business data; its contacts are personal data."""

    # The ERP's customer number: imports of the installed base find the organisation by it
    # (equipment/importing). Organisations created in the desk get "WD-<id>".
    code = models.CharField(
        _("code"), max_length=40, blank=True, default="", validators=[ORGANISATION_CODE]
    )
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    tier = models.CharField(
        _("customer tier"), max_length=16, choices=Tier.choices, default=Tier.STANDARD
    )
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="organisations", verbose_name=_("region")
    )
    contact_name = EncryptedCharField(_("contact name"), max_length=200, blank=True)
    contact_email = EncryptedEmailField(_("contact email"), max_length=254, blank=True)
    contact_email_bidx = BlindIndexField(
        source="contact_email", kind="email", verbose_name=_("contact e-mail blind index")
    )
    contact_phone = EncryptedCharField(_("contact phone"), max_length=40, blank=True)
    contact_phone_bidx = BlindIndexField(
        source="contact_phone", kind="phone", verbose_name=_("contact phone blind index")
    )
    address = EncryptedTextField(_("address"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    # Priority service granted as compensation: new tickets go to the front of their queue and
    # get the fastest tier's SLA until then (accounts.services.organisation_priority_set).
    priority_service_until = models.DateTimeField(
        _("priority service until"), null=True, blank=True, editable=False
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        constraints = [
            models.UniqueConstraint(
                fields=["code"], condition=~models.Q(code=""), name="organisation_code_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def has_priority_service(self, now=None) -> bool:
        until = self.priority_service_until
        return until is not None and until > (now or dj_timezone.now())


class Language(models.TextChoices):
    EN = "en", "English"
    ZH_HANS = "zh-hans", "简体中文"


class UserManager(BaseUserManager):
    """Users are found by the blind index of their email; writes go through accounts.services."""

    use_in_migrations = True

    def get_by_natural_key(self, username: str):
        return self.get(email_bidx=crypto.blind_index("email", username))

    def create_user(self, email: str, password: str | None = None, **fields):
        from accounts.services import user_create

        return user_create(email=email, password=password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields):
        from accounts.services import user_create

        fields.update(is_staff=True, is_superuser=True)
        return user_create(email=email, password=password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in: a customer user (with an organisation) or a staff member."""

    email = EncryptedEmailField(_("email address"), max_length=254)
    email_bidx = BlindIndexField(
        source="email", kind="email", unique=True, verbose_name=_("e-mail blind index")
    )
    full_name = EncryptedCharField(_("full name"), max_length=200)
    phone = EncryptedCharField(_("phone"), max_length=40, blank=True)
    phone_bidx = BlindIndexField(source="phone", kind="phone", verbose_name=_("phone blind index"))
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
    )
    regions = models.ManyToManyField(
        Region,
        verbose_name=_("limited to regions"),
        blank=True,
        related_name="staff",
        help_text=_("Staff only: an agent limited to regions sees only their organisations."),
    )
    is_staff = models.BooleanField(_("staff"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    # Empty until chosen: the first sign-in takes the browser's language (then the profile).
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, blank=True, default=""
    )
    timezone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    # How the desk may reach a customer about their tickets; e-mail is on unless they opt out.
    notify_email = models.BooleanField(_("e-mail notifications"), default=True)
    notify_sms = models.BooleanField(_("SMS notifications"), default=False)
    notify_wecom = models.BooleanField(_("WeCom notifications"), default=False)
    # A customer's own system: notices POSTed as signed JSON (notifications/webhooks.py).
    notify_webhook_url = models.URLField(_("webhook URL"), max_length=500, blank=True)
    wecom_id = EncryptedCharField(_("WeCom user ID"), max_length=64, blank=True)
    date_joined = models.DateTimeField(_("date joined"), default=dj_timezone.now)
    # The identity provider's `sub` of a staff member who signs in with single sign-on
    # (accounts/oidc.py): later sign-ins match on it, so a changed e-mail address at the
    # provider still finds the same account. Not personal data in clear: an opaque identifier.
    oidc_subject = models.CharField(
        _("single sign-on subject"),
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        editable=False,
    )
    # Set when the identity provider said the account is gone and the desk deactivated it
    # (accounts.services.oidc.provider_deprovision): a later single sign-on that the provider
    # accepts reactivates it. An account deactivated by a person never has it.
    oidc_deprovisioned_at = models.DateTimeField(
        _("deactivated by the identity provider at"), null=True, blank=True, editable=False
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = crypto.normalise_email(self.email)

    @property
    def is_customer(self) -> bool:
        return not self.is_staff and self.organisation_id is not None


class ProviderSecondFactor(Device):
    """The identity provider's word that this sign-in used a second factor (its `amr`/`acr`).

    A django-otp device that accepts no code: a single sign-on whose ID token names a trusted
    method marks the session verified with it (accounts.services.oidc.provider_sign_in), so
    every gate that asks `is_verified()` (pages, API, WebSockets) counts it like a TOTP code.
    """

    class Meta:
        default_permissions = ()
        verbose_name = _("second factor at the identity provider")

    def verify_token(self, token) -> bool:
        return False


class LoginThrottle(models.Model):
    """One sign-in counter (per account, per account and client network, or per account and
    hour; see accounts/lockout.py), keyed by an HMAC, so no email or address is stored."""

    key = models.CharField(max_length=64, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"login throttle {self.key[:8]}… ({self.failures} failures)"


class LoginNetwork(models.Model):
    """A client network from which an account signed in or completed a password reset.

    Keyed by an HMAC of the login name and the network, so neither is stored. Sign-ins from
    these networks are not held by the account's soft lock (accounts/lockout.py).
    """

    key = models.CharField(max_length=64, unique=True)
    last_success_at = models.DateTimeField()

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"known sign-in network {self.key[:8]}…"


class UserSession(models.Model):
    """A signed-in session of a user, so that all of them can be ended at once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"session of user {self.user_id}"


class ApiScope(models.TextChoices):
    READ = "read", _("Read only")
    READ_WRITE = "read_write", _("Read and write")
    # A machine or its gateway: posts alarms (POST /units/{serial}/alarms) and nothing else.
    ALARMS = "alarms", _("Machine alarms only")


class ApiKey(models.Model):
    """A partner system's key for one organisation; only a hash of the secret is stored.

    The token handed out once is `wdk_<prefix>_<secret>`: the prefix finds the row, the secret
    is compared against its SHA-256 (the secret is 256 random bits, so a fast hash is enough).
    """

    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        related_name="api_keys",
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False, verbose_name=_("secret hash"))
    scope = models.CharField(
        _("scope"), max_length=16, choices=ApiScope.choices, default=ApiScope.READ
    )
    created_by = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["organisation", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def can_write(self) -> bool:
        return self.scope == ApiScope.READ_WRITE


class Platform(models.TextChoices):
    WECHAT = "wechat", _("WeChat official account")
    WECOM = "wecom", _("WeCom")


class PlatformIdentity(models.Model):
    """A person as a messaging platform knows them: a follower of the desk's WeChat official
    account (their OpenID there, and their UnionID when the account is in an open-platform
    group) or a user of its WeCom application (their WeCom user id).

    The ids are personal data: encrypted at rest, found by their blind indexes; one row per
    (platform, app, id), which the database enforces (two first messages at once find one
    row). `user` is the portal account the person bound it to (empty until they do: issue 23,
    point 2); `contact` is the inactive stand-in account their messages are filed under while
    unbound (intake.wechat). An erasure of either deletes the row (accounts.services.users).
    """

    platform = models.CharField(_("platform"), max_length=16, choices=Platform.choices)
    # The official account's AppID or the WeCom corp id: the app's, not the person's.
    app_id = models.CharField(_("app id"), max_length=64)
    external_id = EncryptedCharField(_("platform user id"), max_length=128)
    external_id_bidx = BlindIndexField(
        source="external_id", kind="platform-id", verbose_name=_("platform user id blind index")
    )
    union_id = EncryptedCharField(_("UnionID"), max_length=128, blank=True)
    union_id_bidx = BlindIndexField(
        source="union_id", kind="platform-id", verbose_name=_("UnionID blind index")
    )
    user = models.ForeignKey(
        User,
        verbose_name=_("bound account"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="platform_identities",
    )
    bound_at = models.DateTimeField(_("bound at"), null=True, blank=True)
    contact = models.ForeignKey(
        User,
        verbose_name=_("unidentified contact"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    first_seen_at = models.DateTimeField(_("first message"), default=dj_timezone.now)
    # When the person last wrote: the official account answers by its customer-service API
    # only within 48 hours of it.
    last_message_at = models.DateTimeField(_("last message"), null=True, blank=True)

    class Meta:
        verbose_name = _("messaging platform identity")
        verbose_name_plural = _("messaging platform identities")
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "app_id", "external_id_bidx"],
                name="accounts_platform_identity_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.platform} identity {self.pk}"


class PlatformBindCode(models.Model):
    """A one-time code a customer creates in the portal's profile and sends to the desk's
    WeChat official account or WeCom (issue 23, point 2): the sender's platform identity is
    then bound to the customer's account.

    The code proves the person holds both: the signed-in portal account that made it, and the
    platform account that sent it. Only its keyed hash is stored (core.crypto "bind-code"),
    it lasts BIND_CODE_MINUTES, works once, and a customer has one live code at a time.
    """

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="+", verbose_name=_("customer")
    )
    code_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=dj_timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    identity = models.ForeignKey(
        PlatformIdentity,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("linked platform account"),
    )

    class Meta:
        verbose_name = _("linking code")
        verbose_name_plural = _("linking codes")

    def __str__(self) -> str:
        return f"linking code {self.pk}"
