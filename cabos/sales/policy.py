"""What marketing and sales agreed, read from the ``sales:`` key of site.yml.

```yaml
sales:
  currency: EUR
  reasons:                     # the lists a salesperson picks from
    sent_back: [Not ready yet, …]
    disqualified: [Student, …]
    lost: [Chose a competitor, …]
  assignment:                  # first matching rule wins; round-robin among its people
    - when: {country: [México, Colombia]}
      to: [carlos@example.com]
    - when: {problem: [costes-logisticos], company_size: [250-999, 1000+]}
      to: [ana@example.com, luis@example.com]
```

``when`` keys are contact fields (name, company, role, company_size, country,
email_domain, or a custom form field), ``problem`` (the contact's top
problem) and ``grade``. Anything missing falls back to defaults; values that
make no sense are ignored with a warning in the log (``cabos check`` reports
them with file, line and key: ``policyfile``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from cabos.content.library import Library
from cabos.intent.rules import fold

log = logging.getLogger("cabos.sales")
REASON_KINDS = ("sent_back", "disqualified", "lost")
# The contact fields an assignment rule can look at (sales.handoffs.candidates), besides custom
# form fields, `problem` and `grade`.
ROUTING_FIELDS = ("name", "company", "role", "company_size", "country", "email", "email_domain")


def default_reasons() -> dict[str, tuple[str, ...]]:
    return {
        "sent_back": (_("Not ready to buy yet"), _("No budget this year"), _("Only researching"),
                      _("Wrong person: needs the decision maker"), _("Could not reach them")),
        "disqualified": (_("Not our target customer"), _("Competitor"), _("Student or researcher"),
                         _("Fake or unusable contact details"), _("Existing customer")),
        "lost": (_("Chose a competitor"), _("Price"), _("Timing or priorities changed"),
                 _("Missing functionality"), _("No decision made")),
    }


@dataclass(frozen=True)
class Rule:
    when: dict[str, frozenset[str]]
    to: tuple[str, ...]  # staff emails

    def matches(self, fields: Mapping[str, Any]) -> bool:
        for key, allowed in self.when.items():
            value = fields.get(key)
            values = value if isinstance(value, (list, tuple)) else [value]
            if not any(fold(str(v)) in allowed for v in values if v not in (None, "")):
                return False
        return True


@dataclass(frozen=True)
class Policy:
    currency: str = "EUR"
    reasons: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()


def _strings(value: Any) -> list[str]:
    if isinstance(value, (str, int, float)):
        value = [value]
    return [str(v).strip() for v in value if str(v).strip()] if isinstance(value, list) else []


def policy_of(library: Library) -> Policy:
    """The sales policy of this library (cached on the library's version)."""
    cached = _cache.get(library.version)
    if cached is not None:
        return cached
    raw = library.site.extra.get("sales") or {}
    if not isinstance(raw, dict):
        log.warning("site.yml: `sales` should be a mapping; using the defaults")
        raw = {}
    reasons = dict(default_reasons())
    for kind, value in (raw.get("reasons") or {}).items() if isinstance(raw.get("reasons"), dict) else ():
        if kind in REASON_KINDS and _strings(value):
            reasons[kind] = tuple(s[:200] for s in _strings(value))
        else:
            log.warning("site.yml: sales.reasons.%s ignored (kinds: %s; give a list of texts)", kind,
                        ", ".join(REASON_KINDS))
    rules = []
    for i, item in enumerate(raw.get("assignment") or []):
        if not isinstance(item, dict) or not _strings(item.get("to")) or not isinstance(item.get("when", {}), dict):
            log.warning("site.yml: sales.assignment[%d] ignored: write `when: {field: [values]}` and `to: [emails]`", i)
            continue
        when = {str(k): frozenset(fold(v) for v in _strings(val)) for k, val in (item.get("when") or {}).items()}
        rules.append(Rule(when, tuple(e.lower() for e in _strings(item.get("to")))))
    currency = str(raw.get("currency") or "EUR").upper()[:3]
    policy = Policy(currency if len(currency) == 3 and currency.isalpha() else "EUR", reasons, tuple(rules))
    if len(_cache) > 8:
        _cache.clear()
    # Default reasons are in the site's language, which the library version covers too.
    _cache[library.version] = policy
    return policy


_cache: dict[str, Policy] = {}
