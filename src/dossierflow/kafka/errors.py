"""Errors of the Kafka layer (configuration errors are `security.KafkaConfigError`)."""

from __future__ import annotations

from dossierflow.errors import DossierflowError


class KafkaUnavailable(DossierflowError):
    """No broker of the bootstrap list answered in time; retrying later may succeed."""


class TopicError(DossierflowError):
    """The broker refused to create a topic."""
