"""DVC stage `eval_alpaca@...`: a policy answers the evaluation instructions (greedy); each
answer is checked by its instruction's rule where the rows carry one (verifiable accuracy),
and, with `eval_alpaca.reference`, judged against the same-language reference (AlpacaEval's
metrics). The policies are compared with each other by `head_to_head`."""

from xlrm.stage import Stage, StageContext

STAGE = Stage("eval_alpaca", __doc__, params=["eval_alpaca"], item="name")
STAGE.add("--lang", required=True)
STAGE.add("--name", required=True, help="run name: LANG__LABELLER__SEED, or LANG__policy")
STAGE.add("--model", required=True, help="policy folder (full model or LoRA adapter)")
STAGE.add("--policy", required=True, help="initial policy folder (base of adapters)")
STAGE.add("--instructions", required=True, help="<lang>.eval.jsonl of `instructions`")
STAGE.add("--answers", required=True, help="output answers (+ checks, preferences) JSONL")
STAGE.add("--metrics", required=True)


def main(ctx: StageContext) -> str:
    from xlrm.alignment.alpaca_eval import evaluate_policy
    from xlrm.data.instructions import read_eval_instructions

    args = ctx.args
    instructions = read_eval_instructions(args.instructions)
    cfg = ctx["eval_alpaca"]
    # Killed runs resume: the answers and the reference verdicts are journaled beside
    # args.answers; an LLM judge's verdicts also stay in the judgement cache.
    models = [args.model, args.policy] + ([cfg.judge.model] if cfg.reference else [])
    with ctx.journal(args.answers, inputs=instructions, models=models) as journal:
        rows, metrics, cache = evaluate_policy(args.model, args.policy, instructions,
                                               args.lang, cfg, args.name, args.instructions)
        ctx.write_jsonl(args.answers, rows)
        ctx.write_json(args.metrics, {"run": args.name, "language": args.lang, **metrics},
                       metrics="alpaca")
    ctx.log_metrics({"resumed": journal.hits, "cache": cache}, "alpaca")
    parts = [f"language fidelity {metrics['language_fidelity']:.0%}"]
    if "verifiable" in metrics:
        v = metrics["verifiable"]
        parts.insert(0, f"verifiable accuracy {v['accuracy']:.1f}% "
                        f"[{v['ci_low']:.1f}, {v['ci_high']:.1f}]")
    if cfg.reference:
        parts.append(f"win rate vs reference {metrics['win_rate']:.1f} ± "
                     f"{metrics['standard_error']:.1f}")
    return f"AlpacaEval {args.name}: " + ", ".join(parts) + f" -> {args.metrics}"


if __name__ == "__main__":
    STAGE.run(main)
