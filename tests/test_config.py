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


def _section_loaders() -> dict:
    """params section -> a function that loads it into its typed config (as its stage does)."""
    from xlrm.alignment import (AlignmentConfig, EvalAlpacaConfig, LabelConfig,
                                TrainDPOConfig)
    from xlrm.analysis import AnalyzeEmbeddingsConfig, AnalyzeRepresentationsConfig
    from xlrm.data.instructions import InstructionsConfig
    from xlrm.data.prepare import EvalDataConfig, PrepareConfig
    from xlrm.generation import GenerateConfig
    from xlrm.models import BaseModelConfig
    from xlrm.offshelf import EvalOffshelfConfig
    from xlrm.report import ReportConfig
    from xlrm.rm_eval import EvalRMConfig
    from xlrm.transfer import TransferConfig
    from xlrm.translation import TranslateConfig

    typed = {"base_model": BaseModelConfig, "policy_model": BaseModelConfig,
             "prepare": PrepareConfig, "eval_data": EvalDataConfig,
             "translate": TranslateConfig, "eval_rm": EvalRMConfig, "transfer": TransferConfig,
             "instructions": InstructionsConfig, "generate": GenerateConfig,
             "label": LabelConfig, "eval_alpaca": EvalAlpacaConfig, "alignment": AlignmentConfig,
             "analyze_representations": AnalyzeRepresentationsConfig,
             "analyze_embeddings": AnalyzeEmbeddingsConfig,
             "eval_offshelf": EvalOffshelfConfig, "report": ReportConfig}
    loaders = {k: (lambda data, where, cls=cls: from_dict(cls, data, where))
               for k, cls in typed.items()}
    loaders["train_rm"] = TrainRMConfig.from_section
    loaders["train_dpo"] = TrainDPOConfig.from_section
    return loaders


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
    loaders = _section_loaders()
    lists = {"languages", "rm_languages", "eval_languages", "alignment_languages", "dpo_seeds"}
    known = set(loaders) | lists  # dpo_seeds is only interpolated into the DPO matrix
    assert declared <= known and set(loaders) <= declared, declared ^ known
    presets = sorted((root / "presets").glob("*.yaml")) + [root / "params.yaml"]
    assert {p.stem for p in presets} >= {"tiny", "default", "paper", "params"}
    for path in presets:
        params = read_params(path)
        assert set(params) == known, (path.name, set(params) ^ known)
        for key, load in loaders.items():
            load(params[key], f"{path.name}: {key}")
        for key in lists:
            assert isinstance(params[key], list) and params[key], (path, key)
