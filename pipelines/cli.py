"""`refinery` command line: rebuild datasets from a config and inspect what was published.

Exit codes, one meaning each: 0 success (including a no-op rebuild); 1 the run failed and
nothing was published by it; 2 the config, the command line or a stage's inputs are wrong and no
work started; 3 a stage failed after earlier stages of the same run had published (those stay
published and current; the failing stage published nothing).
"""

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

# Beam logs an import-time warning through the root logger, which would configure it and print
# before `_configure_logging` runs; a handler on the root logger keeps that from happening.
logging.getLogger().addHandler(logging.NullHandler())

# Beam, torch and the stages are imported by the commands that need them, so `--help` and the
# `datasets` commands start in a fraction of a second.
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LATER_STAGE_FAILED = 3


def _reason(error: Exception) -> str:
    """The cause in one line: Beam wraps a worker's error in its own traceback text."""
    message = str(error)
    marker = message.find("publish failed:")
    lines = (message[marker:] if marker >= 0 else message).splitlines() or [repr(error)]
    return lines[0] if marker >= 0 else lines[-1]


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[("" if r.get(c) is None else f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]))
              for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _summary_of(manifest: dict[str, Any]) -> str:
    """The manifest facts a person looks for first; `--json` gives all of it."""
    def listed(pairs: list[str]) -> str:
        return ", ".join(pairs) or "-"

    splits = listed([f"{name} {info['rows']:,}" for name, info in manifest["splits"].items()])
    validation = manifest["validation"]
    drops = manifest.get("drop_counts") or {}
    lines = [
        (f"{manifest['dataset']}@{manifest['version']}  ({manifest['kind']}, "
         f"stage {manifest['stage']})"),
        f"  rows:        {manifest['rows']:,} ({splits})",
        f"  created:     {manifest.get('created_at')}  run {manifest.get('run_id')}",
        f"  code:        {manifest.get('code_version')}  git {manifest.get('git_commit')}",
        f"  parents:     {listed([f'{k}@{v}' for k, v in manifest.get('parents', {}).items()])}",
        f"  inputs:      {listed([i['path'] for i in manifest.get('inputs', [])])}",
        f"  models:      {listed([f'{k} {v}' for k, v in manifest.get('models', {}).items()])}",
        (f"  validation:  {'passed' if validation['success'] else 'FAILED'} "
         f"({validation['evaluated']} expectations)"),
        f"  dropped:     {listed([f'{k} {v:,}' for k, v in drops.items()])}",
        f"  content:     {manifest['content_hash']}",
    ]
    return "\n".join(lines)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", force=True,
                        datefmt="%H:%M:%S", stream=sys.stderr)
    from pipelines.logging_setup import drop_beam_import_notice

    drop_beam_import_notice()  # every command that touches the store imports Beam
    for name in ("pipelines", "transforms"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)


