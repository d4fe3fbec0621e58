"""Never overwrite what the user did not ask to overwrite: every command checks its outputs here, before any work.

The policy, in one place:

- An output named on the command line (``-o OUT``, ``--out BUNDLE``) may be replaced, atomically, because the
  user named it. It is refused when it is one of the same command's inputs (also through a symlink or a hard
  link), when it is a folder where a file is meant (or a file where a folder is meant), when it is a folder
  holding anything but a bundle the player reads back (a folder with a manifest.json is not enough, and a README
  beside a bundle is not the bundle's to delete), or when its folder cannot be written (tested by writing, so a
  read-only filesystem or an immutable folder is caught even as root).
- A recording never replaces anything: a take cannot be made again, and neither can the file it would
  replace. The file is created with O_EXCL (so two processes cannot both create it) and held under an
  exclusive ``flock`` while it is written, so a second instance, or the crash-recovery of another start,
  sees that it is in use and leaves it alone.
"""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
from pathlib import Path


class OutputPathError(Exception):
    """An output cannot be written where asked; the message names the path and the problem."""


def landing(path: str | Path) -> Path:
    """Where a file written at ``path`` lands once its missing folders exist: the folders resolved as the kernel
    will follow them (symlinks, then ``..``: ``sub/../x`` is ``x`` once ``sub`` is created), the name kept as it
    is (a rename replaces a symlink at the name, it does not follow it)."""
    path = Path(path)
    return Path(os.path.realpath(path.parent)) / path.name


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` are, or will be, the same file: by identity (device and inode, so also through
    symlinks and hard links) where both exist, else by where they land (``landing``), however they are spelled."""
    a, b = landing(a), landing(b)
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _probe_folder(folder: Path, target: Path) -> None:
    """Prove that ``folder`` (or, when it does not exist yet, the nearest folder above it, where it would be
    created) takes a new file, by writing one; creates nothing that stays."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"{target}: cannot write there: {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".latentsynth-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputPathError(f"{target}: cannot write into {existing}: {reason}") from exc


def check_output_file(path: str | Path, inputs: list[str | Path] = (), label: str = "output") -> Path:
    """Check that the file ``path`` may be (re)written by a command reading ``inputs``; returns it."""
    spelled, path = str(path), Path(path)
    if str(path) in ("", "."):
        raise OutputPathError(f"'{path}': empty {label} file name")
    if os.path.basename(spelled) in ("", ".", ".."):  # 'out.wav/' would write (or replace) the file out.wav
        raise OutputPathError(f"{spelled}: ends like a folder; give the {label} a file name (e.g. {path / 'out.wav'})")
    if path.is_dir():
        raise OutputPathError(f"{path}: is a folder; give the {label} a file name (e.g. {path / 'out.wav'})")
    for inp in inputs:  # also when the output's folders do not exist yet: nothing is created before this check
        if inp is not None and same_file(path, inp):
            raise OutputPathError(
                f"{path}: is also an input ({inp}); writing it would destroy that input, so choose another output name"
            )
    _probe_folder(path.parent if str(path.parent) else Path("."), path)
    return path


def replaceable_bundle(path: str | Path) -> set[str]:
    """The names in the existing folder ``path`` that replacing it with a new bundle would delete: none for an
    empty folder, else the files of the bundle there (manifest.json and the parts it lists). Refused
    (``OutputPathError`` naming the folder, and the file when it is one) unless the folder is a bundle the player
    reads back (``load_bundle``: manifest, version and checksums) holding nothing but its own files: a command
    replaces only what an export wrote, and never deletes a file it did not write."""
    from .bundle import MANIFEST_NAME, BundleError
    from .bundle_io import load_bundle

    path = Path(path)
    entries = sorted(p.name for p in path.iterdir())
    if not entries:
        return set()
    if MANIFEST_NAME not in entries:
        raise OutputPathError(f"{path}: exists and is not a bundle; refusing to replace it (it has no {MANIFEST_NAME})")
    try:
        manifest = load_bundle(path).manifest
    except (BundleError, OSError) as exc:
        reason = " ".join(str(exc).split())
        raise OutputPathError(
            f"{path}: exists and is not a bundle that can be read back ({reason}); only a bundle is replaced, "
            "so choose another --out"
        ) from None
    own = {MANIFEST_NAME, *manifest.files, *manifest.parts.values()}
    extra = [name for name in entries if name not in own]
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise OutputPathError(
            f"{path}: holds {path / extra[0]}{more}, which is not part of the bundle there; replacing the bundle "
            "would delete it, so move it away or choose another --out"
        )
    return own


def check_output_folder(path: str | Path, inputs: list[str | Path] = (), label: str = "bundle") -> Path:
    """Check that the folder ``path`` may be created, or replaced when it holds a bundle and nothing else
    (``replaceable_bundle``): before any slow work, so a refusal costs nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{path}: is a file, not a folder; give --out a folder name for the {label}")
    for inp in inputs:
        if inp is None:
            continue
        inp = Path(inp)
        if path.exists() and (same_file(path, inp) or Path(path).resolve() in Path(inp).resolve().parents):
            raise OutputPathError(
                f"{path}: holds the input {inp}; writing the {label} there would destroy it, so choose another --out"
            )
    if path.is_dir():
        replaceable_bundle(path)
    _probe_folder(path.parent if str(path.parent) else Path("."), path)
    return path


def unique_path(path: str | Path) -> Path:
    """``path``, or ``stem-2.ext``, ``stem-3.ext``... : the first name not yet taken (for generated names)."""
    path = Path(path)
    if not path.exists():
        return path
    n = 2
    while True:
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not candidate.exists():
            return candidate
        n += 1


def is_locked(path: str | Path) -> bool:
    """True while another open file description holds ``claim_new_file``'s lock on ``path``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
    finally:
        os.close(fd)  # closing releases a lock we took
    return False


def check_new_file(path: str | Path, label: str = "recording", suffixes: tuple[str, ...] = (".wav",)) -> Path:
    """The checks of ``claim_new_file`` without creating anything: for refusing a bad name before start-up."""
    spelled, path = str(path), Path(path)
    if os.path.basename(spelled) in ("", ".", ".."):  # 'take.wav/' would create the file take.wav
        raise OutputPathError(f"{spelled}: ends like a folder; give the {label} a file name")
    if path.is_dir():
        raise OutputPathError(f"{path}: is a folder; give the {label} a file name")
    if suffixes and path.suffix.lower() not in suffixes:
        raise OutputPathError(
            f"{path}: a {label} is written as {'/'.join(suffixes)}; give it a name ending in {suffixes[0]}"
        )
    if path.exists() or path.is_symlink():
        if is_locked(path):
            raise OutputPathError(
                f"{path}: is being recorded right now (by this or another LatentSynth); "
                "two writers would lose one take, so choose another name"
            )
        raise OutputPathError(
            f"{path}: already exists; a {label} never replaces a file, so choose another name or move that file away"
        )
    _probe_folder(path.parent if str(path.parent) else Path("."), path)
    return path


def claim_new_file(path: str | Path, label: str = "recording"):
    """Create ``path`` (which must not exist) and hold an exclusive lock on it; returns the open binary file.

    The lock lives as long as the file object: close it to release. Refused, with a message, when the file
    exists (and says so when another process is writing it), or when its folder cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{path}: is a folder; give the {label} a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        if is_locked(path):
            raise OutputPathError(
                f"{path}: is being recorded right now (by this or another LatentSynth); "
                "two writers would lose one take, so choose another name"
            ) from None
        raise OutputPathError(
            f"{path}: already exists; a {label} never replaces a file, so choose another name or move that file away"
        ) from None
    except OSError as exc:
        raise OutputPathError(f"{path}: cannot create the {label}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:  # someone opened our brand-new file and locked it first: not ours to write
        os.close(fd)
        raise OutputPathError(f"{path}: is being written by another process ({exc.strerror})") from exc
    return os.fdopen(fd, "w+b")
