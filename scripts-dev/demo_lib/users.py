"""The demo's accounts: registered through the shared secret the first time, logged
in with their password afterwards."""

import hashlib
import hmac
from dataclasses import dataclass

from demo_lib.ports import DemoError
from tests.e2e.client import JsonClient

PASSWORD = "demo-password"
REGISTER = "/_synapse/admin/v1/register"
LOGIN = "/_matrix/client/v3/login"


@dataclass(frozen=True)
class Account:
    user_id: str
    access_token: str


def _mac(secret: str, nonce: str, localpart: str, admin: bool) -> str:
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    mac.update(
        b"\x00".join(
            [
                nonce.encode(),
                localpart.encode(),
                PASSWORD.encode(),
                b"admin" if admin else b"notadmin",
            ]
        )
    )
    return mac.hexdigest()


async def account(
    client: JsonClient, url: str, secret: str, localpart: str, *, admin: bool = False
) -> Account:
    """``localpart`` on the server at ``url``, with :data:`PASSWORD`: registered
    if new, else logged in."""
    status, body = await client.get_json(url + REGISTER)
    if status != 200:
        raise DemoError(f"GET {url}{REGISTER} answered {status}: {body}")
    status, body = await client.post_json(
        url + REGISTER,
        {
            "nonce": body["nonce"],
            "username": localpart,
            "password": PASSWORD,
            "admin": admin,
            "mac": _mac(secret, body["nonce"], localpart, admin),
        },
    )
    if status == 200:
        return Account(body["user_id"], body["access_token"])
    if not (status == 400 and body.get("errcode") == "M_USER_IN_USE"):
        raise DemoError(
            f"Registering {localpart} on {url} failed: {status} {body}. Is "
            "registration_shared_secret the one this server was started with?"
        )
    status, body = await client.post_json(
        url + LOGIN,
        {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": localpart},
            "password": PASSWORD,
        },
    )
    if status != 200:
        raise DemoError(f"Logging in as {localpart} on {url} failed: {status} {body}")
    return Account(body["user_id"], body["access_token"])
