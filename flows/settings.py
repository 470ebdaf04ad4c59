"""One settings object for the CLI and the flows: environment variables prefixed ``NESYFLOW_``.

Per-call arguments default to ``None`` and are filled from here, so a deployment, the CLI and a
test all get the same defaults without repeating them.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "DEFAULT_MAX_TOKENS"]

DEFAULT_MAX_TOKENS = 2048
"""Completion tokens asked for at most on every LLM call: the longest recorded completion (AR-LSAT,
Z3 DSL) is under 3,000 characters (~1,000 tokens); without a bound one local model answered with
3,511 tokens in 494 s."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NESYFLOW_", extra="ignore")

    home: Path = Field(Path(".nesyflow"), description="project-local state: Prefect home, server log, result store, caches")
    timeout_s: float = Field(10.0, gt=0, description="wall-clock seconds per prover run")
    cpu_s: int = Field(10, gt=0, description="CPU seconds per prover process")
    memory_mb: int = Field(2048, gt=64, description="memory cap per prover process (MB)")
    concurrency: int = Field(default_factory=lambda: os.cpu_count() or 2, gt=0, description="problems (chunks) solved at once")
    chunk_size: int = Field(0, ge=0, description="problems per task run for cheap stages; 0 = automatic")
    max_json_file_mb: int = Field(64, gt=0, description="largest JSON array (or UTF-16) problem file, in MB: such a "
                                                         "file is read whole; JSONL is streamed whatever its size")
    max_record_mb: int = Field(16, gt=0, description="longest line of a JSONL problem file, in MB: a longer one is "
                                                     "reported as that problem's error and not read")
    server_port: int = Field(4200, gt=0, lt=65536, description="port of the local Prefect server the CLI starts "
                                                           "(kept across restarts; the next free one if taken)")
    problem_timeout_s: float | None = Field(None, gt=0, description="seconds one problem may spend in back ends, across "
                                                                     "all of them [3 × timeout_s]")
    max_tokens: int = Field(DEFAULT_MAX_TOKENS, gt=0, description="completion tokens asked for at most on every LLM call "
                                                                   "(--max-tokens)")
    server_grace_s: float = Field(15.0, gt=0, description="seconds without an answer from the Prefect server before a "
                                                          "batch stops (results so far are written)")
    api_auth: bool = Field(True, description="basic auth on the local Prefect server the CLI starts, with the credential "
                                             "in <home>/api-auth (created on first start); off (NESYFLOW_API_AUTH=off) "
                                             "only on a single-user machine, and then only on loopback")
    # What a served flow run (``nesyflow serve``, a worker) may touch: set by ``serve`` for its flow runs.
    read_roots: list[Path] = Field(default_factory=list, description="folders a served run may read datasets from "
                                                                     "[the project and its data folder]")
    results_root: Path | None = Field(None, description="where a served run writes its results and summary, in "
                                                        "<root>/<flow-run-id>/ [<home>/runs]")
    models: list[str] = Field(default_factory=list, description="models a served run's caller may pick for parser llm "
                                                                "(the first is the default); none: parser llm is refused")
    api_bases: list[str] = Field(default_factory=list, description="endpoints a served run's caller may pick for those "
                                                                   "models (the first is the default) [the provider's]")

    @property
    def prefect_home(self) -> Path:
        return self.home.resolve() / "prefect"

    @property
    def results_dir(self) -> Path:
        return self.home.resolve() / "results"

    @property
    def cache_dir(self) -> Path:
        return self.home.resolve() / "cache"


def get_settings() -> Settings:
    return Settings()
