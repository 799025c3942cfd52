"""The manual: `mkdocs build --strict` passes, refuses a broken link, a missing anchor or a page
left out of the nav, and the site it builds loads nothing from the network."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

README_MAX_LINES = 250  # what it is, quickstart, architecture, layout, links: the rest is docs/

# (what is broken, the text appended to docs/index.md or the page added, what the build names)
BREAKAGES = [
    ("a link to a missing page", ("index.md", "\n[gone](no-such-page.md)\n"), "no-such-page.md"),
    (
        "a link to a missing anchor",
        ("index.md", "\n[gone](configuration.md#no-such-heading)\n"),
        "no-such-heading",
    ),
    ("a page left out of the nav", ("orphan.md", "# Orphan\n"), "orphan.md"),
]


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """What `make docs` runs, into `site`."""
    command = [sys.executable, "-m", "mkdocs", "build", "--strict"]
    command += ["--config-file", str(config), "--site-dir", str(site)]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's banner, not a finding
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)


class _Loads(HTMLParser):
    """Every URL a page loads by itself: stylesheets, icons, scripts, images, frames."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"link": "href", "script": "src", "img": "src", "iframe": "src"}.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]


def _local_links(text: str) -> list[str]:
    return [link for link in re.findall(r"\]\(([^)\s]+)\)", text) if not _remote(link)]


def test_the_readme_is_short_and_its_links_exist() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES, "README.md grew: move the detail to docs/"
    links = _local_links(text)
    assert any(link.startswith("docs/") for link in links)
    missing = [link for link in links if not (ROOT / link.partition("#")[0]).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    built = build(ROOT / "mkdocs.yml", out)
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{built.stderr}"
    return out


@pytest.mark.slow  # the fixture's build takes 2-4 s
def test_the_manual_builds_strictly_with_every_page(site: Path) -> None:
    pages = sorted(p.relative_to(ROOT / "docs") for p in (ROOT / "docs").rglob("*.md"))
    for page in pages:
        built = site / page.with_suffix("") / "index.html"
        if page.name == "index.md":
            built = site / page.with_name("index.html")
        assert built.is_file(), f"docs/{page} was not built"


@pytest.mark.slow
def test_the_site_loads_nothing_from_the_network(site: Path) -> None:
    remote = []
    for page in site.rglob("*.html"):
        parser = _Loads()
        parser.feed(page.read_text(encoding="utf-8"))
        remote += [f"{page.relative_to(site)}: {url}" for url in parser.urls if _remote(url)]
    assert not remote, "the site fetches from the network:\n" + "\n".join(remote)


@pytest.mark.slow
def test_the_readme_anchors_into_the_manual_exist(site: Path) -> None:
    for link in _local_links(README.read_text(encoding="utf-8")):
        path, _, anchor = link.partition("#")
        if anchor and path.startswith("docs/"):
            page = Path(path).relative_to("docs").with_suffix("")
            html = (site / page / "index.html").read_text(encoding="utf-8")
            assert f'id="{anchor}"' in html, f"README.md links to {link}: no such heading"


@pytest.mark.slow  # one build each
@pytest.mark.parametrize(("broken", "change", "named"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_the_build_fails_on(
    tmp_path: Path, broken: str, change: tuple[str, str], named: str
) -> None:
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    page, text = change
    with (tmp_path / "docs" / page).open("a", encoding="utf-8") as f:
        f.write(text)
    built = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert built.returncode != 0, f"the strict build accepted {broken}"
    assert named in built.stderr


def _remote(url: str) -> bool:
    return url.startswith(("http://", "https://", "//"))
