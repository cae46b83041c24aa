"""DVC stage `label@LANG`: the English RM and the LANG RM each pick chosen (best) and
rejected (worst) among every prompt's samples; their agreement is recorded."""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--lang", required=True)
    p.add_argument("--rm-dir", required=True, help="folder of trained RMs (models/rm)")
    p.add_argument("--base", required=True, help="RM base model folder")
    p.add_argument("--samples", required=True)
    p.add_argument("--instructions", required=True)
    p.add_argument("--out-dir", required=True, help="output folder: english.jsonl, native.jsonl")
    p.add_argument("--metrics", required=True)
    args = p.parse_args()

    from pathlib import Path

    from xlrm.alignment import LABELLERS, LabelConfig, label, labeller_rm
    from xlrm.config import load_section, read_params, to_dict
    from xlrm.devices import resolve_device
    from xlrm.io import atomic_path, read_jsonl, write_json, write_jsonl
    from xlrm.reward import load_reward_model, load_tokenizer
    from xlrm.tracking import log_metrics, stage_run

    cfg = load_section(LabelConfig, "label", args.params)
    source = read_params(args.params)["translate"]["source_language"]
    prompts = {r["id"]: r["messages"] for r in read_jsonl(args.instructions)}
    samples = read_jsonl(args.samples)
    device = resolve_device(cfg.device)
    rms = {name: load_reward_model(Path(args.rm_dir) / labeller_rm(name, args.lang, source),
                                   args.base, cfg.dtype).to(device) for name in LABELLERS}
    with stage_run("label", args.lang, params={"label": to_dict(cfg)}) as mlflow:
        pairs, stats = label(samples, prompts, rms, load_tokenizer(args.base), args.lang, cfg)
        with atomic_path(args.out_dir, is_dir=True) as tmp:
            for name, rows in pairs.items():
                write_jsonl(tmp / f"{name}.jsonl", rows)
        write_json(args.metrics, {"language": args.lang, **stats})
        log_metrics({k: v for k, v in stats.items() if k != "language"}, "label")
        mlflow.log_artifact(args.metrics)
    print(f"label {args.lang}: " + ", ".join(f"{n} {stats[n]['pairs']} pairs" for n in LABELLERS)
          + f"; same chosen sample on {stats.get('agreement', float('nan')):.0%} of prompts")


if __name__ == "__main__":
    stage.main(main)
