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


class FolderServer:
    """A folder served read-only over HTTP on 127.0.0.1 (aiohttp in a thread), as a static file server or a
    bucket's HTTP endpoint would: `listings=False` answers a folder's URL with 403, as most do. `requests`
    logs the paths asked for, in order."""

    def __init__(self, folder, *, listings: bool = False) -> None:
        self.folder, self.listings = folder, listings
        self.requests: list[str] = []
        self._loop = self._thread = self._runner = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FolderServer:
        import asyncio
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="folder-server", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    async def _serve(self) -> None:
        from aiohttp import web

        @web.middleware
        async def log(request, handler):
            self.requests.append(request.path)
            return await handler(request)

        app = web.Application(middlewares=[log])
        app.router.add_static("/", self.folder, show_index=self.listings)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
