"""Save and load a :class:`FixedPointNetwork` as an ``.npz`` file (no pickles).

Layout (format ``neurodeploy.fixed_point_network``, version 1): an entry ``__meta__``
holding a JSON document (n_inputs, outputs, populations with their scalar parameters,
projections with their scalar fields) and one array entry per array-valued field:
``pop/<name>/<param>`` for per-neuron parameters, ``proj/<i>/weights`` and
``proj/<i>/delays``; a convolutional projection has ``proj/<i>/kernel`` and its
geometry under ``conv`` in the JSON instead of weights (files that also hold its weights,
the kernel's expansion, are checked on load). Files are written atomically (temp file +
rename) and read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import numpy as np

from neurodeploy.errors import InputError, NetworkValidationError, NeurodeployError
from neurodeploy.network import Conv2d, FixedPointNetwork, LIFPopulation, Projection

FORMAT = "neurodeploy.fixed_point_network"
VERSION = 1


def network_to_arrays(net: FixedPointNetwork) -> dict[str, np.ndarray]:
    """Flatten a network into named arrays plus a JSON ``__meta__`` entry."""
    arrays: dict[str, np.ndarray] = {}
    pops = []
    for name, pop in net.populations.items():
        entry: dict[str, object] = {"name": name, "size": pop.size}
        if pop.reset_interval:
            entry.update(reset_interval=pop.reset_interval, reset_offset=pop.reset_offset)
        for param in LIFPopulation.PARAMETERS:
            value = getattr(pop, param)
            entry[param] = None if isinstance(value, np.ndarray) else int(value)
            if entry[param] is None:  # per neuron: an array of its own
                arrays[f"pop/{name}/{param}"] = value
        pops.append(entry)
    projs = []
    for i, p in enumerate(net.projections):
        if p.conv is None:
            arrays[f"proj/{i}/weights"] = p.weights
        delays: object = p.delays
        if isinstance(p.delays, np.ndarray):
            arrays[f"proj/{i}/delays"] = p.delays
            delays = "array"
        entry = {"src": p.src, "dst": p.dst, "name": p.name, "weight_exp": p.weight_exp,
                 "num_weight_bits": p.num_weight_bits, "sign_mode": p.sign_mode, "delays": delays}
        if p.conv is not None:
            arrays[f"proj/{i}/kernel"] = p.conv.kernel
            entry["conv"] = {**{k: list(getattr(p.conv, k)) for k in ("in_shape", "stride",
                                                                    "padding", "dilation")},
                             "groups": p.conv.groups}
        projs.append(entry)
    meta = {"format": FORMAT, "version": VERSION, "n_inputs": net.n_inputs,
            "input_max": net.input_max, "outputs": list(net.outputs), "populations": pops,
            "projections": projs}
    arrays["__meta__"] = np.array(json.dumps(meta))
    return arrays


def read_meta(arrays: Mapping[str, np.ndarray], fmt: str, version: int, source: str, what: str,
              error: type[NeurodeployError] = NeurodeployError) -> dict[str, Any]:
    """The JSON ``__meta__`` of a neurodeploy ``.npz``, checked to be format ``fmt`` at
    ``version``; anything else raises ``error`` in one line ("not a neurodeploy <what>")."""
    try:
        meta = json.loads(str(arrays["__meta__"]))
    except (KeyError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise error(f"{source}: not a neurodeploy {what} ({reason})") from None
    if not isinstance(meta, dict):
        raise error(f"{source}: not a neurodeploy {what} (__meta__ is not a JSON object)")
    if meta.get("format") != fmt or meta.get("version") != version:
        raise error(f"{source}: format {meta.get('format')!r} version {meta.get('version')!r} "
                    f"is not supported; expected {fmt!r} version {version}")
    return meta


def read_record(cls: type, record: Any, what: str, where: str, *given: Any,
                **convert: Any) -> Any:
    """A dataclass read back from JSON: its first fields ``given``, every other field the
    key of that name in ``record`` (other keys ignored), passed through ``convert[name]``
    where there is one. A missing field without default, or a record that is no JSON
    object, is a one-line InputError naming ``what`` and ``where``."""
    if not isinstance(record, Mapping):
        raise InputError(f"{what}: {where} is {type(record).__name__}; expected a JSON object")
    values = {}
    for f in fields(cls)[len(given):]:
        if f.name in record:
            values[f.name] = convert.get(f.name, lambda value: value)(record[f.name])
        elif f.default is MISSING:
            raise InputError(f"{what}: {where} has no {f.name!r}")
    return cls(*given, **values)


def network_from_arrays(arrays: dict[str, np.ndarray], source: str = "network"
                        ) -> FixedPointNetwork:
    """Inverse of :func:`network_to_arrays`; validates everything again."""
    meta = read_meta(arrays, FORMAT, VERSION, source, "network file")
    try:
        return _build(meta, arrays)
    except NetworkValidationError as exc:
        raise NetworkValidationError(f"{source}: {exc}") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise NeurodeployError(f"{source}: malformed network file (missing {exc})") from None


def _build(meta: dict, arrays: dict[str, np.ndarray]) -> FixedPointNetwork:
    pops = {}
    for entry in meta["populations"]:
        name = entry["name"]
        if name in pops:
            raise NetworkValidationError(f"population {name!r} is listed twice; population "
                                         "names must be unique")
        params = {param: arrays[f"pop/{name}/{param}"] if entry[param] is None else entry[param]
                  for param in LIFPopulation.PARAMETERS}
        pops[name] = LIFPopulation(size=entry["size"], name=name, **params,
                                   reset_interval=entry.get("reset_interval", 0),
                                   reset_offset=entry.get("reset_offset", 0))
    projs = []
    for i, entry in enumerate(meta["projections"]):
        delays = arrays[f"proj/{i}/delays"] if entry["delays"] == "array" else entry["delays"]
        conv, weights = entry.get("conv"), f"proj/{i}/weights"
        projs.append(Projection(
            entry["src"], entry["dst"], arrays[weights] if conv is None else arrays.get(weights),
            weight_exp=entry["weight_exp"], delays=delays, name=entry["name"],
            num_weight_bits=entry["num_weight_bits"], sign_mode=entry["sign_mode"],
            conv=None if conv is None else Conv2d(arrays[f"proj/{i}/kernel"], **conv)))
    return FixedPointNetwork(meta["n_inputs"], pops, projs, outputs=meta["outputs"],
                             input_max=meta.get("input_max", 1))


#: What reading a damaged file raises: numpy's parsers, zipfile, zlib, the OS, a decoder.
READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)
_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"


def _file_above(path: Path) -> Path | None:
    """The nearest existing parent of ``path`` when it is a file, not a folder."""
    above = next((p for p in path.parents if p.exists()), None)
    return above if above is not None and not above.is_dir() else None


def _reason(exc: BaseException) -> str:
    """An exception as a few words on one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def check_input_file(path: str | os.PathLike[str], what: str,
                     error: type[NeurodeployError] = InputError) -> Path:
    """``path`` as a Path once it is known to be a non-empty, readable regular file; else a
    one-line ``error`` naming the file, what is wrong and ``what`` was expected. Every file
    a command reads passes through here (or through :func:`read_npz`/:func:`read_json`)."""
    src = Path(path)
    if not src.exists():
        raise error(f"{src}: no such file; expected {what}")
    if src.is_dir():
        raise error(f"{src}: is a folder; expected {what}")
    if not os.access(src, os.R_OK):
        raise error(f"{src}: cannot be read (permission denied); expected {what}")
    if src.stat().st_size == 0:
        raise error(f"{src}: is empty (0 bytes); expected {what}")
    return src


