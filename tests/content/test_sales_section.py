"""`cabos check` validates site.yml's `sales:` section: file, line and key for every mistake."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from cabos.content.loader import load_library
from cabos.sales.policyfile import PolicyExtension
from tests.conftest import DEMO_CONTENT, MINIMAL_SITE, CabosRunner

GUIDE = """---
title: Count stock
summary: A guide.
problems: [bad-stock]
date: 2026-01-02
form:
  fields:
    - company_size
    - {name: sector, label: Sector, choices: [Retail, Wholesale]}
    - {name: referencias, label: Referencias}
---
## One

Text.
"""

GOOD_SALES = """\
sales:
  currency: usd
  reasons:
    sent_back: [Not ready yet, No budget this year]
    disqualified: [Student]
    lost: Price
  assignment:
    - when: {country: [México, Colombia], grade: [a, B]}
      to: [carlos@example.com]
    - when: {problem: [slow-orders], sector: [wholesale], referencias: ["5.000"]}
      to: ana@example.com
    - to: [luis@example.com, ana@example.com]
"""


def issues(make_content, sales: str, severity: str | None = None) -> list[str]:
    root = make_content({"site.yml": MINIMAL_SITE.format(language="en") + sales, "guides/count-stock.md": GUIDE})
    lib = load_library(root, [PolicyExtension()])
    return [str(i) for i in lib.issues if (severity is None or i.severity == severity) and "sales" in str(i)]


def test_a_good_sales_section_and_none_at_all_are_clean(make_content) -> None:
    assert issues(make_content, GOOD_SALES) == []
    assert issues(make_content, "") == []
    assert issues(make_content, "sales:\n") == []


def test_the_readme_example_is_clean_on_the_demo_content(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "docs" / "salesperson.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n# content/site.yml\n(sales:\n.*?)```", readme, re.S)
    assert example, "docs/salesperson.md sales: example moved; update this test"
    root = tmp_path / "content"
    shutil.copytree(DEMO_CONTENT, root)
    with (root / "site.yml").open("a", encoding="utf-8") as fh:
        fh.write("\n" + example.group(1))
    lib = load_library(root, [PolicyExtension()])
    assert [str(i) for i in lib.issues if i.file == "site.yml"] == []


# Line numbers: MINIMAL_SITE has 7 lines, so `sales:` is line 8.
@pytest.mark.parametrize("sales, expected", [
    ("sales: [a]\n", "site.yml:8: error [sales]: sales must be a mapping"),
    ("sales:\n  currncy: EUR\n", "site.yml:9: error [sales.currncy]: unknown key 'currncy'; did you mean 'currency'?"),
    ("sales:\n  sla_hours: 4\n", "site.yml:9: error [sales.sla_hours]: unknown key 'sla_hours': the first-response "
                                 "deadline is the setting SALES_SLA_HOURS"),
    ("sales:\n  questions: [x]\n", "site.yml:9: error [sales.questions]: unknown key 'questions': the brief's "
                                   "questions are written per problem in problems.yml"),
    ("sales:\n  currency: EURO\n", "site.yml:9: error [sales.currency]: currency 'EURO' is not an ISO 4217 code"),
    ("sales:\n  currency: 978\n", "site.yml:9: error [sales.currency]: currency 978 is not an ISO 4217 code"),
    ("sales:\n  reasons: [a, b]\n", "site.yml:9: error [sales.reasons]: sales.reasons must be a mapping"),
    ("sales:\n  reasons:\n    sent-back: [x]\n",
     "site.yml:10: error [sales.reasons.sent-back]: unknown key 'sent-back'; did you mean 'sent_back'?"),
    ("sales:\n  reasons:\n    lost: []\n", "site.yml:10: error [sales.reasons.lost]: sales.reasons.lost is empty"),
    ("sales:\n  reasons:\n    lost: {a: b}\n",
     "site.yml:10: error [sales.reasons.lost]: sales.reasons.lost must be a list of reasons"),
    ("sales:\n  reasons:\n    lost:\n      - Price\n      - {a: b}\n",
     "site.yml:12: error [sales.reasons.lost[2]]: sales.reasons.lost[2] must be a text"),
    ("sales:\n  assignment: {to: [a@example.com]}\n",
     "site.yml:9: error [sales.assignment]: sales.assignment must be a list of rules"),
    ("sales:\n  assignment:\n    - a@example.com\n",
     "site.yml:10: error [sales.assignment[1]]: sales.assignment[1] must be a rule"),
    ("sales:\n  assignment:\n    - when: {country: [Chile]}\n",
     "site.yml:10: error [sales.assignment[1]]: sales.assignment[1] needs `to:`"),
    ("sales:\n  assignment:\n    - to: []\n",
     "site.yml:10: error [sales.assignment[1].to]: sales.assignment[1].to is empty"),
    ("sales:\n  assignment:\n    - when: {country: [Chile]}\n      to: [ana@example.com, carlos]\n",
     "site.yml:11: error [sales.assignment[1].to[2]]: 'carlos' is not an email address"),
    ("sales:\n  assignment:\n    - when: {country: [Chile]}\n      too: [ana@example.com]\n",
     "site.yml:11: error [sales.assignment[1].too]: unknown key 'too'; did you mean 'to'?"),
    ("sales:\n  assignment:\n    - when: [country]\n      to: [ana@example.com]\n",
     "site.yml:10: error [sales.assignment[1].when]: sales.assignment[1].when must be a mapping"),
    ("sales:\n  assignment:\n    - when:\n        contry: [Chile]\n      to: [ana@example.com]\n",
     "site.yml:11: error [sales.assignment[1].when.contry]: unknown key 'contry'; did you mean 'country'?"),
    ("sales:\n  assignment:\n    - when:\n        budget: [big]\n      to: [ana@example.com]\n",
     "site.yml:11: error [sales.assignment[1].when.budget]: unknown key 'budget' (known: name, company, role, "
     "company_size, country, email, email_domain, sector, referencias, problem, grade)"),
    ("sales:\n  assignment:\n    - when:\n        problem: [slow-order]\n      to: [ana@example.com]\n",
     "site.yml:11: error [sales.assignment[1].when.problem[1]]: problem 'slow-order' is not in problems.yml; "
     "did you mean 'slow-orders'?"),
    ("sales:\n  assignment:\n    - when:\n        grade: [A, E]\n      to: [ana@example.com]\n",
     "site.yml:11: error [sales.assignment[1].when.grade[2]]: grade 'E' is not one of A, B, C, D"),
    ("sales:\n  assignment:\n    - when:\n        country: []\n      to: [ana@example.com]\n",
     "site.yml:11: error [sales.assignment[1].when.country]: sales.assignment[1].when.country is empty"),
])
def test_each_mistake_names_file_line_and_key(make_content, sales: str, expected: str) -> None:
    found = issues(make_content, sales, "error")
    assert any(i.startswith(expected) for i in found), found


@pytest.mark.parametrize("sales, expected", [
    ("sales:\n  assignment:\n    - when: {sector: [Manufacturing]}\n      to: [ana@example.com]\n",
     "site.yml:10: warning [sales.assignment[1].when.sector[1]]: 'Manufacturing' is not one of the choices"),
    ("sales:\n  assignment:\n    - to: [ana@example.com]\n"
     "    - when: {country: [Chile]}\n      to: [luis@example.com]\n",
     "site.yml:11: warning [sales.assignment[2]]: sales.assignment[2] is never used: rule 1 has no `when`"),
    ("sales:\n  assignment:\n    - when: {}\n      to: [ana@example.com]\n    - to: [luis@example.com]\n",
     "site.yml:12: warning [sales.assignment[2]]: sales.assignment[2] is never used: rule 1 has no `when`"),
    ("sales:\n  reasons:\n    lost: [Price, price]\n",
     "site.yml:10: warning [sales.reasons.lost[2]]: reason 'price' is listed twice"),
    ("sales:\n  reasons:\n    lost: [" + "x" * 201 + "]\n",
     "site.yml:10: warning [sales.reasons.lost[1]]: reason 1 is cut to 200 characters"),
])
def test_what_would_never_work_as_written_is_a_warning(make_content, sales: str, expected: str) -> None:
    found = issues(make_content, sales, "warning")
    assert any(i.startswith(expected) for i in found), found
    assert issues(make_content, sales, "error") == []


def test_every_mistake_is_reported_not_just_the_first(make_content) -> None:
    sales = ("sales:\n  currency: euros\n  reasons:\n    won: [x]\n  assignment:\n"
             "    - when: {problem: [nope]}\n      to: [someone]\n")
    found = issues(make_content, sales, "error")
    assert [i.split(":", 3)[2].strip() for i in found] == [
        "error [sales.currency]", "error [sales.reasons.won]", "error [sales.assignment[1].to[1]]",
        "error [sales.assignment[1].when.problem[1]]"]


def test_cabos_check_reports_the_sales_section_and_fails(make_content, app_factory) -> None:
    root = make_content({"site.yml": MINIMAL_SITE.format(language="en")
                         + "sales:\n  assignment:\n    - when: {grade: [Z]}\n      to: [ana@example.com]\n"})
    result = CabosRunner(app_factory(root)).invoke(args=["check"])
    assert result.exit_code == 1, result.output
    assert "site.yml:10: error [sales.assignment[1].when.grade[1]]: grade 'Z' is not one of A, B, C, D" in result.output
