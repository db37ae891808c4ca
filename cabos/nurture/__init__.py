"""Nurture: sequences that educate, send each email once, and stop at purchase mode.

``sequences`` loads content/sequences/*.yml and content/emails/*.md with the
library; ``emails`` renders them; ``scheduler`` enrols contacts and turns due
steps into outbox rows; ``outbox`` delivers them at most once; ``links`` signs
click and unsubscribe tokens and ``routes`` serves them (its ``init_app``
wires nurture into the app); ``handoff`` stops sequences at purchase mode and
hands contacts to sales; ``tick`` runs it all from cron or the worker;
``preview`` shows what will happen; ``cli`` holds `cabos nurture …` and
`cabos worker`.
"""

from cabos.nurture.sequences import NurtureExtension, nurture_of

__all__ = ["content_extension", "nurture_of"]


def content_extension() -> NurtureExtension:
    """The content-loader extension that loads sequences and emails into ``library.sections['nurture']``."""
    return NurtureExtension()