def available_memory() -> int | None:
    """Bytes of memory this process can still get: the least of the machine's
    ``MemAvailable`` (/proc/meminfo), its cgroup's ``memory.max`` less ``memory.current``,
    and its address-space limit (``RLIMIT_AS``) less what it maps now; None where none of
    these is known."""
    found = []
    with suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    with suppress(OSError, ValueError):
        cgroup = Path("/sys/fs/cgroup")
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            found.append(int(limit) - int((cgroup / "memory.current").read_text()))
    with suppress(OSError, ValueError, AttributeError):
        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit != resource.RLIM_INFINITY:
            status = Path("/proc/self/status").read_text()
            mapped = int(re.search(r"^VmSize:\s*(\d+)", status, re.M).group(1)) * 1024
            found.append(limit - mapped)
    return max(0, min(found)) if found else None


def _gib(nbytes: int | float) -> str:
    return f"{nbytes / 2**30:.1f} GiB"


def check_memory(nbytes: int, what: str, error: type[NeurodeployError] = InputError) -> None:
    """A one-line ``error`` when ``nbytes`` exceed :func:`available_memory`: "``what``
    needs N bytes (X GiB); Y GiB is available". Call it before allocating."""
    have = available_memory()
    if have is not None and nbytes > have:
        raise error(f"{what} needs {nbytes} bytes ({_gib(nbytes)}); {_gib(have)} of memory "
                    "is available")


