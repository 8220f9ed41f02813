"""The compiled interface between kernel declarations and the backends (DESIGN.md section 2).

A kernel family's declaration (``fastntk.declarations``) registers, for its parameters class
(a namedtuple: the *spec*), one implementation of each protocol function below. The backends
call the protocol functions with a spec; Numba resolves each call at compile time to the
implementation registered for the spec's class (a typed overload), and plain Python
(``NUMBA_DISABLE_JIT=1``, the CUDA simulator) looks it up in a dict. Dispatching on the spec's
class rather than on a function passed in keeps the compiled loops cacheable across processes:
a namedtuple class pickles by name, a compiled function does not.

The protocol, for a family with ``k`` outputs and ``R`` per-row quantities:

``row_data(spec, X) -> (rows, diagonal)``
    The ``(R, n)`` per-row quantities of the rows of ``X`` (norms, the variances of every
    layer, ...), stored transposed so that loops over columns read them contiguously, and the
    ``(k, n)`` exact ``k(x, x)`` (angle 0, distance 0).
``map_run(spec, dots, rows_x, i, rows_z, j, work, out, oi, oj)``
    The kernel of row ``i`` of ``X`` against the rows ``j, j + 1, ...`` of ``Z`` whose inner
    products (or L1 distances) are ``dots``, written to ``out[:, oi, oj:oj + len(dots)]``;
    ``work`` is C-contiguous 2-D scratch of shape ``work_shape(spec, run)`` for runs of at most
    ``run`` entries (the spec class's ``work_shape``; ``(rows, run)`` unless the map lays its
    scratch out otherwise, as global pooling does). The CPU calls it once per row of a tile
    (so its loops vectorise over columns), the GPU once per entry, with one column. A spec
    class whose ``products`` is ``"none"`` gets no inner products: its map reads what it needs
    from the rows (the convolutional kernels read the pixels), and ``dots`` only gives the run's
    length.
``needs_refinement(spec, dot, rows_x, i, rows_z, j) -> bool``
    Whether the entry ``(i, j)`` must be recomputed by ``refine``: its map is ill-conditioned in
    the computed ``dot`` (a cosine near +-1: ``arccos(1 - e) ~ sqrt(2 e)`` turns a rounding of
    6e-8 into 3e-4 in float32, and of 1e-16 into 1e-8 in float64).
``refine(spec, A, a, B, b, rows_a, rows_b, dots, work, out, oi, oj)``
    The entry of the rows ``A[a]`` and ``B[b]`` recomputed in float64 (``spec``, ``rows_*``,
    the one-element ``dots`` and the one-column ``work`` are float64) from the rows themselves,
    written to ``out[:, oi, oj]``. A spec class's ``refines`` says whether its family refines
    float32 entries, and ``refines_float64(spec)`` whether ``refine`` is more accurate than
    the float64 map too (it is then run for float64 entries as well).

Row quantities reach scalar maths as *records*: namedtuples whose fields name the quantities
(``x.norm``, ``z.inverse_norm``), built by ``record`` from a column of a rows array.
"""

import functools

from numba.extending import overload

from ._jit import compile_shared, forwarder

#: The implementations of each protocol function, by spec class.
_IMPLEMENTATIONS = {}


def dispatched(prototype):
    """A function whose calls run the implementation registered (with ``register``) for the
    class of its first argument; ``prototype`` gives its name, parameters and docstring.

    Compiled callers compile the implementation once per signature and link it; LLVM inlines
    small ones into the loops that call them, which then vectorise. (Numba's CUDA target does
    not type ``inline="always"`` overloads from ``numba.extending``, so none is used here.)
    """
    implementations = _IMPLEMENTATIONS.setdefault(prototype.__name__, {})

    def function(spec, *args):
        return implementations[type(spec)][0](spec, *args)

    functools.update_wrapper(function, prototype)

    def typed(spec, *args):
        found = implementations.get(getattr(spec, "instance_class", None))
        return None if found is None else forwarder(found[1], 1 + len(args))

    overload(function, strict=False)(typed)
    return function


def register(function, spec_class, implementation):
    """Record ``implementation`` (a Numba-compiled or plain Python function with the
    parameters of ``function``) as ``function`` for specs of ``spec_class``.

    Compiled callers compile it into their own code; plain Python callers (the CUDA simulator,
    ``NUMBA_DISABLE_JIT=1``) run its Python function.
    """
    python = getattr(implementation, "py_func", implementation)
    _IMPLEMENTATIONS[function.__name__][spec_class] = (python, compile_shared(python))


