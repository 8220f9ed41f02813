"""How a kernel family and an activation are declared: one class each (DESIGN.md section 2).

A kernel family
===============
A subclass of ``ScalarKernel`` (a frozen dataclass) is a kernel that is a scalar map of the
inner product ``x . z`` (or, with ``products = "l1"``, the L1 distance ``|x - z|_1``) and of
per-row quantities of ``x`` and ``z``. Its class body is the whole declaration::

    @dataclass(frozen=True)
    class RationalQuadratic(ScalarKernel):
        '''k(x, z) = (1 + |x - z|^2 / (2 a l^2)) ** -a'''

        lengthscale: float = 1.0
        alpha: float = 1.0

        parameters = ("inverse_two_a_variance", "alpha")  # the numbers the maths uses
        rows = ("squared_norm",)  # per-row quantities, functions of |x|^2

        def parameter_values(self, n_features, dtype):
            return (0.5 / (self.alpha * self.lengthscale**2), self.alpha)

        def row_values(p, squared_norm):
            return (squared_norm,)

        def value(p, dot, x, z):
            distance = max(x.squared_norm + z.squared_norm - 2 * dot, 0.0)
            return (1 + distance * p.inverse_two_a_variance) ** -p.alpha

        def diagonal(p, x):
            return 1.0

- ``parameters``: names of the numbers of ``p``, the parameters namedtuple the maths receives
  (``parameter_values`` computes them on the host; floats are converted to the computation
  dtype, integers to int64).
- ``rows``: names of the per-row quantities; ``row_values(p, squared_norm)`` returns them, and
  the maths reads them as fields of the records ``x`` and ``z``.
- ``value(p, dot, x, z)``: the kernel's scalar map; ``diagonal(p, x)``: ``k(x, x)`` exactly.
- Optional ``needs_refinement(p, dot, x, z)``: whether an entry's map is ill-conditioned in the
  computed ``dot`` (a cosine near +-1, a distance that cancels): float32 entries are then
  recomputed in float64.
- Optional ``refined_value(p, pair, x, z)``: such an entry from the exact quantities of the two
  rows (``pair.dot``, ``pair.squared_distance``, ``pair.squared_wedge``, ``pair.norm_gap``:
  ``fastntk._math.Pair``) with full relative accuracy; flagged entries are then recomputed
  with it in float64 too.
- Optional ``products = "l1"``: ``dot`` is then ``|x - z|_1``.

``value``, ``diagonal``, ``row_values``, ``needs_refinement`` and ``refined_value`` are plain
functions of scalars (Numba compiles them into each backend's loop: the CPU tile loop and the CUDA
kernel are both generated from them), written without ``self``. Anything incomplete is a
``DeclarationError`` when the class is defined, naming the family and the missing part. Families
declared outside fastntk compile in each process (Numba's disk cache cannot see changes to their
source).

An activation
=============
A subclass of ``Activation`` declares an activation ``phi`` of the network kernels (MATH.md
section 2): its NumPy form ``phi(self, u)`` (and ``phi_prime(self, u)``, or
``has_derivative = False``), used by ``fastntk.features`` and ``FiniteNetwork``; its dual
``dual(p, sxz, c, x, z) -> (T, Td)`` with ``T = E[phi(u) phi(v)]`` and
``Td = E[phi'(u) phi'(v)]`` for ``(u, v) ~ N(0, [[sxx, sxz], [sxz, szz]])``, ``c`` the
correlation clipped into [-1, 1] (exactly 1 on the diagonal, 0 when a variance is 0); and the
per-layer quantities its dual needs, ``rows`` with ``row_values(p, variance)``. The records
``x`` and ``z`` hold ``variance``, ``root`` (its square root), ``inverse_root`` (0 for a zero
variance) and the declared ``rows``. An activation with a kink, whose ``Td`` has an infinite
slope in ``c`` at +-1 (so that rounding ``c`` costs ``eps / theta``), also declares
``angle_dual(p, theta, remaining, sxz, x, z) -> (T, Td, deficit, variance_slope)``: the dual
from the accurate angle ``theta`` and ``remaining = pi - theta``, ``deficit = sqrt(T(x, x) T(z,
z)) - T`` without cancellation, and the constant ``dT(x, x) / dsxx`` (its ``T(x, x)`` is linear
in ``sxx``); near-parallel entries then carry each layer's angle accurately in float64.
``scale_invariant = True`` says that ``phi(s u) = phi(u)`` for ``s > 0``. ``parameters`` and
``parameter_values(self, dtype)`` are as for kernels; ``name`` (optional) makes it reachable by
that string. An activation whose maths is made of functions its instances hold
(``Elementwise``) sets ``declared_per_instance = True`` and returns from ``spec`` the parameters
of a declaration it makes for them.
"""

