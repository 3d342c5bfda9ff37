"""The SeeTrain server (extra ``server``): FastAPI app, database, blob store, ingest and queries.

Nothing here is imported by ``import seetrain``; ``create_app`` lives in :mod:`seetrain.server.app`.
"""
