"""Loading and validating the library: every error class, foreign content, reload."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from cabos.content.loader import LibraryLoader, load_library
from cabos.content.model import Issue

GOOD = "---\ntitle: Good\nsummary: S\nproblems: [slow-orders]\nstage: learn\ndate: 2026-01-02\n---\n## One\n\nText.\n"


def messages(issues: tuple[Issue, ...] | list[Issue], severity: str = "error") -> list[str]:
    return [str(i) for i in issues if i.severity == severity]


def test_demo_content_is_clean() -> None:
    lib = load_library(Path(__file__).resolve().parents[2] / "content")
    assert lib.errors == ()
    assert lib.warnings == ()
    assert len(lib.articles) >= 20 and len(lib.problems) >= 4


def test_good_article_loads(make_content) -> None:
    lib = load_library(make_content({"articles/good.md": GOOD}))
    doc = lib.articles["good"]
    assert (doc.title, doc.stage, doc.problems, doc.date) == ("Good", "learn", ("slow-orders",), date(2026, 1, 2))
    assert lib.issues == ()


@pytest.mark.parametrize("front, expected", [
    ("stage: buy", "articles/x.md:6: error [stage]: stage 'buy' is not one of learn, compare, decide"),
    ("problems: [nope]", "articles/x.md:6: error [problems]: problem 'nope' is not in problems.yml"),
    ("date: next tuesday", "articles/x.md:6: error [date]: date 'next tuesday' is not a date"),
    ("draft: maybe", "articles/x.md:6: error [draft]: draft must be true or false"),
    ("slug: Not A Slug", "articles/x.md:6: error [slug]: slug 'Not A Slug' is not a valid slug"),
    ("title: [a, b]", "articles/x.md:6: error [title]: title must be text"),
    ("cover_color: blue", "articles/x.md:6: error [cover_color]: cover_color 'blue' is not a colour"),
])
def test_each_field_error_names_file_line_and_field(make_content, front: str, expected: str) -> None:
    base = "---\ntitle: T\nsummary: S\nproblems: [slow-orders]\ndate: 2026-01-01\n"
    key = front.split(":")[0]
    lines = [line for line in base.splitlines() if not line.startswith(key + ":")]
    text = "\n".join(lines + [front, "---", "Body"])
    if key != "stage":
        text = text.replace("---\nBody", "stage: learn\n---\nBody")
    lib = load_library(make_content({"articles/x.md": text}))
    errors = messages(lib.issues)
    assert any(e.startswith(expected.replace(":6:", f":{len(lines) + 1}:")) for e in errors), errors


def test_broken_front_matter_names_file_and_line(make_content) -> None:
    lib = load_library(make_content({"articles/broken.md": "---\ntitle: Fine\nsummary: [oops\n---\nBody"}))
    (error,) = lib.errors
    assert error.file == "articles/broken.md" and error.line == 4
    assert "YAML" in error.message
    assert "broken" not in lib.articles


@pytest.mark.parametrize("value, why", [("2026-13-45", "month must be in 1..12"),
                                        ("2026-02-30", "day is out of range for month"),
                                        ("2026-01-01 25:00:00", "hour must be in 0..23")])
def test_an_impossible_date_is_a_named_error_not_a_crash(make_content, value: str, why: str) -> None:
    # YAML reads these as timestamps and PyYAML raised a bare ValueError: `cabos check` crashed.
    article = f"---\ntitle: T\nsummary: S\nproblems: [slow-orders]\nstage: learn\ndate: {value}\n---\nBody"
    problems = f"- slug: other\n  name: Other\n  since: {value}\n"
    lib = load_library(make_content({"articles/x.md": article, "articles/ok.md": GOOD}))
    assert messages(lib.issues) == [f"articles/x.md:6: error [date]: the YAML front matter cannot be read: "
                                    f"'{value}' is not a real date or time ({why}); write it as YYYY-MM-DD"]
    assert "ok" in lib.articles  # the rest of the library loads
    lib = load_library(make_content({"problems.yml": problems}))
    assert any(e.startswith("problems.yml:3: error: cannot be read as YAML: "
                            f"'{value}' is not a real date") for e in messages(lib.issues)), messages(lib.issues)


def test_every_problem_is_reported_not_just_the_first(make_content) -> None:
    lib = load_library(make_content({
        "articles/a.md": "---\nstage: buy\ndate: soon\n---\nx",
        "articles/b.md": "---\ntitle: [x\n---\n",
        "guides/g.md": "---\ntitle: G\nproblems: [ghost]\nform: {fields: [{name: sector}]}\n---\nx",
    }))
    errors = messages(lib.issues)
    assert any("articles/a.md" in e and "stage" in e for e in errors)
    assert any("articles/a.md" in e and "date" in e for e in errors)
    assert any("articles/b.md" in e for e in errors)
    assert any("guides/g.md" in e and "needs a label" in e for e in errors)
    assert len(errors) >= 4


def test_duplicate_slugs(make_content) -> None:
    lib = load_library(make_content({"articles/a.md": GOOD, "articles/b.md": GOOD.replace("---\n##", "slug: a\n---\n##")}))
    assert any("slug 'a' is already used by articles/a.md" in e for e in messages(lib.issues))


@pytest.mark.parametrize("files, fragment", [
    ({"site.yml": "language: fr\n"}, "site.yml:1: error [language]: language 'fr' is not one of es, en"),
    ({"site.yml": "language: es\nconsent: maybe\n"}, "site.yml:2: error [consent]"),
    ({"site.yml": "language: es\nbrand: {primary: red}\n"}, "error [primary]: primary 'red' is not a colour"),
    ({"site.yml": "language: es\nstages: []\n"}, "stages must list at least one stage"),
    ({"site.yml": "language: es\nnavigation: [{label: x}]\n"}, "needs a label and a url"),
    ({"site.yml": "- a list\n"}, "site.yml must be a mapping"),
    ({"site.yml": "name: [\n"}, "site.yml:2: error: cannot be read as YAML"),
    ({"problems.yml": "- slug: Bad Slug\n  name: x\n"}, "problems.yml:1: error [slug]"),
    ({"problems.yml": "- slug: a\n  name: A\n- slug: a\n  name: B\n"}, "problems.yml:3: error [slug]: problem slug 'a' is listed twice"),
    ({"problems.yml": "- slug: a\n"}, "problem 'a' needs a name"),
    ({"problems.yml": "- slug: a\n  name: A\n  questions: nope\n"}, "questions of problem 'a' must be a list"),
    ({"problems.yml": "slug: a\n"}, "problems.yml must be a list"),
])
def test_site_and_problem_errors(make_content, files: dict[str, str], fragment: str) -> None:
    lib = load_library(make_content(files))
    assert any(fragment in e for e in messages(lib.issues)), messages(lib.issues)


def test_missing_required_files(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    lib = load_library(tmp_path / "c")
    assert {i.file for i in lib.errors} == {"site.yml", "problems.yml"}
    assert load_library(tmp_path / "missing").errors[0].message.startswith("the content folder does not exist")


def test_not_utf8(make_content) -> None:
    lib = load_library(make_content({"articles/latin1.md": "---\ntitle: Año\n---\n".encode("latin-1")}))
    assert messages(lib.issues) == ["articles/latin1.md:2: error: is not UTF-8 text (byte 0xf1 on this line; "
                                    "Windows editors often save Latin-1 or Windows-1252): save it as UTF-8"]
    lib = load_library(make_content({"problems.yml": "- slug: a\n  name: Caf\xe9\n".encode("cp1252")}))
    assert messages(lib.issues)[0].startswith("problems.yml:2: error: is not UTF-8 text (byte 0xe9")


FOREIGN = {
    # Hugo, TOML, with a date-time and unknown keys
    "articles/hugo-post.md": '+++\ntitle = "Hugo post"\ndate = 2023-05-01T10:00:00+02:00\ndraft = false\n'
                             'tags = ["x"]\nproblems = ["slow-orders"]\nstage = "compare"\nsummary = "s"\n+++\nBody\n',
    # Jekyll: date string with zone, layout and categories, Liquid tags
    "articles/2023-01-01-jekyll.md": "---\nlayout: post\ntitle: Jekyll post\ndate: 2023-01-01 10:00:00 +0100\n"
                                     "categories: [a]\n---\nHello {% include cta.html %}\n\n{{ page.title }}\n",
    # no title, CRLF, non-ASCII file name
    "articles/qué-pasa-ñandú.md": "---\r\nsummary: s\r\n---\r\n# Título en el cuerpo\r\n\r\nTexto\r\n",
    # empty body
    "articles/empty.md": "---\ntitle: Empty\n---\n",
    # no front matter at all
    "articles/plain.md": "Just text, no front matter.\n",
    # Jekyll unpublished
    "articles/unpublished.md": "---\ntitle: Hidden\npublished: false\n---\nx",
}


def test_foreign_content_loads_with_defaults_and_warnings(make_content) -> None:
    lib = load_library(make_content(FOREIGN))
    assert lib.errors == ()
    hugo = lib.articles["hugo-post"]
    assert (hugo.date, hugo.stage, hugo.extra["tags"]) == (date(2023, 5, 1), "compare", ["x"])
    jekyll = lib.articles["jekyll"]  # Jekyll's date prefix is not part of the slug
    assert jekyll.date == date(2023, 1, 1) and jekyll.extra["layout"] == "post"
    assert "{%" not in jekyll.html and "{{" not in jekyll.html and "Hello" in jekyll.html
    odd = lib.articles["que-pasa-nandu"]
    assert odd.title == "Título en el cuerpo" and odd.stage == "learn"
    assert lib.articles["empty"].html == ""
    assert lib.articles["plain"].title == "Plain"
    assert "unpublished" not in lib.articles and [d.slug for d in lib.drafts] == ["unpublished"]
    warnings = messages(lib.issues, "warning")
    assert any("articles/2023-01-01-jekyll.md:7: warning: template tag" in w for w in warnings), warnings
    assert any("qué-pasa-ñandú.md" in w and "[title]" in w for w in warnings)
    assert any("empty.md" in w and "body is empty" in w for w in warnings)
    assert any("plain.md" in w and "[stage]" in w for w in warnings)


def test_jekyll_and_hugo_tags_with_a_meaning_here_become_links_figures_and_videos(make_content) -> None:
    from tests.content.test_media import png
    lib = load_library(make_content({
        "site.yml": "name: T\nlanguage: es\nembeds:\n  frames: [https://www.youtube-nocookie.com]\n",
        "articles/2020-01-15-mi-post.md": (
            "---\ntitle: Mi post\nproblems: [slow-orders]\nstage: learn\nsummary: s\n---\n"
            "Lee [el otro]({% post_url 2021-02-01-otro %}), [la guía]({{< ref \"posts/guia-uno.md\" >}}) y "
            "[más]({% link _posts/2021-02-01-otro.md %}).\n\n"
            "{{< figure src=\"/images/plano.png\" caption=\"Plano <b>\" >}}\n\n{{< youtube abc123 >}}\n\n"
            "{{< vimeo id=\"42\" >}}\n\n{{< youtube \"x onload=alert(1)\" >}}\n"),
        "articles/2021-02-01-otro.md": GOOD.replace("date: 2026-01-02\n", ""),
        "articles/2021-13-01-no-es-fecha.md": GOOD,
        "guides/guia-uno.md": GOOD,
        "static/images/plano.png": png(),
    }))
    post = lib.articles["mi-post"]
    assert post.date == date(2020, 1, 15) and lib.articles["otro"].date == date(2021, 2, 1)
    assert "2021-13-01-no-es-fecha" in lib.articles  # digits that are no day stay in the slug
    assert '<a href="/articulos/otro">el otro</a>' in post.html and 'href="/guias/guia-uno"' in post.html
    assert post.html.count('href="/articulos/otro"') == 2
    assert (f'<figure><img src="{lib.media["static/images/plano.png"].url}" alt="Plano &lt;b&gt;">'
            "<figcaption>Plano &lt;b&gt;</figcaption></figure>") in post.html
    # Players from other sites wait for the reader's click (embeds.js): no src until then.
    assert ' data-embed-src="https://www.youtube-nocookie.com/embed/abc123"' in post.html
    assert ' data-embed-src="https://player.vimeo.com/video/42?dnt=1"' in post.html
    assert " src=\"https://" not in post.html
    assert "onload" not in post.html  # an id that is no id is removed with the other unknown tags
    warnings = messages(lib.issues, "warning")
    assert any("mi-post.md:15: warning: template tag" in w for w in warnings), warnings
    assert any("player.vimeo.com to embeds.frames" in w for w in warnings), warnings
    assert not any("[date]" in w for w in warnings if "mi-post" in w or "otro" in w), warnings


def test_reload_keeps_last_good_version(make_content) -> None:
    root = make_content({"articles/a.md": GOOD})
    loader = LibraryLoader(root)
    assert loader.load().articles["a"].title == "Good"
    path = root / "articles/a.md"
    path.write_text("---\ntitle: [broken\n---\n")
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    lib = loader.load()
    assert lib.articles["a"].title == "Good"
    assert any("last good version" in w for w in messages(lib.issues, "warning"))
    assert lib.errors  # the break is still reported


def test_reload_picks_up_new_and_removed_files(make_content) -> None:
    root = make_content({"articles/a.md": GOOD})
    loader = LibraryLoader(root)
    loader.load()
    (root / "articles/b.md").write_text(GOOD.replace("Good", "Second"))
    (root / "articles/a.md").unlink()
    lib = loader.load()
    assert list(lib.articles) == ["b"]


def test_index_by_problem_and_stage_and_related(make_content) -> None:
    files = {}
    for i, (stage, prob) in enumerate([("learn", "slow-orders"), ("compare", "slow-orders"),
                                       ("decide", "slow-orders"), ("learn", "bad-stock")]):
        files[f"articles/a{i}.md"] = GOOD.replace("stage: learn", f"stage: {stage}").replace("slow-orders", prob)
    lib = load_library(make_content(files))
    assert [(s, [d.slug for d in docs]) for s, docs in lib.by_stage("slow-orders")] == [
        ("learn", ["a0"]), ("compare", ["a1"]), ("decide", ["a2"])]
    assert [d.slug for d in lib.related(lib.articles["a0"])] == ["a1", "a2"]
    assert [d.slug for d in lib.related(lib.articles["a2"])] == ["a0", "a1"] or \
        [d.slug for d in lib.related(lib.articles["a2"])] == ["a1", "a0"]


def test_unquoted_consent_off_means_off(make_content) -> None:
    lib = load_library(make_content({"site.yml": "language: en\nconsent: off\n"}))
    assert lib.site.consent == "off" and not [i for i in lib.errors if i.file == "site.yml"]
