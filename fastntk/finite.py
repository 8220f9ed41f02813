"""A finite-width fully-connected network: its empirical NNGP and NTK, and gradient descent.

The network of MATH.md section 3 at finite width, in the NTK parameterization, with weights
and biases drawn i.i.d. ``N(0, 1)``::

    h_1 = w_std W_1 x / sqrt(d) + b_std b_1,       a_l = phi(h_l),
    h_{l+1} = w_std W_{l+1} a_l / sqrt(width) + b_std b_{l+1},      f(x) = h_{depth+1}

As the width grows, its empirical NNGP and NTK converge to ``fastntk.NNGP`` and
``fastntk.NTK`` with the same ``depth``, ``activation``, ``w_std``, ``b_std`` (and ``frozen``)
at the rate ``1 / sqrt(width)``, and the network trained by gradient descent on the squared loss
tracks the linearised dynamics of kernel regression with the NTK (MATH.md sections 4 and 5).

With ``parameterization="standard"`` (neural-tangents' ``Dense(..., parameterization=
"standard")``) the network function is the same, but the trained parameters are the scaled
``w_std W_l / sqrt(n_in)`` and ``b_std b_l`` (biases only when ``b_std > 0``): the empirical NTK
then converges to ``fastntk.NTK(..., parameterization="standard", width=width)``, and gradient
descent moves those parameters.
"""

import math

import numpy as np
import scipy.linalg

from ._validation import (
    as_compute_array,
    as_real_array,
    check_fits_in_memory,
    check_int,
    check_matrix,
    check_positive,
    resolve_dtype,
)
from .activations import as_activation
from .features import as_generator, elementwise
from .network import NTK, PARAMETERIZATIONS

__all__ = ["FiniteNetwork"]


