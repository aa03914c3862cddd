"""Sessions, CSRF tokens and login throttling for the workspace.

A session is a signed cookie (itsdangerous; HttpOnly, SameSite=Lax, Secure over https) that holds the
user's name, the user's session_version at sign-in, the sign-in time (sessions end 12 h after it) and
the session's CSRF token. The signing key is shared by every web process through Elasticsearch.
"""
from __future__ import annotations

import hmac
import secrets
import time

from itsdangerous import BadSignature, URLSafeTimedSerializer

from index.research.api import RateLimiter

SESSION_COOKIE = "kuchikomi_session"
SESSION_SECONDS = 12 * 3600
# Failed sign-ins a minute (bursts up to as many), per user name and per client address.
LOGINS_PER_NAME = 5
LOGINS_PER_ADDRESS = 20
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
                    "Cache-Control": "no-store"}


class SessionCodec:
    def __init__(self, secret: str):
        self.serializer = URLSafeTimedSerializer(secret, salt="kuchikomi-web-session")

    def dumps(self, session: dict) -> str:
        return self.serializer.dumps(session)

    def loads(self, cookie: str | None) -> dict | None:
        """The session in a cookie; None if it is missing, forged, or older than a session lives."""
        if not cookie:
            return None
        try:
            session = self.serializer.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:
            return None
        return session if isinstance(session, dict) else None


def new_session(user: dict | None = None) -> dict:
    """A fresh session, with a new CSRF token (also at sign-in, so no token outlives it)."""
    session = {"csrf": secrets.token_urlsafe(32)}
    if user:
        session.update(user=user["name"], version=user["session_version"], at=int(time.time()))
    return session


def signed_in_name(session: dict, user: dict | None) -> bool:
    """Is this session still a valid sign-in of `user` (not expired, password unchanged, user not removed)?"""
    return bool(user and session.get("user") == user["name"] and session.get("version") == user["session_version"]
                and time.time() - session.get("at", 0) < SESSION_SECONDS)


def csrf_matches(session: dict, token: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and token and hmac.compare_digest(expected.encode(), token.encode()))


class LoginThrottle:
    """Failed sign-ins per user name and per address: past the rate, further attempts are refused for a
    while, so passwords cannot be guessed at speed."""

    def __init__(self):
        self.limiter = RateLimiter()
        self.blocked_until: dict[str, float] = {}

    @staticmethod
    def _keys(name: str, address: str) -> list[tuple[str, int]]:
        return [(f"address:{address}", LOGINS_PER_ADDRESS), (f"name:{name.casefold()}", LOGINS_PER_NAME)]

    def wait_needed(self, name: str, address: str) -> float:
        """Seconds until this name may be tried from this address again (0: now)."""
        now = time.monotonic()
        return max(0.0, *(self.blocked_until.get(key, 0.0) - now for key, _ in self._keys(name, address)))

    def failed(self, name: str, address: str) -> None:
        now = time.monotonic()
        for key, rate in self._keys(name, address):
            wait = self.limiter.wait_needed(key, rate)
            if wait:
                self.blocked_until[key] = now + wait
