"""Functions of a kernel *spec* whose implementation is chosen by the spec's class.

A spec is a module-level ``namedtuple`` of a kernel's numeric parameters. Numba types each spec
class as a distinct, picklable type, so one generic parallel Gram loop specialises per kernel
family and still caches across processes (a jitted function passed as an argument would not).
The same dispatch works in plain Python, so ``NUMBA_DISABLE_JIT=1`` runs the same code.
"""

from numba.extending import overload


def spec_dispatch(name):
    """Return ``(function, register)``: ``function(spec, *args)`` runs the implementation that
    ``register(spec_class)(implementation)`` recorded for ``type(spec)``."""
    implementations = {}

    def function(spec, *args):
        return implementations[type(spec)](spec, *args)

    function.__name__ = function.__qualname__ = name

    @overload(function)
    def _typed(spec, *args):
        implementation = implementations.get(getattr(spec, "instance_class", None))
        if implementation is None:
            return None

        def call(spec, *args):
            return implementation(spec, *args)

        return call

    def register(spec_class):
        def decorate(implementation):
            implementations[spec_class] = implementation
            return implementation

        return decorate

    return function, register
