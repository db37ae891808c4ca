"""On PostgreSQL, a send's start in one statement: the previous row recorded sent, this one marked sending.

Per message the sender records the row the server just took (``sent``, with its
Message-ID map row and its ``email_sent`` event) and marks the next row ``sending``
if its guard still holds (no suppression since the batch was checked, the enrolment
still running). As separate statements in a transaction that is six round trips to
the server (BEGIN, four statements, COMMIT); on a loaded machine each costs more than
the sender's own work. PostgreSQL runs data-modifying CTEs as one atomic statement, so
the sender sends this one statement on a connection in autocommit: the same changes,
committed together or not at all, in one round trip::

    WITH sent AS (UPDATE … SET status = 'sent' … WHERE id = :prev AND claimed_by = :me
                  AND status IN ('sending', 'unknown') RETURNING id),
         recorded_0 AS (INSERT INTO mail_messages … SELECT … WHERE EXISTS (SELECT FROM sent) RETURNING id),
         recorded_1 AS (INSERT INTO events … SELECT … WHERE EXISTS (SELECT FROM sent) RETURNING id),
         sending AS (UPDATE … SET status = 'sending' … WHERE id = :row AND claimed_by = :me
                     AND status = 'claimed' AND <guard> RETURNING id)
    SELECT (SELECT count(*) FROM sent), (SELECT count(*) FROM sending), …

SQLite has no data-modifying CTEs and no round trips (it is in-process): there the
sender runs the statements one by one in a transaction (``Deliverer._start``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, exists, func, insert, select, update

from cabos.nurture.models import CLAIMED, SENDING, SENT, UNKNOWN


def start_statement(model: Any, guard: Sequence[Any], records: Sequence[tuple[Any, Sequence[str]]],
                    record_previous: bool) -> Any:
    """The statement for one shape of start (built once per shape; each message binds its values).

    ``records`` are the tables a sent row leaves a row in, with the columns given (bound as
    ``p_<i>_<column>``); ``guard`` the extra conditions for marking the row sending.
    Its one result row: (previous row recorded sent, this row marked sending), each 0 or 1.
    """
    mine = (model.claimed_by == bindparam("p_sender"),)
    counts = []
    if record_previous:
        sent = (update(model).where(model.id == bindparam("p_prev"), *mine, model.status.in_((SENDING, UNKNOWN)))
                .values(status=SENT, reason="", error="", sent_at=bindparam("p_now"),
                        message_id=bindparam("p_message_id"))
                .returning(model.id).cte("sent"))
        counts.append(sent)
        for i, (table, columns) in enumerate(records):
            values = select(*[bindparam(f"p_{i}_{c}", type_=table.__table__.c[c].type) for c in columns]).where(
                exists(select(sent.c.id)))
            counts.append(insert(table).from_select(list(columns), values, include_defaults=False)
                          .returning(table.id).cte(f"recorded_{i}"))
    sending = (update(model).where(model.id == bindparam("p_row"), *mine, model.status == CLAIMED, *guard)
               .values(status=SENDING, sending_at=bindparam("p_now"), attempts=model.attempts + 1)
               .returning(model.id).cte("sending"))
    counts.insert(1 if record_previous else 0, sending)
    return select(*[select(func.count()).select_from(cte).scalar_subquery() for cte in counts])
