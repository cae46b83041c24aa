"""DVC stage `base_model`: put the base model and tokenizer into models/base."""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--out", required=True, help="output model folder")
    args = p.parse_args()

    from xlrm.config import load_section, to_dict
    from xlrm.io import atomic_path
    from xlrm.models import BaseModelConfig, prepare_base_model
    from xlrm.tracking import log_metrics, stage_run

    cfg = load_section(BaseModelConfig, "base_model", args.params)
    with stage_run("base_model", params={"base_model": to_dict(cfg)}) as mlflow:
        with atomic_path(args.out, is_dir=True) as tmp:
            info = prepare_base_model(cfg, tmp)
            mlflow.log_artifact(str(tmp / "xlrm_base.json"))
        log_metrics({"parameters": info["parameters"], "vocab_size": info["vocab_size"]})
        mlflow.set_tags({"base.added": "; ".join(info["added"]) or "nothing"})
    print(f"base model ({info['architecture']}, {info['parameters']:,} parameters) -> {args.out}")


if __name__ == "__main__":
    stage.main(main)