def _array_header(fh: Any) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from the ``.npy`` header at the start of ``fh``."""
    version = np.lib.format.read_magic(fh)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    shape, _, dtype = read_header(fh)
    return tuple(int(n) for n in shape), dtype


def _nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Bytes of an array of ``shape`` and ``dtype``."""
    return math.prod(shape) * dtype.itemsize


def npz_shapes(path: str | os.PathLike[str], what: str,
               error: type[NeurodeployError] = InputError,
               ) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array of an ``.npz`` (key as :func:`read_npz` gives it),
    from the arrays' headers: nothing else is read or decompressed. A file that is no
    readable ``.npz`` is a one-line ``error`` as in :func:`read_npz`."""
    src, _ = _checked_npz(path, what, error, npy=False)
    with _corrupt(src, what, error):
        shapes = {}
        with zipfile.ZipFile(src) as archive:
            for info in archive.infolist():
                with archive.open(info) as fh:
                    key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                    shapes[key] = _array_header(fh)
        return shapes


@contextmanager
def _corrupt(src: Path, what: str, error: type[NeurodeployError], kind: str = ".npz"
             ) -> Iterator[None]:
    """A read error in the block as a one-line ``error``: ``src`` is truncated or corrupt."""
    try:
        yield
    except READ_ERRORS as exc:
        raise error(f"{src}: cannot read as {kind} (truncated or corrupt: {_reason(exc)}); "
                    f"expected {what}") from None


def _checked_npz(path: str | os.PathLike[str], what: str, error: type[NeurodeployError],
                 npy: bool) -> tuple[Path, bool]:
    """(``path``, whether it is an ``.npy``) once it is a readable file that starts like an
    ``.npz`` (``npy``: or an ``.npy``); else a one-line ``error``."""
    src = check_input_file(path, what, error)
    try:
        with open(src, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise error(f"{src}: cannot be read ({_reason(exc)}); expected {what}") from None
    if not (magic.startswith(_ZIP_MAGIC) or (npy and magic == _NPY_MAGIC)):
        kind = "neither a zip archive nor .npy" if npy else "not a zip archive"
        raise error(f"{src}: cannot read as .npz ({kind}); expected {what}")
    return src, magic == _NPY_MAGIC


def read_npz(path: str | os.PathLike[str], what: str,
             error: type[NeurodeployError] = InputError, npy: bool = False,
             keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` (``keys``: only those of them that it holds; ``npy``: or
    the one array of an ``.npy``, as key ``""``), read whole with ``allow_pickle=False``,
    once their headers show that they fit in the available memory. A missing, empty,
    truncated or corrupt file, one of another kind, or arrays beyond the memory, is a
    one-line ``error`` naming the file and ``what`` was expected (or the size)."""
    src, is_npy = _checked_npz(path, what, error, npy)
    wanted = None if keys is None else set(keys)
    if is_npy:
        with _corrupt(src, what, error, ".npy"), open(src, "rb") as fh:
            need = _nbytes(*_array_header(fh))
    else:
        need = sum(_nbytes(*header) for key, header in npz_shapes(src, what, error).items()
                   if wanted is None or key in wanted)
    check_memory(need, f"{src}: reading its arrays", error)
    try:
        with _corrupt(src, what, error):
            if is_npy:
                return {"": np.load(src, allow_pickle=False)}
            with np.load(src, allow_pickle=False) as data:
                return {k: data[k] for k in data.files if wanted is None or k in wanted}
    except MemoryError:
        raise error(f"{src}: reading its arrays needs {need} bytes ({_gib(need)}); less "
                    "memory is available") from None


