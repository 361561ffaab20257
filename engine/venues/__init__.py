"""Venue adapters behind the ``engine.ports.Venue`` port: ``sim`` and ``binance``."""
