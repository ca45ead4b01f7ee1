from pathlib import Path

import pytest

from bot.cli import main
from bot.governor.rules_config import RulesConfig, RulesError, default_rules_path, load_rules


def test_default_rules_file_loads_and_matches_model_defaults() -> None:
    assert default_rules_path().is_file()
    assert load_rules() == RulesConfig()


@pytest.mark.parametrize(
    "text, field",
    [
        ("version: 1\ng7:\n  max_daily_loss_pct: 1.5\n", "g7.max_daily_loss_pct"),
        ("version: 1\ng7:\n  max_order_notional_usd: -5\n", "g7.max_order_notional_usd"),
        ("version: 1\ng6:\n  unknown_knob: 3\n", "g6.unknown_knob"),
        ("version: 2\n", "version"),
        ("- just\n- a list\n", "<file>"),
        ("g3:\n  drawdown: {stages: [0.05, 0.03, 0.08], worse: higher}\n", "g3.drawdown"),
        ("g4:\n  blackout_hours: 400\n", "g4"),
        ("g1:\n  base_leverage: 9\n", "g1"),
        ("signals:\n  unavailable_is_caution: {gamma: true}\n", "signals.unavailable_is_caution.gamma.[key]"),
        ("g7: [unclosed\n", "<file>"),
    ],
)
def test_bad_rules_are_rejected_naming_the_field(tmp_path: Path, text: str, field: str) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text(text)
    with pytest.raises(RulesError) as exc:
        load_rules(f)
    assert field in [p[0] for p in exc.value.problems]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text("g6:\n  price_band_pct: 0\ng7:\n  max_drawdown_pct: 2\n")
    with pytest.raises(RulesError) as exc:
        load_rules(f)
    assert {p[0] for p in exc.value.problems} == {"g6.price_band_pct", "g7.max_drawdown_pct"}


def test_rules_check_cli_exits_2_naming_the_field(tmp_path: Path, capsys) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text("g7:\n  max_gross_venue_usd: abc\n")
    assert main(["rules", "check", str(f)]) == 2
    assert "g7.max_gross_venue_usd" in capsys.readouterr().err
    assert main(["rules", "check", str(default_rules_path())]) == 0