def shared_implementation(function, spec_class):
    """The Numba dispatcher compiled callers use for ``function`` on ``spec_class``."""
    return _IMPLEMENTATIONS[function.__name__][spec_class][1]


@dispatched
def row_data(spec, X):
    """``(rows, diagonal)``: the ``(R, n)`` per-row quantities of the rows of ``X`` and their
    exact ``k(x, x)``, ``(k, n)``."""


@dispatched
def map_run(spec, dots, rows_x, i, rows_z, j, work, out, oi, oj):
    """The kernel of row ``i`` of ``X`` against rows ``j, j + 1, ...`` of ``Z``, written to
    ``out[:, oi, oj:oj + len(dots)]``."""


@dispatched
def needs_refinement(spec, dot, rows_x, i, rows_z, j):
    """Whether the entry ``(i, j)`` must be recomputed by ``refine``."""


@dispatched
def refine(spec, A, a, B, b, rows_a, rows_b, dots, work, out, oi, oj):
    """The entry of ``A[a]`` and ``B[b]`` recomputed in float64, written to ``out[:, oi, oj]``."""


def record(owner, rows, base, column):
    """The record ``type(owner).Rows(rows[base, column], rows[base + 1, column], ...)``.

    ``owner`` is a spec (or an activation's parameters) whose class has a ``Rows`` namedtuple
    class; the record's fields are the quantities in the rows ``base, base + 1, ...``.
    """
    fields = type(owner).Rows._fields
    return type(owner).Rows(*rows[base : base + len(fields), column])


def columns(owner, rows, base, start, stop):
    """The record of views ``rows[base + k, start:stop]``: ``at(columns(...), t)`` is then the
    record of column ``start + t``. Loops over ``t`` read contiguous views with plain range
    indices, which LLVM vectorises (``rows[k, start + t]`` with a runtime ``start`` it does not:
    Numba's negative-index check turns the load into a gather)."""
    fields = type(owner).Rows._fields
    return type(owner).Rows(*(rows[base + k, start:stop] for k in range(len(fields))))


def at(views, t):
    """The record of scalars ``views.field[t]`` of a record of views (see ``columns``)."""
    return type(views)(*(view[t] for view in views))


def _rows_class(owner):
    return getattr(getattr(owner, "instance_class", None), "Rows", None)


@overload(record)
def _record_typed(owner, rows, base, column):
    rows_class = _rows_class(owner)
    if rows_class is None:
        return None
    loads = ", ".join(f"rows[base + {k}, column]" for k in range(len(rows_class._fields)))
    return _generated("record", "owner, rows, base, column", f"rows_class({loads})", rows_class)


@overload(columns)
def _columns_typed(owner, rows, base, start, stop):
    rows_class = _rows_class(owner)
    if rows_class is None:
        return None
    views = ", ".join(f"rows[base + {k}, start:stop]" for k in range(len(rows_class._fields)))
    return _generated(
        "columns", "owner, rows, base, start, stop", f"rows_class({views})", rows_class
    )


@overload(at)
def _at_typed(views, t):
    rows_class = getattr(views, "instance_class", None)
    if rows_class is None:
        return None
    loads = ", ".join(f"views[{k}][t]" for k in range(len(rows_class._fields)))
    return _generated("at", "views, t", f"rows_class({loads})", rows_class)


@functools.cache
def _generated(name, parameters, expression, rows_class):
    """``def name(parameters): return expression`` with ``rows_class`` in scope.

    Generated per number of fields: one load (or view) per field, at constant row offsets.
    """
    source = f"def {name}({parameters}):\n    return {expression}\n"
    namespace = {"rows_class": rows_class}
    exec(compile(source, f"<{name} of {rows_class.__name__}>", "exec"), namespace)
    return namespace[name]


def store(rows, base, column, values):
    """``rows[base + k, column] = values[k]`` for each element of the tuple ``values``."""
    for k, value in enumerate(values):
        rows[base + k, column] = value


@overload(store)
def _store_typed(rows, base, column, values):
    return _store_builder(len(values))


@functools.cache
def _store_builder(count):
    lines = "".join(f"    rows[base + {k}, column] = values[{k}]\n" for k in range(count))
    source = "def store(rows, base, column, values):\n" + (lines or "    pass\n")
    namespace = {}
    exec(compile(source, f"<store of {count} values>", "exec"), namespace)
    return namespace["store"]
