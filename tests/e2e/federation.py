"""Federation requests signed as a given server (X-Matrix authentication).

The receiving server checks the signature against the origin's key, which it fetches
from the origin's own ``/_matrix/key/v2/server``. So acting as a real homeserver A
towards B works once A is up.
"""

from collections.abc import Mapping
from typing import Any

from canonicaljson import encode_canonical_json
from signedjson.sign import sign_json
from signedjson.types import SigningKey

from tests.e2e.client import JsonClient, Response


def key_id(key: SigningKey) -> str:
    return f"{key.alg}:{key.version}"


def x_matrix_authorization(
    *,
    origin: str,
    destination: str,
    signing_key: SigningKey,
    method: str,
    uri: str,
    content: Any = None,
) -> str:
    """The ``Authorization`` header value for a request from ``origin``.

    ``uri`` is the path with its query string, exactly as sent.
    """
    request: dict[str, Any] = {
        "method": method,
        "uri": uri,
        "origin": origin,
        "destination": destination,
    }
    if content is not None:
        request["content"] = content
    signed = sign_json(request, origin, signing_key)
    signature = signed["signatures"][origin][key_id(signing_key)]
    return (
        f'X-Matrix origin="{origin}",destination="{destination}",'
        f'key="{key_id(signing_key)}",sig="{signature}"'
    )


async def signed_request(
    client: JsonClient,
    *,
    origin: str,
    signing_key: SigningKey,
    destination: str,
    destination_url: str,
    method: str,
    uri: str,
    content: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Sends ``method uri`` to ``destination_url`` (scheme, host and port of the
    destination's federation listener), signed as ``origin``."""
    authorization = x_matrix_authorization(
        origin=origin,
        destination=destination,
        signing_key=signing_key,
        method=method,
        uri=uri,
        content=content,
    )
    body = None if content is None else encode_canonical_json(content)
    return await client.request(
        method,
        destination_url + uri,
        body=body,
        headers={"Authorization": authorization, **(headers or {})},
    )
