"""Binance USD-M futures venue, cut by job.

| module | job |
|---|---|
| ``client`` | the only user of binance-futures-connector: REST behind a 429/418 gate, websockets |
| ``env`` | environment, endpoints, secret redaction |
| ``wire`` | venue Structs and strict parsers |
| ``convert`` | Structs -> event content: klines, conflated ticks |
| ``positions`` | the exchange's account; the position after every fill (``PositionLedger``) |
| ``orders`` | order lifecycle: each ack / reject / cancel / expiry / fill once |
| ``errors`` | ``Faults``: the one way a failed call becomes a ``VenueError`` |
| ``exchange_filters`` | symbol filters from exchangeInfo |
| ``klines`` | warm-up and gap backfill of klines |
| ``reconcile`` | account, open orders, missed fills, funding read back over REST |
| ``readback`` | what a read-back reads, and its network half (off the loop thread) |
| ``order_calls`` | the network half of placing and canceling orders |
| ``offloop`` | the worker thread for every call made while the loop runs |
| ``restart`` | where a restarted session reads back from |
| ``loopmeter`` | how long the loop goes without listening to the venue |
| ``streams`` | websocket supervisor: reconnects, listen key |
| ``venue`` | ``BinanceVenue``, the ``engine.ports.Venue`` |
| ``dry`` | ``DRY_RUN=1``: the simulator's matching on Binance's bars |
"""

from engine.venues.binance.venue import BinanceVenue, VenueClock, make_binance_venue

__all__ = ["BinanceVenue", "VenueClock", "make_binance_venue"]
