"""Markdown rendering: CommonMark, tables, footnotes, anchors, table of contents."""

from cabos.content.render import Renderer, slugify, strip_template_tags


def test_slugify_transliterates() -> None:
    assert slugify("¿Qué es la exactitud del inventario?") == "que-es-la-exactitud-del-inventario"
    assert slugify("Año  2026 — plan_b") == "ano-2026-plan-b"


def test_tables_footnotes_anchors_and_toc() -> None:
    body = (
        "Intro[^1].\n\n## Primer paso\n\ntext\n\n### Detalle\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "## Segundo paso\n\n[^1]: Una nota.\n"
    )
    out = Renderer().render(body)
    assert '<h2 id="primer-paso">Primer paso</h2>' in out.html
    assert '<h3 id="detalle">' in out.html
    assert "<table>" in out.html and "<td>2</td>" in out.html
    assert 'class="footnote-ref"' in out.html and "Una nota." in out.html
    assert [(h.level, h.text, h.anchor) for h in out.toc] == [
        (2, "Primer paso", "primer-paso"), (3, "Detalle", "detalle"), (2, "Segundo paso", "segundo-paso"),
    ]


def test_reading_time_counts_words() -> None:
    out = Renderer().render("palabra " * 660)
    assert out.words == 660
    assert out.reading_minutes == 3


def test_empty_body_renders() -> None:
    out = Renderer().render("")
    assert out.html == "" and out.toc == () and out.reading_minutes == 1


def test_template_tags_removed_outside_code_only() -> None:
    body = "Hola {% include cta.html %} mundo\n\n```\n{% raw %}kept{% endraw %}\n```\n{{< gist user 1 >}}\n"
    cleaned, lines = strip_template_tags(body)
    assert "include" not in cleaned and "gist" not in cleaned
    assert "{% raw %}kept{% endraw %}" in cleaned
    assert lines == [1, 6]


def test_duplicate_headings_get_distinct_anchors() -> None:
    out = Renderer().render("## Paso\n\n## Paso\n")
    anchors = [h.anchor for h in out.toc]
    assert len(set(anchors)) == 2


def test_task_lists_render_as_checkboxes() -> None:
    out = Renderer().render("- [ ] count\n- [x] label\n")
    assert out.html.count('type="checkbox"') == 2 and "checked" in out.html
