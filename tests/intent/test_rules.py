"""intent.yml: the demo file is clean, defaults apply without it, every mistake names file, line and key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cabos.content.loader import LibraryLoader, load_library
from cabos.intent.rules import Rules, current_rules, default_rules, rules_of
from cabos.intent.rulesfile import RulesExtension, load_rules
from tests.conftest import CabosRunner
from tests.intent.conftest import DEMO

ARTICLE = "---\ntitle: {title}\nsummary: S\nproblems: [slow-orders]\nstage: {stage}\ndate: 2026-01-02\n---\nBody\n"
GUIDE = ("---\ntitle: Guide\nsummary: S\nproblems: [bad-stock]\ndate: 2026-01-02\nform:\n  fields:\n    - role\n"
         "    - {name: sector, label: Sector, choices: [Retail, Wholesale]}\n---\nBody\n")
FILES = {
    "articles/intro.md": ARTICLE.format(title="Intro", stage="learn"),
    "articles/case.md": ARTICLE.format(title="Case", stage="decide"),
    "guides/guide.md": GUIDE,
    "pages/pricing.md": "---\ntitle: Pricing\n---\nPrices\n",
}
GOOD = """\
stages: {learn: 1, compare: 4, decide: 10}
half_life_days: 14
signals:
  - page: pricing
    points: 5
purchase_mode:
  threshold: 12
fit:
  rules:
    - {field: role, contains: [operations], points: 40}
    - {field: sector, in: [Retail], points: 30}
  grades: {A: 60, B: 40, C: 20}
