"""The Python API: the CLI's rebuild for schedulers, with exceptions instead of exit codes."""

import logging

import pytest

import refinery


def test_rebuild_returns_the_summary_and_leaves_the_hosts_logging_alone(example_config):
    handler = logging.StreamHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        summary = refinery.rebuild(example_config)
        assert {row.dataset for row in summary} == {"catalogue", "target", "judgements",
                                                    "dead_letter_ingest"}
        assert {row.status for row in summary} == {"published"}
        assert {row.status for row in refinery.rebuild(str(example_config))} == {"unchanged"}
        assert handler in root.handlers
    finally:
        root.removeHandler(handler)


@pytest.mark.parametrize("kwargs, message", [
    ({"stage": "nope"}, "unknown stage 'nope'"),
    ({"beam_args": ["--runer", "DataflowRunner"]}, "did you mean --runner"),
])
def test_bad_arguments_are_config_errors_before_any_work(example_config, kwargs, message):
    with pytest.raises(refinery.ConfigError, match=message):
        refinery.rebuild(example_config, **kwargs)
    assert not (example_config.parent / "out").exists()
