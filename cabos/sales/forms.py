"""The outcome form (one per action on the contact page) and the small admin forms."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

_AMOUNT = re.compile(r"^\d[\d.,\s]{0,24}$")


class OutcomeForm(FlaskForm):
    kind = HiddenField()
    reason = SelectField(_l("Reason"), choices=[], validate_choice=False)
    note = TextAreaField(_l("Note (what was said, next step)"), validators=[Optional(), Length(max=2000)])
    revenue = StringField(_l("Revenue"), validators=[Optional(), Length(max=25)])
    currency = StringField(_l("Currency"), validators=[Optional(), Length(max=3)])
    won_on = DateField(_l("Date won"), validators=[Optional()])


class AssignForm(FlaskForm):
    user = SelectField(_l("Salesperson"), choices=[], validate_choice=False)


class ActionForm(FlaskForm):
    """A button: the form exists for its CSRF token."""


def parse_amount(raw: str | None) -> int | None:
    """'12.500,50', '12,500.50', '12500.5' or '12500' → cents; None when it is not an amount."""
    text = (raw or "").strip().replace(" ", "").replace("\u00a0", "")
    if not text or not _AMOUNT.match(text):
        return None
    last_dot, last_comma = text.rfind("."), text.rfind(",")
    decimal_at = max(last_dot, last_comma)
    if decimal_at >= 0 and len(text) - decimal_at - 1 in (1, 2) and text.count(text[decimal_at]) == 1:
        whole, frac = text[:decimal_at], text[decimal_at + 1:]
    else:
        whole, frac = text, ""
    whole = whole.replace(".", "").replace(",", "")
    try:
        value = Decimal(f"{whole or '0'}.{frac or '0'}")
    except InvalidOperation:
        return None
    return int((value * 100).to_integral_value())
