"""Search terms that never appear in a URL.

What staff and customers type into a search box is often personal data: an e-mail address, a
phone number, a name. In a URL it would be written to access logs (nginx's, a proxy's),
browser history and Referer headers. So search forms POST the term, and the answer is a
redirect (303) to the list with the term sealed: `?q=sealed:<token>`. The list opens the seal
and searches as before; its links (pages, sorting, filters) carry the sealed term on, and the
search box shows the term again from the page, never from the URL. Works without JavaScript.

The token is the term and its owner (the user's id and a hash of their session key) encrypted
with a key of its own, derived from SECRET_KEY for this one purpose
(core.crypto.derived_crypter: Fernet, AES + HMAC, so it can be neither read nor forged).
Never the personal-data key: anyone may have any text sealed (the portal's search box), which
must give no one ciphertexts under the key of the stored personal data, and the desk must open
no token of that key when handed one. A seal opens only for the person and the session that
made it, so one copied from a log shows nothing to another staff member; it is refused after
STAFF_SESSION_MAX_SECONDS for staff and CUSTOMER_SEAL_SECONDS (12 h) for customers, and dies
with the session (signing out, a new second-factor check) or a new SECRET_KEY. A refused seal is
a message ("please search again"), never an error page.

A term typed straight into a URL (`?q=...`) is still searched: the desk never produces such
links, and refusing them would only break old bookmarks.

The rule lives here once: every search box answers its post with `sealed_redirect`, and every
search form opens seals with `SealedSearchField`. In the admin the search box
(templates/admin/search_form.html) posts to `admin_search`, and every changelist opens seals
through SealedSearchForm (installed on Django's ChangeList at start-up, so no list is
forgotten, including those of third-party apps); the audit search (audit/admin.py) and the
portal's ticket search (portal/views.py) post to their own list.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.fernet import InvalidToken
from django import forms
from django.conf import settings
from django.contrib.admin.views.main import PAGE_VAR, SEARCH_VAR, ChangeList, ChangeListSearchForm
from django.core.validators import MaxLengthValidator
from django.http import HttpRequest, HttpResponseBadRequest, HttpResponseRedirect, QueryDict
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core import crypto

PREFIX = "sealed:"
PURPOSE = "sealed-search"
# How long a customer's seal opens (staff: STAFF_SESSION_MAX_SECONDS). Long enough for a list
# left open over a working day; a customer's session itself may last weeks.
CUSTOMER_SEAL_SECONDS = 12 * 60 * 60
EXPIRED = gettext_lazy("This search has expired or is damaged; please search again.")


class SealError(ValueError):
    """A sealed term that is damaged, forged, someone else's or older than its time to live."""


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _owner(request: HttpRequest | None) -> str | None:
    """Name the person and the session a seal belongs to (None: nobody signed in)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    session_key = getattr(getattr(request, "session", None), "session_key", None) or ""
    return f"{user.pk}:{hashlib.sha256(session_key.encode()).hexdigest()[:32]}"


def _ttl(request: HttpRequest) -> int:
    staff = getattr(request.user, "is_staff", False)
    return settings.STAFF_SESSION_MAX_SECONDS if staff else CUSTOMER_SEAL_SECONDS


def seal(term: str, *, request: HttpRequest) -> str:
    """Return the URL-safe sealed form of a search term, for the asking person only."""
    payload = json.dumps({"q": term, "o": _owner(request)}, ensure_ascii=False).encode("utf-8")
    return PREFIX + crypto.derived_crypter(PURPOSE).encrypt(payload).decode("ascii")


def unseal(value: str, *, request: HttpRequest) -> str:
    """Return the term inside a seal; raise SealError if it cannot be opened (any more), or
    was made for another person or session."""
    token = value[len(PREFIX) :] if is_sealed(value) else value
    owner = _owner(request)
    if owner is None:
        raise SealError(str(EXPIRED))
    try:
        payload = crypto.derived_crypter(PURPOSE).decrypt(token.encode("ascii"), ttl=_ttl(request))
        data = json.loads(payload.decode("utf-8"))
        term, sealed_for = data["q"], data["o"]
    except (InvalidToken, UnicodeError, ValueError, KeyError, TypeError) as exc:
        raise SealError(str(EXPIRED)) from exc
    if not isinstance(term, str) or sealed_for != owner:
        raise SealError(str(EXPIRED))
    return term


def open_term(value: Any, *, request: HttpRequest | None) -> str:
    """Return a form's term: a sealed one opened, a plain one as it is (ValidationError for a
    seal that cannot be opened)."""
    if not is_sealed(value):
        return value or ""
    try:
        return unseal(value, request=request)
    except SealError as exc:
        raise forms.ValidationError(EXPIRED, code="sealed") from exc


class SealedSearchField(forms.CharField):
    """A search box whose term may arrive sealed: cleaning opens the seal for the asking person
    (`request`, given by SealedSearchFormMixin) and then checks the term's length.

    `max_length` limits the term as typed (and the box); the value in the URL, a seal, is
    longer, so the field itself takes up to SEALED_MAX_LENGTH characters.
    """

    SEALED_MAX_LENGTH = 2000

    def __init__(self, *, max_length: int | None = None, **kwargs):
        kwargs.setdefault("required", False)
        raw_max = self.SEALED_MAX_LENGTH if max_length is not None else None
        super().__init__(max_length=raw_max, **kwargs)
        self.term_max_length = max_length
        if max_length is not None:
            self.widget.attrs["maxlength"] = str(max_length)
        self.request: HttpRequest | None = None

    def clean(self, value):
        term = open_term(super().clean(value), request=self.request)
        if self.term_max_length is not None:
            MaxLengthValidator(self.term_max_length)(term)
        return term


class SealedSearchFormMixin:
    """A form with sealed search fields: it takes the asking request, for whom they open."""

    def __init__(self, *args, request: HttpRequest, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, SealedSearchField):
                field.request = request


# The request whose changelist is being built: Django gives the search form only the query.
_changelist_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "welddesk_changelist_request", default=None
)


class SealedSearchForm(ChangeListSearchForm):
    """The changelist's search form: opens a sealed term (an expired one is an error message
    above an unsearched list, as Django shows any bad search)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = SealedSearchField(strip=False)
        field.request = _changelist_request.get()
        self.fields[SEARCH_VAR] = field


