"""`cabos users …`: create, list, deactivate staff accounts, reset passwords, make API tokens."""

from __future__ import annotations

import secrets

import click
from flask.cli import AppGroup
from sqlalchemy import select

from cabos.db import session_scope
from cabos.staff import accounts
from cabos.staff.auth import new_token
from cabos.staff.models import ROLES, StaffUser
from cabos.staff.passwords import WeakPassword

WORDS_BYTES = 18


def _password(generate: bool) -> str:
    if generate:
        return secrets.token_urlsafe(WORDS_BYTES)
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _user(session, email: str) -> StaffUser:  # type: ignore[no-untyped-def]
    user = accounts.find(session, email)
    if user is None:
        raise click.ClickException(f"no staff account for {email}")
    return user


@click.group("users", cls=AppGroup)
def users_group() -> None:
    """Staff accounts (admin, marketer, sales)."""


@users_group.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", default="", help="Shown in the queue and in emails.")
@click.option("--generate-password", is_flag=True, help="Make a random password and print it once.")
def add(email: str, role: str, name: str, generate_password: bool) -> None:
    """Create an account; asks for the password (12+ characters, not a common one)."""
    while True:
        password = _password(generate_password)
        try:
            with session_scope() as session:
                user = accounts.create_user(session, email, role, password, name)
                click.echo(f"created {user.email} ({user.role})")
            break
        except WeakPassword as exc:
            if generate_password:
                raise
            click.echo(f"refused: {exc}", err=True)
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from exc
    if generate_password:
        click.echo(f"password: {password}")


@users_group.command("list")
def list_users() -> None:
    """Every account: email, role, active, last sign-in."""
    with session_scope() as session:
        for u in session.scalars(select(StaffUser).order_by(StaffUser.role, StaffUser.email)):
            last = u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "never"
            click.echo(f"{u.email}\t{u.role}\t{'active' if u.active else 'inactive'}\t{last}\t{u.name}")


@users_group.command("deactivate")
@click.argument("email")
def deactivate(email: str) -> None:
    """End the account's sessions and tokens; it can no longer sign in (history is kept)."""
    with session_scope() as session:
        accounts.deactivate(session, _user(session, email))
    click.echo(f"deactivated {email}")


@users_group.command("reset-password")
@click.argument("email")
@click.option("--generate-password", is_flag=True, help="Make a random password and print it once.")
def reset_password(email: str, generate_password: bool) -> None:
    """Set a new password (and reactivate); every session of the account ends."""
    while True:
        password = _password(generate_password)
        try:
            with session_scope() as session:
                user = _user(session, email)
                accounts.set_password(user, password)
                user.active = True
            break
        except WeakPassword as exc:
            if generate_password:
                raise
            click.echo(f"refused: {exc}", err=True)
    click.echo(f"password changed for {email}" + (f": {password}" if generate_password else ""))


@users_group.command("token")
@click.argument("email")
@click.option("--name", default="", help="What the token is for (e.g. the CRM's name).")
def token(email: str, name: str) -> None:
    """Make an API token acting as this user; it is shown once, only its hash is stored."""
    with session_scope() as session:
        user = _user(session, email)
        if not user.active:
            raise click.ClickException(f"{email} is not active")
        value = new_token(session, user, name)
    click.echo(value)
