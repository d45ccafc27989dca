"""Clip readers and writers: BVH, NPZ, NPY and CSV in, the project's NPZ out.

:func:`load_clip` reads any supported file into a :class:`SkeletonClip` (metres, Y up) and
:func:`save_clip` writes the project's NPZ format atomically. The format is chosen by the file
suffix (``.bvh``, ``.npz``, ``.npy``, ``.csv``; case-insensitive); for any other suffix the content
is sniffed (``HIERARCHY`` at the start = BVH, the zip / ``\\x93NUMPY`` magic bytes = NPZ / NPY, a
header line of ``<joint>_x`` columns = CSV).

Errors
------
Every problem with a file's content raises a one-line :class:`~eai_llm.skeleton.errors.ClipError`
subclass, ``"<file>: <place>: <what was wrong / expected>"``:

* :class:`ClipFormatError` -- syntax: empty file, binary garbage, truncated BVH (missing ``MOTION``,
  fewer rows than ``Frames:`` says), wrong channel counts, unknown channel names, rows with the wrong
  number of values, non-numeric values, unreadable NPZ/NPY, wrong array shapes;
* :class:`ClipValueError` -- readable but invalid numbers: zero frames, NaN/inf (unless
  ``interpolate_gaps`` may fill them), mismatched joint counts, bad fps / frame time, unknown units;
* :class:`ClipLimitError` -- beyond a limit, checked before the memory it guards is allocated:
  ``max_bytes``, ``max_frames``, ``max_memory`` (estimated peak of the read), 1,024 joints, 1-1000 fps,
  55 minutes (see :mod:`.limits`);
* :class:`LayoutError` -- an unknown layout, a layout that does not fit the file, a missing layout
  for NPY, CSV columns no layout knows.

A **missing file raises** :class:`FileNotFoundError` (the CLI turns it into a one-line message and
exit code 2, like a ClipError); a directory or an unreadable file raises :class:`ClipFormatError`.
:func:`save_clip` raises :class:`ClipWriteError` naming the output path (never its temporary file).

Nothing inside a file names a path to open: an NPZ's ``layout`` is embedded JSON or the name of a
registered layout, and no layout read from a file is registered.

Units
-----
Positions are always returned in metres. BVH units are detected from the body's size (the median
over a few frames of the largest bounding-box extent, end sites included): ~0.5-2.6 -> m,
~35-85 -> inch, ~95-260 -> cm, ~950-2600 -> mm; anything else is ambiguous, cm is assumed and
``meta["units_assumed"] = True`` says so. NPY, CSV and foreign NPZ files default to metres (also
recorded as ``units_assumed``). ``units=`` (``"m"``, ``"cm"``, ``"mm"``, ``"inch"``) overrides. Without
``units=``, a body size implausible in the chosen units adds a "units unclear" line to
``meta["warnings"]`` (see :mod:`.units`); the metric cues of such a clip are relative to body height.

The project's NPZ format
------------------------
A NumPy ``.npz`` archive (written with :func:`numpy.savez_compressed`, read with
``allow_pickle=False``) holding:

=============  ===============================================================================
key            content
=============  ===============================================================================
``positions``  float32 array ``(T, J, 3)``: joint positions in **metres**, **Y up**, finite
``fps``        0-d float64: frames per second (> 0)
``layout``     0-d unicode string: JSON of :meth:`Layout.to_dict` (``name``, ``description``,
               ``joints`` = ``[{"name", "parent", "unified"?}, ...]``); a built-in layout name
               resolves to the registry, any other layout is rebuilt from the JSON (not registered).
               A plain layout name (not JSON) is accepted too.
``label``      optional 0-d unicode string (e.g. an emotion)
``meta``       optional 0-d unicode string: JSON object of facts about the source
=============  ===============================================================================

On loading, ``meta["source"]``, ``meta["format"]`` and ``meta["units"]`` describe the NPZ file
itself; the values stored in the file (e.g. the original BVH path) move to ``origin_source``,
``origin_format`` and ``origin_units``. A *foreign* NPZ holding only ``positions`` (or exactly one
``(T, J, 3)`` or ``(T, J, 4)`` array under any name) is accepted as pose-estimator output, like NPY
(confidence channel and joint-count rule: :mod:`.confidence`).

Package layout: :mod:`.load` (format detection, :func:`load_clip`), :mod:`.save`, :mod:`.options`,
:mod:`.limits`, :mod:`.units`, :mod:`.text` (decoding, numeric parsing), :mod:`.shared` (steps every reader
shares), :mod:`.bvh` (parser), :mod:`.rotations`, :mod:`.kinematics`, :mod:`.bvh_reader`, :mod:`.rig_names`
(unknown rigs), :mod:`.npz`, :mod:`.npy`, :mod:`.confidence`, :mod:`.csvfile`.
"""

from .bvh import BvhData, parse_bvh
from .kinematics import bvh_positions
from .limits import DEFAULT_GAP_FRAMES, DEFAULT_MAX_BYTES, FORMATS, MAX_BVH_JOINTS
from .load import detect_format, load_clip
from .rig_names import _split_name, derive_layout, guess_unified_mapping  # noqa: F401 (_split_name: tests)
from .rotations import euler_matrices
from .save import save_clip
from .units import UNIT_SCALES, detect_units

__all__ = [
    "load_clip", "save_clip", "detect_format", "detect_units", "euler_matrices", "parse_bvh",
    "bvh_positions", "guess_unified_mapping", "derive_layout", "BvhData",
    "DEFAULT_MAX_BYTES", "DEFAULT_GAP_FRAMES", "MAX_BVH_JOINTS", "UNIT_SCALES", "FORMATS",
]
