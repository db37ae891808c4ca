"""Labelled buyer journeys through the site's HTTP surface: is purchase mode right, and how soon?

    .venv/bin/python bench/intent_personas.py [--scale 3] [--days 60] [--seed 7] [--rules candidate.yml]

Runs the personas of tests/intent/personas.py (learners, researchers, evaluators,
ready buyers, buyers who go quiet, competitors, buyers on two devices, bots)
against a fresh SQLite database and the demo content, each step an HTTP request
to the app (page GET, tracker beacon, guide form) at its own simulated moment
(time-machine), demo requests through the forms' hand_raise contract. Every 12
simulated hours each identified persona's stored mode is compared with the truth
the persona carries. Prints precision and recall of purchase mode over the
checkpoints, how many buyers were detected within a day of their first decisive
evidence, the median delay, handoff precision and who ended up in the queue.

``--scale`` multiplies the number of personas of each kind (scale 1: 3 learners,
3 researchers, 3 evaluators, 3 ready buyers, 2 quiet buyers, 2 competitors, 2 on
two devices, 1 bot). ``--rules`` replaces the content's intent.yml with a candidate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._harness import machine  # noqa: E402
from cabos import migrate  # noqa: E402
from cabos.db import make_engine  # noqa: E402
from cabos.site import create_app  # noqa: E402
from tests.intent.personas import persona_app, report, simulate  # noqa: E402

BASE = {"learner": 3, "researcher": 3, "evaluator": 3, "ready": 3, "quiet": 2, "competitor": 2, "devices": 2,
        "bot": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rules", type=Path, help="candidate rules file to use instead of intent.yml")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cabos-personas-"))
    try:
        content = work / "content"
        shutil.copytree(ROOT / "content", content)
        if args.rules:
            shutil.copy(args.rules, content / "intent.yml")
        url = f"sqlite:///{work / 'cabos.sqlite3'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        (work / "instance").mkdir()
        config = {"DATABASE_URL": url, "CONTENT_DIR": str(content), "SECRET_KEY": "bench-personas",
                  "SITE_URL": "http://localhost", "MAIL_BACKEND": "folder", "MAIL_FOLDER": str(work / "mail"),
                  "PDF_CACHE_DIR": str(work / "pdf"), "TESTING": True}

        def make(extra: dict) -> object:  # type: ignore[type-arg]
            app = create_app({**config, **extra})
            app.instance_path = str(work / "instance")
            return app

        app = persona_app(make, {})  # type: ignore[arg-type]
        counts = {k: v * args.scale for k, v in BASE.items()}
        print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
        print(f"personas: {counts}, {args.days} days, seed {args.seed}, rules "
              f"{args.rules or 'content/intent.yml'}", flush=True)
        t = time.perf_counter()
        world = simulate(app, counts, days=args.days, seed=args.seed)
        elapsed = time.perf_counter() - t
        r = report(world)
        for line in r.lines():
            print(line)
        if world.notes:
            print(f"notes ({len(world.notes)}): {world.notes[:5]}")
        print(f"simulated in {elapsed:.0f} s")
        targets = [("purchase-mode precision ≥ 0.9", (r.precision or 0) >= 0.9),
                   ("purchase-mode recall ≥ 0.85", (r.recall or 0) >= 0.85),
                   ("≥ 90 % of buyers detected within a day", (r.within_a_day or 0) >= 0.9),
                   ("handoff precision ≥ 0.9", (r.handoff_precision or 0) >= 0.9),
                   ("no researcher or competitor in the queue",
                    not ({"researcher", "competitor"} & set(r.queue_by_kind)))]
        for name, ok in targets:
            print(f"  [{'met' if ok else 'NOT met'}] {name}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
