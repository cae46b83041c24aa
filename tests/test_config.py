from dataclasses import dataclass, field

import pytest

from xlrm.config import from_dict
from xlrm.errors import ConfigError
from xlrm.sections import SECTIONS, TOP_LEVEL, config_class, dump, load_config, load_section


@dataclass
class Inner:
    r: int = 1


@dataclass
class Section:
    lr: float = 1.0
    name: str = "x"
    inner: Inner = field(default_factory=Inner)
    maybe: int | None = None


def test_unknown_key_is_rejected_with_its_name():
    with pytest.raises(ConfigError, match=r"params.yaml: s: unknown key\(s\) \['lerning_rate'\]"):
        from_dict(Section, {"lerning_rate": 1}, "params.yaml: s")


def test_types_are_checked_and_yaml_exponents_coerced():
    cfg = from_dict(Section, {"lr": "1e-5", "inner": {"r": 3}, "maybe": None}, "s")
    assert cfg.lr == 1e-5 and cfg.inner.r == 3 and cfg.maybe is None
    with pytest.raises(ConfigError, match=r"s.inner.r: expected an integer"):
        from_dict(Section, {"inner": {"r": "three"}}, "s")
    with pytest.raises(ConfigError, match=r"s.inner: unknown key"):
        from_dict(Section, {"inner": {"q": 1}}, "s")


def test_load_section_names_the_file(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("other: {}\n")
    with pytest.raises(ConfigError, match=f"{p}: no section 'transfer'"):
        load_section("transfer", p)
    p.write_text("transfer: {bootstrap_resamples: many}\n")
    with pytest.raises(ConfigError, match=f"{p}: transfer.bootstrap_resamples: expected an integer"):
        load_section("transfer", p)


def test_train_rm_section_takes_reward_config_fields_and_rejects_others():
    cls = config_class("train_rm")
    cfg = load_config(cls, {"learning_rate": "2e-5", "num_train_epochs": 1,
                            "lora": {"r": 4}, "truncation": "left"}, "train_rm")
    assert cfg.reward_config["learning_rate"] == 2e-5
    assert cfg.extras.lora.r == 4 and cfg.extras.truncation == "left"
    assert dump(cfg)["learning_rate"] == 2e-5 and dump(cfg)["lora"]["r"] == 4
    with pytest.raises(ConfigError, match="unknown key.*learnig_rate"):
        load_config(cls, {"learnig_rate": 1}, "train_rm")
    with pytest.raises(ConfigError, match="output_dir"):
        load_config(cls, {"output_dir": "x"}, "train_rm")


@pytest.mark.slow
def test_config_modules_are_light():
    """A stage checks its params before paying for torch: no config module imports it."""
    import subprocess
    import sys

    modules = sorted({entry.split(":")[0] for entry in SECTIONS.values()})
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'mlflow') "
              "if m in sys.modules]\nprint(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"config modules import {out.stdout.strip()}"


def _declared_params(dvc_yaml) -> set[str]:
    import yaml

    out = set()
    for stage in yaml.safe_load(dvc_yaml.read_text())["stages"].values():
        stage = stage.get("do", stage)
        for entry in stage.get("params", []):
            out.update(k.split(".")[0] for k in (entry if isinstance(entry, dict) else [entry]))
    return out


def test_every_preset_holds_every_declared_section_and_each_loads():
    from pathlib import Path

    from xlrm.config import read_params

    root = Path(__file__).resolve().parents[1]
    declared = _declared_params(root / "dvc.yaml")
    lists = set(TOP_LEVEL)
    known = set(SECTIONS) | lists
    assert declared <= known and set(SECTIONS) <= declared, declared ^ known
    presets = sorted((root / "presets").glob("*.yaml")) + [root / "params.yaml"]
    assert {p.stem for p in presets} >= {"tiny", "default", "paper", "params"}
    for path in presets:
        params = read_params(path)
        assert set(params) == known, (path.name, set(params) ^ known)
        for key in SECTIONS:
            load_config(config_class(key), params[key], f"{path.name}: {key}")
        for key in lists:
            assert isinstance(params[key], list) and params[key], (path, key)
