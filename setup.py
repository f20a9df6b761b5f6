"""Build hook (everything else is in pyproject.toml): ship ``ml_blueprints_node.pth`` at the
top of site-packages, where Python runs it at start-up to point jsii at the ``toolchain``
extra's Node before any import (see ml_blueprints/toolchain.py). Both a regular install (the
wheel) and an editable one (``pip install -e``) get it."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH = "ml_blueprints_node.pth"
HERE = Path(__file__).resolve().parent


class BuildPyWithPth(build_py):
    """``build_py`` that also puts the ``.pth`` file at the root of the build (the wheel)."""

    def run(self) -> None:
        super().run()
        self.copy_file(str(HERE / PTH), str(Path(self.build_lib) / PTH), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / PTH)]


class EditableWheelWithPth(editable_wheel):
    """``editable_wheel`` that adds the ``.pth`` file next to setuptools' own: setuptools
    writes everything in this directory into the editable wheel."""

    def _install_namespaces(self, installation_dir, pth_prefix):  # type: ignore[no-untyped-def]
        super()._install_namespaces(installation_dir, pth_prefix)
        shutil.copyfile(HERE / PTH, Path(installation_dir) / PTH)


setup(cmdclass={"build_py": BuildPyWithPth, "editable_wheel": EditableWheelWithPth})
