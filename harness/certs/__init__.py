"""Layer 2, certificates: chains tlsmatrix makes (pki), chains it did not make (certread, given),
what a chain's properties do to stacks (diagnose), kubeconfig files, TLS bytes read by hand.
Imports only tlsmatrix.model."""
