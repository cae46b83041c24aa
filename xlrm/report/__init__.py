"""The study's report: one Markdown file and one self-contained HTML page (the ``report`` stage).

- :mod:`xlrm.report.config`: the ``report`` params section (light);
- :mod:`xlrm.report.inputs`: where each input lives (:class:`~xlrm.report.inputs.ReportPaths`,
  every path given by the caller: the stage takes them all from its command line, which
  ``dvc.yaml`` writes) and reading them into a :class:`~xlrm.report.inputs.ReportInputs`;
- :mod:`xlrm.report.blocks`: the block types a report is made of, and number formatting;
- :mod:`xlrm.report.readings`: the one-line readings computed from the numbers;
- :mod:`xlrm.report.sections`: one function per section, and the whole report as blocks;
- :mod:`xlrm.report.render`: Markdown and HTML renderers, :func:`~xlrm.report.render.build_report`
  (a pure function of the inputs returning ``(markdown, html)``) and
  :func:`~xlrm.report.render.write_report`.

Every section states what its table or figure shows in one line computed from the numbers (a
*reading*). An input that is absent or unreadable is reported where its section would use it,
as a visible ``missing: <path>`` (or ``unreadable: <path>``) note, and in the closing list of
inputs; the rest of the report is still built.

The HTML page needs nothing outside itself: CSS inline, every figure embedded as a base64
``data:`` URI, no external URL of any kind (links are ``#fragment`` only). A short inline
script marks ``<body>`` with ``data-images`` (the number of images) and ``data-loaded`` (how
many decoded, ``img.complete && img.naturalWidth > 0``) once the page has loaded, so a
headless browser can check that every image rendered. The Markdown file links the figures
by relative path (from ``ReportInputs.markdown_dir``). Output is deterministic: no
timestamps.

Representation and embedding metrics are read without assuming their layout: a top-level
string ``"reading"`` is used as the reading when present; otherwise the reading names the
highest and lowest value of the first mapping of numbers found (a ``headline`` mapping
first), and for the per-layer figure the last value of the first mapping of number lists.
"""
