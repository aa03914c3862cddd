"""Workspace users in Elasticsearch (so several web processes share them), passwords hashed with argon2id.

Each user has a role: viewers read; analysts also correct, triage, acknowledge and retry; admins also
manage users. A user's `session_version` changes with the password or on removal, which ends every
session signed for the old one.
"""
from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from elasticsearch import Elasticsearch

from web.indices import ensure

ROLES = ("viewer", "analyst", "admin")
MIN_PASSWORD = 10
_NAME = re.compile(r"^[\w.@+-]{1,64}$")
_SECRET_ID = "secret:session"
PROPERTIES = {"kind": {"type": "keyword"}, "name": {"type": "keyword"}, "role": {"type": "keyword"},
              "password_hash": {"type": "keyword", "index": False}, "session_version": {"type": "keyword"},
              "created_at": {"type": "date"}, "secret": {"type": "keyword", "index": False}}


class UserError(ValueError):
    pass


def may(role: str, needed: str) -> bool:
    """Does `role` carry the rights of `needed` (admin > analyst > viewer)?"""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


class Users:
    def __init__(self, client: Elasticsearch, index: str):
        self.client = client
        self.index = ensure(client, index, PROPERTIES)
        self.hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    def _hash(self, password: str) -> str:
        if len(password) < MIN_PASSWORD:
            raise UserError(f"the password needs at least {MIN_PASSWORD} characters")
        return self.hasher.hash(password)

    def add(self, name: str, role: str, password: str) -> dict:
        if not _NAME.match(name):
            raise UserError(f"user name {name!r}: use 1-64 letters, digits, . @ + - or _")
        if role not in ROLES:
            raise UserError(f"role {role!r}: use one of {', '.join(ROLES)}")
        user = {"kind": "user", "name": name, "role": role, "password_hash": self._hash(password),
                "session_version": secrets.token_hex(8),
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        reply = self.client.create(index=self.index, id=f"user:{name}", body=user, refresh="true", ignore=409)
        if reply.get("status") == 409:
            raise UserError(f"there is already a user {name!r} (`kuchikomi users password {name}` changes it)")
        return user

    def get(self, name: str) -> dict | None:
        found = self.client.get(index=self.index, id=f"user:{name}", ignore=404)
        return found["_source"] if found.get("found") else None

    def list(self) -> list[dict]:
        reply = self.client.search(index=self.index, size=1000, body={
            "query": {"term": {"kind": "user"}}, "sort": [{"name": "asc"}],
            "_source": ["name", "role", "created_at"]})
        return [hit["_source"] for hit in reply["hits"]["hits"]]

    def exist(self) -> bool:
        return self.client.count(index=self.index, body={"query": {"term": {"kind": "user"}}})["count"] > 0

    def remove(self, name: str) -> None:
        reply = self.client.delete(index=self.index, id=f"user:{name}", refresh="true", ignore=404)
        if reply.get("result") != "deleted":
            raise UserError(f"there is no user {name!r}")

    def set_password(self, name: str, password: str) -> None:
        if self.get(name) is None:
            raise UserError(f"there is no user {name!r}")
        self.client.update(index=self.index, id=f"user:{name}", refresh="true", body={"doc": {
            "password_hash": self._hash(password), "session_version": secrets.token_hex(8)}})

    def verify(self, name: str, password: str) -> dict | None:
        """The user if the password is theirs; the same work is done for an unknown name."""
        user = self.get(name) if _NAME.match(name) else None
        try:
            self.hasher.verify(user["password_hash"] if user else self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return user

    def session_secret(self) -> str:
        """The key that signs session cookies, made once and shared by every web process."""
        self.client.create(index=self.index, id=_SECRET_ID, ignore=409, refresh="true",
                           body={"kind": "secret", "secret": secrets.token_urlsafe(48)})
        return self.client.get(index=self.index, id=_SECRET_ID)["_source"]["secret"]
