"""The next reading for someone, from their interest profile: same problem, next stage first."""

from __future__ import annotations

from cabos.content.library import Library
from cabos.content.model import Document
from cabos.intent.scoring import Assessment


def next_readings(library: Library, assessment: Assessment, limit: int = 3) -> list[Document]:
    """Unread articles on the reader's top problems, the stage after the furthest they reached first."""
    read = {(i.kind, i.slug) for i in assessment.items}
    stages = library.site.stage_slugs
    out: list[Document] = []
    for problem, _value in assessment.interest:
        reached = max((stages.index(i.stage) for i in assessment.items
                       if problem in i.problems and i.stage in stages), default=-1)

        def rank(doc: Document, reached: int = reached) -> tuple[int, int]:
            pos = stages.index(doc.stage) if doc.stage in stages else 0
            distance = pos - reached
            # next stage, then the same, then further ahead, then behind
            return ({1: 0, 0: 1}.get(distance, 2 if distance > 1 else 3), abs(distance))

        candidates = [d for d in library.articles_for(problem) if ("article", d.slug) not in read and d not in out]
        out += sorted(candidates, key=rank)[: limit - len(out)]
        if len(out) >= limit:
            break
    return out
