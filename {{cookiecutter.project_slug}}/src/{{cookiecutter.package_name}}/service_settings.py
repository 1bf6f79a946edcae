"""This service's own settings: add your fields here.

The template never changes this file, so a template update never conflicts with what you add
here (docs/upgrading.md, "Where to add your own things"). A field reads the environment
variable of its name, case-insensitively (``payments_url`` reads ``PAYMENTS_URL``); give each one
a default, a line in the last section of ``.env.example`` and a row in docs/settings.md.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """The fields this service adds to the kit's settings (none yet)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)
