"""Rules about people that need no storage: email comparison and where a sign-in may return."""

from __future__ import annotations

import re

DEFAULT_RETURN_TO = "/dashboard/"
INVITATION_TTL = 7 * 86400
MAX_EMAIL = 254
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}$")
_RETURN_PATH = re.compile(r"^/(?![/\\])[\x21-\x7e]{0,511}$")


def normalise_email(email: str) -> str:
    """Emails are compared case-insensitively (the domain part is, and every mainstream
    provider treats the local part so too); surrounding spaces are never meaningful."""
    return email.strip().lower()


def is_valid_email(email: str) -> bool:
    return len(email) <= MAX_EMAIL and EMAIL.fullmatch(email) is not None


def safe_return_to(return_to: str | None) -> str:
    """A path on this origin, or the dashboard: never another origin (`//evil`, `/\\evil`,
    `https://...`), never a scheme or control characters."""
    if return_to is None or return_to == "":
        return DEFAULT_RETURN_TO
    if not _RETURN_PATH.fullmatch(return_to) or "\\" in return_to:
        return DEFAULT_RETURN_TO
    return return_to
