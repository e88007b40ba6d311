"""Client order ids: deterministic, short, Binance-safe, and never shared by two different orders."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from engine.core.ids import MAX_LENGTH, ROLES, client_order_id, parse_client_id

BINANCE_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")  # newClientOrderId's rule
MS_2100 = 4_102_444_800_000


@given(scope=st.text(min_size=1, max_size=200), decided=st.integers(0, MS_2100), role=st.sampled_from(sorted(ROLES)),
       attempt=st.integers(0, 10**6))
def test_an_id_is_short_safe_and_says_what_it_is(scope, decided, role, attempt):
    text = client_order_id(scope, decided, role, attempt)
    assert len(text) <= MAX_LENGTH and BINANCE_CLIENT_ID.fullmatch(text) and re.fullmatch(r"[A-Za-z0-9_-]+", text)
    parsed = parse_client_id(text)
    assert (parsed.decided_ms, parsed.role, parsed.attempt) == (decided, role, attempt)
    assert client_order_id(scope, decided, role, attempt) == text  # deterministic


@given(a=st.tuples(st.sampled_from(["dep-a", "dep-b", "run-1"]), st.integers(0, MS_2100), st.sampled_from(sorted(ROLES)),
                   st.integers(0, 50)),
       b=st.tuples(st.sampled_from(["dep-a", "dep-b", "run-1"]), st.integers(0, MS_2100), st.sampled_from(sorted(ROLES)),
                   st.integers(0, 50)))
def test_different_orders_never_share_an_id(a, b):
    assert (client_order_id(*a) == client_order_id(*b)) == (a == b)


def test_ids_made_elsewhere_are_not_ours():
    assert parse_client_id("x-1234-web") is None and parse_client_id("web_8d3f2a") is None
