"""One scrubber for every tool's output (git, pip, downloads) before it reaches a log, a termination message, an
Event or the status.

`scrub(text, secrets)` replaces each known secret (and its URL-encoded form) with `***`, redacts the credentials
of every URL (`redact_url`) and the value of every `Authorization:` header. `secret_env_values(names, environ)`
collects the secrets an init container was given in its environment (the variables the operator lists as coming
from a Secret).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping

MASK = "***"
MIN_SECRET_LENGTH = 4
"""Shorter values are not replaced (a one-character "secret" would mask every occurrence of that character)."""
_URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<rest>[^\s'\"<>`]*)")
_AUTHORIZATION = re.compile(r"(?i)\b((?:proxy-)?authorization\s*[:=]\s*)(?:(basic|bearer|token)\s+)?[^\s,;'\"]+")


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret of `secrets`, URL credentials and `Authorization` values replaced by `***`."""
    for secret in sorted({s.strip() for s in secrets if len(s.strip()) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}:
            text = text.replace(form, MASK)
    text = _AUTHORIZATION.sub(lambda m: f"{m[1]}{m[2] + ' ' if m[2] else ''}{MASK}", text)
    return redact_url(text)


def secret_env_values(names: Iterable[str], environ: Mapping[str, str]) -> list[str]:
    """The values of the variables `names` in `environ` (those present): the secrets to scrub."""
    return [environ[name] for name in names if environ.get(name)]


def redact_url(text: str) -> str:
    """`text` with every URL in it redacted: its `user:password@` part becomes `***@` (a password may
    hold `@`), every query value `***` and any fragment `#***`."""
    return _URL.sub(_redact_one, text)


def _redact_one(match: re.Match[str]) -> str:
    rest = match["rest"]
    cut = min((i for i in (rest.find(c) for c in "/?#") if i != -1), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    elif "@" in tail and ":" in authority and not authority.rpartition(":")[2].isdigit():
        # `user:pa/ss@host`: an unencoded / ? or # in a password; hide everything up to the last @
        authority, tail = "***@", tail.rpartition("@")[2]
        cut = min((i for i in (tail.find(c) for c in "/?#") if i != -1), default=len(tail))
        authority, tail = authority + tail[:cut], tail[cut:]
    path, question, query = tail.partition("?")
    if question:
        query, hash_, fragment = query.partition("#")
        query = re.sub(r"[^&;]+", lambda p: p[0].partition("=")[0] + "=***" if "=" in p[0] else "***", query)
    else:
        path, hash_, fragment = path.partition("#")
    return f"{match['scheme']}{authority}{path}{question}{query}{hash_}{'***' if fragment else ''}"
