"""Forms as content: ``content/forms/*.yml``, each a form a marketer places on pages and articles.

One file per form, named by the file (``demo.yml`` is the form ``demo``)::

    kind: demo                 # demo | contact_sales (hand-raisers: straight to sales) | newsletter
    title: Solicita tu demo
    show_on: [pages/demo.md]   # the pages and articles that show it, after their text
    fields:                    # name and email are always asked; as a guide's form.fields
      - company
      - {name: role, required: true}
    message: ¿Qué te gustaría ver?   # hand-raisers: the label of the message box
    message_required: false
    submit: Quiero mi demo     # the button
    thank_you: Gracias, te llamamos en un día laborable.
    list: newsletter           # newsletter: the list confirmed subscribers join (default: the form's name)

It is a content-loader extension (``library.sections['forms']``), so `cabos check`
reports every problem with file, line and key, and a broken file on reload keeps
nothing half-valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cabos.content.fields import FieldProblem, form_fields
from cabos.content.library import Library
from cabos.content.model import FormField, Issue
from cabos.content.yamlfile import KeyChecker, read_yaml, suggest

SECTION = "forms"
FOLDER = "forms"
DEMO, CONTACT_SALES, NEWSLETTER = "demo", "contact_sales", "newsletter"
KINDS = (DEMO, CONTACT_SALES, NEWSLETTER)
HAND_RAISERS = (DEMO, CONTACT_SALES)
KEYS = ("kind", "title", "show_on", "fields", "message", "message_required", "submit", "thank_you", "list", "intro")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
_ON = re.compile(r"^(pages|articles)/([^/]+)\.md$")


@dataclass(frozen=True)
class FormSpec:
    name: str
    kind: str
    title: str
    source: str
    on: tuple[tuple[str, str], ...]  # (kind, slug) of the documents that show it
    fields: tuple[FormField, ...] = ()
    message: str = ""
    message_required: bool = False
    submit: str = ""
    thank_you: str = ""
    intro: str = ""
    list: str = ""

    @property
    def hand_raiser(self) -> bool:
        return self.kind in HAND_RAISERS


@dataclass(frozen=True)
class Privacy:
    """site.yml's ``privacy:``: the basic data-protection information shown next to every form."""

    controller: str = ""  # who: the company responsible for the data
    purpose: str = ""  # why: what the answers are used for
    contact: str = ""  # where to exercise the rights (an address)
    policy: str = ""  # the privacy policy's address on the site, e.g. /privacidad
    legal: str = ""  # the legal notice's address, e.g. /aviso-legal


@dataclass(frozen=True)
class Forms:
    by_name: MappingProxyType[str, FormSpec]
    privacy: Privacy = Privacy()

    def on(self, kind: str, slug: str) -> list[FormSpec]:
        """The forms placed on one document, in file order."""
        return [f for f in self.by_name.values() if (kind, slug) in f.on]


EMPTY = Forms(MappingProxyType({}))


def forms_of(library: Library) -> Forms:
    value = library.sections.get(SECTION)
    return value if isinstance(value, Forms) else EMPTY


def _text(check: KeyChecker, data: dict[str, Any], key: str, limit: int, required: bool = False,
          within: tuple[str, ...] = ()) -> str:
    value = data.get(key)
    path = (*within, key)
    if value is None or value == "":
        if required:
            check.error(path, f"{key} is required")
        return ""
    if not isinstance(value, (str, int, float)):
        check.error(path, f"{key} must be text")
        return ""
    text = " ".join(str(value).split())
    if len(text) > limit:
        check.error(path, f"{key} is {len(text)} characters; keep it under {limit}")
    return text[:limit]


