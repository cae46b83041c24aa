"""DVC stages `base_model` and `policy_model`: put a model and its tokenizer into models/.

`base_model` is the reward models' base; `policy_model` the policy that the
alignment half samples from and trains with DPO (same section schema).
"""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--out", required=True, help="output model folder")
    p.add_argument("--section", default="base_model", help="params section (base_model, policy_model)")
    args = p.parse_args()

    from xlrm.config import load_section, to_dict
    from xlrm.io import atomic_path
    from xlrm.models import BaseModelConfig, prepare_base_model
    from xlrm.tracking import log_metrics, stage_run

    cfg = load_section(BaseModelConfig, args.section, args.params)
    with stage_run(args.section, params={args.section: to_dict(cfg)}) as mlflow:
        with atomic_path(args.out, is_dir=True) as tmp:
            info = prepare_base_model(cfg, tmp)
            mlflow.log_artifact(str(tmp / "xlrm_base.json"))
        log_metrics({"parameters": info["parameters"], "vocab_size": info["vocab_size"]})
        mlflow.set_tags({"base.added": "; ".join(info["added"]) or "nothing"})
    print(f"base model ({info['architecture']}, {info['parameters']:,} parameters) -> {args.out}")


if __name__ == "__main__":
    stage.main(main)
