"""Every event type of `engine.core.events` goes into the journal and comes back as the same typed record,
and nothing else goes in: not another type, not a NaN, not a field named like a credential."""

from __future__ import annotations

import json
import types
import uuid
from typing import NamedTuple, Union, get_args, get_origin, get_type_hints

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.events import Event, OrderFilled
from engine.core.orders import Order
from engine.live.journal import Journal, JournalError, SecretRefused
from engine.live.journal.codec import EVENT_TYPES, decode, encode

_PLAIN = {int: st.integers(-2**63, 2**63 - 1), float: st.floats(allow_nan=False, allow_infinity=False),
          str: st.text(), bool: st.booleans()}


def _values(hint: object) -> st.SearchStrategy:
    if get_origin(hint) in (Union, types.UnionType):
        return st.one_of(*[st.none() if arg is type(None) else _PLAIN[arg] for arg in get_args(hint)])
    return _PLAIN[hint]


def _records(cls: type) -> st.SearchStrategy:
    return st.builds(cls, **{name: _values(hint) for name, hint in get_type_hints(cls).items()})


EVENTS = st.one_of(*[_records(cls) for cls in EVENT_TYPES.values()])


def test_the_codec_knows_every_event_type():
    assert set(EVENT_TYPES.values()) == set(get_args(Event)) and len(EVENT_TYPES) == 10


@settings(max_examples=300, deadline=None)
@given(event=EVENTS)
def test_an_event_survives_json_as_the_same_typed_record(event):
    kind, fields = encode(event)
    back = decode(kind, json.loads(json.dumps(fields, allow_nan=False)), "test")
    assert type(back) is type(event) and back == event


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    with Journal.open(tmp_path_factory.mktemp("codec") / "journal.sqlite") as journal:
        yield journal


@settings(max_examples=60, deadline=None)
@given(batch=st.lists(EVENTS, min_size=1, max_size=12))
def test_a_batch_of_every_type_comes_back_from_the_journal_as_written(journal, batch):
    """Through a real SQLite file; an order event needs its intent, and its client id (and a fill's trade id)
    is made unique per example so examples do not meet in the shared journal."""
    deployment = uuid.uuid4().hex
    batch = [_own(event, deployment, i) for i, event in enumerate(batch)]
    for client_id in dict.fromkeys(e.client_id for e in batch if hasattr(e, "client_id")):
        journal.record_intent(deployment, Order(client_id, "BTC/USDT", 1, 1.0), 0)
    written = journal.append(deployment, batch)
    back = journal.events_after(deployment)
    assert [entry.seq for entry in back] == list(written.seqs) and written.duplicates == ()
    assert [(type(entry.event), entry.event) for entry in back] == [(type(event), event) for event in batch]


def _own(event: NamedTuple, deployment: str, i: int) -> NamedTuple:
    if isinstance(event, OrderFilled):
        event = event._replace(trade_id=f"{event.trade_id}#{i}")
    return event._replace(client_id=f"{deployment}:{event.client_id}") if hasattr(event, "client_id") else event


def test_a_record_that_is_not_a_core_event_is_refused():
    class Imposter(NamedTuple):
        ts_ms: int
        kind = "bar_closed"

    with pytest.raises(JournalError, match="not an event of engine.core.events"):
        encode(Imposter(1))


def test_a_field_named_like_a_credential_is_refused_and_no_event_or_order_has_one():
    class Leaky(NamedTuple):
        ts_ms: int
        api_key: str
        kind = "leaky"

    with pytest.raises(SecretRefused, match="api_key"):
        encode(Leaky(1, "k"))
    from engine.live.journal.schema import metadata

    names = [name for cls in EVENT_TYPES.values() for name in cls._fields]
    names += [column.name for table in metadata.tables.values() for column in table.columns]
    assert not [name for name in names if any(word in name for word in ("key", "secret", "signature", "password"))]


def test_a_number_that_is_not_finite_is_refused():
    with pytest.raises(JournalError, match="not finite"):
        encode(OrderFilled(1, "c", 1.0, float("nan"), 0.0, "USDT", "t", True))


def test_a_stored_event_of_an_unknown_type_or_shape_is_reported_with_its_place():
    with pytest.raises(JournalError, match="event 7 holds an event of type 'margin_called'"):
        decode("margin_called", {"ts_ms": 1}, "event 7")
    with pytest.raises(JournalError, match="event 8: the bar_closed event's fields do not match"):
        decode("bar_closed", {"ts_ms": 1, "venue": "x"}, "event 8")
