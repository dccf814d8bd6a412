"""The documents hold to the code: every `make` target and every `group=option` that README.md
or a page in docs/ names exists, every relative link and image resolves, and README and
benchmarks/RESULTS.md stay short enough to read in one pass. Text only, no imports of cnnlab."""

import fnmatch
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"

# Pages another branch adds; README links them already. Checked like any page once present.
EXPECTED_FROM_OTHER_BRANCHES = {"docs/notes.md"}

# Names the documents show on purpose as what a user gets wrong (the one-line error examples).
DELIBERATELY_UNKNOWN = {("model", "lenet")}

FENCED = re.compile(r"```.*?```", re.S)
CODE = re.compile(rf"{FENCED.pattern}|`[^`\n]+`", re.S)
MAKE = re.compile(r"\bmake((?:\s+[A-Z_]+=\S+)*)\s+([a-z][\w-]*\*?)")  # `make bench-*`: a glob
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def code_of(page: Path) -> str:
    """The page's code: fenced blocks and inline spans, where commands and overrides live."""
    return "\n".join(CODE.findall(page.read_text()))


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z0-9_-]+):", (ROOT / "Makefile").read_text(), re.M))


def config_groups() -> dict[str, set[str]]:
    """Each folder of conf/ is a group; its YAML files are the options."""
    return {
        folder.name: {option.stem for option in folder.glob("*.yaml")}
        for folder in (ROOT / "conf").iterdir()
        if folder.is_dir() and folder.name != "hydra"
    }


def group_options(text: str, groups: set[str]) -> set[tuple[str, str]]:
    """(group, option) for every `group=a,b` in text, not preceded by a dotted or slashed key
    (`viz.model=random:vgg11` and `hydra/launcher=joblib` are keys, not groups of conf/)."""
    named = re.findall(rf"(?<![\w./-])({'|'.join(groups)})=([\w,]+)", text)
    return {(group, option) for group, options in named for option in options.split(",")}


def github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_make_target_a_page_names_exists(page):
    targets = make_targets()
    named = {target for _, target in MAKE.findall(code_of(page))}
    missing = {name for name in named if not fnmatch.filter(targets, name)}
    assert missing == set(), f"{page.name} names make targets the Makefile lacks"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_config_group_option_a_page_names_exists(page):
    groups = config_groups()
    named = group_options(code_of(page), set(groups)) - DELIBERATELY_UNKNOWN
    missing = {f"{g}={o}" for g, o in named if o not in groups[g]}
    assert missing == set(), f"{page.name} names config options conf/ lacks"


def test_the_deliberately_wrong_examples_are_still_wrong():
    groups = config_groups()
    assert all(option not in groups[group] for group, option in DELIBERATELY_UNKNOWN)


def test_the_option_finder_reads_groups_and_skips_keys():
    text = 'make sweep ARGS="model=lenet5,simple_convnet viz.model=random:vgg11 hydra/launcher=x"'
    found = group_options(text, {"model", "launcher"})
    assert found == {("model", "lenet5"), ("model", "simple_convnet")}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_and_image_resolves(page):
    broken = []
    for target in LINK.findall(CODE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: checked by no one offline
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        name = file.relative_to(ROOT).as_posix() if file.is_relative_to(ROOT) else str(file)
        if not file.exists():
            if name not in EXPECTED_FROM_OTHER_BRANCHES:
                broken.append(target)
        elif anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", FENCED.sub("", file.read_text()), re.M)
            if anchor not in {github_anchor(h) for h in headings}:
                broken.append(target)
    assert broken == [], f"{page.name} links to what does not exist"


def test_readme_table_lists_every_make_target():
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `([\w-]+)` \|", readme, re.M))
    assert make_targets() - {"help"} - listed == set(), "README's target table misses targets"


def test_readme_links_every_page_in_docs():
    readme = (ROOT / "README.md").read_text()
    assert [p.name for p in DOCS if f"docs/{p.name}" not in readme] == []
    assert DOCS, "docs/ holds the reference pages"


def test_readme_and_results_read_in_one_pass():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
    assert len(RESULTS.read_text().splitlines()) <= 300


HISTORY = re.compile(
    r"this round|earlier that day|before this version|a later round|first round|second round"
    r"|third round|no longer",
    re.I,
)


@pytest.mark.parametrize("page", [*PAGES, RESULTS], ids=lambda p: p.name)
def test_documents_describe_the_software_as_it_is(page):
    assert HISTORY.findall(page.read_text()) == [], "history belongs in commit messages"