import inspect
import itertools
from collections import namedtuple

import numpy as np
from numba import njit

from . import engine
from ._jit import COMPILE_OPTIONS, compile_shared
from ._math import exact_dot, pair_products
from ._protocol import at, columns, dispatched, record, register, store
from ._protocol import map_run as protocol_map_run
from ._protocol import needs_refinement as protocol_needs_refinement
from ._protocol import refine as protocol_refine
from ._protocol import row_data as protocol_row_data

__all__ = ["Activation", "ActivationKernel", "DeclarationError", "Kernel", "ScalarKernel"]


class DeclarationError(TypeError):
    """A kernel family or an activation is declared incompletely or inconsistently."""


class Kernel:
    """Base class of fastntk kernels (frozen dataclasses).

    ``k(X, Z=None, **options)`` is ``fastntk.gram(k, X, Z, **options)``; ``k.diag(X)`` is
    ``k(x, x)`` for each row. A kernel gives the engine ``spec(n_features, dtype)``, the
    parameters namedtuple of its family's compiled maths; ``n_outputs`` (Gram matrices per
    call), ``cacheable`` (whether its compiled loops may be cached on disk),
    ``cuda_unavailable`` (why it cannot run on a GPU, or None) and ``scale_invariant``.
    """

    n_outputs = 1
    cacheable = True
    #: Why the kernel cannot run on a GPU (None: it can).
    cuda_unavailable = None
    #: Whether ``k(s x, t z) = k(x, z)`` for all ``s, t > 0``: the engine then scales each
    #: row by a power of two into a safe range first (exact), so no scale under- or overflows.
    scale_invariant = False

    #: The ranks of the inputs the kernel takes: 2, rows of features (the convolutional
    #: kernels take images and signals).
    input_ranks = (2,)

    def __call__(self, X, Z=None, **options):
        return engine.gram(self, X, Z, **options)

    def prepare(self, X, Z):
        """``(kernel, X, Z)`` the engine computes with, from the inputs as given (``Z`` None
        or ``X`` itself for ``K(X, X)``, kept so): a kernel of images checks their shapes and
        returns them as rows, with itself bound to their shape."""
        return self, X, Z

    def diag(self, X, *, dtype=None):
        """``k(x, x)`` for every row ``x`` of ``X``, shape (n,)."""
        return engine.diag(self, X, dtype=dtype)

    def spec(self, n_features, dtype):
        """The parameters of the compiled maths for inputs of ``n_features`` in ``dtype``."""
        raise NotImplementedError

    def check_rows(self, spec, rows):
        """Called with the per-row quantities of every input before they are used."""

    @staticmethod
    def stacked(kernels):
        """The kernel whose outputs are those of ``kernels`` from one pass (``gram_many``)."""
        raise TypeError(f"gram_many takes NNGP and NTK kernels, got {kernels[0]!r}")


class ActivationKernel(Kernel):
    """A kernel of a network with an ``activation``: where its code may be cached and whether
    it runs on a GPU are the activation's."""

    @property
    def cacheable(self):
        return self.activation.cacheable

    @property
    def cuda_unavailable(self):
        return self.activation.cuda_unavailable


# --- what declarations share ------------------------------------------------------------------


def declared_in_fastntk(cls):
    return cls.__module__ == "fastntk" or cls.__module__.startswith("fastntk.")


#: The parts of a kernel family's and of an activation's declaration. A subclass that
#: redefines none of them (e.g. ``ReLU`` of the piecewise-linear activations) shares its
#: parent's compiled maths.
_KERNEL_DECLARATION = (
    "parameters",
    "rows",
    "products",
    "value",
    "diagonal",
    "row_values",
    "needs_refinement",
    "refined_value",
)
_ACTIVATION_DECLARATION = ("parameters", "rows", "dual", "row_values", "angle_dual")


def _declares(cls, parts):
    return "Parameters" not in dir(cls) or any(part in cls.__dict__ for part in parts)


