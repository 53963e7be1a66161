"""Fixtures shared by the logging tests."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from server.logs import JsonFormatter


@pytest.fixture()
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, JsonFormatter]]:
    """A logger of its own writing JSON lines into a string, not propagating to the root."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    formatter = JsonFormatter()
    handler.setFormatter(formatter)
    logger = logging.getLogger("toolrelay.test-logs")
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.DEBUG)
    try:
        yield logger, stream, formatter
    finally:
        logger.handlers, logger.filters = [], []
