"""The engine: live loop, venue adapters, screener, risk (check_order), router, clock."""
