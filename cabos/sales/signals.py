"""Signals other parts connect to (blinker), so sales never imports them.

``handoff_created``: sent with ``handoff=`` and ``session=`` when a contact is handed to sales.
``outcome_recorded``: sent with ``handoff=``, ``outcome=`` and ``session=`` after every outcome;
nurture re-enrols the contact when ``outcome.kind == "sent_back"``.
Receivers run inside the caller's transaction and must not commit.
"""

from blinker import Namespace

_signals = Namespace()
handoff_created = _signals.signal("cabos.sales.handoff_created")
outcome_recorded = _signals.signal("cabos.sales.outcome_recorded")
