"""Structured logging for the app and every library logger (uvicorn, SQLAlchemy, ...).

Each line emitted while a request is served carries its request id. LOG_FORMAT picks
human-readable console lines or one JSON object per line.
"""

import logging
import sys

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from ..edge.request_id import request_id_var
from .tracing import add_trace_id


def _add_request_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    request_id = request_id_var.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def configure_logging(level: str, log_format: str, *, tracing: bool = False) -> None:
    """`tracing`: lines logged inside a span carry its trace_id (OpenTelemetry is on)."""
    shared: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _add_request_id,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # Tracebacks without local variables: those hold request headers, tokens and passwords.
    renderer: list[Processor] = (
        [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.JSONRenderer(),
        ]
        if log_format == "json"
        else [
            structlog.dev.ConsoleRenderer(
                colors=sys.stdout.isatty(), exception_formatter=structlog.dev.plain_traceback
            )
        ]
    )
    structlog.configure(
        # filter_by_level first: a line below LOG_LEVEL (the access line, at WARNING) costs
        # one level check, not the whole chain.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # Here, with the handler, not in the loggers' chain: loggers keep the chain
                # they were first used with, and the handler is replaced at each configuration.
                *([add_trace_id] if tracing else []),
                *renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # Library loggers that bring their own handlers would print every line twice.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # The app writes its own access line (with route template and request id).
    logging.getLogger("uvicorn.access").handlers = []
    logging.getLogger("uvicorn.access").propagate = False