def _rebuild(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.logging_setup import quiet_libraries

    quiet_libraries(args.verbose)  # before Beam is imported: it logs a notice on import
    from pipelines.config import ConfigError
    from pipelines.rebuild import LaterStageFailed, rebuild
    from pipelines.runner import BeamFlagError, check_beam_args
    from pipelines.source_checks import load_checked_config
    from pipelines.stages import STAGES
    from pipelines.stages.contract import PlanError

    if args.stage and args.stage not in STAGES:
        print(f"error: unknown stage {args.stage!r}; known: {', '.join(STAGES)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        check_beam_args(beam_args)
    except BeamFlagError as error:
        print(f"error: Beam flags: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = load_checked_config(args.config)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        summary = rebuild(config, args.stage, beam_args)
    except LaterStageFailed as error:
        logging.getLogger("pipelines").debug("rebuild failed", exc_info=True)
        print(_table([vars(row) for row in error.published],
                     ["stage", "dataset", "version", "status", "rows", "path"]))
        print(f"rebuild failed at stage {error.stage}, after earlier stages published (above): "
              f"{_reason(error.cause)}", file=sys.stderr)
        return EXIT_LATER_STAGE_FAILED
    except PlanError as error:
        print(f"rebuild failed: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:  # Beam wraps worker errors; show the cause, not the traceback
        logging.getLogger("pipelines").debug("rebuild failed", exc_info=True)
        print(f"rebuild failed: {_reason(error)}", file=sys.stderr)
        return EXIT_FAILED
    print(_table([vars(row) for row in summary],
                 ["stage", "dataset", "version", "status", "rows", "path"]))
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from transforms.publish import catalog

    try:
        rows = catalog.rollback(args.root, args.stage, args.to)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(_table(rows, ["dataset", "from", "to", "status"]))
    return 0


def _plan(args: argparse.Namespace) -> int:
    from pipelines.logging_setup import quiet_libraries

    quiet_libraries(args.verbose)
    from pipelines.config import ConfigError
    from pipelines.plan import plan
    from pipelines.source_checks import load_checked_config
    from pipelines.stages.contract import PlanError

    try:
        config = load_checked_config(args.config)
        rows = plan(config, args.stage)
    except (ConfigError, PlanError) as error:
        print(f"config error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(_table([vars(row) for row in rows], ["stage", "dataset", "version", "status", "why"]))
    return EXIT_USAGE if any(row.status == "cannot run" for row in rows) else 0


def _datasets(args: argparse.Namespace) -> int:
    from transforms.publish import catalog, store

    try:
        if args.action == "list":
            rows = catalog.list_datasets(args.root)
            if not rows:
                print(f"no published datasets under {args.root}")
                return 0
            print(_table(rows, ["dataset", "latest", "versions", "rows", "stage", "created_at"]))
            for row in rows:
                if row.get("problem"):
                    print(f"warning: {row['dataset']}: {row['problem']}", file=sys.stderr)
            for problem in catalog.mixed_stages(args.root):
                print(f"warning: {problem}", file=sys.stderr)
        elif args.action == "versions":
            root, _, dataset = args.dataset.rstrip("/").rpartition("/")
            rows = catalog.list_versions(root, dataset)
            if not rows:
                raise ValueError(f"{args.dataset!r}: no published versions")
            print(_table(rows, ["version", "rows", "created_at", "git_commit", "current"]))
        elif args.action == "show":
            ref = catalog.parse_ref(args.ref)
            manifest = store.read_manifest(ref.root, ref.dataset, ref.version)
            print(json.dumps(manifest, indent=2) if args.json else _summary_of(manifest))
        else:
            result = catalog.diff(catalog.parse_ref(args.a), catalog.parse_ref(args.b))
            print(f"{result['a']}  ->  {result['b']}"
                  f"   (content {'identical' if result['content_equal'] else 'differs'})\n")
            print(_table(result["rows"], ["split", "a", "b", "change"]))
            schema = result["schema"]
            print("\nschema: " + ("unchanged" if not any(schema.values()) else
                                  "; ".join(f"{k}: {v}" for k, v in schema.items() if v)))
            if result["label_column"]:
                labels = result["labels"]
                shown = labels[:args.limit] if args.limit else labels
                print(f"\n{result['label_column']} distribution changes, largest first:")
                print(_table(shown, [result["label_column"], "a", "b", "change"])
                      if labels else "  none")
                if len(shown) < len(labels):
                    print(f"… and {len(labels) - len(shown):,} more (--limit 0 shows all)")
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="refinery", description="Rebuild versioned, validated fine-tuning datasets.")
    verbose = argparse.ArgumentParser(add_help=False)  # -v before or after the command
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="debug logging")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)
    rebuild = commands.add_parser(
        "rebuild", parents=[verbose], help="run the stages of a config and publish their datasets",
        description="Any flag not listed here goes to Beam (e.g. --runner DataflowRunner, "
                    "--direct_num_workers 2).")
    rebuild.add_argument("config", help="rebuild config (YAML)")
    rebuild.add_argument("--stage", help="run only this stage")
    planning = commands.add_parser(
        "plan", parents=[verbose], help="what a rebuild would build or find unchanged, and why; "
        "changes nothing")
    planning.add_argument("config", help="rebuild config (YAML)")
    planning.add_argument("--stage", help="plan only this stage")
    rollback = commands.add_parser(
        "rollback", parents=[verbose], help="point every dataset of a stage back to the versions "
        "an earlier run made current, together")
    rollback.add_argument("root", help="the output root")
    rollback.add_argument("stage", help="the stage whose datasets move")
    rollback.add_argument("--to", help="a run id or a version of that run (default: the run "
                          "before the current one)")
    datasets = commands.add_parser("datasets", parents=[verbose], help="inspect published datasets")
    actions = datasets.add_subparsers(dest="action", required=True)
    def action(name: str, help: str) -> argparse.ArgumentParser:
        return actions.add_parser(name, parents=[verbose], help=help)

    action("list", "datasets under a root").add_argument("root")
    action("versions", "a dataset's published versions; * marks LATEST").add_argument(
        "dataset", help="ROOT/DATASET")
    show = action("show", "a version's summary (LATEST by default)")
    show.add_argument("ref", help="ROOT/DATASET[@VERSION]")
    show.add_argument("--json", action="store_true", help="the whole manifest, as JSON")
    diff = action("diff", "compare two versions")
    diff.add_argument("a", help="ROOT/DATASET[@VERSION]")
    diff.add_argument("b", help="ROOT/DATASET[@VERSION]")
    diff.add_argument("--limit", type=int, default=20,
                      help="label changes to show, largest first (0: all; default 20)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "rebuild":
        from pipelines.logging_setup import drop_beam_import_notice

        drop_beam_import_notice()
        # Beam logs each flag it cannot parse before the one-line error below says it.
        logging.getLogger("apache_beam").setLevel(
            logging.WARNING if args.verbose else logging.CRITICAL)
        from pipelines.runner import BeamFlagError, use_filesystem_flags

        try:  # e.g. --s3_endpoint_url for a root on an S3-compatible store
            use_filesystem_flags(extra)
        except BeamFlagError as error:
            parser.error(str(error))
    _configure_logging(args.verbose)
    if args.command == "rebuild":
        return _rebuild(args, extra)
    if args.command == "plan":
        return _plan(args)
    if args.command == "rollback":
        return _rollback(args)
    return _datasets(args)


if __name__ == "__main__":
    sys.exit(main())