def read_json(path: str | os.PathLike[str], what: str,
              error: type[NeurodeployError] = InputError) -> dict[str, Any]:
    """A JSON object from ``path``; a missing, empty or malformed file, or JSON that is no
    object, is a one-line ``error`` naming the file and ``what`` was expected."""
    src = check_input_file(path, what, error)
    try:
        data = json.loads(src.read_text(encoding="utf-8"))
    except READ_ERRORS as exc:
        raise error(f"{src}: cannot read JSON ({_reason(exc)}); expected {what}") from None
    if not isinstance(data, dict):
        raise error(f"{src}: holds a JSON {type(data).__name__}; expected {what} "
                    "(a JSON object)")
    return data


def _umask() -> int:
    """The process's file-creation mask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


class OutputPathError(InputError, OSError):
    """An output cannot be placed where asked (a parent that is a file, a read-only folder,
    a full disk). An InputError for the CLI (one line, exit 2) and still an OSError for code
    that tolerates a failed write."""


@contextmanager
def _output_errors(path: Path) -> Iterator[None]:
    """An OSError while preparing or placing the output ``path`` as a one-line
    :class:`OutputPathError` naming the path."""
    try:
        yield
    except OSError as exc:
        above = _file_above(path)
        reason = f"{above} is a file, not a folder" if above else exc.strerror or _reason(exc)
        raise OutputPathError(f"{path}: cannot write here ({reason}); choose another "
                              "output path") from None


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix) to write to; it is renamed onto
    ``path`` when the block ends, and removed if the block raises: never a half-written
    file at ``path``."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected a file path to write")
    with _output_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp",
                                   dir=path.parent)
        os.close(fd)
    try:
        yield Path(tmp)
        with _output_errors(path):
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the usual permissions
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_output_folder(path: str | os.PathLike[str], marker: str,
                        overwrite: bool = False) -> None:
    """Refuse to replace what the user did not ask to replace: ``path`` may be absent, an
    empty folder, or a folder holding ``marker`` (an artifact of the same kind, which is
    replaced whole); a file or a folder of anything else needs ``overwrite``; a path under
    a regular file is refused."""
    out = Path(path)
    if above := _file_above(out):
        raise InputError(f"{out}: cannot write here ({above} is a file, not a folder); "
                         "choose another output path")
    if overwrite or not (out.exists() or out.is_symlink()):
        return
    if not out.is_dir() or out.is_symlink():
        raise InputError(f"{out}: exists and is not a folder; choose another output path, or "
                         "pass --overwrite to replace it")
    entries = [p.name for p in out.iterdir()]
    if entries and marker not in entries:
        raise InputError(f"{out}: the folder holds {len(entries)} other entr"
                         f"{'y' if len(entries) == 1 else 'ies'} (e.g. {sorted(entries)[0]!r}) "
                         f"and no {marker}; choose another output folder, or pass --overwrite "
                         "to replace it")


@contextmanager
def atomic_directory(path: str | os.PathLike[str], marker: str | None = None,
                     overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path`` to fill; when the block ends it replaces
    ``path`` (what was there is removed only then), and it is removed if the block raises:
    a folder at ``path`` appears whole or not at all, and nothing is left hidden beside it.
    With ``marker``, what is at ``path`` is first checked by :func:`check_output_folder`."""
    out = Path(path)
    if marker is not None:
        check_output_folder(out, marker, overwrite)
    with _output_errors(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    try:
        yield tmp
        with _output_errors(out):
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; the usual permissions
            if out.exists() or out.is_symlink():
                os.replace(out, old)
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)


def atomic_savez(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> Path:
    """Write an ``.npz`` atomically: a temp file in the same folder, then a rename."""
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text file atomically (temp file in the same folder, then a rename)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def save_network(net: FixedPointNetwork, path: str | os.PathLike[str]) -> Path:
    """Save ``net`` to ``path`` (``.npz``), atomically."""
    return atomic_savez(path, network_to_arrays(net))


def load_network(path: str | os.PathLike[str]) -> FixedPointNetwork:
    """Load a network saved by :func:`save_network` (never unpickles)."""
    arrays = read_npz(path, "a network file (.npz written by save_network)")
    return network_from_arrays(arrays, source=str(path))