def _check_function(cls, what, name, parameters, purpose, required=True):
    """The declared function ``name`` of ``cls``, checked to take ``parameters``."""
    function = cls.__dict__.get(name, getattr(cls, name, None))
    if isinstance(function, staticmethod):
        function = function.__func__
    if function is None:
        if not required:
            return None
        raise DeclarationError(
            f"{what} {cls.__name__} is incomplete: it declares no {name}({', '.join(parameters)})"
            f", {purpose}"
        )
    python = getattr(function, "py_func", function)
    if not callable(python):
        raise DeclarationError(f"{what} {cls.__name__}: {name} must be a function")
    try:
        count = len(inspect.signature(python).parameters)
    except (TypeError, ValueError):
        count = len(parameters)
    if count != len(parameters):
        raise DeclarationError(
            f"{what} {cls.__name__}: {name} must take ({', '.join(parameters)}), "
            f"got {count} parameter(s)"
        )
    return function


def _names(cls, what, attribute, reserved=()):
    names = getattr(cls, attribute, ())
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise DeclarationError(
            f"{what} {cls.__name__}: {attribute} must be a tuple of names, got {names!r}"
        )
    names = tuple(names)
    for name in names:
        if not name.isidentifier() or name.startswith("_") or name in reserved:
            raise DeclarationError(f"{what} {cls.__name__}: {attribute} has a bad name {name!r}")
    if len(set(names)) != len(names):
        raise DeclarationError(f"{what} {cls.__name__}: {attribute} repeats a name: {names}")
    return names


def _parameters_class(cls, fields, rows_class):
    """The namedtuple of a declaration's numbers, named ``<class>.Parameters`` so that it
    pickles by name (Numba's disk cache records the types of compiled signatures).

    Numba also names compiled code after the argument types, so a class declared outside
    fastntk gets a type name of its own: declared again (a notebook cell run twice), it must
    not run the code compiled for the first declaration."""
    type_name = f"{cls.__name__}Parameters"
    if not declared_in_fastntk(cls):
        type_name += f"_{next(_outside_declarations)}"
    parameters_class = namedtuple(type_name, fields)
    parameters_class.__module__ = cls.__module__
    parameters_class.__qualname__ = f"{cls.__qualname__}.Parameters"
    parameters_class.Rows = rows_class
    return parameters_class


_outside_declarations = itertools.count()


def numbers(values, fields, dtype, owner):
    """``values`` in the computation dtype: floats as ``dtype``, integers as int64, arrays and
    functions as they are."""
    values = tuple(values)
    if len(values) != len(fields):
        raise DeclarationError(
            f"{owner}: parameter_values returned {len(values)} value(s) for the parameters {fields}"
        )
    converted = []
    for value in values:
        if isinstance(value, (bool, np.bool_)):
            converted.append(np.bool_(value))
        elif isinstance(value, (int, np.integer)):
            converted.append(np.int64(value))
        elif isinstance(value, (float, np.floating)):
            converted.append(dtype.type(value))
        else:
            converted.append(value)
    return converted


# --- kernel families --------------------------------------------------------------------------


