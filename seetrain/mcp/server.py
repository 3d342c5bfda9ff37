"""The MCP server of ``seetrain mcp`` (the official ``mcp`` SDK, imported here only): the tools of
:class:`~seetrain.mcp.tools.Tools`, over stdio or streamable HTTP (loopback by default).

Every tool answers JSON text within the token budget; a bad argument or a run that is not there
is an MCP tool error (``isError``) whose text says what to pass instead, never a crash.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import typing
from typing import Any, Callable, Optional

from ..transport import ServerError
from .budget import ToolInputError, respond
from .tools import Tools

TOOL_NAMES = ("list_projects", "list_runs", "get_run", "get_metric_history", "compare_runs", "query_sql",
              "tail_console", "get_events")

log = logging.getLogger("seetrain.mcp")


def instructions(tools: Tools, writes: bool) -> str:
    return (f"SeeTrain experiment runs from {tools.source.where} ({'a log directory' if tools.source.offline else 'a server'}). "
            "Start with list_projects / list_runs, then get_run for one run's config, summary and metric keys; "
            "get_metric_history for curves (bucketed with min/max: spikes survive), compare_runs for several runs, "
            "get_events(event='alert', since=...) to poll alerts. "
            f"Each answer is at most {tools.max_tokens} tokens; page with next_cursor. "
            + ("Writes were allowed, but no tool writes yet." if writes else "Read-only."))


def _wrap(tools: Tools, name: str) -> Callable[..., str]:
    method = getattr(tools, name)

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> str:
        from mcp.server.mcpserver.exceptions import ToolError

        max_tokens = kwargs.get("max_tokens") or tools.max_tokens
        try:
            return respond(method(*args, **kwargs), max_tokens)
        except ToolInputError as exc:
            raise ToolError(str(exc)) from None
        except ServerError as exc:
            raise ToolError(f"the server {tools.source.where} answered: {exc}") from None
        except (LookupError, ValueError) as exc:
            raise ToolError(str(exc)) from None
        except Exception as exc:  # a bug of ours: the agent gets its name, the log the traceback
            log.exception("tool %s failed", name)
            raise ToolError(f"{name} failed inside seetrain ({type(exc).__name__}: {exc})") from None

    hints = typing.get_type_hints(method)  # tools.py's string annotations, resolved where they were written
    sig = inspect.signature(method)
    params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in sig.parameters.values()]
    call.__signature__ = sig.replace(parameters=params, return_annotation=str)  # type: ignore[attr-defined]
    call.__annotations__ = {**{k: v for k, v in hints.items() if k != "return"}, "return": str}
    return call


def build(tools: Tools, writes: bool = False) -> Any:
    """An ``MCPServer`` with the tools registered (``query_sql`` only where SQL can run)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    from ..version import __version__

    server = MCPServer("seetrain", version=__version__, instructions=instructions(tools, writes),
                       log_level="WARNING")
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                open_world_hint=False)
    for name in TOOL_NAMES:
        if name == "query_sql" and not tools.sql:
            continue
        fn = _wrap(tools, name)
        server.add_tool(fn, name=name, description=inspect.cleandoc(fn.__doc__ or ""), annotations=read_only,
                        structured_output=False)
    return server


def serve(tools: Tools, http: bool = False, host: str = "127.0.0.1", port: int = 8765, writes: bool = False,
          announce: Optional[Callable[[str], None]] = None) -> None:
    """Serve until the client leaves (stdio) or the process is stopped (HTTP)."""
    server = build(tools, writes)
    if not http:
        server.run("stdio")
        return
    if announce is not None:
        announce(f"seetrain mcp: streamable HTTP on http://{host}:{port}/mcp ({tools.source.where})")
    server.run("streamable-http", host=host, port=port)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
