"""`cabos check`: validate the whole content library."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from cabos.content.loader import load_library
from cabos.content.seo import seo_issues


@click.command("check")
@click.option("--content", "content_dir", type=click.Path(file_okay=False), default=None,
              help="Content folder to check (default: CONTENT_DIR).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@with_appcontext
def check_command(content_dir: str | None, strict: bool) -> None:
    """Validate articles, guides, pages, site.yml, problems.yml and the rest."""
    root = Path(content_dir or current_app.config["CONTENT_DIR"])
    extensions = current_app.extensions.get("cabos.content_extensions", ())
    library = load_library(root, extensions)
    seo = seo_issues(library)
    for issue in library.errors:
        click.secho(str(issue), fg="red")
    for issue in library.warnings:
        click.secho(str(issue), fg="yellow")
    for issue in seo:  # advice for search engines: shown, never a failure (not even with --strict)
        click.secho(f"{issue} (SEO)", fg="yellow")
    counts = (f"{len(library.articles)} articles, {len(library.guides)} guides, "
              f"{len(library.pages)} pages, {len(library.problems)} problems, {len(library.drafts)} drafts, "
              f"{len(library.scheduled)} scheduled, "
              f"{len(library.media)} media files served")
    summary = (f"{len(library.errors)} errors, {len(library.warnings)} warnings, {len(seo)} SEO suggestions "
               f"in {root}: {counts}")
    failed = bool(library.errors) or (strict and bool(library.warnings))
    click.secho(summary, fg="red" if failed else "green", bold=True)
    sys.exit(1 if failed else 0)
