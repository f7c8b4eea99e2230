"""What pyproject.toml cannot say: the scenarios and baselines at the top of the checkout ship
inside the package (``harness/_data/scenarios``, ``harness/_data/baseline``), so an installed
tlsmatrix has them wherever it runs (harness/stacks/toolchain.py scenarios_dir, baseline_dir)."""
from setuptools import find_namespace_packages, setup

setup(
    # every directory under harness/ (the probes' and images' sources are data directories: listing them
    # as namespace packages keeps setuptools from warning about each one), except build outputs
    packages=[*find_namespace_packages(include=["harness", "harness.*"], exclude=["*.target", "*.target.*", "*.__pycache__"]),
              "harness._data.scenarios", "harness._data.baseline"],
    package_dir={"harness._data.scenarios": "scenarios", "harness._data.baseline": "results/baseline"},
    # setuptools' own build tree goes beside the probes' (build/ is tlsmatrix's build directory), not into it
    options={"build": {"build_base": "build/setuptools"}},
)
