"""`[scoring]` values that would crash or mislead are refused at start, as a user sees it:
one line naming the key on stderr, exit 2, before anything else happens."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import cli_env, run_cli

NOWHERE = "http://127.0.0.1:9"  # never reached: the config is refused first


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("BASIS_SCALE", "0", "scoring.basis_scale: must be greater than 0"),
        ("OI_1H_SCALE", "-3", "scoring.oi_1h_scale: must be greater than 0"),
        ("FUNDING_WEIGHT", "1.5", "scoring.funding_weight: must be between 0 and 1"),
        ("OI_24H_WEIGHT", "0.9", "scoring.oi_24h_weight: oi_1h_weight + oi_4h_weight"),
        ("BIAS_BASIS_UNIT", "nan", "scoring.bias_basis_unit: must be a finite number"),
        ("STRESSED_FROM", "101", "scoring.stressed_from: bands must rise strictly"),
    ],
)
async def test_bad_scoring_value_from_the_environment_is_one_line_exit_2(
    tmp_path: Path, key: str, value: str, says: str
) -> None:
    env = cli_env(tmp_path, NOWHERE)
    env[f"PRESSUREBOT_SCORING__{key}"] = value
    code, out, err = await run_cli("scan", env=env)
    assert code == 2, err
    assert out == "" and err.strip().count("\n") == 0 and "Traceback" not in err
    assert says in err


async def test_unordered_bands_in_the_config_file_are_one_line_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[scoring]\nlean_from = 50\nstressed_from = 10\n", encoding="utf-8")
    code, _, err = await run_cli("--config", str(config), "scan", env=cli_env(tmp_path, NOWHERE))
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "scoring.lean_from: bands must rise strictly within 1..100" in err
    assert "lean_from = 50 < stretched_from = 35 < stressed_from = 10" in err
