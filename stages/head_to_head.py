"""DVC stage `head_to_head@LANG-SEED`: the English-RM-labelled and the target-RM-labelled DPO
policies of one language and seed judged against each other, and each against the initial
policy, on the same evaluation instructions (an LLM judge in both orders, or the rule judge
on the answers' checks); AlpacaEval's win rates and the judge's position consistency."""

from xlrm.stage import Stage, StageContext

STAGE = Stage("head_to_head", __doc__, params=["eval_alpaca"], item="name")
STAGE.add("--lang", required=True)
STAGE.add("--name", required=True, help="run name: LANG__SEED")
STAGE.add("--instructions", required=True, help="<lang>.eval.jsonl of `instructions`")
STAGE.add("--policy-answers", required=True, help="eval_alpaca answers of the initial policy")
STAGE.add("--english-answers", required=True, help="eval_alpaca answers, English-RM labels")
STAGE.add("--native-answers", required=True, help="eval_alpaca answers, target-RM labels")
STAGE.add("--out", required=True, help="output JSONL: one preference per instruction and pairing")
STAGE.add("--metrics", required=True)


def main(ctx: StageContext) -> str:
    from xlrm.alignment.head_to_head import compare_systems, read_answers
    from xlrm.data.instructions import read_eval_instructions

    args, cfg = ctx.args, ctx["eval_alpaca"]
    instructions = read_eval_instructions(args.instructions)
    ids = [r["id"] for r in instructions]
    answers, passed = {}, {}
    for system in ("policy", "english", "native"):
        answers[system], passed[system] = read_answers(getattr(args, f"{system}_answers"), ids)
    # The judge's verdicts are kept in the judgement cache (xlrm.judges.cache) as they come:
    # a rerun, after a kill or a change that leaves the questions alone, asks only what is new.
    rows, metrics, cache = compare_systems(instructions, answers, passed, args.lang, cfg)
    ctx.write_jsonl(args.out, rows)
    ctx.write_json(args.metrics, {"run": args.name, "language": args.lang,
                                  "judge_kind": cfg.judge.kind, "pairings": metrics},
                   metrics="head_to_head")
    ctx.log_metrics(cache, "head_to_head.cache")
    head = metrics["english_vs_native"]
    warn = "; " + head["consistency_warning"] if head["consistency_warning"] else ""
    return (f"head to head {args.name}: English-RM-labelled over target-RM-labelled DPO "
            f"{head['win_rate']:.1f}% ± {head['standard_error']:.1f}{warn} -> {args.metrics}")


if __name__ == "__main__":
    STAGE.run(main)
