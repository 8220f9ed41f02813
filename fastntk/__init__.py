"""fastntk: fast, exact Gram matrices of classic and infinitely-wide-network kernels.

Importing fastntk never touches a CUDA driver.
"""

from . import backends, config, datasets, declarations, features, solvers
from ._estimator import NotFittedError
from .activations import (
    ABReLU,
    Abs,
    Custom,
    Erf,
    Identity,
    LeakyReLU,
    QuadratureWarning,
    ReLU,
    Step,
)
from .classic import ArcCosine, Gaussian, Laplacian, Linear, Polynomial
from .classification import KernelClassifier
from .convolution import CNNGP, CNTK
from .engine import diag, gram, gram_block, gram_many
from .finite import FiniteNetwork
from .model_selection import KernelClassifierCV, KernelRegressorCV
from .network import NNGP, NTK
from .regression import GradientDescentRegressor, KernelRegressor

__version__ = "0.1.0"

__all__ = [
    "ABReLU",
    "Abs",
    "ArcCosine",
    "CNNGP",
    "CNTK",
    "Custom",
    "QuadratureWarning",
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
    "backends",
    "config",
    "datasets",
    "declarations",
    "diag",
    "features",
    "gram",
    "gram_block",
    "gram_many",
    "solvers",
]
