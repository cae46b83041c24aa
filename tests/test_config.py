from dataclasses import dataclass, field

import pytest

from xlrm.config import from_dict, load_section
from xlrm.errors import ConfigError
from xlrm.reward import TrainRMConfig


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
    with pytest.raises(ConfigError, match="no section 'sec'"):
        load_section(Section, "sec", p)


def test_train_rm_section_takes_reward_config_fields_and_rejects_others():
    cfg = TrainRMConfig.from_section({"learning_rate": "2e-5", "num_train_epochs": 1,
                                      "lora": {"r": 4}, "truncation": "left"})
    assert cfg.reward_config["learning_rate"] == 2e-5
    assert cfg.extras.lora.r == 4 and cfg.extras.truncation == "left"
    with pytest.raises(ConfigError, match="unknown key.*learnig_rate"):
        TrainRMConfig.from_section({"learnig_rate": 1})
    with pytest.raises(ConfigError, match="output_dir"):
        TrainRMConfig.from_section({"output_dir": "x"})


def test_every_preset_loads_into_the_typed_sections():
    from pathlib import Path

    from xlrm.config import read_params
    from xlrm.data.prepare import EvalDataConfig, PrepareConfig
    from xlrm.models import BaseModelConfig
    from xlrm.rm_eval import EvalRMConfig
    from xlrm.transfer import TransferConfig
    from xlrm.translation import TranslateConfig

    root = Path(__file__).resolve().parents[1]
    presets = sorted((root / "presets").glob("*.yaml")) + [root / "params.yaml"]
    assert len(presets) >= 2
    for path in presets:
        params = read_params(path)
        for cls, key in [(BaseModelConfig, "base_model"), (PrepareConfig, "prepare"),
                         (EvalDataConfig, "eval_data"), (TranslateConfig, "translate"),
                         (EvalRMConfig, "eval_rm"), (TransferConfig, "transfer")]:
            from_dict(cls, params[key], f"{path.name}: {key}")
        TrainRMConfig.from_section(params["train_rm"], f"{path.name}: train_rm")
        for key in ("languages", "rm_languages", "eval_languages"):
            assert isinstance(params[key], list) and params[key], (path, key)
