"""The build step pyproject.toml cannot declare: the shipped files go into the wheel.

The repository keeps the GPT-2 tokenizer, the embedded model and the datasets in data/, and the
lessons and exercise stubs in lessons/. A wheel carries the same two folders inside the package,
as tinyia3/_bundle/data and tinyia3/_bundle/lessons, where tinyia3/paths.py looks for them
first. An editable install copies nothing: paths.py then finds the repository's own folders.
Everything else (name, version, dependencies, the `tinyia3` command) is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("data/**/*", "lessons/[0-9][0-9]_*.py", "lessons/exercises/*")  # MANIFEST.in puts them in the sdist


def shipped_files() -> list[Path]:
    """The shipped files, relative to the project root, in a stable order."""
    found = {p.relative_to(HERE) for pattern in SHIPPED for p in HERE.glob(pattern) if p.is_file()}
    return sorted(p for p in found if "__pycache__" not in p.parts)


class BuildWithShippedFiles(build_py):
    """build_py, then data/ and lessons/ copied to BUILD/tinyia3/_bundle/."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # pip install -e .: tinyia3 reads the repository's folders in place
        bundle = Path(self.build_lib) / "tinyia3" / "_bundle"
        for relative in shipped_files():
            target = bundle / relative
            self.mkpath(str(target.parent))
            self.copy_file(str(HERE / relative), str(target))


setup(cmdclass={"build_py": BuildWithShippedFiles})