def load_form(path: Path, rel: str, library: Library) -> tuple[FormSpec | None, list[Issue]]:
    data, lines, issues = read_yaml(path, rel)
    if issues:
        return None, issues
    check = KeyChecker(rel, lines)
    data = check.mapping(data, (), KEYS)
    name = path.stem
    if not _NAME.match(name):
        check.error((), f"the file name {name!r} must be lowercase letters, digits and hyphens (it is the form's name)")
    kind = str(data.get("kind") or "")
    if kind not in KINDS:
        check.error(("kind",), f"kind {kind!r} is not one of {', '.join(KINDS)}" + (
            suggest(kind, KINDS) if kind else ""))
    title = _text(check, data, "title", 120, required=True)
    on: list[tuple[str, str]] = []
    raw_on = data.get("show_on") or []
    if not isinstance(raw_on, list):
        check.error(("show_on",), "show_on must be a list of content files, e.g. [pages/demo.md]")
        raw_on = []
    known = {f"{'pages' if d.kind == 'page' else 'articles'}/{Path(d.source).name}": (d.kind, d.slug)
             for d in [*library.pages.values(), *library.articles.values()]}
    for i, item in enumerate(raw_on):
        match = _ON.match(str(item))
        if not match:
            check.error(("show_on", i), f"{item!r} is not a page or article file (pages/NAME.md or articles/NAME.md)")
        elif str(item) not in known:
            check.error(("show_on", i), f"{item!r} is not a published page or article{suggest(str(item), known)}")
        else:
            on.append(known[str(item)])
    try:
        fields = form_fields(data.get("fields"))
    except FieldProblem as exc:
        check.error(("fields",), str(exc))
        fields = ()
    if "message" in {f.name for f in fields}:
        check.error(("fields",), "'message' is the hand-raisers' message box: set its label with message:")
    message = _text(check, data, "message", 200)
    if (message or data.get("message_required")) and kind not in HAND_RAISERS:
        check.error(("message",), "only demo and contact_sales forms have a message box")
    list_name = _text(check, data, "list", 60)
    if list_name and kind != NEWSLETTER:
        check.error(("list",), "only newsletter forms join a list")
    if check.failed:
        return None, check.issues
    return FormSpec(
        name=name, kind=kind, title=title, source=rel, on=tuple(on), fields=fields,
        message=message, message_required=bool(data.get("message_required")),
        submit=_text(check, data, "submit", 60), thank_you=_text(check, data, "thank_you", 500),
        intro=_text(check, data, "intro", 500),
        list=(list_name or name) if kind == NEWSLETTER else "",
    ), check.issues


PRIVACY_KEYS = ("controller", "purpose", "contact", "policy", "legal")


def load_privacy(root: Path, library: Library) -> tuple[Privacy, list[Issue]]:
    """site.yml's ``privacy:`` section; missing, the notice names the site and warns in `cabos check`."""
    data, lines, issues = read_yaml(root / "site.yml", "site.yml")
    if issues or not isinstance(data, dict):
        return Privacy(controller=library.site.name), []  # the loader reports an unreadable site.yml
    check = KeyChecker("site.yml", lines)
    if data.get("privacy") is None:
        check.warn((), "site.yml has no privacy: section (controller, purpose, contact, policy, legal): "
                       "the notice next to each form needs it")
        return Privacy(controller=library.site.name), check.issues
    section = check.mapping(data.get("privacy"), ("privacy",), PRIVACY_KEYS)
    values = {key: _text(check, section, key, 300, within=("privacy",)) for key in PRIVACY_KEYS}
    for key in ("policy", "legal"):
        if values[key] and not values[key].startswith("/"):
            check.error(("privacy", key), f"{key} must be an address on the site, e.g. /privacidad")
            values[key] = ""
        elif values[key] and values[key].strip("/") not in library.pages:
            check.warn(("privacy", key), f"{values[key]} is not a published page (content/pages/)")
    for key in ("controller", "purpose", "contact"):
        if not values[key]:
            check.warn(("privacy", key), f"privacy.{key} is empty: the notice next to each form needs it")
    values["controller"] = values["controller"] or library.site.name
    return Privacy(**values), check.issues


class FormsExtension:
    """Loads ``content/forms/*.yml`` with the library."""

    section = SECTION

    def __call__(self, root: Path, library: Library) -> tuple[str, Forms, list[Issue]]:
        folder = root / FOLDER
        specs: dict[str, FormSpec] = {}
        issues: list[Issue] = []
        for path in sorted(folder.glob("*.yml")) if folder.is_dir() else ():
            spec, found = load_form(path, f"{FOLDER}/{path.name}", library)
            issues += found
            if spec is not None:
                specs[spec.name] = spec
        privacy, privacy_issues = load_privacy(root, library)
        return SECTION, Forms(MappingProxyType(specs), privacy), issues + privacy_issues
