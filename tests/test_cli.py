"""End to end through the `refinery` CLI, in process, into a temporary root."""

import json
import re
from pathlib import Path

import datasets
import polars as pl
import pytest

from pipelines.cli import main
from pipelines.config import ConfigError, load_config
from pipelines.runner import check_beam_args, pipeline_options
from pipelines.source_checks import check_sources
from transforms.publish import store

BAD_INPUTS = Path(__file__).resolve().parent / "data" / "bad_inputs"


def _latest(root: Path, dataset: str) -> Path:
    return root / dataset / store.latest_version(str(root), dataset)


def test_example_rebuild_publishes_loadable_datasets_and_rerun_is_a_noop(example_config, capsys):
    root = example_config.parent / "out"
    assert main(["rebuild", str(example_config)]) == 0
    first = capsys.readouterr().out
    assert first.count("published") == 4
    target = datasets.load_dataset(str(root / "target"))  # the dataset folder: LATEST
    assert (target["train"].num_rows, target["test"].num_rows) == (80, 40)
    labels = target["train"].features["label"]  # a ClassLabel, the same in both splits
    assert set(labels.int2str(target["train"]["label"])) == {
        "buy_cookware", "buy_kitchen_appliance", "buy_knives", "set_the_table", "kitchen_storage"}
    assert target["test"].features["label"] == labels
    catalogue = datasets.load_dataset(str(_latest(root, "catalogue")))["train"]
    assert catalogue.num_rows == 300 and catalogue[0]["id"].startswith("SKU-")
    manifest = json.loads((_latest(root, "judgements") / "manifest.json").read_text())
    assert manifest["rows"] == 600 and manifest["inputs"][0]["sha256"]
    assert manifest["config"]["sources"][0]["fields"] == {"query": "query", "doc_id": "sku",
                                                          "grade": "rating"}

    versions = {d: store.latest_version(str(root), d) for d in store.list_datasets(str(root))}
    assert main(["rebuild", str(example_config)]) == 0
    second = capsys.readouterr()
    assert "nothing to do" in second.err
    assert second.out.count("unchanged") == 4
    assert {d: store.latest_version(str(root), d) for d in versions} == versions


