"""RewardBench / M-RewardBench scoring of reward models, and the ``transfer`` stage's core.

- :mod:`xlrm.evaluation.weights`: M-RewardBench's subset table (category, fixed weight).
- :mod:`xlrm.evaluation.accuracy`: the scores table and the scoring rules; accuracy per
  subset, category and language; the transfer matrix.
- :mod:`xlrm.evaluation.bootstrap`: paired, stratified pair-level bootstrap; confidence
  intervals of the matrix cells and of the headline difference.
- :mod:`xlrm.evaluation.heatmap`: the transfer matrix as a PNG.
- :mod:`xlrm.evaluation.config`: the ``transfer`` params section (light).
- :mod:`xlrm.evaluation.transfer`: the ``transfer`` stage's core (read the scores files,
  compute the matrix, intervals, category table and headline metrics).
"""
