"""Word lists and templates of the xlrm seed preference set, written for this project.

Plain data only, one module per part of the set (:mod:`.common` fillers and function
words, :mod:`.arithmetic`, :mod:`.facts`, :mod:`.constraints`, :mod:`.safety`), every
table keyed by language code (:data:`LANGUAGES`). Every list is *parallel*: the same index
means the same content in every language. The choices per item are made in
:mod:`xlrm.data.seed_items`, the templates are filled in :mod:`xlrm.data.seed_render`.

Placeholders in Korean templates with a suffix pick the right particle for the word
before them (``name_n`` = name + 은/는, ``obj_r`` = object + 을/를, ``cnt_i`` = counter
+ 이/가 ...; ``ra`` alone is the particle 이라는/라는); see ``seed_render.ko_josa``.
"""

# The languages every table is written in (the seed set's languages, in row order).
LANGUAGES: tuple[str, ...] = ("en", "es", "it", "ko", "zh")
