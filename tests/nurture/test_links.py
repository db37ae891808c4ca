"""Signed tokens and the redirect rule: our site, or a target written in the email; nothing else."""

from __future__ import annotations

import pytest

from cabos.nurture.links import (
    TokenError,
    allowed_target,
    click_token,
    read_click,
    read_unsubscribe,
    same_site,
    unsubscribe_token,
)
from cabos.site.download_links import make_token

SECRET = "s3cret"


def test_click_tokens_round_trip() -> None:
    token = click_token(SECRET, 7, "https://partner.example/a?b=1")
    click = read_click(SECRET, token, 60)
    assert (click.outbox_id, click.url, click.fresh) == (7, "https://partner.example/a?b=1", True)


def test_old_click_tokens_are_still_ours_but_not_fresh() -> None:
    token = click_token(SECRET, 7, "https://x.example/")
    assert read_click(SECRET, token, -1).fresh is False


@pytest.mark.parametrize("token", [
    "", "not-a-token", "a" * 3000, "../../etc/passwd",
])
def test_broken_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenError):
        read_click(SECRET, token, 60)


def test_a_tampered_or_foreign_token_is_refused() -> None:
    token = click_token(SECRET, 7, "https://x.example/")
    payload, rest = token.split(".", 1)
    with pytest.raises(TokenError):
        read_click(SECRET, payload[:-2] + "AA." + rest, 60)
    with pytest.raises(TokenError):
        read_click("another-secret", token, 60)


def test_each_kind_of_token_has_its_own_salt() -> None:
    unsub = unsubscribe_token(SECRET, 7, 3, "ana@example.com")
    with pytest.raises(TokenError):
        read_click(SECRET, unsub, 60)
    with pytest.raises(TokenError):
        read_unsubscribe(SECRET, click_token(SECRET, 7, "https://x.example/"), 60)
    with pytest.raises(TokenError):
        read_unsubscribe(SECRET, make_token(SECRET, 3, "ana@example.com", "guide"), 60)


def test_an_unsubscribe_token_names_the_row_and_hashes_the_address() -> None:
    token = unsubscribe_token(SECRET, 7, 3, "Zebedeo.Quintanilla@Example.com")
    grant = read_unsubscribe(SECRET, token, 60)
    assert (grant.outbox_id, grant.contact_id) == (7, 3)
    assert grant.matches("zebedeo.quintanilla@example.com") and not grant.matches("bob@example.com")
    # (a long name: a short one, e.g. "ana", turns up in a random signature now and then)
    assert "quintanilla" not in token.lower() and "quintanilla" not in _decoded(token)


def _decoded(token: str) -> str:
    """Every dot-separated part of the token, base64-decoded where it decodes: what anyone can read."""
    import base64
    out = []
    for part in token.split("."):
        try:
            out.append(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8", "replace").lower())
        except ValueError:
            continue
    return " ".join(out)


BASE = "https://www.estiba.example"


@pytest.mark.parametrize(("url", "ok"), [
    ("https://www.estiba.example/articulos/x", True),
    ("https://WWW.estiba.example/", True),
    ("https://partner.example/tool", True),  # written in the email
    ("http://www.estiba.example/articulos/x", False),  # another scheme is another site
    ("https://www.estiba.example.evil.example/", False),
    ("https://www.estiba.example@evil.example/", False),
    ("https://evil.example/?https://www.estiba.example/", False),
    ("https://www.estiba.example:8443/", False),
    ("https://partner.example/tool?x=1", False),  # not exactly as written
    ("//evil.example/", False),
    ("javascript:alert(1)", False),
    ("https://www.estiba.example\\@evil.example/", False),
])
def test_only_our_site_or_a_written_target(url: str, ok: bool) -> None:
    assert allowed_target(url, BASE, {"https://partner.example/tool"}) is ok


def test_same_site_needs_the_same_host() -> None:
    assert same_site("https://www.estiba.example/a", BASE)
    assert not same_site("https://estiba.example/a", BASE)
