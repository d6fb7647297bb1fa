"""Loader for the package's static data files (factors, indicator frameworks).

These YAML files ship inside the package and never change at run time, so reading them through
importlib.resources is part of importing the code, not I/O on user data. This is the only
module of accounting/ that opens a file.
"""

from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def package_yaml(name: str) -> Any:
    """Parse accounting/<name> (e.g. "factors.yaml", "frameworks/national.yaml")."""
    node = resources.files("lingtan.accounting")
    for part in name.split("/"):
        node = node.joinpath(part)
    return yaml.safe_load(node.read_text(encoding="utf-8"))


def framework_names() -> list[str]:
    """Ids of the frameworks shipped in accounting/frameworks/."""
    folder = resources.files("lingtan.accounting").joinpath("frameworks")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
