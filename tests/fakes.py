"""Fakes injected through the code's seams (never `mock.patch`)."""

from __future__ import annotations


class FakeBinance:
    """What the live gates use of a ccxt Binance client: `GET /sapi/v1/account/apiRestrictions`, answered with
    the two flags that matter (and what Binance sends beside them). `asked` counts the calls."""

    id = "binance"

    def __init__(self, *, withdrawals: bool = False, ip_restricted: bool = True, answer: dict | None = None) -> None:
        self.answer = answer if answer is not None else {
            "ipRestrict": ip_restricted, "createTime": 1_698_645_219_000, "enableReading": True,
            "enableWithdrawals": withdrawals, "enableInternalTransfer": False, "enableMargin": False,
            "enableFutures": False, "permitsUniversalTransfer": False, "enableSpotAndMarginTrading": True}
        self.asked = 0

    def sapi_get_account_apirestrictions(self, params: dict | None = None) -> dict:
        self.asked += 1
        return self.answer