def sealed_redirect(
    request: HttpRequest,
    url: str,
    params: QueryDict | Mapping[str, str],
    *,
    sealed: Iterable[str] = (SEARCH_VAR,),
) -> HttpResponseRedirect:
    """Answer a posted search: a redirect (303) to the list at `url` with `params` in its
    query, the fields named in `sealed` sealed for the asking person (left out when blank).

    The one rule of every search box that may receive personal data: the term is posted, and
    it reaches the URL only sealed.
    """
    query = QueryDict(mutable=True)
    lists = (
        params.lists() if isinstance(params, QueryDict) else ((k, [v]) for k, v in params.items())
    )
    for name, values in lists:
        if name in sealed:
            values = [seal(v, request=request) for v in values if v.strip()]
        if values:
            query.setlist(name, values)
    encoded = query.urlencode()
    return HttpResponseRedirect(f"{url}?{encoded}" if encoded else url, status=303)


def install() -> None:
    """Make every admin list open sealed terms for the person asking (called once at start-up).

    ChangeList builds its search form from the query alone; its constructor is wrapped so that
    the form knows whose list it is (the seal opens only for its owner).
    """
    ChangeList.search_form_class = SealedSearchForm
    original = ChangeList.__init__
    if getattr(original, "_sealed_search", False):
        return

    @functools.wraps(original)
    def __init__(self, request, *args, **kwargs):
        token = _changelist_request.set(request)
        try:
            original(self, request, *args, **kwargs)
        finally:
            _changelist_request.reset(token)

    __init__._sealed_search = True  # type: ignore[attr-defined]
    ChangeList.__init__ = __init__


@require_POST
def admin_search(request):
    """Redirect a search typed into an admin list to that list with the term sealed.

    The form names the list (`_changelist`: "app_label.model_name") and repeats the list's
    other parameters (filters, ordering, popup) as hidden fields, as Django's GET form does.
    """
    app_label, _dot, model_name = request.POST.get("_changelist", "").partition(".")
    try:
        url = reverse(f"admin:{app_label}_{model_name}_changelist")
    except NoReverseMatch:
        return HttpResponseBadRequest(
            _("This search names no list."), content_type="text/plain; charset=utf-8"
        )
    params = request.POST.copy()
    for name in ("csrfmiddlewaretoken", "_changelist", PAGE_VAR):
        params.pop(name, None)
    return sealed_redirect(request, url, params)
