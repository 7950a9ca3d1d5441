"""The only code that builds ACME URLs. Absolute URLs come from the configured public URL (so they are
right behind a load balancer) and the route table's names (never string-built paths elsewhere)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request

from acme_server.services.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def url_for(request: Request, name: str, **params: str) -> str:
    """The full URL of route `name`. Starlette's url_path_for walks every route (raising and
    catching NoMatchFound for each miss); the path template of each (name, parameters) is looked up
    that way once per app and then filled in."""
    templates: dict[tuple[str, tuple[str, ...]], str] = request.app.state.url_templates
    key = (name, tuple(params))
    template = templates.get(key)
    if template is None:
        template = templates[key] = _template(request, name, tuple(params))
    return runtime(request).public_url + (template.format(**params) if params else template)


def _template(request: Request, name: str, params: tuple[str, ...]) -> str:
    """The path of route `name` with `{param}` placeholders. Each parameter is asked for as a run of
    digits no path contains, which every convertor (str, int, path) accepts, then swapped back."""
    sentinels = {param: f"{987654321 + index}" for index, param in enumerate(params)}
    path = str(request.app.url_path_for(name, **sentinels)).replace("{", "{{").replace("}", "}}")
    for param, sentinel in sentinels.items():
        path = path.replace(sentinel, f"{{{param}}}")
    return path


def request_url(request: Request) -> str:
    """What the JWS `url` header must equal (RFC 8555 §6.4): the full URL, query included, so that a
    client signing the exact `Link: rel="next"` URL of a paged list (§7.1.2.1) is accepted."""
    query = request.url.query
    return f"{runtime(request).public_url}{request.url.path}{'?' + query if query else ''}"


def profile_of(request: Request) -> str | None:
    """The profile a per-profile directory forces, from /acme/profiles/{profile}/..."""
    value = request.path_params.get("profile")
    return str(value) if value is not None else None


def scoped(request: Request, name: str, **params: str) -> str:
    """A directory-level URL in the same scope (default or one profile) as this request."""
    profile = profile_of(request)
    if profile is None:
        return url_for(request, name, **params)
    return url_for(request, f"profile_{name}", profile=profile, **params)


def account_url(request: Request, account_id: str) -> str:
    return url_for(request, "account", account_id=account_id)


def account_url_template(app: Starlette, public_url: str) -> str:
    """The account URL with an "{account_id}" placeholder, for code outside a request (the
    validation worker binds CAA accounturi and dns-account-01 to it)."""
    return public_url + str(app.url_path_for("account", account_id="{account_id}"))


def account_hash_prefix(public_url: str) -> str:
    """draft-ietf-acme-dns-persist-02 §4.1 accountHashPrefix: hashed account URIs sit under it (an
    identifier only: nothing is served there, and the draft asks for no more than a valid URI)."""
    return f"{public_url}/acme/account-hash/"


def account_id_from_kid(request: Request, kid: str) -> str | None:
    prefix = url_for(request, "account", account_id="ACCOUNT")[: -len("ACCOUNT")]
    if not kid.startswith(prefix) or "/" in kid[len(prefix) :]:
        return None
    return kid[len(prefix) :] or None


def order_url(request: Request, order_id: str) -> str:
    return url_for(request, "order", order_id=order_id)


def authorization_url(request: Request, authorization_id: str) -> str:
    return url_for(request, "authorization", authorization_id=authorization_id)


def challenge_url(request: Request, challenge_id: str) -> str:
    return url_for(request, "challenge", challenge_id=challenge_id)


def certificate_url(request: Request, certificate_id: str) -> str:
    return url_for(request, "certificate", certificate_id=certificate_id)


def certificate_chain_url(request: Request, certificate_id: str, index: int) -> str:
    """Chain 0 is the primary one at the plain certificate URL; alternates have their index."""
    if index == 0:
        return certificate_url(request, certificate_id)
    return url_for(request, "certificate_alternate", certificate_id=certificate_id, alternate=str(index))


def directory_url(request: Request) -> str:
    return scoped(request, "directory")


def renewal_info_base_url(request: Request) -> str:
    """RFC 9773 §4.1: the directory's renewalInfo, to which clients append "/" and a certID."""
    return url_for(request, "renewal_info", cert_id="CERTID")[: -len("/CERTID")]
