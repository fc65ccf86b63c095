import os

import jax

from jaxcert.cli._main import enable_compilation_cache

jax.config.update("jax_enable_x64", True)

# Persistent XLA compilation cache shared by the test workers and later runs: the same
# kernels (the calibrated bound, the profile bound, Clopper-Pearson) are compiled by
# many test files, on every pytest-xdist worker, and again by the slow tier. Compiling
# dominates the suite on 2 cores; the cache only skips recompiling an identical program
# (keyed on the HLO, the compile options and the jax version), so results are unchanged.
# JAXCERT_TEST_JAX_CACHE="" turns it off.
_CACHE = os.environ.get("JAXCERT_TEST_JAX_CACHE",
                        os.path.join(os.path.dirname(os.path.dirname(__file__)), ".jax_cache"))
# The CLI's own front door sets it up; the in-process CLI tests then find it unchanged.
os.environ["JAXCERT_XLA_CACHE"] = _CACHE
enable_compilation_cache()


def pytest_configure(config):
    """The default tier compiles with XLA's backend optimisation level 0.

    Its tests are dominated by compiling kernels they then run a few times (one
    compile-bound test: 53 s at the default level, 32 s at level 0), so optimising the
    machine code costs more than it saves. The slow tier, which runs the simulations,
    and users keep the default. An explicit XLA_FLAGS, or JAXCERT_TEST_XLA_O0=0, wins.
    """
    quick = "not slow" in (config.getoption("markexpr", "") or "")
    if quick and "XLA_FLAGS" not in os.environ and os.environ.get("JAXCERT_TEST_XLA_O0") != "0":
        os.environ["XLA_FLAGS"] = "--xla_backend_optimization_level=0"
