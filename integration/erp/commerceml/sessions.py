"""Exchange sessions and their files on disk: MEDIA_ROOT/commerceml/<backend>/<session>/.

checkauth opens a session (its id is the cookie 1C sends back); `file` appends the POSTed parts of a file
under the session's directory; the session's state (protocol version, orders handed out by `query`, imports
under way) is a small JSON file written atomically next to the files.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
import zipfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from django.conf import settings

from integration.errors import PermanentError
from integration.models import Backend

ROOT_END = tuple("</КоммерческаяИнформация>".encode(encoding) for encoding in ("utf-8", "cp1251"))

COOKIE = "amoerp_cml"  # no dot: 1C mangles cookie names with one (additions §2.5)
SESSION_MAX_AGE = 24 * 3600
CHUNK = 1024 * 1024
# Prefixes 1C on Linux puts in front of the name (the path on its side), dropped as Bitrix does.
_PREFIXES = re.compile(r"^(?:/?tmp/|/?upload/1c/webdata/)+", re.IGNORECASE)
_SAFE_PART = re.compile(r"^[\w\-. ()#@+,]+$")
_REFUSED_SUFFIXES = {".php", ".py", ".pyc", ".sh", ".cgi", ".pl", ".exe", ".htaccess", ".phtml"}


class ExchangeError(PermanentError):
    """What we answer `failure` with: a reason 1C shows its operator."""


class BadFileName(ExchangeError):
    pass


def root(backend: Backend) -> Path:
    return Path(settings.MEDIA_ROOT) / "commerceml" / str(backend.pk)


def clean_name(raw: str) -> str:
    """A relative POSIX path kept under the session directory: 1C's `/tmp/` prefix dropped, `\\` → `/`,
    sub-paths such as import_files/ab/1.jpg kept; `..`, absolute paths, odd characters and scripts refused."""
    name = (raw or "").replace("\\", "/").strip()
    name = _PREFIXES.sub("", name)
    path = PurePosixPath(name)
    if not name or path.is_absolute() or re.match(r"^[a-zA-Z]:", name):
        raise BadFileName(f"filename {raw!r}: an absolute path or an empty name is refused")
    parts = path.parts
    if any(part in ("", ".", "..") or not _SAFE_PART.match(part) for part in parts):
        raise BadFileName(f"filename {raw!r}: only plain names and sub-folders are accepted")
    if path.suffix.lower() in _REFUSED_SUFFIXES or path.name.startswith("."):
        raise BadFileName(f"filename {raw!r}: this kind of file is refused")
    return str(path)


class Session:
    def __init__(self, backend: Backend, sid: str):
        self.backend, self.sid = backend, sid
        self.dir = root(backend) / sid
        self.files = self.dir / "files"

    @classmethod
    def open(cls, backend: Backend) -> Session:
        prune(backend)
        session = cls(backend, secrets.token_urlsafe(24))
        session.files.mkdir(parents=True, exist_ok=True)
        session.save({"created": time.time()})
        return session

    @classmethod
    def find(cls, backend: Backend, sid: str) -> Session | None:
        if not sid or not re.fullmatch(r"[\w-]{16,64}", sid):
            return None
        session = cls(backend, sid)
        state = session.state() if session.dir.is_dir() else None
        if not state or time.time() - state.get("created", 0) > SESSION_MAX_AGE:
            return None
        return session

    # ------------------------------------------------------------------ state
    def state(self) -> dict:
        try:
            return json.loads((self.dir / "state.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def save(self, state: dict) -> None:
        tmp = self.dir / f"state.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.dir / "state.json")

    @contextmanager
    def locked(self):
        """An exclusive lock on the session (one state change at a time, across processes)."""
        import fcntl

        with open(self.dir / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def update(self, **values) -> dict:
        with self.locked():
            state = {**self.state(), **values}
            self.save(state)
        return state

    # ------------------------------------------------------------------ files
    def clear_files(self) -> None:
        """A new upload (mode=init): the files and what was imported from them are forgotten."""
        self.update(imported={})
        shutil.rmtree(self.files, ignore_errors=True)
        self.files.mkdir(parents=True, exist_ok=True)

    def path_of(self, name: str) -> Path:
        return self.files / clean_name(name)

    def append(self, name: str, chunks: Iterable[bytes], expected: int | None) -> int:
        """Append one POSTed part to the file (parts of one file come as several POSTs); returns the bytes
        written. A part shorter than its Content-Length is cut off again and refused."""
        path = self.path_of(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with open(path, "ab") as handle:
            start = handle.tell()
            for chunk in chunks:
                handle.write(chunk)
                written += len(chunk)
            if expected is not None and written != expected:
                handle.truncate(start)
                raise ExchangeError(f"filename {name}: received {written} bytes of {expected}")
        return written

    def holds_whole_document(self, name: str) -> bool:
        """Whether the file ends its root element: the old protocol sends no `import`, so a part that does not is
        the start of a file longer than `file_limit`, and the rest is still to come."""
        path = self.path_of(name)
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - 512))
            return handle.read().rstrip().endswith(ROOT_END)

    def unzip_pending(self) -> list[str]:
        """Unpack the archives 1C sent (zip=yes) into the session's files, entry by entry; returns the names."""
        names = []
        for archive in sorted(self.files.rglob("*.zip")):
            with zipfile.ZipFile(archive) as bundle:
                for entry in bundle.infolist():
                    if entry.is_dir():
                        continue
                    target = self.path_of(entry.filename)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with bundle.open(entry) as source, open(target, "wb") as out:
                        shutil.copyfileobj(source, out, CHUNK)
                    names.append(str(target.relative_to(self.files)))
            archive.unlink()
        return names

    def remove(self, name: str) -> None:
        self.path_of(name).unlink(missing_ok=True)


def prune(backend: Backend) -> None:
    """Drop sessions older than a day (their files were left by an exchange that never finished)."""
    base = root(backend)
    if not base.is_dir():
        return
    for child in base.iterdir():
        session = Session(backend, child.name)
        if child.is_dir() and time.time() - session.state().get("created", child.stat().st_mtime) > SESSION_MAX_AGE:
            shutil.rmtree(child, ignore_errors=True)
