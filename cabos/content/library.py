"""The Library: every published document, indexed by problem and stage."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

from cabos.content.media import MediaFile, References
from cabos.content.model import Document, Issue, Kind, Problem, Site


def _newest_first(docs: list[Document]) -> list[Document]:
    return sorted(docs, key=lambda d: (d.date or date.min, d.title), reverse=True)


@dataclass(frozen=True)
class Library:
    site: Site
    problems: MappingProxyType[str, Problem]
    articles: MappingProxyType[str, Document]  # published, newest first
    guides: MappingProxyType[str, Document]
    pages: MappingProxyType[str, Document]
    drafts: tuple[Document, ...]
    issues: tuple[Issue, ...]
    version: str
    # Pieces not yet live (a future date or publish_at), and when the first of them goes live.
    scheduled: tuple[Document, ...] = ()
    next_release: datetime | None = None
    sections: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    media: MappingProxyType[str, MediaFile] = field(default_factory=lambda: MappingProxyType({}))
    # Files only unpublished pieces use: served to a request that knows the file's hash (previews).
    preview_media: MappingProxyType[str, MediaFile] = field(default_factory=lambda: MappingProxyType({}))
    # Resolves images and .md links (cabos.content.media) for the parts loaded after the documents.
    references: References | None = field(default=None, compare=False, repr=False)

    @classmethod
    def empty(cls, issues: list[Issue]) -> Library:
        return cls.build(Site(), {}, {"article": [], "guide": [], "page": []}, issues)

    @classmethod
    def build(cls, site: Site, problems: dict[str, Problem], docs: dict[Kind, list[Document]],
              issues: list[Issue], now: datetime | None = None) -> Library:
        """Index the documents as of ``now``: drafts and pieces whose release is later are left out."""
        now = now or datetime.now(UTC)

        def waiting(d: Document) -> bool:
            return not d.draft and d.release_at is not None and d.release_at > now

        published = {k: _newest_first([d for d in v if not d.draft and not waiting(d)]) for k, v in docs.items()}
        scheduled = sorted((d for v in docs.values() for d in v if waiting(d)),
                           key=lambda d: d.release_at or now)
        digest = hashlib.sha256(repr(site).encode())
        digest.update(repr([d.source for d in scheduled]).encode())  # a release changes the version
        for p in problems.values():
            digest.update(repr(p).encode())
        for kind in ("article", "guide", "page"):
            for d in docs[kind]:
                digest.update(d.source.encode() + d.digest.encode())
        return cls(
            site=site,
            problems=MappingProxyType(dict(problems)),
            articles=MappingProxyType({d.slug: d for d in published["article"]}),
            guides=MappingProxyType({d.slug: d for d in published["guide"]}),
            pages=MappingProxyType({d.slug: d for d in published["page"]}),
            drafts=tuple(d for v in docs.values() for d in v if d.draft),
            issues=tuple(issues),
            version=digest.hexdigest()[:16],
            scheduled=tuple(scheduled),
            next_release=scheduled[0].release_at if scheduled else None,
        )

    def with_section(self, name: str, value: Any, issues: list[Issue]) -> Library:
        """A copy with one more loaded part (intent rules, sequences, emails)."""
        return replace(self, sections=MappingProxyType({**self.sections, name: value}),
                       issues=self.issues + tuple(issues))

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")

    def unpublished(self, source: str) -> Document | None:
        """A draft or scheduled piece by its file (previews)."""
        return next((d for d in (*self.drafts, *self.scheduled) if d.source == source), None)

    def any_document(self, source: str) -> Document | None:
        """Any piece, published or not, by its file."""
        for d in (*self.articles.values(), *self.guides.values(), *self.pages.values()):
            if d.source == source:
                return d
        return self.unpublished(source)

    def document(self, kind: Kind, slug: str) -> Document | None:
        return {"article": self.articles, "guide": self.guides, "page": self.pages}[kind].get(slug)

    def articles_for(self, problem: str) -> list[Document]:
        return [a for a in self.articles.values() if problem in a.problems]

    def by_stage(self, problem: str) -> list[tuple[str, list[Document]]]:
        """A problem's articles grouped by stage, in the journey's order."""
        docs = self.articles_for(problem)
        return [(s.slug, [d for d in docs if d.stage == s.slug]) for s in self.site.stages]

    def guides_for(self, problem: str) -> list[Document]:
        return [g for g in self.guides.values() if problem in g.problems]

    def guide_for(self, doc: Document) -> Document | None:
        """The gated guide to offer beside a document: same problem first."""
        for problem in doc.problems:
            for guide in self.guides_for(problem):
                if guide.slug != doc.slug:
                    return guide
        return None

    def related(self, doc: Document, limit: int = 4) -> list[Document]:
        """Articles on the same problems, the next stage of the journey first."""
        stages = self.site.stage_slugs
        here = stages.index(doc.stage) if doc.stage in stages else 0

        def rank(other: Document) -> tuple[int, int, int]:
            shared = len(set(other.problems) & set(doc.problems))
            pos = stages.index(other.stage) if other.stage in stages else 0
            distance = pos - here
            # next stage, then same stage, then further ahead, then behind
            order = {1: 0, 0: 1}.get(distance, 2 if distance > 1 else 3)
            return (-shared, order, 0)

        candidates = [a for a in self.articles.values()
                      if a.slug != doc.slug and set(a.problems) & set(doc.problems)]
        return sorted(candidates, key=rank)[:limit]

    def stage_name(self, slug: str | None) -> str:
        for s in self.site.stages:
            if s.slug == slug:
                return s.name
        return slug or ""