"""


def issues_for(make_content, intent: str) -> list[str]:
    root = make_content({**FILES, "intent.yml": intent})
    rules, issues = load_rules(root, load_library(root))
    assert (rules is None) == any(i.severity == "error" for i in issues)
    return [str(i) for i in issues]


def test_demo_rules_are_clean() -> None:
    library = load_library(DEMO, [RulesExtension()])
    assert library.errors == () and library.warnings == ()
    rules = rules_of(library)
    assert rules.source == "intent.yml" and rules.threshold == 18
    assert rules.weight("decide") > 5 * rules.weight("learn")
    assert ("page", "precios") in rules.signals and ("page", "demo") in rules.signals
    assert rules.handoff_min_grade == "B"


def test_good_file_loads(make_content) -> None:
    root = make_content({**FILES, "intent.yml": GOOD})
    rules, issues = load_rules(root, load_library(root))
    assert issues == [] and isinstance(rules, Rules)
    assert rules.max_score == 1 + 10 + 1 + 5 * 2  # intro, case, guide (learn), pricing signal visited daily (5 + 2.5 + …)
    assert [r.field for r in rules.fit_rules] == ["role", "sector"]


def test_without_intent_yml_the_defaults_apply(make_content) -> None:
    root = make_content(FILES)
    library = load_library(root, [RulesExtension()])
    assert library.issues == ()
    assert rules_of(library) == default_rules(library)
    assert rules_of(library).source == "defaults"


@pytest.mark.parametrize("intent, expected", [
    ("stages:\n  learn: 1\n  buy: 5\n",
     "intent.yml:3: error [stages.buy]: stage 'buy' is not one of learn, compare, decide"),
    ("stages:\n  learn: 1\n  compare: 4\n  decide: lots\n",
     "intent.yml:4: error [stages.decide]: stages.decide must be a number, e.g. 10, not 'lots'"),
    ("fit:\n  rules:\n    - field: budget\n      in: [big]\n      points: 10\n",
     "intent.yml:3: error [fit.rules[1].field]: field 'budget' is not a contact field"),
    ("purchase_mode:\n  threshold: 500\n",
     "intent.yml:2: error [purchase_mode.threshold]: purchase_mode.threshold 500 cannot be reached: "
     "the most a contact can score is 12"),
    ("purchase_mode:\n  treshold: 5\n",
     "intent.yml:2: error [purchase_mode.treshold]: unknown key 'treshold'; did you mean 'threshold'?"),
    ("purchase_mode:\n  threshold: '12'\n",
     "intent.yml:2: error [purchase_mode.threshold]: purchase_mode.threshold must be a number"),
    ("purchase_mode:\n  recent:\n    stages: [buy]\n",
     "intent.yml:3: error [purchase_mode.recent.stages]: stage 'buy' is not one of learn, compare, decide"),
    ("purchase_mode:\n  recent:\n    min_readings: 3\n",
     "intent.yml:3: error [purchase_mode.recent.min_readings]: purchase_mode.recent.min_readings 3 cannot be "
     "reached"),
    ("signals:\n  - page: precios\n    points: 5\n",
     "intent.yml:2: error [signals[1].page]: page 'precios' does not exist in pages/"),
    ("signals:\n  - page: pricing\n",
     "intent.yml:2: error [signals[1]]: signal 'pricing' needs points"),
    ("engagement:\n  curve:\n    30: 0.5\n    60: 0.2\n",
     "intent.yml:4: error [engagement.curve.60]: the share at 60 seconds (0.2) is less than at 30 seconds"),
    ("engagement:\n  full_read_seconds: -3\n",
     "intent.yml:2: error [engagement.full_read_seconds]: engagement.full_read_seconds must be more than 0"),
    ("fit:\n  rules:\n    - {field: role, contains: [ops], points: 10}\n  grades:\n    A: 50\n",
     "intent.yml:5: error [fit.grades.A]: grade A needs 50 points but the fit rules give at most 10"),
    ("fit:\n  grades:\n    A: 10\n    B: 40\n",
     "intent.yml:4: error [fit.grades.B]: grade B needs 40 points, not fewer than grade A"),
    ("fit:\n  rules:\n    - {field: role, between: [1], points: 10}\n",
     "intent.yml:3: error [fit.rules[1].between]: between needs [lowest, highest] numbers"),
    ("handoff:\n  min_grade: E\n",
     "intent.yml:2: error [handoff.min_grade]: handoff.min_grade 'E' is not one of A, B, C, D"),
    ("stages: [learn, decide\n", "intent.yml:2: error: cannot be read as YAML"),
])
def test_each_mistake_names_file_line_and_key(make_content, intent: str, expected: str) -> None:
    found = issues_for(make_content, intent)
    assert any(i.startswith(expected) for i in found), found


def test_a_choice_that_no_form_offers_is_a_warning(make_content) -> None:
    found = issues_for(make_content, "purchase_mode: {threshold: 10}\nfit:\n  rules:\n    - field: sector\n"
                                     "      in: [Retial]\n      points: 10\n  grades: {A: 10, B: 5, C: 1}\n")
    assert found == ["intent.yml:5: warning [fit.rules[1].in]: 'Retial' is not one of the form's choices "
                     "(Retail, Wholesale): it will never match"]


def test_all_mistakes_are_reported_at_once(make_content) -> None:
    found = issues_for(make_content, "stages:\n  buy: 1\nhalf_life_days: soon\nfit:\n  rules:\n    - field: x\n")
    assert [i.split(" ")[0] for i in found if ": error" in i] == ["intent.yml:2:", "intent.yml:3:", "intent.yml:6:"]


def test_broken_file_keeps_the_last_valid_rules(make_content) -> None:
    root = make_content({**FILES, "intent.yml": GOOD})
    loader = LibraryLoader(root, (RulesExtension(),))
    good = rules_of(loader.load())
    (root / "intent.yml").write_text(GOOD.replace("threshold: 12", "threshold: many"))
    library = loader.load()
    assert rules_of(library) == good and rules_of(library).threshold == 12
    assert [str(i) for i in library.issues] == [
        "intent.yml:7: error [purchase_mode.threshold]: purchase_mode.threshold must be a number, e.g. 20, "
        "not 'many'",
        "intent.yml: warning: has errors: the site keeps the last valid rules",
    ]


def test_running_site_keeps_last_valid_rules_on_reload(make_content, app_factory) -> None:
    root = make_content({**FILES, "intent.yml": GOOD})
    app = app_factory(root, CONTENT_RELOAD=True)
    with app.app_context():
        assert current_rules().threshold == 12
        path = root / "intent.yml"
        path.write_text(GOOD.replace("threshold: 12", "threshold: 13").replace("decide: 10", "decide: nope"))
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
        assert app.extensions["cabos.content"].maybe_reload()
        assert current_rules().threshold == 12
        path.write_text(GOOD.replace("threshold: 12", "threshold: 13"))
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 2 * 10**9))
        assert app.extensions["cabos.content"].maybe_reload()
        assert current_rules().threshold == 13


def test_cabos_check_validates_intent_yml(make_content, app_factory) -> None:
    root = make_content({**FILES, "intent.yml": "stages:\n  learn: 1\n  buy: 5\n"})
    result = CabosRunner(app_factory(root)).invoke(args=["check"])
    assert result.exit_code == 1
    assert "intent.yml:3: error [stages.buy]: stage 'buy' is not one of learn, compare, decide" in result.output


def test_cabos_check_passes_on_the_demo(runner) -> None:
    result = runner.invoke(args=["check", "--strict"])
    assert result.exit_code == 0, result.output


def test_rules_fingerprint_is_stable_and_changes_with_the_rules(make_content) -> None:
    root = make_content({**FILES, "intent.yml": GOOD})
    library = load_library(root)
    a, _ = load_rules(root, library)
    b, _ = load_rules(root, library)
    (root / "intent.yml").write_text(GOOD.replace("threshold: 12", "threshold: 11"))
    c, _ = load_rules(root, library)
    assert a is not None and b is not None and c is not None
    assert a.version == b.version != c.version
    assert Path(root / "intent.yml").exists()


# --- exclusions: lists kept as files in the content folder -------------------------------------

EXCLUDING = GOOD.replace("  grades:", """\
    - {field: email_domain, listed_in: exclusions/competitors.txt, exclude: true, label: competitor domain}
    - {field: company, listed_in: exclusions/press.txt, points: -30, label: press}
  grades:""")
LISTS = {"exclusions/competitors.txt": "# vendors in our market\nrival.example\n\nother-vendor.example  # since 2026\n",
         "exclusions/press.txt": "Logistics Weekly\nWarehouse News\n"}


def test_exclusion_lists_load_and_match_domains_and_their_subdomains(make_content) -> None:
    from cabos.intent.scoring import fit, grade_for
    root = make_content({**FILES, **LISTS, "intent.yml": EXCLUDING})
    rules, issues = load_rules(root, load_library(root))
    assert rules is not None and issues == []
    excluded = [r for r in rules.fit_rules if r.exclude]
    assert [(r.value, r.source) for r in excluded] == [(("rival.example", "other-vendor.example"),
                                                        "exclusions/competitors.txt")]
    for domain, out in [("rival.example", True), ("sales.rival.example", True), ("notrival.example", False)]:
        points, found = fit({"role": "operations", "sector": "Retail", "email_domain": domain}, rules)
        assert (grade_for(points, rules, found) == "D") is out, domain
    points, found = fit({"role": "operations", "sector": "Retail", "company": "warehouse news"}, rules)
    assert points == 40 and [m.label for m in found][-1] == "press"


@pytest.mark.parametrize(("lists", "intent", "expected"), [
    ({**LISTS, "exclusions/competitors.txt": "rival.example\nnot a domain\n"}, EXCLUDING,
     "exclusions/competitors.txt:2: error [email_domain]: 'not a domain' is not an email domain"),
    ({"exclusions/press.txt": LISTS["exclusions/press.txt"]}, EXCLUDING,
     "intent.yml:12: error [fit.rules[3].listed_in]: list file 'exclusions/competitors.txt' does not exist"),
    (LISTS, EXCLUDING.replace("exclusions/press.txt", "../press.txt"),
     "intent.yml:13: error [fit.rules[4].listed_in]: listed_in names a .txt file inside the content folder"),
    (LISTS, EXCLUDING.replace("exclude: true,", "exclude: true, points: 10,"),
     "intent.yml:12: error [fit.rules[3].points]: an exclusion cannot add points"),
    (LISTS, EXCLUDING.replace("exclude: true", "exclude: yes please"),
     "intent.yml:12: error [fit.rules[3].exclude]: exclude must be true or false"),
    (LISTS, GOOD + "patterns:\n  focus:\n    min_share: 2\n",
     "intent.yml:15: error [patterns.focus.min_share]: patterns.focus.min_share must be at least 0 and at most 1"),
    (LISTS, GOOD.replace("  threshold: 12", "  threshold: 12\n  exit:\n    silence_days: 0"),
     "intent.yml:9: error [purchase_mode.exit.silence_days]: purchase_mode.exit.silence_days must be more than 0"),
])
def test_list_and_pattern_mistakes_name_file_line_and_key(make_content, lists, intent: str, expected: str) -> None:
    root = make_content({**FILES, **lists, "intent.yml": intent})
    rules, issues = load_rules(root, load_library(root))
    found = [str(i) for i in issues]
    assert rules is None and any(i.startswith(expected) for i in found), found


def test_a_broken_list_file_keeps_the_last_valid_rules_and_cabos_check_names_it(make_content, app_factory) -> None:
    root = make_content({**FILES, **LISTS, "intent.yml": EXCLUDING})
    loader = LibraryLoader(root, (RulesExtension(),))
    good = rules_of(loader.load())
    (root / "exclusions" / "competitors.txt").write_text("rival.example\nrival example\n")
    library = loader.load()
    assert rules_of(library) == good
    assert "exclusions/competitors.txt:2: error [email_domain]: 'rival example' is not an email domain" in \
        "\n".join(str(i) for i in library.issues)
    result = CabosRunner(app_factory(root)).invoke(args=["check"])
    assert result.exit_code == 1 and "exclusions/competitors.txt:2: error" in result.output
