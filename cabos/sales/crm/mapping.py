"""content/crm.yml: which CRMs get the handoffs, where deals go, and how fields map. Reviewed like code.

```yaml
hubspot:
  pipeline: default                 # the deal pipeline (id or name)
  stage: appointmentscheduled       # the stage a new deal starts in (id or name)
  contact_fields: {jobtitle: role, country: country}   # CRM field: cabos field
  company_fields: {}
  deal_fields: {}
  lost_reasons: {"Too expensive": Price}   # the CRM's lost reason: a lost reason of site.yml
  default_lost_reason: No decision made    # when the CRM gives none, or one not listed
salesforce:
  person: Contact                   # or Lead
  stage: Prospecting
```

A cabos field is one of ``FIELDS`` or ``custom.<form field>``. Secrets never
go here: they are settings (``CABOS_CRM_*``). The file is checked by `cabos
check` (each mistake with its line) and read into ``library.sections['crm']``;
a CRM whose section has errors is kept, with its errors, so its deliveries
fail with words instead of vanishing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cabos.content.library import Library
from cabos.content.model import Issue
from cabos.content.yamlfile import KeyChecker, KeyPath, key_name, read_yaml, suggest

FILE = "crm.yml"
SECTION = "crm"
CRMS = ("hubspot", "pipedrive", "salesforce")
KEYS = ("pipeline", "stage", "person", "contact_fields", "company_fields", "deal_fields", "lost_reasons",
        "default_lost_reason")
FIELDS = ("email", "name", "first_name", "last_name", "company", "role", "company_size", "country", "problem",
          "grade", "score", "trail_url")
PERSONS = ("Contact", "Lead")


@dataclass(frozen=True)
class CrmMapping:
    crm: str
    pipeline: str = ""
    stage: str = ""
    person: str = "Contact"  # Salesforce: a Contact (with an Account) or a Lead
    contact_fields: dict[str, str] = field(default_factory=dict)
    company_fields: dict[str, str] = field(default_factory=dict)
    deal_fields: dict[str, str] = field(default_factory=dict)
    lost_reasons: dict[str, str] = field(default_factory=dict)  # casefolded CRM reason -> cabos reason
    default_lost_reason: str = ""
    errors: tuple[str, ...] = ()

    def lost_reason(self, crm_reason: str, allowed: tuple[str, ...]) -> str:
        """The cabos reason for the CRM's: mapped, else the same words, else the default, else the last listed."""
        mapped = self.lost_reasons.get(" ".join(crm_reason.split()).casefold())
        for candidate in (mapped, crm_reason.strip(), self.default_lost_reason):
            if candidate and candidate in allowed:
                return candidate
        return allowed[-1] if allowed else ""


def _fields(c: KeyChecker, raw: Any, path: KeyPath) -> dict[str, str]:
    out: dict[str, str] = {}
    if raw is None:
        return out
    if not isinstance(raw, dict):
        c.error(path, f"{key_name(path)} must be 'CRM field: cabos field' lines, e.g. jobtitle: role")
        return out
    for crm_field, ours in raw.items():
        spot = (*path, str(crm_field))
        if not isinstance(ours, str) or not ours.strip():
            c.error(spot, f"{key_name(spot)} must name a cabos field: one of {', '.join(FIELDS)} or custom.<field>")
            continue
        ours = ours.strip()
        if ours not in FIELDS and not (ours.startswith("custom.") and len(ours) > 7):
            c.error(spot, f"{ours!r} is not a cabos field{suggest(ours, FIELDS)} (or custom.<form field>)")
            continue
        out[str(crm_field)] = ours
    return out


def _text(c: KeyChecker, raw: Any, path: KeyPath) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        c.error(path, f"{key_name(path)} must be a text (an id or a name)")
        return ""
    return str(raw).strip()


