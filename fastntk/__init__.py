"""fastntk: fast, exact Gram matrices of classic and infinitely-wide-network kernels.

Importing fastntk never touches a CUDA driver.
"""

from . import datasets, features, solvers
from .activations import ABReLU, Abs, Custom, Erf, Identity, LeakyReLU, ReLU, Step
from .classic import ArcCosine, Gaussian, Laplacian, Linear, Polynomial
from .engine import diag, gram, gram_many
from .estimators import (
    GradientDescentRegressor,
    KernelClassifier,
    KernelClassifierCV,
    KernelRegressor,
    KernelRegressorCV,
    NotFittedError,
)
from .finite import FiniteNetwork
from .network import NNGP, NTK

__version__ = "0.1.0"

__all__ = [
    "ABReLU",
    "Abs",
    "ArcCosine",
    "Custom",
    "Erf",
    "FiniteNetwork",
    "Gaussian",
    "GradientDescentRegressor",
    "Identity",
    "KernelClassifier",
    "KernelClassifierCV",
    "KernelRegressor",
    "KernelRegressorCV",
    "Laplacian",
    "LeakyReLU",
    "Linear",
    "NNGP",
    "NTK",
    "NotFittedError",
    "Polynomial",
    "ReLU",
    "Step",
    "__version__",
    "datasets",
    "diag",
    "features",
    "gram",
    "gram_many",
    "solvers",
]
