"""Intent: interest by problem, fit grade, information or purchase mode, with the evidence.

``rules`` is the frozen rules value, ``rulesfile`` reads and checks
content/intent.yml into it; ``scoring`` is pure functions over readings
and contact fields; ``store`` keeps the current state and the history of
changes; ``replay`` tries candidate rules on stored history; ``explain`` says it
in plain words; ``cli`` holds `cabos intent …`.
"""

from cabos.intent.rules import Rules, current_rules, default_rules
from cabos.intent.rulesfile import RulesExtension, load_rules
from cabos.intent.scoring import Assessment, Reading, assess, should_hand_off
from cabos.intent.store import (
    IntentUpdate,
    current_state,
    current_visitor_state,
    intent_changed,
    update_after_event,
    update_contact,
    update_visitor,
)

__all__ = ["Rules", "RulesExtension", "current_rules", "default_rules", "load_rules", "Assessment", "Reading",
           "assess", "should_hand_off", "IntentUpdate", "current_state", "current_visitor_state", "intent_changed",
           "update_after_event", "update_contact", "update_visitor", "rules_extension"]


def rules_extension() -> RulesExtension:
    """The content-loader extension that loads intent.yml into ``library.sections['intent']``."""
    return RulesExtension()
