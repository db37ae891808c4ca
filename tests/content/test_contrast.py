"""Brand colours that cannot carry text: the site writes text in the nearest colour that can, and `cabos check` says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from cabos.content import load_library
from cabos.content.contrast import WHITE, ratio, readable
from cabos.content.model import Brand


@pytest.mark.parametrize(("a", "b", "expected"), [("#000000", "#ffffff", 21.0), ("#ffffff", "#ffffff", 1.0),
                                                  ("#e36414", "#ffffff", 3.44), ("#767676", "#ffffff", 4.54)])
def test_contrast_ratios_as_wcag_defines_them(a: str, b: str, expected: float) -> None:
    assert ratio(a, b) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("colour", ["#e36414", "#ffcc00", "#2a9d8f", "#fb8b24", "#0f4c5c", "#ff0000"])
def test_the_nearest_readable_colour_is_readable_and_near(colour: str) -> None:
    ink = readable(colour, (WHITE,))
    assert ratio(ink, WHITE) >= 4.5
    if ratio(colour, WHITE) >= 4.5:
        assert ink == colour
    else:  # one step less would not do: it is the nearest along the way to black
        assert ink != colour and ratio(ink, WHITE) < 4.7


def test_text_on_a_dark_background_gets_lighter() -> None:
    ink = readable("#444444", ("#111111",))
    assert ratio(ink, "#111111") >= 4.5 and ink > "#444444"


def test_the_brand_keeps_its_colours_for_decoration_and_inks_text() -> None:
    brand = Brand(accent="#e36414")
    assert brand.accent == "#e36414" and brand.accent_ink == readable("#e36414", (WHITE,))
    assert Brand().accent_ink == Brand().accent  # the default brand can carry text as it is


def test_cabos_check_warns_with_the_nearest_colour(make_content) -> None:  # type: ignore[no-untyped-def]
    root: Path = make_content({"site.yml": 'name: Test\nlanguage: en\nbrand:\n  primary: "#0f4c5c"\n'
                                           '  accent: "#e36414"\n'})
    library = load_library(root)
    warnings = [str(i) for i in library.issues if i.severity == "warning" and "brand accent" in str(i)]
    assert len(warnings) == 1
    assert "3.4:1" in warnings[0] and readable("#e36414", (WHITE,)) in warnings[0] and "site.yml" in warnings[0]
    assert not [i for i in library.issues if "brand primary" in str(i)]
