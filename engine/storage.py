"""Export storage: a local directory (default) or an S3-compatible bucket (boto3).

Exports are written to a temporary file on local disk while they are built (a ZIP needs a
seekable file; nothing is held in memory), then handed to the store: a rename into the export
directory, or a streamed multipart upload to the bucket. Reading streams the object back in
chunks. Each store says which region it keeps data in, so exports can refuse storage outside
the deployment's region.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from engine.config import Settings, get_settings

CHUNK = 256 * 1024


class ExportStore(Protocol):
    kind: str

    def region(self) -> str | None: ...

    def put_file(self, key: str, path: Path) -> None: ...

    def open_chunks(self, key: str) -> Iterator[bytes]: ...

    def delete(self, key: str) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class LocalStore:
    """Files under FLOWMATE_EXPORT_DIR; their region is the deployment's own."""

    kind = "local"

    def __init__(self, root: str | Path, deployment_region: str) -> None:
        self.root = Path(root).resolve()
        self._region = deployment_region

    def region(self) -> str | None:
        return self._region

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError("storage key escapes the export directory")
        return path

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o600)
        shutil.move(str(path), target)

    def open_chunks(self, key: str) -> Iterator[bytes]:
        with open(self._path(key), "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def describe(self) -> dict[str, Any]:
        return {"kind": "local", "path": str(self.root), "region": self._region}


class S3Store:
    """An S3-compatible bucket. Its region is asked from the bucket itself (GetBucketLocation)."""

    kind = "s3"

    def __init__(self, settings: Settings) -> None:
        import boto3
        from botocore.config import Config

        if not settings.s3_bucket:
            raise ValueError("FLOWMATE_S3_BUCKET is required when FLOWMATE_EXPORT_STORAGE=s3")
        secret = settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None
        self.bucket = settings.s3_bucket
        self.endpoint = settings.s3_endpoint_url
        self.client = boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id, aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60),
        )
        self._region: str | None = None

    def region(self) -> str | None:
        if self._region is None:
            answer = self.client.get_bucket_location(Bucket=self.bucket)
            # S3 answers None (or "") for us-east-1, the historical default.
            self._region = answer.get("LocationConstraint") or "us-east-1"
        return self._region

    def put_file(self, key: str, path: Path) -> None:
        self.client.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": "application/zip"})
        path.unlink(missing_ok=True)

    def open_chunks(self, key: str) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def describe(self) -> dict[str, Any]:
        try:
            region: str | None = self.region()
        except Exception as exc:  # the report must still print when the bucket is unreachable
            region = f"unavailable: {exc.__class__.__name__}"
        return {"kind": "s3", "bucket": self.bucket, "endpoint": self.endpoint, "region": region}


def export_storage(settings: Settings | None = None) -> ExportStore:
    """The configured export store."""
    settings = settings or get_settings()
    if settings.export_storage == "s3":
        return S3Store(settings)
    return LocalStore(settings.export_dir, settings.data_region)


def scratch_dir(settings: Settings | None = None) -> Path:
    """Where exports are built before they are stored (on the export directory's disk)."""
    settings = settings or get_settings()
    path = Path(settings.export_dir).resolve() / ".building"
    path.mkdir(parents=True, exist_ok=True)
    return path
