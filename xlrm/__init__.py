"""xlrm: cross-lingual transfer of reward models in multilingual alignment.

The package holds the logic of every pipeline stage; ``stages/`` holds one thin
script per DVC stage that parses paths, loads its ``params.yaml`` section and
calls into this package.
"""

__version__ = "0.1.0"
