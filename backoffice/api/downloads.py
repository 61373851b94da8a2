"""Downloads written by the services into a temporary folder (the ledger export, the audit
export) and sent from disk, so a large export is never held in memory; the folder goes once
the answer is sent, or at once when the export fails."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.responses import FileResponse
from starlette.background import BackgroundTask


@contextmanager
def download_folder() -> Iterator[Path]:
    """A fresh folder for a download; removed here when the body raises."""
    folder = Path(tempfile.mkdtemp(prefix="backoffice-api-"))
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def download(folder: Path, path: Path, media_type: str, filename: str) -> FileResponse:
    """The file as an attachment named `filename`; `folder` removed after it is sent."""
    return FileResponse(
        path,
        media_type=media_type,
        filename=filename,
        headers={"Cache-Control": "no-store"},  # client data: never kept by a proxy
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
