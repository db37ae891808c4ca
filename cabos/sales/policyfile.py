"""`cabos check` for site.yml's ``sales:`` section: every mistake with its line and key.

``policy.policy_of`` reads the section at run time and, so a typo never stops the
site, ignores what it cannot use (with a line in the log). Here the same section is
checked with the rest of the content, so the marketer learns about it before the
merge: an unknown reason kind, a reason list that is not a list of texts, an
assignment rule without people, a ``when`` on a field no contact has, a problem
that is not in problems.yml, a grade that does not exist, a currency that is not
an ISO code. It is a content-loader extension (``library.sections['sales']``) because
it needs the whole library: problems and the guides' form fields.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from babel.numbers import list_currencies

from cabos.content.library import Library
from cabos.content.model import Issue
from cabos.content.yamlfile import KeyChecker, KeyPath, key_name, read_yaml, suggest
from cabos.intent.rules import GRADES, fold
from cabos.sales.policy import REASON_KINDS, ROUTING_FIELDS

SECTION = "sales"
FILE = "site.yml"
KEYS = ("currency", "reasons", "assignment")
RULE_KEYS = ("when", "to")
REASON_MAX = 200  # policy_of keeps this many characters of a reason
# Keys people write under `sales:` that belong somewhere else.
ELSEWHERE = {
    "sla": "the first-response deadline is the setting SALES_SLA_HOURS (with SALES_WORKING_HOURS, "
           "SALES_WORKING_DAYS and SALES_TIMEZONE), not site.yml",
    "sla_hours": "the first-response deadline is the setting SALES_SLA_HOURS, not site.yml",
    "questions": "the brief's questions are written per problem in problems.yml (questions: [...])",
    "webhooks": "webhooks are the settings SALES_WEBHOOK_URLS and SALES_WEBHOOK_SECRET, not site.yml",
}
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _texts(c: KeyChecker, value: Any, path: KeyPath, what: str, example: str) -> list[str]:
    """A scalar or a list of scalars as texts; anything else is an error."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list):
        c.error(path, f"{key_name(path)} must be a list of {what}, e.g. {example}")
        return []
    out, wrong = [], False
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            c.error((*path, i), f"{key_name((*path, i))} must be a text, not {item!r}")
            wrong = True
        elif str(item).strip():
            out.append(str(item).strip())
    if not out and not wrong:
        c.error(path, f"{key_name(path)} is empty: give at least one, e.g. {example}")
    return out


def _form_choices(library: Library) -> dict[str, tuple[str, ...] | None]:
    """Custom guide-form fields: the choices every form offers, or None where some form takes free text."""
    out: dict[str, tuple[str, ...] | None] = {}
    for guide in library.guides.values():
        for ff in guide.form_fields:
            if ff.name in ROUTING_FIELDS:
                continue
            if not ff.choices or (ff.name in out and out[ff.name] is None):
                out[ff.name] = None
            else:
                out[ff.name] = tuple(dict.fromkeys((out.get(ff.name) or ()) + ff.choices))
    return out


def _reasons(c: KeyChecker, raw: Any) -> None:
    path: KeyPath = ("sales", "reasons")
    for kind, value in c.mapping(raw, path, REASON_KINDS).items():
        if str(kind) not in REASON_KINDS:
            continue  # reported by mapping()
        texts = _texts(c, value, (*path, str(kind)), "reasons", "[Not ready yet, No budget this year]")
        seen: set[str] = set()
        for i, text in enumerate(texts):
            if len(text) > REASON_MAX:
                c.warn((*path, str(kind), i), f"reason {i + 1} is cut to {REASON_MAX} characters on the staff pages")
            if text.casefold() in seen:
                c.warn((*path, str(kind), i), f"reason {text!r} is listed twice")
            seen.add(text.casefold())


