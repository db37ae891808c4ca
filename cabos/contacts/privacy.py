"""What we hold about people, table by table: the registry export and erase walk.

The registry below lists every table of ``cabos.schema.metadata``: either in ``PERSONAL``,
saying which columns find its rows from a contact, or in ``NOT_PERSONAL``, saying why it
holds nothing about a person. ``contacts.personal_data.export`` and ``.erase`` (the
``cabos contacts export|erase`` commands) walk ``PERSONAL``, so a table registered here is
covered by both without more code.
``tests/contacts/test_privacy.py`` fails when a table is in neither dict, or when a table
with a foreign key to ``contacts`` or ``visitors`` claims not to be personal: add your
table here when you add it to the schema.

Locators (the values in ``PERSONAL``), for each column:

- ``CONTACT``: holds the contact's id;
- ``VISITOR``: holds the id of one of the contact's visitors (their devices);
- ``EMAIL``: holds the normalised address;
- ``EMAIL_HASH``: holds ``email_hash(address)``.

A row matches if any of its registered columns matches.

This module imports no model and not the schema, so any module (nurture's suppression
checks, for one) can use ``email_hash`` without an import cycle.
"""

from __future__ import annotations

import hashlib

from cabos.contacts.capture import normalise_email

CONTACT, VISITOR, EMAIL, EMAIL_HASH = "contact", "visitor", "email", "email_hash"

PERSONAL: dict[str, dict[str, str]] = {
    "contacts": {"email": EMAIL},
    "suppressions": {"email_hash": EMAIL_HASH},
    "visitors": {"contact_id": CONTACT},
    "events": {"contact_id": CONTACT, "visitor_id": VISITOR},
    "intent_states": {"contact_id": CONTACT, "visitor_id": VISITOR},
    "intent_changes": {"contact_id": CONTACT},
    "handoffs": {"contact_id": CONTACT},
    "handoff_outcomes": {"contact_id": CONTACT},
    "sales_deliveries": {"contact_id": CONTACT},
    "sales_activities": {"contact_id": CONTACT},
    "sales_account_members": {"contact_id": CONTACT},
    "nurture_enrolments": {"contact_id": CONTACT},
    "nurture_outbox": {"contact_id": CONTACT},
    "guide_mails": {"contact_id": CONTACT},
    "broadcast_sends": {"contact_id": CONTACT},
    "mail_messages": {"contact_id": CONTACT},
    "mail_feedback": {"contact_id": CONTACT},
    "mail_reviews": {"recipient": EMAIL},
    "crm_links": {"contact_id": CONTACT},
    "pending_submissions": {"contact_id": CONTACT},
    "consent_records": {"contact_id": CONTACT},
    "list_subscriptions": {"contact_id": CONTACT},
}

# Kept by ``erase``, and why.
KEPT_ON_ERASE: dict[str, str] = {
    "suppressions": "only a hash of the address, so an erased person is never emailed again",
}

NOT_PERSONAL: dict[str, str] = {
    "sales_accounts": "a company: `id`, its `name` (from its contacts' company field or its domain), `created_at`",
    "sales_account_domains": "a company's email `domain` (never a free-mail one) and its `account_id`, `created_at`",
    # Each description names every column (in backticks; tests/contacts/test_privacy.py checks it).
    "content_views": "per `day`, `content_kind` and `content_slug`: `views`, counted for everyone, tracked or "
                     "not, and how many of them were `untracked` (DNT/GPC or declined); no identity",
    "rate_limit_counters": "one window of one rate limit: `key`, a keyed hash (BLAKE2b with the app's secret) of "
                           "the limit and the client address or sign-in email, the hits (`count`) and when the "
                           "window ends (`expires_at`, the limit's period after it began); expired rows are deleted",
    "tracking_drops": "dropped beacons (`count`) per `day` and `reason` (bot, consent, rate limit…); no identity",
    "crm_cursors": "how far cabos has read a CRM's deal changes: `crm` (its name), `position` (the CRM's own "
                   "timestamp), `updated_at`",
    "broadcasts": "one row per broadcast queued: `slug` (its file), `segment`, `subject`, how many `recipients`, "
                  "`queued_at` and `queued_by` (worker, cli); who they were is in broadcast_sends",
    "subject_tests": "one A/B subject test of a broadcast or a sequence step: `key` (which broadcast or step), "
                     "`started_at`, the `winner` (a subject line's number) and `decided_at`; no recipients",
    "nurture_cursors": "how far the nurture scheduler has read the events trail: `name`, `position` (an event id), "
                       "`updated_at`",
    "staff_alerts": "emails to a staff account about its own sign-ins (throttled attempts): `id`, `user_id` (a staff "
                    "user), `kind`, `created_at`, `sent_at`, `failures`; nothing about contacts",
    "staff_users": "our staff's accounts, not contacts (managed by the cabos users commands): `id`, `email`, "
                   "`name`, `role`, `password_hash` (argon2id), `active`, `session_version`, `created_at`, "
                   "`last_login_at`, `booking_url` (their meeting page, offered to contacts)",
    "api_tokens": "staff API tokens: `id`, `user_id` (a staff user), `name`, `token_hash` (SHA-256; the token is "
                  "never stored), `created_at`, `last_used_at`, `revoked_at`",
    "dashboard_content_days": "per `day`, `content_kind` and `content_slug`: `readings`, how many were read to the "
                              "end (`read_to_end`), guide `downloads`, and readings per engaged-time bucket "
                              "(`b0…b35`); counts only, no identity",
    "dashboard_reader_days": "per `chain` (all readers or engaged ones), `day` and `prev_day` (their previous "
                             "reading day, or none): how many `visitors`; counts only, no visitor ids",
    "dashboard_refresh": "per rollup (`name`): the last day it holds (`through`) and when it was refreshed "
                         "(`refreshed_at`)",
    "dashboard_contact_days": "per `day`, `measure` (identified, or first entered purchase mode), `dimension` "
                              "(content, problem, author, or all) and `key` (which one): how many `contacts` "
                              "reached the measure that day having read it before (all: every one); counts only, "
                              "no contact ids",
}


def email_hash(email: str) -> str:
    """The suppression key of an address: SHA-256 of its normalised form."""
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()
