"""The application uvicorn imports in each worker process: its database from $BACKOFFICE_DB
(set by `backoffice serve`), opened and migrated once per process."""

from __future__ import annotations

from backoffice.api.app import create_app
from backoffice.store.engine import open_store

app = create_app(open_store())