class ScalarKernel(Kernel):
    """A kernel declared by a scalar map of ``x . z`` and per-row quantities (see the module
    docstring). Subclasses are frozen dataclasses; their declaration is checked and registered
    when the class is defined."""

    parameters = ()
    rows = ()
    products = "dot"

    def __init_subclass__(cls, **options):
        super().__init_subclass__(**options)
        if not _declares(cls, _KERNEL_DECLARATION):
            return
        what = "kernel family"
        fields = _names(cls, what, "parameters")
        rows = _names(cls, what, "rows")
        if cls.products not in ("dot", "l1"):
            raise DeclarationError(
                f"{what} {cls.__name__}: products must be 'dot' or 'l1', got {cls.products!r}"
            )
        if not callable(getattr(cls, "parameter_values", None)):
            raise DeclarationError(
                f"{what} {cls.__name__} is incomplete: it declares no "
                "parameter_values(self, n_features, dtype), the numbers of its parameters"
            )
        value = _check_function(cls, what, "value", ("p", "dot", "x", "z"), "its scalar map")
        diagonal = _check_function(cls, what, "diagonal", ("p", "x"), "the exact k(x, x)")
        row_function = _check_function(
            cls,
            what,
            "row_values",
            ("p", "squared_norm"),
            f"the per-row quantities {rows}",
            required=bool(rows),
        )
        refinement = _check_function(
            cls, what, "needs_refinement", ("p", "dot", "x", "z"), "", required=False
        )
        refined_value = _check_function(
            cls, what, "refined_value", ("p", "pair", "x", "z"), "", required=False
        )
        if refined_value is not None and refinement is None:
            raise DeclarationError(
                f"{what} {cls.__name__} declares refined_value but no needs_refinement(p, dot, "
                "x, z), which entries it recomputes"
            )
        parameters_class = _parameters_class(cls, fields, namedtuple(f"{cls.__name__}Rows", rows))
        parameters_class.products = cls.products
        parameters_class.refines = refinement is not None
        parameters_class.refines_float64 = (
            _always_refines if refined_value is not None else _never_refines
        )
        parameters_class.work_shape = _no_work
        cls.Parameters = parameters_class
        if not declared_in_fastntk(cls):
            cls.cacheable = False
        implementations = _scalar_protocol(
            value, diagonal, row_function, refinement, refined_value, len(rows)
        )
        for function, implementation in implementations.items():
            register(function, parameters_class, implementation)

    def spec(self, n_features, dtype):
        dtype = np.dtype(dtype)
        values = self.parameter_values(n_features, dtype)
        return self.Parameters(*numbers(values, self.Parameters._fields, dtype, repr(self)))


def _no_work(spec, run):
    """A scalar family's ``map_run`` needs no scratch."""
    return (0, run)


def _always_refines(spec):
    return True


def _never_refines(spec):
    return False


def _scalar_protocol(value, diagonal, row_function, refinement, refined_value, row_count):
    """The protocol functions of a scalar family, from its declared scalar functions.

    Each family gets its own small loops, calling its functions directly: ``value`` is
    inlined in Numba's IR (the map is often too large for LLVM's inliner, and a call in the loop
    would stop its vectorisation), the others are compiled once and linked.
    """
    value = njit(inline="always", **COMPILE_OPTIONS)(_python(value))
    diagonal = compile_shared(_python(diagonal))
    row_function = compile_shared(_python(row_function or _no_rows))

    def map_run(spec, dots, rows_x, i, rows_z, j, work, out, oi, oj):
        x = record(spec, rows_x, 0, i)
        z_columns = columns(spec, rows_z, 0, j, j + dots.shape[0])
        out_row = out[0, oi, oj : oj + dots.shape[0]]
        for t in range(dots.shape[0]):
            out_row[t] = value(spec, dots[t], x, at(z_columns, t))

    def row_data(spec, X):
        rows = np.empty((row_count, X.shape[0]), dtype=X.dtype)
        values = np.empty((1, X.shape[0]), dtype=X.dtype)
        for i in range(X.shape[0]):
            total = X.dtype.type(0)
            for k in range(X.shape[1]):
                total += X[i, k] * X[i, k]
            store(rows, 0, i, row_function(spec, total))
            values[0, i] = diagonal(spec, record(spec, rows, 0, i))
        return rows, values

    implementations = {protocol_map_run: map_run, protocol_row_data: row_data}
    if refinement is not None:
        refinement = compile_shared(_python(refinement))

        def needs_refinement(spec, dot, rows_x, i, rows_z, j):
            return refinement(spec, dot, record(spec, rows_x, 0, i), record(spec, rows_z, 0, j))

        implementations[protocol_needs_refinement] = needs_refinement
        implementations[protocol_refine] = _scalar_refine(refined_value)
    return implementations


def _scalar_refine(refined_value):
    """A scalar family's ``refine``: its ``refined_value`` of the pair's exact quantities, or
    without one its map of the inner product accumulated in float64."""
    if refined_value is None:

        def refine(spec, A, a, B, b, rows_a, rows_b, dots, work, out, oi, oj):
            dots[0] = exact_dot(A, B, a, b)
            protocol_map_run(spec, dots, rows_a, a, rows_b, b, work, out, oi, oj)

        return refine
    refined_value = compile_shared(_python(refined_value))

    def refine(spec, A, a, B, b, rows_a, rows_b, dots, work, out, oi, oj):
        pair = pair_products(A, B, a, b)
        x = record(spec, rows_a, 0, a)
        out[0, oi, oj] = refined_value(spec, pair, x, record(spec, rows_b, 0, b))

    return refine


def _no_rows(p, squared_norm):
    return ()


