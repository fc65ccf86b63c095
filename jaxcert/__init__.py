"""jaxcert: defensible LLM failure-rate certificates in JAX.

Importing jaxcert enables float64 in JAX (``jax_enable_x64``): the binomial tails and
rare-event weights that certificates rest on are wrong in float32.
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

from jaxcert.counts import Counts  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Counts", "__version__"]
