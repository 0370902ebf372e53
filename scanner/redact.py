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

# `scheme://user:password@host` or `user:password@host` is looked for word by word (a word
# ends at blanks and quotes): one regex over the whole text would backtrack quadratically on
# long runs of `:` — and log lines can carry device-supplied text.
_WORD = re.compile(r"[^\s'\"<>]+")

# `password=…` as a URL query parameter (`?`/`&`/`;` before it) or a libpq DSN keyword
# (blank before it, blanks allowed around `=`, value possibly single-quoted with `\'` escapes).
_KEYS = "password|passwd|pwd|sslpassword|pass"
_PARAMETER = re.compile(
    rf"(?P<key>(?<![\w.-])(?:{_KEYS}))(?P<eq>\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'?|[^\s&;#'\"<>]*)",
    re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """`text` with every URL/DSN password replaced by `***` (text without one is unchanged)."""
    text = _WORD.sub(lambda m: _mask_userinfo(m.group()), text)
    return _PARAMETER.sub(lambda m: f"{m['key']}{m['eq']}{MASK}", text)


def _mask_userinfo(word: str) -> str:
    """One word with the password of its `[scheme://]user:password@` part masked.

    The password runs to the word's LAST `@` (an unencoded `@` in a password is common);
    the user part holds no `/`, `:` or `@`. Linear in the word's length.
    """
    at = word.rfind("@")
    if at < 0:
        return word
    scheme = word.find("://", 0, at)
    start = scheme + 3 if scheme >= 0 else len(word) - len(word.lstrip("([{"))
    colon = word.find(":", start, at)
    if colon < 0 or "/" in word[start:colon] or word.startswith("//", colon + 1):
        return word
    return f"{word[:colon + 1]}{MASK}{word[at:]}"
