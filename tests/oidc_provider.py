"""A local OpenID Connect provider for tests, speaking the real protocol on 127.0.0.1.

Discovery document, ``/authorize`` (signs in ``provider.user`` at once and redirects back with a
code), ``/token`` (checks the client secret, the redirect URI and the PKCE verifier, then issues
an RS256-signed ID token) and ``/jwks``. ``provider.fault`` makes the next ID tokens wrong in one
way: ``wrong_nonce``, ``expired``, ``other_key`` (signed by a key that is not in the JWKS) or
``wrong_audience``. ``tenant_mode=True`` behaves like Microsoft Entra ID's ``common`` endpoint
(issuer ``.../{tenantid}/v2.0`` in discovery, the real tenant in each token with ``tid``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID = "flowmate-test-client"
CLIENT_SECRET = "local-provider-secret"


class LocalOidcProvider:
    def __init__(self, *, tenant_mode: bool = False, tenant_id: str = "9188040d-6c67-4c5b-b112-36a304b66dad"):
        self.key = RSAKey.generate_key(2048, parameters={"kid": "main", "use": "sig", "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "main", "use": "sig", "alg": "RS256"})
        self.tenant_mode, self.tenant_id = tenant_mode, tenant_id
        self.user: dict[str, Any] = {"sub": "user-1", "email": "user@example.com", "email_verified": True,
                                     "name": "Test User"}
        self.fault: str | None = None
        self.codes: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.token_requests: list[dict[str, Any]] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                payload = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                provider.requests.append({"path": parts.path, "query": query})
                if parts.path.endswith("/.well-known/openid-configuration"):
                    return self._send(200, provider.discovery())
                if parts.path == "/jwks":
                    return self._send(200, KeySet([provider.key]).as_dict(private=False))
                if parts.path == "/authorize":
                    return provider._authorize(self, query)
                return self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path == "/token":
                    status, body = provider._token(form, self.headers.get("Authorization", ""))
                    return self._send(status, body)
                return self._send(404, {"error": "not_found"})

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ protocol

    @property
    def discovery_url(self) -> str:
        prefix = "/common/v2.0" if self.tenant_mode else ""
        return f"{self.url}{prefix}/.well-known/openid-configuration"

    def issuer(self, for_token: bool = False) -> str:
        if self.tenant_mode:
            return f"{self.url}/{self.tenant_id if for_token else '{tenantid}'}/v2.0"
        return self.url

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.issuer(), "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]}

    def _authorize(self, handler: Any, query: dict[str, str]) -> None:
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code" \
                or query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return handler._send(400, {"error": "invalid_request"})
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": query.get("nonce"), "challenge": query["code_challenge"],
                            "redirect_uri": query["redirect_uri"], "user": dict(self.user)}
        target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
        handler._send(302, None, {"Location": target})

    def _token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization.startswith("Basic "):
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return 401, {"error": "invalid_client"}
        grant = self.codes.pop(form.get("code", ""), None)  # codes are single use
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if digest != grant["challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        return 200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 3600,
                     "id_token": self.id_token(grant["user"], grant["nonce"])}

    def id_token(self, user: dict[str, Any], nonce: str | None) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer(for_token=True), "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                  "nonce": nonce, **user}
        if self.tenant_mode:
            claims["tid"] = self.tenant_id
        key = self.key
        if self.fault == "wrong_nonce":
            claims["nonce"] = "not-the-nonce"
        elif self.fault == "expired":
            claims["iat"], claims["exp"] = now - 3600, now - 1800
        elif self.fault == "wrong_audience":
            claims["aud"] = "some-other-client"
        elif self.fault == "other_key":
            key = self.other_key
        return jwt.encode({"alg": "RS256", "kid": "main"}, claims, key)

    def provider_config(self, provider_id: str = "localidp", name: str = "Local IdP", kind: str = "generic") -> dict:
        return {"id": provider_id, "name": name, "kind": kind, "discovery_url": self.discovery_url,
                "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
