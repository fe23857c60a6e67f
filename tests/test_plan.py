"""`refinery plan`: what a rebuild would do and why, changing nothing."""

from pathlib import Path

from pipelines.cli import main


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*")}


def test_plan_says_what_would_change_and_why_without_touching_the_root(full_example_config,
                                                                        capsys):
    config = full_example_config
    assert main(["rebuild", str(config)]) == 0
    capsys.readouterr()
    root = config.parent / "out"
    before = _files(root)
    assert main(["plan", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()[2:]
    assert len(lines) == 11 and all(" unchanged " in line for line in lines)

    config.write_text(config.read_text().replace("retain_classes: 5", "retain_classes: 4"))
    assert main(["plan", str(config)]) == 0
    rows = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert " unchanged " in rows["catalogue"] and " unchanged " in rows["embeddings"]
    assert rows["pruned_source"].split()[3:] == ["build", "config:", "prune.retain_classes"]
    assert "reads pruned_source, which prune would rebuild first" in rows["distilled"]
    assert _files(root) == before


def test_a_stage_that_cannot_run_is_reported_and_exits_2(full_example_config, capsys):
    config = full_example_config
    assert main(["rebuild", str(config), "--stage", "ingest"]) == 0
    capsys.readouterr()
    config.write_text(config.read_text().replace("retain_classes: 5", "retain_classes: 40"))
    assert main(["plan", str(config), "--stage", "prune"]) == 2
    assert "cannot run" in capsys.readouterr().out
