"""Credentials for agency requests, read from the environment at call time, never stored in config.

OAuth2 client credentials are done by hand rather than with authlib's OAuth2Session: that session
keeps its token as unguarded mutable state on a Session shared by worker threads, and the token
call must use the adapter's own bounded client and error classification. A lock and twenty lines do.
"""

from __future__ import annotations

import base64
import threading
import time

from pydantic import SecretStr

from adapters.errors import PermanentDeliveryError
from adapters.http import HttpClient, classify
from adapters.rest.settings import ApiKeyAuth, Auth, BasicAuth, BearerAuth, NoAuth, OAuth2Auth
from adapters.secrets import secret

DEFAULT_TOKEN_SECONDS = 300.0
"""Token lifetime assumed when the token endpoint does not say."""


class Credentials:
    """Turns an agency's auth settings into request headers; thread-safe."""

    def __init__(self, auth: Auth, client: HttpClient) -> None:
        self.auth = auth
        self._client = client
        self._lock = threading.Lock()
        self._token: SecretStr | None = None
        self._expires = 0.0

    @property
    def refreshable(self) -> bool:
        """True when a 401 may only mean our cached token went stale."""
        return isinstance(self.auth, OAuth2Auth)

    def headers(self) -> dict[str, str]:
        """The authentication headers for one request."""
        a = self.auth
        if isinstance(a, NoAuth):
            return {}
        if isinstance(a, ApiKeyAuth):
            return {a.header: secret(a.key_env).get_secret_value()}
        if isinstance(a, BearerAuth):
            return {"Authorization": f"Bearer {secret(a.token_env).get_secret_value()}"}
        if isinstance(a, BasicAuth):
            pair = f"{a.username}:{secret(a.password_env).get_secret_value()}".encode()
            return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
        return {"Authorization": f"Bearer {self._oauth2_token(a).get_secret_value()}"}

    def forget(self) -> None:
        """Drop the cached OAuth2 token so the next request fetches a fresh one."""
        with self._lock:
            self._token = None

    def _oauth2_token(self, a: OAuth2Auth) -> SecretStr:
        with self._lock:
            if self._token is not None and time.monotonic() < self._expires:
                return self._token
            form = {"grant_type": "client_credentials"}
            if a.scope:
                form["scope"] = a.scope
            answer = self._client.request(
                "POST",
                a.token_url,
                form=form,
                auth=(a.client_id, secret(a.client_secret_env).get_secret_value()),
                safe=True,
                what="token endpoint",
            )
            classify(answer, frozenset({200}), what="token endpoint")
            body = answer.json(what="token endpoint")
            token = body.get("access_token") if isinstance(body, dict) else None
            if not isinstance(token, str) or not token:
                raise PermanentDeliveryError("token endpoint answered without an access_token")
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_SECONDS)
            self._token = SecretStr(token)
            self._expires = time.monotonic() + lifetime - min(30.0, lifetime / 10)
            return self._token
