"""Runtime config: the JSON files in this folder, their schemas and the loader."""

from config.loader import ConfigError, LoadedConfig, load_config, normalize_percentage

__all__ = ["ConfigError", "LoadedConfig", "load_config", "normalize_percentage"]
