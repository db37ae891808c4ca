"""Loading and checking sequences and emails: every mistake named with file, line and field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cabos.content.loader import LibraryLoader, load_library
from cabos.intent import rules_extension
from cabos.nurture import content_extension, nurture_of
from cabos.nurture.sequences import parse_duration
from tests.conftest import DEMO_CONTENT
from tests.nurture.conftest import FILES


def load(root: Path):  # type: ignore[no-untyped-def]
    return load_library(root, [rules_extension(), content_extension()])


def issues(library, file: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(i) for i in library.issues if i.file == file]


def test_the_demo_sequences_and_emails_load_without_a_single_issue() -> None:
    library = load(DEMO_CONTENT)
    nurture = nurture_of(library)
    mine = [i for i in library.issues if i.file.startswith(("sequences/", "emails/"))]
    assert mine == []
    # every guide has its welcome sequence of 3-4 steps
    for guide in library.guides:
        sequences = nurture.for_guide(guide)
        assert sequences and all(3 <= len(s.steps) <= 4 for s in sequences), guide


def test_a_sequence_is_loaded_with_its_trigger_steps_exits_and_reentry(content_dir: Path) -> None:
    nurture = nurture_of(load(content_dir))
    sequence = nurture.sequences["welcome"]
    assert sequence.trigger.kind == "guide" and sequence.trigger.guide == "stock-guide"
    assert [(s.id, s.email, s.wait) for s in sequence.steps] == [
        ("welcome", "welcome", timedelta(0)), ("next", "next", timedelta(days=3)), ("case", "case", timedelta(days=7))]
    assert sequence.steps[1].when is not None and sequence.steps[1].when.mode == "information"
    assert sequence.exits == {"purchase_mode", "handoff", "unsubscribe"}
    assert sequence.reentry == "never"
    assert nurture.emails["next"].needs_article and not nurture.emails["welcome"].needs_article


@pytest.mark.parametrize(("files", "expected"), [
    ({"sequences/welcome.yml": "name: x\ntrigger:\n  guide: stock-guide\nsteps:\n  - email: missing\n"},
     "sequences/welcome.yml:5: error [steps[1].email]: email 'missing' does not exist in emails/"),
    ({"sequences/welcome.yml": "name: x\ntrigger:\n  guide: no-such-guide\nsteps:\n  - email: welcome\n"},
     "sequences/welcome.yml:3: error [trigger.guide]: guide 'no-such-guide' does not exist in guides/"),
    ({"emails/welcome.md": "---\nsubject: Hi\npreheader: p\n---\nHello {{ frist_name }}\n"},
     "emails/welcome.md:5: error [body]: unknown tag {{ frist_name }}; did you mean 'first_name'?"),
    ({"emails/welcome.md": "---\nsubject: Hi {{ nope }}\npreheader: p\n---\nHello\n"},
     "emails/welcome.md:2: error [subject]: unknown tag {{ nope }}"),
    ({"emails/welcome.md": "---\nsubject: Hi\npreheader: p\n---\nline\n\nHello {{ first name }}\n"},
     "emails/welcome.md:7: error: {{ first name }} is not a tag"),
    ({"emails/welcome.md": "---\nsubject: \"{{ next_article }}\"\npreheader: p\n---\nHello\n"},
     "emails/welcome.md:2: error [subject]: {{ next_article }} is a link and only fits in the body"),
    ({"emails/welcome.md": "---\npreheader: p\n---\nHello\n"},
     "emails/welcome.md:1: error [subject]: subject is missing"),
    ({"sequences/welcome.yml": "trigger:\n  guide: stock-guide\nsteps:\n  - email: welcome\n    wait: 3\n"},
     "sequences/welcome.yml:5: error [steps[1].wait]: wait 3 has no unit; write e.g. 3d"),
    ({"sequences/welcome.yml": "trigger:\n  interest: no-problem\nsteps:\n  - email: welcome\n"},
     "sequences/welcome.yml:2: error [trigger.interest]: problem 'no-problem' is not in problems.yml"),
    ({"sequences/welcome.yml": "trigger:\n  guide: stock-guide\nsteps:\n  - email: welcome\n  - email: welcome\n"},
     "sequences/welcome.yml:5: error [steps[2]]: step id 'welcome' is used twice"),
    ({"sequences/welcome.yml": "trigger:\n  guide: stock-guide\nsteps:\n  - email: welcome\nexit: [bought]\n"},
     "sequences/welcome.yml:5: error [exit]: exit 'bought' is not one of purchase_mode, handoff, unsubscribe"),
    ({"sequences/welcome.yml": "trigger:\n  guide: stock-guide\nsteps:\n  - email: welcome\nreentry: often\n"},
     "sequences/welcome.yml:5: error [reentry]: reentry must be never, always or a wait such as 90d"),
    ({"sequences/welcome.yml":
      "trigger:\n  guide: stock-guide\nsteps:\n  - email: welcome\n    when: {mode: buying}\n"},
     "sequences/welcome.yml:5: error [steps[1].when.mode]: mode 'buying' is not one of information, purchase"),
])
def test_check_names_the_file_line_and_field(make_content, files: dict[str, str], expected: str) -> None:  # type: ignore[no-untyped-def]
    library = load(make_content({**FILES, **files}))
    file = next(iter(files))
    found = issues(library, file)
    assert any(line.startswith(expected) for line in found), found
    assert library.errors


def test_cabos_check_fails_on_a_broken_sequence(make_content, runner) -> None:  # type: ignore[no-untyped-def]
    root = make_content({**FILES, "sequences/welcome.yml": "trigger:\n  guide: nope\nsteps:\n  - email: x\n"})
    result = runner.invoke(args=["check", "--content", str(root)])
    assert result.exit_code == 1
    assert "sequences/welcome.yml:2: error [trigger.guide]: guide 'nope' does not exist" in result.output


def test_a_sequence_that_broke_on_reload_keeps_its_last_good_version(make_content) -> None:  # type: ignore[no-untyped-def]
    root = make_content(FILES)
    loader = LibraryLoader(root, (content_extension(),))
    assert "welcome" in nurture_of(loader.load()).sequences
    (root / "sequences" / "welcome.yml").write_text("trigger: [oops\n", encoding="utf-8")
    library = loader.load()
    assert "welcome" in nurture_of(library).sequences
    assert any("keeps using its last good version" in str(i) for i in library.warnings)
    assert any(i.file == "sequences/welcome.yml" and i.severity == "error" for i in library.issues)


def test_an_email_no_sequence_sends_is_a_warning(make_content) -> None:  # type: ignore[no-untyped-def]
    library = load(make_content({**FILES, "emails/orphan.md": "---\nsubject: S\npreheader: P\n---\nBody\n"}))
    assert issues(library, "emails/orphan.md") == ["emails/orphan.md: warning: no sequence sends this email"]


def test_without_purchase_mode_as_an_exit_the_author_is_warned(make_content) -> None:  # type: ignore[no-untyped-def]
    library = load(make_content({**FILES, "sequences/welcome.yml": SEQ_NO_PURCHASE}))
    assert any("purchase_mode is not an exit" in i for i in issues(library, "sequences/welcome.yml"))
    assert nurture_of(library).sequences["welcome"].exits == {"unsubscribe"}


SEQ_NO_PURCHASE = "trigger:\n  guide: stock-guide\nsteps:\n  - email: welcome\nexit: [unsubscribe]\n"


@pytest.mark.parametrize(("raw", "expected"), [
    (0, timedelta(0)), ("0", timedelta(0)), ("30m", timedelta(minutes=30)), ("2h", timedelta(hours=2)),
    ("3d", timedelta(days=3)), ("1w", timedelta(weeks=1)), ("1.5d", timedelta(hours=36)),
])
def test_waits(raw: object, expected: timedelta) -> None:
    assert parse_duration(raw) == expected


@pytest.mark.parametrize("raw", [3, "3", "3 days", "-1d", "soon", None, True])
def test_waits_that_are_not(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(raw)


def test_a_tag_that_breaks_the_yaml_gets_a_hint_about_quotes(make_content) -> None:  # type: ignore[no-untyped-def]
    email = '---\nsubject: "Hi {{ first_name | "you" }}"\npreheader: p\n---\nBody\n'
    library = load(make_content({**FILES, "emails/welcome.md": email}))
    assert any("a value with a tag must be quoted" in i for i in issues(library, "emails/welcome.md"))
