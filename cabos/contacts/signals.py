"""Signals other parts connect to (blinker), so contacts never imports them.

``erasing``: sent with ``session=``, ``contact_id=`` (None when only visitors or a
suppression match) before a person's rows are deleted, inside the erase's
transaction, so a receiver can still read what it needs to undo elsewhere (the
CRM connectors queue the deletion of the person they pushed). Receivers must not commit.
"""

from blinker import Namespace

_signals = Namespace()
erasing = _signals.signal("cabos.contacts.erasing")
