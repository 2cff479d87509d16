import base64

import pytest
from starlette.datastructures import QueryParams

from collector.auth import Authenticator, presented_key
from collector.config import WriteKey
from collector.errors import Unauthorized

KEYS = {"key-web": WriteKey(name="web", source="web"), "key-app": WriteKey(name="app")}


def basic(user: str, password: str = "") -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Basic {token}"


def test_source_for_finds_each_key() -> None:
    auth = Authenticator(KEYS)
    assert auth.source_for("key-web") == ("key-web", KEYS["key-web"])
    assert auth.source_for("key-app")[1].name == "app"


@pytest.mark.parametrize("presented", [None, "", "key-we", "key-web ", "KEY-WEB", "x" * 1000])
def test_source_for_refuses_anything_else(presented: str | None) -> None:
    with pytest.raises(Unauthorized):
        Authenticator(KEYS).source_for(presented)


def test_no_keys_configured_refuses_everyone() -> None:
    with pytest.raises(Unauthorized):
        Authenticator({}).source_for("anything")


def test_presented_key_from_basic_user_name() -> None:
    assert presented_key(basic("key-web"), None) == "key-web"
    assert presented_key(basic("key-web", "ignored"), None) == "key-web"


def test_presented_key_from_bearer_token() -> None:
    assert presented_key("Bearer key-app", None) == "key-app"


def test_presented_key_from_the_query_when_the_route_takes_it() -> None:
    query = QueryParams("writeKey=key-web")
    assert presented_key(None, None) is None
    assert presented_key(None, query) == "key-web"
    # A header wins over the query string.
    assert presented_key(basic("key-app"), query) == "key-app"


def test_malformed_basic_credentials_are_refused() -> None:
    with pytest.raises(Unauthorized, match="malformed"):
        presented_key("Basic %%%", None)
