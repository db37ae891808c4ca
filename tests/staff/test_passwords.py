"""The password policy and argon2id hashing."""

import pytest

from cabos.staff.passwords import (
    MIN_LENGTH,
    WeakPassword,
    check_policy,
    common_passwords,
    hash_password,
    is_common,
    verify_password,
)


def test_the_bundled_list_has_ten_thousand_common_passwords() -> None:
    common = common_passwords()
    assert len(common) == 10_000
    assert {"123456", "password", "qwerty", "iloveyou"} <= common


@pytest.mark.parametrize("password", [
    "short",                      # too short
    "a" * (MIN_LENGTH - 1),
    "aaaaaaaaaaaaaaaa",           # one character
    "123qweasdzxc",               # on the list as it is
    "1q2w3e4r5t6y",
    "password123456",             # listed word padded with digits
    "Iloveyou2024!!",
    "monkeymonkey",               # listed word doubled
    "ana.garcia-2024",            # contains the address's local part
])
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(WeakPassword):
        check_policy(password, "ana.garcia@example.com")


@pytest.mark.parametrize("password", ["correct horse battery staple", "Estiba-almacen-cuadra-7", "xK9#mQ2$vL8@pR4"])
def test_good_passwords_pass(password: str) -> None:
    check_policy(password, "ana@example.com")
    assert not is_common(password)


def test_hashes_are_argon2id_and_verify() -> None:
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery staple")
    assert not verify_password(stored, "correct horse battery stapler")
    assert not verify_password(None, "correct horse battery staple")  # unknown user: always no
    assert not verify_password("not a hash", "whatever")
