"""Docs that promise something are checked: every hook has its section."""

from pathlib import Path

from ftdecide import hookspecs

ROOT = Path(__file__).resolve().parents[1]


def hook_names():
    return sorted(n for n in dir(hookspecs) if n.startswith("register_")
                  and hasattr(getattr(hookspecs, n), "ftdecide_spec"))


def test_there_are_hooks():
    assert hook_names() == ["register_commands", "register_metrics", "register_providers"]


def test_every_hook_has_a_section_in_contributing():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    missing = [n for n in hook_names() if f"\n### {n}\n" not in text]
    assert not missing, f"CONTRIBUTING.md has no '### <hook>' section for: {missing}"


def test_every_hook_has_a_docstring_with_params():
    for name in hook_names():
        doc = getattr(hookspecs, name).__doc__ or ""
        assert ":param " in doc and ":return:" in doc, name


def test_readme_quick_start_has_exactly_two_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_layout_table_names_real_files():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    for line in text.splitlines():
        if line.startswith("| `src/") or line.startswith("| `plugins/"):
            first = line.split("`")[1]
            for part in first.split(", "):
                assert (ROOT / part.strip("`")).exists(), part
