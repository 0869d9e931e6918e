"""Secrets in settings: from the environment or from files, and never shown.

- Any setting ``RISKMON_<NAME>`` can instead be given as ``RISKMON_<NAME>_FILE=/path``: the file's
  content (without its trailing newline) is the value. This is how container orchestrators mount
  secrets (Docker/Kubernetes secrets), and it keeps them out of ``ps`` and ``/proc/*/environ``.
  Setting both is refused: there must be one source of truth.
- :func:`redact_url` hides the password of a URL (``postgresql://riskmon:pw@db/riskmon``) wherever
  a URL is printed.

Settings classes opt in by deriving from :class:`FileSecretSettings` instead of ``BaseSettings``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsError

from alerts.redact import redact_url

__all__ = ["FileSecretSettings", "FileSecretsSource", "file_secret_sources", "redact_url"]

MAX_SECRET_FILE_BYTES = 64 * 1024


class FileSecretsSource(PydanticBaseSettingsSource):
    """Values of ``<PREFIX><NAME>_FILE`` files, for every field of the settings class."""

    def __init__(self, settings_cls: type[BaseSettings], prefix: str = "RISKMON_") -> None:
        super().__init__(settings_cls)
        self.prefix = prefix

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ does the work

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in self.settings_cls.model_fields:
            variable = f"{self.prefix}{name.upper()}"
            path = os.environ.get(f"{variable}_FILE")
            if not path:
                continue
            if os.environ.get(variable):
                raise SettingsError(
                    f'error parsing value for field "{name}_file": both {variable} and '
                    f"{variable}_FILE are set; keep one"
                )
            try:
                with Path(path).open("rb") as handle:
                    data = handle.read(MAX_SECRET_FILE_BYTES + 1)
                if len(data) > MAX_SECRET_FILE_BYTES:
                    raise ValueError(f"larger than {MAX_SECRET_FILE_BYTES} bytes")
                text = data.decode("utf-8").rstrip("\r\n")
            except (OSError, ValueError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise SettingsError(
                    f'error parsing value for field "{name}_file": cannot read {path}: {reason}'
                ) from None
            field = self.settings_cls.model_fields[name]
            try:  # JSON-valued settings (token tables) are parsed as from the environment
                values[name] = (
                    self.decode_complex_value(name, field, text)
                    if self.field_is_complex(field)
                    else text
                )
            except ValueError as exc:
                raise SettingsError(
                    f'error parsing value for field "{name}_file": {path} is not valid JSON ({exc})'
                ) from None
        return values


def file_secret_sources(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
    dotenv_settings: PydanticBaseSettingsSource,
    file_secret_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The default sources plus ``*_FILE`` files (after the environment; both set is an error)."""
    return (
        init_settings,
        env_settings,
        FileSecretsSource(settings_cls),
        dotenv_settings,
        file_secret_settings,
    )


class FileSecretSettings(BaseSettings):
    """``BaseSettings`` that also reads ``RISKMON_<NAME>_FILE`` files."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return file_secret_sources(
            settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
        )
