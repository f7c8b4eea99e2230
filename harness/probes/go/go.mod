module tlsmatrix/probes/go

go 1.19
