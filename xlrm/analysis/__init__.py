"""Representation and embedding analyses (the study's Figures 1 and 2).

- :mod:`xlrm.analysis.config`: the ``analyze_representations`` and ``analyze_embeddings``
  params sections (light: no numpy, torch or pandas at import);
- :mod:`xlrm.analysis.homogeneity`: the sigma-1 share of a matrix of representations;
- :mod:`xlrm.analysis.representations`: hidden states of parallel contexts, homogeneity per
  layer, its metrics, the ``analyze_representations`` stage's core (Figure 1);
- :mod:`xlrm.analysis.tokens`: scripts and the rule that assigns a vocabulary token a language;
- :mod:`xlrm.analysis.embeddings`: input-embedding norms by token language, their
  distributions, the ``analyze_embeddings`` stage's core (Figure 2);
- :mod:`xlrm.analysis.plots`: the figures of both.

Models are loaded by :mod:`xlrm.modeling`.
"""