def _python(function):
    """The plain Python function of a declared function (it may be a Numba dispatcher)."""
    return getattr(function, "py_func", function)


# --- activations ------------------------------------------------------------------------------


#: Per-layer quantities every activation's dual receives, before its own ``rows``.
LAYER_QUANTITIES = ("variance", "root", "inverse_root")


@dispatched
def activation_dual(p, sxz, c, x, z):
    """An activation's ``dual``: ``(T, Td)``."""


@dispatched
def activation_angle_dual(p, theta, remaining, sxz, x, z):
    """An activation's ``angle_dual``: ``(T, Td, deficit, variance_slope)``."""


@dispatched
def activation_row_values(p, variance):
    """An activation's own per-layer quantities."""


class Activation:
    """Base class of activations (see the module docstring). ``has_derivative`` says whether
    the NTK is defined; ``cacheable`` whether its compiled maths may be cached on disk."""

    parameters = ()
    rows = ()
    has_derivative = True
    #: Why the NTK is not defined, when ``has_derivative`` is False.
    missing_derivative = "its derivative is not a function"
    #: Whether ``phi`` exists as an elementwise function (``fastntk.features`` and
    #: ``FiniteNetwork`` need it; a dual map alone serves the kernels).
    has_function = True
    cacheable = True
    #: Whether ``phi(s u) = phi(u)`` for every ``s > 0``.
    scale_invariant = False
    #: Why the network kernels of this activation cannot run on a GPU (None: they can).
    cuda_unavailable = None
    #: A string (or tuple of strings) by which ``NTK(activation=...)`` finds the activation.
    name = None
    #: Every named activation, by name.
    named = {}

    def __init_subclass__(cls, **options):
        super().__init_subclass__(**options)
        names = cls.__dict__.get("name")
        for name in (names,) if isinstance(names, str) else names or ():
            Activation.named[name.lower()] = cls
        if cls.__dict__.get("declared_per_instance") or not _declares(cls, _ACTIVATION_DECLARATION):
            return
        what = "activation"
        fields = _names(cls, what, "parameters")
        rows = _names(cls, what, "rows", reserved=LAYER_QUANTITIES)
        dual = _check_function(
            cls, what, "dual", ("p", "sxz", "c", "x", "z"), "its dual activation (T, Td)"
        )
        row_function = _check_function(
            cls,
            what,
            "row_values",
            ("p", "variance"),
            f"the per-layer quantities {rows}",
            required=bool(rows),
        )
        if not callable(getattr(cls, "phi", None)):
            raise DeclarationError(
                f"{what} {cls.__name__} is incomplete: it declares no phi(self, u), its NumPy form"
            )
        if cls.has_derivative is True and not callable(getattr(cls, "phi_prime", None)):
            raise DeclarationError(
                f"{what} {cls.__name__} is incomplete: it declares no phi_prime(self, u), the "
                "NumPy form of its derivative (or has_derivative = False)"
            )
        angle_dual = _check_function(
            cls,
            what,
            "angle_dual",
            ("p", "theta", "remaining", "sxz", "x", "z"),
            "",
            required=False,
        )
        layer_rows = namedtuple(f"{cls.__name__}Layer", LAYER_QUANTITIES + rows)
        parameters_class = _parameters_class(cls, fields, layer_rows)
        parameters_class.row_count = len(layer_rows._fields)
        parameters_class.angular = angle_dual is not None
        if angle_dual is not None:
            register(activation_angle_dual, parameters_class, angle_dual)
        cls.Parameters = parameters_class
        if not declared_in_fastntk(cls):
            cls.cacheable = False
        register(activation_dual, parameters_class, dual)
        register(activation_row_values, parameters_class, row_function or _no_rows)

    def parameter_values(self, dtype):
        """The numbers of ``parameters``, in order."""
        return ()

    def check_variances(self, variances, derivative):
        """Called with the pre-activation variances ``Sigma_l(x, x)`` of every input row
        (shape (layers, n)) before they are used, and whether the kernel uses ``Td``: a place
        for errors and warnings about this input (``Custom`` estimates its quadrature error)."""

    def spec(self, dtype):
        """The parameters namedtuple of the dual, in ``dtype``."""
        dtype = np.dtype(dtype)
        values = self.parameter_values(dtype)
        return self.Parameters(*numbers(values, self.Parameters._fields, dtype, repr(self)))
