"""Run-time settings, read on the host and passed to compiled code as arguments.

Numba freezes module globals at compile time, so compiled code never reads these directly;
tests change them (e.g. a tiny tile size so small inputs span many tiles).
"""

import os

#: Rows and columns of one Gram tile. 256 keeps a tile's inner products (512 KiB in float64)
#: inside a Zen 4 / Skylake-X L2 cache while amortising a BLAS call.
TILE_SIZE = int(os.environ.get("FASTNTK_TILE_SIZE", "256"))

#: Tiles per progress update when ``progress=True``.
PROGRESS_STEPS = 100
