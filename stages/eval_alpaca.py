"""DVC stage `eval_alpaca@...`: a policy answers the evaluation instructions (greedy) and a
judge compares each answer with the same-language reference (AlpacaEval metrics)."""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--lang", required=True)
    p.add_argument("--name", required=True, help="run name: LANG__LABELLER__SEED, or LANG__policy")
    p.add_argument("--model", required=True, help="policy folder (full model or LoRA adapter)")
    p.add_argument("--policy", required=True, help="initial policy folder (base of adapters)")
    p.add_argument("--instructions", required=True, help="<lang>.eval.jsonl of `instructions`")
    p.add_argument("--answers", required=True, help="output answers + preferences JSONL")
    p.add_argument("--metrics", required=True)
    args = p.parse_args()

    from xlrm.alignment import EvalAlpacaConfig, answer_and_judge
    from xlrm.config import load_section, to_dict
    from xlrm.io import read_jsonl, write_json, write_jsonl
    from xlrm.tracking import log_metrics, stage_run

    cfg = load_section(EvalAlpacaConfig, "eval_alpaca", args.params)
    instructions = read_jsonl(args.instructions)
    with stage_run("eval_alpaca", args.name, params={"eval_alpaca": to_dict(cfg)}) as mlflow:
        rows, metrics = answer_and_judge(args.model, args.policy, instructions, args.lang, cfg,
                                         args.name)
        write_jsonl(args.answers, rows)
        write_json(args.metrics, {"run": args.name, "language": args.lang, **metrics})
        log_metrics(metrics, "alpaca")
        mlflow.log_artifact(args.metrics)
    print(f"AlpacaEval {args.name}: win rate {metrics['win_rate']:.1f} ± {metrics['standard_error']:.1f}, "
          f"LC-minimal {metrics['length_controlled_minimal']:.1f}, language fidelity "
          f"{metrics['language_fidelity']:.0%} -> {args.metrics}")


if __name__ == "__main__":
    stage.main(main)
