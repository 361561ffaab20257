"""docs/events.md is generated from the schemas and must stay in sync with them."""

from pathlib import Path

from eventlog.catalogue import render
from eventlog.events import EVENT_TYPES

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_events_doc_matches_the_schemas_when_regenerated() -> None:
    assert DOC.read_text() == render(), "regenerate: python -m eventlog.catalogue > docs/events.md"


def test_every_event_type_has_a_section_in_the_doc() -> None:
    text = DOC.read_text()
    for name in EVENT_TYPES:
        assert f"### `{name}`" in text


def test_issue_required_events_exist() -> None:
    required = {
        "SessionStarted", "SessionEnded", "ConfigChanged", "MarketTick", "KlineClosed", "NavSnapshot",
        "PositionSnapshot", "OffExchangeValued", "IntentEmitted", "RiskDecided", "OrderSubmitted",
        "OrderAccepted", "OrderRejected", "OrderCanceled", "OrderExpired", "OrderFilled",
        "RouterFallback", "AlertSent",
    }
    assert required <= set(EVENT_TYPES)
