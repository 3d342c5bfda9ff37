"""``seetrain mcp``: an MCP server over runs (a log directory or a server), for agents (docs/mcp.md).

- :mod:`.budget`: the token budget of an answer, paging cursors, JSON for any client
- :mod:`.buckets`: NumPy min/max bucketing of a series (offline; a server downsamples its own)
- :mod:`.source`: what the tools read (:class:`seetrain.Api` plus ranged series and filtered events)
- :mod:`.tools`: the tools, plain Python
- :mod:`.server`: the MCP SDK server (stdio, streamable HTTP); the only module importing ``mcp``

Nothing here is imported by ``import seetrain``.
"""
