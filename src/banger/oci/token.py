"""The bearer-token flow of the distribution spec: the token request a challenge asks for,
and the token in the answer (read bounded by the registry client)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from banger.errors import PermissionDenied, Unavailable
from banger.oci.auth import Challenge, Credentials, basic_header


@dataclass(frozen=True)
class TokenRequest:
    request: httpx.Request
    server: str  # the token server's host[:port], for messages
    scope: str


def token_request(
    http: httpx.Client,
    registry: str,
    challenge: Challenge,
    scope: str,
    creds: Credentials | None,
    insecure: set[str] | frozenset[str],
) -> TokenRequest:
    """The request for a token; credentials go only to an https realm (or a listed one)."""
    realm = challenge.params.get("realm", "")
    parsed = urlsplit(realm)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise PermissionDenied(f"{registry} sent an invalid token realm", hint="report it")
    if parsed.scheme == "http" and parsed.netloc.lower() not in insecure:
        raise PermissionDenied(
            f"token server {parsed.netloc} of {registry} is plain HTTP",
            hint="refusing to send credentials in clear; list it as insecure if you trust it",
        )
    service = challenge.params.get("service", "")
    scope = challenge.params.get("scope", scope)
    if creds is not None and creds.identity_token:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": creds.identity_token,
            "service": service,
            "scope": scope,
            "client_id": "banger",
        }
        request = http.build_request("POST", realm, data=form)
    else:
        headers = {"Authorization": basic_header(creds)} if creds and creds.username else {}
        request = http.build_request(
            "GET", realm, params={"service": service, "scope": scope}, headers=headers
        )
    return TokenRequest(request, parsed.netloc, scope)


def check_token_status(status: int, asked: TokenRequest, registry: str) -> None:
    if status in (401, 403):
        raise PermissionDenied(
            f"token server {asked.server} rejected the credentials for {asked.scope}",
            hint=f"run: docker login {registry}",
        )
    if status != 200:
        raise Unavailable(f"token server {asked.server} answered HTTP {status}", hint="retry later")


def parse_token(raw: bytes, server: str) -> str:
    try:
        body = json.loads(raw)
        token = body.get("token") or body.get("access_token")
    except (ValueError, AttributeError, RecursionError):
        token = None
    if not isinstance(token, str) or not token:
        raise Unavailable(f"token server {server} returned no token", hint="report it")
    return token
