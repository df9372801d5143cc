"""What the worker says Kafka refused it, told by where aiokafka raised the refusal."""

from __future__ import annotations

from collections.abc import Callable

from aiokafka.consumer.fetcher import FetchError
from aiokafka.errors import TopicAuthorizationFailedError

from dossierflow.kafka.consumer import topic_operation_of


def _raised(error: BaseException, raise_it: Callable[[], object]) -> BaseException:
    try:
        raise_it()
    except BaseException as exc:
        return exc
    raise AssertionError(f"{error!r} was not raised")


def test_a_refusal_raised_by_aiokafkas_fetcher_is_a_read() -> None:
    # What a worker's fetch raises once the events topic's READ is removed while it runs.
    error = TopicAuthorizationFailedError("events")
    raised = _raised(error, FetchError(error=error, backoff=0).check_raise)
    assert topic_operation_of(raised) == "read"


def test_a_refusal_raised_outside_aiokafkas_consumer_and_producer_tells_neither() -> None:
    error = TopicAuthorizationFailedError("events")

    def elsewhere() -> None:
        raise error

    assert topic_operation_of(_raised(error, elsewhere)) == "read or write"
    assert topic_operation_of(None) == "read or write"
