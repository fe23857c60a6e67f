"""Beam pipeline options: an offline local runner by default, any other runner's flags passed on."""

import difflib
import logging

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

LOG = logging.getLogger(__name__)

# Beam's in-process portable runner. Naming it explicitly keeps DirectRunner from first trying to
# download the Prism runner, so a local rebuild never touches the network.
LOCAL_RUNNER = "FnApiRunner"


def _flag_value(args: list[str], flag: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


class BeamFlagError(ValueError):
    """A Beam flag that looks like a misspelt one, or a value Beam's options reject."""


def _unknown_flags(beam_args: list[str]) -> list[str]:
    """Flags no Beam options class knows, after rejecting malformed ones and near-typos."""
    for arg in beam_args:
        if arg.split("=", 1)[0] in ("--dry_run", "--dry-run", "--dryrun"):
            raise BeamFlagError(f"{arg}: a rebuild has no dry run (Beam's flag is ignored by the "
                                "local runner, which runs for real); `refinery plan CONFIG` shows "
                                "what a rebuild would build, changing nothing")
    parsers = []

    def strict(parser) -> None:
        def error(message: str) -> None:
            raise BeamFlagError(message)

        parser.error = error
        parsers.append(parser)

    PipelineOptions(beam_args).get_all_options(add_extra_args_fn=strict)
    _, unknown = parsers[0].parse_known_args(beam_args)
    known = [flag for action in parsers[0]._actions for flag in action.option_strings]
    flags = [arg.split("=", 1)[0] for arg in unknown if arg.startswith("-")]
    for flag in flags:
        close = difflib.get_close_matches(flag, known, n=1, cutoff=0.85)
        if close:
            raise BeamFlagError(f"unknown flag {flag}; did you mean {close[0]}?")
    return flags


def check_beam_args(beam_args: list[str]) -> None:
    """Reject malformed Beam flags, and unknown ones close to a known name, before any work.

    Beam keeps a flag no options class knows and hands it to the runner (Flink and other job
    servers take their own), so an unknown flag alone is only logged. But a misspelt `--runner`
    would quietly run locally, so a flag within a typo of a known one is an error.
    """
    for flag in _unknown_flags(beam_args):
        LOG.warning("Beam flag %s is not one of Beam's pipeline options; passing it to the runner",
                    flag)


def use_filesystem_flags(beam_args: list[str]) -> None:
    """Beam flags given to a command that only reads or writes the output root (`datasets`,
    `plan`, `rollback`): the filesystems' options, e.g. an S3 endpoint and keys. There is no
    runner to pass other flags to, so an unknown one is an error."""
    unknown = _unknown_flags(beam_args)
    if unknown:
        raise BeamFlagError(f"unrecognized arguments: {' '.join(unknown)}")
    FileSystems.set_options(PipelineOptions(beam_args))


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    """Options for a rebuild. `--direct_num_workers N` (N > 1) runs the local runner on N
    processes unless `--direct_running_mode` says otherwise."""
    args = list(beam_args)
    runner = _flag_value(args, "--runner")
    if runner is None:
        args.append(f"--runner={LOCAL_RUNNER}")
    workers = _flag_value(args, "--direct_num_workers")
    if (runner in (None, LOCAL_RUNNER, "DirectRunner") and workers and int(workers) > 1
            and _flag_value(args, "--direct_running_mode") is None):
        args.append("--direct_running_mode=multi_processing")
    return PipelineOptions(args)
