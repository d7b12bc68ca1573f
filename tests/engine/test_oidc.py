"""OIDC sign-in against a local provider that speaks the real protocol (discovery, authorize with
PKCE, token, JWKS, RS256 ID tokens): the checks on state, signature, issuer (incl. Entra ID's
multi-tenant issuer), audience, expiry, nonce and email_verified, and what a sign-in does to accounts."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from oidc_provider import LocalOidcProvider
from sqlmodel import select

from engine.config import get_settings
from engine.db import session_scope
from engine.errors import Forbidden, ValidationFailed
from engine.models import Membership, Role, User
from engine.services import accounts, oidc, sso_policy
from engine.services.actor import Actor


@pytest.fixture
def idp(sqlite_db, monkeypatch):
    provider = LocalOidcProvider()
    msft = LocalOidcProvider(tenant_mode=True)
    monkeypatch.setenv("FLOWMATE_OIDC_PROVIDERS", json.dumps([provider.provider_config(),
                                                              msft.provider_config("entra", "Entra", "microsoft")]))
    get_settings.cache_clear()
    oidc.clear_caches()
    provider.msft = msft
    yield provider
    provider.close()
    msft.close()
    oidc.clear_caches()


def _sign_in(provider_id: str = "localidp", tamper_state: bool = False):
    url, cookie = oidc.begin(provider_id, "/workflows")
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    location = httpx.get(url, follow_redirects=False).headers["location"]
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    if tamper_state:
        params["state"] = "forged"
    return oidc.complete(provider_id, params, cookie)


def test_valid_sign_in_creates_the_account_with_its_own_workspace(idp) -> None:
    idp.user = {"sub": "g-1", "email": "Mia@Example.com", "email_verified": True, "name": "Mia"}
    identity, next_path = _sign_in()
    assert (identity.email, identity.subject, next_path) == ("mia@example.com", "g-1", "/workflows")
    assert idp.token_requests[-1]["code_verifier"]  # PKCE verifier went to the token endpoint
    with session_scope() as session:
        result = oidc.sign_in(session, identity)
        assert result.created and result.user.email_verified_at is not None and result.workspace_id
    with session_scope() as session:
        again = oidc.sign_in(session, identity)
        assert not again.created and again.user.id == result.user.id


@pytest.mark.parametrize(("fault", "code"), [("wrong_nonce", "nonce"), ("expired", "expired"),
                                              ("other_key", "signature"), ("wrong_audience", "audience")])
def test_bad_id_tokens_are_refused(idp, fault: str, code: str) -> None:
    idp.fault = fault
    with pytest.raises(oidc.OidcRefused) as err:
        _sign_in()
    assert err.value.code == code


def test_unverified_email_and_forged_state_are_refused(idp) -> None:
    idp.user = {"sub": "u-2", "email": "eve@example.com", "email_verified": False}
    with pytest.raises(oidc.OidcRefused) as err:
        _sign_in()
    assert err.value.code == "email_unverified"
    idp.user["email_verified"] = True
    with pytest.raises(oidc.OidcRefused) as err:
        _sign_in(tamper_state=True)
    assert err.value.code == "state"


def test_entra_multi_tenant_issuer_is_checked_against_tid(idp) -> None:
    msft = idp.msft
    msft.user = {"sub": "ms-1", "email": "kai@contoso.example", "xms_edov": True, "name": "Kai"}
    identity, _ = _sign_in("entra")
    assert identity.email == "kai@contoso.example"
    msft.tenant_id = "another-tenant"  # the token's issuer no longer matches its tid...
    original = msft.issuer

    def lying_issuer(for_token: bool = False) -> str:
        return original(for_token).replace("another-tenant", "9188040d-6c67-4c5b-b112-36a304b66dad")

    msft.issuer = lying_issuer
    with pytest.raises(oidc.OidcRefused) as err:
        _sign_in("entra")
    assert err.value.code == "issuer"


def test_linking_domain_auto_join_and_require_sso(idp) -> None:
    with session_scope() as session:
        bakery = accounts.create_workspace(session, "Bondi Bakery")
        owner = accounts.create_user(session, "olive@bondibakery.com.au", "password-123", bakery)
        existing = accounts.create_user(session, "pat@example.com", "password-123", None)
        sso_policy.update_policy(session, Actor.system(bakery.id),
                                 allowed_domains="bondibakery.com.au, @Other.example", auto_join_role="viewer")
        with pytest.raises(ValidationFailed) as err:
            sso_policy.update_policy(session, Actor.system(bakery.id), allowed_domains="gmail.com")
        assert "public mail service" in err.value.fields["allowed_domains"]
        ids = {"bakery": bakery.id, "existing": existing.id, "owner": owner.id}

    idp.user = {"sub": "p-1", "email": "pat@example.com", "email_verified": True}
    identity, _ = _sign_in()
    with session_scope() as session:
        result = oidc.sign_in(session, identity)
        assert result.linked and result.user.id == ids["existing"]

    idp.user = {"sub": "b-7", "email": "ben@bondibakery.com.au", "email_verified": True, "name": "Ben"}
    identity, _ = _sign_in()
    with session_scope() as session:
        result = oidc.sign_in(session, identity)
        assert result.workspace_id == ids["bakery"]
        roles = session.exec(select(Membership.role).where(Membership.user_id == result.user.id)).all()
        assert roles == [Role.viewer.value]

    with session_scope() as session:
        owner = session.get(User, ids["owner"])
        assert sso_policy.password_login_refusal(session, owner) is None
        admin = Actor(ids["bakery"], Role.admin, "user:a@x")
        with pytest.raises(Forbidden, match="only an owner"):
            sso_policy.update_policy(session, admin, require_sso=True)
        sso_policy.update_policy(session, Actor.system(ids["bakery"]), require_sso=True)
        assert sso_policy.password_login_refusal(session, owner) == sso_policy.SSO_REQUIRED_MESSAGE
        assert sso_policy.password_login_refusal(session, session.get(User, ids["existing"])) is None
