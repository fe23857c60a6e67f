"""Beam pipeline options: an offline local runner by default, any other runner's flags passed on."""

from apache_beam.options.pipeline_options import PipelineOptions

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
    """A Beam flag that no options class knows, or a value it rejects."""


def check_beam_args(beam_args: list[str]) -> None:
    """Reject unknown and malformed Beam flags before any work. Beam itself drops an unknown flag
    with a warning and runs anyway, so a misspelt `--runner` would quietly run locally."""
    parsers = []

    def strict(parser) -> None:
        def error(message: str) -> None:
            raise BeamFlagError(message)

        parser.error = error
        parsers.append(parser)

    PipelineOptions(beam_args).get_all_options(add_extra_args_fn=strict)
    _, unknown = parsers[0].parse_known_args(beam_args)
    flags = [arg.split("=", 1)[0] for arg in unknown if arg.startswith("-")]
    if unknown:
        raise BeamFlagError(f"unknown flag(s) {', '.join(flags) or ' '.join(unknown)}: neither "
                            "refinery nor Beam's pipeline options know them")


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
