"""Writing files so that a crash never leaves a half-written one where a good one was,
checking, before any long work, that a file can be written where the user asked, and reading
PyTorch files without letting them run code."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse
from urllib.request import url2pathname

import torch

# a scheme of two or more letters before "://": "C://x" stays a Windows path
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def atomic_write(
    path: str | os.PathLike, write: Callable[[BinaryIO], None], *, overwrite: bool = True
) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, then move it to ``path``.

    The move is atomic on POSIX and Windows: readers see the old file or the new one, never a
    torn one. With ``overwrite=False`` the move itself refuses an existing file (a hard link,
    which fails if the name is taken), so a writer racing for the same name is never clobbered:
    ``FileExistsError``. Creates missing parent folders; removes the temporary file on any
    failure. A new file gets the permissions a plain ``open()`` would give it (the process umask
    applies, and is never changed); a replaced file keeps its own.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(tmp, path.stat().st_mode & 0o7777)
            os.replace(tmp, path)
        else:
            _move_exclusive(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new file beside ``path``, opened with mode 0666 so the umask decides, like ``open()``.

    (``tempfile.mkstemp`` makes files private, 0600, and reading the umask means setting it.)
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {str(path)!r}")


def _move_exclusive(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` only if nobody has it: one atomic step, no check first."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(_taken(path)) from None
    except OSError:
        # No hard links here (FAT, some network drives): claim the name with an exclusive
        # create, then move the finished file over our own claim.
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            raise FileExistsError(_taken(path)) from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def _taken(path: Path) -> str:
    return f"{str(path)!r} exists; choose another name or allow overwriting"


def new_file(path: str | os.PathLike, example: str, overwrite: bool = False) -> Path:
    """``path`` as a ``Path`` a file may be written to: not a folder (``ValueError``, suggesting
    a name like ``example``), and not an existing file unless ``overwrite``
    (``FileExistsError``). Checked first, so no work is done for a file that cannot be kept."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory; give a file name such as {example}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; choose another name or pass overwrite=True")
    return path


def local_path(value: str | os.PathLike, what: str) -> Path:
    """``value`` as a local path; a ``file://`` URL becomes its path.

    Raises ``ValueError`` naming ``what`` for a network location (``https://``, ``s3://``, ...):
    this library reads and writes local files only.
    """
    text = os.fspath(value)
    if isinstance(text, str) and _URL.match(text):
        parsed = urlparse(text)
        if parsed.scheme.lower() == "file" and parsed.netloc in ("", "localhost"):
            return Path(url2pathname(parsed.path))
        raise ValueError(
            f"{what} {text!r} is a URL; only local files are used: download it first and pass "
            "the file's path"
        )
    return Path(text)


def check_writable(path: str | os.PathLike, what: str = "output") -> Path:
    """Raise ``ValueError`` unless a file could be created at ``path``; returns it as a Path.

    Checks what can be checked before a long run, without leaving anything behind: the path
    is not a folder, no part of it is a file, and the nearest existing folder accepts a new
    file (tried with a temporary one, so read-only mounts are caught even for root).
    """
    path = local_path(path, what)
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a directory; give a file name")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(
            f"{what} {str(path)!r} cannot be written: {str(folder)!r} is a file, not a folder"
        )
    try:
        fd, probe = _create_temporary(folder / path.name)
    except OSError as err:
        raise ValueError(
            f"{what} {str(path)!r} cannot be written: {str(folder)!r} does not accept new "
            f"files ({err.strerror or err})"
        ) from None
    os.close(fd)
    probe.unlink(missing_ok=True)
    return path


def load_torch_file(
    path: str | os.PathLike,
    error: type[Exception],
    *,
    directory: Callable[[str], str],
    unreadable: Callable[[str, Exception], str],
    missing: Callable[[str], str] = lambda path: f"file not found: {path!r}",
    missing_error: type[Exception] = FileNotFoundError,
) -> Any:
    """``torch.load(path, weights_only=True)`` onto the CPU, each failure one clear error.

    ``weights_only``: tensors, numbers, strings and containers only, so a file from elsewhere
    cannot run code when it is read. The messages are the caller's, built from the path as a
    string (``unreadable`` also gets the exception): a missing file raises ``missing_error``,
    a folder and anything ``torch.load`` refuses raise ``error`` (from the original error).
    """
    path = Path(path)
    if not path.exists():
        raise missing_error(missing(str(path)))
    if path.is_dir():
        raise error(directory(str(path)))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickle and zip errors come in many types
        raise error(unreadable(str(path), err)) from err


def read_checkpoint(path: str | os.PathLike) -> Any:
    """A checkpoint file's contents, read weights-only (``stylize``'s and ``train_transformer``'s
    alike; each vets the structure itself). ``FileNotFoundError`` if it is missing,
    ``ValueError`` naming it for a folder or a corrupt or truncated file."""
    return load_torch_file(
        path,
        ValueError,
        missing=lambda p: f"checkpoint not found: {p!r}",
        directory=lambda p: f"checkpoint {p!r} is a directory, not a checkpoint file",
        unreadable=lambda p, err: f"checkpoint {p!r} is corrupt or truncated: {err}",
    )


def check_checkpoint_path(
    path: str | os.PathLike,
    resume: str | os.PathLike | None = None,
    *,
    load: Callable[[Path], object],
    kind: str = "checkpoint",
) -> Path:
    """``path`` as a ``Path`` a run may write its checkpoint to, checked before the run starts.

    Refused (``ValueError``): a path that cannot be written (``check_writable``), and an existing
    file that ``load`` (the checkpoint's own loader) rejects with a ``ValueError``: saving would
    destroy something that is not a ``kind``. The file being resumed is not read twice.
    """
    path = check_writable(path, "checkpoint")
    if not path.exists() or (resume is not None and Path(resume).resolve() == path.resolve()):
        return path  # nothing there, or the file being resumed (its loader vets it)
    try:
        load(path)
    except ValueError:
        raise ValueError(
            f"checkpoint {str(path)!r} exists and is not a {kind}; refusing to overwrite it: "
            "choose another file name"
        ) from None
    return path
