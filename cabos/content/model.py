"""The library's immutable value objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from cabos.content import contrast

Kind = Literal["article", "guide", "page"]

# The words in public addresses, in the site's language: /articulos/<slug>, /guias/<slug>.
URL_WORDS = {
    "es": {"articles": "articulos", "problems": "problemas", "guides": "guias"},
    "en": {"articles": "articles", "problems": "problems", "guides": "guides"},
}


def url_words(language: str) -> dict[str, str]:
    """The address words for the site's language (Spanish for a language we have no words for)."""
    return URL_WORDS.get(language, URL_WORDS["es"])


def document_path(kind: Kind, slug: str, language: str) -> str:
    """A document's address on the site (the routes in cabos.site are built from the same words)."""
    words = url_words(language)
    return f"/{slug}" if kind == "page" else f"/{words['articles' if kind == 'article' else 'guides']}/{slug}"


@dataclass(frozen=True)
class Issue:
    """One problem found in the content: where, which field, what to do."""

    severity: Literal["error", "warning"]
    file: str
    message: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        what = f" [{self.field}]" if self.field else ""
        return f"{where}: {self.severity}{what}: {self.message}"


@dataclass(frozen=True)
class Stage:
    slug: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class Problem:
    slug: str
    name: str
    description: str = ""
    questions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Brand:
    primary: str = "#0f4c5c"
    accent: str = "#c35611"
    text: str = "#1d2430"
    background: str = "#ffffff"
    logo: str | None = None

    # The colours text is written in (or white text on): the brand's own when they reach WCAG AA's
    # 4.5:1, else the nearest that does (``cabos check`` says so). The brand's own stay for decoration.
    @property
    def primary_ink(self) -> str:
        return contrast.readable(self.primary, (contrast.WHITE, self.background))

    @property
    def accent_ink(self) -> str:
        return contrast.readable(self.accent, (contrast.WHITE, self.background))

    @property
    def text_ink(self) -> str:
        return contrast.readable(self.text, (self.background,))


@dataclass(frozen=True)
class Embeds:
    """Other sites whose images, frames (videos, maps, forms) or audio/video the pages may show.

    Each entry is an origin (``https://www.youtube-nocookie.com``); the site's
    Content-Security-Policy allows exactly these, and nothing else from outside.
    """

    images: tuple[str, ...] = ()
    frames: tuple[str, ...] = ()
    media: tuple[str, ...] = ()


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str


@dataclass(frozen=True)
class Site:
    name: str = "cabos"
    tagline: str = ""
    description: str = ""
    language: str = "es"
    base_url: str = "http://localhost:5000"
    consent: str = "notice"
    brand: Brand = field(default_factory=Brand)
    navigation: tuple[NavLink, ...] = ()
    stages: tuple[Stage, ...] = (
        Stage("learn", "Learn"),
        Stage("compare", "Compare"),
        Stage("decide", "Decide"),
    )
    target_profile: dict[str, Any] = field(default_factory=dict)
    embeds: Embeds = field(default_factory=Embeds)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def stage_slugs(self) -> tuple[str, ...]:
        return tuple(s.slug for s in self.stages)


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    required: bool = False
    choices: tuple[str, ...] = ()
    builtin: bool = True


@dataclass(frozen=True)
class Document:
    """An article, a gated guide or a plain page, rendered and ready to serve."""

    kind: Kind
    slug: str
    source: str  # path relative to the content folder
    title: str
    summary: str
    body: str  # Markdown as written (template tags removed)
    html: str
    toc: tuple[Heading, ...]
    words: int
    reading_minutes: int
    problems: tuple[str, ...] = ()
    stage: str | None = None
    author: str = ""
    date: date | None = None
    updated: date | None = None
    draft: bool = False
    publish_at: datetime | None = None  # front matter `publish_at` (UTC): served from then on
    cover: str | None = None
    cover_color: str | None = None
    form_fields: tuple[FormField, ...] = ()
    thank_you: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    digest: str = ""  # hash of the source file: cache keys, ETags
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def release_at(self) -> datetime | None:
        """When the piece goes live: ``publish_at``, else the start of its date (UTC)."""
        if self.publish_at is not None:
            return self.publish_at
        return datetime.combine(self.date, time(0, 0), tzinfo=UTC) if self.date else None
