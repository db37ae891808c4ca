"""Loading 2,000 articles: cabos's loader vs raw python-frontmatter + markdown-it-py.

    .venv/bin/python bench/library_load.py [--articles 2000]

The articles are the demo articles repeated under new names. The raw baseline
reads each file with python-frontmatter and renders its body with the same
markdown-it configuration (tables, footnotes, anchors); cabos additionally
validates every field, records line numbers, builds the table of contents, the
indexes and the library digest. Goal: ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import frontmatter

from cabos.content.loader import load_library
from cabos.content.render import make_markdown

ROOT = Path(__file__).resolve().parent.parent


def build(n: int) -> Path:
    tmp = Path(tempfile.mkdtemp())
    src = ROOT / "content"
    shutil.copy(src / "site.yml", tmp)
    shutil.copy(src / "problems.yml", tmp)
    (tmp / "articles").mkdir()
    if (src / "articles" / "img").is_dir():  # the images the articles show (resolved at load)
        shutil.copytree(src / "articles" / "img", tmp / "articles" / "img")
    sources = sorted((src / "articles").glob("*.md"))
    for i in range(n):
        s = sources[i % len(sources)]
        (tmp / "articles" / f"{i:05d}-{s.name}").write_bytes(s.read_bytes())
    return tmp


def raw(root: Path) -> int:
    md = make_markdown()
    total = 0
    for path in sorted((root / "articles").glob("*.md")):
        post = frontmatter.load(path)
        total += len(md.render(post.content))
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = build(args.articles)
    raw_times, ours = [], []
    for _ in range(args.rounds):  # interleaved, so drift hits both
        t = time.perf_counter()
        raw(root)
        raw_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        lib = load_library(root)
        ours.append(time.perf_counter() - t)
        assert len(lib.articles) == args.articles and not lib.errors
    r, o = statistics.median(raw_times), statistics.median(ours)
    print(f"{args.articles} articles, median of {args.rounds}: raw frontmatter+markdown-it {r:.2f} s, "
          f"cabos load_library {o:.2f} s, ratio {o / r:.2f} (goal <= 1.3)")
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
