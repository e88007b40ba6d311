"""Credentials come from the caller and go nowhere else: not into events, journal rows (the file's bytes are
searched), exception messages or log lines (ours, and ccxt's own DEBUG lines, which carry the API key in
their headers and signed URLs). And a key that can withdraw is refused for live trading, saying what to do."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from engine.core.events import OrderRejected
from engine.live.journal import Journal
from engine.venues.ccxt_errors import KeyRefused, VenueError
from engine.venues.emulator import ApiKey, Fault
from tests.engine.venues.venue_kit import command, intent, run, trading_emulator, venue_on

KEY, SECRET, WRONG = "key-7f3a9c1e", "secret-b42d8e6f", "wrong-secret-5c9e1a7b"
WITHDRAWING_KEY, WITHDRAWING_SECRET = "key-withdraws-0d4b", "secret-withdraws-9e2f"


def test_no_credential_reaches_an_event_a_journal_row_an_exception_or_a_log_line(tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)  # ccxt's request lines included
    path = tmp_path / "j.sqlite"
    with trading_emulator(keys=(ApiKey(KEY, SECRET),)) as emu, Journal.open(path) as journal:
        async def scenario():
            async with venue_on(emu, journal, key=KEY, secret=WRONG) as bad:  # a signature the exchange refuses
                refused = await bad.submit(command(intent(1, 0.5)))
                with pytest.raises(VenueError) as refusal:
                    await bad.balances()
            async with venue_on(emu, journal, key=KEY, secret=SECRET, timeout_ms=200) as good:
                placed = await good.submit(command(intent(2, 0.5)))
                emu.inject(Fault("timeout", delay_s=0.5, times=10, path="/api/v3/account"))
                with pytest.raises(VenueError) as timeout:
                    await good.balances()
            return refused, placed, str(refusal.value), str(timeout.value)

        refused, placed, refusal, timeout = run(scenario())
    assert refused == [OrderRejected(refused[0].ts_ms, refused[0].client_id, "Signature for this request is not valid.")]
    assert refusal == "balances: Signature for this request is not valid."
    assert timeout.startswith("balances: RequestTimeout: binance GET http://127.0.0.1") and "?" not in timeout
    assert placed[0].kind == "order_accepted"
    with sqlite3.connect(path) as db:
        rows = [str(row) for table in ("orders", "events", "fills") for row in db.execute(f"SELECT * FROM {table}")]
    written = "\n".join([*rows, *(repr(e) for e in refused + placed), refusal, timeout, caplog.text,
                         *capsys.readouterr()])
    assert "X-MBX-APIKEY" in caplog.text and "signature=…" in caplog.text  # ccxt did log its requests ...
    for secret in (KEY, SECRET, WRONG):  # ... blanked
        assert secret not in written
        for file in tmp_path.iterdir():
            assert secret.encode() not in file.read_bytes()


def test_a_key_that_can_withdraw_is_refused_for_live_trading_and_a_trading_only_key_is_not(tmp_path):
    keys = (ApiKey(KEY, SECRET), ApiKey(WITHDRAWING_KEY, WITHDRAWING_SECRET, can_withdraw=True))
    with trading_emulator(keys=keys) as emu, Journal.open(tmp_path / "j.sqlite") as journal:
        async def scenario():
            async with venue_on(emu, journal, live=True, key=KEY, secret=SECRET) as venue:
                started = venue.config.live
            with pytest.raises(KeyRefused) as refused:
                async with venue_on(emu, journal, live=True, key=WITHDRAWING_KEY, secret=WITHDRAWING_SECRET):
                    pass
            return started, str(refused.value)

        started, refused = run(scenario())
    assert started and "can withdraw funds" in refused and "untick 'Enable Withdrawals'" in refused
    assert WITHDRAWING_KEY not in refused and WITHDRAWING_SECRET not in refused
