"""The FlowMate Reflex app: theme, REST API, lifespan hooks and page registration."""

from __future__ import annotations

import reflex as rx

from flowmate_app.api import build_api
from flowmate_app.auth import AuthState
from flowmate_app.components.layout import NAV_ITEMS
from flowmate_app.components.placeholder import placeholder_page
from flowmate_app.features.audit.page import audit_page
from flowmate_app.features.audit.state import AuditState
from flowmate_app.features.auth.page import login_page, signup_page
from flowmate_app.features.builder.page import builder_page
from flowmate_app.features.builder.state import BuilderState
from flowmate_app.features.connections.page import connections_page
from flowmate_app.features.connections.state import ConnectionsState
from flowmate_app.features.contacts.page import contacts_page
from flowmate_app.features.contacts.state import ContactsState
from flowmate_app.features.dashboard.page import dashboard_page
from flowmate_app.features.dashboard.state import DashboardState
from flowmate_app.features.data.cross_border import CrossBorderState
from flowmate_app.features.data.page import data_page
from flowmate_app.features.data.state import DataState
from flowmate_app.features.gallery.page import gallery_page
from flowmate_app.features.gallery.state import GalleryState
from flowmate_app.features.runs.page import run_detail_page, runs_page
from flowmate_app.features.runs.state import RunDetailState, RunsState
from flowmate_app.features.settings.page import members_page, settings_page
from flowmate_app.features.settings.state import MembersState, SettingsState
from flowmate_app.features.workflows.page import workflows_page
from flowmate_app.features.workflows.state import WorkflowsState
from flowmate_app.lifespan import lifespan

api = build_api()

# Inline so the tab icon needs no file in assets/ (and no 404 for /favicon.ico).
FAVICON = (
    "data:image/svg+xml,"
    "%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E"
    "%3Crect width='32' height='32' rx='7' fill='%236e56cf'/%3E"
    "%3Cpath d='M18 4 8 18h7l-2 10 10-14h-7z' fill='white'/%3E%3C/svg%3E"
)

# The theme (violet accent, light/dark following the colour-mode toggle) is configured on the
# RadixThemesPlugin in rxconfig.py: App(theme=...) is deprecated in Reflex 0.10.
app = rx.App(
    api_transformer=api,
    head_components=[rx.el.link(rel="icon", type="image/svg+xml", href=FAVICON)],
)
app.register_lifespan_task(lifespan)

app.add_page(login_page, route="/login", title="Log in · FlowMate", on_load=AuthState.redirect_if_signed_in)
app.add_page(signup_page, route="/signup", title="Sign up · FlowMate", on_load=AuthState.redirect_if_signed_in)
app.add_page(dashboard_page, route="/", title="Dashboard · FlowMate",
             on_load=[AuthState.require_login, DashboardState.load, DashboardState.follow])
app.add_page(workflows_page, route="/workflows", title="Workflows · FlowMate",
             on_load=[AuthState.require_login, WorkflowsState.load])
app.add_page(builder_page, route="/workflows/[id]", title="Workflow builder · FlowMate",
             on_load=[AuthState.require_login, BuilderState.load, CrossBorderState.load])
app.add_page(gallery_page, route="/templates", title="Templates · FlowMate",
             on_load=[AuthState.require_login, GalleryState.load])
app.add_page(runs_page, route="/runs", title="Runs · FlowMate", on_load=[AuthState.require_login, RunsState.load,
                                                                                 RunsState.follow])
app.add_page(run_detail_page, route="/runs/[run_id]", title="Run · FlowMate",
             on_load=[AuthState.require_login, RunDetailState.load, RunDetailState.follow])
app.add_page(connections_page, route="/connections", title="Connections · FlowMate",
             on_load=[AuthState.require_login, ConnectionsState.load, ConnectionsState.announce_connected])
app.add_page(audit_page, route="/audit", title="Audit log · FlowMate",
             on_load=[AuthState.require_login, AuditState.load])
app.add_page(contacts_page, route="/contacts", title="Contacts · FlowMate",
             on_load=[AuthState.require_login, ContactsState.load])
app.add_page(settings_page, route="/settings", title="Settings · FlowMate",
             on_load=[AuthState.require_login, SettingsState.load])
app.add_page(members_page, route="/members", title="Members · FlowMate",
             on_load=[AuthState.require_login, MembersState.load])
app.add_page(data_page, route="/settings/data", title="Data · FlowMate",
             on_load=[AuthState.require_login, DataState.load])

# Accounts: pages behind emailed links (no sign-in needed to open them).
from flowmate_app.features.account import links_page, links_state  # noqa: E402

app.add_page(links_page.invite_page, route="/invite/[token]", title="Invitation · FlowMate",
             on_load=links_state.InviteState.load_invite)
app.add_page(links_page.forgot_page, route="/forgot", title="Forgot password · FlowMate",
             on_load=links_state.ForgotState.open_forgot)
app.add_page(links_page.reset_page, route="/reset/[token]", title="Reset password · FlowMate",
             on_load=links_state.ResetState.open_reset)
app.add_page(links_page.verify_page, route="/verify/[token]", title="Confirm email · FlowMate",
             on_load=links_state.VerifyState.open_verify)
app.add_page(links_page.delete_account_page, route="/account/delete/[token]", title="Delete account · FlowMate",
             on_load=links_state.DeleteAccountState.open_delete)

from flowmate_app.features.auth.mfa_page import mfa_login_page  # noqa: E402
from flowmate_app.features.auth.mfa_state import MfaLoginState  # noqa: E402

app.add_page(mfa_login_page, route="/login/mfa", title="Two-factor authentication · FlowMate",
             on_load=MfaLoginState.open_mfa)

from flowmate_app.features.account.page import account_page  # noqa: E402
from flowmate_app.features.account.state import AccountState  # noqa: E402
from flowmate_app.features.tokens.page import tokens_page  # noqa: E402
from flowmate_app.features.tokens.state import TokensState  # noqa: E402

app.add_page(account_page, route="/account", title="Account · FlowMate",
             on_load=[AuthState.require_login, AccountState.load_account])
app.add_page(tokens_page, route="/tokens", title="API tokens · FlowMate",
             on_load=[AuthState.require_login, TokensState.load])

from flowmate_app.features.approvals.page import approvals_page  # noqa: E402
from flowmate_app.features.approvals.state import ApprovalsState  # noqa: E402

app.add_page(approvals_page, route="/approvals", title="Approvals · FlowMate",
             on_load=[AuthState.require_login, ApprovalsState.load])

# Navigation entries whose feature has not landed yet; each feature deletes its line here and
# registers its own page instead.
PLACEHOLDER_ROUTES: dict[str, str] = {
}
for _item in NAV_ITEMS:
    if _item.href in PLACEHOLDER_ROUTES:
        app.add_page(
            placeholder_page(_item, PLACEHOLDER_ROUTES[_item.href]),
            route=_item.href,
            title=f"{_item.label} · FlowMate",
            on_load=AuthState.require_login,
        )
