"""OAuth 2.0 connections: "Connect your account" instead of pasted credentials.

* :mod:`engine.oauth.flows` — what a connection type declares (authorize/token URLs, scopes, PKCE,
  extra parameters) and where the app's client id/secret come from (settings);
* :mod:`engine.oauth.connect` — the authorization-code flow: a single-use, ten-minute ``state``
  bound to the browser session and workspace, the PKCE verifier, the code exchange, storing the
  tokens (encrypted, in the connection's secret like every other credential);
* :mod:`engine.oauth.tokens` — what actions call: a valid access token (refreshed shortly before
  expiry, or after a 401, under a per-connection database lock so concurrent steps refresh once),
  and "Reconnect needed" when the provider refuses the refresh.

All HTTP goes through Authlib's httpx OAuth 2.0 client wired to the outbound guard.
"""
