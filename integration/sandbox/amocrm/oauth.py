"""OAuth2 of the emulated account: 20-minute codes, single-use refresh tokens, JWT access tokens, long-lived tokens."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

OAUTH_PROBLEM_TYPE = "https://developers.amocrm.ru/v3/errors/OAuthProblemJson"
CODE_LIFETIME = 20 * 60
ACCESS_LIFETIME = 86400
REFRESH_LIFETIME = 90 * 86400


@dataclass(frozen=True)
class TokenInfo:
    jti: str
    user_id: int
    client_id: str
    kind: str  # "oauth" | "long_lived"
    expires_at: float


class OAuthError(Exception):
    def __init__(self, status: int, hint: str):
        super().__init__(hint)
        self.status = status
        self.hint = hint

    def body(self) -> dict[str, Any]:
        return {
            "hint": self.hint,
            "title": "Некорректный запрос",
            "type": OAUTH_PROBLEM_TYPE,
            "status": self.status,
            "detail": "В запросе отсутствует ряд параметров или параметры невалидны",
        }


class OAuthStore:
    def __init__(self, *, client_id: str, client_secret: str, redirect_uri: str, account_id: int,
                 now: Callable[[], float], domain: Callable[[], str],
                 access_lifetime: int = ACCESS_LIFETIME, code_lifetime: int = CODE_LIFETIME):
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.account_id = account_id
        self.now = now
        self.domain = domain
        self.access_lifetime = access_lifetime
        self.code_lifetime = code_lifetime
        self.signing_key = secrets.token_hex(32)
        self.reset()

    def reset(self) -> None:
        self.codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.access: dict[str, TokenInfo] = {}
        self.revoked_jtis: set[str] = set()
        self.counters = {"codes_exchanged": 0, "refreshes": 0, "refresh_rejected": 0, "long_lived_issued": 0}

    # --- issuing -----------------------------------------------------------------------------------
    def issue_code(self, user_id: int, lifetime: int | None = None) -> str:
        code = "def50200" + secrets.token_hex(48)
        self.codes[code] = {"user_id": user_id, "expires_at": self.now() + (lifetime or self.code_lifetime),
                            "used": False}
        return code

    def _access_token(self, user_id: int, client_id: str, kind: str, lifetime: int) -> str:
        now = self.now()
        jti = str(uuid.uuid4())
        info = TokenInfo(jti=jti, user_id=user_id, client_id=client_id, kind=kind, expires_at=now + lifetime)
        self.access[jti] = info
        claims = {"aud": client_id, "jti": jti, "iat": int(now), "nbf": int(now), "exp": int(now + lifetime),
                  "sub": str(user_id), "account_id": self.account_id, "base_domain": "amocrm.ru",
                  "api_domain": self.domain(), "scopes": ["crm", "files", "files_delete", "notifications"],
                  "kind": kind}
        return jwt.encode(claims, self.signing_key, algorithm="HS256")

    def _pair(self, user_id: int) -> dict[str, Any]:
        refresh = "def50200" + secrets.token_hex(64)
        self.refresh_tokens[refresh] = {"user_id": user_id, "expires_at": self.now() + REFRESH_LIFETIME,
                                        "status": "active"}
        return {"token_type": "Bearer", "expires_in": self.access_lifetime,
                "access_token": self._access_token(user_id, self.client_id, "oauth", self.access_lifetime),
                "refresh_token": refresh, "server_time": int(self.now())}

    def issue_long_lived(self, user_id: int, lifetime: int, client_id: str | None = None) -> str:
        self.counters["long_lived_issued"] += 1
        return self._access_token(user_id, client_id or self.client_id, "long_lived", lifetime)

    # --- the token endpoint ------------------------------------------------------------------------
    def exchange(self, payload: dict[str, Any]) -> dict[str, Any]:
        """POST /oauth2/access_token; raises OAuthError."""
        if not isinstance(payload, dict):
            raise OAuthError(400, "Request body must be a JSON object")
        for name in ("client_id", "client_secret", "grant_type", "redirect_uri"):
            if not payload.get(name):
                raise OAuthError(400, f"Check the `{name}` parameter")
        if payload["client_id"] != self.client_id or payload["client_secret"] != self.client_secret:
            raise OAuthError(401, "Client authentication failed")
        if payload["redirect_uri"] != self.redirect_uri:
            raise OAuthError(400, "Redirect URI mismatch")
        grant = payload["grant_type"]
        if grant == "authorization_code":
            code = self.codes.get(str(payload.get("code") or ""))
            if code is None:
                raise OAuthError(400, "Cannot decrypt the authorization code")
            if code["used"]:
                raise OAuthError(400, "Authorization code has been revoked")
            if code["expires_at"] < self.now():
                raise OAuthError(400, "Authorization code has expired")
            code["used"] = True
            self.counters["codes_exchanged"] += 1
            return self._pair(code["user_id"])
        if grant == "refresh_token":
            token = self.refresh_tokens.get(str(payload.get("refresh_token") or ""))
            if token is None:
                self.counters["refresh_rejected"] += 1
                raise OAuthError(400, "Cannot decrypt the refresh token")
            if token["status"] != "active":
                self.counters["refresh_rejected"] += 1
                raise OAuthError(401, "Token has been revoked")
            if token["expires_at"] < self.now():
                self.counters["refresh_rejected"] += 1
                raise OAuthError(400, "Token has expired")
            token["status"] = "used"
            self.counters["refreshes"] += 1
            return self._pair(token["user_id"])
        raise OAuthError(400, "The authorization grant type is not supported by the authorization server")

    # --- the API side ------------------------------------------------------------------------------
    def authenticate(self, bearer: str) -> TokenInfo | None:
        try:
            # Time is checked against the emulator's own (shiftable) clock below, not by PyJWT.
            claims = jwt.decode(bearer, self.signing_key, algorithms=["HS256"], options={
                "verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False})
        except jwt.PyJWTError:
            return None
        info = self.access.get(str(claims.get("jti")))
        if info is None or info.jti in self.revoked_jtis or info.expires_at < self.now():
            return None
        return info

    def revoke_all(self) -> int:
        """The admin disabled the integration: every token dies."""
        count = 0
        for jti in self.access:
            if jti not in self.revoked_jtis:
                self.revoked_jtis.add(jti)
                count += 1
        for token in self.refresh_tokens.values():
            token["status"] = "revoked"
        return count
