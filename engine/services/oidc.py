"""Sign-in with OpenID Connect providers: Google, Microsoft Entra ID, or any discovery URL.

Authorization code flow with PKCE (S256), ``state`` and ``nonce``. The pieces that must not be
hand-rolled come from well-kept libraries: Authlib builds the authorization request and the
PKCE challenge, joserfc (Authlib's JOSE library) verifies the ID token's signature against the
provider's JWKS (asymmetric algorithms only, so a token "signed" with the public key as an HMAC
secret or with ``alg: none`` never passes) and its claims: issuer, audience, expiry, nonce.

The browser carries the attempt's ``state``, ``nonce`` and PKCE verifier in a short-lived cookie
encrypted with the server's key (:func:`begin` / :func:`complete`), so nothing is stored
server-side for an abandoned sign-in and the callback only works in the browser that started it.

Microsoft's multi-tenant endpoints (``common``, ``organizations``) publish the issuer as
``https://login.microsoftonline.com/{tenantid}/v2.0``; the token's ``tid`` fills it in before
the issuer is compared. Entra ID does not send ``email_verified``; its ``xms_edov`` ("email
domain owner verified") claim counts instead.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import structlog
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    DecodeError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from sqlmodel import Session, select

from engine.config import Settings, get_settings
from engine.crypto import SecretDecryptError, constant_time_equals, decrypt_json, encrypt_json
from engine.db import utcnow
from engine.errors import FlowMateError
from engine.models import Membership, Role, User, UserIdentity
from engine.services import audit, sso_policy
from engine.services.account_actor import account_actor
from engine.services.accounts import add_member, create_workspace, normalise_email
from engine.services.actor import Actor
from engine.services.verification import mark_verified

log = structlog.get_logger("flowmate.oidc")

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
ATTEMPT_TTL_S = 600
CLOCK_LEEWAY_S = 60
CACHE_TTL_S = 3600
HTTP_TIMEOUT_S = 10.0
GOOGLE_DISCOVERY = "https://accounts.google.com/.well-known/openid-configuration"
MICROSOFT_DISCOVERY = "https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration"


class OidcRefused(FlowMateError):
    """A sign-in that must not go through; ``code`` picks the sentence the login page shows."""

    MESSAGES = {
        "unknown_provider": "That sign-in provider is not configured here.",
        "state": "This sign-in attempt expired or was started in another browser. Please try again.",
        "provider": "The sign-in provider did not sign you in. Please try again.",
        "discovery": "The sign-in provider could not be reached. Please try again in a moment.",
        "exchange": "The sign-in provider did not accept the sign-in code. Please try again.",
        "signature": "Sign-in refused: the provider's token failed its signature check.",
        "expired": "Sign-in refused: the provider's token has expired.",
        "nonce": "Sign-in refused: the provider's token does not belong to this sign-in attempt.",
        "audience": "Sign-in refused: the provider's token was issued for a different application.",
        "issuer": "Sign-in refused: the provider's token comes from an unexpected issuer.",
        "token": "Sign-in refused: the provider's token is not valid.",
        "email_unverified": "Sign-in refused: your provider says this email address is not verified. Verify it "
                            "with the provider, then try again.",
        "no_email": "Sign-in refused: the provider did not share your email address.",
        "signup_closed": "There is no FlowMate account for this address, and sign-up here is by invitation "
                         "only. Ask your workspace owner to invite you.",
    }

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(self.MESSAGES.get(code, self.MESSAGES["token"]))
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    kind: str  # google | microsoft | generic
    discovery_url: str
    client_id: str
    client_secret: str = field(repr=False, default="")


@dataclass(frozen=True)
class Identity:
    provider: str
    subject: str
    email: str
    email_verified: bool
    name: str


@dataclass(frozen=True)
class SignInResult:
    user: User
    workspace_id: str | None
    created: bool
    linked: bool


def configured_providers(settings: Settings | None = None) -> list[Provider]:
    """Providers with a client id, in button order: Google, Microsoft, then the generic list."""
    s = settings or get_settings()
    out: list[Provider] = []
    if s.oidc_google_client_id:
        out.append(Provider("google", "Google", "google", GOOGLE_DISCOVERY, s.oidc_google_client_id,
                            s.oidc_google_client_secret.get_secret_value()))
    if s.oidc_microsoft_client_id:
        out.append(Provider("microsoft", "Microsoft", "microsoft",
                            MICROSOFT_DISCOVERY.format(tenant=s.oidc_microsoft_tenant or "common"),
                            s.oidc_microsoft_client_id, s.oidc_microsoft_client_secret.get_secret_value()))
    for entry in s.oidc_providers:
        pid = str(entry.get("id") or "").strip().lower()
        if not pid or not entry.get("client_id") or any(p.id == pid for p in out):
            continue
        kind = str(entry.get("kind") or "generic")
        discovery = str(entry.get("discovery_url") or "")
        if not discovery and kind == "microsoft":
            discovery = MICROSOFT_DISCOVERY.format(tenant=entry.get("tenant") or "common")
        if not discovery and kind == "google":
            discovery = GOOGLE_DISCOVERY
        if discovery:
            out.append(Provider(pid, str(entry.get("name") or pid.title()), kind, discovery,
                                str(entry["client_id"]), str(entry.get("client_secret") or "")))
    return out


def get_provider(provider_id: str) -> Provider:
    for provider in configured_providers():
        if provider.id == provider_id:
            return provider
    raise OidcRefused("unknown_provider")


# --------------------------------------------------------------------------- provider metadata

_cache: dict[str, tuple[float, Any]] = {}
_cache_lock = threading.Lock()


def _get_json(url: str) -> dict[str, Any]:
    response = httpx.get(url, timeout=HTTP_TIMEOUT_S, follow_redirects=False)
    response.raise_for_status()
    return response.json()


def _cached(key: str, loader: Any, refresh: bool = False) -> Any:
    with _cache_lock:
        hit = _cache.get(key)
    if hit and not refresh and time.monotonic() - hit[0] < CACHE_TTL_S:
        return hit[1]
    value = loader()
    with _cache_lock:
        _cache[key] = (time.monotonic(), value)
    return value


def discovery(provider: Provider) -> dict[str, Any]:
    try:
        doc = _cached(f"discovery:{provider.discovery_url}", lambda: _get_json(provider.discovery_url))
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("oidc.discovery_failed", provider=provider.id, error=str(exc))
        raise OidcRefused("discovery") from None
    for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not doc.get(key):
            raise OidcRefused("discovery", f"discovery document has no {key}")
    return doc


def _keys(provider: Provider, doc: dict[str, Any], refresh: bool = False) -> KeySet:
    try:
        return _cached(f"jwks:{doc['jwks_uri']}", lambda: KeySet.import_key_set(_get_json(doc["jwks_uri"])),
                       refresh=refresh)
    except (httpx.HTTPError, ValueError, JoseError) as exc:
        log.warning("oidc.jwks_failed", provider=provider.id, error=str(exc))
        raise OidcRefused("discovery") from None


def clear_caches() -> None:
    with _cache_lock:
        _cache.clear()


# --------------------------------------------------------------------------- the flow


def redirect_uri(provider: Provider, settings: Settings | None = None) -> str:
    return f"{(settings or get_settings()).base_url.rstrip('/')}/auth/oidc/{provider.id}/callback"


def begin(provider_id: str, next_path: str = "/") -> tuple[str, str]:
    """Start a sign-in: returns (the provider's authorization URL, the attempt cookie's value)."""
    provider = get_provider(provider_id)
    doc = discovery(provider)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    url = prepare_grant_uri(doc["authorization_endpoint"], provider.client_id, "code",
                            redirect_uri=redirect_uri(provider), scope="openid email profile", state=state,
                            nonce=nonce, code_challenge=create_s256_code_challenge(verifier),
                            code_challenge_method="S256")
    cookie = encrypt_json({"p": provider.id, "s": state, "n": nonce, "v": verifier, "next": next_path,
                           "t": int(time.time())})
    return url, cookie


def _attempt(cookie: str | None, provider_id: str, state: str | None) -> dict[str, Any]:
    if not cookie or not state:
        raise OidcRefused("state")
    try:
        attempt = decrypt_json(cookie)
    except SecretDecryptError:
        raise OidcRefused("state") from None
    if attempt.get("p") != provider_id or time.time() - int(attempt.get("t", 0)) > ATTEMPT_TTL_S \
            or not constant_time_equals(str(attempt.get("s", "")), state):
        raise OidcRefused("state")
    return attempt


def _exchange(provider: Provider, doc: dict[str, Any], code: str, verifier: str) -> dict[str, Any]:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri(provider),
            "code_verifier": verifier}
    methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    auth = None
    if "client_secret_basic" in methods or "client_secret_post" not in methods:
        auth = (provider.client_id, provider.client_secret)
    else:
        form.update(client_id=provider.client_id, client_secret=provider.client_secret)
    try:
        response = httpx.post(doc["token_endpoint"], data=form, auth=auth, timeout=HTTP_TIMEOUT_S,
                              headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        log.warning("oidc.token_request_failed", provider=provider.id, error=str(exc))
        raise OidcRefused("exchange") from None
    if response.status_code != 200:
        log.warning("oidc.token_refused", provider=provider.id, status=response.status_code,
                    error=(response.text or "")[:200])
        raise OidcRefused("exchange")
    try:
        body = response.json()
    except ValueError:
        raise OidcRefused("exchange") from None
    if not isinstance(body, dict) or not body.get("id_token"):
        raise OidcRefused("exchange", "no id_token in the token response")
    return body


def _expected_issuer(provider: Provider, doc: dict[str, Any], claims: dict[str, Any]) -> set[str]:
    issuer = str(doc["issuer"])
    if "{tenantid}" in issuer:  # Entra ID multi-tenant endpoints
        tid = str(claims.get("tid") or "")
        if not tid:
            raise OidcRefused("issuer")
        issuer = issuer.replace("{tenantid}", tid)
    issuers = {issuer}
    if provider.kind == "google":
        issuers.add("accounts.google.com")  # Google documents both forms
    return issuers


def verify_id_token(provider: Provider, doc: dict[str, Any], id_token: str, nonce: str) -> dict[str, Any]:
    """Check signature (provider's JWKS), issuer, audience, expiry and nonce; returns the claims."""
    def decode(refresh: bool) -> Any:
        return jwt.decode(id_token, _keys(provider, doc, refresh=refresh), algorithms=ALGORITHMS)

    try:
        try:
            token = decode(refresh=False)
        except (BadSignatureError, ValueError):
            token = decode(refresh=True)  # the provider may have rotated its keys
    except BadSignatureError:
        raise OidcRefused("signature") from None
    except (DecodeError, ValueError, JoseError) as exc:
        log.info("oidc.token_undecodable", provider=provider.id, error=str(exc))
        raise OidcRefused("signature" if "key" in str(exc).lower() else "token") from None
    claims = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_LEEWAY_S,
        iss={"essential": True, "values": sorted(_expected_issuer(provider, doc, claims))},
        aud={"essential": True, "value": provider.client_id},
        exp={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise OidcRefused("expired") from None
    except (InvalidClaimError, MissingClaimError) as exc:
        claim = getattr(exc, "claim", "") or ""
        code = {"iss": "issuer", "aud": "audience", "nonce": "nonce", "exp": "expired"}.get(claim, "token")
        raise OidcRefused(code, str(exc)) from None
    except JoseError as exc:
        raise OidcRefused("token", str(exc)) from None
    azp = claims.get("azp")
    if isinstance(claims.get("aud"), list) and len(claims["aud"]) > 1 and azp != provider.client_id:
        raise OidcRefused("audience")
    return claims


def complete(provider_id: str, params: dict[str, str], cookie: str | None) -> tuple[Identity, str]:
    """Finish a sign-in from the callback's query; returns the verified identity and the next path."""
    attempt = _attempt(cookie, provider_id, params.get("state"))
    provider = get_provider(provider_id)
    if params.get("error"):
        log.info("oidc.provider_error", provider=provider.id, error=params.get("error"))
        raise OidcRefused("provider", params.get("error", ""))
    if not params.get("code"):
        raise OidcRefused("provider", "no code")
    doc = discovery(provider)
    tokens = _exchange(provider, doc, params["code"], attempt["v"])
    claims = verify_id_token(provider, doc, tokens["id_token"], attempt["n"])
    verified = claims.get("email_verified") is True or str(claims.get("email_verified")).lower() == "true"
    if provider.kind == "microsoft" and claims.get("xms_edov") in (True, "true", 1, "1"):
        verified = True
    raw_email = claims.get("email") or ""
    if not raw_email:
        raise OidcRefused("no_email")
    if not verified:
        raise OidcRefused("email_unverified")
    try:
        email = normalise_email(str(raw_email))
    except FlowMateError:
        raise OidcRefused("no_email") from None
    name = str(claims.get("name") or "").strip()[:200]
    return Identity(provider.id, str(claims["sub"]), email, verified, name), str(attempt.get("next") or "/")


def sign_in(session: Session, identity: Identity) -> SignInResult:
    """The FlowMate user for a verified identity: known, linked by verified email, or created.

    Workspaces that allow the email's domain are joined on every sign-in; a brand-new person
    with no workspace at all gets their own, as with a password sign-up.
    """
    created = linked = False
    row = session.exec(select(UserIdentity).where(UserIdentity.provider == identity.provider,
                                                  UserIdentity.subject == identity.subject)).first()
    user = session.get(User, row.user_id) if row else None
    if user is None:
        user = session.exec(select(User).where(User.email == identity.email)).first()
        if user is not None:
            linked = True  # only reached with a provider-verified address (complete() refuses others)
        else:
            user = User(email=identity.email, name=identity.name, password_hash="")
            session.add(user)
            session.flush()
            created = True
        row = UserIdentity(user_id=user.id, provider=identity.provider, subject=identity.subject,
                           email=identity.email)
        audit.record(session, account_actor(user), "user.identity_linked" if linked else "user.created_with_sso",
                     "user", user.id, {"provider": identity.provider, "email": identity.email})
    row.last_login_at, row.email = utcnow(), identity.email
    session.add(row)
    mark_verified(session, user, f"oidc:{identity.provider}")
    joined = sso_policy.auto_join(session, user, identity.email)
    has_workspace = session.exec(select(Membership.id).where(Membership.user_id == user.id)).first() is not None
    workspace_id = joined[0] if joined else None
    if not has_workspace:
        if get_settings().signup_mode != "open":  # FLOWMATE_SIGNUP: SSO makes no new tenants either
            raise OidcRefused("signup_closed")
        ws = create_workspace(session, f"{identity.name or identity.email.split('@')[0]}'s workspace",
                              actor_label=f"user:{user.email}")
        add_member(session, Actor.system(ws.id, f"user:{user.email}"), user, Role.owner)
        workspace_id = ws.id
    return SignInResult(user=user, workspace_id=workspace_id, created=created, linked=linked)


def login_error_query(exc: OidcRefused) -> str:
    return urlencode({"sso_error": exc.code})

