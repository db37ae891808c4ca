"""The staff page of the backtest: the rules in force, and each candidate in content/intent-candidates/, judged
against the outcomes sales recorded, side by side (marketing and sales argue a rules change with numbers).

Walking every contact's trail is the price of the page, so the figures are kept for ``CACHE_SECONDS`` per set
of rules versions; ``cabos intent backtest`` computes them afresh.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, render_template
from flask_babel import lazy_gettext as _l

from cabos.content import current_library
from cabos.db import get_session, utcnow
from cabos.intent import backtest as backtesting
from cabos.intent.rules import Rules, rules_of
from cabos.intent.rulesfile import load_rules_file
from cabos.staff.auth import staff_required
from cabos.staff.sections import add_section

ROLES = ("marketer", "sales")  # and admins
CANDIDATES = "intent-candidates"  # *.yml in the content folder: rules proposed, not in force
CACHE_SECONDS = 600.0

# The figures' names, for people (the terminal prints the English keys).
LABELS: dict[str, Any] = {
    "contacts judged by sales": _l("Contacts judged by sales"),
    "… qualified (accepted, won, lost)": _l("… qualified (accepted, won, lost)"),
    "rules would hand off (judged)": _l("The rules would hand off (of those judged)"),
    "… sales qualified them": _l("… and sales qualified them"),
    "… sent back or disqualified": _l("… but sales sent them back or disqualified them"),
    "precision": _l("Precision"),
    "recall of qualified": _l("Qualified contacts caught"),
    "won deals": _l("Won deals (revenue)"),
    "… caught": _l("… the rules catch"),
    "… caught no later than sales got them": _l("… no later than sales got them"),
    "… caught later": _l("… later than sales got them"),
    "… missed": _l("… the rules miss"),
    "median lead time gained": _l("Median lead time gained"),
    "not judged yet, rules hand off now": _l("Not judged yet: the rules hand off now"),
}
_lock = threading.Lock()


def candidates(root: Path, in_force: Rules) -> tuple[list[Rules], list[str]]:
    """The candidate rules files that load (and the problems of those that do not)."""
    library = current_library()
    found, problems = [], []
    folder = root / CANDIDATES
    for path in sorted(folder.glob("*.yml")) if folder.is_dir() else ():
        rules, issues = load_rules_file(path, library, f"{CANDIDATES}/{path.name}", content_root=root)
        if rules is None:
            problems += [str(i) for i in issues if i.severity == "error"][:3]
        elif rules.version != in_force.version:
            found.append(rules)
    return found, problems


@staff_required(*ROLES)
def page() -> str:
    in_force = rules_of(current_library())
    others, problems = candidates(Path(current_app.config["CONTENT_DIR"]), in_force)
    rule_sets = [in_force, *others]
    key = tuple(r.version for r in rule_sets)
    cache: dict[str, Any] = current_app.extensions.setdefault("cabos.intent.backtest", {})
    with _lock:
        hit = cache.get("entry")
        if hit is None or hit[0] != key or time.monotonic() - hit[1] > CACHE_SECONDS:
            now = utcnow()
            hit = (key, time.monotonic(), now, backtesting.backtest(get_session(), rule_sets, now))
            cache["entry"] = hit
    _key, _at, computed_at, scores = hit
    rows = [(LABELS.get(label, label), values) for label, values in backtesting.rows(scores)]
    return render_template("intent/backtest.html", scores=scores, rows=rows, computed_at=computed_at,
                           problems=problems, candidates_folder=CANDIDATES,
                           verdict=backtesting.verdict(scores[0], scores[1]) if len(scores) > 1 else None)


def init_app(app: Flask) -> None:
    """Register /staff/intent/backtest and its place in the staff menu."""
    bp = Blueprint("intent_staff", __name__, url_prefix="/staff/intent")
    bp.add_url_rule("/backtest", "backtest", page, methods=["GET"])
    app.register_blueprint(bp)
    add_section(app, "intent_staff.backtest", _l("Intent rules against outcomes"), ROLES, order=60,
                description=_l("How the intent rules, and candidates, fare against what sales recorded"))
