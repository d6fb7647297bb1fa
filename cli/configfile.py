"""Reading a config file from disk: YAML in, a validated `Config` out, or one clear error.

Park entries may be inline mappings or paths (relative to the config file) of park model files.
"""

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from lingtan.kernel.config import Config, ConfigError, format_errors, parse_config
from lingtan.kernel.park import Park


def _read_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}:{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc


def load_config(path: str | Path) -> Config:
    path = Path(path)
    data = _read_yaml(path)
    if isinstance(data, dict) and isinstance(data.get("parks"), list):
        parks = []
        for entry in data["parks"]:
            if isinstance(entry, str):
                park_file = (path.parent / entry)
                park = _read_yaml(park_file)
                try:
                    Park.model_validate(park)  # errors name the park file, not the parks list
                except ValidationError as exc:
                    raise ConfigError(format_errors(exc, str(park_file))) from exc
                parks.append(park)
            else:
                parks.append(entry)
        data = {**data, "parks": parks}
    return parse_config(data, path)


def demo_config_text() -> str:
    return (resources.files("lingtan.cli") / "demo.yaml").read_text(encoding="utf-8")
