"""The documentation's Markdown pages (README.md and docs/), their headings and their fenced code blocks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXCERPT = "<!-- excerpt -->"
"""On the line before a fence: the block is part of a predictor, not one that loads on its own."""
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
HEADING = re.compile(r"^#{1,6}\s+(?P<text>.+?)(?:\s+#+)?\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it starts (1-based line of its fence), its language and its text."""

    page: Path
    line: int
    lang: str
    text: str
    excerpt: bool

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def pages() -> list[Path]:
    """README.md and every page under docs/."""
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _scan(text: str) -> Iterator[tuple[int, str | None, str]]:
    """(line number, None, line) for each line outside a fence; (its fence's line number, language, text) for
    each fenced block, its indentation (a block in a list item) removed."""
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        opening = FENCE.match(lines[number])
        if opening is None:
            yield number + 1, None, lines[number]
            number += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        end = next((i for i in range(number + 1, len(lines)) if lines[i].strip().startswith(fence)), len(lines))
        yield number + 1, opening["lang"], "".join(line[indent:] + "\n" for line in lines[number + 1:end])
        number = end + 1


def headings(text: str) -> list[str]:
    """The text of every ATX heading outside fenced code blocks (a `# comment` in a shell block is none)."""
    return [match["text"] for _, lang, line in _scan(text) if lang is None and (match := HEADING.match(line))]


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of one page; a block is an excerpt when EXCERPT is the line before its fence."""
    text = page.read_text()
    lines = text.splitlines()
    return [Block(page, number, lang, body, number > 1 and lines[number - 2].strip() == EXCERPT)
            for number, lang, body in _scan(text) if lang is not None]
