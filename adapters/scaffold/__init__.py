"""`tawasul-hub adapters new NAME`: a new adapter package from the templates beside this file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from adapters.errors import ConfigError

NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

FILES: dict[str, str] = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "__init__.py.tmpl": "{module}/__init__.py",
    "settings.py.tmpl": "{module}/settings.py",
    "adapter.py.tmpl": "{module}/adapter.py",
    "tests/test_contract.py.tmpl": "tests/test_contract.py",
}
"""Template (under templates/) to the path it is written to inside the new package."""

TRANSPORT_MARK = "# TRANSPORT: replace the next line with the call to your agency's system."
"""The line in adapter.py above the one statement an integrator replaces."""


@dataclass(frozen=True)
class Names:
    """The names one adapter NAME gives: kind, distribution, module, classes."""

    name: str
    kind: str
    dist: str
    module: str
    cls: str
    settings: str

    @classmethod
    def of(cls, name: str) -> Names:
        """The names for NAME (lower case letters, digits, '-' or '_'); a bad name is a ConfigError."""
        if not NAME.match(name):
            raise ConfigError(f"NAME '{name}': lower-case letters and digits, words joined by '-' or '_'")
        kind = name.replace("-", "_")
        camel = "".join(part.capitalize() for part in kind.split("_"))
        return cls(
            name=name,
            kind=kind,
            dist=f"tawasul-adapter-{name.replace('_', '-')}",
            module=f"tawasul_adapter_{kind}",
            cls=f"{camel}Adapter",
            settings=f"{camel}Settings",
        )

    def fill(self, text: str) -> str:
        """`text` with the template's placeholders replaced."""
        for mark, value in (
            ("__SETTINGS__", self.settings),
            ("__CLASS__", self.cls),
            ("__MODULE__", self.module),
            ("__DIST__", self.dist),
            ("__KIND__", self.kind),
            ("__NAME__", self.name),
        ):
            text = text.replace(mark, value)
        return text


def scaffold(name: str, directory: Path) -> list[Path]:
    """Write a new adapter package for NAME into `directory` (which must not exist); the files written."""
    names = Names.of(name)
    if directory.exists():
        raise ConfigError(f"{directory} already exists; give a new directory (nothing was written)")
    templates = resources.files("adapters.scaffold") / "templates"
    written = []
    for template, target in FILES.items():
        path = directory / target.format(module=names.module)
        text = (templates / template).read_text(encoding="utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(names.fill(text), encoding="utf-8")
        written.append(path)
    return written
