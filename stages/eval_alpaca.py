"""DVC stage `eval_alpaca@...`: a policy answers the evaluation instructions (greedy) and a
judge compares each answer with the same-language reference (AlpacaEval metrics)."""

from xlrm.stage import Stage, StageContext

STAGE = Stage("eval_alpaca", __doc__, params=["eval_alpaca"], item="name")
STAGE.add("--lang", required=True)
STAGE.add("--name", required=True, help="run name: LANG__LABELLER__SEED, or LANG__policy")
STAGE.add("--model", required=True, help="policy folder (full model or LoRA adapter)")
STAGE.add("--policy", required=True, help="initial policy folder (base of adapters)")
STAGE.add("--instructions", required=True, help="<lang>.eval.jsonl of `instructions`")
STAGE.add("--answers", required=True, help="output answers + preferences JSONL")
STAGE.add("--metrics", required=True)


def main(ctx: StageContext) -> str:
    from xlrm.alignment.alpaca_eval import answer_and_judge
    from xlrm.data.instructions import read_eval_instructions

    args = ctx.args
    instructions = read_eval_instructions(args.instructions)
    # Killed runs resume: the answers, the verdicts and each API reply are journaled beside
    # args.answers.
    cfg = ctx["eval_alpaca"]
    with ctx.journal(args.answers, inputs=instructions,
                     models=[args.model, args.policy, cfg.judge.model]) as journal:
        rows, metrics = answer_and_judge(args.model, args.policy, instructions, args.lang, cfg,
                                         args.name)
        ctx.write_jsonl(args.answers, rows)
        ctx.write_json(args.metrics, {"run": args.name, "language": args.lang, **metrics},
                       metrics="alpaca")
    ctx.log_metrics({"resumed": journal.hits}, "alpaca")
    return (f"AlpacaEval {args.name}: win rate {metrics['win_rate']:.1f} ± "
            f"{metrics['standard_error']:.1f}, LC-minimal {metrics['length_controlled_minimal']:.1f}, "
            f"language fidelity {metrics['language_fidelity']:.0%} -> {args.metrics}")


if __name__ == "__main__":
    STAGE.run(main)
