"""A pytest plugin: every log record of the test session is searched for credentials.

Enable it for the whole suite with ``pytest_plugins = ["tests.security.logcapture"]`` in
tests/conftest.py (or ``-p tests.security.logcapture``). A handler on the root logger sees
every record the suite's code logs at the levels in force (tests that capture DEBUG raise
them); at the end of the session a record holding something shaped like an API key, a
webhook secret, a JWT or one of the suite's own secrets fails the run, naming the logger.
Server subprocesses log to their own files: tests/security/test_log_secrets.py covers them.
Under pytest-xdist each worker searches its own records and the controller fails the run.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

import pytest

from tests.support import OLD_SECRET, OTHER_SECRET, TEST_SECRET

SHAPES: Final = (
    re.compile(r"\bncrm_[0-9a-f]{8}_[A-Za-z0-9_-]{16,}"),  # an API key
    re.compile(r"\bwhsec_[A-Za-z0-9+/=]{16,}"),  # a webhook secret
    re.compile(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{16,}"),  # a signed JWT
    *(
        re.compile(re.escape(s.removeprefix("whsec_")))
        for s in (TEST_SECRET, OLD_SECRET, OTHER_SECRET)
    ),
)
MAX_LEAKS = 20


class SecretSearch(logging.Handler):
    """Remembers (at most MAX_LEAKS) records whose text matches a credential shape."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.leaks: list[str] = []
        self.records = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        if len(self.leaks) >= MAX_LEAKS:
            return
        try:
            text = f"{record.getMessage()} {record.exc_text or ''}"
        except Exception:  # a record whose arguments do not format: search its parts
            text = f"{record.msg} {record.args}"
        for shape in SHAPES:
            found = shape.search(text)
            if found:
                self.leaks.append(f"{record.name}: {found.group()[:14]}… ({record.pathname})")
                return


HANDLER = pytest.StashKey[SecretSearch]()
WORKER_LEAKS = pytest.StashKey[list[str]]()
LEAKS_KEY = "credential_leaks"


def pytest_configure(config: pytest.Config) -> None:
    """Attach the searching handler to the root logger for the whole session."""
    handler = SecretSearch()
    logging.getLogger().addHandler(handler)
    config.stash[HANDLER] = handler


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a log record held a credential (an xdist worker tells its leaks)."""
    handler = session.config.stash.get(HANDLER, None)
    if handler is None:
        return
    logging.getLogger().removeHandler(handler)
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # a pytest-xdist worker: the controller reports for all
        worker_output[LEAKS_KEY] = handler.leaks
        return
    leaks = [*handler.leaks, *session.config.stash.get(WORKER_LEAKS, [])]
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "credentials found in log records", red=True)
            for leak in leaks:
                reporter.write_line(leak)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """Collect what an xdist worker found (controller side; the hook is xdist's)."""
    found = getattr(node, "workeroutput", {}).get(LEAKS_KEY, [])
    node.config.stash[WORKER_LEAKS] = [*node.config.stash.get(WORKER_LEAKS, []), *found]