class FiniteNetwork:
    """A fully-connected network of finite ``width`` in the NTK parameterization.

    The network and its infinite-width limits are in the module docstring. The parameters are
    the lists ``weights`` (``W_l`` of shape ``(n_out, n_in)``, layer ``l = 1 .. depth + 1``) and
    ``biases`` (``b_l`` of shape ``(n_out,)``), drawn ``N(0, 1)`` from ``seed`` in that order,
    layer by layer (the draws are float64 whatever the ``dtype``). They may be set in place.

    Parameters
    ----------
    n_features : int, the input dimension ``d``
    width : int, units in each hidden layer
    depth : int >= 1, number of hidden layers
    activation : name or ``fastntk`` activation, as in ``fastntk.NTK``
    w_std : float > 0
    b_std : float >= 0
    frozen : int in ``0 .. depth``, bottom layers that are not trained: ``fit`` leaves them
        as drawn and ``empirical_ntk`` leaves out their parameters, as ``fastntk.NTK(frozen=)``.
    n_outputs : int >= 1, output units (the output is then ``(n, n_outputs)``; with 1 it is
        ``(n,)``)
    seed : int, ``numpy.random.Generator`` or None
    dtype : float64 (default) or float32, of the parameters and all computation
    parameterization : "ntk" (default) or "standard" (see the module docstring)

    Examples
    --------
    The empirical NTK of a wide network is close to the infinite-width NTK, and the network
    trained by gradient descent follows the NTK's linearised dynamics:

    >>> import numpy as np
    >>> import fastntk as fk
    >>> rng = np.random.default_rng(0)
    >>> X, X_test = rng.uniform(-1, 1, (20, 3)), rng.uniform(-1, 1, (5, 3))
    >>> y = np.sin(2 * X[:, 0])
    >>> network = fk.FiniteNetwork(n_features=3, width=1024, depth=2, b_std=1.0, seed=0)
    >>> limit = fk.gram(fk.NTK(depth=2, b_std=1.0), X)
    >>> bool(np.abs(network.empirical_ntk(X) - limit).max() < 0.15 * limit.max())
    True
    >>> expected = network.infinite_width_prediction(X, y, X_test, 0.02, 200)
    >>> trained = network.fit(X, y, learning_rate=0.02, steps=200).predict(X_test)
    >>> bool(np.abs(trained - expected).max() < 0.15 * np.abs(expected).max())
    True
    """

    def __init__(
        self,
        n_features,
        width,
        depth=1,
        activation="relu",
        w_std=1.0,
        b_std=0.0,
        *,
        frozen=0,
        n_outputs=1,
        seed=None,
        dtype=None,
        parameterization="ntk",
    ):
        self.n_features = check_int(n_features, "n_features", 1)
        self.width = check_int(width, "width", 1)
        self.depth = check_int(depth, "depth", 1)
        self.activation = as_activation(activation)
        self.w_std = check_positive(w_std, "w_std")
        self.b_std = check_positive(b_std, "b_std", allow_zero=True)
        self.frozen = check_int(frozen, "frozen", 0, self.depth)
        self.n_outputs = check_int(n_outputs, "n_outputs", 1)
        self.dtype = resolve_dtype(dtype)
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(
                f"parameterization must be one of {PARAMETERIZATIONS}, got {parameterization!r}"
            )
        self.parameterization = parameterization
        if self.frozen < self.depth and not self.activation.has_derivative:
            raise ValueError(
                f"a network with activation {self.activation!r} cannot be trained below its "
                "last layer (the derivative is not a function); use frozen=depth"
            )
        rng = as_generator(seed)
        sizes = [self.n_features] + [self.width] * self.depth + [self.n_outputs]
        n_parameters = sum(
            (n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        )
        check_fits_in_memory(
            n_parameters * (8 + self.dtype.itemsize),
            f"{n_parameters} network parameters",
            "lower width or depth",
        )
        self.weights, self.biases = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            self.weights.append(rng.standard_normal((n_out, n_in)).astype(self.dtype))
            self.biases.append(rng.standard_normal(n_out).astype(self.dtype))
        self._elementwise = elementwise(self.activation)

    def __repr__(self):
        return (
            f"FiniteNetwork(n_features={self.n_features}, width={self.width}, "
            f"depth={self.depth}, activation={self.activation!r}, w_std={self.w_std}, "
            f"b_std={self.b_std}, frozen={self.frozen}, n_outputs={self.n_outputs}, "
            f"dtype={self.dtype}, parameterization={self.parameterization!r})"
        )

    # --- the network -------------------------------------------------------------------------

    def predict(self, X):
        """The output ``f(x)`` of each row: shape (n,), or (n, n_outputs)."""
        outputs = self._forward(self._check_rows(X, "X"))[1][-1]
        return self._shaped(outputs)

    __call__ = predict

    def empirical_nngp(self, X, Z=None):
        """``w_std^2 a_L(x).a_L(z) / width + b_std^2``, the covariance of the output over
        the last layer's random weights given the hidden layers (it converges to
        ``fastntk.NNGP``). Shape (n, m); ``Z`` None means ``Z = X``."""
        X, Z = self._check_pair(X, Z)
        last_x = self._forward(X)[0][-1]
        last_z = last_x if Z is None else self._forward(Z)[0][-1]
        return self._covariance(last_x, last_z)

    def empirical_ntk(self, X, Z=None):
        """``<grad f(x), grad f(z)>`` over the trained parameters, at the current parameters.

        With ``df/dW_l = delta_l a_{l-1}^T`` (``delta_l = df/dh_l``, ``a_0 = x``) each layer
        contributes ``(delta_l(x) . delta_l(z)) (w_std^2 a_{l-1}(x) . a_{l-1}(z) / n_{l-1} +
        b_std^2)``, summed over the layers ``frozen + 1 .. depth + 1`` (``delta = 1`` at the
        output); in the standard parameterization ``(delta_l(x) . delta_l(z)) (a_{l-1}(x) .
        a_{l-1}(z) + beta)``, ``beta = 1`` with biases. No per-parameter Jacobian is formed: the
        memory is that of the activations, ``O((n + m) width depth)``, and of the output.

        Returns
        -------
        ndarray, shape (n, m); with several outputs (n_outputs, n, m), the kernel of each
        output (the blocks between different outputs vanish as the width grows and are not
        computed). ``Z`` None means ``Z = X``.
        """
        X, Z = self._check_pair(X, Z)
        n_rows_z = X.shape[0] if Z is None else Z.shape[0]
        check_fits_in_memory(
            self.n_outputs * X.shape[0] * n_rows_z * self.dtype.itemsize,
            "the empirical NTK",
            "pass fewer rows of X or Z per call (the blocks of the matrix are independent), or "
            "use dtype=float32",
        )
        layers_x = self._forward(X)
        layers_z = layers_x if Z is None else self._forward(Z)
        trained = range(self.frozen, self.depth + 1)  # 0-based indices of the trained layers
        input_shares = [
            self._parameter_share(layers_x[0][layer], layers_z[0][layer]) for layer in trained
        ]
        kernels = np.zeros((self.n_outputs, X.shape[0], n_rows_z), dtype=self.dtype)
        for output in range(self.n_outputs):
            deltas_x = self._deltas(layers_x[1], self._selector(X.shape[0], output))
            deltas_z = (
                deltas_x
                if Z is None
                else self._deltas(layers_z[1], self._selector(n_rows_z, output))
            )
            for share, layer in zip(input_shares, trained, strict=True):
                kernels[output] += (deltas_x[layer] @ deltas_z[layer].T) * share
        return kernels[0] if self.n_outputs == 1 else kernels

    # --- training ----------------------------------------------------------------------------

    def fit(self, X, y, learning_rate, steps):
        """Full-batch gradient descent on ``L = 1/2 sum_i (f(x_i) - y_i)^2`` (a sum, not a mean):
        ``theta <- theta - learning_rate grad L``, ``steps`` times, for the parameters of the
        layers above ``frozen``. Gradient descent converges when ``learning_rate`` is below
        ``2 / lambda_max`` of the empirical NTK on ``X``.

        Returns ``self``, with ``loss_curve_``: the loss before each step.
        """
        X = self._check_rows(X, "X")
        y = self._check_targets(y, X.shape[0])
        learning_rate = check_positive(learning_rate, "learning_rate")
        steps = check_int(steps, "steps", 0)
        losses = np.empty(steps)
        # A learning rate that is too large overflows: reported below by the loss, not by NumPy.
        with np.errstate(over="ignore", invalid="ignore"):
            self._descend(X, y, learning_rate, losses)
        self.loss_curve_ = losses
        return self

    def _descend(self, X, y, learning_rate, losses):
        """``len(losses)`` steps of ``fit``, writing the loss before each into ``losses``."""
        step_size = self.dtype.type(learning_rate)
        for step in range(losses.size):
            inputs, preactivations = self._forward(X)
            residual = preactivations[-1] - y
            losses[step] = 0.5 * np.sum(np.square(residual, dtype=np.float64))
            if not np.isfinite(losses[step]):
                raise FloatingPointError(
                    f"gradient descent diverged at step {step}: lower learning_rate "
                    f"(now {learning_rate}) below 2 / (largest eigenvalue of the NTK on X)"
                )
            deltas = self._deltas(preactivations, residual)
            for layer in range(self.frozen, self.depth + 1):
                # The step along the trained parameter (scale W or W itself), stored as W.
                scale = self.w_std / math.sqrt(inputs[layer].shape[1])
                weight_rate = scale if self.parameterization == "ntk" else 1 / scale
                self.weights[layer] -= step_size * weight_rate * (deltas[layer].T @ inputs[layer])
                if self.parameterization == "ntk":
                    self.biases[layer] -= step_size * self.b_std * deltas[layer].sum(axis=0)
                elif self.b_std > 0:
                    self.biases[layer] -= step_size / self.b_std * deltas[layer].sum(axis=0)

    def infinite_width_prediction(self, X, y, X_test, learning_rate, steps):
        """Predictions at ``X_test`` after ``steps`` steps of ``fit``, for the linearised network
        at infinite width that starts from this network's current outputs ``f_0``:
        ``f_k(x*) = f_0(x*) + Theta(x*, X) Theta^-1 (I - (I - eta Theta)^k) (y - f_0(X))``,
        ``Theta = fastntk.NTK`` with this network's ``depth``, ``activation``, ``w_std``,
        ``b_std`` and ``frozen``, ``eta = learning_rate``. This is the discrete-time form of
        MATH.md section 5 (``exp(-eta Theta t)`` there, the limit of small ``eta`` with
        ``t = k``); ``k -> inf`` is kernel regression with the NTK. Call it before ``fit``.

        Raises
        ------
        ValueError
            When ``learning_rate >= 2 / lambda_max(Theta(X, X))``: the dynamics diverge.
        """
        X = self._check_rows(X, "X")
        X_test = self._check_rows(X_test, "X_test")
        y = self._check_targets(y, X.shape[0])
        learning_rate = check_positive(learning_rate, "learning_rate")
        steps = check_int(steps, "steps", 0)
        kernel = NTK(
            self.depth,
            self.activation,
            self.w_std,
            self.b_std,
            frozen=self.frozen,
            parameterization=self.parameterization,
            width=self.width,
        )
        eigenvalues, eigenvectors = scipy.linalg.eigh(kernel(X, dtype=self.dtype))
        if learning_rate * eigenvalues[-1] >= 2:
            raise ValueError(
                f"learning_rate {learning_rate} makes gradient descent diverge: the NTK's "
                f"largest eigenvalue on X is {eigenvalues[-1]:.6g}, so learning_rate must be "
                f"< {2 / eigenvalues[-1]:.6g}"
            )
        residual = y - self._forward(X)[1][-1]
        gains = _gradient_descent_gains(eigenvalues, learning_rate, steps).astype(self.dtype)
        coefficients = eigenvectors @ (gains[:, None] * (eigenvectors.T @ residual))
        predictions = self._forward(X_test)[1][-1] + kernel(X_test, X, dtype=self.dtype) @ (
            coefficients
        )
        return self._shaped(predictions)

    # --- internals ---------------------------------------------------------------------------

    def _forward(self, X):
        """The inputs ``a_0 = x, a_1 .. a_depth`` of the layers and their pre-activations
        ``h_1 .. h_{depth+1}`` (the last is the output), rows are samples."""
        inputs, preactivations = [X], []
        for layer, (weights, biases) in enumerate(zip(self.weights, self.biases, strict=True)):
            scale = self.dtype.type(self.w_std / math.sqrt(weights.shape[1]))
            h = inputs[-1] @ (scale * weights.T) + self.dtype.type(self.b_std) * biases
            preactivations.append(h)
            if layer < self.depth:
                inputs.append(self._elementwise.function(h))
        return inputs, preactivations

    def _deltas(self, preactivations, cotangent):
        """``delta_l = d(sum_i cotangent_i . f(x_i)) / dh_l(x_i)`` for the trained layers (a
        list indexed by 0-based layer, None below ``frozen``); ``cotangent`` is (n, n_outputs).
        """
        deltas = [None] * (self.depth + 1)
        deltas[self.depth] = cotangent
        for layer in range(self.depth - 1, self.frozen - 1, -1):
            weights = self.weights[layer + 1]
            scale = self.dtype.type(self.w_std / math.sqrt(weights.shape[1]))
            upstream = deltas[layer + 1] @ (scale * weights)
            deltas[layer] = upstream * self._elementwise.derivative(preactivations[layer])
        return deltas

    def _covariance(self, inputs_x, inputs_z):
        """``w_std^2 a(x) . a(z) / n_in + b_std^2`` for the inputs ``a`` of one layer."""
        products = inputs_x @ inputs_z.T
        products *= self.dtype.type(self.w_std**2 / inputs_x.shape[1])
        products += self.dtype.type(self.b_std**2)
        return products

    def _parameter_share(self, inputs_x, inputs_z):
        """A layer's ``<dh(x)/dparameters, dh(z)/dparameters>`` per unit: the covariance in
        the NTK parameterization, ``a(x) . a(z) + beta`` in the standard one."""
        if self.parameterization == "ntk":
            return self._covariance(inputs_x, inputs_z)
        products = inputs_x @ inputs_z.T
        if self.b_std > 0:
            products += self.dtype.type(1)
        return products

    def _check_rows(self, X, name):
        X = check_matrix(X, name)
        if X.shape[1] != self.n_features:
            raise ValueError(
                f"{name} must have n_features = {self.n_features} columns, got shape {X.shape}"
            )
        return as_compute_array(X, self.dtype, name)

    def _check_pair(self, X, Z):
        return self._check_rows(X, "X"), None if Z is None else self._check_rows(Z, "Z")

    def _check_targets(self, y, n_rows):
        """``y`` as an (n_rows, n_outputs) array; a ``ValueError`` naming the shape passed
        (``TypeError`` for a non-numeric dtype)."""
        y = as_real_array(y, "y")
        columns = y[:, None] if y.ndim == 1 else y
        if columns.shape != (n_rows, self.n_outputs):
            expected = f"({n_rows},)" if self.n_outputs == 1 else f"({n_rows}, {self.n_outputs})"
            raise ValueError(f"y must have shape {expected}, got {y.shape}")
        return as_compute_array(columns, self.dtype, "y")

    def _selector(self, n_rows, output):
        """The cotangent whose deltas are those of output ``output`` alone."""
        cotangent = np.zeros((n_rows, self.n_outputs), dtype=self.dtype)
        cotangent[:, output] = 1
        return cotangent

    def _shaped(self, outputs):
        return outputs[:, 0] if self.n_outputs == 1 else outputs


def _gradient_descent_gains(eigenvalues, learning_rate, steps):
    """``(1 - (1 - eta s)^k) / s`` for each eigenvalue ``s`` (``eta k`` at ``s = 0``), the gain
    of ``steps`` linearised gradient-descent steps along that eigenvector; ``expm1`` and
    ``log1p`` keep it accurate when ``eta s`` is small."""
    rates = learning_rate * eigenvalues
    small = np.abs(rates) < 0.5
    decayed = np.where(
        small,
        -np.expm1(steps * np.log1p(-np.where(small, rates, 0.0))),
        1 - (1 - rates) ** steps,
    )
    nonzero = eigenvalues != 0
    return np.where(nonzero, decayed / np.where(nonzero, eigenvalues, 1.0), learning_rate * steps)
