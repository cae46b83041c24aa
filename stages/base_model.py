"""DVC stages `base_model` and `policy_model`: put a model and its tokenizer into models/.

`base_model` is the reward models' base; `policy_model` the policy that the
alignment half samples from and trains with DPO (same section schema, chosen with
`--section`).
"""

from xlrm.stage import Stage, StageContext

STAGE = Stage("base_model", __doc__, params=["base_model"], section_arg="section")
STAGE.add("--out", required=True, help="output model folder")
STAGE.add("--section", default="base_model", help="params section (base_model, policy_model)")


def main(ctx: StageContext) -> str:
    from xlrm.base_model import prepare_base_model

    args = ctx.args
    with ctx.out_dir(args.out) as tmp:
        info = prepare_base_model(ctx[args.section], tmp)
        ctx.artifact(tmp / "xlrm_base.json")
    ctx.log_metrics({"parameters": info["parameters"], "vocab_size": info["vocab_size"]})
    ctx.tags({"base.added": "; ".join(info["added"]) or "nothing"})
    return f"base model ({info['architecture']}, {info['parameters']:,} parameters) -> {args.out}"


if __name__ == "__main__":
    STAGE.run(main)