def _one(c: KeyChecker, name: str, raw: Any, lost: tuple[str, ...]) -> CrmMapping:
    path: KeyPath = (name,)
    before = len(c.issues)
    if raw is None:
        raw = {}
    values = c.mapping(raw, path, KEYS)
    pipeline = _text(c, values.get("pipeline"), (name, "pipeline"))
    stage = _text(c, values.get("stage"), (name, "stage"))
    if not stage:
        c.error(path, f"{name} needs `stage:`, the stage a new deal starts in (`cabos crm test` lists them)")
    if name == "salesforce" and pipeline:
        c.error((name, "pipeline"), "Salesforce has no pipelines: give only `stage:` (a StageName value)")
    person = _text(c, values.get("person"), (name, "person")) or "Contact"
    if name != "salesforce" and "person" in values:
        c.error((name, "person"), f"`person:` is for Salesforce (Contact or Lead); {name} always makes a person")
    elif person not in PERSONS:
        c.error((name, "person"), f"person must be Contact or Lead, not {person!r}")
    reasons: dict[str, str] = {}
    raw_reasons = values.get("lost_reasons")
    if raw_reasons is not None and not isinstance(raw_reasons, dict):
        c.error((name, "lost_reasons"), "lost_reasons must be 'CRM reason: cabos reason' lines")
    for theirs, ours in (raw_reasons or {}).items() if isinstance(raw_reasons, dict) else ():
        spot = (name, "lost_reasons", str(theirs))
        if not isinstance(ours, str) or (lost and ours.strip() not in lost):
            c.error(spot, f"{ours!r} is not a lost reason of site.yml (sales.reasons.lost): "
                          f"{', '.join(lost)}")
            continue
        reasons[" ".join(str(theirs).split()).casefold()] = ours.strip()
    default = _text(c, values.get("default_lost_reason"), (name, "default_lost_reason"))
    if default and lost and default not in lost:
        c.error((name, "default_lost_reason"), f"{default!r} is not a lost reason of site.yml "
                                               f"(sales.reasons.lost): {', '.join(lost)}")
    mapping = CrmMapping(
        crm=name, pipeline=pipeline, stage=stage, person=person,
        contact_fields=_fields(c, values.get("contact_fields"), (name, "contact_fields")),
        company_fields=_fields(c, values.get("company_fields"), (name, "company_fields")),
        deal_fields=_fields(c, values.get("deal_fields"), (name, "deal_fields")),
        lost_reasons=reasons, default_lost_reason=default)
    errors = tuple(f"crm.yml line {i.line}: {i.message}" if i.line else f"crm.yml: {i.message}"
                   for i in c.issues[before:] if i.severity == "error")
    return CrmMapping(**{**mapping.__dict__, "errors": errors})


def _lost_reasons(library: Library) -> tuple[str, ...] | None:
    """site.yml's own lost reasons (None when it keeps the defaults, which are in the reader's language)."""
    sales = library.site.extra.get("sales")
    reasons = sales.get("reasons") if isinstance(sales, dict) else None
    lost = reasons.get("lost") if isinstance(reasons, dict) else None
    if isinstance(lost, (str, int, float)) and not isinstance(lost, bool):
        lost = [lost]
    if not isinstance(lost, list):
        return None
    return tuple(str(v).strip()[:200] for v in lost if str(v).strip())


def load_mappings(root: Path, library: Library) -> tuple[dict[str, CrmMapping], list[Issue]]:
    """The CRMs named in crm.yml (none when there is no file) and every issue in it."""
    if not (root / FILE).is_file():
        return {}, []
    data, lines, problems = read_yaml(root / FILE, FILE)
    if problems:
        return {}, problems
    c = KeyChecker(FILE, lines)
    if data is None:
        return {}, []
    if not isinstance(data, dict):
        c.error((), "crm.yml must be a mapping: one section per CRM (hubspot, pipedrive, salesforce)")
        return {}, c.issues
    lost = _lost_reasons(library)
    if lost is None:
        lost = ()
        if any(isinstance(v, dict) and (v.get("lost_reasons") or v.get("default_lost_reason")) for v in data.values()):
            c.warn((), "site.yml lists no sales.reasons.lost, so lost reasons cannot be checked here: list them "
                       "there and map the CRM's reasons to them")
    out: dict[str, CrmMapping] = {}
    for name, raw in data.items():
        if str(name) not in CRMS:
            c.error((str(name),), f"unknown CRM {name!r}{suggest(str(name), CRMS)}")
            continue
        out[str(name)] = _one(c, str(name), raw, lost)
    return out, c.issues


class CrmExtension:
    """The content-loader extension: crm.yml checked with the library (site.yml's lost reasons)."""

    section = SECTION

    def __call__(self, root: Path, library: Library) -> tuple[str, dict[str, CrmMapping], list[Issue]]:
        mappings, issues = load_mappings(root, library)
        return self.section, mappings, issues
