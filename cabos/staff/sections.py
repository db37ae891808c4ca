"""The staff navigation: each part adds its sections; the menu shows those the role may open.

A section names its endpoint, so a part that is not installed (or not
written yet) simply does not appear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app


@dataclass(frozen=True)
class Section:
    endpoint: str
    label: Any  # a lazy gettext string, translated when shown
    roles: tuple[str, ...]  # who may open it; admins always may
    order: int = 100
    description: Any = ""


def add_section(app: Flask, endpoint: str, label: Any, roles: tuple[str, ...], order: int = 100,
                description: Any = "") -> None:
    """Show ``endpoint`` in the staff menu to ``roles`` (and admins)."""
    sections: dict[str, Section] = app.extensions.setdefault("cabos.staff.sections", {})
    sections[endpoint] = Section(endpoint, label, tuple(roles), order, description)


def sections_for(role: str | None) -> list[Section]:
    """The sections ``role`` may open, in menu order; unknown endpoints left out."""
    if role is None:
        return []
    sections: dict[str, Section] = current_app.extensions.get("cabos.staff.sections", {})
    return sorted((s for s in sections.values()
                   if s.endpoint in current_app.view_functions and (role == "admin" or role in s.roles)),
                  key=lambda s: (s.order, s.endpoint))


def set_home(app: Flask, role: str, view: Any) -> None:
    """Show ``view`` at /staff/ to ``role`` (a salesperson's home is their day) instead of the list of sections."""
    app.extensions.setdefault("cabos.staff.homes", {})[role] = view


def home_for(role: str | None) -> Any:
    """The view registered as ``role``'s home, or None."""
    return current_app.extensions.get("cabos.staff.homes", {}).get(role or "")
