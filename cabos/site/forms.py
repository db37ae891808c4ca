"""Forms: CSRF for the whole site, and the lead form each guide asks for.

A guide's front matter decides its extra fields (built-in or custom, each
required or optional), so its form class is built from the guide. Every
value is attacker-controlled: lengths are bounded, choices are checked
against the list, the address is normalised before it is validated.

Every public form is a ``PublicForm``: it reads the posted form fields only (a file
or a JSON body sent to it is not a value), and every text field goes through one
filter, ``clean_text``, that removes control and invisible formatting characters
(a right-to-left override in a name would show staff "Ana moc.live" for
"Ana evil.com") and rejects what is not text.
"""

from __future__ import annotations

import unicodedata
from functools import partial
from typing import Any

from flask import Flask, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import CSRFProtect, FlaskForm
from flask_wtf.csrf import CSRFError
from flask_wtf.form import _Auto, _is_submitted  # the "no formdata given" marker FlaskForm's own Meta tests
from flask import request
from wtforms import (BooleanField, EmailField, Field, HiddenField, SelectChoice, SelectField, StringField,
                     TextAreaField)
from sqlalchemy.exc import SQLAlchemyError
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from cabos.contacts.capture import normalise_email, valid_email
from cabos.contacts.models import Contact
from cabos.db import get_session
from cabos.tracking.models import Visitor
from cabos.tracking.visitors import current_visitor_id
from cabos.content.model import Document, FormField, Site

HONEYPOT = "website"
COMPANY_SIZES = ("1-9", "10-49", "50-249", "250-999", "1000+")
TEXT_LIMITS = {"name": 200, "company": 200, "role": 200, "country": 100}
CUSTOM_LIMIT = 200
MESSAGE_LIMIT = 2000


# Format characters kept: the zero-width joiner and non-joiner are part of how some scripts
# (Persian, Indic) and emoji sequences are written.
KEPT_FORMAT = {"\u200c", "\u200d"}


def clean_text(value: Any, lines: bool = False) -> Any:
    """Text as people type it: control characters (CR/LF/tab become a space; with ``lines``, as in
    a message box, line breaks stay as ``\\n``) and invisible formatting characters (bidirectional
    overrides and isolates, zero-width spaces, BOM) removed."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(_("Type text here."))
    if lines:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for ch in value:
        category = unicodedata.category(ch)
        if lines and ch == "\n":
            out.append(ch)
        elif ch in "\t\r\n\v\f":
            out.append(" ")
        elif category in ("Cc", "Cs", "Co") or (category == "Cf" and ch not in KEPT_FORMAT):
            continue
        else:
            out.append(ch)
    return "".join(out)


class PublicForm(FlaskForm):
    """The base of every form strangers post: text fields cleaned by ``clean_text``, files and
    JSON bodies never taken as values."""

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            if formdata is not _Auto:
                return formdata
            return request.form if _is_submitted() and request.form else None

        def bind_field(self, form: Any, unbound_field: Any, options: dict[str, Any]) -> Any:
            if issubclass(unbound_field.field_class, StringField):
                filters = unbound_field.kwargs.get("filters") or ()
                lines = issubclass(unbound_field.field_class, TextAreaField)
                options = {**options, "filters": [partial(clean_text, lines=lines), *filters]}
            return unbound_field.bind(form=form, **options)


class Choice(SelectField):
    """A select whose 'not one of the choices' message is ours, in the site's language."""

    def pre_validate(self, form: Any) -> None:
        if self.data not in {choice.value for choice in self.choices}:  # type: ignore[union-attr]
            raise ValidationError(_("Choose one of the options in the list."))


def _email(form: Any, field: Field) -> None:
    if field.data and not valid_email(field.data):
        raise ValidationError(_("This does not look like an email address: check it for typos."))


def _trimmed(value: Any) -> Any:
    return " ".join(value.split()) if isinstance(value, str) else value


def _required(required: bool) -> list[Any]:
    return [DataRequired(message=_("Please fill in this field."))] if required else [Optional()]


def _length(limit: int) -> Length:
    return Length(max=limit, message=_("Keep it under %(max)s characters.", max=limit))


def builtin_labels() -> dict[str, str]:
    return {"company": _("Company"), "role": _("Role"), "company_size": _("Company size"), "country": _("Country")}


def _field_for(spec: FormField) -> Field:
    label = spec.label or builtin_labels().get(spec.name, spec.name)
    if spec.choices or spec.name == "company_size":
        choices = spec.choices or COMPANY_SIZES
        options = [SelectChoice("", _("Choose one"))] + [SelectChoice(c, c) for c in choices]
        return Choice(label, choices=options, default="", validators=_required(spec.required))
    limit = TEXT_LIMITS.get(spec.name, CUSTOM_LIMIT)
    return StringField(label, filters=[_trimmed], validators=[*_required(spec.required), _length(limit)])


def consent_text() -> str:
    return _("I agree to receive emails about these topics. I can unsubscribe at any time.")


