"""What pyproject.toml cannot say: the package is the ``harness/`` folder, installed and imported as
``tlsmatrix`` (``import tlsmatrix``; no top-level ``harness`` in an installed environment, where
that name would clash with a project's own test harness), and the scenarios and baselines at the
top of the checkout ship inside it (``tlsmatrix/_data/scenarios``, ``tlsmatrix/_data/baseline``),
so an installed tlsmatrix has them wherever it runs (harness/model/paths.py scenarios_dir, baseline_dir)."""
from setuptools import find_namespace_packages, setup

#: every directory under harness/ (the probes' and images' sources are data directories: listing them
#: as namespace packages keeps setuptools from warning about each one), except build outputs
FOLDERS = find_namespace_packages(include=["harness", "harness.*"], exclude=["*.target", "*.target.*", "*.__pycache__"])

setup(
    packages=[*("tlsmatrix" + name.removeprefix("harness") for name in FOLDERS),
              "tlsmatrix._data.scenarios", "tlsmatrix._data.baseline"],
    package_dir={"tlsmatrix": "harness", "tlsmatrix._data.scenarios": "scenarios",
                 "tlsmatrix._data.baseline": "results/baseline"},
    # setuptools' own build tree goes beside the probes' (build/ is tlsmatrix's build directory), not into it
    options={"build": {"build_base": "build/setuptools"}},
)
