"""Settings as data: every setting has a default and a line of help.

Load order (later wins): these defaults, ``instance/cabos.toml`` (or the file
named by ``CABOS_CONFIG``), ``CABOS_*`` environment variables, then the
mapping a caller passes to ``create_app`` (tests do). docs/settings.md documents
every setting; ``tests/test_config.py`` fails when one is missing there.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("SECRET_KEY", None,
            "Signs sessions, download links, view ids and unsubscribe tokens. "
            "Required in production; development generates one per instance folder."),
    Setting("DATABASE_URL", None,
            "SQLAlchemy URL. Default: SQLite file `cabos.sqlite3` in the instance folder. "
            "PostgreSQL: `postgresql+psycopg://user:pass@host/db`."),
    Setting("CONTENT_DIR", "content",
            "Folder with site.yml, problems.yml, articles/, guides/, pages/ (relative to the working directory)."),
    Setting("CONTENT_RELOAD", False,
            "Reload content when files change, checked at most once a second (on in `cabos serve --dev`)."),
    Setting("SITE_URL", None,
            "Public base URL used in canonical links, sitemap, feed and emails. Default: `base_url` in site.yml."),
    Setting("PDF_CACHE_DIR", None,
            "Where rendered guide PDFs are cached. Default: `pdf-cache` in the instance folder. "
            "Share it between instances, or let each instance rebuild (rendering is deterministic)."),
    Setting("DOWNLOAD_LINK_MAX_AGE", 7 * 24 * 3600,
            "Seconds a signed guide download link stays valid (default 7 days)."),
    Setting("PREVIEW_LINK_MAX_AGE", 3 * 24 * 3600,
            "Seconds a preview link of a draft or scheduled piece (`cabos preview`, staff content page) "
            "stays valid (default 3 days)."),
    Setting("MAIL_BACKEND", "folder",
            "`smtp` to deliver through MAIL_SERVER, `folder` to write .eml files to MAIL_FOLDER (development)."),
    Setting("MAIL_FOLDER", None, "Where the folder backend writes messages. Default: `mail` in the instance folder."),
    Setting("MAIL_SERVER", "localhost", "SMTP host."),
    Setting("MAIL_PORT", 25, "SMTP port."),
    Setting("MAIL_USE_TLS", False, "Upgrade the SMTP connection with STARTTLS."),
    Setting("MAIL_USE_SSL", False, "Connect to SMTP over implicit TLS (usually port 465)."),
    Setting("MAIL_USERNAME", None, "SMTP user name, if the server needs one."),
    Setting("MAIL_PASSWORD", None, "SMTP password."),
    Setting("MAIL_FROM", "cabos@localhost", "From address of every email cabos sends."),
    Setting("MAIL_TIMEOUT", 30, "Seconds before an SMTP connection attempt gives up."),
    Setting("MAIL_DKIM_SELECTOR", None,
            "DKIM selector (the `s=` of the signature, the `<selector>._domainkey` DNS name). With "
            "MAIL_DKIM_PRIVATE_KEY, every email sent over SMTP is signed; `cabos doctor` prints the record to publish."),
    Setting("MAIL_DKIM_PRIVATE_KEY", None,
            "Path to the DKIM private key, an unencrypted PEM RSA key (`openssl genrsa -out dkim.pem 2048`)."),
    Setting("MAIL_DKIM_DOMAIN", None, "The DKIM signing domain (`d=`). Default: the domain of MAIL_FROM."),
    Setting("MAIL_PER_CONNECTION", 100,
            "Messages a sender delivers over one SMTP connection before it opens a fresh one "
            "(providers cap it; 1 = a connection per message)."),
    Setting("MAIL_RATE", 0,
            "Most messages per second each sender process delivers (0 = as fast as the server takes them). "
            "Several senders each keep to it: the provider sees their sum."),
    Setting("MAIL_SOFT_BOUNCE_LIMIT", 3,
            "Soft bounces (mailbox full, server busy…) within MAIL_SOFT_BOUNCE_DAYS after which an address "
            "is suppressed like a hard bounce."),
    Setting("MAIL_SOFT_BOUNCE_DAYS", 30, "The window, in days, in which soft bounces are counted."),
    Setting("MAIL_BOUNCE_MAILBOX", None,
            "The mailbox bounces and complaints arrive in, as a URL: `imaps://user:password@host/INBOX`, "
            "`imap://…` (STARTTLS when offered), `pop3s://user:password@host` or `pop3://…`. "
            "The worker reads it every MAIL_BOUNCE_INTERVAL seconds; `cabos mail bounces` reads it now."),
    Setting("MAIL_BOUNCE_INTERVAL", 300, "Seconds between two readings of MAIL_BOUNCE_MAILBOX by the worker."),
    Setting("MAIL_PROVIDER", None,
            "The provider MAIL_SERVER belongs to, if any: `ses`, `postmark`, `mailgun`, `sendgrid` or `brevo`. "
            "For `postmark` and `brevo` each email carries its Message-ID in the header they hand back in "
            "their webhooks (the others hand back the Message-ID itself)."),
    Setting("MAIL_SES_TOPIC_ARNS", None,
            "Amazon SNS topics (comma-separated ARNs) whose SES bounce and complaint notifications "
            "/mail/webhooks/ses accepts; unset: that webhook is off."),
    Setting("MAIL_POSTMARK_WEBHOOK_SECRET", None,
            "`user:password` of the basic authentication in Postmark's bounce and spam complaint webhook URL "
            "(/mail/webhooks/postmark); unset: that webhook is off."),
    Setting("MAIL_MAILGUN_SIGNING_KEY", None,
            "Mailgun's webhook signing key (/mail/webhooks/mailgun checks the HMAC of every event); "
            "unset: that webhook is off."),
    Setting("MAIL_SENDGRID_VERIFICATION_KEY", None,
            "SendGrid's Event Webhook verification key (the base64 public key shown when signing is enabled) "
            "for /mail/webhooks/sendgrid; unset: that webhook is off."),
    Setting("MAIL_BREVO_WEBHOOK_SECRET", None,
            "The bearer token, or `user:password` of the basic authentication, set on Brevo's webhook "
            "(/mail/webhooks/brevo; Brevo signs nothing else); unset: that webhook is off."),
    Setting("RATELIMIT_STORAGE_URI", "database",
            "Where rate-limit counters live: `database` (the default: cabos's own database, shared by every "
            "process and instance), a Flask-Limiter storage URI such as `redis://host:6379`, or `memory://` "
            "(per process: each gunicorn worker counts on its own)."),
    Setting("FORM_RATE_LIMIT", "10 per minute", "Lead-form posts allowed per client IP."),
    Setting("MAIL_PER_RECIPIENT_LIMIT", "3 per hour",
            "Emails the public forms may send to one address (guide links, confirmations), whatever the IPs "
            "posting: further posts are answered as usual and send nothing."),
    Setting("CONFIRM_LINK_MAX_AGE", 2 * 24 * 3600,
            "Seconds an emailed confirmation link (answers for an address already known, newsletter "
            "opt-in) stays valid (default 2 days)."),
    Setting("LOG_FORMAT", "text",
            "`text` for people, `json` for one JSON line per request and per log record "
            "(method, path, status, ms; never query strings, IPs or cookies)."),
    Setting("TRUSTED_PROXY_HOPS", 0,
            "Number of reverse proxies in front of cabos whose X-Forwarded-* headers are trusted (0: none)."),
    Setting("TRACKING_RETENTION_DAYS", 730, "Events older than this are removed by `cabos tracking purge`."),
    Setting("ANONYMOUS_RETENTION_DAYS", 90,
            "Visitors who never identified are removed, with their events, after this many days of inactivity."),
    Setting("TRACKING_VIEW_TOKEN_MAX_AGE", 30 * 24 * 3600,
            "Seconds a page's signed view token is accepted by the beacon endpoint (default 30 days); "
            "tokens change every half of this, so a rendered page stays good for at least that long."),
    Setting("TRACKING_RATE_LIMIT", "120 per minute",
            "Beacons accepted per visitor (per client address when there is no visitor); "
            "more are dropped as `rate_limit`. Counted in each process and shared through "
            "RATELIMIT_STORAGE_URI once a second, so it holds across workers and instances."),
    Setting("TRACKING_NETWORK_RATE_LIMIT", "1200 per minute",
            "Beacons accepted per network (/24 for IPv4, /48 for IPv6), whatever the cookies: "
            "rotating visitor cookies gains nothing. More are dropped as `rate_limit`."),
    Setting("TRACKING_NEW_VISITOR_LIMIT", "30 per minute",
            "New visitors (a beacon without a visitor cookie) per network; past it the beacon is "
            "dropped as `rate_limit` and no visitor is made."),
    Setting("TRACKING_SPILL_DIR", "",
            "Folder where a process appends the readings it accepts while the database is away (one "
            "file per process, removed once written; files of processes that died are replayed at "
            "start). Empty: `tracking-spill` in the instance folder. Local disk, one per instance."),
    Setting("TRACKING_FLUSH_MS", None,
            "When traffic is low, milliseconds accepted beacons wait in memory before they are written "
            "together in one transaction (a full buffer is written at once, and what is left at shutdown). "
            "Default: 1000, or 0 when TESTING (0: each beacon is written in its own request)."),
    Setting("TRACKING_BUFFER_SIZE", 500,
            "Accepted beacons written per transaction; a full buffer is written by the request that filled it, "
            "after its answer."),
    Setting("STAFF_SESSION_HOURS", 12, "Hours a staff sign-in lasts before the staff member signs in again."),
    Setting("STAFF_LOGIN_RATE_LIMIT", "5 per minute;30 per hour",
            "Failed staff sign-ins allowed per client IP (successful ones are not counted)."),
    Setting("STAFF_LOGIN_FREE_FAILURES", 3,
            "Failed staff sign-ins from one address for one account before that address must wait "
            "between tries (1 s, 2 s, 4 s … up to STAFF_LOGIN_MAX_DELAY)."),
    Setting("STAFF_LOGIN_ALERT_AFTER", 10,
            "Failed sign-ins to one account within an hour, from anywhere, at which its owner and the "
            "admins are emailed; past it, addresses that have failed wait between tries on that account "
            "(a known device or a fresh address does not)."),
    Setting("STAFF_LOGIN_MAX_DELAY", 900,
            "The longest wait, in seconds, between sign-in tries that the growing delays impose."),
    Setting("SALES_SLA_HOURS", 24,
            "Working hours a salesperson has to respond to a new handoff; later ones are shown as overdue."),
    Setting("SALES_WORKING_HOURS", "09:00-18:00",
            "The working day the SLA counts, `HH:MM-HH:MM` in SALES_TIMEZONE (empty: around the clock)."),
    Setting("SALES_WORKING_DAYS", "mon,tue,wed,thu,fri", "Days the SLA counts (comma-separated: mon … sun)."),
    Setting("SALES_TIMEZONE", "Europe/Madrid", "Time zone of the sales team (IANA name), for the SLA."),
    Setting("SALES_WEBHOOK_URLS", None,
            "Space-separated URLs that receive a signed JSON POST on every handoff and outcome (empty: none)."),
    Setting("SALES_WEBHOOK_SECRET", None,
            "Key of the `X-Cabos-Signature` HMAC-SHA256 header on webhooks. Required when SALES_WEBHOOK_URLS is set."),
    Setting("SALES_SLACK_WEBHOOK_URL", None,
            "Slack incoming-webhook URL (secret) that gets new and overdue handoffs (empty: no Slack alerts)."),
    Setting("SALES_TEAMS_WEBHOOK_URL", None,
            "Microsoft Teams incoming-webhook or Workflows URL (secret) that gets new and overdue handoffs "
            "(empty: no Teams alerts)."),
    Setting("SALES_WEBHOOK_TIMEOUT", 10, "Seconds a webhook receiver has to answer."),
    Setting("SALES_WEBHOOK_MAX_ATTEMPTS", 8,
            "Attempts per webhook or handoff email before it is given up (waits double from one minute)."),
    Setting("CRM_HUBSPOT_TOKEN", None,
            "HubSpot private app access token (scopes in docs/crm.md). Needed when content/crm.yml names hubspot."),
    Setting("CRM_HUBSPOT_URL", "https://api.hubapi.com", "HubSpot's API address (change only for a test server)."),
    Setting("CRM_PIPEDRIVE_TOKEN", None,
            "Pipedrive personal API token (Personal preferences → API). Needed when content/crm.yml names pipedrive."),
    Setting("CRM_PIPEDRIVE_URL", "https://api.pipedrive.com",
            "Pipedrive's API address, or your company domain `https://yourcompany.pipedrive.com`."),
    Setting("CRM_SALESFORCE_URL", None,
            "Your Salesforce My Domain URL, e.g. `https://acme.my.salesforce.com` (the token is asked for there)."),
    Setting("CRM_SALESFORCE_CLIENT_ID", None,
            "Consumer key of the Salesforce external client app (client credentials or JWT bearer flow)."),
    Setting("CRM_SALESFORCE_CLIENT_SECRET", None,
            "Consumer secret of that Salesforce app (client credentials flow)."),
    Setting("CRM_SALESFORCE_PRIVATE_KEY_FILE", None,
            "JWT bearer flow instead: path to the unencrypted PEM RSA key of the app's certificate (then no secret)."),
    Setting("CRM_SALESFORCE_USERNAME", None,
            "JWT bearer flow: the username of the pre-authorised integration user cabos acts as."),
    Setting("CRM_TIMEOUT", 20, "Seconds a CRM has to answer one request."),
    Setting("CRM_POLL_INTERVAL", 300,
            "Seconds between two reads of the CRMs' deal changes by `cabos worker` (won and lost deals become outcomes)."),
    Setting("NURTURE_MAX_LATENESS_HOURS", 48,
            "A nurture step due more than this many hours ago (after downtime) is skipped and recorded, not sent late."),
    Setting("NURTURE_BATCH_SIZE", 500, "Due nurture steps decided per transaction by a tick."),
    Setting("NURTURE_CLAIM_SIZE", 20,
            "Outbox rows a sender claims at a time (smaller: concurrent senders share the queue more evenly)."),
    Setting("NURTURE_CLAIM_TIMEOUT", 300,
            "Seconds after which rows claimed by a sender that never started them go back to the queue."),
    Setting("NURTURE_STUCK_AFTER", 900,
            "Seconds a send may stay `sending`; after that it is marked `unknown` and never resent automatically "
            "(see `cabos nurture stuck`). Keep it well above MAIL_TIMEOUT."),
    Setting("NURTURE_RETRY_ATTEMPTS", 5, "Attempts at a send that fails temporarily (4xx, no connection) before it fails."),
    Setting("NURTURE_RETRY_BASE", 300, "Seconds before the first retry of a temporary failure; each retry waits twice as long."),
    Setting("NURTURE_RETRY_MAX", 6 * 3600, "Longest wait, in seconds, between two retries of a send."),
    Setting("NURTURE_CLICK_MAX_AGE", 365 * 24 * 3600,
            "Seconds a tracked email link records clicks; older links still redirect, without recording."),
    Setting("WORKER_INTERVAL", 30, "Seconds `cabos worker` waits between two ticks."),
    Setting("DOWNLOAD_EVENTS_FLUSH_MS", None,
            "Milliseconds a guide download's event waits in memory before it is written with others in one "
            "transaction (also written at shutdown). Default: 1000, or 0 when TESTING (0: written in the request)."),
)

DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS}


def _coerce(value: str, default: Any) -> Any:
    """Environment values are strings; give them the type of the default."""
    if isinstance(default, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(value)
    return value


def load(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge defaults, the instance file, ``CABOS_*`` variables and overrides."""
    config = dict(DEFAULTS)
    config_file = Path(os.environ.get("CABOS_CONFIG", instance_path / "cabos.toml"))
    if config_file.is_file():
        with config_file.open("rb") as fh:
            config.update({k.upper(): v for k, v in tomllib.load(fh).items()})
    for setting in SETTINGS:
        raw = os.environ.get(f"CABOS_{setting.name}")
        if raw is not None:
            config[setting.name] = _coerce(raw, setting.default)
    if overrides:
        config.update(overrides)
    return config
