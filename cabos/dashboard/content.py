"""Content performance: per article, guide and page; rolled up per problem and per author.

For each content, over the period: readings (tracked page views), median engaged time and
read-to-end rate (from the reading histogram), guide downloads, contacts identified in the
period who had read it (or filled in its form) by the moment they identified, contacts who
first entered purchase mode in the period having read it before, and the revenue of the
deals won in the period whose trail touched it (each deal counted whole: influence, not
credit). Per problem and per author (by the library's tags), the same over their
contents, people and deals counted once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field


from cabos.content import Document, Library
from cabos.dashboard import readers
from cabos.dashboard.attribution import Touch
from cabos.dashboard.metrics import Win, main_currency

KINDS = ("article", "guide", "page")
SORTABLE = ("title", "readings", "median", "read_to_end", "downloads", "identified", "before_purchase", "revenue")


@dataclass
class Performance:
    """One content's figures, or a problem's or an author's rolled up."""

    kind: str  # 'article' | 'guide' | 'page' | 'problem' | 'author'
    key: str
    title: str
    stats: readers.ContentStats = field(default_factory=readers.ContentStats)
    downloads: int = 0
    identified: int = 0
    before_purchase: int = 0
    won: set[int] = field(default_factory=set)  # outcome ids of the deals it influenced
    revenue_cents: int = 0
    contents: int = 0  # for roll-ups: how many contents

    def value(self, column: str) -> float | str:
        """The figure a table sorts by."""
        return {
            "title": self.title.lower(),
            "readings": self.stats.readings,
            "median": self.stats.median_seconds if self.stats.median_seconds is not None else -1.0,
            "read_to_end": self.stats.read_to_end_rate if self.stats.read_to_end_rate is not None else -1.0,
            "downloads": self.downloads,
            "identified": self.identified,
            "before_purchase": self.before_purchase,
            "revenue": self.revenue_cents,
        }[column]


@dataclass(frozen=True)
class ContentReport:
    currency: str
    contents: tuple[Performance, ...]
    problems: tuple[Performance, ...]
    authors: tuple[Performance, ...]


def sort_rows(rows: Iterable[Performance], column: str, descending: bool) -> list[Performance]:
    """Rows sorted by ``column`` (ties by title), descending or ascending."""
    column = column if column in SORTABLE else "readings"
    ordered = sorted(rows, key=lambda r: r.title.lower())
    return sorted(ordered, key=lambda r: r.value(column), reverse=descending)


def report(library: Library, content_rows: Sequence[readers.ContentRow],
           contact_rows: Sequence[tuple[str, str, str, int]], won: Sequence[Win],
           touches: dict[int, list[Touch]]) -> ContentReport:
    """Every content's performance in the period, and the roll-ups per problem and author."""
    rows: dict[tuple[str, str], Performance] = {}

    def row(kind: str, slug: str) -> Performance:
        if (kind, slug) not in rows:
            doc = library.document(kind, slug)  # type: ignore[arg-type]
            rows[(kind, slug)] = Performance(kind, slug, doc.title if doc is not None else slug)
        return rows[(kind, slug)]

    for kind in KINDS:
        for doc in _documents(library, kind):
            row(kind, doc.slug)
    for (kind, slug), (stats, downloads) in readers.content_stats(content_rows).items():
        r = row(kind, slug)
        r.stats, r.downloads = stats, downloads
    currency = main_currency(won)
    revenue = {w.outcome_id: w.revenue_cents for w in won if w.currency == currency}
    for w in won:
        if w.currency != currency:
            continue
        for kind, slug in {(t.kind, t.key) for t in touches.get(w.contact_id, ()) if t.at < w.at and t.kind in KINDS}:
            row(kind, slug).won.add(w.outcome_id)

    def problems_of(kind: str, slug: str) -> tuple[str, ...]:
        doc = library.document(kind, slug)  # type: ignore[arg-type]
        return tuple(doc.problems) if doc is not None else ()

    def author_of(kind: str, slug: str) -> tuple[str, ...]:
        doc = library.document(kind, slug)  # type: ignore[arg-type]
        return (doc.author,) if doc is not None and doc.author else ()

    problems = _roll_up(rows.values(), "problem", problems_of, {p.slug: p.name for p in library.problems.values()})
    authors = _roll_up(rows.values(), "author", author_of, {})
    by_key = {("content", f"{r.kind}:{r.key}"): r for r in rows.values()}
    by_key.update({("problem", r.key): r for r in problems})
    by_key.update({("author", r.key): r for r in authors})
    for measure, dimension, key, n in contact_rows:
        if dimension == "all":
            continue
        target = by_key.get((dimension, key))
        if target is None and dimension == "content" and ":" in key:
            target = row(*key.split(":", 1))  # read then, since removed from the library
        if target is None:
            continue
        if measure == "identified":
            target.identified += n
        elif measure == "purchase":
            target.before_purchase += n
    for r in [*rows.values(), *problems, *authors]:
        r.revenue_cents = sum(revenue.get(i, 0) for i in r.won)
    return ContentReport(currency, tuple(rows.values()), tuple(problems), tuple(authors))


def _documents(library: Library, kind: str) -> list[Document]:
    return list({"article": library.articles, "guide": library.guides, "page": library.pages}[kind].values())


def _roll_up(rows: Iterable[Performance], kind: str, keys_of: Callable[[str, str], tuple[str, ...]],
             names: dict[str, str]) -> list[Performance]:
    out: dict[str, Performance] = {}
    for r in rows:
        for key in keys_of(r.kind, r.key):
            agg = out.setdefault(key, Performance(kind, key, names.get(key, key)))
            agg.contents += 1
            agg.stats.add(r.stats)
            agg.downloads += r.downloads
            agg.won |= r.won
    return list(out.values())
