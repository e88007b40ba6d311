"""The books' scalar shortcuts equal what they stand for: `ledger.add` is `costs_nb.add_nb` (the sweep's
snapping), and `Order.copy` copies every field (a field added to Order and not to copy fails here)."""

from __future__ import annotations

import dataclasses
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.costs_nb import add_nb
from engine.core.ledger import add
from engine.core.orders import Order, OrderStatus, OrderType, TimeInForce

near = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 1e-13, -1e-13, 1.0, -1.0])


@settings(max_examples=400, deadline=None)  # the first call compiles the kernel
@given(a=near, b=near, scale=st.sampled_from([1.0, 1 + 1e-10, 1 - 1e-10, -1.0, -(1 + 1e-10)]))
def test_add_equals_the_kernel_bit_for_bit(a, b, scale):
    for x, y in ((a, b), (a, -a * scale) if math.isfinite(a) else (a, b)):
        mine, kernel = add(x, y), add_nb(x, y)
        assert (math.isnan(mine) and math.isnan(kernel)) or (mine == kernel and math.copysign(1, mine) ==
                                                               math.copysign(1, kernel))


def test_an_order_copy_has_every_field_and_is_independent():
    order = Order("c", "T/USDT", -1, 2.0, OrderType.LIMIT, limit_px=9.5, tif=TimeInForce.IOC, reduce_only=True,
                  decided_bar=3, live_from_bar=4, status=OrderStatus.PARTIALLY_FILLED, filled_qty=0.5, spent=4.7,
                  avg_px=9.5, fees=0.01, reason="why", venue_order_id="v1")
    copy = order.copy()
    assert [f.name for f in dataclasses.fields(Order)] and dataclasses.astuple(copy) == dataclasses.astuple(order)
    copy.filled_qty = 2.0
    assert order.filled_qty == 0.5
