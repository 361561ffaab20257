"""Help that teaches: every verb's help has examples, its environment and every option described;
mistyped verbs, choices, config keys and ``--set`` keys get a "did you mean"; errors say how to
fix them; a closed stdout is not an error; ``verify`` prints the head as ``SEQ:HASH``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hedge.cli import VERBS, build_parser


def _hedge(*args: str, home: Path | None = None, **kw: object) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ)
    env.pop("HEDGE_HOME", None)
    if home is not None:
        env["HEDGE_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "hedge.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env, **kw)  # type: ignore[call-overload]


def _verb_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("verb", list(VERBS))
def test_every_verb_help_has_examples_environment_and_described_options(verb: str) -> None:
    p = _verb_parsers()[verb]
    text = p.format_help()
    examples = text.split("examples:\n", 1)[1].split("\n\n", 1)[0]
    assert f"hedge {verb}" in examples or verb in ("serve",), text
    env = text.split("environment:\n", 1)[1]
    assert "HEDGE_" in env, text
    for action in p._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and action.help.strip(), f"hedge {verb}: {action.option_strings or action.dest} undescribed"


def test_alerts_help_names_the_telegram_settings() -> None:
    text = _verb_parsers()["alerts"].format_help()
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "TELEGRAM_API_BASE"):
        assert name in text


def test_a_mistyped_verb_or_choice_gets_did_you_mean_without_internal_names() -> None:
    r = _hedge("rnu")
    assert r.returncode == 2 and "did you mean 'run'?" in r.stderr, r.stderr
    r = _hedge("investors", "lst")
    assert r.returncode == 2 and "did you mean 'list'?" in r.stderr, r.stderr
    assert "argument action" not in r.stderr and "ACTION" in r.stderr


def test_a_mistyped_config_key_gets_did_you_mean(tmp_path: Path) -> None:
    from config.loader import REPO_CONFIG_DIR

    d = tmp_path / "cfg"
    d.mkdir()
    for f in REPO_CONFIG_DIR.glob("*.json"):
        (d / f.name).write_text(f.read_text())
    risk = json.loads((d / "risk_limits.json").read_text())
    risk["global"]["max_open_position"] = risk["global"].pop("max_open_positions")
    (d / "risk_limits.json").write_text(json.dumps(risk))
    r = _hedge("config", "check", str(d))
    assert r.returncode == 2
    assert "global.max_open_position: unknown key (did you mean 'max_open_positions'?)" in r.stderr, r.stderr


def test_set_keys_get_did_you_mean_in_the_form_typed() -> None:
    from config.loader import ConfigError, apply_overrides, load_config

    base = load_config().as_dict()
    with pytest.raises(ConfigError, match=r"risk.max_open_position: unknown key \(did you mean 'risk.max_open_positions'\?\)"):
        apply_overrides(base, ["risk.max_open_position=5"])
    with pytest.raises(ConfigError, match=r"unknown key \(did you mean 'risk.max_open_positions'\?\)"):
        apply_overrides(base, ["max_open_positions=5"])
    with pytest.raises(ConfigError, match=r"unknown key$"):
        apply_overrides(base, ["risk.zzzzzz=5"])


def test_no_event_log_says_how_to_point_at_one(tmp_path: Path) -> None:
    r = _hedge("sessions", home=tmp_path / "nowhere")
    assert r.returncode == 2 and "no event log at" in r.stderr
    assert "--home" in r.stderr and "HEDGE_HOME" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_config_show_into_a_closed_pipe_is_not_an_error() -> None:
    cmd = f"{sys.executable} -m hedge.cli config show | head -1"
    r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "{", (r.returncode, r.stderr)
    assert "BrokenPipe" not in r.stderr and "Traceback" not in r.stderr and r.stderr == ""


def test_verify_prints_the_head_as_seq_hash_and_a_mistyped_seq_is_not_tampering(tmp_path: Path) -> None:
    from eventlog.store import EventStore
    from tests.eventgen import new_session_id, session_events

    with EventStore.open(tmp_path) as store:
        store.append(session_events(new_session_id(), 20))
        seq, head = store.head()
    r = _hedge("verify", home=tmp_path)
    assert r.returncode == 0 and f"head {seq}:{head}" in r.stdout, r.stdout
    r = _hedge("verify", "--head", f"{seq}:{head}", home=tmp_path)
    assert r.returncode == 0, r.stdout
    r = _hedge("verify", "--head", f"{seq - 1}:{head}", home=tmp_path)
    assert r.returncode == 1 and "mistyped sequence number" in r.stdout and "altered" not in r.stdout, r.stdout
    assert f"--head {seq}:{head}" in r.stdout


def test_config_is_offered_only_where_a_verb_reads_the_config_directory() -> None:
    parsers = _verb_parsers()
    for verb, p in parsers.items():
        has = any("--config" in a.option_strings for a in p._actions)
        assert has == (verb in ("run", "demo", "config")), verb
    r = _hedge("--config", "/tmp", "replay", "last")
    assert r.returncode == 2 and "reads the config recorded in the log" in r.stderr, r.stderr


def test_a_verb_registers_its_own_options_alone() -> None:
    """``hedge project`` (the follower ``hedge run`` starts) parses as the whole parser does,
    without the other verbs' options; help and a mistyped verb still see every verb."""
    from hedge.cli import verb_in

    assert verb_in(["--home", "run", "project", "--follow"]) == "project"
    assert verb_in(["--home=x", "project"]) == "project"
    assert verb_in(["--help", "project"]) is None
    assert verb_in(["projct"]) is None
    assert verb_in([]) is None
    argv = ["project", "--follow", "--account", "b1", "--interval", "0.5"]
    whole, alone = build_parser().parse_args(argv), build_parser("project").parse_args(argv)
    keep = {k: v for k, v in vars(whole).items() if k != "_run"}
    assert keep == {k: v for k, v in vars(alone).items() if k != "_run"}
    assert whole._run is alone._run
    assert build_parser("project")._subparsers is not None
    sub = next(a for a in build_parser("project")._actions if a.dest == "verb")
    assert set(sub.choices) == set(VERBS)  # type: ignore[arg-type]
