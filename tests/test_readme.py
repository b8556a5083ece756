"""The README stays a user's page: short, with every option and window setting in it, and the
links in it and in docs/ leading somewhere."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
MAX_LINES = 300


def readme() -> str:
    return README.read_text(encoding="utf-8")


def options(parser: argparse.ArgumentParser, where: str = "") -> list[tuple[str, str]]:
    """(where, option string) for every option a user can give ``parser`` and its subcommands;
    options whose help is suppressed are internal and left out."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += options(sub, f"{where} {name}".strip())
        elif action.help is not argparse.SUPPRESS and not isinstance(action, argparse._HelpAction):
            found += [(where or parser.prog, o) for o in action.option_strings]
    return found


def mentioned(text: str, option: str) -> bool:
    """``option`` as a word of its own: ``-o`` is not found inside ``--output-dir``."""
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def test_the_readme_is_at_most_300_lines():
    assert len(readme().splitlines()) <= MAX_LINES


def test_options_are_found_as_words_of_their_own():
    # The check below relies on this: a short option inside a long one does not count.
    assert not mentioned("`--output-dir DIR`", "-o")
    assert mentioned("`--output-dir DIR`, `-o`", "-o")
    assert not mentioned("--tile-size", "--tile")


def test_every_command_line_option_is_in_the_readme():
    from carsr_gui import cli

    found = options(cli.parser())
    assert {w for w, _ in found} >= {"carsr", "upscale", "eval", "bench", "train"}
    text = readme()
    missing = [f"{where} {option}" for where, option in found if not mentioned(text, option)]
    assert not missing, f"options not in README.md: {missing}"


def test_every_window_option_is_in_the_readme():
    from carsr_gui.__main__ import SELF_TEST, WINDOW_HELP
    from carsr_gui.gui.app import parser

    found = [*options(parser()), ("carsr", SELF_TEST), ("carsr", WINDOW_HELP)]
    text = readme()
    missing = [f"{where} {option}" for where, option in found if not mentioned(text, option)]
    assert not missing, f"options not in README.md: {missing}"


def test_every_window_setting_is_in_the_readme():
    from carsr_gui.gui.settings import DEFAULTS

    text = readme()
    missing = [key for key in DEFAULTS if f"`{key}`" not in text]
    assert not missing, f"settings not in README.md: {missing}"


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)  # a "# comment" in a code block
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def test_slug_matches_githubs_anchors():
    assert slug("How `--model auto` chooses") == "how---model-auto-chooses"
    assert slug("Several GPUs, several workers") == "several-gpus-several-workers"


def broken_links(page: Path) -> list[str]:
    """The relative links of ``page`` (Markdown) whose file, or heading, does not exist."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    broken = []
    for link in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", link):
            continue  # a web address
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists() or (target.suffix == ".md" and anchor not in anchors(target) | {""}):
            broken.append(link)
    return broken


def test_broken_links_are_found(tmp_path):
    (tmp_path / "other.md").write_text("# A heading\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-heading) [self](#top) [web](https://example.org/x)\n"
        "[gone](missing.md#a-heading) [no heading](other.md#another)\n\n# Top\n"
    )
    assert broken_links(page) == ["missing.md#a-heading", "other.md#another"]


PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def test_the_docs_pages_are_found():
    assert {p.name for p in PAGES} >= {"README.md", "performance.md", "training.md", "design.md"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path):
    assert not broken_links(page), f"links in {page.name} that lead nowhere"
