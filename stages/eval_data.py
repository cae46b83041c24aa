"""DVC stage `eval_data`: fetch or build the M-RewardBench-format eval set of every eval language."""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--prepared-test", required=True, help="held-out split of `prepare`")
    p.add_argument("--out-dir", required=True, help="output folder, one <FLORES code>.jsonl per language")
    args = p.parse_args()

    from xlrm.config import from_dict, read_params, to_dict
    from xlrm.data.loaders import to_mrewardbench_rows
    from xlrm.data.prepare import EvalDataConfig, eval_sets_for
    from xlrm.io import atomic_path, write_jsonl
    from xlrm.languages import flores
    from xlrm.tracking import log_metrics, stage_run

    params = read_params(args.params)
    cfg = from_dict(EvalDataConfig, params.get("eval_data"), f"{args.params}: eval_data")
    languages = params["eval_languages"]
    with stage_run("eval_data", params={"eval_data": to_dict(cfg), "eval_languages": languages}):
        sets = eval_sets_for(cfg, languages, args.prepared_test)
        with atomic_path(args.out_dir, is_dir=True) as tmp:
            for lang, rows in sets.items():
                write_jsonl(tmp / f"{flores(lang)}.jsonl", to_mrewardbench_rows(rows))
        log_metrics({"pairs": {lang: len(rows) for lang, rows in sets.items()}}, "eval_data")
    print("eval sets: " + ", ".join(f"{lang} {len(r)}" for lang, r in sets.items()) + f" -> {args.out_dir}")


if __name__ == "__main__":
    stage.main(main)
