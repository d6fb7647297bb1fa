"""Reading a config file from disk: YAML in, a validated `Config` out, or one error listing every problem.

Park entries may be inline mappings or paths (relative to the config file) of park model files.
All files are read and checked in one pass: an error inside a park file names that file and the
key path within it; the errors of every file are reported together.
"""

from importlib import resources
from pathlib import Path

import yaml

from lingtan.kernel.config import Config, ConfigError, Problem, parse_config
from lingtan.kernel.park import did_you_mean


class _Unreadable(Exception):
    def __init__(self, message: str):
        self.message = message


def _read_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _Unreadable(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise _Unreadable(f"{path}:{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc


def _framework_problems(parks: list) -> list[Problem]:
    """A park's `framework` must be one shipped in accounting/frameworks/."""
    from lingtan.accounting.resources import framework_names

    known = framework_names()
    out = []
    for i, park in enumerate(parks):
        name = park.get("framework", "national") if isinstance(park, dict) else "national"
        if isinstance(name, str) and name not in known:
            out.append(Problem(("parks", i, "framework"), name, f"no indicator framework of that name; shipped "
                               f"frameworks: {', '.join(known)}{did_you_mean(name, known)}"))
    return out


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        data = _read_yaml(path)
    except _Unreadable as exc:
        raise ConfigError(exc.message) from None
    park_files: dict[int, str] = {}
    unreadable: list[str] = []
    if isinstance(data, dict) and isinstance(data.get("parks"), list):
        parks = []
        for i, entry in enumerate(data["parks"]):
            if isinstance(entry, str):
                park_file = path.parent / entry
                park_files[i] = str(park_file)
                try:
                    parks.append(_read_yaml(park_file))
                except _Unreadable as exc:
                    unreadable.append(exc.message)
                    parks.append(None)
            else:
                parks.append(entry)
        if unreadable:  # the other files' errors would be about the missing parks
            raise ConfigError("\n".join(unreadable))
        data = {**data, "parks": parks}
        problems = _framework_problems(parks)
        found = [(park_files.get(p.loc[1], str(path)), p) for p in problems]
        return parse_config(data, path, park_files=park_files, problems=found)
    return parse_config(data, path)


def demo_config_text() -> str:
    return (resources.files("lingtan.cli") / "demo.yaml").read_text(encoding="utf-8")