def _when(c: KeyChecker, raw: Any, path: KeyPath, library: Library) -> None:
    choices = _form_choices(library)
    known = (*ROUTING_FIELDS, *choices, "problem", "grade")
    for key, value in c.mapping(raw, path, known).items():
        key = str(key)
        if key not in known:
            continue
        values = _texts(c, value, (*path, key), "values", "[España, Portugal]")
        for i, v in enumerate(values):
            spot = (*path, key, i) if isinstance(value, list) else (*path, key)
            if key == "problem" and fold(v) not in {fold(p) for p in library.problems}:
                c.error(spot, f"problem {v!r} is not in problems.yml{suggest(v, library.problems)}")
            elif key == "grade" and v.upper() not in GRADES:
                c.error(spot, f"grade {v!r} is not one of {', '.join(GRADES)}")
            elif choices.get(key) and fold(v) not in {fold(x) for x in choices[key] or ()}:
                c.warn(spot, f"{v!r} is not one of the choices the guide forms offer for {key} "
                             f"({', '.join(choices[key] or ())}): this rule would never match it")


def _assignment(c: KeyChecker, raw: Any, library: Library) -> None:
    path: KeyPath = ("sales", "assignment")
    if raw is None:
        return
    if not isinstance(raw, list):
        c.error(path, "sales.assignment must be a list of rules, each `when: {field: [values]}` and `to: [emails]`")
        return
    catch_all: int | None = None
    for i, item in enumerate(raw):
        rule: KeyPath = (*path, i)
        if not isinstance(item, dict):
            c.error(rule, f"{key_name(rule)} must be a rule: `when: {{field: [values]}}` and `to: [emails]`")
            continue
        c.mapping(item, rule, RULE_KEYS)
        if catch_all is not None:
            c.warn(rule, f"{key_name(rule)} is never used: rule {catch_all + 1} has no `when` and matches everyone")
        if "to" not in item:
            c.error(rule, f"{key_name(rule)} needs `to:`, the staff addresses that get these contacts")
        else:
            for j, address in enumerate(_texts(c, item["to"], (*rule, "to"), "staff addresses",
                                               "[ana@example.com]")):
                if not _ADDRESS.match(address):
                    spot = (*rule, "to", j) if isinstance(item["to"], list) else (*rule, "to")
                    c.error(spot, f"{address!r} is not an email address (a staff account's, e.g. ana@example.com)")
        if item.get("when") is None or item.get("when") == {}:  # no condition: matches every contact
            catch_all = i if catch_all is None else catch_all
        else:
            _when(c, item["when"], (*rule, "when"), library)


def check_policy(root: Path, library: Library) -> list[Issue]:
    """Every issue in site.yml's ``sales:`` section (none when there is no section, or no site.yml)."""
    if not (root / FILE).is_file():
        return []  # the defaults apply
    data, lines, problems = read_yaml(root / FILE, FILE)
    if problems or not isinstance(data, dict) or data.get("sales") is None:
        return []  # an unreadable site.yml is reported by the loader
    c = KeyChecker(FILE, lines)
    raw = data["sales"]
    if not isinstance(raw, dict):
        c.error(("sales",), "sales must be a mapping with currency, reasons and assignment")
        return c.issues
    for key in raw:
        if str(key) in ELSEWHERE:
            c.error(("sales", str(key)), f"unknown key {key!r}: {ELSEWHERE[str(key)]}")
        elif str(key) not in KEYS:
            c.error(("sales", str(key)), f"unknown key {key!r}{suggest(str(key), KEYS)}")
    if raw.get("currency") is not None:
        code = raw["currency"]
        if not isinstance(code, str) or code.strip().upper() not in list_currencies():
            c.error(("sales", "currency"), f"currency {code!r} is not an ISO 4217 code, e.g. EUR, USD or MXN")
    _reasons(c, raw.get("reasons"))
    _assignment(c, raw.get("assignment"), library)
    return c.issues


class PolicyExtension:
    """Checks the sales section with the library; the policy itself is read by ``policy_of``."""

    section = SECTION

    def __call__(self, root: Path, library: Library) -> tuple[str, None, list[Issue]]:
        return self.section, None, check_policy(root, library)
