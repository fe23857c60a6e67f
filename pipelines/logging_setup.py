"""Readable output for a rebuild: refinery's own progress lines at INFO, the libraries it runs
(Beam, Great Expectations, transformers) quiet unless asked to be verbose."""

import logging
import warnings


class DropBeamImportNotice(logging.Filter):
    """Beam logs `apitools not found …` through the root logger when its GCP modules import
    without the `gcp` extra; a local rebuild does not need them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


def drop_beam_import_notice() -> None:
    root = logging.getLogger()
    if not any(isinstance(f, DropBeamImportNotice) for f in root.filters):
        root.addFilter(DropBeamImportNotice())


def quiet_libraries(verbose: bool) -> None:
    drop_beam_import_notice()
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    # Beam logs a worker's traceback at ERROR before the caller reports the cause in one line.
    logging.getLogger("apache_beam").setLevel(logging.WARNING if verbose else logging.CRITICAL)
    for name in ("pipelines", "transforms"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)
    if verbose:
        return
    from transformers.utils import logging as transformers_logging

    # A bar and a load report per model load would bury the stage progress lines.
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", message="Version v4.12.0 introduces a better way",
                            category=FutureWarning)  # qgen trains its own encoder-decoder