def test_changed_input_publishes_a_new_version_and_diff_shows_it(tmp_path, capsys):
    data = tmp_path / "docs.csv"
    data.write_text("text,label\nalpha,a\nbeta,b\nunlabelled,\n")
    config = tmp_path / "rebuild.yaml"
    config.write_text(f"output_root: {tmp_path / 'out'}\n"
                      f"sources:\n  - {{name: docs, path: {data}, format: csv}}\n")
    assert main(["rebuild", str(config)]) == 0
    root = tmp_path / "out"
    old = store.latest_version(str(root), "docs")
    data.write_text("text,label\nalpha,a\nbeta,b\nunlabelled,\ngamma,b\n")
    assert main(["rebuild", str(config)]) == 0
    new = store.latest_version(str(root), "docs")
    assert new != old and store.list_versions(str(root), "docs") == [old, new]
    capsys.readouterr()

    assert main(["datasets", "diff", f"{root}/docs@{old}", f"{root}/docs"]) == 0
    diff = capsys.readouterr().out
    assert "content differs" in diff and "train  3  4  1" in diff
    assert "label  a  b  change\n" in diff and "b      1  2  1" in diff
    assert "(none)" not in diff, "unchanged null labels are no change"

    assert main(["datasets", "list", str(root)]) == 0
    listing = capsys.readouterr().out
    assert new in listing and "docs" in listing
    assert main(["datasets", "versions", f"{root}/docs"]) == 0
    versions = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in versions[2:]] == [[old, "3"], [new, "4"]]
    assert versions[3].endswith("*") and not versions[2].endswith("*")
    assert main(["datasets", "show", f"{root}/docs@{old}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == old
    assert main(["datasets", "show", f"{root}/docs@{old}"]) == 0
    summary = capsys.readouterr().out
    assert summary.startswith(f"docs@{old}  (document, stage ingest)")
    assert "rows:        3 (train 3)" in summary and "validation:  passed" in summary
    assert main(["datasets", "diff", f"{root}/docs@{old}", f"{root}/docs", "--limit", "1"]) == 0
    assert "… and " not in capsys.readouterr().out  # one label changed: nothing cut
    assert main(["datasets", "list", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err


def test_bad_inputs_every_good_row_published_every_bad_row_dead_lettered(tmp_path, capsys):
    config = tmp_path / "rebuild.yaml"
    config.write_text(f"""
output_root: {tmp_path / 'out'}
sources:
  - {{name: bad_jsonl, path: "{BAD_INPUTS}/*.jsonl", format: jsonl, dataset: products,
     fields: {{id: sku, label: category}}}}
  - {{name: bad_csv, path: "{BAD_INPUTS}/*.csv", format: csv, dataset: products, split: extra,
     fields: {{id: sku, label: category}}}}
  - {{name: bad_parquet, path: "{BAD_INPUTS}/*.parquet", format: parquet, dataset: products,
     split: extra_parquet, fields: {{id: sku, label: category}}}}
stages:
  ingest: {{max_text_length: 200}}
""")
    assert main(["rebuild", str(config)]) == 0
    [counters] = [line for line in capsys.readouterr().err.splitlines() if "ingest counters" in line]
    root = tmp_path / "out"
    products = datasets.load_dataset(str(_latest(root, "products")))
    published = sorted(id_ for split in products.values() for id_ in split["id"])
    assert published == sorted(f"good-{i}" for i in range(1, 21))

    dead_dir = _latest(root, "dead_letter_ingest")
    dead = pl.read_parquet(dead_dir / "data" / "*.parquet")
    assert dead.height == 11
    for row in dead.iter_rows(named=True):
        assert row["reason"] == Path(row["file"]).stem, row
        assert row["row"] is not None and row["detail"] and row["stage"] == "ingest"
        assert row["field"] == {"unparseable": None, "duplicate_id_conflict": "id"}.get(
            row["reason"], "text"), row
    manifest = json.loads((_latest(root, "products") / "manifest.json").read_text())
    drop_counts = {"duplicate_exact": 1, "duplicate_id_conflict": 1, "empty_field": 1,
                   "missing_field": 1, "text_too_long": 1, "undecodable_bytes": 3,
                   "unparseable": 3, "wrong_type": 1}
    assert manifest["drop_counts"] == drop_counts
    counted = {reason: sum(int(n) for n in re.findall(rf"\.{reason}=(\d+)", counters))
               for reason in drop_counts}
    assert counted == drop_counts, counters


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("output_root: out\nsources: []\nbogus: 1\n", "bogus: unknown key"),
    ("output_root: out\nseed: many\nsources: [{name: a, path: x.csv, format: csv}]\n",
     "seed: Input should be a valid integer"),
    ("output_root: out\nsources: [{name: a, path: missing.csv, format: csv}]\n",
     "sources[0].path: no file matches"),
    ("output_root: out\nsources: [{name: a, path: x.csv, format: xml}]\n", "sources[0].format"),
    ("output_root: out\nsources: [{name: a, path: x.csv, format: csv, fields: {txt: b}}]\n",
     "sources[0].fields: unknown canonical field(s) ['txt']"),
    (("output_root: out\nsources: [{name: a, path: x.csv, format: csv}]\n"
      "stages: {ingest: {max_text_length: 0}}\n"), "stages.ingest.max_text_length"),
    ("output_root: [unclosed\n", "rebuild.yaml:2:1: not valid YAML: expected ',' or ']'"),
    ("output_root: out\nseed: 1\nseed: 2\nsources: []\n",
     "rebuild.yaml:3:1: not valid YAML: duplicate key 'seed'"),
    ("output_root: out\nsources: [{name: a, path: ., format: csv}]\n",
     "is a folder; use a glob such as"),
    ("output_root: nofs://bucket/out\nsources: [{name: a, path: x.csv, format: csv}]\n",
     "output_root: cannot use 'nofs://bucket/out'"),
    ("output_root: out\nsources: [{name: a, path: x.csv, format: csv, fields: {text: txt}}]\n",
     "sources[0].fields.text: column 'txt' is not in"),
    ("output_root: out\nsources: [{name: a, path: x.csv, format: csv, kind: judgement}]\n",
     "sources[0]: required field 'query' is not mapped and column 'query' is not in"),
])
def test_config_errors_exit_2_naming_the_key(tmp_path, capsys, yaml_text, message):
    (tmp_path / "x.csv").write_text("text\nhello\n")
    config = tmp_path / "rebuild.yaml"
    config.write_text(yaml_text)
    assert main(["rebuild", str(config)]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not (tmp_path / "out").exists()


def test_saved_dataset_dict_without_its_split_is_a_config_error(tmp_path, capsys):
    splits = {"train": datasets.Dataset.from_dict({"text": ["a"]}),
              "test": datasets.Dataset.from_dict({"text": ["b"]})}
    datasets.DatasetDict(splits).save_to_disk(str(tmp_path / "saved"))
    config = tmp_path / "rebuild.yaml"
    for split, problem in ((None, "hf_split is not set"), ("dev", "'dev' is not one of them")):
        source = {"name": "a", "path": "saved", "format": "hf", "hf_split": split}
        config.write_text(f"output_root: out\nsources: [{json.dumps(source)}]\n")
        assert main(["rebuild", str(config)]) == 2
        err = capsys.readouterr().err
        assert "sources[0].hf_split: the saved DatasetDict has splits ['train', 'test']" in err, err
        assert problem in err
    assert not (tmp_path / "out").exists()


def test_yaml_anchors_and_merge_keys_load(tmp_path):
    (tmp_path / "x.csv").write_text("text\nhello\n")
    config = tmp_path / "rebuild.yaml"
    config.write_text("output_root: out\ncsv: &csv {path: x.csv, format: csv}\n"
                      "sources:\n  - <<: *csv\n    name: a\n    path: x.csv\n")
    with pytest.raises(ConfigError, match="csv: unknown key"):
        load_config(config)
    config.write_text("output_root: out\nsources:\n  - &a {name: a, path: x.csv, format: csv}\n"
                      "  - {<<: *a, name: b, dataset: b}\n")
    assert [s.name for s in load_config(config).sources] == ["a", "b"]


def test_a_mapped_optional_column_missing_from_the_first_file_is_only_a_warning(tmp_path,
                                                                                caplog):
    (tmp_path / "a.csv").write_text("text\nhello\n")
    (tmp_path / "b.csv").write_text("text,cat\nhi,x\n")
    config = tmp_path / "rebuild.yaml"
    config.write_text("output_root: out\nsources: [{name: a, path: '*.csv', format: csv, "
                      "fields: {label: cat}}]\n")
    loaded = load_config(config)
    check_sources(loaded, config)
    assert loaded.sources[0].fields == {"label": "cat"}
    assert "fields.label: column 'cat' is not in" in caplog.text


def test_unknown_stage_and_missing_config_exit_2(tmp_path, capsys):
    assert main(["rebuild", str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert main(["rebuild", str(tmp_path / "nope.yaml"), "--stage", "polish"]) == 2
    assert "unknown stage 'polish'" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "message"), [
    (["--runer", "DataflowRunner"], "unknown flag --runer; did you mean --runner?"),
    (["--num_worker", "4"], "did you mean --num_workers?"),
    (["--direct_num_workers", "two"], "invalid int value: 'two'"),
    (["--dry-run"], "refinery plan CONFIG"),
    (["--dry_run=true"], "refinery plan CONFIG"),
])
def test_unknown_or_malformed_beam_flags_exit_2_before_any_work(example_config, capsys, flags,
                                                                message):
    assert main(["rebuild", str(example_config), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (example_config.parent / "out").exists()


def test_dataflow_flags_pass_through_and_the_local_runner_is_the_default():
    dataflow = ["--runner", "DataflowRunner", "--project", "p", "--region", "europe-west1",
                "--temp_location", "gs://b/tmp", "--sdk_container_image", "image",
                "--extra_package", "dist/refinery.tar.gz", "--machine_type", "n1-standard-4"]
    check_beam_args(dataflow)
    check_beam_args(["--runner=FlinkRunner", "--checkpointing_interval", "60000"])  # job server's
    options = pipeline_options(dataflow).get_all_options()
    assert (options["runner"], options["region"], options["machine_type"]) == (
        "DataflowRunner", "europe-west1", "n1-standard-4")
    local = pipeline_options(["--direct_num_workers", "2"]).get_all_options()
    assert (local["runner"], local["direct_running_mode"]) == ("FnApiRunner", "multi_processing")
    assert pipeline_options([]).get_all_options()["direct_running_mode"] == "in_memory"


@pytest.mark.parametrize("flags, message", [
    (["--no_such_flag", "1"], "unrecognized arguments: --no_such_flag"),
    (["--s3_regoin_name", "eu-west-1"], "did you mean --s3_region_name?"),
])
def test_commands_that_only_read_the_root_take_only_filesystem_flags(tmp_path, capsys, flags,
                                                                     message):
    with pytest.raises(SystemExit) as usage:
        main(["datasets", "list", str(tmp_path), *flags])
    assert usage.value.code == 2
    assert message in capsys.readouterr().err
    assert main(["datasets", "list", str(tmp_path), "--s3_region_name", "eu-west-1"]) == 0
    assert "no published datasets" in capsys.readouterr().out


def test_local_runner_with_several_worker_processes(example_config, capsys):
    assert main(["rebuild", str(example_config), "--direct_num_workers", "2"]) == 0
    assert capsys.readouterr().out.count("published") == 4


def test_failed_validation_exits_1_and_leaves_latest_untouched(example_config, capsys,
                                                               monkeypatch):
    from schemas import datasets as contracts
    from schemas.datasets import Expectation

    root = example_config.parent / "out"
    assert main(["rebuild", str(example_config)]) == 0
    before = {d: store.latest_version(str(root), d) for d in store.list_datasets(str(root))}
    strict = contracts.CONTRACTS["document"]
    monkeypatch.setitem(contracts.CONTRACTS, "document", type(strict)(
        kind="document", schema=strict.schema,
        expectations=(Expectation("ExpectColumnValueLengthsToBeBetween",
                                  {"column": "text", "max_value": 20}),)))
    example_config.write_text(example_config.read_text().replace("max_text_length: 2000",
                                                                 "max_text_length: 1999"))
    capsys.readouterr()
    assert main(["rebuild", str(example_config)]) == 1
    err = capsys.readouterr().err
    assert "rebuild failed: publish failed: validation did not pass" in err
    assert "validation.json" in err
    assert "Traceback" not in err
    assert {d: store.latest_version(str(root), d) for d in before} == before
    assert all(len(store.list_versions(str(root), d)) == 1 for d in before)


def test_crash_before_promote_then_rerun_publishes(example_config, capsys, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(store, "promote", crash)
    assert main(["rebuild", str(example_config)]) == 1
    assert "worker lost" in capsys.readouterr().err
    root = example_config.parent / "out"
    assert all(store.latest_version(str(root), d) is None for d in store.list_datasets(str(root)))
    monkeypatch.undo()
    assert main(["rebuild", str(example_config)]) == 0
    assert capsys.readouterr().out.count("published") == 4


def test_a_source_file_that_changes_during_the_run_publishes_nothing(tmp_path, capsys,
                                                                     monkeypatch):
    from pipelines.stages.ingest import IngestStage

    source = tmp_path / "docs.jsonl"
    source.write_text('{"text": "first"}\n')
    config = tmp_path / "rebuild.yaml"
    config.write_text("output_root: out\nsources: [{name: docs, path: docs.jsonl, format: jsonl}]\n")
    planned = IngestStage.plan

    def plan_then_change_the_file(self, *args):
        plan = planned(self, *args)
        with source.open("a") as handle:  # rewritten after it was hashed, before it is read
            handle.write('{"text": "second"}\n')
        return plan

    monkeypatch.setattr(IngestStage, "plan", plan_then_change_the_file)
    assert main(["rebuild", str(config)]) == 1
    err = capsys.readouterr().err
    assert "source file(s) changed while the run read them" in err and "docs.jsonl" in err, err
    assert store.latest_version(str(tmp_path / "out"), "docs") is None


@pytest.mark.parametrize("content, fmt, message", [
    ('[{"text": "a"},\n {"text": "b"}]\n', "jsonl", "it looks like a JSON array"),
    ('{\n  "rows": [{"text": "a"}]\n}\n', "jsonl", "one JSON object spread over several lines"),
    ('{"text": "a"}\n', "parquet", "is not a Parquet file"),
])
def test_a_source_in_another_format_is_refused_before_any_work(tmp_path, capsys, content, fmt,
                                                               message):
    (tmp_path / "data.json").write_text(content)
    config = tmp_path / "rebuild.yaml"
    config.write_text(f"output_root: out\nsources: [{{name: a, path: data.json, format: {fmt}}}]\n")
    assert main(["rebuild", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"sources[0].format: {tmp_path / 'data.json'} is not" in err and message in err, err
    assert not (tmp_path / "out").exists()


def test_too_many_bad_rows_fail_ingest_and_publish_nothing(tmp_path, capsys):
    (tmp_path / "docs.jsonl").write_text('{"text": "good"}\n{"txt": "bad"}\n{"txt": "bad"}\n')
    config = tmp_path / "rebuild.yaml"
    config.write_text("output_root: out\nsources: [{name: docs, path: docs.jsonl, format: jsonl}]\n")
    assert main(["rebuild", str(config)]) == 1
    err = capsys.readouterr().err
    assert "source docs: 2 of 3 rows read (67%) went to dead letter" in err, err
    assert store.latest_version(str(tmp_path / "out"), "docs") is None
    config.write_text(config.read_text().replace("format: jsonl", "format: jsonl, "
                                                 "max_bad_row_fraction: 1"))
    assert main(["rebuild", str(config)]) == 0


def test_a_later_stage_failing_after_earlier_ones_published_exits_3(tmp_path, capsys):
    (tmp_path / "docs.jsonl").write_text('{"text": "good"}\n')
    config = tmp_path / "rebuild.yaml"
    config.write_text("output_root: out\nsources: [{name: docs, path: docs.jsonl, format: jsonl}]\n"
                      "stages: {embed: {datasets: [docs], model: nobody/no-such-model}}\n")
    assert main(["rebuild", str(config)]) == 3
    captured = capsys.readouterr()
    assert "rebuild failed at stage embed, after earlier stages published" in captured.err
    assert "docs" in captured.out  # the summary of what did publish
    assert store.latest_version(str(tmp_path / "out"), "docs") is not None


def test_moving_latest_back_to_a_published_version_says_re_pointed(example_config, capsys):
    assert main(["rebuild", str(example_config)]) == 0
    text = example_config.read_text()
    example_config.write_text(text.replace("max_text_length: 2000", "max_text_length: 1999"))
    assert main(["rebuild", str(example_config)]) == 0
    capsys.readouterr()
    example_config.write_text(text)
    assert main(["rebuild", str(example_config)]) == 0
    captured = capsys.readouterr()
    rows = [line.split() for line in captured.out.splitlines()[2:]]
    assert {row[3] for row in rows} == {"re-pointed"} and len(rows) == 4
    assert "ingest: LATEST re-pointed to catalogue@" in captured.err


def test_rollback_moves_a_stage_back_together_and_list_flags_a_mixed_stage(example_config,
                                                                           capsys):
    root = example_config.parent / "out"
    assert main(["rebuild", str(example_config)]) == 0
    first = {d: store.latest_version(str(root), d) for d in store.list_datasets(str(root))}
    example_config.write_text(example_config.read_text().replace("max_text_length: 2000",
                                                                 "max_text_length: 1999"))
    assert main(["rebuild", str(example_config)]) == 0
    capsys.readouterr()
    assert main(["rollback", str(root), "ingest"]) == 0
    out = capsys.readouterr().out
    assert out.count("re-pointed") == 4
    assert {d: store.latest_version(str(root), d) for d in first} == first

    other = next(v for v in store.list_versions(str(root), "catalogue") if v != first["catalogue"])
    (root / "catalogue" / "LATEST").write_text(other)  # one dataset moved by hand
    assert main(["datasets", "list", str(root)]) == 0
    assert "warning: stage ingest: datasets from different runs (catalogue is at" in (
        capsys.readouterr().err)
    assert main(["rollback", str(root), "ingest", "--to", "nope"]) == 2
    assert "no run of stage 'ingest' is 'nope'" in capsys.readouterr().err
