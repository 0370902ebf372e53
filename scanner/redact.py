"""Hide passwords in text that is about to be shown: messages, doctor and config output, logs.

Database URLs reach the user in many shapes — a SQLAlchemy URL with `user:password@`, a
password as a query parameter (`?password=…`, which libpq and psycopg accept), a URL
without a scheme, a libpq key=value DSN (`host=db password=…`) — and they are shown most
often when they are *wrong*, i.e. when no URL parser accepts them. So masking works on the
text itself with regular expressions and never parses, never raises: whatever the input,
the output is the same text with every password replaced by `***`.

Everything that prints, logs or reports a URL (or an error message that may quote one)
calls `mask_secrets`; docs/security.md lists the shapes covered.
"""

from __future__ import annotations

import re

MASK = "***"

# `scheme://user:password@host` or `user:password@host`: the password runs to the LAST `@`
# of the word (an unencoded `@` in a password is common), stopping at blanks and quotes.
_USERINFO = re.compile(
    r"(?P<user>(?:[A-Za-z][A-Za-z0-9+.-]*://)?[^\s:/@'\"()<>\[\]]*):"
    r"(?P<password>(?!//)[^\s'\"<>]*)@(?=[^\s@'\"<>]*(?:[\s'\"<>]|$))")

# `password=…` as a URL query parameter (`?`/`&`/`;` before it) or a libpq DSN keyword
# (blank before it, blanks allowed around `=`, value possibly single-quoted with `\'` escapes).
_KEYS = "password|passwd|pwd|sslpassword|pass"
_PARAMETER = re.compile(
    rf"(?P<key>(?<![\w.-])(?:{_KEYS}))(?P<eq>\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'?|[^\s&;#'\"<>]*)",
    re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """`text` with every URL/DSN password replaced by `***` (text without one is unchanged)."""
    text = _USERINFO.sub(lambda m: f"{m['user']}:{MASK}@", text)
    return _PARAMETER.sub(lambda m: f"{m['key']}{m['eq']}{MASK}", text)
