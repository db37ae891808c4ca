"""The contact page's forms (outcome, note and next step, phone), the meeting link and the small admin forms."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

MAX_PHONE = 40  # contacts.phone

_AMOUNT = re.compile(r"^\d[\d.,\s]{0,24}$")


class OutcomeForm(FlaskForm):
    """One form for every outcome: the fields that do not belong to the chosen one are ignored."""

    kind = StringField()
    reason_sent_back = SelectField(_l("Reason"), choices=[], validate_choice=False)
    reason_disqualified = SelectField(_l("Reason"), choices=[], validate_choice=False)
    reason_lost = SelectField(_l("Reason"), choices=[], validate_choice=False)
    note = TextAreaField(_l("Note (what was said, next step)"), validators=[Optional(), Length(max=2000)])
    revenue = StringField(_l("Revenue"), validators=[Optional(), Length(max=25)])
    currency = StringField(_l("Currency"), validators=[Optional(), Length(max=3)])
    won_on = DateField(_l("Date won"), validators=[Optional()])


class NoteForm(FlaskForm):
    """A note, call, meeting or email, with an optional next step (checked by ``activities.validate``)."""

    kind = SelectField(_l("What"), choices=[], validate_choice=False)
    body = TextAreaField(_l("What was said"))
    next_step = StringField(_l("Next step"))
    due_on = DateField(_l("Due on"), validators=[Optional()])


class PhoneForm(FlaskForm):
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=MAX_PHONE)])


class BookingForm(FlaskForm):
    booking_url = StringField(_l("Your meeting link"), validators=[Optional(), Length(max=500)])


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


_PHONE = re.compile(r"^\+?[0-9 ().\-/]{4,38}(?:\s*(?:x|ext\.?)\s*[0-9]{1,6})?$", re.IGNORECASE)


def clean_phone(raw: str | None) -> str | None:
    """A phone number as typed, trimmed; '' to clear it; None when it does not look like one."""
    text = " ".join((raw or "").split())
    if not text:
        return ""
    ok = len(text) <= MAX_PHONE and _PHONE.match(text) and sum(ch.isdigit() for ch in text) >= 4
    return text if ok else None


def tel_href(phone: str) -> str:
    """The ``tel:`` form of a number: digits, a leading + and an extension mark only."""
    head = "+" if phone.strip().startswith("+") else ""
    return "tel:" + head + "".join(ch for ch in phone.split("x")[0].split("ext")[0] if ch.isdigit())