def recognised() -> Contact | None:
    """The contact this browser proved to be (its verified visitor cookie is joined to them), if any."""
    visitor_id = current_visitor_id()
    if visitor_id is None:
        return None
    session = get_session()
    try:
        visitor = session.get(Visitor, visitor_id)
        return session.get(Contact, visitor.contact_id) if visitor is not None and visitor.contact_id else None
    except SQLAlchemyError:
        # The database is away, or its connection died mid-query (a restart): the page (an article
        # with a newsletter form) still serves, with the whole form, as every page does while
        # readings go to the buffer. Recognition is a convenience; never worth a failed page.
        try:
            session.rollback()
        except SQLAlchemyError:
            session.close()
        return None


def unknown_fields(contact: Contact, specs: tuple[FormField, ...]) -> tuple[FormField, ...]:
    """Progressive profiling: only the fields the contact has not answered yet."""
    def known(spec: FormField) -> bool:
        value = getattr(contact, spec.name, "") if spec.builtin else (contact.custom or {}).get(spec.name)
        return bool(value)
    return tuple(spec for spec in specs if not known(spec))


def lead_form(doc: Document, site: Site, formdata: Any = None, contact: Contact | None = None) -> FlaskForm:
    """A form for ``doc``: name and email (unless recognised), then the guide's own fields, in its order."""
    return build_form(doc.form_fields, site, formdata=formdata, contact=contact)


def build_form(specs: tuple[FormField, ...], site: Site, *, formdata: Any = None, consent: str | None = None,
               consent_label: str | None = None, message: str = "", message_required: bool = False,
               contact: Contact | None = None) -> FlaskForm:
    """Name, email, the marketer's fields, an optional message box and the consent box.

    ``consent`` overrides site.yml's mode for this form (a newsletter requires it). For a
    recognised ``contact`` only what is still unknown is asked: no name, no email, no field
    they already answered.
    """

    class LeadForm(PublicForm):
        pass

    if contact is None:
        LeadForm.name = StringField(_("Name"), filters=[_trimmed], validators=[
            DataRequired(message=_("Please tell us your name.")), _length(TEXT_LIMITS["name"])])
        LeadForm.email = EmailField(_("Work email"),
                                    filters=[lambda v: normalise_email(v) if isinstance(v, str) else v],
                                    validators=[DataRequired(message=_("Please enter your email address.")),
                                                Length(max=254, message=_("This address is too long.")), _email])
    else:
        specs = unknown_fields(contact, specs)
    for spec in specs:
        setattr(LeadForm, f"f_{spec.name}", _field_for(spec))
    if message:
        LeadForm.message = TextAreaField(message, filters=[lambda v: v.strip() if isinstance(v, str) else v],
                                         validators=[*_required(message_required), _length(MESSAGE_LIMIT)])
    mode = consent or site.consent
    if mode != "off":
        LeadForm.consent = BooleanField(consent_label or consent_text(), validators=[
            DataRequired(message=_("Please accept to receive the guide by email.") if consent_label is None
                         else _("Please tick the box to subscribe."))]
            if mode == "required" else [Optional()])
    # Real people never see this field; bots that fill every input give themselves away.
    setattr(LeadForm, HONEYPOT, StringField(_("Leave this field empty"), validators=[Optional()]))
    LeadForm.ref = HiddenField(validators=[Optional()])
    return LeadForm(formdata=formdata) if formdata is not None else LeadForm()


def extra_fields(form: FlaskForm, doc: Document) -> list[Field]:
    return [form[f"f_{spec.name}"] for spec in doc.form_fields if f"f_{spec.name}" in form]


def submitted_values(form: FlaskForm, doc: Document | None = None,
                     specs: tuple[FormField, ...] | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """The form's fields as (built-in columns, custom answers), empty answers left out."""
    builtin: dict[str, str] = {}
    custom: dict[str, str] = {}
    for spec in specs if specs is not None else doc.form_fields:  # type: ignore[union-attr]
        if f"f_{spec.name}" not in form:
            continue  # already known: not asked again
        value = form[f"f_{spec.name}"].data
        if isinstance(value, str) and value.strip():
            (builtin if spec.builtin else custom)[spec.name] = value.strip()
    return builtin, custom


class ResendForm(PublicForm):
    """Ask for a fresh download link."""

    email = EmailField(filters=[lambda v: normalise_email(v) if isinstance(v, str) else v])
    website = StringField(_l("Leave this field empty"), validators=[Optional()])  # the honeypot

    def validate_email(self, field: Field) -> None:
        if not field.data:
            raise ValidationError(_("Please enter your email address."))
        if len(field.data) > 254 or not valid_email(field.data):
            raise ValidationError(_("This does not look like an email address: check it for typos."))


# What browsers may fill in for the built-in fields (HTML's autocomplete tokens); custom ones get none.
AUTOCOMPLETE = {"name": "name", "email": "email", "company": "organization", "role": "organization-title",
                "country": "country-name"}


def autocomplete_for(field_name: str) -> str | None:
    return AUTOCOMPLETE.get(field_name.removeprefix("f_"))


def _csrf_failed(exc: CSRFError) -> tuple[str, int]:
    return render_template("error.html", code=400, name="CSRF", description=_(
        "This form has expired or was sent from another page. Reload the page and send it again.")), 400


def init_app(app: Flask) -> None:
    """CSRF on every form post of the site (APIs with their own auth opt out with ``csrf.exempt``)."""
    app.extensions["cabos.csrf"] = CSRFProtect(app)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.jinja_env.globals["autocomplete_for"] = autocomplete_for
