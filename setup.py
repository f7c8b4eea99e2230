"""What pyproject.toml cannot say: the scenarios and baselines at the top of the checkout ship
inside the package (``harness/_data/scenarios``, ``harness/_data/baseline``), so an installed
tlsmatrix has them wherever it runs (harness/toolchain.py scenarios_dir, baseline_dir)."""
from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["harness", "harness.*"]), "harness._data.scenarios", "harness._data.baseline"],
    package_dir={"harness._data.scenarios": "scenarios", "harness._data.baseline": "results/baseline"},
    # setuptools' own build tree goes beside the probes' (build/ is tlsmatrix's build directory), not into it
    options={"build": {"build_base": "build/setuptools"}},
)
