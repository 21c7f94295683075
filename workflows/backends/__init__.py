"""Backends by provider name, built once per process from the HOCON config."""
import functools
from pathlib import Path

from django.conf import settings

from batchsite.config import ProviderConfig, get_config
from workflows.backends.base import Backend, JobSpec, JobState, Submitted, TransientBackendError

__all__ = ["Backend", "JobSpec", "JobState", "Submitted", "TransientBackendError", "backend_for", "provider_for"]


def provider_for(name: str | None = None) -> ProviderConfig:
    """Return the named provider's config (default: backend.default)."""
    return get_config().provider(name)


def local_root(provider: ProviderConfig) -> str:
    """Return a local provider's root as an absolute path (relative roots live under var/)."""
    root = Path(provider.root)
    return str(root if root.is_absolute() else Path(settings.VAR_DIR) / root)


@functools.lru_cache(maxsize=None)
def backend_for(name: str | None = None) -> Backend:
    """Return the backend of the named provider, built once per process."""
    provider = provider_for(name)
    poll_seconds = settings.BATCHSITE_POLL_SECONDS[provider.kind]
    if provider.kind == "local":
        from workflows.backends.local import LocalBackend

        return LocalBackend(provider.name, local_root(provider), provider.sandbox, poll_seconds=poll_seconds,
                            duplication=provider.local_duplication)
    from workflows.backends.aws_batch import AwsBatchBackend

    return AwsBatchBackend(provider, get_config().aws, poll_seconds=poll_seconds)
