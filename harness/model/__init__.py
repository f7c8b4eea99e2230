"""Layer 1, the model: the nouns (core.py: key specs, chains, cells, jobs, outcomes, results), the
results document (document.py) and its serializer (jsonmodel.py), errors, redaction, schemas,
chain defect ids, owners of temporary files, paths. Imports nothing above it."""

__version__ = "0.1.0"  # pyproject.toml says it too
