"""Layer 1, the model: the nouns (core.py: key specs, chains, cells, jobs, outcomes, results), the
results document (document.py) and its serializer (jsonmodel.py), errors, redaction, schemas,
chain defect ids. Imports nothing else of tlsmatrix; no I/O but reading and writing documents."""
