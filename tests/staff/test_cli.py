"""`cabos users …` end to end."""

from __future__ import annotations

from sqlalchemy import select

from cabos.staff.auth import user_for_token
from cabos.staff.models import ApiToken, StaffUser


def test_add_list_deactivate_reset_and_token(runner, db) -> None:
    result = runner.invoke(args=["users", "add", "Ana@Example.com", "--role", "sales", "--name", "Ana"],
                           input="password123\npassword123\ncorrect horse battery staple\n"
                                 "correct horse battery staple\n")
    assert result.exit_code == 0, result.output
    assert "refused" in result.output and "created ana@example.com (sales)" in result.output
    with db.sessions() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == "ana@example.com"))
        assert user.password_hash.startswith("$argon2id$") and user.role == "sales" and user.active

    listed = runner.invoke(args=["users", "list"])
    assert "ana@example.com\tsales\tactive\tnever\tAna" in listed.output

    token = runner.invoke(args=["users", "token", "ana@example.com", "--name", "crm"]).output.strip()
    assert token.startswith("cabos_")
    with db.sessions() as s:
        assert s.scalar(select(ApiToken.token_hash)) != token  # only the hash is stored
        assert user_for_token(s, token).email == "ana@example.com"

    assert runner.invoke(args=["users", "deactivate", "ana@example.com"]).exit_code == 0
    with db.sessions() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == "ana@example.com"))
        assert not user.active and user.session_version == 2
        assert user_for_token(s, token) is None

    reset = runner.invoke(args=["users", "reset-password", "ana@example.com", "--generate-password"])
    assert reset.exit_code == 0 and "password changed" in reset.output
    with db.sessions() as s:
        assert s.scalar(select(StaffUser.active).where(StaffUser.email == "ana@example.com"))


def test_duplicate_and_bad_role_are_refused(runner) -> None:
    ok = runner.invoke(args=["users", "add", "b@example.com", "--role", "admin", "--generate-password"])
    assert ok.exit_code == 0 and "password: " in ok.output
    again = runner.invoke(args=["users", "add", "b@example.com", "--role", "admin", "--generate-password"])
    assert again.exit_code != 0 and "already has an account" in again.output
    assert runner.invoke(args=["users", "add", "c@example.com", "--role", "boss"]).exit_code != 0
    assert runner.invoke(args=["users", "deactivate", "nobody@example.com"]).exit_code != 0
